package buildnet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/musclemap/buildnet/buildnet"
)

// A workspace of two packages, built twice: the second build only stats.
func ExampleEngine_Build() {
	root, _ := os.MkdirTemp("", "buildnet-example")
	defer os.RemoveAll(root)
	for _, p := range []string{"lib", "app"} {
		os.MkdirAll(filepath.Join(root, p, "src"), 0o755)
		os.WriteFile(filepath.Join(root, p, "src", "main.txt"), []byte(p), 0o644)
	}
	ws := &buildnet.Workspace{Packages: []buildnet.Package{
		{Name: "lib", Path: "lib", BuildCmd: "mkdir -p dist && cp src/main.txt dist/"},
		{Name: "app", Path: "app", BuildCmd: "mkdir -p dist && cat src/main.txt ../lib/dist/main.txt > dist/app.txt", Dependencies: []string{"lib"}},
	}}
	ctx := context.Background()
	for range 2 {
		engine, err := buildnet.Open(ctx, buildnet.Config{Root: root, Workspace: ws})
		if err != nil {
			fmt.Println(err)
			return
		}
		res, _ := engine.Build(ctx, buildnet.Request{})
		for _, p := range res.Packages {
			fmt.Println(p.Name, p.Tier)
		}
		engine.Close()
	}
	// Output:
	// lib full_build
	// app full_build
	// lib instant_skip
	// app instant_skip
}
