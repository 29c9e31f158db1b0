package cache_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/hash"
)

// storeTree stores tree under key and returns the manifest.
func storeTree(t *testing.T, c *cache.Cache, key hash.Digest, tree map[string]node) *cache.Manifest {
	t.Helper()
	src := t.TempDir()
	writeTree(t, src, tree)
	m, err := c.Store(t.Context(), key, "p", src, nil, 0)
	require.NoError(t, err)
	return m
}

func TestEvictLRUKeepsUnderMaxSize(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c := openCache(t, dir, cache.Options{})
	big := func(s string) string { return strings.Repeat(s, 10_000) }
	ka, kb, kc := keyOf("a"), keyOf("b"), keyOf("c")
	storeTree(t, c, ka, map[string]node{"f": file(0o644, big("a"))})
	mb := storeTree(t, c, kb, map[string]node{"f": file(0o644, big("b"))})
	storeTree(t, c, kc, map[string]node{"f": file(0o644, big("c"))})
	now := time.Now()
	setLastUsed(t, c, ka, now.Add(-3*time.Hour))
	setLastUsed(t, c, kb, now.Add(-2*time.Hour))
	setLastUsed(t, c, kc, now.Add(-1*time.Hour))
	// a is the oldest entry, but a lookup makes it the most recently used.
	_, err := c.Lookup(ctx, ka)
	require.NoError(t, err)
	before, err := c.Stats(ctx)
	require.NoError(t, err)

	limited := openCache(t, dir, cache.Options{MaxSize: before.Bytes - 1})
	st, err := limited.Evict(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Entries)
	assert.Greater(t, st.Bytes, int64(10_000))

	_, err = limited.Lookup(ctx, kb)
	require.ErrorIs(t, err, cache.ErrNotFound, "b was the least recently used")
	assert.NoFileExists(t, blobPath(c, mb.Files[0].Digest))
	for _, k := range []hash.Digest{ka, kc} {
		_, err := limited.Lookup(ctx, k)
		require.NoError(t, err)
	}
	after, err := limited.Stats(ctx)
	require.NoError(t, err)
	assert.LessOrEqual(t, after.Bytes, before.Bytes-1)
	assert.Equal(t, before.Bytes-st.Bytes, after.Bytes)
	assert.Equal(t, int64(1), after.Evictions)
	assert.Equal(t, int64(2), after.Entries)
}

func TestEvictEverythingWhenTiny(t *testing.T) {
	ctx := t.Context()
	c := openCache(t, t.TempDir(), cache.Options{MaxSize: 1})
	for i := range 5 {
		storeTree(t, c, keyOf(fmt.Sprint(i)), map[string]node{"f": file(0o644, fmt.Sprint("content ", i))})
	}
	st, err := c.Evict(ctx)
	require.NoError(t, err)
	assert.Equal(t, 5, st.Entries)
	s, err := c.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, cache.Stats{Evictions: 5}, s)
}

func TestEvictKeepsSharedBlobs(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c := openCache(t, dir, cache.Options{})
	shared := strings.Repeat("shared ", 1000)
	ka, kb := keyOf("a"), keyOf("b")
	ma := storeTree(t, c, ka, map[string]node{"shared.txt": file(0o644, shared), "own.txt": file(0o644, "only a")})
	mb := storeTree(t, c, kb, map[string]node{"shared.txt": file(0o644, shared), "mine.txt": file(0o644, "only b")})
	require.Equal(t, digestOf(t, ma, "shared.txt"), digestOf(t, mb, "shared.txt"))
	setLastUsed(t, c, ka, time.Now().Add(-time.Hour))
	before, err := c.Stats(ctx)
	require.NoError(t, err)

	limited := openCache(t, dir, cache.Options{MaxSize: before.Bytes - 1})
	st, err := limited.Evict(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Entries)
	assert.NoFileExists(t, blobPath(c, digestOf(t, ma, "own.txt")))
	assert.FileExists(t, blobPath(c, digestOf(t, mb, "shared.txt")))

	m, err := limited.Lookup(ctx, kb)
	require.NoError(t, err)
	out := t.TempDir()
	_, err = limited.Restore(ctx, m, out)
	require.NoError(t, err)
	assert.Equal(t, file(0o644, shared), snapshot(t, out)["shared.txt"])
}

func TestEvictMaxAge(t *testing.T) {
	ctx := t.Context()
	c := openCache(t, t.TempDir(), cache.Options{MaxAge: 24 * time.Hour})
	old := storeTree(t, c, keyOf("old"), map[string]node{"f": file(0o644, "old")})
	storeTree(t, c, keyOf("new"), map[string]node{"f": file(0o644, "new")})
	setLastUsed(t, c, keyOf("old"), time.Now().Add(-48*time.Hour))

	st, err := c.Evict(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Entries)
	_, err = c.Lookup(ctx, keyOf("old"))
	require.ErrorIs(t, err, cache.ErrNotFound)
	assert.NoFileExists(t, blobPath(c, old.Files[0].Digest))
	_, err = c.Lookup(ctx, keyOf("new"))
	require.NoError(t, err)
}

func TestEvictDeletesUnreferencedBlobs(t *testing.T) {
	ctx := t.Context()
	c := newCache(t)
	m := storeTree(t, c, keyOf("k"), map[string]node{"f": file(0o644, "kept")})
	orphan := hash.Sum([]byte("orphan"))
	p := blobPath(c, orphan)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte("orphan"), 0o644))
	junk := filepath.Join(c.Dir(), "blobs", "zz", "not-a-digest")
	require.NoError(t, os.MkdirAll(filepath.Dir(junk), 0o755))
	require.NoError(t, os.WriteFile(junk, []byte("junk"), 0o644))

	st, err := c.Evict(ctx)
	require.NoError(t, err)
	assert.Equal(t, cache.EvictStats{Entries: 0, Bytes: int64(len("orphan") + len("junk"))}, st)
	assert.NoFileExists(t, p)
	assert.NoFileExists(t, junk)
	assert.FileExists(t, blobPath(c, m.Files[0].Digest))
}

func TestEvictQuarantinesCorruptEntries(t *testing.T) {
	ctx := t.Context()
	c := newCache(t)
	m := storeTree(t, c, keyOf("k"), map[string]node{"f": file(0o644, "data")})
	require.NoError(t, os.WriteFile(entryPath(c, keyOf("k")), []byte("{broken"), 0o644))
	_, err := c.Evict(ctx)
	require.NoError(t, err)
	assert.NoFileExists(t, blobPath(c, m.Files[0].Digest), "its blobs are no longer referenced")
	s, err := c.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, cache.Stats{Corrupt: 1}, s)
}

func TestEntriesMostRecentFirst(t *testing.T) {
	ctx := t.Context()
	c := newCache(t)
	for i, name := range []string{"x", "y", "z"} {
		storeTree(t, c, keyOf(name), map[string]node{"f": file(0o644, strings.Repeat(name, 100*(i+1)))})
	}
	now := time.Now()
	setLastUsed(t, c, keyOf("x"), now.Add(-3*time.Hour))
	setLastUsed(t, c, keyOf("y"), now.Add(-1*time.Hour))
	setLastUsed(t, c, keyOf("z"), now.Add(-2*time.Hour))
	_, err := c.Lookup(ctx, keyOf("x"))
	require.NoError(t, err)

	ents, err := c.Entries(ctx)
	require.NoError(t, err)
	require.Len(t, ents, 3)
	var keys []hash.Digest
	for _, e := range ents {
		keys = append(keys, e.Key)
		assert.Equal(t, "p", e.Package)
		assert.Equal(t, 1, e.Files)
	}
	assert.Equal(t, []hash.Digest{keyOf("x"), keyOf("y"), keyOf("z")}, keys)
	assert.Greater(t, ents[0].Size, int64(100))
	assert.Greater(t, ents[2].Size, ents[1].Size, "z holds more content than y")
}

func TestClear(t *testing.T) {
	ctx := t.Context()
	c := newCache(t)
	storeTree(t, c, keyOf("k"), map[string]node{"f": file(0o644, "data")})
	_, err := c.Lookup(ctx, keyOf("k"))
	require.NoError(t, err)
	require.NoError(t, c.Clear(ctx))
	_, err = c.Lookup(ctx, keyOf("k"))
	require.ErrorIs(t, err, cache.ErrNotFound)
	s, err := c.Stats(ctx)
	require.NoError(t, err)
	assert.Equal(t, cache.Stats{Hits: 1, Misses: 1}, s)
	// The cache keeps working after Clear.
	storeTree(t, c, keyOf("k"), map[string]node{"f": file(0o644, "data")})
	_, err = c.Lookup(ctx, keyOf("k"))
	require.NoError(t, err)
}
