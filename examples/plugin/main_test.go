package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
)

func TestPluginComponentsAreUsed(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "lib/src"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "lib/src/a.txt"), []byte("a"), 0o644))
	ws := buildnet.Workspace{Packages: []buildnet.Package{{Name: "lib", Path: "lib", BuildCmd: "mkdir -p dist && cp src/a.txt dist/"}}}
	data, _ := json.Marshal(ws)
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".buildnet"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, buildnet.ConfigFile), data, 0o644))

	var out bytes.Buffer
	require.NoError(t, run(context.Background(), root, &out))
	assert.Contains(t, out.String(), "[timed] lib build_cmd took", "the custom runner ran the command")
	assert.Contains(t, out.String(), "success: lib=full_build")
	assert.FileExists(t, filepath.Join(root, "lib/dist/a.txt"))
}
