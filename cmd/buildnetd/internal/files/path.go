package files

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
)

// Errors of the browser. Bad paths, symlinks and paths outside a package
// are client errors (HTTP 400).
var (
	// ErrBadPath is returned for a path that is absolute, climbs with
	// "..", holds a backslash, a NUL or a control character, or decodes to
	// such a path.
	ErrBadPath = errors.New("files: invalid path: want a path relative to the workspace root, without ..")
	// ErrSymlink is returned for a path that goes through a symbolic
	// link: links are never followed.
	ErrSymlink = errors.New("files: path goes through a symbolic link, which is not followed")
	// ErrOutside is returned for a path outside the workspace root.
	ErrOutside = errors.New("files: path outside the workspace")
	// ErrNotInPackage is returned for a path outside every package, or
	// inside .git or .buildnet.
	ErrNotInPackage = errors.New("files: path is not inside a package")
	// ErrNotFound is returned for a file that does not exist.
	ErrNotFound = errors.New("files: no such file")
	// ErrExists is returned when a move's destination exists.
	ErrExists = errors.New("files: destination exists")
	// ErrConflict is returned when a file changed since the version an
	// edit was based on.
	ErrConflict = errors.New("files: file changed since it was read")
	// ErrTooLarge is returned for content over the size limit.
	ErrTooLarge = errors.New("files: file too large")
	// ErrBinary is returned for an inline edit of a binary file.
	ErrBinary = errors.New("files: binary file")
	// ErrIsDir is returned for a file operation on a directory, and the
	// other way round.
	ErrIsDir = errors.New("files: is a directory")
	// ErrNotDir is returned for listing something that is not a directory.
	ErrNotDir = errors.New("files: not a directory")
	// ErrNoGit is returned when the workspace is not in a git repository,
	// or git is missing.
	ErrNoGit = errors.New("files: the workspace is not in a git repository")
)

// Clean checks p, a slash-separated path relative to the workspace root,
// and returns it cleaned. "" and "." mean the root. It refuses, with
// ErrBadPath, absolute paths, ".." anywhere, backslashes, NUL and control
// characters, and paths that URL-decode (once or twice) to something
// different that holds one of those: a client that double-encodes meant
// to climb.
func Clean(p string) (string, error) {
	for cand, i := p, 0; i < 3; i++ {
		if err := checkRaw(cand); err != nil {
			return "", err
		}
		dec, err := url.PathUnescape(cand)
		if err != nil || dec == cand {
			break
		}
		cand = dec
	}
	if p == "" || p == "." {
		return "", nil
	}
	c := path.Clean(p)
	if c == "." {
		return "", nil
	}
	return c, nil
}

func checkRaw(p string) error {
	if strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") || (len(p) > 1 && p[1] == ':') {
		return fmt.Errorf("%w: %q", ErrBadPath, p)
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: control character", ErrBadPath)
		}
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return fmt.Errorf("%w: %q", ErrBadPath, p)
		}
	}
	return nil
}

// hidden reports whether a cleaned path is inside .git or .buildnet.
func hidden(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".git" || part == ".buildnet" {
			return true
		}
	}
	return false
}

// within reports whether p is dir or inside it (both cleaned; dir "" is
// the root).
func within(p, dir string) bool {
	return dir == "" || p == dir || strings.HasPrefix(p, dir+"/")
}
