package panel_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// testPackage is one package of the generated workspace.
type testPackage struct {
	Name string
	Deps []string
}

// testPackages is a small diamond: app needs core and ui, both need shared.
var testPackages = []testPackage{
	{"shared", nil},
	{"core", []string{"shared"}},
	{"ui", []string{"shared"}},
	{"app", []string{"core", "ui"}},
}

// buildScript prints a few coloured lines (one on stderr), works for about
// 0.3 s and writes dist/out.txt. The marker line lets a test find the
// package's output in the panel.
const buildScript = `#!/bin/sh
name="$1"
printf '\033[36m›\033[0m building \033[1m%s\033[0m\n' "$name"
printf '  compiling \033[35m%s-marker\033[0m from src/index.txt\n' "$name"
printf '\033[33mwarning:\033[0m %s is a test package\n' "$name" >&2
sleep 0.3
mkdir -p dist
cat src/index.txt > dist/out.txt
printf '\033[32m✓\033[0m built %s\n' "$name"
`

// writeWorkspace lays out a BuildNet workspace in dir and returns dir.
func writeWorkspace(t testing.TB, dir string) string {
	t.Helper()
	type pkgConfig struct {
		Name         string   `json:"name"`
		Path         string   `json:"path"`
		BuildCmd     string   `json:"build_cmd"`
		Dependencies []string `json:"dependencies"`
		OutputDir    string   `json:"output_dir"`
	}
	cfg := struct {
		Version  int         `json:"version"`
		Packages []pkgConfig `json:"packages"`
	}{Version: 1}
	for _, p := range testPackages {
		rel := "packages/" + p.Name
		pdir := filepath.Join(dir, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Join(pdir, "src"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(pdir, "src", "index.txt"), fmt.Appendf(nil, "package %s\n", p.Name), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(pdir, "build.sh"), []byte(buildScript), 0o755))
		deps := p.Deps
		if deps == nil {
			deps = []string{}
		}
		cfg.Packages = append(cfg.Packages, pkgConfig{
			Name: p.Name, Path: rel, BuildCmd: "sh build.sh " + p.Name, Dependencies: deps, OutputDir: rel + "/dist",
		})
	}
	data, err := json.MarshalIndent(cfg, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".buildnet"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".buildnet", "config.json"), data, 0o644))
	return dir
}
