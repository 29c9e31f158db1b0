package cache_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/hash"
)

func TestStoreRefusesEscapingLinks(t *testing.T) {
	tests := []struct {
		name, path, target string
	}{
		{"absolute", "etc", "/etc"},
		{"parent", "up", "../x"},
		{"nested parent", "a/b/up", "../../../x"},
		{"dot dot after name", "a/sneaky", "b/../../../x"},
		{"to output parent", "a/root", "../.."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			c := newCache(t)
			src := t.TempDir()
			writeTree(t, src, map[string]node{
				"a/b/real.txt": file(0o644, "stored only if everything is safe"),
				tt.path:        link(tt.target),
			})
			key := keyOf(tt.name)
			_, err := c.Store(ctx, key, "p", src, []byte("log"), 0)
			var upe *cache.UnsafePathError
			require.ErrorAs(t, err, &upe)
			assert.Equal(t, tt.path, upe.Path)
			assert.Contains(t, err.Error(), tt.path)

			_, err = c.Lookup(ctx, key)
			require.ErrorIs(t, err, cache.ErrNotFound)
			st, err := c.Stats(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(0), st.Entries)
			assert.Equal(t, int64(0), st.Bytes, "no blob may be stored either")
		})
	}
}

func TestStoreRefusesSpecialFiles(t *testing.T) {
	c := newCache(t)
	src := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(src, "sock"))
	if err != nil {
		t.Skipf("unix sockets unavailable: %v", err)
	}
	defer l.Close()
	_, err = c.Store(t.Context(), keyOf("socket"), "p", src, nil, 0)
	var upe *cache.UnsafePathError
	require.ErrorAs(t, err, &upe)
	assert.Equal(t, "sock", upe.Path)
}

// craft returns a manifest holding files.
func craft(key hash.Digest, files ...cache.File) *cache.Manifest {
	return &cache.Manifest{Version: 1, Key: key, Package: "p", Files: files, CreatedAt: time.Now().UTC()}
}

// storedBlob stores data in c and returns its digest.
func storedBlob(t *testing.T, c *cache.Cache, data string) hash.Digest {
	t.Helper()
	src := t.TempDir()
	writeTree(t, src, map[string]node{"f": file(0o644, data)})
	m, err := c.Store(t.Context(), keyOf("blob "+data), "p", src, nil, 0)
	require.NoError(t, err)
	return m.Files[0].Digest
}

func TestRestoreRefusesUnsafeManifests(t *testing.T) {
	c := newCache(t)
	d := storedBlob(t, c, "evil")
	reg := func(p string) cache.File { return cache.File{Path: p, Mode: 0o644, Size: 4, Digest: d} }
	lnk := func(p, target string) cache.File {
		return cache.File{Path: p, Mode: uint32(fs.ModeSymlink), Size: int64(len(target)), Link: target}
	}
	tests := []struct {
		name  string
		files []cache.File
	}{
		{"parent path", []cache.File{reg("../x")}},
		{"absolute path", []cache.File{reg("/etc/x")}},
		{"unclean path", []cache.File{reg("a/../../x")}},
		{"backslash", []cache.File{reg(`..\x`)}},
		{"empty path", []cache.File{reg("")}},
		{"absolute link", []cache.File{lnk("etc", "/etc")}},
		{"escaping link", []cache.File{lnk("a/b", "../../x")}},
		{"file under link", []cache.File{lnk("a", "."), reg("a/x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			out := filepath.Join(base, "out")
			m := craft(keyOf(tt.name), tt.files...)
			_, err := c.Restore(t.Context(), m, out)
			require.ErrorIs(t, err, cache.ErrCorrupt)
			var upe *cache.UnsafePathError
			require.ErrorAs(t, err, &upe)
			assert.Empty(t, snapshot(t, base), "nothing may be written")

			// The same manifest arriving through Import is refused too.
			_, err = c.Import(t.Context(), m.Key, handMadeArtifact(t, m, map[hash.Digest]string{d: "evil"}))
			require.ErrorIs(t, err, cache.ErrCorrupt)
			_, err = c.Lookup(t.Context(), m.Key)
			require.ErrorIs(t, err, cache.ErrNotFound)
		})
	}
}

func TestRestoreDoesNotFollowExistingLinks(t *testing.T) {
	ctx := t.Context()
	c := newCache(t)
	src := t.TempDir()
	writeTree(t, src, map[string]node{
		"sub/file":  file(0o644, "payload"),
		"top.txt":   file(0o644, "top"),
		"other.txt": file(0o644, "other"),
	})
	key := keyOf("links in the way")
	m, err := c.Store(ctx, key, "p", src, nil, 0)
	require.NoError(t, err)

	t.Run("directory replaced by link to outside", func(t *testing.T) {
		outside := t.TempDir()
		out := t.TempDir()
		require.NoError(t, os.Symlink(outside, filepath.Join(out, "sub")))
		_, err := c.Restore(ctx, m, out)
		var upe *cache.UnsafePathError
		require.ErrorAs(t, err, &upe)
		assert.Equal(t, "sub", upe.Path)
		assert.Empty(t, snapshot(t, outside))
		assert.NoFileExists(t, filepath.Join(out, "top.txt"), "a refused restore writes nothing")
	})

	t.Run("manifest without the directory entry", func(t *testing.T) {
		outside := t.TempDir()
		out := t.TempDir()
		require.NoError(t, os.Symlink(outside, filepath.Join(out, "sub")))
		var files []cache.File
		for _, f := range m.Files {
			if f.Path != "sub" {
				files = append(files, f)
			}
		}
		_, err := c.Restore(ctx, craft(key, files...), out)
		require.Error(t, err)
		assert.Empty(t, snapshot(t, outside))
	})

	t.Run("relative link inside is not followed either", func(t *testing.T) {
		out := t.TempDir()
		writeTree(t, out, map[string]node{"real": dir(0o755), "sub": link("real")})
		_, err := c.Restore(ctx, m, out)
		var upe *cache.UnsafePathError
		require.ErrorAs(t, err, &upe)
		assert.Empty(t, snapshot(t, filepath.Join(out, "real")))
	})

	t.Run("file replaced by link to outside", func(t *testing.T) {
		outside := t.TempDir()
		target := filepath.Join(outside, "victim")
		require.NoError(t, os.WriteFile(target, []byte("precious"), 0o644))
		out := t.TempDir()
		require.NoError(t, os.Symlink(target, filepath.Join(out, "top.txt")))
		_, err := c.Restore(ctx, m, out)
		require.NoError(t, err)
		got, err := os.ReadFile(target)
		require.NoError(t, err)
		assert.Equal(t, "precious", string(got))
		assert.Equal(t, file(0o644, "top"), snapshot(t, out)["top.txt"], "the link itself is replaced")
	})
}

func TestRestoreReplacesFileWithDirectory(t *testing.T) {
	c := newCache(t)
	src := t.TempDir()
	writeTree(t, src, map[string]node{"d/f": file(0o644, "x")})
	m, err := c.Store(t.Context(), keyOf("k"), "p", src, nil, 0)
	require.NoError(t, err)
	out := t.TempDir()
	writeTree(t, out, map[string]node{"d": file(0o644, "was a file")})
	_, err = c.Restore(t.Context(), m, out)
	require.NoError(t, err)
	assert.Equal(t, snapshot(t, src), snapshot(t, out))
}

// handMadeArtifact packs m and the given blob contents the way Export
// does, without any of Export's checks.
func handMadeArtifact(t *testing.T, m *cache.Manifest, blobs map[hash.Digest]string) *bytes.Buffer {
	t.Helper()
	raw, err := jsonManifest(m)
	require.NoError(t, err)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	add := func(hdr *tar.Header, data []byte) {
		require.NoError(t, tw.WriteHeader(hdr))
		_, err := tw.Write(data)
		require.NoError(t, err)
	}
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "manifest.json", Mode: 0o644, Size: int64(len(raw))}, raw)
	for d, data := range blobs {
		add(&tar.Header{Typeflag: tar.TypeReg, Name: "blobs/" + d.String(), Mode: 0o644, Size: int64(len(data))}, []byte(data))
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return &buf
}

// jsonManifest encodes m even when EncodeManifest would refuse it.
func jsonManifest(m *cache.Manifest) ([]byte, error) {
	b, err := cache.EncodeManifest(m)
	if errors.Is(err, cache.ErrCorrupt) {
		return jsonMarshal(m)
	}
	return b, err
}
