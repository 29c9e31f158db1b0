package buildnet_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
)

func TestBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(w *workspace)
		config string // raw file content, when set
		want   []string
	}{
		{name: "unknown dependency", edit: func(w *workspace) { w.ws.Packages[1].Dependencies = []string{"aa"} },
			want: []string{`unknown package "aa"`, `"b"`}},
		{name: "cycle", edit: func(w *workspace) { w.ws.Packages[0].Dependencies = []string{"c"} },
			want: []string{"dependency cycle: a -> c -> b -> a"}},
		{name: "duplicate name", edit: func(w *workspace) { w.ws.Packages[3].Name = "a" },
			want: []string{`duplicate package name "a"`}},
		{name: "missing build_cmd", edit: func(w *workspace) { w.ws.Packages[2].BuildCmd = "" },
			want: []string{"packages[2] (c).build_cmd", "missing"}},
		{name: "output_dir escapes with ..", edit: func(w *workspace) { w.ws.Packages[0].OutputDir = "pkgs/a/../../../out" },
			want: []string{"output_dir", "escapes the workspace root"}},
		{name: "output_dir escapes through a symlink", edit: func(w *workspace) {
			require.NoError(t, os.Symlink(t.TempDir(), w.path("pkgs/a/link")))
			w.ws.Packages[0].OutputDir = "pkgs/a/link/dist"
		}, want: []string{"output_dir", "outside the workspace root through a symbolic link"}},
		{name: "source glob escapes with ..", edit: func(w *workspace) { w.ws.Packages[0].Sources = []string{"../**/*.txt"} },
			want: []string{"sources[0]", "escapes the workspace root"}},
		{name: "source glob escapes through a symlink", edit: func(w *workspace) {
			require.NoError(t, os.Symlink("/etc", w.path("pkgs/a/etc")))
			w.ws.Packages[0].Sources = []string{"pkgs/a/etc/**"}
		}, want: []string{"sources[0]", "symbolic link"}},
		{name: "package path missing", edit: func(w *workspace) { w.ws.Packages[0].Path = "pkgs/zzz" },
			want: []string{"path", "not a directory"}},
		{name: "malformed JSON", config: "{\n  \"packages\": [\n    {\"name\": \"a\",}\n  ]\n}\n",
			want: []string{"config.json:3:", "malformed JSON"}},
		{name: "wrong type", config: `{"packages": [{"name": 5}]}`,
			want: []string{"config.json:1:", "wrong type", "string"}},
		{name: "unknown field", config: `{"packages": [{"name": "a", "path": "pkgs/a", "build_cmd": "x", "sorces": []}]}`,
			want: []string{`unknown field "sorces"`}},
		{name: "no packages", config: `{"version": 1}`, want: []string{"no packages"}},
		{name: "future version", config: `{"version": 7, "packages": []}`, want: []string{"unsupported version 7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorkspace(t)
			if tt.edit != nil {
				tt.edit(w)
				w.saveConfig()
			} else {
				w.write(buildnet.ConfigFile, tt.config)
			}
			_, err := buildnet.Open(context.Background(), buildnet.Config{Root: w.root})
			require.Error(t, err)
			assert.ErrorIs(t, err, buildnet.ErrConfig)
			for _, s := range tt.want {
				assert.Contains(t, err.Error(), s)
			}
			// nothing written
			for _, name := range []string{"state.db", "cache"} {
				_, statErr := os.Stat(filepath.Join(w.root, ".buildnet", name))
				assert.True(t, os.IsNotExist(statErr), "%s must not be created", name)
			}
			assert.NoDirExists(t, w.path("pkgs/a/dist"))
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	ws, err := buildnet.ParseWorkspace([]byte(`{"packages": [{"name": "a", "path": "./pkgs/a/", "build_cmd": "make"}],
		"cache": {"max_size": "512MB", "max_age": "48h"}}`), "", "config.json")
	require.NoError(t, err)
	assert.Equal(t, 1, ws.Version)
	assert.Equal(t, "pkgs/a", ws.Packages[0].Path)
	assert.Equal(t, "pkgs/a/dist", ws.Packages[0].OutputDir)
	assert.Equal(t, buildnet.ByteSize(512<<20), ws.Cache.MaxSize)
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]buildnet.ByteSize{"10GB": 10 << 30, "1.5GiB": 3 << 29, "500mb": 500 << 20, "4096": 4096, "1K": 1024} {
		got, err := buildnet.ParseByteSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := buildnet.ParseByteSize("ten gigs")
	assert.Error(t, err)
}

func FuzzParseWorkspace(f *testing.F) {
	f.Add([]byte(`{"version":1,"packages":[{"name":"a","path":"a","build_cmd":"make","dependencies":["b"]},{"name":"b","path":"b","build_cmd":"make"}]}`))
	f.Add([]byte(`{"packages":[{"name":"a","path":"../x","build_cmd":"x","sources":["**/*.go"]}]}`))
	f.Add([]byte(`{"cache":{"max_size":"10GB"},"env":["A"],"global_inputs":["x.lock"],"packages":[]}`))
	f.Add([]byte(`{"packages":[{"name":"a","path":"a","build_cmd":"x","dependencies":["a"]}]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, err := buildnet.ParseWorkspace(data, "", "config.json")
		if err != nil {
			require.ErrorIs(t, err, buildnet.ErrConfig)
			require.NotEmpty(t, err.Error())
			return
		}
		// A valid configuration has a valid graph and stays inside the root.
		require.NotEmpty(t, ws.Packages)
		for _, p := range ws.Packages {
			require.NotEmpty(t, p.Name)
			require.NotEmpty(t, p.BuildCmd)
			require.False(t, filepath.IsAbs(p.OutputDir))
			require.NotContains(t, "/"+p.OutputDir+"/", "/../")
		}
	})
}
