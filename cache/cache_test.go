package cache_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/hash"
)

var sampleTree = map[string]node{
	"index.js":         file(0o644, "export const x = 1;\n"),
	"bin/tool":         file(0o755, "#!/bin/sh\necho tool\n"),
	"bin/empty":        file(0o644, ""),
	"lib/a/b/deep.txt": file(0o600, "deep content"),
	"lib/a/up":         link("../../index.js"),
	"lib/private":      dir(0o700),
	"empty":            dir(0o755),
	"current":          link("index.js"),
}

func TestStoreLookupRestoreRoundTrip(t *testing.T) {
	ctx := t.Context()
	c := newCache(t)
	src := t.TempDir()
	writeTree(t, src, sampleTree)
	key := keyOf("round trip")

	stored, err := c.Store(ctx, key, "web", src, []byte("build ok\n"), 1500*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, int64(1500), stored.DurationMs)
	assert.Equal(t, "web", stored.Package)

	m, err := c.Lookup(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, stored, m)
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	assert.Equal(t, []string{"bin", "bin/empty", "bin/tool", "current", "empty", "index.js", "lib", "lib/a", "lib/a/b", "lib/a/b/deep.txt", "lib/a/up", "lib/private"}, paths)

	out := filepath.Join(t.TempDir(), "dist")
	st, err := c.Restore(ctx, m, out)
	require.NoError(t, err)
	assert.Equal(t, cache.RestoreStats{Written: 6, Bytes: int64(len("export const x = 1;\n#!/bin/sh\necho tool\ndeep content"))}, st)
	got := snapshot(t, out)
	want := snapshot(t, src)
	assert.Equal(t, want, got)
	assert.Equal(t, fs.FileMode(0o755), got["bin/tool"].mode)
	assert.Equal(t, fs.FileMode(0o700), got["lib/private"].mode)

	log, err := c.ReadLog(ctx, m)
	require.NoError(t, err)
	assert.Equal(t, "build ok\n", string(log))

	t.Run("identical files are not rewritten", func(t *testing.T) {
		before := map[string]uint64{}
		mtimes := map[string]time.Time{}
		for _, p := range []string{"index.js", "bin/tool", "lib/a/b/deep.txt", "current"} {
			full := filepath.Join(out, p)
			before[p] = inode(t, full)
			fi, err := os.Lstat(full)
			require.NoError(t, err)
			mtimes[p] = fi.ModTime()
		}
		st, err := c.Restore(ctx, m, out)
		require.NoError(t, err)
		assert.Equal(t, cache.RestoreStats{Unchanged: 6}, st)
		for p, ino := range before {
			full := filepath.Join(out, p)
			assert.Equal(t, ino, inode(t, full), p)
			fi, err := os.Lstat(full)
			require.NoError(t, err)
			assert.Equal(t, mtimes[p], fi.ModTime(), p)
		}
	})

	t.Run("changed files are rewritten, others left alone", func(t *testing.T) {
		require.NoError(t, os.WriteFile(filepath.Join(out, "index.js"), []byte("tampered"), 0o644))
		require.NoError(t, os.Chmod(filepath.Join(out, "bin/tool"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(out, "extra.txt"), []byte("mine"), 0o644))
		st, err := c.Restore(ctx, m, out)
		require.NoError(t, err)
		assert.Equal(t, 2, st.Written)
		assert.Equal(t, 4, st.Unchanged)
		got := snapshot(t, out)
		assert.Equal(t, file(0o644, "mine"), got["extra.txt"])
		delete(got, "extra.txt")
		assert.Equal(t, want, got)
	})
}

func TestStoreMissingOutputDir(t *testing.T) {
	c := newCache(t)
	key := keyOf("no outputs")
	m, err := c.Store(t.Context(), key, "p", filepath.Join(t.TempDir(), "absent"), nil, 0)
	require.NoError(t, err)
	assert.Empty(t, m.Files)
	assert.True(t, m.Log.IsZero())
	got, err := c.Lookup(t.Context(), key)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "out")
	_, err = c.Restore(t.Context(), got, out)
	require.NoError(t, err)
	assert.DirExists(t, out)
	log, err := c.ReadLog(t.Context(), got)
	require.NoError(t, err)
	assert.Nil(t, log)
}

func TestLookupMiss(t *testing.T) {
	c := newCache(t)
	_, err := c.Lookup(t.Context(), keyOf("nothing"))
	require.ErrorIs(t, err, cache.ErrNotFound)
	st, err := c.Stats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(1), st.Misses)
	assert.Equal(t, int64(0), st.Hits)
}

func TestCorruptBlobNeverServed(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, p string)
	}{
		{"truncated", func(t *testing.T, p string) {
			require.NoError(t, os.Truncate(p, 3))
		}},
		{"bit flipped", func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			b[len(b)/2] ^= 0x01
			require.NoError(t, os.WriteFile(p, b, 0o644))
		}},
		{"extended", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString("more")
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			c := newCache(t)
			src := t.TempDir()
			writeTree(t, src, map[string]node{
				"a/good.txt": file(0o644, "good content"),
				"a/bad.txt":  file(0o644, "content that will be damaged"),
				"z.txt":      file(0o644, "last"),
			})
			key := keyOf(tt.name)
			_, err := c.Store(ctx, key, "p", src, nil, 0)
			require.NoError(t, err)
			m, err := c.Lookup(ctx, key)
			require.NoError(t, err)
			bad := digestOf(t, m, "a/bad.txt")
			tt.damage(t, blobPath(c, bad))

			out := t.TempDir()
			writeTree(t, out, map[string]node{"keep.txt": file(0o644, "untouched")})
			_, err = c.Restore(ctx, m, out)
			require.ErrorIs(t, err, cache.ErrCorrupt)
			assert.Equal(t, map[string]node{"keep.txt": file(0o644, "untouched")}, snapshot(t, out),
				"nothing of the entry may become visible")

			assert.NoFileExists(t, blobPath(c, bad))
			assert.Len(t, quarantined(t, c, "blob-"+bad.String()), 1)
			st, err := c.Stats(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(1), st.Corrupt)

			// The entry is dropped: the next lookup is a plain miss and
			// the package gets rebuilt and stored again.
			_, err = c.Lookup(ctx, key)
			require.ErrorIs(t, err, cache.ErrNotFound)
			_, err = c.Store(ctx, key, "p", src, nil, 0)
			require.NoError(t, err)
			m, err = c.Lookup(ctx, key)
			require.NoError(t, err)
			_, err = c.Restore(ctx, m, out)
			require.NoError(t, err)
			assert.Equal(t, file(0o644, "content that will be damaged"), snapshot(t, out)["a/bad.txt"])
		})
	}
}

func TestMissingBlobIsCorruptOnLookup(t *testing.T) {
	ctx := t.Context()
	c := newCache(t)
	src := t.TempDir()
	writeTree(t, src, map[string]node{"f": file(0o644, "data")})
	key := keyOf("missing blob")
	m, err := c.Store(ctx, key, "p", src, nil, 0)
	require.NoError(t, err)
	require.NoError(t, os.Remove(blobPath(c, m.Files[0].Digest)))

	_, err = c.Lookup(ctx, key)
	require.ErrorIs(t, err, cache.ErrCorrupt)
	assert.Len(t, quarantined(t, c, "entry-"+key.String()), 1)
	_, err = c.Lookup(ctx, key)
	require.ErrorIs(t, err, cache.ErrNotFound)

	st, err := c.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), st.Corrupt)
	assert.Equal(t, int64(2), st.Misses)
	assert.Equal(t, int64(0), st.Entries)
}

func TestCorruptManifestQuarantined(t *testing.T) {
	tests := []struct {
		name    string
		content func(other []byte) []byte
	}{
		{"garbage", func([]byte) []byte { return []byte("\x00\x01not json") }},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"another key", func(b []byte) []byte { return b }},
		{"unsafe path", func([]byte) []byte {
			return fmt.Appendf(nil, `{"version":1,"key":%q,"package":"p","files":[{"path":"../x","mode":420,"size":1,"digest":%q}],"duration_ms":0,"created_at":"2024-01-01T00:00:00Z"}`,
				keyOf("unsafe path"), keyOf("x"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			c := newCache(t)
			other, err := c.Store(ctx, keyOf("other"), "p", t.TempDir(), nil, 0)
			require.NoError(t, err)
			otherBytes, err := cache.EncodeManifest(other)
			require.NoError(t, err)

			key := keyOf(tt.name)
			p := entryPath(c, key)
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.WriteFile(p, tt.content(otherBytes), 0o644))

			_, err = c.Lookup(ctx, key)
			require.ErrorIs(t, err, cache.ErrCorrupt)
			assert.NoFileExists(t, p)
			assert.Len(t, quarantined(t, c, "entry-"+key.String()), 1)
			st, err := c.Stats(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(1), st.Corrupt)
			assert.Equal(t, int64(1), st.Misses)
		})
	}
}

func TestCorruptLogNotServed(t *testing.T) {
	ctx := t.Context()
	c := newCache(t)
	key := keyOf("log")
	m, err := c.Store(ctx, key, "p", t.TempDir(), []byte("line 1\nline 2\n"), 0)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(blobPath(c, m.Log), []byte("line 1\nline X\n"), 0o644))
	_, err = c.ReadLog(ctx, m)
	require.ErrorIs(t, err, cache.ErrCorrupt)
	st, err := c.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), st.Corrupt)
}

func TestInterruptedWrite(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	key := keyOf("crashed")

	// A process died while writing: a loose temp file, and a work
	// directory nobody holds, both in tmp/, and no entry.
	c := openCache(t, dir, cache.Options{})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tmp", "w-123"), []byte(`{"version":1,"ke`), 0o644))
	stale := filepath.Join(dir, "tmp", "DEADPROCESS")
	require.NoError(t, os.MkdirAll(stale, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(stale, "w-456"), []byte("partial blob"), 0o644))

	_, err := c.Lookup(ctx, key)
	require.ErrorIs(t, err, cache.ErrNotFound)

	c2 := openCache(t, dir, cache.Options{})
	assert.NoFileExists(t, filepath.Join(dir, "tmp", "w-123"))
	assert.NoDirExists(t, stale)
	_, err = c2.Lookup(ctx, key)
	require.ErrorIs(t, err, cache.ErrNotFound)

	// The sweep spared the live cache's own scratch space.
	src := t.TempDir()
	writeTree(t, src, map[string]node{"f": file(0o644, "x")})
	_, err = c.Store(ctx, key, "p", src, nil, 0)
	require.NoError(t, err)
	_, err = c2.Lookup(ctx, key)
	require.NoError(t, err)
}

func TestCancelledStoreLeavesNoEntry(t *testing.T) {
	c := newCache(t)
	src := t.TempDir()
	writeTree(t, src, map[string]node{"f": file(0o644, "x")})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	key := keyOf("cancelled")
	_, err := c.Store(ctx, key, "p", src, nil, 0)
	require.ErrorIs(t, err, context.Canceled)
	_, err = c.Lookup(t.Context(), key)
	require.ErrorIs(t, err, cache.ErrNotFound)
}

func TestStatsPersistAcrossOpen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := t.TempDir()
	writeTree(t, src, map[string]node{"f": file(0o644, "x")})

	c, err := cache.Open(dir, cache.Options{})
	require.NoError(t, err)
	_, err = c.Store(ctx, keyOf("a"), "a", src, nil, 0)
	require.NoError(t, err)
	_, err = c.Lookup(ctx, keyOf("a"))
	require.NoError(t, err)
	_, err = c.Lookup(ctx, keyOf("b"))
	require.ErrorIs(t, err, cache.ErrNotFound)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "second Close is a no-op")
	_, err = c.Lookup(ctx, keyOf("a"))
	require.Error(t, err, "a closed cache refuses work")

	// Two caches on one directory, like two processes: both deltas count.
	c1, err := cache.Open(dir, cache.Options{})
	require.NoError(t, err)
	c2, err := cache.Open(dir, cache.Options{})
	require.NoError(t, err)
	_, err = c1.Lookup(ctx, keyOf("a"))
	require.NoError(t, err)
	_, err = c2.Lookup(ctx, keyOf("a"))
	require.NoError(t, err)
	_, err = c2.Lookup(ctx, keyOf("c"))
	require.ErrorIs(t, err, cache.ErrNotFound)
	require.NoError(t, c1.Close())
	require.NoError(t, c2.Close())

	c3 := openCache(t, dir, cache.Options{})
	st, err := c3.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, cache.Stats{Entries: 1, Bytes: st.Bytes, Hits: 3, Misses: 2}, st)
	assert.Positive(t, st.Bytes)
}

func TestConcurrentStores(t *testing.T) {
	// The evicting cache is either the storing one or a second one on the
	// same directory, standing for another process.
	t.Run("one cache", func(t *testing.T) {
		c := newCache(t)
		testConcurrentStores(t, c, c)
	})
	t.Run("two caches on one directory", func(t *testing.T) {
		dir := t.TempDir()
		testConcurrentStores(t, openCache(t, dir, cache.Options{}), openCache(t, dir, cache.Options{}))
	})
}

func testConcurrentStores(t *testing.T, c, evictor *cache.Cache) {
	ctx := t.Context()
	src := t.TempDir()
	tree := map[string]node{}
	for i := range 20 {
		tree[fmt.Sprintf("f%02d.txt", i)] = file(0o644, fmt.Sprintf("content %d", i))
	}
	writeTree(t, src, tree)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var evictErr error
	wg.Go(func() {
		// Evict with no limits deletes only unreferenced blobs, which a
		// concurrent Store's blobs must never be taken for.
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := evictor.Evict(ctx); err != nil {
				evictErr = err
				return
			}
			time.Sleep(time.Millisecond) // let stores make progress
		}
	})
	var storers sync.WaitGroup
	for g := range 8 {
		storers.Go(func() {
			for i := range 5 {
				keys := []hash.Digest{keyOf("same"), keyOf(fmt.Sprintf("g%d-%d", g, i))}
				for _, key := range keys {
					if _, err := c.Store(ctx, key, "p", src, []byte("log"), 0); err != nil {
						t.Errorf("store: %v", err)
						return
					}
					m, err := c.Lookup(ctx, key)
					if err != nil {
						t.Errorf("lookup: %v", err)
						return
					}
					if _, err := c.Restore(ctx, m, filepath.Join(t.TempDir(), "out")); err != nil {
						t.Errorf("restore: %v", err)
						return
					}
				}
			}
		})
	}
	storers.Wait()
	close(stop)
	wg.Wait()
	require.NoError(t, evictErr)

	st, err := c.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(41), st.Entries)
	assert.Equal(t, int64(0), st.Corrupt)
	assert.Equal(t, int64(80), st.Hits)
	ents, err := os.ReadDir(filepath.Join(c.Dir(), "tmp"))
	require.NoError(t, err)
	for _, e := range ents {
		left, err := os.ReadDir(filepath.Join(c.Dir(), "tmp", e.Name()))
		require.NoError(t, err)
		assert.Empty(t, left, "no temporary file is left behind")
	}
}

func TestRestoreMissingBlob(t *testing.T) {
	ctx := t.Context()
	c := newCache(t)
	src := t.TempDir()
	writeTree(t, src, map[string]node{"f": file(0o644, "data")})
	key := keyOf("k")
	m, err := c.Store(ctx, key, "p", src, nil, 0)
	require.NoError(t, err)

	t.Run("blob lost", func(t *testing.T) {
		require.NoError(t, os.Remove(blobPath(c, m.Files[0].Digest)))
		_, err := c.Restore(ctx, m, t.TempDir())
		require.ErrorIs(t, err, cache.ErrCorrupt)
		st, err := c.Stats(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), st.Corrupt)
		_, err = c.Lookup(ctx, key)
		require.ErrorIs(t, err, cache.ErrNotFound, "the broken entry was dropped")
	})

	t.Run("entry evicted after lookup", func(t *testing.T) {
		m, err := c.Store(ctx, key, "p", src, nil, 0)
		require.NoError(t, err)
		m, err = c.Lookup(ctx, m.Key)
		require.NoError(t, err)
		require.NoError(t, c.Clear(ctx))
		_, err = c.Restore(ctx, m, t.TempDir())
		require.ErrorIs(t, err, cache.ErrNotFound)
		st, err := c.Stats(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(1), st.Corrupt, "an eviction is not corruption")
	})
}

func TestPeekChangesNothing(t *testing.T) {
	dir := t.TempDir()
	c, err := cache.Open(dir, cache.Options{})
	require.NoError(t, err)
	out := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(out, "a.txt"), []byte("a"), 0o644))
	key := hash.Sum([]byte("peek"))
	_, err = c.Store(t.Context(), key, "p", out, nil, time.Second)
	require.NoError(t, err)
	require.NoError(t, c.Close())

	m, err := cache.Peek(dir, key)
	require.NoError(t, err)
	assert.Equal(t, int64(1000), m.DurationMs)
	_, err = cache.Peek(dir, hash.Sum([]byte("other")))
	assert.ErrorIs(t, err, cache.ErrNotFound)
	_, err = cache.Peek(filepath.Join(dir, "missing"), key)
	assert.ErrorIs(t, err, cache.ErrNotFound)
	assert.NoDirExists(t, filepath.Join(dir, "missing"))
}
