// Command buildnetd builds the packages of a monorepo, skipping what has
// not changed, and serves BuildNet's HTTP API and web panel.
//
// Usage:
//
//	buildnetd start [--listen 127.0.0.1] [--port 9876] [--grace 30s] [--log-format text|json]
//	buildnetd build [--all | --package NAME ...] [--force] [--json] [--root DIR]
//	buildnetd status [--json]
//	buildnetd cache stats|clear [--json]
//	buildnetd init [--force]
//
// status, build and cache go through the daemon at --addr ($BUILDNET_ADDR,
// default 127.0.0.1:9876) when it serves the same workspace root, and run
// in process otherwise. Run `buildnetd help` for every verb and flag.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal asks for a graceful stop; a second one kills.
	context.AfterFunc(ctx, stop)
	code := cli.Main(ctx, os.Args[1:], cli.Env{
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
	})
	stop()
	os.Exit(code)
}
