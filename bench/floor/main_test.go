package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func write(t *testing.T, root string, files ...string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, filepath.FromSlash(f))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, root,
		"package.json",
		"pkgs/a/package.json", "pkgs/a/src/x.js", "pkgs/a/src/deep/y.js",
		"pkgs/a/dist/out.js", "pkgs/a/node_modules/m/index.js", "pkgs/a/.cache/z",
		"pkgs/b/package.json", "pkgs/b/build/out.js", "pkgs/b/dist/kept.js",
		"pkgs/c/not-a-package.js",
	)
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".buildnet"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, ".buildnet", "config.json"), []byte(`{
		"global_inputs": ["package.json", "missing.lock"],
		"packages": [
			{"name": "a", "path": "pkgs/a", "build_cmd": "x"},
			{"name": "b", "path": "pkgs/b", "build_cmd": "x", "output_dir": "pkgs/b/build"}
		]}`), 0o644))

	for _, workers := range []string{"1", "2", "8"} {
		var out bytes.Buffer
		require.NoError(t, run([]string{"-root", root, "-workers", workers}, &out, io.Discard))
		// package.json; a: package.json, x.js, y.js; b: package.json, dist/kept.js.
		assert.Equal(t, "6 files\n", out.String(), "workers %s", workers)
	}
}

func TestCountWithoutConfig(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, root, "a.js", "src/b.js", "node_modules/c.js", ".git/HEAD")
	var out bytes.Buffer
	require.NoError(t, run([]string{"-root", root}, &out, io.Discard))
	assert.Equal(t, "2 files\n", out.String())
}

func TestMissingPackageDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	write(t, root, ".buildnet/config.json")
	require.NoError(t, os.WriteFile(filepath.Join(root, ".buildnet", "config.json"),
		[]byte(`{"packages": [{"name": "a", "path": "gone", "build_cmd": "x"}]}`), 0o644))
	err := run([]string{"-root", root}, io.Discard, io.Discard)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func Example() {
	root, err := os.MkdirTemp("", "floor-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	for _, f := range []string{"pkgs/a/src/index.js", "pkgs/a/package.json", "pkgs/a/dist/index.js"} {
		p := filepath.Join(root, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			panic(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			panic(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, ".buildnet"), 0o755); err != nil {
		panic(err)
	}
	config := `{"packages": [{"name": "a", "path": "pkgs/a", "build_cmd": "node build.js"}]}`
	if err := os.WriteFile(filepath.Join(root, ".buildnet", "config.json"), []byte(config), 0o644); err != nil {
		panic(err)
	}
	if err := run([]string{"-root", root}, os.Stdout, os.Stderr); err != nil {
		panic(err)
	}
	// Output:
	// 2 files
}
