// Command ssefan measures how event delivery scales with subscribers: it
// opens N Server-Sent Events streams (or, with -ws, WebSocket
// subscriptions) on a buildnetd, triggers builds, and reports the latency
// from each event's creation (its "time" field) to its arrival on each
// stream. Builds follow each other at once, or, with
// -settle, once every stream has the previous build's build:complete: the
// latency of an event on a daemon that is not still busy with the last one.
//
//	ssefan -url http://127.0.0.1:9876 -subscribers 200 -builds 20 [-settle] [-ws] [-H 'Authorization: Bearer KEY']
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

type headers []string

func (h *headers) String() string     { return strings.Join(*h, ", ") }
func (h *headers) Set(v string) error { *h = append(*h, v); return nil }

// setOn sets each "Name: value" header on dst.
func (h headers) setOn(dst http.Header) {
	for _, kv := range h {
		k, v, _ := strings.Cut(kv, ":")
		dst.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
}

func main() {
	base := flag.String("url", "http://127.0.0.1:9876", "daemon base URL")
	subs := flag.Int("subscribers", 200, "concurrent SSE streams")
	builds := flag.Int("builds", 20, "builds to trigger")
	pkg := flag.String("package", "", "package to build (default: all)")
	types := flag.String("types", "package:complete,build:complete", "event types each stream subscribes to")
	settle := flag.Bool("settle", false, "before the next build, wait until every stream has the last build's build:complete")
	ws := flag.Bool("ws", false, "subscribe over the WebSocket (GET /ws) instead of SSE")
	var hs headers
	flag.Var(&hs, "H", "extra request header, 'Name: value' (repeatable)")
	flag.Parse()
	if err := run(*base, *subs, *builds, *pkg, *types, *settle, *ws, hs); err != nil {
		fmt.Fprintln(os.Stderr, "ssefan:", err)
		os.Exit(1)
	}
}

func run(base string, n, builds int, pkg, types string, settle, ws bool, hs headers) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	setHeaders := func(r *http.Request) { hs.setOn(r.Header) }
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n + 4, MaxConnsPerHost: n + 4}}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		ready     sync.WaitGroup
		done      sync.WaitGroup
		completes atomic.Int64
		received  atomic.Int64 // bytes, every stream
	)
	ready.Add(n)
	for range n {
		done.Go(func() {
			var once sync.Once
			subscribed := func() { once.Do(ready.Done) }
			defer subscribed()
			var (
				st  stream
				err error
			)
			if ws {
				st, err = followWS(ctx, base, types, hs, subscribed, func() { completes.Add(1) })
			} else {
				st, err = followSSE(ctx, client, base+"/events?types="+types, setHeaders, subscribed, func() { completes.Add(1) })
			}
			if err != nil && ctx.Err() == nil {
				fmt.Fprintln(os.Stderr, "ssefan: subscribe:", err)
			}
			received.Add(st.bytes)
			mu.Lock()
			latencies = append(latencies, st.latencies...)
			mu.Unlock()
		})
	}
	ready.Wait()
	path := "/build?wait=true"
	if pkg != "" {
		path = "/build/" + pkg + "?wait=true"
	}
	for i := range builds {
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
		if settle {
			if err := waitFor(&completes, int64(n*(i+1)), 5*time.Second); err != nil {
				return fmt.Errorf("build %d: %w", i+1, err)
			}
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
	fmt.Printf("subscribers=%d events=%d p50=%.3fms p99=%.3fms max=%.3fms stream_bytes_per_build=%d\n", n, len(latencies),
		ms(pct(0.5)), ms(pct(0.99)), ms(latencies[len(latencies)-1]), received.Load()/int64(n*builds))
	return nil
}

// stream is what one subscriber measured. Each keeps its own latencies: a
// lock shared by every stream would make the measuring side the
// bottleneck.
type stream struct {
	latencies []time.Duration
	bytes     int64
}

// followSSE reads the SSE stream at url until it ends. It calls subscribed
// once the daemon confirmed the subscription, and complete at each
// build:complete.
func followSSE(ctx context.Context, client *http.Client, url string, setHeaders func(*http.Request), subscribed, complete func()) (stream, error) {
	var st stream
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, err
	}
	setHeaders(req)
	resp, err := client.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		raw, err := br.ReadSlice('\n')
		now := time.Now()
		st.bytes += int64(len(raw))
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return st, nil
		}
		if len(raw) > 0 && raw[0] == ':' {
			subscribed()
		}
		// Only the time field is read, without decoding the whole event
		// or copying the line: the measuring side stays cheap next to the
		// daemon (200 streams of a 100-package build are 20,000 events to
		// read).
		if bytes.HasPrefix(raw, dataPrefix) {
			if t, ok := eventTime(raw); ok {
				st.latencies = append(st.latencies, now.Sub(t))
			}
		} else if bytes.Equal(raw, buildComplete) {
			complete()
		}
		for errors.Is(err, bufio.ErrBufferFull) { // the rest of a long line
			raw, err = br.ReadSlice('\n')
			st.bytes += int64(len(raw))
		}
	}
}

// followWS subscribes to events of types over the daemon's WebSocket and
// reads them until ctx ends, as followSSE does.
func followWS(ctx context.Context, base, types string, hs headers, subscribed, complete func()) (stream, error) {
	var st stream
	h := http.Header{}
	hs.setOn(h)
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return st, err
	}
	defer c.CloseNow()
	c.SetReadLimit(64 << 20)
	sub, _ := json.Marshal(map[string]any{"op": "subscribe", "id": "ssefan", "types": strings.Split(types, ",")})
	if err := c.Write(ctx, websocket.MessageText, sub); err != nil {
		return st, err
	}
	for {
		_, msg, err := c.Read(ctx)
		now := time.Now()
		if err != nil {
			return st, nil
		}
		st.bytes += int64(len(msg))
		switch {
		case bytes.HasPrefix(msg, wsEvent):
			if t, ok := eventTime(msg); ok {
				st.latencies = append(st.latencies, now.Sub(t))
			}
			rest := msg[len(wsEvent):]
			if i := bytes.IndexByte(rest, ','); i >= 0 && bytes.HasPrefix(rest[i+1:], wsBuildComplete) {
				complete()
			}
		case bytes.HasPrefix(msg, wsAck):
			subscribed()
		}
	}
}

// waitFor waits until count reaches want: every stream has the build's
// build:complete.
func waitFor(count *atomic.Int64, want int64, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); count.Load() < want; time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			return fmt.Errorf("-settle: %d build:complete events of %d arrived within %s (is build:complete among -types?)", count.Load(), want, timeout)
		}
	}
	return nil
}

var (
	dataPrefix    = []byte("data: ")
	buildComplete = []byte("event: build:complete\n")
	// The WebSocket's messages: an event starts with wsEvent, followed by
	// the event's JSON, whose type comes right after its seq.
	wsEvent         = []byte(`{"op":"event","event":{"seq":`)
	wsBuildComplete = []byte(`"type":"build:complete"`)
	wsAck           = []byte(`{"op":"ack"`)
	timeKey         = []byte(`"time":"`)
)

// eventTime finds the "time" field of an event's JSON line.
func eventTime(line []byte) (time.Time, bool) {
	i := bytes.Index(line, timeKey)
	if i < 0 {
		return time.Time{}, false
	}
	rest := line[i+len(timeKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}, false
	}
	if t, ok := parseUTC(rest[:j]); ok {
		return t, true
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	return t, err == nil
}

// parseUTC reads the RFC 3339 form of a UTC time, 2006-01-02T15:04:05.999999999Z,
// without time.Parse's generality; it reports false for any other form.
func parseUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	var f [6]int
	for k, r := range [6][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}} {
		v, ok := num(b[r[0]:r[1]])
		if !ok {
			return time.Time{}, false
		}
		f[k] = v
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) > 10 {
			return time.Time{}, false
		}
		v, ok := num(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			v *= 10
		}
		nsec = v
	}
	return time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], nsec, time.UTC), true
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
