package cachetest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/cache/cachetest"
	"github.com/musclemap/buildnet/hash"
)

func TestMemoryBackend(t *testing.T) {
	cachetest.TestBackend(t, func(*testing.T) cache.Backend { return new(cachetest.MemoryBackend) })
}

func ExampleMemoryBackend() {
	var b cachetest.MemoryBackend
	key := hash.Sum([]byte("input digest"))
	_ = b.Put(context.Background(), key, bytes.NewReader([]byte("artifact")), 8)
	rc, _ := b.Get(context.Background(), key)
	data, _ := io.ReadAll(rc)
	fmt.Println(string(data), len(b.Keys()))
	// Output: artifact 1
}
