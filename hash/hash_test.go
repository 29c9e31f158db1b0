package hash_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zeebo/xxh3"

	"github.com/musclemap/buildnet/hash"
)

func TestDigestText(t *testing.T) {
	d := hash.Sum([]byte("hello"))
	s := d.String()
	require.Len(t, s, 64)
	p, err := hash.ParseDigest(s)
	require.NoError(t, err)
	assert.Equal(t, d, p)
	b, err := d.MarshalText()
	require.NoError(t, err)
	var u hash.Digest
	require.NoError(t, u.UnmarshalText(b))
	assert.Equal(t, d, u)
	_, err = hash.ParseDigest("abc")
	assert.ErrorIs(t, err, hash.ErrBadDigest)
	_, err = hash.ParseDigest(string(bytes.Repeat([]byte("z"), 64)))
	assert.ErrorIs(t, err, hash.ErrBadDigest)
	var zero hash.Digest
	b, _ = zero.MarshalText()
	assert.Empty(t, b)
}

func TestStreamingMatchesOneShot(t *testing.T) {
	data := bytes.Repeat([]byte("buildnet"), 100_000)
	d, n, err := hash.Reader(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), n)
	assert.Equal(t, hash.Sum(data), d)
}

func TestHasherReadsOnlyChangedFiles(t *testing.T) {
	root := t.TempDir()
	names := []string{"a.txt", "b.txt", "big.bin"}
	content := map[string][]byte{"a.txt": []byte("alpha"), "b.txt": []byte("beta"), "big.bin": bytes.Repeat([]byte{7}, 300_000)}
	for _, n := range names {
		require.NoError(t, os.WriteFile(filepath.Join(root, n), content[n], 0o644))
	}
	require.NoError(t, os.Symlink("a.txt", filepath.Join(root, "link")))
	names = append(names, "link")
	scan := func() []hash.File {
		var files []hash.File
		for _, n := range names {
			fi, err := os.Lstat(filepath.Join(root, n))
			require.NoError(t, err)
			files = append(files, hash.File{Path: n, Stat: hash.FingerprintOf(fi)})
		}
		return files
	}
	h := hash.NewHasher(2)
	files := scan()
	read, err := h.Update(context.Background(), root, files, nil)
	require.NoError(t, err)
	assert.Equal(t, []int{0, 1, 2, 3}, read)
	assert.Equal(t, hash.Sum128(xxh3.Hash128(content["big.bin"]).Bytes()), files[2].Sum, "streamed large file equals one-shot")
	assert.Equal(t, hash.Sum128Of([]byte("a.txt")), files[3].Sum, "links hash their target")
	c := h.Counters()
	assert.Equal(t, int64(3), c.FilesRead)
	assert.Equal(t, int64(1), c.LinksRead)

	prev := map[string]hash.File{}
	for _, f := range files {
		prev[f.Path] = f
	}
	again := scan()
	read, err = h.Update(context.Background(), root, again, prev)
	require.NoError(t, err)
	assert.Empty(t, read, "unchanged fingerprints are not read")
	assert.Equal(t, files, again)

	future := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(root, "b.txt"), future, future))
	again = scan()
	read, err = h.Update(context.Background(), root, again, prev)
	require.NoError(t, err)
	assert.Equal(t, []int{1}, read)
	assert.Equal(t, files[1].Sum, again[1].Sum, "same content, same sum")
}

func TestFingerprintOfStatAgrees(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x")
	require.NoError(t, os.WriteFile(p, []byte("x"), 0o751))
	fi, err := os.Lstat(p)
	require.NoError(t, err)
	fp := hash.FingerprintOf(fi)
	assert.True(t, fp.Executable())
	assert.False(t, fp.IsLink())
	assert.Equal(t, int64(1), fp.Size)
}

func ExampleSum() {
	d := hash.Sum([]byte("hello, buildnet"))
	fmt.Println(len(d.String()), d == hash.Sum([]byte("hello, buildnet")))
	// Output: 64 true
}

func BenchmarkHasherUpdate(b *testing.B) {
	root := b.TempDir()
	var files []hash.File
	data := bytes.Repeat([]byte("0123456789abcdef"), 96) // 1.5 KB
	for i := range 1000 {
		name := fmt.Sprintf("f%04d.ts", i)
		require.NoError(b, os.WriteFile(filepath.Join(root, name), data, 0o644))
		fi, _ := os.Lstat(filepath.Join(root, name))
		files = append(files, hash.File{Path: name, Stat: hash.FingerprintOf(fi)})
	}
	h := hash.NewHasher(0)
	b.SetBytes(int64(len(data) * len(files)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Update(context.Background(), root, files, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawXXH3 is the ceiling BenchmarkHasherUpdate is compared with:
// xxh3 over the same bytes already in memory.
func BenchmarkRawXXH3(b *testing.B) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 96)
	b.SetBytes(int64(len(data) * 1000))
	for b.Loop() {
		for range 1000 {
			xxh3.Hash128(data)
		}
	}
}

func TestKeyed(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	assert.Equal(t, hash.Keyed(k1, []byte("production")), hash.Keyed(k1, []byte("production")))
	assert.NotEqual(t, hash.Keyed(k1, []byte("production")), hash.Keyed(k2, []byte("production")))
	assert.NotEqual(t, hash.Sum([]byte("production")), hash.Keyed(k1, []byte("production")))
	assert.NotPanics(t, func() { hash.Keyed([]byte("short"), nil) })
}

// BenchmarkHasherLargeFiles hashes 16 files of 4 MiB each, warm in the
// page cache: throughput bound by memory, not system calls.
func BenchmarkHasherLargeFiles(b *testing.B) {
	root := b.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB
	var files []hash.File
	for i := range 16 {
		name := fmt.Sprintf("big%02d.bin", i)
		require.NoError(b, os.WriteFile(filepath.Join(root, name), data, 0o644))
		fi, _ := os.Lstat(filepath.Join(root, name))
		files = append(files, hash.File{Path: name, Stat: hash.FingerprintOf(fi)})
	}
	h := hash.NewHasher(0)
	b.SetBytes(int64(len(data) * len(files)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Update(context.Background(), root, files, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawXXH3Large is xxh3 over the same bytes in memory (16
// separate buffers, as the page cache holds 16 files), on as many
// goroutines as the hasher uses.
func BenchmarkRawXXH3Large(b *testing.B) {
	bufs := make([][]byte, 16)
	for i := range bufs {
		bufs[i] = bytes.Repeat([]byte("0123456789abcdef"), 256<<10)
	}
	b.SetBytes(int64(len(bufs[0]) * 16))
	for b.Loop() {
		var wg sync.WaitGroup
		next := make(chan int, 16)
		for i := range 16 {
			next <- i
		}
		close(next)
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for i := range next {
					xxh3.Hash128(bufs[i])
				}
			})
		}
		wg.Wait()
	}
}

func TestMappedLargeFileMatchesOneShot(t *testing.T) {
	root := t.TempDir()
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "big"), data, 0o644))
	h := hash.NewHasher(1)
	sum, _, err := h.Sum(filepath.Join(root, "big"))
	require.NoError(t, err)
	assert.Equal(t, hash.Sum128Of(data), sum)
	assert.Equal(t, int64(len(data)), h.Counters().BytesRead)
}
