package buildnet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/musclemap/buildnet/buildnet"
)

// chainWorkspace writes n packages of m source files each, in a chain of
// layers, and builds them once.
func chainWorkspace(b *testing.B, n, m int) string {
	b.Helper()
	root := b.TempDir()
	ws := &buildnet.Workspace{}
	for i := range n {
		name := fmt.Sprintf("p%03d", i)
		for j := range m {
			p := filepath.Join(root, name, "src", fmt.Sprintf("d%d", j%5), fmt.Sprintf("f%03d.ts", j))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(fmt.Sprintf("export const v%d = %d;\n", j, i*j)), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		pkg := buildnet.Package{Name: name, Path: name, BuildCmd: "mkdir -p dist && echo ok > dist/out.txt"}
		if i > 0 {
			pkg.Dependencies = []string{fmt.Sprintf("p%03d", i-1)}
		}
		ws.Packages = append(ws.Packages, pkg)
	}
	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: root, Workspace: ws})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.Build(context.Background(), buildnet.Request{}); err != nil {
		b.Fatal(err)
	}
	e.Close()
	return root
}

// BenchmarkNoopBuild measures a fully cached build in an open engine:
// every package instant_skip, 2,000 source files.
func BenchmarkNoopBuild(b *testing.B) {
	root := chainWorkspace(b, 20, 100)
	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: root, Workspace: mustWorkspace(b, root)})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	b.ReportAllocs()
	for b.Loop() {
		res, err := e.Build(context.Background(), buildnet.Request{})
		if err != nil || res.Status != buildnet.StatusSuccess {
			b.Fatal(err, res.Status)
		}
	}
}

// BenchmarkNoopBuildWatching is BenchmarkNoopBuild while the engine
// watches: no file system call per build.
func BenchmarkNoopBuildWatching(b *testing.B) {
	root := chainWorkspace(b, 20, 100)
	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: root, Workspace: mustWorkspace(b, root)})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	go e.Watch(ctx, buildnet.WatchOptions{OnReady: func() { close(ready) }})
	<-ready
	if _, err := e.Build(context.Background(), buildnet.Request{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Build(context.Background(), buildnet.Request{}); err != nil {
			b.Fatal(err)
		}
	}
}

func mustWorkspace(b *testing.B, root string) *buildnet.Workspace {
	b.Helper()
	// benchWorkspace passes its configuration in memory; rebuild it the
	// same way.
	ws := &buildnet.Workspace{}
	ents, err := os.ReadDir(root)
	if err != nil {
		b.Fatal(err)
	}
	prev := ""
	for _, d := range ents {
		if !d.IsDir() || d.Name()[0] == '.' {
			continue
		}
		p := buildnet.Package{Name: d.Name(), Path: d.Name(), BuildCmd: "mkdir -p dist && echo ok > dist/out.txt"}
		if prev != "" {
			p.Dependencies = []string{prev}
		}
		prev = d.Name()
		ws.Packages = append(ws.Packages, p)
	}
	return ws
}
