// Package buildnettest makes small throwaway workspaces for the tests of
// the engine's consumers (alerts, metrics), and runs their loops for the
// length of a test, so that each does not carry its own copy of either.
package buildnettest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/musclemap/buildnet/buildnet"
)

// BuildCmd is every package's build command: it concatenates src/ into
// dist/out.txt, or fails with exit status 3 and "boom in NAME" on stderr
// while the file .fail/NAME exists at the root.
const BuildCmd = `if [ -f ../../.fail/$BUILDNET_PACKAGE ]; then echo "boom in $BUILDNET_PACKAGE" >&2; exit 3; fi; mkdir -p dist && cat src/* > dist/out.txt`

// Workspace is a temporary monorepo of four packages: base <- api,
// base <- web, and docs, each with one source file.
type Workspace struct {
	t    testing.TB
	Root string
}

// New writes a workspace in a directory removed when t ends.
func New(t testing.TB) *Workspace {
	t.Helper()
	w := &Workspace{t: t, Root: t.TempDir()}
	ws := buildnet.Workspace{Packages: []buildnet.Package{
		{Name: "base", Path: "pkgs/base", BuildCmd: BuildCmd},
		{Name: "api", Path: "pkgs/api", BuildCmd: BuildCmd, Dependencies: []string{"base"}},
		{Name: "web", Path: "pkgs/web", BuildCmd: BuildCmd, Dependencies: []string{"base"}},
		{Name: "docs", Path: "pkgs/docs", BuildCmd: BuildCmd},
	}}
	for _, p := range ws.Packages {
		w.Write(p.Path+"/src/main.txt", "package "+p.Name+"\n")
	}
	data, err := json.Marshal(ws)
	w.check(err)
	w.Write(buildnet.ConfigFile, string(data))
	w.Failing()
	return w
}

// Write writes content to the file rel (slash-separated, relative to the
// root), making its directories.
func (w *Workspace) Write(rel, content string) {
	w.t.Helper()
	p := filepath.Join(w.Root, filepath.FromSlash(rel))
	w.check(os.MkdirAll(filepath.Dir(p), 0o755))
	w.check(os.WriteFile(p, []byte(content), 0o644))
}

// Remove removes the file or directory rel.
func (w *Workspace) Remove(rel string) {
	w.t.Helper()
	w.check(os.RemoveAll(filepath.Join(w.Root, filepath.FromSlash(rel))))
}

// Failing makes exactly the named packages fail from now on.
func (w *Workspace) Failing(names ...string) {
	w.t.Helper()
	w.Remove(".fail")
	w.check(os.MkdirAll(filepath.Join(w.Root, ".fail"), 0o755))
	for _, n := range names {
		w.Write(".fail/"+n, "")
	}
}

// Open opens an engine on the workspace, with only PATH in its
// environment, closed when the test ends.
func (w *Workspace) Open() *buildnet.Engine {
	w.t.Helper()
	e, err := buildnet.Open(w.t.Context(), buildnet.Config{Root: w.Root, Env: []string{"PATH=" + os.Getenv("PATH")}})
	w.check(err)
	w.t.Cleanup(func() { e.Close() })
	return e
}

func (w *Workspace) check(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

// Run runs fn on its own goroutine until the test ends: its context is
// cancelled at cleanup, which then waits for fn to return.
func Run(t testing.TB, fn func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = fn(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}
