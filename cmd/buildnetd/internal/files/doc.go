// Package files is buildnetd's file browser: it lists, reads, edits and
// moves the files of the workspace's packages, compares a file with its
// last committed version (git) or with a version saved earlier, and shows
// a file's git history.
//
// Every path is relative to the workspace root and must lie inside one of
// the workspace's packages. It is checked before any file system call
// ([Clean]): absolute paths, ".." and, after URL decoding, anything that
// decodes to them are refused with [ErrBadPath]; a path through a
// symbolic link is refused with [ErrSymlink], whatever the link points
// to, and every call goes through an [os.Root] on the workspace, so that
// nothing outside it is ever read or written, even if a link appears
// between the check and the call. .git and .buildnet are never served.
//
// Writes are atomic (temporary file, fsync, rename) and keep the saved
// content as a version in the state store. A file that is not valid
// UTF-8 text, or holds a NUL byte, is binary: it is described, never
// returned as text, and cannot be edited inline.
package files
