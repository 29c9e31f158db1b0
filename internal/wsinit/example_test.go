package wsinit_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/musclemap/buildnet/internal/wsinit"
)

func ExampleDetect() {
	root, err := os.MkdirTemp("", "wsinit-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	files := map[string]string{
		"package.json":                 `{"private": true, "workspaces": ["packages/*"]}`,
		"yarn.lock":                    "",
		"packages/shared/package.json": `{"name": "shared", "main": "lib/index.js", "scripts": {"build": "babel src -d lib"}}`,
		"packages/app/package.json":    `{"name": "app", "scripts": {"build": "vite build"}, "dependencies": {"shared": "workspace:*", "react": "^19"}}`,
		"packages/docs/package.json":   `{"name": "docs"}`,
	}
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			panic(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			panic(err)
		}
	}

	ws, err := wsinit.Detect(root)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("manager:", ws.Manager, ws.GlobalInputs)
	for _, p := range ws.Packages {
		fmt.Printf("%s at %s: cmd=%q deps=%v out=%s no_build=%t\n", p.Name, p.Path, p.BuildCmd, p.Dependencies, p.OutputDir, p.NoBuild)
	}
	// Output:
	// manager: yarn [yarn.lock]
	// app at packages/app: cmd="yarn build" deps=[shared] out=packages/app/dist no_build=false
	// docs at packages/docs: cmd="" deps=[] out=packages/docs/dist no_build=true
	// shared at packages/shared: cmd="yarn build" deps=[] out=packages/shared/lib no_build=false
}
