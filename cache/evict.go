package cache

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/musclemap/buildnet/hash"
)

// quarantineTTL is how long [Cache.Evict] keeps quarantined files.
const quarantineTTL = 7 * 24 * time.Hour

// Stats describes a cache. Entries and Bytes are measured when Stats is
// called; the counters are cumulative over every process that has used the
// cache directory.
type Stats struct {
	Entries   int64 `json:"entries"`   // action entries
	Bytes     int64 `json:"bytes"`     // size of blobs and entries
	Hits      int64 `json:"hits"`      // lookups that found a usable entry
	Misses    int64 `json:"misses"`    // lookups that did not, corrupt ones included
	Evictions int64 `json:"evictions"` // entries removed by Evict
	Corrupt   int64 `json:"corrupt"`   // corrupt entries and blobs found
}

// EntryInfo describes one action entry, as listed by [Cache.Entries].
type EntryInfo struct {
	Key     hash.Digest `json:"key"`
	Package string      `json:"package"`
	// Size is the bytes the entry accounts for: its manifest plus every blob
	// it references, shared blobs included.
	Size      int64     `json:"size"`
	Files     int       `json:"files"` // files, directories and links in the manifest
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used"` // last store or lookup hit
}

// EvictStats reports what [Cache.Evict] removed.
type EvictStats struct {
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"` // entries and blobs deleted
}

// counters is the content of stats.json.
type counters struct {
	Hits      int64 `json:"hits"`
	Misses    int64 `json:"misses"`
	Evictions int64 `json:"evictions"`
	Corrupt   int64 `json:"corrupt"`
}

// Stats returns the size of the store, measured by scanning it, and the
// cumulative counters.
func (c *Cache) Stats(ctx context.Context) (Stats, error) {
	// The shared lock keeps a concurrent Clear or Evict from removing
	// directories under the scan.
	if err := c.lock.rlock(); err != nil {
		return Stats{}, fmt.Errorf("cache stats: %w", err)
	}
	defer c.lock.runlock()
	var s Stats
	err := c.scan(ctx, actionsDir, func(_ string, fi fs.FileInfo) error {
		s.Entries++
		s.Bytes += fi.Size()
		return nil
	})
	if err == nil {
		err = c.scan(ctx, blobsDir, func(_ string, fi fs.FileInfo) error {
			s.Bytes += fi.Size()
			return nil
		})
	}
	if err != nil {
		return Stats{}, fmt.Errorf("cache stats: %w", err)
	}
	n, err := c.readCounters()
	if err != nil {
		return Stats{}, fmt.Errorf("cache stats: %w", err)
	}
	s.Hits = n.Hits + c.hits.Load()
	s.Misses = n.Misses + c.misses.Load()
	s.Evictions = n.Evictions + c.evictions.Load()
	s.Corrupt = n.Corrupt + c.corrupt.Load()
	return s, nil
}

// Entries lists the action entries, most recently used first. Entries that
// do not decode are skipped; [Cache.Lookup] and [Cache.Evict] deal with them.
func (c *Cache) Entries(ctx context.Context) ([]EntryInfo, error) {
	if c.lock.isClosed() {
		return nil, errClosed
	}
	var out []EntryInfo
	err := c.scan(ctx, actionsDir, func(p string, fi fs.FileInfo) error {
		m, err := c.readManifest(p)
		if err != nil {
			return nil
		}
		size := fi.Size()
		for _, f := range m.Files {
			if fs.FileMode(f.Mode).IsRegular() {
				size += f.Size
			}
		}
		if !m.Log.IsZero() {
			if li, err := os.Lstat(c.blobPath(m.Log)); err == nil {
				size += li.Size()
			}
		}
		out = append(out, EntryInfo{
			Key: m.Key, Package: m.Package, Size: size, Files: len(m.Files),
			CreatedAt: m.CreatedAt, LastUsed: fi.ModTime(),
		})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list cache entries: %w", err)
	}
	slices.SortFunc(out, func(a, b EntryInfo) int {
		return cmp.Or(b.LastUsed.Compare(a.LastUsed), cmp.Compare(a.Key.String(), b.Key.String()))
	})
	return out, nil
}

// Evict enforces the limits of [Options]: it drops entries unused for
// longer than MaxAge, then the least recently used entries until blobs and
// entries fit in MaxSize, then deletes every blob no remaining entry
// references. Corrupt entries met on the way are quarantined and counted,
// and quarantined files older than a week are deleted.
//
// Evict waits for Store, Restore and Lookup calls in progress, in this and
// other processes, and holds them off while it runs.
func (c *Cache) Evict(ctx context.Context) (EvictStats, error) {
	st, err := c.evict(ctx)
	if err != nil {
		return st, fmt.Errorf("evict cache %s: %w", c.dir, err)
	}
	return st, nil
}

type evictEntry struct {
	path     string
	size     int64
	lastUsed time.Time
	blobs    []hash.Digest
}

func (c *Cache) evict(ctx context.Context) (st EvictStats, err error) {
	if err := c.lock.lock(ctx); err != nil {
		return st, err
	}
	defer c.lock.unlock()
	defer func() {
		if ferr := c.flushCounters(); err == nil {
			err = ferr
		}
	}()

	var entries []evictEntry
	err = c.scan(ctx, actionsDir, func(p string, fi fs.FileInfo) error {
		m, err := c.readManifest(p)
		if err == nil && filepath.Base(p) != m.Key.String() {
			err = fmt.Errorf("%w: entry holds key %s", ErrCorrupt, m.Key.Short())
		}
		if errors.Is(err, ErrCorrupt) {
			c.corrupt.Add(1)
			c.quarantine(ctx, p, "entry")
			c.log.LogAttrs(ctx, slog.LevelWarn, "corrupt cache entry quarantined", slog.String(keyPath, p), slog.Any(keyErr, err))
			return nil
		}
		if err != nil {
			return err
		}
		entries = append(entries, evictEntry{path: p, size: fi.Size(), lastUsed: fi.ModTime(), blobs: m.blobs()})
		return nil
	})
	if err != nil {
		return st, err
	}
	blobSize := map[hash.Digest]int64{}
	err = c.scan(ctx, blobsDir, func(p string, fi fs.FileInfo) error {
		d, err := hash.ParseDigest(filepath.Base(p))
		if err != nil || c.blobPath(d) != p {
			// Not something the cache wrote.
			st.Bytes += fi.Size()
			return removeIfPresent(p)
		}
		blobSize[d] = fi.Size()
		return nil
	})
	if err != nil {
		return st, err
	}

	refs := map[hash.Digest]int{}
	var total int64
	for _, e := range entries {
		total += e.size
		for _, d := range e.blobs {
			refs[d]++
		}
	}
	for _, n := range blobSize {
		total += n
	}
	drop := func(e evictEntry) error {
		if err := removeIfPresent(e.path); err != nil {
			return err
		}
		st.Entries++
		st.Bytes += e.size
		total -= e.size
		for _, d := range e.blobs {
			if refs[d]--; refs[d] == 0 {
				total -= blobSize[d]
			}
		}
		return nil
	}
	var kept []evictEntry
	now := time.Now()
	for _, e := range entries {
		if c.opts.MaxAge > 0 && now.Sub(e.lastUsed) > c.opts.MaxAge {
			if err := drop(e); err != nil {
				return st, err
			}
			continue
		}
		kept = append(kept, e)
	}
	if c.opts.MaxSize > 0 && total > c.opts.MaxSize {
		slices.SortFunc(kept, func(a, b evictEntry) int {
			return cmp.Or(a.lastUsed.Compare(b.lastUsed), cmp.Compare(a.path, b.path))
		})
		for _, e := range kept {
			if total <= c.opts.MaxSize {
				break
			}
			if err := drop(e); err != nil {
				return st, err
			}
		}
	}
	c.evictions.Add(int64(st.Entries))

	for d, n := range blobSize {
		if refs[d] > 0 {
			continue
		}
		if err := removeIfPresent(c.blobPath(d)); err != nil {
			return st, err
		}
		st.Bytes += n
	}
	c.pruneQuarantine(now)
	return st, nil
}

// Clear removes every entry and blob. The counters are kept.
func (c *Cache) Clear(ctx context.Context) error {
	if err := c.lock.lock(ctx); err != nil {
		return fmt.Errorf("clear cache %s: %w", c.dir, err)
	}
	defer c.lock.unlock()
	for _, sub := range []string{actionsDir, blobsDir, quarantineDir} {
		p := filepath.Join(c.dir, sub)
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("clear cache %s: %w", c.dir, err)
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("clear cache %s: %w", c.dir, err)
		}
	}
	return nil
}

// readManifest reads and decodes the manifest file at p.
func (c *Cache) readManifest(p string) (*Manifest, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return DecodeManifest(b)
}

// scan calls fn for every file in the two-level sharded directory sub.
// Files that vanish during the scan are skipped.
func (c *Cache) scan(ctx context.Context, sub string, fn func(p string, fi fs.FileInfo) error) error {
	top := filepath.Join(c.dir, sub)
	shards, err := os.ReadDir(top)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // cleared meanwhile: nothing to scan
	}
	if err != nil {
		return err
	}
	for _, s := range shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !s.IsDir() {
			continue
		}
		dir := filepath.Join(top, s.Name())
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			if err := fn(filepath.Join(dir, e.Name()), fi); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Cache) pruneQuarantine(now time.Time) {
	dir := filepath.Join(c.dir, quarantineDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && now.Sub(fi.ModTime()) > quarantineTTL {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

func removeIfPresent(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// readCounters returns the persisted counters; a missing file means zero.
func (c *Cache) readCounters() (counters, error) {
	var n counters
	b, err := os.ReadFile(filepath.Join(c.dir, statsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return n, nil
	}
	if err != nil {
		return n, err
	}
	if err := json.Unmarshal(b, &n); err != nil {
		// Losing statistics is better than failing every command.
		c.log.Warn("ignoring unreadable cache statistics", slog.String(keyPath, filepath.Join(c.dir, statsFile)), slog.Any(keyErr, err))
		return counters{}, nil
	}
	return n, nil
}

// flushCounters adds this Cache's counter deltas to stats.json, under an
// exclusive lock so that concurrent processes do not lose updates.
func (c *Cache) flushCounters() error {
	d := counters{Hits: c.hits.Swap(0), Misses: c.misses.Swap(0), Evictions: c.evictions.Swap(0), Corrupt: c.corrupt.Swap(0)}
	if d == (counters{}) {
		return nil
	}
	err := c.mergeCounters(d)
	if err != nil {
		c.hits.Add(d.Hits)
		c.misses.Add(d.Misses)
		c.evictions.Add(d.Evictions)
		c.corrupt.Add(d.Corrupt)
		return fmt.Errorf("save cache statistics: %w", err)
	}
	return nil
}

func (c *Cache) mergeCounters(d counters) error {
	lf, err := os.OpenFile(filepath.Join(c.dir, statsLockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := flock(lf, lockExclusive); err != nil {
		return err
	}
	defer flock(lf, lockUnlock)
	n, err := c.readCounters()
	if err != nil {
		return err
	}
	n.Hits += d.Hits
	n.Misses += d.Misses
	n.Evictions += d.Evictions
	n.Corrupt += d.Corrupt
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return c.writeFile(filepath.Join(c.dir, statsFile), b, false)
}
