// Command engnoop times fully cached builds through the Go API in one
// process: the in-process figure the daemon's HTTP builds are compared
// with. With -watch the engine watches the workspace, as the daemon does.
//
//	engnoop -root WS -runs 50 [-watch] [-subscribers N] [-cpuprofile FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/musclemap/buildnet/buildnet"
)

func main() {
	root := flag.String("root", "", "workspace root")
	runs := flag.Int("runs", 50, "timed builds")
	watch := flag.Bool("watch", false, "watch the workspace, as the daemon does")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timed builds to this file")
	subscribers := flag.Int("subscribers", 0, "event subscribers reading every event, as the daemon's hub and metrics do")
	flag.Parse()
	if err := run(*root, *runs, *watch, *cpuprofile, *subscribers); err != nil {
		fmt.Fprintln(os.Stderr, "engnoop:", err)
		os.Exit(1)
	}
}

func run(root string, runs int, watch bool, cpuprofile string, subscribers int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := buildnet.Open(ctx, buildnet.Config{Root: root})
	if err != nil {
		return err
	}
	defer e.Close()
	if watch {
		ready := make(chan struct{})
		go e.Watch(ctx, buildnet.WatchOptions{OnReady: func() { close(ready) }})
		<-ready
	}
	for range subscribers {
		sub := e.Subscribe(ctx, 1<<16)
		go func() {
			for range sub.Events() {
			}
		}()
	}
	for range 3 { // warm up; the first build while watching learns the state
		if _, err := e.Build(ctx, buildnet.Request{}); err != nil {
			return err
		}
	}
	if err := e.Flush(ctx); err != nil {
		return err
	}
	var times []time.Duration
	calls := e.StatCalls()
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for range runs {
		t0 := time.Now()
		res, err := e.Build(ctx, buildnet.Request{})
		if err != nil {
			return err
		}
		times = append(times, time.Since(t0))
		if res.Status != buildnet.StatusSuccess {
			return fmt.Errorf("build %s", res.Status)
		}
		// Let the records be written between builds, as between requests.
		if err := e.Flush(ctx); err != nil {
			return err
		}
	}
	slices.Sort(times)
	fmt.Printf("in-process no-op: median %.2f ms, p90 %.2f ms over %d builds; %d file system calls per build\n",
		ms(times[len(times)/2]), ms(times[len(times)*9/10]), runs, (e.StatCalls()-calls)/int64(runs))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
