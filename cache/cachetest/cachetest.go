// Package cachetest helps test code that implements or uses
// [cache.Backend]: [TestBackend] is a conformance suite every Backend
// implementation should pass, and [MemoryBackend] is an in-memory Backend for
// tests of its users.
package cachetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/hash"
)

// TestBackend checks that the backends newBackend returns honour the
// [cache.Backend] contract. Every subtest calls newBackend for a fresh,
// empty backend.
func TestBackend(t *testing.T, newBackend func(t *testing.T) cache.Backend) {
	t.Helper()
	t.Run("Miss", func(t *testing.T) {
		b := newBackend(t)
		_, err := b.Get(t.Context(), hash.Sum([]byte("absent")))
		require.ErrorIs(t, err, cache.ErrNotFound)
	})
	t.Run("RoundTrip", func(t *testing.T) {
		tests := []struct {
			name  string
			data  []byte
			known bool // pass the size rather than -1
		}{
			{"empty", []byte{}, true},
			{"small", []byte("hello, backend"), true},
			{"small unknown size", []byte("size not given"), false},
			{"large", randomBytes(t, 3<<20+17), true},
		}
		b := newBackend(t)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				key := hash.Sum([]byte(tt.name))
				size := int64(-1)
				if tt.known {
					size = int64(len(tt.data))
				}
				require.NoError(t, b.Put(t.Context(), key, bytes.NewReader(tt.data), size))
				assert.Equal(t, tt.data, get(t, b, key))
			})
		}
	})
	t.Run("Overwrite", func(t *testing.T) {
		b := newBackend(t)
		key := hash.Sum([]byte("key"))
		require.NoError(t, b.Put(t.Context(), key, bytes.NewReader([]byte("first")), 5))
		require.NoError(t, b.Put(t.Context(), key, bytes.NewReader([]byte("second value")), 12))
		assert.Equal(t, []byte("second value"), get(t, b, key))
	})
	t.Run("KeysAreIndependent", func(t *testing.T) {
		b := newBackend(t)
		k1, k2 := hash.Sum([]byte("one")), hash.Sum([]byte("two"))
		require.NoError(t, b.Put(t.Context(), k1, bytes.NewReader([]byte("1")), 1))
		require.NoError(t, b.Put(t.Context(), k2, bytes.NewReader([]byte("2")), 1))
		assert.Equal(t, []byte("1"), get(t, b, k1))
		assert.Equal(t, []byte("2"), get(t, b, k2))
	})
	t.Run("FailedPutStoresNothing", func(t *testing.T) {
		b := newBackend(t)
		key := hash.Sum([]byte("failing"))
		boom := errors.New("reader broke")
		r := io.MultiReader(bytes.NewReader(randomBytes(t, 100<<10)), errReader{boom})
		require.Error(t, b.Put(t.Context(), key, r, 200<<10))
		_, err := b.Get(t.Context(), key)
		require.ErrorIs(t, err, cache.ErrNotFound)
	})
	t.Run("CancelledPutStoresNothing", func(t *testing.T) {
		b := newBackend(t)
		key := hash.Sum([]byte("cancelled"))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		require.Error(t, b.Put(ctx, key, bytes.NewReader([]byte("data")), 4))
		_, err := b.Get(t.Context(), key)
		require.ErrorIs(t, err, cache.ErrNotFound)
	})
	t.Run("Concurrent", func(t *testing.T) {
		b := newBackend(t)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				key := hash.Sum([]byte{byte(i)})
				data := bytes.Repeat([]byte{byte(i)}, 1000+i)
				if err := b.Put(t.Context(), key, bytes.NewReader(data), int64(len(data))); err != nil {
					t.Errorf("put %d: %v", i, err)
					return
				}
				rc, err := b.Get(t.Context(), key)
				if err != nil {
					t.Errorf("get %d: %v", i, err)
					return
				}
				defer rc.Close()
				got, err := io.ReadAll(rc)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("get %d: got %d bytes, err %v", i, len(got), err)
				}
			})
		}
		wg.Wait()
	})
	t.Run("CarriesArtifact", func(t *testing.T) {
		b := newBackend(t)
		ctx := t.Context()
		src, dst := openCache(t), openCache(t)
		out := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(out, "main.js"), []byte("console.log(1)\n"), 0o644))
		key := hash.Sum([]byte("artifact"))
		_, err := src.Store(ctx, key, "pkg", out, []byte("built\n"), time.Second)
		require.NoError(t, err)

		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(src.Export(ctx, key, pw)) }()
		require.NoError(t, b.Put(ctx, key, pr, -1))

		rc, err := b.Get(ctx, key)
		require.NoError(t, err)
		defer rc.Close()
		m, err := dst.Import(ctx, key, rc)
		require.NoError(t, err)
		restored := t.TempDir()
		_, err = dst.Restore(ctx, m, restored)
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(restored, "main.js"))
		require.NoError(t, err)
		assert.Equal(t, "console.log(1)\n", string(got))
	})
}

func get(t *testing.T, b cache.Backend, key hash.Digest) []byte {
	t.Helper()
	rc, err := b.Get(t.Context(), key)
	require.NoError(t, err)
	defer rc.Close()
	got, err := io.ReadAll(rc)
	require.NoError(t, err)
	return got
}

func openCache(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.Open(t.TempDir(), cache.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// MemoryBackend is a [cache.Backend] that keeps artifacts in memory. The
// zero value is ready to use; it is safe for concurrent use.
type MemoryBackend struct {
	// mu guards artifacts.
	mu        sync.Mutex
	artifacts map[hash.Digest][]byte
}

var _ cache.Backend = (*MemoryBackend)(nil)

// Get implements [cache.Backend].
func (b *MemoryBackend) Get(ctx context.Context, key hash.Digest) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.artifacts[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key.Short(), cache.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Put implements [cache.Backend].
func (b *MemoryBackend) Put(ctx context.Context, key hash.Digest, r io.Reader, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("put %s: %w", key.Short(), err)
	}
	if size >= 0 && int64(len(data)) != size {
		return fmt.Errorf("put %s: read %d bytes, expected %d", key.Short(), len(data), size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.artifacts == nil {
		b.artifacts = map[hash.Digest][]byte{}
	}
	b.artifacts[key] = data
	return nil
}

// Keys returns the keys of the stored artifacts, sorted by their hex form.
func (b *MemoryBackend) Keys() []hash.Digest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.SortedFunc(maps.Keys(b.artifacts), func(x, y hash.Digest) int { return bytes.Compare(x[:], y[:]) })
}

// Replace overwrites the stored bytes of key, for tests that simulate a
// tampered or damaged remote artifact.
func (b *MemoryBackend) Replace(key hash.Digest, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.artifacts == nil {
		b.artifacts = map[hash.Digest][]byte{}
	}
	b.artifacts[key] = bytes.Clone(data)
}
