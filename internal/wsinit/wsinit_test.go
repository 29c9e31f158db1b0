package wsinit

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeTree creates files (slash paths relative to root) with their content.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

func names(ws *Workspace) []string {
	var out []string
	for _, p := range ws.Packages {
		out = append(out, p.Name)
	}
	return out
}

func pkg(t *testing.T, ws *Workspace, name string) Package {
	t.Helper()
	for _, p := range ws.Packages {
		if p.Name == name {
			return p
		}
	}
	require.Failf(t, "package not found", "%q not in %v", name, names(ws))
	return Package{}
}

func TestDetectNPM(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"package.json":      `{"name": "repo", "private": true, "workspaces": ["packages/*", "./apps/*/"]}`,
		"package-lock.json": `{}`,
		"packages/shared/package.json": `{"name": "@acme/shared", "scripts": {"build": "node build.js"},
			"dependencies": {"lodash": "^4.17.0"}}`,
		"packages/core/package.json": `{"name": "@acme/core", "scripts": {"build": "node build.js", "test": "x"},
			"dependencies": {"@acme/shared": "workspace:*"},
			"devDependencies": {"@acme/shared": "^1.0.0", "typescript": "5"}}`,
		"apps/web/package.json": `{"name": "web", "scripts": {"build": "vite build"},
			"dependencies": {"@acme/core": "*"},
			"peerDependencies": {"@acme/shared": "1"},
			"optionalDependencies": {"@acme/config": "file:../../packages/config"}}`,
		"packages/config/package.json": `{"name": "@acme/config"}`,
		// Not members: no package.json, node_modules, dot dirs, outside the patterns.
		"packages/docs/README.md":                   "docs",
		"packages/node_modules/package.json":        `{"name": "hoisted"}`,
		"packages/.cache/package.json":              `{"name": "cached"}`,
		"tools/gen/package.json":                    `{"name": "gen"}`,
		"packages/core/node_modules/x/package.json": `{"name": "x"}`,
	})

	ws, err := Detect(root)
	require.NoError(t, err)
	assert.Equal(t, ManagerNPM, ws.Manager)
	assert.Equal(t, []string{"package-lock.json"}, ws.GlobalInputs)
	assert.Equal(t, []Package{
		{Name: "web", Path: "apps/web", BuildCmd: "npm run build",
			Dependencies: []string{"@acme/config", "@acme/core", "@acme/shared"}, OutputDir: "apps/web/dist"},
		{Name: "@acme/config", Path: "packages/config", NoBuild: true,
			Dependencies: []string{}, OutputDir: "packages/config/dist"},
		{Name: "@acme/core", Path: "packages/core", BuildCmd: "npm run build",
			Dependencies: []string{"@acme/shared"}, OutputDir: "packages/core/dist"},
		{Name: "@acme/shared", Path: "packages/shared", BuildCmd: "npm run build",
			Dependencies: []string{}, OutputDir: "packages/shared/dist"},
	}, ws.Packages)
}

func TestDetectYarn(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"package.json":          `{"private": true, "workspaces": {"packages": ["libs/*", "!libs/old"], "nohoist": ["**/rn"]}}`,
		"yarn.lock":             "# yarn lockfile v1\n",
		"libs/a/package.json":   `{"name": "a", "scripts": {"build": "tsc"}}`,
		"libs/b/package.json":   `{"name": "b", "scripts": {"build": "rollup -c"}, "dependencies": {"a": "1.0.0"}}`,
		"libs/old/package.json": `{"name": "old", "scripts": {"build": "make"}}`,
	})

	ws, err := Detect(root)
	require.NoError(t, err)
	assert.Equal(t, ManagerYarn, ws.Manager)
	assert.Equal(t, []string{"yarn.lock"}, ws.GlobalInputs)
	assert.Equal(t, []string{"a", "b"}, names(ws))
	assert.Equal(t, "yarn build", pkg(t, ws, "a").BuildCmd)
	assert.Equal(t, []string{"a"}, pkg(t, ws, "b").Dependencies)
}

func TestDetectPNPM(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		// pnpm ignores package.json "workspaces"; the yaml wins.
		"package.json": `{"name": "root", "workspaces": ["ignored/*"]}`,
		"pnpm-workspace.yaml": `# the workspace
packages:
  - 'packages/*'
  - "apps/**"
  - '!**/test/**'
  - '!packages/legacy'
`,
		"pnpm-lock.yaml":                     "lockfileVersion: '9.0'\n",
		"packages/ui/package.json":           `{"name": "ui", "scripts": {"build": "vite build"}}`,
		"packages/legacy/package.json":       `{"name": "legacy", "scripts": {"build": "gulp"}}`,
		"packages/ui/nested/package.json":    `{"name": "not-matched-by-star"}`,
		"apps/package.json":                  `{"name": "apps-root"}`,
		"apps/web/package.json":              `{"name": "web", "scripts": {"build": "next build"}, "dependencies": {"ui": "workspace:^"}}`,
		"apps/web/admin/package.json":        `{"name": "admin", "scripts": {"build": "x"}, "devDependencies": {"web": "workspace:*", "ui": "workspace:~"}}`,
		"apps/web/test/e2e/package.json":     `{"name": "e2e"}`,
		"apps/web/.next/server/package.json": `{"name": "next-output"}`,
		"ignored/x/package.json":             `{"name": "x"}`,
	})

	ws, err := Detect(root)
	require.NoError(t, err)
	assert.Equal(t, ManagerPNPM, ws.Manager)
	assert.Equal(t, []string{"pnpm-lock.yaml"}, ws.GlobalInputs)
	assert.Equal(t, []string{"apps-root", "web", "admin", "ui"}, names(ws), "sorted by path")
	assert.Equal(t, "pnpm build", pkg(t, ws, "ui").BuildCmd)
	assert.Equal(t, []string{"ui", "web"}, pkg(t, ws, "admin").Dependencies)
	assert.True(t, pkg(t, ws, "apps-root").NoBuild)
	assert.Empty(t, pkg(t, ws, "apps-root").BuildCmd)
}

func TestDetectManager(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  string
		cmd   string
		lock  []string
	}{
		{"packageManager field", map[string]string{
			"package.json": `{"workspaces": ["p/*"], "packageManager": "yarn@4.1.0"}`}, ManagerYarn, "yarn build", []string{}},
		{"pnpm yaml without lockfile", map[string]string{
			"pnpm-workspace.yaml": "packages: ['p/*']\n"}, ManagerPNPM, "pnpm build", []string{}},
		{"lockfile beats packageManager", map[string]string{
			"package.json":   `{"workspaces": ["p/*"], "packageManager": "yarn@4.1.0"}`,
			"pnpm-lock.yaml": "", "yarn.lock": ""}, ManagerPNPM, "pnpm build", []string{"pnpm-lock.yaml", "yarn.lock"}},
		{"npm default", map[string]string{
			"package.json": `{"workspaces": ["p/*"]}`}, ManagerNPM, "npm run build", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			tt.files["p/a/package.json"] = `{"name": "a", "scripts": {"build": "b"}}`
			writeTree(t, root, tt.files)
			ws, err := Detect(root)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ws.Manager)
			assert.Equal(t, tt.cmd, ws.Packages[0].BuildCmd)
			assert.Equal(t, tt.lock, ws.GlobalInputs)
		})
	}
}

func TestDetectOutputDir(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string // relative to the package directory
		want  string            // relative to the package directory
	}{
		{"default", map[string]string{"package.json": `{"scripts": {"build": "vite build"}}`}, "dist"},
		{"tsc outDir with comments", map[string]string{
			"package.json": `{"scripts": {"build": "tsc && cp x y"}}`,
			"tsconfig.json": `{
				// TypeScript allows comments
				"compilerOptions": {
					/* and trailing commas */
					"outDir": "./built",
					"strict": true,
				},
			}`}, "built"},
		{"tsc --project with extends", map[string]string{
			"package.json":        `{"scripts": {"build": "rimraf out && tsc -p tsconfig.build.json"}}`,
			"tsconfig.json":       `{"compilerOptions": {"outDir": "wrong"}}`,
			"tsconfig.build.json": `{"extends": "./configs/base", "include": ["src"]}`,
			"configs/base.json":   `{"compilerOptions": {"outDir": "../out"}}`}, "out"},
		{"tsc --outDir flag", map[string]string{
			"package.json": `{"scripts": {"build": "node_modules/.bin/tsc --outDir=types; node x.js"}}`}, "types"},
		{"tsc without outDir falls back to main", map[string]string{
			"package.json":  `{"main": "lib/index.js", "scripts": {"build": "tsc"}}`,
			"tsconfig.json": `{"compilerOptions": {}}`}, "lib"},
		{"outDir outside the root is ignored", map[string]string{
			"package.json":  `{"scripts": {"build": "tsc"}}`,
			"tsconfig.json": `{"compilerOptions": {"outDir": "../../../../elsewhere"}}`}, "dist"},
		{"main under build", map[string]string{
			"package.json": `{"main": "./build/cjs/index.js", "scripts": {"build": "webpack"}}`}, "build"},
		{"main under src says nothing", map[string]string{
			"package.json": `{"main": "src/index.js", "scripts": {"build": "webpack"}}`}, "dist"},
		{"main at the top says nothing", map[string]string{
			"package.json": `{"main": "index.js", "scripts": {"build": "webpack"}}`}, "dist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			files := map[string]string{"package.json": `{"workspaces": ["pkgs/*"]}`}
			for name, content := range tt.files {
				if name == "package.json" {
					content = `{"name": "p",` + content[1:]
				}
				files["pkgs/p/"+name] = content
			}
			writeTree(t, root, files)
			ws, err := Detect(root)
			require.NoError(t, err)
			assert.Equal(t, "pkgs/p/"+tt.want, ws.Packages[0].OutputDir)
		})
	}
}

func TestDetectErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		files    map[string]string
		is       error
		contains []string
		manifest *ManifestError // Path, Line, Column checked when non-nil
	}{
		{"nothing", map[string]string{"README.md": "hi"}, ErrNoWorkspace,
			[]string{"pnpm-workspace.yaml", `"workspaces"`, "there is no package.json"}, nil},
		{"package.json without workspaces", map[string]string{"package.json": `{"name": "app"}`}, ErrNoWorkspace,
			[]string{"pnpm-workspace.yaml", `package.json has no "workspaces" field`}, nil},
		{"no members", map[string]string{"package.json": `{"workspaces": ["packages/*"]}`,
			"packages/a/README.md": ""}, ErrNoPackages, []string{"packages/*"}, nil},
		{"malformed root package.json", map[string]string{
			"package.json": "{\n  \"workspaces\": [\"a/*\"],\n  \"name\": x\n}\n"}, nil,
			[]string{"package.json:3:11: invalid character 'x'"}, &ManifestError{Path: "package.json", Line: 3, Column: 11}},
		{"malformed member package.json", map[string]string{
			"package.json":            `{"workspaces": ["packages/*"]}`,
			"packages/a/package.json": "{\n\t\"name\": \"a\",\n}"}, nil,
			[]string{"packages/a/package.json:3:1"}, &ManifestError{Path: "packages/a/package.json", Line: 3, Column: 1}},
		{"truncated member package.json", map[string]string{
			"package.json":            `{"workspaces": ["packages/*"]}`,
			"packages/a/package.json": "{\"name\": \"a\""}, nil,
			[]string{"packages/a/package.json:1:12", "unexpected end of JSON input"}, &ManifestError{Path: "packages/a/package.json", Line: 1, Column: 12}},
		{"wrong type in member", map[string]string{
			"package.json":            `{"workspaces": ["packages/*"]}`,
			"packages/a/package.json": "{\"name\": \"a\",\n \"scripts\": {\"build\": 42}}"}, nil,
			[]string{"packages/a/package.json:2:"}, &ManifestError{Path: "packages/a/package.json", Line: 2}},
		{"workspaces of the wrong shape", map[string]string{"package.json": `{"workspaces": 5}`}, nil,
			[]string{"package.json", `"workspaces" must be`}, nil},
		{"malformed pnpm-workspace.yaml", map[string]string{"pnpm-workspace.yaml": "packages:\n  - 'a/*'\n - b\n"}, nil,
			[]string{"pnpm-workspace.yaml", "line 2"}, nil},
		{"member without name", map[string]string{
			"package.json":            `{"workspaces": ["packages/*"]}`,
			"packages/a/package.json": `{"name": "a"}`,
			"packages/b/package.json": `{"version": "1.0.0"}`}, ErrMissingName,
			[]string{"packages/b/package.json"}, nil},
		{"duplicate names", map[string]string{
			"package.json":             `{"workspaces": ["packages/*", "apps/*"]}`,
			"apps/web/package.json":    `{"name": "ui"}`,
			"packages/ui/package.json": `{"name": "ui"}`}, ErrDuplicateName,
			[]string{`"ui"`, "apps/web", "packages/ui"}, nil},
		{"bad pattern", map[string]string{"package.json": `{"workspaces": ["packages/[a"]}`}, nil,
			[]string{"packages/[a"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			writeTree(t, root, tt.files)
			ws, err := Detect(root)
			require.Error(t, err)
			assert.Nil(t, ws)
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is)
			}
			for _, s := range tt.contains {
				assert.Contains(t, err.Error(), s)
			}
			if tt.manifest != nil {
				me, ok := errors.AsType[*ManifestError](err)
				require.True(t, ok, "want a *ManifestError, got %T: %v", err, err)
				assert.Equal(t, tt.manifest.Path, me.Path)
				assert.Equal(t, tt.manifest.Line, me.Line)
				if tt.manifest.Column != 0 {
					assert.Equal(t, tt.manifest.Column, me.Column)
				}
			}
		})
	}
}

func TestDetectSymlinks(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{
		"pkg/package.json":    `{"name": "outside", "scripts": {"build": "x"}}`,
		"secret/package.json": `{"name": "secret"}`,
		"tsconfig.json":       `{"compilerOptions": {"outDir": "leaked"}}`,
		"root.json":           `{"workspaces": ["packages/*"]}`,
	})

	t.Run("members are not followed out of the root", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		writeTree(t, root, map[string]string{
			"package.json":            `{"workspaces": ["packages/*", "packages/linked/*"]}`,
			"packages/a/package.json": `{"name": "a", "scripts": {"build": "tsc"}}`,
			"packages/b/README.md":    "",
		})
		require.NoError(t, os.Symlink(filepath.Join(outside, "pkg"), filepath.Join(root, "packages", "evil")))
		require.NoError(t, os.Symlink(outside, filepath.Join(root, "packages", "linked")))
		require.NoError(t, os.Symlink(filepath.Join(outside, "secret", "package.json"), filepath.Join(root, "packages", "b", "package.json")))
		require.NoError(t, os.Symlink(filepath.Join(outside, "tsconfig.json"), filepath.Join(root, "packages", "a", "tsconfig.json")))

		ws, err := Detect(root)
		require.NoError(t, err)
		assert.Equal(t, []string{"a"}, names(ws))
		assert.Equal(t, "packages/a/dist", ws.Packages[0].OutputDir, "tsconfig outside the root is not read")
	})

	t.Run("root package.json out of the root", func(t *testing.T) {
		t.Parallel()
		root := t.TempDir()
		writeTree(t, root, map[string]string{"packages/a/package.json": `{"name": "a"}`})
		require.NoError(t, os.Symlink(filepath.Join(outside, "root.json"), filepath.Join(root, "package.json")))
		_, err := Detect(root)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "read package.json")
	})
}

func TestPosition(t *testing.T) {
	t.Parallel()
	data := []byte("ab\ncde\n\nf")
	tests := []struct {
		offset, line, col int
	}{
		{0, 1, 1}, {1, 1, 2}, {2, 1, 3}, {3, 2, 1}, {5, 2, 3}, {7, 3, 1}, {8, 4, 1}, {100, 4, 2},
	}
	for _, tt := range tests {
		line, col := position(data, tt.offset)
		assert.Equal(t, []int{tt.line, tt.col}, []int{line, col}, "offset %d", tt.offset)
	}
}

func TestStripJSONC(t *testing.T) {
	t.Parallel()
	in := `{"a": "x // not a comment, /* nor this */", // comment
  "b": [1, 2,], /* block
  comment */ "c": {"d": "\"",},
}`
	var got map[string]any
	require.NoError(t, decodeJSON("t.json", stripJSONC([]byte(in)), &got))
	assert.Equal(t, map[string]any{
		"a": "x // not a comment, /* nor this */",
		"b": []any{1.0, 2.0},
		"c": map[string]any{"d": `"`},
	}, got)
}

// TestDetectExampleMonorepo checks Detect against the example workspace
// shipped in examples/monorepo, whose hand-written config must agree.
func TestDetectExampleMonorepo(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..", "examples", "monorepo")
	data, err := os.ReadFile(filepath.Join(root, ".buildnet", "config.json"))
	require.NoError(t, err)
	var cfg struct {
		GlobalInputs []string `json:"global_inputs"`
		Packages     []struct {
			Name         string   `json:"name"`
			Path         string   `json:"path"`
			Dependencies []string `json:"dependencies"`
			OutputDir    string   `json:"output_dir"`
		} `json:"packages"`
	}
	require.NoError(t, json.Unmarshal(data, &cfg))

	ws, err := Detect(root)
	require.NoError(t, err)
	assert.Equal(t, ManagerNPM, ws.Manager)
	require.Len(t, ws.Packages, len(cfg.Packages))
	for _, want := range cfg.Packages {
		got := pkg(t, ws, want.Name)
		assert.Equal(t, want.Path, got.Path, want.Name)
		assert.ElementsMatch(t, want.Dependencies, got.Dependencies, want.Name)
		assert.Equal(t, want.OutputDir, got.OutputDir, want.Name)
		assert.Equal(t, "npm run build", got.BuildCmd, want.Name)
	}
}

func TestCleanPattern(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"packages/*":              "packages/*",
		"./packages/*/":           "packages/*",
		"/apps/**":                "apps/**",
		"././libs//":              "libs",
		"packages/*/package.json": "packages/*",
		".":                       "",
		"./":                      "",
		".config/*":               ".config/*",
	}
	for in, want := range tests {
		assert.Equal(t, want, cleanPattern(in), in)
	}
}
