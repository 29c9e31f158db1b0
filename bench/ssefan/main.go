// Command ssefan measures how event delivery scales with subscribers: it
// opens N Server-Sent Events streams on a buildnetd, triggers builds, and
// reports the latency from each event's creation (its "time" field) to its
// arrival on each stream.
//
//	ssefan -url http://127.0.0.1:9876 -subscribers 200 -builds 20 [-H 'Authorization: Bearer KEY']
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

func main() {
	base := flag.String("url", "http://127.0.0.1:9876", "daemon base URL")
	subs := flag.Int("subscribers", 200, "concurrent SSE streams")
	builds := flag.Int("builds", 20, "builds to trigger")
	pkg := flag.String("package", "", "package to build (default: all)")
	var hs headers
	flag.Var(&hs, "H", "extra request header, 'Name: value' (repeatable)")
	flag.Parse()
	if err := run(*base, *subs, *builds, *pkg, hs); err != nil {
		fmt.Fprintln(os.Stderr, "ssefan:", err)
		os.Exit(1)
	}
}

func run(base string, n, builds int, pkg string, hs headers) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	setHeaders := func(r *http.Request) {
		for _, h := range hs {
			k, v, _ := strings.Cut(h, ":")
			r.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n + 4, MaxConnsPerHost: n + 4}}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		ready     sync.WaitGroup
		done      sync.WaitGroup
	)
	ready.Add(n)
	for range n {
		done.Go(func() {
			// Each stream keeps its own latencies: a lock shared by every
			// stream would make the measuring side the bottleneck.
			var mine []time.Duration
			defer func() {
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			}()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events?types=package:complete,build:complete", nil)
			setHeaders(req)
			resp, err := client.Do(req)
			if err != nil {
				ready.Done()
				fmt.Fprintln(os.Stderr, "ssefan: subscribe:", err)
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReaderSize(resp.Body, 64<<10)
			signalled := false
			for {
				raw, err := br.ReadSlice('\n')
				for errors.Is(err, bufio.ErrBufferFull) { // a long line: its start is enough
					_, err = br.ReadSlice('\n')
				}
				line := string(raw)
				if err != nil {
					if !signalled {
						ready.Done()
					}
					return
				}
				if !signalled && strings.HasPrefix(line, ":") {
					signalled = true
					ready.Done()
				}
				if !strings.HasPrefix(line, "data: ") {
					continue
				}
				now := time.Now()
				// Only the time field is read, without decoding the whole
				// event: the measuring side stays cheap next to the daemon.
				if t, ok := eventTime(line); ok {
					mine = append(mine, now.Sub(t))
				}
			}
		})
	}
	ready.Wait()
	path := "/build?wait=true"
	if pkg != "" {
		path = "/build/" + pkg + "?wait=true"
	}
	for range builds {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		setHeaders(req)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST %s: %s", path, resp.Status)
		}
	}
	time.Sleep(500 * time.Millisecond) // let the last events arrive
	cancel()
	done.Wait()
	if len(latencies) == 0 {
		return fmt.Errorf("no events received")
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))] }
	fmt.Printf("subscribers=%d events=%d p50=%.3fms p99=%.3fms max=%.3fms\n", n, len(latencies),
		ms(pct(0.5)), ms(pct(0.99)), ms(latencies[len(latencies)-1]))
	return nil
}

// eventTime finds the "time" field of an event's JSON line.
func eventTime(line string) (time.Time, bool) {
	const key = `"time":"`
	i := strings.Index(line, key)
	if i < 0 {
		return time.Time{}, false
	}
	rest := line[i+len(key):]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, rest[:j])
	return t, err == nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
