package cache_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cache"
)

func validManifest() *cache.Manifest {
	return &cache.Manifest{
		Version: 1,
		Key:     keyOf("key"),
		Package: "web",
		Files: []cache.File{
			{Path: "bin", Mode: uint32(fs.ModeDir | 0o755)},
			{Path: "bin/tool", Mode: 0o755, Size: 3, Digest: keyOf("abc")},
			{Path: "current", Mode: uint32(fs.ModeSymlink), Size: 8, Link: "bin/tool"},
			{Path: "lib/up", Mode: uint32(fs.ModeSymlink), Size: 11, Link: "../bin/tool"},
		},
		Log:        keyOf("log"),
		DurationMs: 1234,
		CreatedAt:  time.Date(2025, 5, 6, 7, 8, 9, 10, time.UTC),
	}
}

func TestManifestRoundTrip(t *testing.T) {
	m := validManifest()
	b, err := cache.EncodeManifest(m)
	require.NoError(t, err)
	got, err := cache.DecodeManifest(b)
	require.NoError(t, err)
	assert.Equal(t, m, got)
	assert.NotContains(t, string(b), `"digest":""`, "zero digests are omitted")
}

func TestDecodeManifestRejects(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m map[string]any)
		unsafe bool // the error also wraps *UnsafePathError
	}{
		{"unknown version", func(m map[string]any) { m["version"] = 2 }, false},
		{"unknown field", func(m map[string]any) { m["extra"] = true }, false},
		{"missing key", func(m map[string]any) { delete(m, "key") }, false},
		{"negative duration", func(m map[string]any) { m["duration_ms"] = -1 }, false},
		{"parent path", setFile(1, "path", "../x"), true},
		{"absolute path", setFile(1, "path", "/etc/x"), true},
		{"empty path", setFile(0, "path", ""), true},
		{"dot path", setFile(0, "path", "."), true},
		{"unclean path", setFile(1, "path", "bin//tool"), true},
		{"trailing slash", setFile(0, "path", "bin/"), true},
		{"inner dot dot", setFile(1, "path", "bin/../tool"), true},
		{"backslash", setFile(1, "path", `bin\tool`), true},
		{"NUL", setFile(1, "path", "bin/to\x00ol"), true},
		{"duplicate", setFile(1, "path", "bin"), false},
		{"unsorted", setFile(0, "path", "zzz"), false},
		{"negative size", setFile(1, "size", -5), false},
		{"file without digest", setFile(1, "digest", ""), false},
		{"dir with digest", setFile(0, "digest", keyOf("x").String()), false},
		{"link with digest", setFile(2, "digest", keyOf("x").String()), false},
		{"file with link", setFile(1, "link", "x"), false},
		{"absolute link", setFile(2, "link", "/etc"), true},
		{"escaping link", setFile(3, "link", "../../x"), true},
		{"dot dot after name in link", setFile(2, "link", "bin/../../x"), true},
		{"empty link", setFile(2, "link", ""), true},
		{"device", setFile(1, "mode", uint32(fs.ModeDevice|0o644)), false},
		{"fifo", setFile(1, "mode", uint32(fs.ModeNamedPipe|0o644)), false},
		{"socket", setFile(1, "mode", uint32(fs.ModeSocket|0o644)), false},
		{"setuid", setFile(1, "mode", uint32(fs.ModeSetuid|0o755)), false},
		{"dir and link", setFile(0, "mode", uint32(fs.ModeDir|fs.ModeSymlink)), false},
		{"file under file", setFile(2, "path", "bin/tool/x"), true},
		{"bad digest", setFile(1, "digest", "zz"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := cache.EncodeManifest(validManifest())
			require.NoError(t, err)
			var raw map[string]any
			require.NoError(t, json.Unmarshal(b, &raw))
			tt.mutate(raw)
			b, err = json.Marshal(raw)
			require.NoError(t, err)
			_, err = cache.DecodeManifest(b)
			require.ErrorIs(t, err, cache.ErrCorrupt)
			_, unsafe := errors.AsType[*cache.UnsafePathError](err)
			assert.Equal(t, tt.unsafe, unsafe, "UnsafePathError: %v", err)
		})
	}
	t.Run("trailing data", func(t *testing.T) {
		b, err := cache.EncodeManifest(validManifest())
		require.NoError(t, err)
		_, err = cache.DecodeManifest(append(b, "{}"...))
		require.ErrorIs(t, err, cache.ErrCorrupt)
	})
	t.Run("encode refuses too", func(t *testing.T) {
		m := validManifest()
		m.Files[1].Path = "../tool"
		_, err := cache.EncodeManifest(m)
		require.ErrorIs(t, err, cache.ErrCorrupt)
	})
}

func setFile(i int, field string, v any) func(map[string]any) {
	return func(m map[string]any) {
		m["files"].([]any)[i].(map[string]any)[field] = v
	}
}

func FuzzDecodeManifest(f *testing.F) {
	valid, err := cache.EncodeManifest(validManifest())
	require.NoError(f, err)
	f.Add(valid)
	f.Add([]byte("garbage"))
	f.Add([]byte("{}"))
	f.Add([]byte("null"))
	for _, p := range []string{"../x", "/etc/x", "a/../../b", `a\b`, ""} {
		f.Add(fmt.Appendf(nil, `{"version":1,"key":%q,"package":"p","files":[{"path":%q,"mode":420,"size":1,"digest":%q}],"duration_ms":0,"created_at":"2024-01-01T00:00:00+01:00"}`,
			keyOf("k"), p, keyOf("d")))
	}
	for _, l := range []string{"/etc", "../../x", "../x", "a/../.."} {
		f.Add(fmt.Appendf(nil, `{"version":1,"key":%q,"package":"p","files":[{"path":"d/l","mode":%d,"size":1,"link":%q}],"duration_ms":0,"created_at":"0000-01-01T00:00:00+01:00"}`,
			keyOf("k"), uint32(fs.ModeSymlink), l))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := cache.DecodeManifest(b)
		if err != nil {
			require.ErrorIs(t, err, cache.ErrCorrupt)
			return
		}
		for _, f := range m.Files {
			require.True(t, safePath(f.Path), "unsafe path %q", f.Path)
			if fs.FileMode(f.Mode)&fs.ModeSymlink != 0 {
				resolved := path.Join(path.Dir(f.Path), f.Link)
				require.False(t, path.IsAbs(f.Link), "absolute link %q", f.Link)
				require.True(t, resolved == "." || safePath(resolved), "link %q -> %q escapes", f.Path, f.Link)
			}
		}
		again, err := cache.EncodeManifest(m)
		require.NoError(t, err)
		m2, err := cache.DecodeManifest(again)
		require.NoError(t, err)
		require.Equal(t, m, m2)
	})
}

// safePath is an independent statement of what a manifest path may be.
func safePath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, `\`) || path.Clean(p) != p {
		return false
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." || c == "." || c == "" {
			return false
		}
	}
	return true
}
