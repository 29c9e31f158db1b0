package cache_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cache"
)

// benchTree writes 100 files of 2 KB, spread over 10 directories.
func benchTree(b *testing.B) string {
	b.Helper()
	src := b.TempDir()
	for i := range 100 {
		p := filepath.Join(src, fmt.Sprintf("d%d", i%10), fmt.Sprintf("f%03d.js", i))
		require.NoError(b, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(b, os.WriteFile(p, []byte(strings.Repeat(fmt.Sprintf("%04d", i), 512)), 0o644))
	}
	return src
}

func benchCache(b *testing.B) *cache.Cache {
	b.Helper()
	c, err := cache.Open(b.TempDir(), cache.Options{})
	require.NoError(b, err)
	b.Cleanup(func() { c.Close() })
	return c
}

func BenchmarkStore(b *testing.B) {
	ctx := b.Context()
	c := benchCache(b)
	src := benchTree(b)
	b.SetBytes(100 * 2048)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		// New keys, same content: the common rebuild-with-identical-outputs
		// case, where blobs already exist.
		if _, err := c.Store(ctx, keyOf(fmt.Sprint(i)), "p", src, nil, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRestore(b *testing.B) {
	ctx := b.Context()
	c := benchCache(b)
	m, err := c.Store(ctx, keyOf("k"), "p", benchTree(b), nil, 0)
	require.NoError(b, err)
	out := filepath.Join(b.TempDir(), "out")
	b.SetBytes(100 * 2048)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		require.NoError(b, os.RemoveAll(out))
		b.StartTimer()
		if _, err := c.Restore(ctx, m, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRestoreUnchanged(b *testing.B) {
	ctx := b.Context()
	c := benchCache(b)
	m, err := c.Store(ctx, keyOf("k"), "p", benchTree(b), nil, 0)
	require.NoError(b, err)
	out := b.TempDir()
	_, err = c.Restore(ctx, m, out)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Restore(ctx, m, out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	ctx := b.Context()
	c := benchCache(b)
	_, err := c.Store(ctx, keyOf("k"), "p", benchTree(b), nil, 0)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Lookup(ctx, keyOf("k")); err != nil {
			b.Fatal(err)
		}
	}
}
