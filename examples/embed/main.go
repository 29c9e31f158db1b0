// Command embed shows BuildNet used as a library: it opens an engine on a
// workspace, prints every package's output as it streams, builds, and
// reports each package's tier.
//
//	go run ./examples/embed ./examples/monorepo
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/musclemap/buildnet/buildnet"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, root); err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, root string) error {
	engine, err := buildnet.Open(ctx, buildnet.Config{Root: root})
	if err != nil {
		return err
	}
	defer engine.Close()

	sub := engine.Subscribe(ctx, 0)
	defer sub.Close()
	go func() {
		for ev := range sub.Events() {
			if ev.Type == buildnet.EventPackageOutput {
				fmt.Printf("  %s | %s\n", ev.Package, ev.Line)
			}
		}
	}()

	res, err := engine.Build(ctx, buildnet.Request{Requester: "examples/embed"})
	if err != nil {
		return err
	}
	for _, p := range res.Packages {
		fmt.Printf("%-12s %-8s %-14s %dms\n", p.Name, p.Status, p.Tier, p.DurationMs)
	}
	if res.Status != buildnet.StatusSuccess {
		return fmt.Errorf("build %s: %s", res.Status, res.Error)
	}
	return nil
}
