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
	"runtime/debug"
	"syscall"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/cli"
)

// A one-shot command runs without the garbage collector until its memory
// reaches a limit: oneShotMemoryBase, plus oneShotMemoryPerPackage for
// each package of the workspace it opens (what a build of it allocates).
const (
	oneShotMemoryBase       = 40 << 20
	oneShotMemoryPerPackage = 100 << 10
)

func main() {
	oneShot := tuneGC(os.Args[1:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal asks for a graceful stop; a second one kills.
	context.AfterFunc(ctx, stop)
	code := cli.Main(ctx, os.Args[1:], cli.Env{
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
		SizeMemory: func(packages int) {
			if oneShot {
				debug.SetMemoryLimit(oneShotMemoryBase + int64(packages)*oneShotMemoryPerPackage)
			}
		},
	})
	stop()
	os.Exit(code)
}

// tuneGC turns the garbage collector off for one-shot commands, up to a
// memory limit: a no-op build allocates a few tens of megabytes and exits,
// and collecting them would cost more than the build's own work. The
// daemon and watch, which run for days, keep the default. GOGC or GOMEMLIMIT in
// the environment take precedence.
func tuneGC(args []string) bool {
	longRunning := len(args) > 0 && (args[0] == "start" || args[0] == "watch")
	if longRunning || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return false
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(oneShotMemoryBase)
	return true
}
