// Command plugin shows how a Go program plugs its own components into
// BuildNet: a runner that executes some packages' commands its own way,
// and a content hash for source files. Components are registered on a
// Registry value passed to the engine; the configuration selects them by
// name ("runner" per package, "hash" for the workspace).
//
//	go run ./examples/plugin path/to/workspace
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/hash"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	if err := run(context.Background(), root, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "plugin:", err)
		os.Exit(1)
	}
}

// timedRunner runs commands through the built-in shell runner and reports
// how long each took, as an example of wrapping a runner.
type timedRunner struct {
	inner buildnet.Runner
	out   io.Writer
}

func (t timedRunner) Run(ctx context.Context, job buildnet.RunJob) error {
	start := time.Now()
	err := t.inner.Run(ctx, job)
	fmt.Fprintf(t.out, "[timed] %s %s took %s\n", job.Package, job.Step, time.Since(start).Round(time.Millisecond))
	return err
}

// registry returns a registry with the example's components.
func registry(out io.Writer) (*buildnet.Registry, error) {
	reg := buildnet.NewRegistry()
	sh, err := reg.Runner(buildnet.DefaultRunner)
	if err != nil {
		return nil, err
	}
	if err := reg.RegisterRunner("timed", timedRunner{inner: sh, out: out}); err != nil {
		return nil, err
	}
	if err := reg.RegisterHash(hash.Algorithm{Name: "sha256", New: sha256.New}); err != nil {
		return nil, err
	}
	return reg, nil
}

func run(ctx context.Context, root string, out io.Writer) error {
	reg, err := registry(out)
	if err != nil {
		return err
	}
	ws, err := buildnet.LoadWorkspace(root)
	if err != nil {
		return err
	}
	// Select the components: every package runs through "timed", and
	// sources are hashed with SHA-256.
	ws.Hash = "sha256"
	for i := range ws.Packages {
		ws.Packages[i].Runner = "timed"
	}
	engine, err := buildnet.Open(ctx, buildnet.Config{Root: root, Workspace: ws, Registry: reg})
	if err != nil {
		return err
	}
	defer engine.Close()
	res, err := engine.Build(ctx, buildnet.Request{Requester: "examples/plugin"})
	if err != nil {
		return err
	}
	var parts []string
	for _, p := range res.Packages {
		parts = append(parts, p.Name+"="+string(p.Tier))
	}
	fmt.Fprintf(out, "%s: %s\n", res.Status, strings.Join(parts, " "))
	if res.Status != buildnet.StatusSuccess {
		return fmt.Errorf("build %s: %s", res.Status, res.Error)
	}
	return nil
}
