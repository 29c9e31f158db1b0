package cache

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stagingPrefix names the directory Restore creates at the top of an output
// directory to hold verified files until they are all ready.
const stagingPrefix = ".buildnet-restore-"

// staleStaging is the age after which a staging directory left by a
// crashed Restore is removed.
const staleStaging = time.Hour

// RestoreStats reports the work done by [Cache.Restore]. Written and
// Unchanged count regular files and symbolic links; Bytes is the content
// written.
type RestoreStats struct {
	Written   int   `json:"written"`
	Unchanged int   `json:"unchanged"`
	Bytes     int64 `json:"bytes"`
}

// Restore recreates the files, directories and symbolic links of m inside
// outputDir, which is created if missing: content, permission bits and link
// targets. A file already present with the right mode and content is left
// untouched; files not in m are left alone.
//
// Every blob is verified before anything becomes visible: files are copied
// into a staging directory, checked against their digest, and renamed into
// place only once all of them are good. A missing or corrupt blob is
// quarantined and counted, and Restore fails with an error wrapping
// [ErrCorrupt] without changing outputDir.
//
// Restore never writes outside outputDir. It works through an [os.Root],
// and a symbolic link found where m needs a directory makes it fail with an
// [*UnsafePathError] instead of being followed.
func (c *Cache) Restore(ctx context.Context, m *Manifest, outputDir string) (RestoreStats, error) {
	st, err := c.restore(ctx, m, outputDir)
	if err != nil {
		key := "<nil>"
		if m != nil {
			key = m.Key.Short()
		}
		return st, fmt.Errorf("restore %s into %s: %w", key, outputDir, err)
	}
	return st, nil
}

type dirAction uint8

const (
	dirExists dirAction = iota
	dirCreate
	dirReplace // a regular file stands where the manifest has a directory
)

// restorer holds the state of one Restore.
type restorer struct {
	c       *Cache
	root    *os.Root
	m       *Manifest
	mdirs   map[string]bool      // directories listed in m
	dirs    map[string]dirAction // every directory the restore needs
	order   []string             // keys of dirs, parents first
	writes  []int                // indexes into m.Files of files and links to write
	staging string
	st      RestoreStats
}

func (c *Cache) restore(ctx context.Context, m *Manifest, outputDir string) (RestoreStats, error) {
	if m == nil {
		return RestoreStats{}, errors.New("nil manifest")
	}
	if err := m.validate(); err != nil {
		return RestoreStats{}, err
	}
	if err := ctx.Err(); err != nil {
		return RestoreStats{}, err
	}
	if err := c.lock.rlock(); err != nil {
		return RestoreStats{}, err
	}
	defer c.lock.runlock()
	if err := os.MkdirAll(outputDir, 0o755); err != nil {
		return RestoreStats{}, err
	}
	root, err := os.OpenRoot(outputDir)
	if err != nil {
		return RestoreStats{}, err
	}
	defer root.Close()
	r := &restorer{c: c, root: root, m: m, mdirs: map[string]bool{}, dirs: map[string]dirAction{}}
	r.removeStaleStaging()
	if err := r.plan(ctx); err != nil {
		return RestoreStats{}, err
	}
	if len(r.writes) > 0 {
		err := r.stage(ctx)
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			root.RemoveAll(r.staging)
			return RestoreStats{}, err
		}
	}
	if err := r.commit(); err != nil {
		if r.staging != "" {
			root.RemoveAll(r.staging)
		}
		return r.st, err
	}
	return r.st, nil
}

// plan inspects outputDir and decides which directories to create and which
// files and links to write. It changes nothing.
func (r *restorer) plan(ctx context.Context) error {
	for _, f := range r.m.Files {
		if fs.FileMode(f.Mode).IsDir() {
			r.mdirs[f.Path] = true
		}
	}
	for i, f := range r.m.Files {
		if err := ctx.Err(); err != nil {
			return err
		}
		mode := fs.FileMode(f.Mode)
		if mode.IsDir() {
			if err := r.needDir(f.Path); err != nil {
				return err
			}
			continue
		}
		if parent := path.Dir(f.Path); parent != "." {
			if err := r.needDir(parent); err != nil {
				return err
			}
			if r.dirs[parent] != dirExists {
				r.writes = append(r.writes, i)
				continue
			}
		}
		same, err := r.unchanged(f)
		if err != nil {
			return err
		}
		if same {
			r.st.Unchanged++
		} else {
			r.writes = append(r.writes, i)
		}
	}
	return nil
}

// needDir records that p must be a directory, checking what is there now.
func (r *restorer) needDir(p string) error {
	if _, ok := r.dirs[p]; ok {
		return nil
	}
	if parent := path.Dir(p); parent != "." {
		if err := r.needDir(parent); err != nil {
			return err
		}
		if r.dirs[parent] != dirExists {
			r.dirs[p] = dirCreate
			r.order = append(r.order, p)
			return nil
		}
	}
	fi, err := r.root.Lstat(p)
	var act dirAction
	switch {
	case errors.Is(err, fs.ErrNotExist):
		act = dirCreate
	case err != nil:
		return err
	case fi.IsDir():
		act = dirExists
	case fi.Mode()&fs.ModeSymlink != 0:
		return &UnsafePathError{Path: p, Reason: "a symbolic link exists where a directory is needed"}
	case fi.Mode().IsRegular() && r.mdirs[p]:
		act = dirReplace
	default:
		return fmt.Errorf("%q exists and is not a directory", p)
	}
	r.dirs[p] = act
	r.order = append(r.order, p)
	return nil
}

// unchanged reports whether f is already present in outputDir as recorded.
func (r *restorer) unchanged(f File) (bool, error) {
	fi, err := r.root.Lstat(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if fi.IsDir() {
		return false, fmt.Errorf("%q is a directory", f.Path)
	}
	mode := fs.FileMode(f.Mode)
	if mode&fs.ModeSymlink != 0 {
		if fi.Mode()&fs.ModeSymlink == 0 {
			return false, nil
		}
		target, err := r.root.Readlink(f.Path)
		return err == nil && target == f.Link, nil
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != mode.Perm() || fi.Size() != f.Size {
		return false, nil
	}
	h, err := r.root.Open(f.Path)
	if err != nil {
		return false, nil
	}
	defer h.Close()
	same, err := r.c.copyVerify(io.Discard, h, f.Size, f.Digest)
	return err == nil && same, nil
}

// stage creates the staging directory and fills it with verified copies of
// every file and link to write.
func (r *restorer) stage(ctx context.Context) error {
	for {
		r.staging = stagingPrefix + strings.ToLower(rand.Text()[:13])
		err := r.root.Mkdir(r.staging, 0o700)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	return forEach(ctx, len(r.writes), func(i int) error {
		f := r.m.Files[r.writes[i]]
		tmp := r.staging + "/" + strconv.Itoa(i)
		if fs.FileMode(f.Mode)&fs.ModeSymlink != 0 {
			return r.root.Symlink(f.Link, tmp)
		}
		return r.copyBlob(ctx, f, tmp)
	})
}

// copyBlob copies f's blob to tmp under root and verifies it on the way.
func (r *restorer) copyBlob(ctx context.Context, f File, tmp string) error {
	src, err := os.Open(r.c.blobPath(f.Digest))
	if errors.Is(err, fs.ErrNotExist) {
		return r.c.badBlob(ctx, r.m, f.Digest, "missing")
	}
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := r.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	ok, err := r.c.copyVerify(dst, src, f.Size, f.Digest)
	if err == nil {
		err = dst.Chmod(fs.FileMode(f.Mode).Perm())
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", f.Path, err)
	}
	if !ok {
		return r.c.badBlob(ctx, r.m, f.Digest, "digest mismatch")
	}
	return nil
}

// commit creates the directories, moves staged files into place and fixes
// directory modes. Only renames and directory changes happen here: all
// content has been verified.
func (r *restorer) commit() error {
	for _, p := range r.order {
		switch r.dirs[p] {
		case dirReplace:
			if err := r.root.Remove(p); err != nil {
				return err
			}
			fallthrough
		case dirCreate:
			if err := r.root.Mkdir(p, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			// A concurrent writer may have put something else there.
			if fi, err := r.root.Lstat(p); err != nil || !fi.IsDir() {
				return &UnsafePathError{Path: p, Reason: "replaced by something other than a directory during restore"}
			}
		}
	}
	for i, fi := range r.writes {
		f := r.m.Files[fi]
		if err := r.root.Rename(r.staging+"/"+strconv.Itoa(i), f.Path); err != nil {
			return err
		}
		r.st.Written++
		if fs.FileMode(f.Mode).IsRegular() {
			r.st.Bytes += f.Size
		}
	}
	if r.staging != "" {
		if err := r.root.Remove(r.staging); err != nil {
			return err
		}
	}
	// Children first, so that a read-only directory is sealed last.
	for _, f := range slices.Backward(r.m.Files) {
		mode := fs.FileMode(f.Mode)
		if !mode.IsDir() {
			continue
		}
		fi, err := r.root.Lstat(f.Path)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return &UnsafePathError{Path: f.Path, Reason: "replaced by something other than a directory during restore"}
		}
		if fi.Mode().Perm() != mode.Perm() {
			if err := r.root.Chmod(f.Path, mode.Perm()); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeStaleStaging deletes staging directories that a crashed Restore
// left behind.
func (r *restorer) removeStaleStaging() {
	ents, err := fs.ReadDir(r.root.FS(), ".")
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), stagingPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleStaging {
			r.root.RemoveAll(e.Name())
		}
	}
}
