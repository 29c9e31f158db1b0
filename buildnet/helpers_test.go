package buildnet_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
)

// workspace is a generated temporary monorepo:
//
//	a <- b <- c, and d on its own.
//
// Every build command concatenates src/ into dist/out.txt, adds an
// executable dist/run.sh, and appends its package name to
// .counts/<name>, so tests can tell how often a command really ran.
type workspace struct {
	t    *testing.T
	root string
	ws   buildnet.Workspace
}

const buildCmd = `mkdir -p dist && cat $(find src -type f | sort) > dist/out.txt && printf '#!/bin/sh\necho hi\n' > dist/run.sh && chmod 755 dist/run.sh && echo "\033[32mbuilt\033[0m $BUILDNET_PACKAGE" && echo "$BUILDNET_PACKAGE" >> ../../.counts/$BUILDNET_PACKAGE`

func newWorkspace(t *testing.T) *workspace {
	t.Helper()
	root := t.TempDir()
	w := &workspace{t: t, root: root}
	w.ws = buildnet.Workspace{
		Env:          []string{"BN_TEST_MODE"},
		GlobalInputs: []string{"lock.txt"},
		Packages: []buildnet.Package{
			{Name: "a", Path: "pkgs/a", BuildCmd: buildCmd},
			{Name: "b", Path: "pkgs/b", BuildCmd: buildCmd, Dependencies: []string{"a"}},
			{Name: "c", Path: "pkgs/c", BuildCmd: buildCmd, Dependencies: []string{"b"}},
			{Name: "d", Path: "pkgs/d", BuildCmd: buildCmd},
		},
	}
	for _, p := range w.ws.Packages {
		w.write(p.Path+"/src/main.txt", "package "+p.Name+"\n")
		w.write(p.Path+"/src/util.txt", "util of "+p.Name+"\n")
	}
	w.write("lock.txt", "lock v1\n")
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".counts"), 0o755))
	w.saveConfig()
	return w
}

func (w *workspace) saveConfig() {
	w.t.Helper()
	data, err := json.MarshalIndent(w.ws, "", "  ")
	require.NoError(w.t, err)
	w.write(buildnet.ConfigFile, string(data))
}

func (w *workspace) path(rel string) string { return filepath.Join(w.root, filepath.FromSlash(rel)) }

func (w *workspace) write(rel, content string) {
	w.t.Helper()
	p := w.path(rel)
	require.NoError(w.t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(w.t, os.WriteFile(p, []byte(content), 0o644))
}

func (w *workspace) read(rel string) string {
	w.t.Helper()
	b, err := os.ReadFile(w.path(rel))
	require.NoError(w.t, err)
	return string(b)
}

// runs reports how many times the build command of pkg has run.
func (w *workspace) runs(pkg string) int {
	b, err := os.ReadFile(w.path(".counts/" + pkg))
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(w.t, err)
	return strings.Count(string(b), "\n")
}

func (w *workspace) open(env ...string) *buildnet.Engine {
	w.t.Helper()
	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: w.root, Env: append(os.Environ(), env...)})
	require.NoError(w.t, err)
	w.t.Cleanup(func() { e.Close() })
	return e
}

// build opens a fresh engine (as a new CLI process would), builds, closes
// it and returns the result with the number of files the engine read.
func (w *workspace) build(req buildnet.Request, env ...string) (*buildnet.BuildResult, int64) {
	w.t.Helper()
	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: w.root, Env: append(os.Environ(), env...)})
	require.NoError(w.t, err)
	res, err := e.Build(context.Background(), req)
	require.NoError(w.t, err)
	read := e.HasherCounters().FilesRead
	require.NoError(w.t, e.Close())
	return res, read
}

func tiers(res *buildnet.BuildResult) map[string]string {
	m := map[string]string{}
	for _, p := range res.Packages {
		if p.Status == buildnet.StatusSuccess {
			m[p.Name] = string(p.Tier)
		} else {
			m[p.Name] = string(p.Status)
		}
	}
	return m
}
