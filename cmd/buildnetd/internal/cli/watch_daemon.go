package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/musclemap/buildnet/buildnet"
)

// watchWorkspace keeps the daemon's view of the workspace current: it
// always watches, so the configuration reloads when its file changes and
// builds with nothing changed make no file system call; with build it
// also rebuilds what changes. SIGHUP reloads the configuration too. The
// returned function stops both.
func watchWorkspace(ctx context.Context, e *buildnet.Engine, log *slog.Logger, build bool) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		err := e.Watch(ctx, buildnet.WatchOptions{
			Build: build, Requester: "watch",
			OnBuild: func(res *buildnet.BuildResult) {
				log.Info("watch build", "build", res.ID, "status", res.Status, "duration_ms", res.DurationMs)
			},
			OnError: func(err error) { log.Warn("watch", "err", err) },
		})
		if err != nil {
			log.Error("watching stopped", "err", err)
		}
	})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				change, err := e.Reload(ctx)
				if err != nil {
					log.Warn("configuration rejected; the previous one stays in force", "err", err)
					continue
				}
				log.Info("configuration reloaded", "added", change.Added, "removed", change.Removed, "changed", change.Changed)
			}
		}
	})
	return func() {
		signal.Stop(hup)
		cancel()
		wg.Wait()
	}
}
