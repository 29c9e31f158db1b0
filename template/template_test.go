package template_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/template"
)

// writeFile writes content to root/rel, creating folders.
func writeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

func mkdir(t *testing.T, root string, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.FromSlash(rel)), 0o755))
	}
}

const libTemplate = `name: lib
description: a library
params:
  - name: scope
    description: npm scope without @
    default: acme
    pattern: "[a-z]+"
  - name: dep
    description: optional dependency
    default: ""
packages:
  - name: "@{scope}/{name}"
    path: "libs/{name}"
    build_cmd: echo building {name} && mkdir -p dist
    dependencies: ["{dep}"]
    sources: ["libs/{name}/src/**/*.{{ts,tsx}"]
    output_dir: libs/{name}/out
    env: [NODE_ENV]
    hooks:
      pre_build: test -d src || echo no src for {name}
      post_build: echo built {scope}
`

func mustParse(t *testing.T, src string) *template.Template {
	t.Helper()
	tm, err := template.Parse([]byte(src), "lib.yaml")
	require.NoError(t, err)
	return tm
}

func TestLoadListsBundledAndWorkspace(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, ".buildnet/templates/lib.yaml", libTemplate)
	// A workspace template replaces the bundled one of the same name.
	writeFile(t, root, ".buildnet/templates/vite.yml", `name: vite-app
packages:
  - name: "{name}"
    path: web/{name}
    build_cmd: pnpm vite build
`)
	writeFile(t, root, ".buildnet/templates/README.md", "not a template")

	ts, err := template.Load(t.Context(), root)
	require.NoError(t, err)
	var names, sources []string
	for _, tm := range ts {
		names = append(names, tm.Name)
		sources = append(sources, tm.Source)
	}
	assert.Equal(t, []string{"go-binary", "lib", "ts-library", "vite-app"}, names)
	assert.Equal(t, []string{"bundled", ".buildnet/templates/lib.yaml", "bundled", ".buildnet/templates/vite.yml"}, sources)

	vite, err := template.Find(ts, "vite-app")
	require.NoError(t, err)
	assert.Equal(t, "pnpm vite build", vite.Packages[0].BuildCmd)
	// The undeclared {name} is listed as a required parameter.
	assert.Equal(t, []template.Param{{Name: "name", Description: "name of the new package", Required: true}}, vite.Params)

	_, err = template.Find(ts, "rust-crate")
	require.ErrorIs(t, err, template.ErrNotFound)
	assert.Contains(t, err.Error(), "go-binary, lib, ts-library, vite-app")

	// The list is what GET /templates serves.
	data, err := json.Marshal(ts[1])
	require.NoError(t, err)
	assert.Contains(t, string(data), `"params":[{"name":"name","description":"name of the new package","required":true},{"name":"scope","description":"npm scope without @","default":"acme","pattern":"[a-z]+","required":false}`)
}

func TestLoadWithoutTemplatesFolder(t *testing.T) {
	ts, err := template.Load(context.Background(), t.TempDir())
	require.NoError(t, err)
	require.Len(t, ts, 3)
	for _, tm := range ts {
		assert.Equal(t, template.SourceBundled, tm.Source)
		assert.NotEmpty(t, tm.Description, tm.Name)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Run("broken file is named with its line", func(t *testing.T) {
		root := t.TempDir()
		writeFile(t, root, ".buildnet/templates/ok.yaml", libTemplate)
		writeFile(t, root, ".buildnet/templates/bad.yaml", "name: bad\npackages:\n  - name: [x\n")
		_, err := template.Load(t.Context(), root)
		require.ErrorIs(t, err, template.ErrInvalid)
		assert.Regexp(t, `^\.buildnet/templates/bad\.yaml:\d+: malformed YAML`, err.Error())
	})
	t.Run("two files with one name", func(t *testing.T) {
		root := t.TempDir()
		writeFile(t, root, ".buildnet/templates/a.yaml", libTemplate)
		writeFile(t, root, ".buildnet/templates/b.yaml", libTemplate)
		_, err := template.Load(t.Context(), root)
		require.ErrorIs(t, err, template.ErrInvalid)
		assert.Contains(t, err.Error(), ".buildnet/templates/b.yaml")
		assert.Contains(t, err.Error(), "also used by .buildnet/templates/a.yaml")
	})
	t.Run("cancelled", func(t *testing.T) {
		root := t.TempDir()
		writeFile(t, root, ".buildnet/templates/a.yaml", libTemplate)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := template.Load(ctx, root)
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestParseNameDefaultsToFileName(t *testing.T) {
	tm, err := template.Parse([]byte("packages:\n  - {name: x, path: x, build_cmd: make}\n"), "dir/my-lib.yaml")
	require.NoError(t, err)
	assert.Equal(t, "my-lib", tm.Name)
	assert.Equal(t, "dir/my-lib.yaml", tm.Source)
	assert.Empty(t, tm.Params)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // the whole error message, or a part of it after "~"
	}{
		{"yaml syntax", "name: x\npackages:\n  - name: \"{name}\n    path: x\n", `lib.yaml:3: malformed YAML: found unexpected end of stream`},
		{"bad indentation", "name: x\n packages: []\n", `~lib.yaml:2: malformed YAML`},
		{"empty", "", `lib.yaml: empty template: write at least name and packages (see docs/templates.md)`},
		{"two documents", "name: x\n---\nname: y\n", `lib.yaml:2:1: a second YAML document: put one template per file`},
		{"not a mapping", "- a\n- b\n", `lib.yaml:1:1: a template is a mapping with name, description, params and packages: got a list`},
		{"unknown field", "name: x\npakages: []\n", `lib.yaml:2:1: unknown field "pakages" in a template: known fields are name, description, params, packages (check the spelling; see docs/templates.md)`},
		{"unknown package field", "packages:\n  - name: x\n    path: x\n    build_cmd: make\n    outputs: dist\n", `lib.yaml:5:5: unknown field "outputs" in packages[0]: known fields are name, path, build_cmd, dependencies, sources, output_dir, env, hooks, runner (check the spelling; see docs/templates.md)`},
		{"unknown hook", "packages:\n  - name: x\n    path: x\n    build_cmd: make\n    hooks: {pre: ls}\n", `~lib.yaml:5:13: unknown field "pre" in packages[0].hooks`},
		{"unknown param field", "params:\n  - name: a\n    values: [1]\npackages: []\n", `~lib.yaml:3:5: unknown field "values" in params[0]`},
		{"duplicate key", "name: x\nname: y\n", `lib.yaml:2:1: name is given twice (first at line 1): keep one`},
		{"unquoted placeholder", "packages:\n  - name: {name}\n    path: x\n    build_cmd: make\n", `lib.yaml:2:11: packages[0].name: want a string, got a mapping; quote a value that starts with "{", e.g. "{name}"`},
		{"list wanted", "packages:\n  - name: x\n    path: x\n    build_cmd: make\n    sources: src/**\n", `~lib.yaml:5:14: packages[0].sources: want a list of strings, got a scalar`},
		{"bad template name", "name: my lib\npackages: []\n", `~lib.yaml:1:7: template name "my lib"`},
		{"no packages", "name: x\n", `lib.yaml:1:1: no packages: list at least one package with name, path and build_cmd`},
		{"missing build_cmd", "packages:\n  - name: x\n    path: x\n", `lib.yaml:2:5: packages[0]: missing build_cmd: the shell command that builds the package`},
		{"unknown placeholder", "name: lib\nparams: []\npackages:\n  - name: \"{name}\"\n    build_cmd: make\n    path: \"packages/{scope}\"\n",
			`lib.yaml:6:11: placeholder {scope} in packages[0].path is not declared in params: declare it (params: [{name: scope, description: ...}]) or write {{scope} for a literal {scope}`},
		{"unknown placeholder in a list", "packages:\n  - name: x\n    path: x\n    build_cmd: make\n    sources: [a, \"{src}/**\"]\n", `~lib.yaml:5:18: placeholder {src} in packages[0].sources[1] is not declared`},
		{"placeholder in env", "params: [{name: v}]\npackages:\n  - name: x\n    path: x\n    build_cmd: make\n    env: [\"{v}\"]\n", `~lib.yaml:6:11: placeholder {v} in packages[0].env[0]: this field takes no placeholders`},
		{"placeholder with another runner", "packages:\n  - name: x\n    path: x\n    runner: docker\n    build_cmd: echo {name}\n", `lib.yaml:5:16: placeholder {name} in packages[0].build_cmd: with runner "docker" the command may not go through sh, so the value cannot be quoted safely; use the default runner or write the value out`},
		{"unused param", "params:\n  - name: a\n  - name: b\npackages:\n  - {name: \"{a}\", path: x, build_cmd: make}\n", `lib.yaml:3:11: parameter b is declared but no field uses {b}: remove it or use it`},
		{"duplicate param", "params:\n  - name: a\n  - name: a\npackages:\n  - {name: \"{a}\", path: x, build_cmd: make}\n", `~lib.yaml:3:11: parameter a is declared twice`},
		{"bad param name", "params:\n  - name: out-dir\npackages:\n  - {name: x, path: x, build_cmd: make}\n", `~lib.yaml:2:11: parameter name "out-dir"`},
		{"bad pattern", "params:\n  - name: a\n    pattern: \"[a-\"\npackages:\n  - {name: \"{a}\", path: x, build_cmd: make}\n", `~lib.yaml:3:14: pattern of a is not a valid regular expression`},
		{"default misses pattern", "params:\n  - name: a\n    default: ABC\n    pattern: \"[a-z]+\"\npackages:\n  - {name: \"{a}\", path: x, build_cmd: make}\n", `lib.yaml:3:14: default "ABC" of a does not match its own pattern [a-z]+`},
		{"default escapes root", "params:\n  - name: dir\n    default: ../out\npackages:\n  - {name: x, path: \"{dir}/x\", build_cmd: make}\n", `~lib.yaml:3:14: default "../out" of dir cannot go into packages[0].path: ".." would lead out of the workspace root`},
		{"placeholder in double quotes", "packages:\n  - name: x\n    path: x\n    build_cmd: echo \"hello {name}\"\n", `lib.yaml:4:16: placeholder {name} in packages[0].build_cmd is inside double quotes: write it as a bare word (echo {name}, not echo "{name}"); its value is substituted already single-quoted, as one argument`},
		{"placeholder in single quotes", "packages:\n  - name: x\n    path: x\n    build_cmd: \"echo 'hello {name}'\"\n", `~packages[0].build_cmd is inside single quotes`},
		{"placeholder after backslash", "packages:\n  - name: x\n    path: x\n    build_cmd: echo \\{name}\n", `~is right after a backslash`},
		{"placeholder in ANSI-C quotes", "packages:\n  - name: x\n    path: x\n    build_cmd: \"echo $'a\\\\'{name}'\"\n", `~is inside $'...' quotes`},
		{"placeholder in backquotes", "packages:\n  - name: x\n    path: x\n    build_cmd: echo `basename {name}`\n", `~is inside backquotes`},
		{"placeholder in arithmetic", "packages:\n  - name: x\n    path: x\n    build_cmd: echo $(( {name} + 1 ))\n", `~is inside an arithmetic expression`},
		{"placeholder in parameter expansion", "packages:\n  - name: x\n    path: x\n    build_cmd: echo ${X:-{name}}\n", `~is inside ${...}`},
		{"placeholder in heredoc", "packages:\n  - name: x\n    path: x\n    build_cmd: \"cat <<EOF\\n{name}\\nEOF\"\n", `~is after a here-document`},
		{"placeholder in comment", "packages:\n  - name: x\n    path: x\n    build_cmd: \"make # for {name}\"\n", `~is inside a comment`},
		{"placeholder in hook quotes", "packages:\n  - name: x\n    path: x\n    build_cmd: make\n    hooks:\n      post_build: echo \"{name}\"\n", `~lib.yaml:6:19: placeholder {name} in packages[0].hooks.post_build is inside double quotes`},
		{"merge key", "base: &b {name: x}\n", `~unknown field "base"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := template.Parse([]byte(tc.src), "lib.yaml")
			require.Error(t, err)
			require.ErrorIs(t, err, template.ErrInvalid)
			if part, ok := strings.CutPrefix(tc.want, "~"); ok {
				assert.Contains(t, err.Error(), part)
			} else {
				assert.Equal(t, tc.want, err.Error())
			}
			pe, ok := errors.AsType[*template.ParseError](err)
			require.True(t, ok)
			assert.Equal(t, "lib.yaml", pe.File)
		})
	}
}

func TestParseAcceptsShellSyntaxAroundPlaceholders(t *testing.T) {
	// Placeholders as bare words next to quoted text, in $( ), after a
	// closed quote; ${VAR}, {{ and non-identifier braces stay literal.
	src := `packages:
  - name: "{name}"
    path: x
    build_cmd: >-
      echo "building:" {name} 'in' $(basename {name}) ${HOME:+home} && find . -name '*.js' -exec true {} \; && echo {{name} {a,b} '{"k":1}'
`
	tm, err := template.Parse([]byte(src), "ok.yaml")
	require.NoError(t, err)
	pkgs, err := tm.Apply(map[string]string{"name": "web"})
	require.NoError(t, err)
	assert.Equal(t, `echo "building:" 'web' 'in' $(basename 'web') ${HOME:+home} && find . -name '*.js' -exec true {} \; && echo {name} {a,b} '{"k":1}'`, pkgs[0].BuildCmd)
}

func TestApply(t *testing.T) {
	tm := mustParse(t, libTemplate)
	assert.Equal(t, []string{"name", "scope", "dep"}, paramNames(tm))

	t.Run("defaults", func(t *testing.T) {
		pkgs, err := tm.Apply(map[string]string{"name": "web"})
		require.NoError(t, err)
		assert.Equal(t, []buildnet.Package{{
			Name:      "@acme/web",
			Path:      "libs/web",
			BuildCmd:  "echo building 'web' && mkdir -p dist",
			Sources:   []string{"libs/web/src/**/*.{ts,tsx}"},
			OutputDir: "libs/web/out",
			Env:       []string{"NODE_ENV"},
			Hooks: buildnet.Hooks{
				PreBuild:  "test -d src || echo no src for 'web'",
				PostBuild: "echo built 'acme'",
			},
		}}, pkgs)
	})
	t.Run("all values", func(t *testing.T) {
		pkgs, err := tm.Apply(map[string]string{"name": "ui", "scope": "corp", "dep": "shared"})
		require.NoError(t, err)
		require.Len(t, pkgs, 1)
		assert.Equal(t, "@corp/ui", pkgs[0].Name)
		assert.Equal(t, []string{"shared"}, pkgs[0].Dependencies)
	})
	t.Run("fields without placeholders carry over", func(t *testing.T) {
		other := mustParse(t, "packages:\n  - {name: \"{name}\", path: x, build_cmd: make, runner: docker, env: [CI]}\n")
		pkgs, err := other.Apply(map[string]string{"name": "web"})
		require.NoError(t, err)
		assert.Equal(t, "docker", pkgs[0].Runner)
		assert.Equal(t, []string{"CI"}, pkgs[0].Env)
	})
	t.Run("template untouched", func(t *testing.T) {
		_, err := tm.Apply(map[string]string{"name": "ui", "dep": "x"})
		require.NoError(t, err)
		assert.Equal(t, "@{scope}/{name}", tm.Packages[0].Name)
		assert.Equal(t, []string{"{dep}"}, tm.Packages[0].Dependencies)
	})
}

func paramNames(tm *template.Template) []string {
	var out []string
	for _, p := range tm.Params {
		out = append(out, p.Name)
	}
	return out
}

func TestApplyErrors(t *testing.T) {
	tm := mustParse(t, libTemplate)
	tests := []struct {
		name   string
		values map[string]string
		want   string
		params []string
	}{
		{"missing", nil, `template lib: missing value for name: give name=VALUE (name of the new package)`, []string{"name"}},
		{"empty counts as missing", map[string]string{"name": ""}, `template lib: missing value for name: give name=VALUE (name of the new package)`, []string{"name"}},
		{"unknown", map[string]string{"name": "x", "scop": "y", "zz": "1"}, `template lib: unknown parameter scop, zz: this template takes name, scope, dep`, []string{"scop", "zz"}},
		{"pattern", map[string]string{"name": "x", "scope": "Corp"}, `template lib: value "Corp" for scope does not match its pattern [a-z]+ (npm scope without @)`, []string{"scope"}},
		{"path escapes root", map[string]string{"name": "../x"}, `template lib: value "../x" for name cannot go into packages[0].path: ".." would lead out of the workspace root; use a path below the root`, []string{"name"}},
		{"name with a space", map[string]string{"name": "my lib"}, `template lib: value "my lib" for name cannot go into packages[0].name: package names may contain only letters, digits and @ . _ / -`, []string{"name"}},
		{"shell metacharacters in a name", map[string]string{"name": "x;rm"}, `template lib: value "x;rm" for name cannot go into packages[0].name: package names may contain only letters, digits and @ . _ / -`, []string{"name"}},
		{"bad dependency", map[string]string{"name": "x", "dep": "a b"}, `template lib: value "a b" for dep cannot go into packages[0].dependencies[0]: package names may contain only letters, digits and @ . _ / -`, []string{"dep"}},
		{"NUL", map[string]string{"name": "x\x00"}, `template lib: value for name contains a NUL byte`, []string{"name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tm.Apply(tc.values)
			require.ErrorIs(t, err, template.ErrValue)
			assert.Equal(t, tc.want, err.Error())
			ve, ok := errors.AsType[*template.ValueError](err)
			require.True(t, ok)
			assert.Equal(t, tc.params, ve.Params)
		})
	}
}

func TestApplyPathRules(t *testing.T) {
	tm := mustParse(t, `params:
  - name: dir
packages:
  - name: x
    path: "{dir}"
    build_cmd: make
`)
	for _, v := range []string{"../x", "a/../../x", "..", "/etc", `a\b`, "a\nb", "a*", "{x}"} {
		_, err := tm.Apply(map[string]string{"dir": v})
		require.ErrorIs(t, err, template.ErrValue, v)
	}
	pkgs, err := tm.Apply(map[string]string{"dir": "apps/web.v2"})
	require.NoError(t, err)
	assert.Equal(t, "apps/web.v2", pkgs[0].Path)

	// A scoped npm name is fine; a slash elsewhere in a name is not.
	named := mustParse(t, `packages:
  - {name: "{name}", path: x, build_cmd: make}
`)
	pkgs, err = named.Apply(map[string]string{"name": "@acme/ui"})
	require.NoError(t, err)
	assert.Equal(t, "@acme/ui", pkgs[0].Name)
	_, err = named.Apply(map[string]string{"name": "acme/ui"})
	require.ErrorIs(t, err, template.ErrValue)
	assert.Contains(t, err.Error(), "may contain a slash only as an npm scope")
	_, err = named.Apply(map[string]string{"name": "-rf"})
	require.ErrorIs(t, err, template.ErrValue)
}

// TestShellQuoting runs the substituted commands with sh -c (and bash
// when installed): every value reaches the command as exactly one literal
// argument, and nothing in it runs.
func TestShellQuoting(t *testing.T) {
	var shells []string
	for _, name := range []string{"sh", "bash"} {
		if p, err := exec.LookPath(name); err == nil {
			shells = append(shells, p)
		}
	}
	if len(shells) == 0 {
		t.Skip("no POSIX shell")
	}
	shapes := []struct{ cmd, want string }{
		{`printf '[%s]' {msg}`, "[%s]"},
		{`printf '<%s>' pre-{msg}-post`, "<pre-%s-post>"},
		{`x=$(printf %s {msg}); printf '(%s)' "$x"`, "(%s)"},
		{`if true; then { printf '{%s}' {msg}; }; fi`, "{%s}"},
		{`printf '%s' $(( 1 << 2 )) {msg}`, "4%s"},
	}
	values := []string{
		"x; rm -rf /",
		"web",
		"it's",
		"'",
		`a\'b`,
		"$(touch pwned)",
		"`touch pwned`",
		"${HOME} $HOME",
		"two\nlines; touch pwned",
		"* ? [a]",
		`"quoted" \ back`,
		"-n",
		"a && touch pwned || touch pwned #",
		"' ; touch pwned ; '",
	}
	dir := t.TempDir()
	for _, shape := range shapes {
		tm := mustParse(t, "params: [{name: msg}]\npackages:\n  - name: x\n    path: x\n    build_cmd: "+strconv.Quote(shape.cmd)+"\n")
		for _, v := range values {
			pkgs, err := tm.Apply(map[string]string{"msg": v})
			require.NoError(t, err, v)
			for _, sh := range shells {
				cmd := exec.Command(sh, "-c", pkgs[0].BuildCmd)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "%s -c %q: %s", sh, pkgs[0].BuildCmd, out)
				assert.Equal(t, strings.Replace(shape.want, "%s", v, 1), string(out), "%s -c %q", sh, pkgs[0].BuildCmd)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "a value ran as a command")

	tm := mustParse(t, "params: [{name: msg}]\npackages:\n  - {name: x, path: x, build_cmd: \"printf '[%s]' {msg}\", hooks: {pre_build: \"echo {msg}\"}}\n")
	pkgs, err := tm.Apply(map[string]string{"msg": "x; rm -rf /"})
	require.NoError(t, err)
	assert.Equal(t, `printf '[%s]' 'x; rm -rf /'`, pkgs[0].BuildCmd)
	assert.Equal(t, `echo 'x; rm -rf /'`, pkgs[0].Hooks.PreBuild)
	_, err = tm.Apply(map[string]string{"msg": ""})
	require.ErrorIs(t, err, template.ErrValue, "a required value may not be empty")
}

func TestApplyToWorkspace(t *testing.T) {
	root := t.TempDir()
	mkdir(t, root, "shared", "libs/web", "libs/api")
	base := &buildnet.Workspace{Packages: []buildnet.Package{
		{Name: "shared", Path: "shared", BuildCmd: "make", Sources: []string{"shared/**"}},
	}}
	require.NoError(t, base.Validate(root))
	before, err := json.Marshal(base)
	require.NoError(t, err)
	unchanged := func(t *testing.T) {
		t.Helper()
		after, err := json.Marshal(base)
		require.NoError(t, err)
		assert.JSONEq(t, string(before), string(after), "input workspace changed")
	}
	tm := mustParse(t, libTemplate)

	t.Run("adds validated packages", func(t *testing.T) {
		ws, err := template.ApplyToWorkspace(base, root, tm, map[string]string{"name": "web", "dep": "shared"})
		require.NoError(t, err)
		unchanged(t)
		require.Len(t, ws.Packages, 2)
		p := ws.Packages[1]
		assert.Equal(t, "@acme/web", p.Name)
		assert.Equal(t, []string{"shared"}, p.Dependencies)
		assert.Equal(t, "libs/web/out", p.OutputDir)
		require.NoError(t, ws.Validate(root))

		// Apply again to the result: the name is now taken.
		_, err = template.ApplyToWorkspace(ws, root, tm, map[string]string{"name": "web"})
		require.ErrorIs(t, err, template.ErrClash)
		assert.Equal(t, `apply template lib: template: package name already in use: "@acme/web" is already the package at libs/web; choose another name`, err.Error())
	})
	t.Run("clash with an existing package", func(t *testing.T) {
		clash := mustParse(t, "packages:\n  - {name: \"{name}\", path: \"libs/{name}\", build_cmd: make}\n")
		mkdir(t, root, "libs/shared")
		_, err := template.ApplyToWorkspace(base, root, clash, map[string]string{"name": "shared"})
		require.ErrorIs(t, err, template.ErrClash)
		unchanged(t)
	})
	t.Run("two packages of one name", func(t *testing.T) {
		twice := mustParse(t, "packages:\n  - {name: \"{name}\", path: libs/web, build_cmd: make}\n  - {name: \"{name}\", path: libs/api, build_cmd: make}\n")
		_, err := template.ApplyToWorkspace(base, root, twice, map[string]string{"name": "web"})
		require.ErrorIs(t, err, template.ErrClash)
		unchanged(t)
	})
	t.Run("unknown dependency", func(t *testing.T) {
		_, err := template.ApplyToWorkspace(base, root, tm, map[string]string{"name": "web", "dep": "nope"})
		require.ErrorIs(t, err, buildnet.ErrConfig)
		assert.Contains(t, err.Error(), "apply template lib: ")
		assert.Contains(t, err.Error(), "nope")
		unchanged(t)
	})
	t.Run("missing directory", func(t *testing.T) {
		_, err := template.ApplyToWorkspace(base, root, tm, map[string]string{"name": "docs"})
		require.Error(t, err)
		assert.Equal(t, `apply template lib: package @acme/docs: directory libs/docs does not exist under the workspace root; create it first (mkdir -p 'libs/docs')`, err.Error())
		unchanged(t)
	})
	t.Run("path escaping the root", func(t *testing.T) {
		_, err := template.ApplyToWorkspace(base, root, tm, map[string]string{"name": "../x"})
		require.ErrorIs(t, err, template.ErrValue)
		unchanged(t)
	})
	t.Run("path escaping through a symbolic link", func(t *testing.T) {
		outside := t.TempDir()
		require.NoError(t, os.Symlink(outside, filepath.Join(root, "libs", "link")))
		_, err := template.ApplyToWorkspace(base, root, tm, map[string]string{"name": "link"})
		require.ErrorIs(t, err, buildnet.ErrConfig)
		assert.Contains(t, err.Error(), "outside the workspace root")
		unchanged(t)
	})
	t.Run("bad values", func(t *testing.T) {
		_, err := template.ApplyToWorkspace(base, root, tm, nil)
		require.ErrorIs(t, err, template.ErrValue)
		unchanged(t)
	})
}

func TestBundledTemplatesApply(t *testing.T) {
	ts, err := template.Bundled()
	require.NoError(t, err)
	require.Len(t, ts, 3)
	for _, tm := range ts {
		t.Run(tm.Name, func(t *testing.T) {
			root := t.TempDir()
			mkdir(t, root, "tools")
			base := &buildnet.Workspace{Packages: []buildnet.Package{{Name: "tools", Path: "tools", BuildCmd: "make"}}}
			pkgs, err := tm.Apply(map[string]string{"name": "demo"})
			require.NoError(t, err)
			require.Len(t, pkgs, 1)
			assert.Equal(t, "demo", pkgs[0].Name)
			mkdir(t, root, pkgs[0].Path)

			ws, err := template.ApplyToWorkspace(base, root, tm, map[string]string{"name": "demo"})
			require.NoError(t, err)
			require.Len(t, ws.Packages, 2)
			assert.Equal(t, pkgs[0].Path+"/dist", ws.Packages[1].OutputDir)

			// The result survives a round trip through config.json.
			data, err := json.Marshal(ws)
			require.NoError(t, err)
			_, err = buildnet.ParseWorkspace(data, root, "config.json")
			require.NoError(t, err)

			// The name parameter is checked.
			_, err = tm.Apply(map[string]string{"name": "Demo App"})
			require.ErrorIs(t, err, template.ErrValue)
		})
	}
}

// A template built in Go rather than parsed gets the same checks.
func TestApplyChecksHandMadeTemplates(t *testing.T) {
	tm := &template.Template{Name: "hand", Source: "code", Packages: []buildnet.Package{
		{Name: "{name}", Path: "x", BuildCmd: `echo "{name}"`},
	}}
	_, err := tm.Apply(map[string]string{"name": "x"})
	require.ErrorIs(t, err, template.ErrInvalid)
	assert.Equal(t, `code: placeholder {name} in packages[0].build_cmd is inside double quotes: write it as a bare word (echo {name}, not echo "{name}"); its value is substituted already single-quoted, as one argument`, err.Error())

	tm.Packages[0].BuildCmd = "echo {other}"
	_, err = tm.Apply(map[string]string{"name": "x"})
	require.ErrorIs(t, err, template.ErrInvalid)
	assert.Contains(t, err.Error(), "placeholder {other} in packages[0].build_cmd is not declared in params")
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(libTemplate))
	f.Add([]byte("packages:\n  - {name: \"{name}\", path: \"p/{name}\", build_cmd: echo {name}}\n"))
	f.Add([]byte("name: x\npackages:\n  - name: [x\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("packages:\n  - &p {name: x, path: x, build_cmd: \"echo $(( {name} ))\"}\n  - *p\n"))
	f.Add([]byte("params:\n  - {name: a, pattern: \"(\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tm, err := template.Parse(data, "fuzz.yaml")
		if err != nil {
			require.ErrorIs(t, err, template.ErrInvalid)
			require.Nil(t, tm)
			return
		}
		require.NotEmpty(t, tm.Name)
		require.NotEmpty(t, tm.Packages)
		values := map[string]string{}
		for _, p := range tm.Params {
			values[p.Name] = "v"
		}
		pkgs, err := tm.Apply(values)
		if err != nil {
			require.ErrorIs(t, err, template.ErrValue)
			return
		}
		require.Len(t, pkgs, len(tm.Packages))
	})
}
