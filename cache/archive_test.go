package cache_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/cache/cachetest"
	"github.com/musclemap/buildnet/hash"
)

func jsonMarshal(m *cache.Manifest) ([]byte, error) { return json.Marshal(m) }

func TestExportImportRoundTrip(t *testing.T) {
	ctx := t.Context()
	src, dst := newCache(t), newCache(t)
	tree := t.TempDir()
	writeTree(t, tree, sampleTree)
	key := keyOf("export")
	stored, err := src.Store(ctx, key, "web", tree, []byte("the log"), 0)
	require.NoError(t, err)

	// Carried through a remote backend, as the engine does.
	var remote cachetest.MemoryBackend
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(src.Export(ctx, key, pw)) }()
	require.NoError(t, remote.Put(ctx, key, pr, -1))
	rc, err := remote.Get(ctx, key)
	require.NoError(t, err)
	defer rc.Close()

	imported, err := dst.Import(ctx, key, rc)
	require.NoError(t, err)
	assert.Equal(t, stored, imported)
	m, err := dst.Lookup(ctx, key)
	require.NoError(t, err)
	out := t.TempDir()
	_, err = dst.Restore(ctx, m, out)
	require.NoError(t, err)
	assert.Equal(t, snapshot(t, tree), snapshot(t, out))
	log, err := dst.ReadLog(ctx, m)
	require.NoError(t, err)
	assert.Equal(t, "the log", string(log))
}

func TestExportMiss(t *testing.T) {
	c := newCache(t)
	err := c.Export(t.Context(), keyOf("absent"), io.Discard)
	require.ErrorIs(t, err, cache.ErrNotFound)
}

// members unpacks an artifact.
func members(t *testing.T, r io.Reader) (names []string, data map[string][]byte) {
	t.Helper()
	gz, err := gzip.NewReader(r)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	data = map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names, data
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		names = append(names, hdr.Name)
		data[hdr.Name] = b
	}
}

// pack builds an artifact from members, in order.
func pack(t *testing.T, names []string, data map[string][]byte) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		require.NoError(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(data[n]))}))
		_, err := tw.Write(data[n])
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return &buf
}

func TestImportRefusesBadArtifacts(t *testing.T) {
	ctx := t.Context()
	src := newCache(t)
	tree := t.TempDir()
	writeTree(t, tree, map[string]node{"a.txt": file(0o644, "alpha"), "b.txt": file(0o644, "beta")})
	key := keyOf("artifact")
	m, err := src.Store(ctx, key, "p", tree, nil, 0)
	require.NoError(t, err)
	var exported bytes.Buffer
	require.NoError(t, src.Export(ctx, key, &exported))
	names, data := members(t, bytes.NewReader(exported.Bytes()))
	require.Equal(t, "manifest.json", names[0])
	require.Len(t, names, 3)
	blobA := "blobs/" + digestOf(t, m, "a.txt").String()

	tests := []struct {
		name   string
		key    hash.Digest
		stream func(t *testing.T) io.Reader
	}{
		{"tampered blob", key, func(t *testing.T) io.Reader {
			d := cloneMembers(data)
			d[blobA] = []byte("alphA")
			return pack(t, names, d)
		}},
		{"truncated blob", key, func(t *testing.T) io.Reader {
			d := cloneMembers(data)
			d[blobA] = []byte("alp")
			return pack(t, names, d)
		}},
		{"missing blob", key, func(t *testing.T) io.Reader {
			return pack(t, []string{names[0], names[2]}, data)
		}},
		{"extra member", key, func(t *testing.T) io.Reader {
			d := cloneMembers(data)
			d["../../evil"] = []byte("x")
			return pack(t, append(names[:3:3], "../../evil"), d)
		}},
		{"unreferenced blob", key, func(t *testing.T) io.Reader {
			d := cloneMembers(data)
			extra := "blobs/" + hash.Sum([]byte("extra")).String()
			d[extra] = []byte("extra")
			return pack(t, append(names[:3:3], extra), d)
		}},
		{"duplicate manifest", key, func(t *testing.T) io.Reader {
			return pack(t, append(names[:3:3], "manifest.json"), data)
		}},
		{"no manifest", key, func(t *testing.T) io.Reader {
			return pack(t, names[1:], data)
		}},
		{"wrong key", keyOf("another key"), func(t *testing.T) io.Reader {
			return bytes.NewReader(exported.Bytes())
		}},
		{"not gzip", key, func(t *testing.T) io.Reader {
			return bytes.NewReader([]byte("plain text"))
		}},
		{"cut short", key, func(t *testing.T) io.Reader {
			return bytes.NewReader(exported.Bytes()[:exported.Len()/2])
		}},
		{"symlink member", key, func(t *testing.T) io.Reader {
			var buf bytes.Buffer
			gz := gzip.NewWriter(&buf)
			tw := tar.NewWriter(gz)
			require.NoError(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "manifest.json", Linkname: "/etc/passwd"}))
			require.NoError(t, tw.Close())
			require.NoError(t, gz.Close())
			return &buf
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := newCache(t)
			_, err := dst.Import(ctx, tt.key, tt.stream(t))
			require.ErrorIs(t, err, cache.ErrCorrupt)
			_, err = dst.Lookup(ctx, tt.key)
			require.ErrorIs(t, err, cache.ErrNotFound)
			st, err := dst.Stats(ctx)
			require.NoError(t, err)
			assert.Equal(t, int64(0), st.Bytes, "nothing may become visible")
			ents, err := os.ReadDir(filepath.Join(dst.Dir(), "tmp"))
			require.NoError(t, err)
			require.Len(t, ents, 1)
			left, err := os.ReadDir(filepath.Join(dst.Dir(), "tmp", ents[0].Name()))
			require.NoError(t, err)
			assert.Empty(t, left, "temporary files are removed")
		})
	}
}

func cloneMembers(m map[string][]byte) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = bytes.Clone(v)
	}
	return out
}
