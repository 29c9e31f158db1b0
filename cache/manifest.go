package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/musclemap/buildnet/hash"
)

// manifestVersion is the only [Manifest.Version] this package reads and writes.
const manifestVersion = 1

// File is one entry of a package's output directory: a regular file, a
// directory or a symbolic link.
type File struct {
	// Path is slash-separated and relative to the output directory. It is
	// clean, never absolute, never empty and never contains "..".
	Path string `json:"path"`
	// Mode holds fs.FileMode bits: the permission bits of a regular file,
	// fs.ModeDir plus permission bits for a directory, fs.ModeSymlink for a
	// symbolic link.
	Mode uint32 `json:"mode"`
	// Size is the length of a regular file's content, or of a link's target.
	Size int64 `json:"size"`
	// Digest names the blob holding a regular file's content. It is zero for
	// directories and links.
	Digest hash.Digest `json:"digest,omitzero"`
	// Link is a symbolic link's target. Only relative targets that stay
	// inside the output directory are allowed.
	Link string `json:"link,omitempty"`
}

// Manifest describes one action entry: what a package's build produced for
// one input digest.
type Manifest struct {
	// Version is the manifest format version, 1.
	Version int `json:"version"`
	// Key is the package's input digest.
	Key hash.Digest `json:"key"`
	// Package is the name of the package that was built.
	Package string `json:"package"`
	// Files lists the output directory's content sorted by Path, including
	// directories, so that empty directories are restored too.
	Files []File `json:"files"`
	// Log names the blob holding the build's captured output; zero if none.
	Log hash.Digest `json:"log,omitzero"`
	// DurationMs is how long the original build took, in milliseconds.
	DurationMs int64 `json:"duration_ms"`
	// CreatedAt is when the entry was stored.
	CreatedAt time.Time `json:"created_at"`
}

// UnsafePathError reports a path that the cache refuses to store or restore
// because it could reach outside the output directory or is otherwise not
// portable.
type UnsafePathError struct {
	Path   string // relative to the output directory
	Reason string
}

// Error implements the error interface.
func (e *UnsafePathError) Error() string {
	return fmt.Sprintf("cache: unsafe path %q: %s", e.Path, e.Reason)
}

// EncodeManifest returns the JSON form of m. It refuses a manifest that
// [DecodeManifest] would reject.
func EncodeManifest(m *Manifest) ([]byte, error) {
	if m == nil {
		return nil, errors.New("encode manifest: nil manifest")
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	out := *m
	if out.Files == nil {
		out.Files = []File{}
	}
	b, err := json.Marshal(&out)
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return b, nil
}

// DecodeManifest parses and validates a manifest. Anything it does not
// accept, such as an unknown version or field, an unsafe, duplicate or
// unsorted path, a link leaving the output directory, a regular file without
// a digest or a device, fifo or socket mode, yields an error wrapping
// [ErrCorrupt]; path problems also wrap an [*UnsafePathError]. The returned
// manifest has a non-nil Files slice and a CreatedAt in UTC.
func DecodeManifest(b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode manifest: %w: %w", ErrCorrupt, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode manifest: %w: trailing data", ErrCorrupt)
	}
	if m.Files == nil {
		m.Files = []File{}
	}
	m.CreatedAt = m.CreatedAt.UTC()
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	return &m, nil
}

// validate checks every invariant documented on [Manifest] and [File]. Its
// errors wrap ErrCorrupt.
func (m *Manifest) validate() error {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	switch {
	case m.Version != manifestVersion:
		return corrupt("unsupported version %d", m.Version)
	case m.Key.IsZero():
		return corrupt("missing key")
	case m.DurationMs < 0:
		return corrupt("negative duration %d", m.DurationMs)
	}
	// time.Time only encodes years 0 to 9999 in JSON.
	if y := m.CreatedAt.UTC().Year(); y < 0 || y > 9999 {
		return corrupt("creation year %d out of range", y)
	}
	types := make(map[string]fs.FileMode, len(m.Files))
	for i, f := range m.Files {
		if reason := checkPath(f.Path); reason != "" {
			return fmt.Errorf("%w: %w", ErrCorrupt, &UnsafePathError{Path: f.Path, Reason: reason})
		}
		if i > 0 {
			switch prev := m.Files[i-1].Path; {
			case prev == f.Path:
				return corrupt("duplicate path %q", f.Path)
			case prev > f.Path:
				return corrupt("path %q listed after %q", f.Path, prev)
			}
		}
		mode := fs.FileMode(f.Mode)
		if mode&^(fs.ModeDir|fs.ModeSymlink|fs.ModePerm) != 0 {
			return corrupt("%q has unsupported mode %v", f.Path, mode)
		}
		if f.Size < 0 {
			return corrupt("%q has negative size %d", f.Path, f.Size)
		}
		switch mode.Type() {
		case 0:
			if f.Digest.IsZero() {
				return corrupt("regular file %q has no digest", f.Path)
			}
			if f.Link != "" {
				return corrupt("regular file %q has a link target", f.Path)
			}
		case fs.ModeDir:
			if !f.Digest.IsZero() || f.Link != "" {
				return corrupt("directory %q has a digest or link target", f.Path)
			}
		case fs.ModeSymlink:
			if !f.Digest.IsZero() {
				return corrupt("link %q has a digest", f.Path)
			}
			if reason := checkLink(f.Path, f.Link); reason != "" {
				return fmt.Errorf("%w: %w", ErrCorrupt, &UnsafePathError{Path: f.Path, Reason: reason})
			}
		default:
			return corrupt("%q has unsupported mode %v", f.Path, mode)
		}
		// Sorted order lists a directory before everything under it, so
		// every ancestor listed in the manifest is already in types.
		for p := path.Dir(f.Path); p != "."; p = path.Dir(p) {
			if t, ok := types[p]; ok && t != fs.ModeDir {
				return fmt.Errorf("%w: %w", ErrCorrupt, &UnsafePathError{Path: f.Path, Reason: fmt.Sprintf("parent %q is not a directory", p)})
			}
		}
		types[f.Path] = mode.Type()
	}
	return nil
}

// blobs returns the distinct digests m references (files and log), sorted.
func (m *Manifest) blobs() []hash.Digest {
	ds := make([]hash.Digest, 0, len(m.Files)+1)
	for _, f := range m.Files {
		if fs.FileMode(f.Mode).IsRegular() {
			ds = append(ds, f.Digest)
		}
	}
	if !m.Log.IsZero() {
		ds = append(ds, m.Log)
	}
	slices.SortFunc(ds, func(a, b hash.Digest) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(ds)
}

// checkPath returns why p is not an acceptable manifest path, or "".
func checkPath(p string) string {
	switch {
	case p == "":
		return "empty path"
	case !utf8.ValidString(p):
		return "not valid UTF-8"
	case strings.ContainsRune(p, 0):
		return "contains a NUL byte"
	case strings.Contains(p, `\`):
		return "contains a backslash"
	case strings.HasPrefix(p, "/"):
		return "absolute path"
	case path.Clean(p) != p:
		return "not in clean form"
	case p == ".":
		return "names the output directory itself"
	case p == ".." || strings.HasPrefix(p, "../"):
		return "escapes the output directory"
	}
	return ""
}

// checkLink returns why a symbolic link at p pointing to target could reach
// outside the output directory, or "". The target must be relative, and any
// ".." must come before the first name: a ".." after a name would be
// resolved from wherever that name leads, which may be a link itself.
func checkLink(p, target string) string {
	switch {
	case target == "":
		return "empty link target"
	case !utf8.ValidString(target):
		return "link target not valid UTF-8"
	case strings.ContainsRune(target, 0):
		return "link target contains a NUL byte"
	case strings.Contains(target, `\`):
		return "link target contains a backslash"
	case strings.HasPrefix(target, "/"):
		return fmt.Sprintf("absolute link target %q", target)
	}
	depth := strings.Count(p, "/") // depth of the link's parent directory
	named := false
	for c := range strings.SplitSeq(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if named {
				return fmt.Sprintf("link target %q has \"..\" after a name", target)
			}
			if depth--; depth < 0 {
				return fmt.Sprintf("link target %q escapes the output directory", target)
			}
		default:
			named = true
		}
	}
	return ""
}
