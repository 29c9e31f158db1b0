package cache

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/musclemap/buildnet/hash"
)

// smallFile is the size up to which a file is read into memory, hashed and
// written only if its blob is missing; larger files are streamed.
const smallFile = 1 << 20

// Store records the content of outputDir (every regular file, directory and
// symbolic link under it; a missing outputDir counts as empty) and log, the
// build's captured output (nil for none), as the entry for key. It returns
// the manifest it stored.
//
// A symbolic link whose target is absolute or leaves outputDir, or a path
// that cannot be restored safely, makes Store fail with an
// [*UnsafePathError]; a device, fifo or socket fails it too. A Store that
// fails or is interrupted, even by a crash, leaves the entry for key as it
// was: the new entry becomes visible in one atomic rename, after all its
// blobs are on disk.
//
// Store never evicts; call [Cache.Evict] to enforce the limits.
func (c *Cache) Store(ctx context.Context, key hash.Digest, pkg, outputDir string, log []byte, duration time.Duration) (*Manifest, error) {
	m, err := c.store(ctx, key, pkg, outputDir, log, duration)
	if err != nil {
		return nil, fmt.Errorf("store %s from %s: %w", key.Short(), outputDir, err)
	}
	return m, nil
}

func (c *Cache) store(ctx context.Context, key hash.Digest, pkg, outputDir string, log []byte, duration time.Duration) (*Manifest, error) {
	if key.IsZero() {
		return nil, errors.New("zero key")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Scan everything before writing anything, so that an unsafe link
	// leaves nothing behind.
	root, files, err := scanOutputs(ctx, outputDir)
	if err != nil {
		return nil, err
	}
	if root != nil {
		defer root.Close()
	}
	if err := c.lock.rlock(); err != nil {
		return nil, err
	}
	defer c.lock.runlock()
	err = forEach(ctx, len(files), func(i int) error {
		f := &files[i]
		if !fs.FileMode(f.Mode).IsRegular() {
			return nil
		}
		d, n, err := c.putFile(root, f.Path)
		if err != nil {
			return fmt.Errorf("store %s: %w", f.Path, err)
		}
		f.Digest, f.Size = d, n
		return nil
	})
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		Version:    manifestVersion,
		Key:        key,
		Package:    pkg,
		Files:      files,
		DurationMs: duration.Milliseconds(),
		CreatedAt:  time.Now().UTC().Round(0),
	}
	if log != nil {
		if m.Log, err = c.putBytes(log); err != nil {
			return nil, fmt.Errorf("store log: %w", err)
		}
	}
	b, err := EncodeManifest(m)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.writeFile(c.entryPath(key), b, true); err != nil {
		return nil, fmt.Errorf("write entry: %w", err)
	}
	return m, nil
}

// putFile stores the regular file p under root as a blob.
func (c *Cache) putFile(root *os.Root, p string) (hash.Digest, int64, error) {
	f, err := root.Open(p)
	if err != nil {
		return hash.Digest{}, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return hash.Digest{}, 0, err
	}
	if !fi.Mode().IsRegular() {
		return hash.Digest{}, 0, fmt.Errorf("no longer a regular file (%v)", fi.Mode().Type())
	}
	if fi.Size() > smallFile {
		return c.putStream(f)
	}
	b, err := readAllSized(f, fi.Size())
	if err != nil {
		return hash.Digest{}, 0, err
	}
	d, err := c.putBytes(b)
	return d, int64(len(b)), err
}

// scanOutputs lists what is under dir without reading file contents. Sizes
// of regular files are filled in later, from what is actually read.
func scanOutputs(ctx context.Context, dir string) (*os.Root, []File, error) {
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, []File{}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	files := []File{}
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		if reason := checkPath(p); reason != "" {
			return &UnsafePathError{Path: p, Reason: reason}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := fi.Mode()
		switch {
		case mode.IsDir():
			files = append(files, File{Path: p, Mode: uint32(fs.ModeDir | mode.Perm())})
		case mode.IsRegular():
			files = append(files, File{Path: p, Mode: uint32(mode.Perm())})
		case mode&fs.ModeSymlink != 0:
			target, err := root.Readlink(p)
			if err != nil {
				return err
			}
			if reason := checkLink(p, target); reason != "" {
				return &UnsafePathError{Path: p, Reason: reason}
			}
			files = append(files, File{Path: p, Mode: uint32(fs.ModeSymlink), Size: int64(len(target)), Link: target})
		default:
			return &UnsafePathError{Path: p, Reason: fmt.Sprintf("unsupported file type %v", mode.Type())}
		}
		return nil
	})
	if err != nil {
		root.Close()
		return nil, nil, err
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return root, files, nil
}

// forEach calls fn(0) to fn(n-1) from a few goroutines and returns the first
// error, or ctx's error if ctx ended first.
func forEach(ctx context.Context, n int, fn func(i int) error) error {
	if n == 0 {
		return ctx.Err()
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range min(n, max(4, runtime.GOMAXPROCS(0))) {
		wg.Go(func() {
			for wctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
