package cache

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	stdhash "hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/musclemap/buildnet/hash"
)

// ErrNotFound is returned when the cache holds no entry for a key.
var ErrNotFound = errors.New("cache: entry not found")

// ErrCorrupt is returned when an entry or blob fails verification. Such an
// entry is a miss: it has been quarantined and counted, and the package
// should be rebuilt.
var ErrCorrupt = errors.New("cache: corrupt entry")

// errClosed is returned by methods called after Close.
var errClosed = errors.New("cache: closed")

// Layout of a cache directory.
const (
	blobsDir      = "blobs"
	actionsDir    = "actions"
	tmpDir        = "tmp"
	quarantineDir = "quarantine"
	statsFile     = "stats.json"
	statsLockFile = "stats.lock"
	storeLockFile = "lock"
)

// Options configures a [Cache]. The zero value is an unbounded cache that
// logs nothing.
type Options struct {
	// MaxSize bounds the total bytes of blobs and entries that
	// [Cache.Evict] leaves behind; 0 means unbounded.
	MaxSize int64
	// MaxAge makes [Cache.Evict] drop entries not looked up for longer;
	// 0 means entries never expire.
	MaxAge time.Duration
	// Logger receives warnings about corrupt content; nil discards them.
	Logger *slog.Logger
}

// Cache is an on-disk content-addressed store of build outputs. It is safe
// for concurrent use by multiple goroutines, and several processes may open
// the same directory.
type Cache struct {
	dir  string
	opts Options
	log  *slog.Logger

	// lock is held shared by operations that read or add content and
	// exclusively by those that delete it (Evict, Clear) and by Close.
	lock storeLock

	// work is this Cache's private scratch directory under tmp/. workLock
	// holds an flock on it so that other processes' Open leaves it alone.
	work     string
	workLock *os.File

	bufs    sync.Pool // *[]byte copy buffers
	hashers sync.Pool // BLAKE3 hashers from hash.New

	// Counter deltas not yet merged into stats.json.
	hits, misses, evictions, corrupt atomic.Int64
}

// Open opens the cache in dir, creating it if needed, and removes temporary
// files left by processes that died while writing. Open does not scan the
// store, so it is cheap enough to call on every command invocation.
func Open(dir string, opts Options) (*Cache, error) {
	if dir == "" {
		return nil, errors.New("open cache: empty directory name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open cache %s: %w", dir, err)
	}
	for _, sub := range []string{blobsDir, actionsDir, tmpDir, quarantineDir} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, fmt.Errorf("open cache %s: %w", dir, err)
		}
	}
	lf, err := os.OpenFile(filepath.Join(abs, storeLockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open cache %s: %w", dir, err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{dir: abs, opts: opts, log: log.With(keyComponent, "cache")}
	c.lock.file = lf
	c.bufs.New = func() any { b := make([]byte, 64<<10); return &b }
	c.hashers.New = func() any { return hash.New() }
	c.sweepTmp()
	if c.work, c.workLock, err = makeWorkDir(filepath.Join(abs, tmpDir)); err != nil {
		lf.Close()
		return nil, fmt.Errorf("open cache %s: %w", dir, err)
	}
	return c, nil
}

// Close merges this Cache's counters into the persisted statistics and
// releases its resources. It waits for operations in progress. Calling
// Close again does nothing.
func (c *Cache) Close() error {
	if !c.lock.close() {
		return nil
	}
	defer c.lock.rw.Unlock()
	err := c.flushCounters()
	if rerr := os.RemoveAll(c.work); rerr != nil && err == nil {
		err = rerr
	}
	c.workLock.Close()
	c.lock.file.Close()
	if err != nil {
		return fmt.Errorf("close cache %s: %w", c.dir, err)
	}
	return nil
}

// Dir returns the absolute path of the cache directory.
func (c *Cache) Dir() string { return c.dir }

// Lookup returns the manifest stored for key. It returns an error wrapping
// [ErrNotFound] on a miss, and one wrapping [ErrCorrupt] when the entry
// exists but cannot be used: its manifest does not decode, or a blob it
// references is missing. Both are misses; a corrupt entry is moved to
// quarantine and counted. A hit marks the entry as recently used.
func (c *Cache) Lookup(ctx context.Context, key hash.Digest) (*Manifest, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.lock.rlock(); err != nil {
		return nil, err
	}
	defer c.lock.runlock()
	m, err := c.loadEntry(ctx, key)
	if err == nil {
		err = c.checkBlobs(ctx, m)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) {
			c.misses.Add(1)
		}
		return nil, fmt.Errorf("look up %s: %w", key.Short(), err)
	}
	now := time.Now()
	if err := os.Chtimes(c.entryPath(key), now, now); err != nil {
		c.log.LogAttrs(ctx, slog.LevelDebug, "cannot mark entry used", slog.String(keyDigest, key.String()), slog.Any(keyErr, err))
	}
	c.hits.Add(1)
	return m, nil
}

// ReadLog returns the captured build output recorded in m, verified against
// its digest, or nil if m has no log.
func (c *Cache) ReadLog(ctx context.Context, m *Manifest) ([]byte, error) {
	if m == nil || m.Log.IsZero() {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.lock.rlock(); err != nil {
		return nil, err
	}
	defer c.lock.runlock()
	b, err := os.ReadFile(c.blobPath(m.Log))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = c.badBlob(ctx, m, m.Log, "missing")
	case err != nil:
	case hash.Sum(b) != m.Log:
		err = c.badBlob(ctx, m, m.Log, "digest mismatch")
	}
	if err != nil {
		return nil, fmt.Errorf("read log of %s: %w", m.Key.Short(), err)
	}
	return b, nil
}

// loadEntry reads and decodes the entry for key. A manifest that does not
// decode, or that holds another key, is quarantined and counted.
func (c *Cache) loadEntry(ctx context.Context, key hash.Digest) (*Manifest, error) {
	p := c.entryPath(key)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	m, err := DecodeManifest(b)
	if err == nil && m.Key != key {
		err = fmt.Errorf("%w: entry holds key %s", ErrCorrupt, m.Key.Short())
	}
	if err != nil {
		c.corrupt.Add(1)
		c.quarantine(ctx, p, "entry")
		c.log.LogAttrs(ctx, slog.LevelWarn, "corrupt cache entry quarantined", slog.String(keyDigest, key.String()), slog.Any(keyErr, err))
		return nil, err
	}
	return m, nil
}

// checkBlobs makes sure every blob m references exists. If one is missing,
// the entry is quarantined and counted.
func (c *Cache) checkBlobs(ctx context.Context, m *Manifest) error {
	for _, d := range m.blobs() {
		_, err := os.Lstat(c.blobPath(d))
		if errors.Is(err, fs.ErrNotExist) {
			c.corrupt.Add(1)
			c.quarantine(ctx, c.entryPath(m.Key), "entry")
			c.log.LogAttrs(ctx, slog.LevelWarn, "cache entry with missing blob quarantined",
				slog.String(keyDigest, m.Key.String()), slog.String(keyBlob, d.String()))
			return fmt.Errorf("%w: blob %s missing", ErrCorrupt, d.Short())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// badBlob handles a blob of m that is missing or fails verification: the
// blob is quarantined, the entry for m.Key is dropped if it references the
// blob, and the corruption is counted. A blob missing because its entry has
// been evicted since m was looked up is not counted, and the error wraps
// ErrNotFound as well as ErrCorrupt.
func (c *Cache) badBlob(ctx context.Context, m *Manifest, d hash.Digest, what string) error {
	if _, err := os.Lstat(c.entryPath(m.Key)); errors.Is(err, fs.ErrNotExist) && what == "missing" {
		return fmt.Errorf("%w: blob %s missing: %w", ErrCorrupt, d.Short(), ErrNotFound)
	}
	c.corrupt.Add(1)
	c.quarantine(ctx, c.blobPath(d), "blob")
	if stored, err := os.ReadFile(c.entryPath(m.Key)); err == nil {
		if sm, err := DecodeManifest(stored); err == nil && refers(sm, d) {
			if err := os.Remove(c.entryPath(m.Key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				c.log.LogAttrs(ctx, slog.LevelWarn, "cannot drop cache entry", slog.String(keyDigest, m.Key.String()), slog.Any(keyErr, err))
			}
		}
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "corrupt cache blob quarantined",
		slog.String(keyDigest, m.Key.String()), slog.String(keyBlob, d.String()), slog.String(keyReason, what))
	return fmt.Errorf("%w: blob %s %s", ErrCorrupt, d.Short(), what)
}

func refers(m *Manifest, d hash.Digest) bool {
	for _, b := range m.blobs() {
		if b == d {
			return true
		}
	}
	return false
}

// quarantine moves the file at p out of the store, keeping it for
// inspection; if that fails the file is deleted.
func (c *Cache) quarantine(ctx context.Context, p, kind string) {
	dst := filepath.Join(c.dir, quarantineDir, kind+"-"+filepath.Base(p)+"-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	err := os.Rename(p, dst)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "cannot quarantine, deleting", slog.String(keyPath, p), slog.Any(keyErr, err))
	os.Remove(p)
}

func (c *Cache) blobPath(d hash.Digest) string {
	h := d.String()
	return filepath.Join(c.dir, blobsDir, h[:2], h)
}

func (c *Cache) entryPath(d hash.Digest) string {
	h := d.String()
	return filepath.Join(c.dir, actionsDir, h[:2], h)
}

// hasBlob reports whether a blob for d of the given size is present.
func (c *Cache) hasBlob(d hash.Digest, size int64) bool {
	fi, err := os.Lstat(c.blobPath(d))
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// putBytes stores b as a blob unless it is already present.
func (c *Cache) putBytes(b []byte) (hash.Digest, error) {
	d := hash.Sum(b)
	if c.hasBlob(d, int64(len(b))) {
		return d, nil
	}
	return d, c.writeFile(c.blobPath(d), b, false)
}

// putStream stores what r yields as a blob unless it is already present.
func (c *Cache) putStream(r io.Reader) (hash.Digest, int64, error) {
	f, err := c.createTemp()
	if err != nil {
		return hash.Digest{}, 0, err
	}
	h := hash.New()
	n, err := c.copy(io.MultiWriter(f, h), r)
	if err == nil {
		err = syncClose(f)
	} else {
		f.Close()
	}
	d := hash.FromHash(h)
	if err == nil && c.hasBlob(d, n) {
		err = os.Remove(f.Name())
		return d, n, err
	}
	if err == nil {
		err = commit(f.Name(), c.blobPath(d), false)
	}
	if err != nil {
		os.Remove(f.Name())
		return hash.Digest{}, n, err
	}
	return d, n, nil
}

// writeFile atomically replaces dst with data: a synced temporary file is
// renamed over it. With syncDir the directory is synced too, so that the
// rename itself survives a crash.
func (c *Cache) writeFile(dst string, data []byte, syncDir bool) error {
	f, err := c.createTemp()
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = syncClose(f)
	} else {
		f.Close()
	}
	if err == nil {
		err = commit(f.Name(), dst, syncDir)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func (c *Cache) createTemp() (*os.File, error) {
	f, err := os.CreateTemp(c.work, "w-")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

func syncClose(f *os.File) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// commit renames the temporary file tmp to dst, creating dst's directory.
func commit(tmp, dst string, syncDir bool) error {
	dir := filepath.Dir(dst)
	err := os.Rename(tmp, dst)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			err = os.Rename(tmp, dst)
		}
	}
	if err != nil || !syncDir {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	d.Close()
	return err
}

// sweepTmp removes what processes that are gone left in tmp/: loose files,
// and work directories nobody holds a lock on.
func (c *Cache) sweepTmp() {
	tmp := filepath.Join(c.dir, tmpDir)
	ents, err := os.ReadDir(tmp)
	if err != nil {
		c.log.Warn("cannot sweep temporary files", slog.String(keyPath, tmp), slog.Any(keyErr, err))
		return
	}
	for _, e := range ents {
		p := filepath.Join(tmp, e.Name())
		if !e.IsDir() {
			os.Remove(p)
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if flock(f, lockExclusive|lockNonBlock) == nil {
			if err := os.RemoveAll(p); err != nil {
				c.log.Warn("cannot sweep temporary files", slog.String(keyPath, p), slog.Any(keyErr, err))
			}
		}
		f.Close()
	}
}

// makeWorkDir creates a scratch directory under tmp and locks it.
func makeWorkDir(tmp string) (string, *os.File, error) {
	var err error
	for range 5 {
		p := filepath.Join(tmp, rand.Text())
		if err = os.Mkdir(p, 0o700); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return "", nil, err
		}
		var f *os.File
		if f, err = os.Open(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // swept by another process before we could lock it
			}
			return "", nil, err
		}
		// Another process's sweep may have taken the fresh directory for
		// garbage between Mkdir and the lock: check that it still exists.
		if err = flock(f, lockExclusive|lockNonBlock); err == nil {
			fi, ferr := f.Stat()
			pi, perr := os.Lstat(p)
			if ferr == nil && perr == nil && os.SameFile(fi, pi) {
				return p, f, nil
			}
			err = errors.New("work directory swept concurrently")
		}
		f.Close()
	}
	return "", nil, fmt.Errorf("create work directory: %w", err)
}

// copyVerify copies exactly size bytes from src to dst and reports whether
// the content has digest want. Read and write errors are returned as such;
// a length or digest mismatch is reported by ok == false.
func (c *Cache) copyVerify(dst io.Writer, src io.Reader, size int64, want hash.Digest) (ok bool, err error) {
	h := c.hashers.Get().(stdhash.Hash)
	defer c.hashers.Put(h)
	h.Reset()
	n, err := c.copy(io.MultiWriter(dst, h), io.LimitReader(src, size+1))
	if err != nil {
		return false, err
	}
	return n == size && hash.FromHash(h) == want, nil
}

// copy is io.Copy with a pooled buffer. It hides ReaderFrom and WriterTo,
// which for files fall back to io.Copy with a fresh buffer.
func (c *Cache) copy(dst io.Writer, src io.Reader) (int64, error) {
	bp := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *bp)
}

// readAllSized reads f, whose expected size is size, in one allocation.
func readAllSized(f io.Reader, size int64) ([]byte, error) {
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	_, err := buf.ReadFrom(f)
	return buf.Bytes(), err
}
