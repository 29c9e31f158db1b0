// Command loadgen measures an HTTP endpoint under load: N concurrent
// clients send requests back to back for a duration, then it prints the
// throughput and latency percentiles.
//
//	go run ./bench/loadgen -url http://127.0.0.1:9876/status -c 16 -d 10s
//	go run ./bench/loadgen -url 'http://127.0.0.1:9876/build/api?wait=true' -method POST -c 4 -d 5s
//
// Each client keeps its connection alive. A request counts as an error
// when it fails or its status is not 2xx; errors count in requests/s but
// not in the percentiles.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
		}
		os.Exit(1)
	}
}

// headers is a repeatable -H flag.
type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

// config is what the flags say.
type config struct {
	url, method, body string
	clients           int
	requests          int // stop after this many in all; 0 means no limit
	duration          time.Duration
	pause             time.Duration // each client's wait between two requests
	header            http.Header
}

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var (
		cfg config
		hs  headers
	)
	fl.StringVar(&cfg.url, "url", "", "URL to request (required)")
	fl.StringVar(&cfg.method, "method", http.MethodGet, "HTTP method")
	fl.StringVar(&cfg.body, "body", "", "request body")
	fl.IntVar(&cfg.clients, "c", 8, "concurrent clients")
	fl.IntVar(&cfg.requests, "n", 0, "stop after this many requests in all (0: run for -d)")
	fl.DurationVar(&cfg.duration, "d", 5*time.Second, "how long to send requests")
	fl.DurationVar(&cfg.pause, "pause", 0, "each client's wait between two requests (think time)")
	fl.Var(&hs, "H", `request header "Name: value" (repeatable)`)
	if err := fl.Parse(args); err != nil {
		return err
	}
	switch {
	case cfg.url == "":
		return errors.New("-url is required")
	case cfg.clients < 1:
		return errors.New("-c must be at least 1")
	case cfg.duration <= 0:
		return errors.New("-d must be positive")
	}
	cfg.header = http.Header{}
	for _, h := range hs {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("-H %q: want \"Name: value\"", h)
		}
		cfg.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	if _, err := http.NewRequest(cfg.method, cfg.url, nil); err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	r := load(context.Background(), cfg)
	r.print(stdout)
	if r.ok == 0 {
		return fmt.Errorf("no successful request (%d errors; first: %v)", r.errors, r.firstErr)
	}
	return nil
}

// report is the outcome of a load run.
type report struct {
	ok, errors int
	firstErr   error
	elapsed    time.Duration
	latencies  []time.Duration // of successful requests, sorted
}

// load runs cfg.clients clients for cfg.duration.
func load(ctx context.Context, cfg config) *report {
	transport := &http.Transport{
		Proxy:               nil,
		MaxIdleConnsPerHost: cfg.clients,
		DisableCompression:  true,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()

	type worker struct {
		lat      []time.Duration
		errors   int
		firstErr error
	}
	workers := make([]worker, cfg.clients)
	var (
		wg   sync.WaitGroup
		sent atomic.Int64
	)
	start := time.Now()
	for i := range workers {
		w := &workers[i]
		wg.Go(func() {
			for ctx.Err() == nil {
				if cfg.requests > 0 && sent.Add(1) > int64(cfg.requests) {
					return
				}
				t0 := time.Now()
				err := send(ctx, client, cfg)
				if ctx.Err() != nil {
					return // cut short by the end of the run: not counted
				}
				if err != nil {
					w.errors++
					if w.firstErr == nil {
						w.firstErr = err
					}
					continue
				}
				w.lat = append(w.lat, time.Since(t0))
				if cfg.pause > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(cfg.pause):
					}
				}
			}
		})
	}
	wg.Wait()
	r := &report{elapsed: time.Since(start)}
	for _, w := range workers {
		r.latencies = append(r.latencies, w.lat...)
		r.errors += w.errors
		if r.firstErr == nil {
			r.firstErr = w.firstErr
		}
	}
	r.ok = len(r.latencies)
	slices.Sort(r.latencies)
	return r
}

func send(ctx context.Context, client *http.Client, cfg config) error {
	var body io.Reader
	if cfg.body != "" {
		body = strings.NewReader(cfg.body)
	}
	req, err := http.NewRequestWithContext(ctx, cfg.method, cfg.url, body)
	if err != nil {
		return err
	}
	req.Header = cfg.header.Clone()
	if cfg.body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	// Read to the end, so that the connection is reused.
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted values
// by the nearest-rank method.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func (r *report) print(w io.Writer) {
	total := r.ok + r.errors
	fmt.Fprintf(w, "requests    %d (%d errors)\n", total, r.errors)
	fmt.Fprintf(w, "duration    %s\n", r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "requests/s  %.1f\n", float64(total)/r.elapsed.Seconds())
	fmt.Fprintf(w, "p50         %s\n", fmtLatency(percentile(r.latencies, 50)))
	fmt.Fprintf(w, "p99         %s\n", fmtLatency(percentile(r.latencies, 99)))
	if r.errors > 0 {
		fmt.Fprintf(w, "first error %v\n", r.firstErr)
	}
}

func fmtLatency(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
	return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000)
}
