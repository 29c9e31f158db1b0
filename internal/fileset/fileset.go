// Package fileset expands a package's source patterns into the files they
// name, with one lstat each and no file contents read.
package fileset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/bmatcuk/doublestar/v4"
	"golang.org/x/sys/unix"

	"github.com/musclemap/buildnet/hash"
)

// Spec says which files under a workspace root make up a set. All paths
// are slash-separated and relative to the root.
type Spec struct {
	// Include holds doublestar patterns. Empty means every file under Dir.
	Include []string
	// Dir is walked when Include is empty.
	Dir string
	// ExcludeDirs are directories never entered (and never matched),
	// such as the package's output directory.
	ExcludeDirs []string
	// SkipHidden skips directories whose name starts with a dot and
	// directories named node_modules while walking.
	SkipHidden bool
	// Syscalls, when set, counts the file system calls made (lstat,
	// open, getdents): what a scan costs.
	Syscalls *atomic.Int64
}

// Scan returns the files that spec names, sorted by path, each with its
// fingerprint from lstat (symbolic links are reported, never followed).
// A base directory that does not exist yields no files.
func Scan(root string, spec Spec) ([]hash.File, error) {
	w := walker{root: root, spec: spec}
	for _, d := range spec.ExcludeDirs {
		w.exclude = append(w.exclude, strings.TrimSuffix(d, "/"))
	}
	var bases []base
	if len(spec.Include) == 0 {
		bases = []base{{dir: spec.Dir, depth: -1}}
	} else {
		for _, p := range spec.Include {
			if !doublestar.ValidatePattern(p) {
				return nil, fmt.Errorf("source pattern %q: %w", p, doublestar.ErrBadPattern)
			}
			bases = append(bases, splitPattern(p))
		}
		bases = outermost(bases)
	}
	if spec.Syscalls != nil {
		defer func() { spec.Syscalls.Add(w.calls) }()
	}
	for _, b := range bases {
		if err := w.walkBase(b); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(w.out, func(a, b hash.File) int { return strings.Compare(a.Path, b.Path) })
	w.out = slices.CompactFunc(w.out, func(a, b hash.File) bool { return a.Path == b.Path })
	return w.out, nil
}

// base is a directory to walk and how deep: -1 for any depth.
type base struct {
	dir   string
	depth int
}

// splitPattern returns the directory a pattern's matches lie under and
// how many levels below it they can be.
func splitPattern(p string) base {
	if !strings.ContainsAny(p, "*?[{\\") {
		return base{dir: p, depth: 0} // a plain path names itself
	}
	dir, rest := doublestar.SplitPattern(p)
	if dir == "." {
		dir = ""
	}
	if strings.Contains(rest, "**") {
		return base{dir: dir, depth: -1}
	}
	return base{dir: dir, depth: strings.Count(rest, "/")}
}

// outermost drops every base that lies inside another walked at least as
// deep, so no directory is walked twice.
func outermost(bases []base) []base {
	slices.SortFunc(bases, func(a, b base) int {
		if c := strings.Compare(a.dir, b.dir); c != 0 {
			return c
		}
		return b.depth - a.depth // unlimited (-1) sorts last among equals
	})
	var out []base
	for _, b := range bases {
		covered := false
		for _, o := range out {
			if within(b.dir, o.dir) && (o.depth < 0 || (b.depth >= 0 && levels(b.dir, o.dir)+b.depth <= o.depth)) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, b)
		}
	}
	return out
}

// levels counts how far below dir the path p is.
func levels(p, dir string) int {
	if p == dir {
		return 0
	}
	if dir == "" {
		return strings.Count(p, "/") + 1
	}
	return strings.Count(p[len(dir):], "/")
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return dir == "" || p == dir || strings.HasPrefix(p, dir+"/")
}

type walker struct {
	calls   int64
	root    string
	spec    Spec
	exclude []string
	out     []hash.File
	buf     []byte
}

func (w *walker) excluded(rel string) bool {
	for _, x := range w.exclude {
		if within(rel, x) {
			return true
		}
	}
	return false
}

func (w *walker) match(rel string) bool {
	if len(w.spec.Include) == 0 {
		return true
	}
	for _, p := range w.spec.Include {
		if ok, _ := doublestar.Match(p, rel); ok {
			return true
		}
	}
	return false
}

func (w *walker) walkBase(b base) error {
	base := b.dir
	if w.excluded(base) && base != "" {
		return nil
	}
	abs := w.root
	if base != "" {
		abs = w.root + "/" + base
	}
	var st unix.Stat_t
	w.calls++
	if err := unix.Lstat(abs, &st); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil
		}
		return &fs.PathError{Op: "lstat", Path: abs, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		// A pattern without wildcards names one file.
		if w.match(base) {
			w.out = append(w.out, hash.File{Path: base, Stat: fingerprint(&st)})
		}
		return nil
	}
	if b.depth == 0 && len(w.spec.Include) > 0 && slices.Contains(w.spec.Include, base) {
		// A plain directory path stands for everything below it.
		w.spec.Include = append(slices.Clone(w.spec.Include), base+"/**")
		return w.walkDir(abs, base, -1)
	}
	return w.walkDir(abs, base, b.depth)
}

// walkDir lists abs with getdents(2) and stats each entry relative to the
// directory's descriptor: no path is resolved twice, and nothing is
// registered with the runtime poller.
func (w *walker) walkDir(abs, rel string, depth int) error {
	w.calls++
	fd, err := unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return nil // removed while we looked
		}
		return &fs.PathError{Op: "open", Path: abs, Err: err}
	}
	defer unix.Close(fd)
	if w.buf == nil {
		w.buf = make([]byte, 32<<10)
	}
	type entry struct {
		name string
		typ  byte
	}
	var ents []entry
	for {
		w.calls++
		n, err := unix.Getdents(fd, w.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "getdents", Path: abs, Err: err}
		}
		if n <= 0 {
			break
		}
		for b := w.buf[:n]; len(b) >= 19; {
			// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return &fs.PathError{Op: "getdents", Path: abs, Err: errors.New("malformed directory entry")}
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if !(len(name) == 1 && name[0] == '.') && !(len(name) == 2 && name[0] == '.' && name[1] == '.') {
				ents = append(ents, entry{string(name), b[18]})
			}
			b = b[reclen:]
		}
	}
	// A child walk reuses w.buf, so the listing is complete before it.
	for _, e := range ents {
		name := e.name
		crel := name
		if rel != "" {
			crel = rel + "/" + name
		}
		var st unix.Stat_t
		statted := false
		typ := e.typ
		if typ == unix.DT_UNKNOWN { // some file systems do not say
			w.calls++
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if errors.Is(err, unix.ENOENT) {
					continue
				}
				return &fs.PathError{Op: "lstat", Path: abs + "/" + name, Err: err}
			}
			statted = true
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				typ = unix.DT_DIR
			}
		}
		if typ != unix.DT_DIR {
			if !w.match(crel) {
				continue
			}
			if !statted {
				w.calls++
				if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					if errors.Is(err, unix.ENOENT) {
						continue
					}
					return &fs.PathError{Op: "lstat", Path: abs + "/" + name, Err: err}
				}
			}
			w.out = append(w.out, hash.File{Path: crel, Stat: fingerprint(&st)})
			continue
		}
		// a directory
		if depth == 0 {
			continue
		}
		if w.spec.SkipHidden && (name[0] == '.' || name == "node_modules") {
			continue
		}
		if w.excluded(crel) {
			continue
		}
		next := depth - 1
		if depth < 0 {
			next = -1
		}
		if err := w.walkDir(abs+"/"+name, crel, next); err != nil {
			return err
		}
	}
	return nil
}

func fingerprint(st *unix.Stat_t) hash.Fingerprint {
	return hash.FingerprintOfStat(st.Size, st.Mtim.Nano(), st.Ino, st.Mode)
}
