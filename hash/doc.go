// Package hash provides the two kinds of hashing BuildNet relies on.
//
// [Digest] is a BLAKE3-256 digest. It names content-addressed blobs in the
// cache and identifies a package's inputs (the input digest).
//
// [Sum128] is an xxh3-128 content hash of one source file. It is cheap to
// compute and is only ever used as an input to a [Digest], never as a key on
// its own.
//
// A [Fingerprint] is what lstat says about a file (size, mtime, inode, mode).
// A [Hasher] re-reads a file only when its fingerprint differs from the one
// remembered with its previous content hash, so an unchanged tree costs stat
// calls only.
package hash
