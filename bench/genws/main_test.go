package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readTree returns every file under root by slash path.
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	require.NoError(t, err)
	return files
}

func gen(t *testing.T, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "ws")
	require.NoError(t, run(append([]string{"-out", out}, args...), io.Discard, io.Discard))
	return out
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a := readTree(t, gen(t, "-packages", "12", "-files", "7", "-seed", "42"))
	b := readTree(t, gen(t, "-packages", "12", "-files", "7", "-seed", "42"))
	c := readTree(t, gen(t, "-packages", "12", "-files", "7", "-seed", "43"))
	assert.Equal(t, a, b, "same seed, same tree")
	assert.NotEqual(t, a, c, "another seed, another tree")
	// 12 packages × (package.json + build.js + 7 sources) + 4 root files.
	assert.Len(t, a, 12*9+4)
}

func TestConfig(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"node", "sh"} {
		t.Run(cmd, func(t *testing.T) {
			t.Parallel()
			const n, m = 30, 11
			root := gen(t, "-packages", "30", "-files", "11", "-seed", "7", "-cmd", cmd)
			data, err := os.ReadFile(filepath.Join(root, ".buildnet", "config.json"))
			require.NoError(t, err)
			var cfg struct {
				Version  int `json:"version"`
				Packages []struct {
					Name         string          `json:"name"`
					Path         string          `json:"path"`
					BuildCmd     string          `json:"build_cmd"`
					Dependencies []string        `json:"dependencies"`
					Sources      json.RawMessage `json:"sources"`
					OutputDir    json.RawMessage `json:"output_dir"`
				} `json:"packages"`
			}
			require.NoError(t, json.Unmarshal(data, &cfg))
			assert.Equal(t, 1, cfg.Version)
			require.Len(t, cfg.Packages, n)

			seen := map[string]bool{}
			edges := 0
			for _, p := range cfg.Packages {
				assert.Nil(t, p.Sources, "sources are left to the default")
				assert.Nil(t, p.OutputDir, "output_dir is left to the default")
				assert.Equal(t, "pkgs/"+p.Name, p.Path)
				assert.LessOrEqual(t, len(p.Dependencies), 3)
				assert.True(t, slices.IsSorted(p.Dependencies))
				for _, d := range p.Dependencies {
					assert.True(t, seen[d], "%s depends on %s, which is not an earlier package", p.Name, d)
				}
				edges += len(p.Dependencies)
				seen[p.Name] = true

				script := "build.js"
				if cmd == "sh" {
					script = "build.sh"
				}
				assert.Equal(t, map[string]string{"node": "node build.js", "sh": "sh build.sh"}[cmd], p.BuildCmd)
				assert.FileExists(t, filepath.Join(root, p.Path, script))

				var sources []string
				require.NoError(t, filepath.WalkDir(filepath.Join(root, p.Path, "src"), func(path string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						fi, err := d.Info()
						require.NoError(t, err)
						assert.True(t, fi.Size() >= 1024 && fi.Size() <= 2048, "%s is %d bytes", path, fi.Size())
						sources = append(sources, path)
					}
					return err
				}))
				assert.Len(t, sources, m)
			}
			assert.Positive(t, edges)

			var turbo map[string]any
			data, err = os.ReadFile(filepath.Join(root, "turbo.json"))
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(data, &turbo))
			assert.Contains(t, turbo, "tasks")
			data, err = os.ReadFile(filepath.Join(root, "package.json"))
			require.NoError(t, err)
			assert.Contains(t, string(data), `"pkgs/*"`)
		})
	}
}

func TestRefusesNonEmptyDir(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(out, "keep.txt"), []byte("x"), 0o644))
	err := run([]string{"-out", out}, io.Discard, io.Discard)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "not empty"), err.Error())
}

func Example() {
	out, err := os.MkdirTemp("", "genws-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(out)
	if err := run([]string{"-out", filepath.Join(out, "ws"), "-packages", "3", "-files", "2"}, io.Discard, io.Discard); err != nil {
		panic(err)
	}
	data, err := os.ReadFile(filepath.Join(out, "ws", ".buildnet", "config.json"))
	if err != nil {
		panic(err)
	}
	var cfg struct {
		Packages []struct{ Name string }
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		panic(err)
	}
	for _, p := range cfg.Packages {
		fmt.Println(p.Name)
	}
	// Output:
	// p0000
	// p0001
	// p0002
}
