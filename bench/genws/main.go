// Command genws generates a synthetic monorepo for benchmarking BuildNet.
//
//	go run ./bench/genws -out DIR -packages N -files M -seed S [-cmd node|sh]
//
// Package i (pkgs/p0000 … ) depends on 0 to 3 packages chosen at random
// among the earlier ones, so index order is a topological order. Each has
// M source files of 1 to 2 KB spread over a few nested directories of src/,
// a package.json and a build script that reads its sources and writes
// dist/out.js and dist/manifest.json. The tree also holds a
// .buildnet/config.json (default sources and output_dir) and a root
// package.json with workspaces plus a turbo.json, so that Turborepo can
// build the same tree for comparison.
//
// The same flags always generate the same bytes.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "genws:", err)
		}
		os.Exit(2)
	}
}

// options are the generator's parameters.
type options struct {
	Out      string
	Packages int
	Files    int
	Seed     uint64
	Cmd      string // "node" or "sh"
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("genws", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.Out, "out", "", "directory to create (must not exist or be empty)")
	fs.IntVar(&o.Packages, "packages", 100, "number of packages")
	fs.IntVar(&o.Files, "files", 100, "source files per package")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	fs.StringVar(&o.Cmd, "cmd", "node", "build command kind: node (node build.js) or sh (sh build.sh)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := generate(o); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "generated %d packages × %d files in %s\n", o.Packages, o.Files, o.Out)
	return nil
}

// pkg is one generated package.
type pkg struct {
	name string
	deps []int // indices of earlier packages, sorted
}

func (p pkg) dir() string { return "pkgs/" + p.name }

// srcDirs are the directories under a package the sources are spread over.
func srcDirs() []string {
	return []string{"src", "src/lib", "src/lib/internal", "src/components", "src/components/widgets"}
}

func generate(o options) error {
	switch {
	case o.Out == "":
		return errors.New("-out is required")
	case o.Packages < 1:
		return errors.New("-packages must be at least 1")
	case o.Files < 1:
		return errors.New("-files must be at least 1")
	case o.Cmd != "node" && o.Cmd != "sh":
		return fmt.Errorf("-cmd must be node or sh, not %q", o.Cmd)
	}
	if entries, err := os.ReadDir(o.Out); err == nil && len(entries) > 0 {
		return fmt.Errorf("output directory %s is not empty", o.Out)
	}

	rng := rand.New(rand.NewPCG(o.Seed, 0x6275696c646e6574)) // "buildnet"
	pkgs := make([]pkg, o.Packages)
	for i := range pkgs {
		pkgs[i].name = fmt.Sprintf("p%04d", i)
		n := min(rng.IntN(4), i)
		for _, d := range rng.Perm(i)[:n] {
			pkgs[i].deps = append(pkgs[i].deps, d)
		}
		slices.Sort(pkgs[i].deps)
	}

	w := writer{root: o.Out}
	w.json("package.json", struct {
		Name           string            `json:"name"`
		Version        string            `json:"version"`
		Private        bool              `json:"private"`
		Workspaces     []string          `json:"workspaces"`
		PackageManager string            `json:"packageManager"` // turbo 2 requires it
		Scripts        map[string]string `json:"scripts"`
	}{"buildnet-bench", "0.0.0", true, []string{"pkgs/*"}, "npm@10.8.2", map[string]string{"build": "turbo run build"}})
	w.json("turbo.json", map[string]any{
		"$schema": "https://turbo.build/schema.json",
		"tasks": map[string]any{
			"build": map[string]any{"dependsOn": []string{"^build"}, "outputs": []string{"dist/**"}},
		},
	})
	w.file(".gitignore", "dist/\nnode_modules/\n.turbo/\n.buildnet/*\n!.buildnet/config.json\n")
	w.json(".buildnet/config.json", config(pkgs, o.Cmd))

	for _, p := range pkgs {
		w.json(p.dir()+"/package.json", packageJSON(p, pkgs, o.Cmd))
		if o.Cmd == "node" {
			w.file(p.dir()+"/build.js", buildJS(p, pkgs))
		} else {
			w.file(p.dir()+"/build.sh", buildSH(p, pkgs))
		}
		dirs := srcDirs()
		for j := range o.Files {
			dir := dirs[j%len(dirs)]
			name := fmt.Sprintf("%s/%s/m%03d.js", p.dir(), dir, j)
			w.file(name, source(rng, p.name, j))
		}
	}
	return w.err
}

// config returns the .buildnet/config.json document; sources and
// output_dir are left to their defaults.
func config(pkgs []pkg, cmd string) any {
	type pkgConfig struct {
		Name         string   `json:"name"`
		Path         string   `json:"path"`
		BuildCmd     string   `json:"build_cmd"`
		Dependencies []string `json:"dependencies"`
	}
	buildCmd := "node build.js"
	if cmd == "sh" {
		buildCmd = "sh build.sh"
	}
	list := make([]pkgConfig, len(pkgs))
	for i, p := range pkgs {
		list[i] = pkgConfig{Name: p.name, Path: p.dir(), BuildCmd: buildCmd, Dependencies: depNames(p, pkgs)}
	}
	return struct {
		Version      int         `json:"version"`
		Concurrency  int         `json:"concurrency"`
		GlobalInputs []string    `json:"global_inputs"`
		Env          []string    `json:"env"`
		Packages     []pkgConfig `json:"packages"`
	}{1, 0, []string{"package.json"}, []string{}, list}
}

func depNames(p pkg, pkgs []pkg) []string {
	names := make([]string, len(p.deps))
	for i, d := range p.deps {
		names[i] = pkgs[d].name
	}
	return names
}

func packageJSON(p pkg, pkgs []pkg, cmd string) any {
	deps := make(map[string]string, len(p.deps))
	for _, n := range depNames(p, pkgs) {
		deps[n] = "*"
	}
	script := "node build.js"
	if cmd == "sh" {
		script = "sh build.sh"
	}
	return struct {
		Name         string            `json:"name"`
		Version      string            `json:"version"`
		Private      bool              `json:"private"`
		Main         string            `json:"main"`
		Scripts      map[string]string `json:"scripts"`
		Dependencies map[string]string `json:"dependencies"`
	}{p.name, "0.0.0", true, "dist/out.js", map[string]string{"build": script}, deps}
}

// buildJS is a package's build script: it checks that its dependencies are
// built, hashes its sources and writes two small outputs.
func buildJS(p pkg, pkgs []pkg) string {
	deps, _ := json.Marshal(depNames(p, pkgs))
	return fmt.Sprintf(`'use strict';
// Generated by bench/genws.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

for (const dep of %s) {
  if (!fs.existsSync(path.join('..', dep, 'dist', 'out.js'))) {
    console.error('%s: dependency ' + dep + ' is not built');
    process.exit(1);
  }
}
function walk(dir, out) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}
const files = walk('src', []).sort();
const hash = crypto.createHash('sha256');
let bytes = 0;
for (const f of files) {
  const data = fs.readFileSync(f);
  bytes += data.length;
  hash.update(f + '\0');
  hash.update(data);
}
const digest = hash.digest('hex');
fs.mkdirSync('dist', { recursive: true });
fs.writeFileSync('dist/out.js', 'module.exports = ' + JSON.stringify({ name: '%s', files: files.length, bytes, hash: digest }) + ';\n');
fs.writeFileSync('dist/manifest.json', JSON.stringify({ inputs: files, bytes, hash: digest }, null, 2) + '\n');
console.log('built %s: ' + files.length + ' files, ' + bytes + ' bytes, ' + digest.slice(0, 12));
`, deps, p.name, p.name, p.name)
}

// buildSH is the sh flavour of buildJS, for measuring BuildNet without the
// cost of starting node.
func buildSH(p pkg, pkgs []pkg) string {
	var b strings.Builder
	b.WriteString("# Generated by bench/genws.\nset -eu\n")
	for _, d := range depNames(p, pkgs) {
		fmt.Fprintf(&b, "[ -f ../%s/dist/out.js ] || { echo '%s: dependency %s is not built' >&2; exit 1; }\n", d, p.name, d)
	}
	fmt.Fprintf(&b, `mkdir -p dist
files=$(find src -type f | LC_ALL=C sort)
bytes=$(cat $files | wc -c | tr -d ' ')
sum=$(cat $files | cksum | cut -d ' ' -f 1)
printf 'module.exports = {"name":"%s","bytes":%%s,"hash":"%%s"};\n' "$bytes" "$sum" > dist/out.js
printf '{"bytes": %%s, "hash": "%%s"}\n' "$bytes" "$sum" > dist/manifest.json
echo "built %s: $bytes bytes, $sum"
`, p.name, p.name)
	return b.String()
}

// source returns a plausible JavaScript module of 1 to 2 KB.
func source(rng *rand.Rand, pkgName string, j int) string {
	const trailer = "module.exports = {};\n"
	target := 1024 + rng.IntN(1025) // exact size of the file
	var b strings.Builder
	fmt.Fprintf(&b, "// %s module %d (generated by bench/genws)\n'use strict';\n\n", pkgName, j)
	for f := 0; ; f++ {
		fn := fmt.Sprintf("function %s_%d_%d(x, y) {\n  const k = %d;\n  return (x * k + y) %% %d;\n}\n\n",
			pkgName, j, f, rng.IntN(1_000_000), 1+rng.IntN(9973))
		if b.Len()+len(fn)+len(trailer) > target {
			break
		}
		b.WriteString(fn)
	}
	b.WriteString(trailer)
	if pad := target - b.Len(); pad > 0 {
		b.WriteString(strings.Repeat("/", pad-1) + "\n")
	}
	return b.String()
}

// writer writes files under root and keeps the first error.
type writer struct {
	root string
	err  error
}

func (w *writer) file(name, content string) {
	if w.err != nil {
		return
	}
	p := filepath.Join(w.root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.err = err
		return
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		w.err = err
	}
}

func (w *writer) json(name string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil && w.err == nil {
		w.err = fmt.Errorf("encode %s: %w", name, err)
		return
	}
	w.file(name, buf.String())
}
