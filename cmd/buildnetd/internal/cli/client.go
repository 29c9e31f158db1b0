package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
)

// DefaultAddr is where the CLI looks for a daemon, and where `start`
// listens, unless --addr, --listen/--port or BUILDNET_ADDR say otherwise.
const DefaultAddr = "127.0.0.1:9876"

// probeTimeout bounds the check for a daemon, so that a command without
// one starts at once.
const probeTimeout = time.Second

// client talks to a buildnetd daemon.
type client struct {
	base string // http://host:port
	http *http.Client
	// token is the API key or login token sent as the bearer credential;
	// "" sends none.
	token string
}

// authorize adds the client's credentials and identity to req.
func (cl *client) authorize(req *http.Request) {
	req.Header.Set("User-Agent", "buildnetd-cli/"+Version)
	if cl.token != "" {
		req.Header.Set("Authorization", "Bearer "+cl.token)
	}
}

// baseURL turns an --addr value (host:port, :port or a URL) into the
// daemon's base URL.
func baseURL(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return "", usageErr("--addr %q: want host:port or http://host:port", addr)
		}
		return strings.TrimSuffix(u.Scheme+"://"+u.Host+u.Path, "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usageErr("--addr %q: want host:port or http://host:port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

func newClient(base string) *client {
	return &client{base: base, http: &http.Client{Transport: &http.Transport{
		Proxy:               nil, // the daemon is local, whatever HTTP_PROXY says
		DialContext:         (&net.Dialer{Timeout: probeTimeout}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}}}
}

// daemon returns a client of the daemon at c.addr when one answers and
// serves the workspace root; otherwise nil, and the command runs in
// process. --local skips the check.
func (c *common) daemon(ctx context.Context, root string) *client {
	cl := c.client(root)
	if cl == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var h struct {
		Status    string `json:"status"`
		Workspace string `json:"workspace"`
	}
	if err := cl.do(ctx, http.MethodGet, "/health", nil, &h); err != nil || h.Status != "ok" {
		return nil
	}
	if !sameDir(h.Workspace, root) {
		return nil
	}
	return cl
}

// client returns a client of the daemon at c.addr for the workspace
// root, without checking that one answers; nil with --local or a bad
// --addr. It authenticates with --token ($BUILDNET_TOKEN), else the admin
// key a daemon writes beside the workspace's state.
func (c *common) client(root string) *client {
	if c.local {
		return nil
	}
	base, err := baseURL(c.addr)
	if err != nil {
		return nil
	}
	cl := newClient(base)
	cl.token = c.token
	if cl.token == "" {
		cl.token, _ = auth.ReadAdminKey(filepath.Join(root, ".buildnet"))
	}
	return cl
}

// notThisDaemon is startBuild's error when no daemon answers at the
// address, the one that does serves another workspace, or it refuses the
// credentials (which a daemon of another workspace does first): the
// command then checks with a health request, and runs in process unless
// the daemon serves the workspace after all. It reads as its cause.
type notThisDaemon struct{ cause error }

func (e *notThisDaemon) Error() string { return e.cause.Error() }
func (e *notThisDaemon) Unwrap() error { return e.cause }

// sameDir reports whether a and b name the same directory once symbolic
// links are resolved.
func sameDir(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	ra, err := filepath.EvalSymlinks(a)
	if err != nil {
		return false
	}
	rb, err := filepath.EvalSymlinks(b)
	if err != nil {
		return false
	}
	return ra == rb
}

// do sends a JSON request and decodes a JSON response into out (which
// may be nil). A daemon error becomes an *Error with the daemon's code
// and message.
func (cl *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	cl.authorize(req)
	resp, err := cl.http.Do(req)
	if err != nil {
		return fmt.Errorf("daemon at %s: %w", cl.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("daemon at %s: %s %s: %w", cl.base, method, path, err)
	}
	if resp.StatusCode >= 300 {
		return daemonError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("daemon at %s: %s %s: decode response: %w", cl.base, method, path, err)
	}
	return nil
}

// daemonError maps the daemon's JSON error to the CLI's, with the exit
// status the same failure has in process.
func daemonError(status int, body []byte) error {
	var e struct {
		Error *Error `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == nil || e.Error.Code == "" {
		return &Error{Code: "internal", Message: fmt.Sprintf("daemon: HTTP %d: %s", status, bytes.TrimSpace(body)), Exit: 1}
	}
	ce := e.Error
	switch ce.Code {
	case "unknown_package", "invalid_config", "bad_request", "invalid_json", "usage":
		ce.Exit = 2
	default:
		ce.Exit = 1
	}
	return ce
}

// eventStream follows the daemon's /events, reconnecting with
// Last-Event-ID when the connection breaks, so that no event is lost
// while the daemon's buffer holds it.
type eventStream struct {
	// events delivers the events in order, several at a time: what
	// arrived together is handed over together.
	events chan []buildnet.Event
	dead   chan struct{} // closed when the stream gave up; err says why
	err    error
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// maxReconnects bounds consecutive failed reconnections.
const maxReconnects = 5

// maxBatch bounds the events handed over at once.
const maxBatch = 256

// startBuild starts a build of the workspace root with POST
// /build?stream=true and returns its id and the stream of its events,
// read from the answer; if the answer breaks before the build ends, the
// stream goes on from /events with the last event seen, so nothing is lost
// while the daemon's buffer holds it. One request both starts the build
// and subscribes to it, and the daemon checks that it serves root: no
// health check is needed first. It returns a *notThisDaemon when that is
// not known to be so.
func (cl *client) startBuild(ctx context.Context, root string, body any, types []string) (string, *eventStream, error) {
	q := "?types=" + url.QueryEscape(strings.Join(types, ","))
	data, err := json.Marshal(body)
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	u := cl.base + "/build" + q + "&stream=true&workspace=" + url.QueryEscape(root)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		cancel()
		return "", nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	cl.authorize(req)
	resp, err := cl.doAlone(req)
	if err != nil {
		cancel()
		err = fmt.Errorf("daemon at %s: %w", cl.base, err)
		if op := (*net.OpError)(nil); errors.As(err, &op) && op.Op == "dial" {
			return "", nil, &notThisDaemon{err}
		}
		return "", nil, err
	}
	id := resp.Header.Get("X-Build-ID")
	if resp.StatusCode != http.StatusOK || id == "" {
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode == http.StatusOK {
			return "", nil, fmt.Errorf("daemon at %s: POST /build?stream=true: no X-Build-ID in the answer", cl.base)
		}
		err := daemonError(resp.StatusCode, data)
		if e := (*Error)(nil); resp.StatusCode == http.StatusUnauthorized || errors.As(err, &e) && e.Code == "other_workspace" {
			return "", nil, &notThisDaemon{err}
		}
		return "", nil, err
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	s := &eventStream{events: make(chan []buildnet.Event, 64), dead: make(chan struct{}), cancel: cancel}
	s.wg.Go(func() { s.run(ctx, cl, q, br, resp.Body) })
	return id, s, nil
}

// doAlone sends req on a connection of its own, which closes with the
// answer's body, and returns the answer; a request that follows a build
// needs no pool, and a one-shot command saves the pool's goroutines and
// threads on its way to the first byte. Requests to an https daemon go
// through the client's pool.
func (cl *client) doAlone(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return cl.http.Do(req)
	}
	conn, err := (&net.Dialer{Timeout: probeTimeout}).DialContext(req.Context(), "tcp", req.URL.Host)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(req.Context(), func() { conn.Close() })
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 64<<10), req)
	if err != nil {
		conn.Close()
		return nil, err
	}
	resp.Body = &connBody{ReadCloser: resp.Body, conn: conn, stop: stop}
	return resp, nil
}

// connBody is the body of an answer read by doAlone: closing it closes
// the connection.
type connBody struct {
	io.ReadCloser
	conn net.Conn
	stop func() bool
}

// The connection closes first: what the daemon still had to say is not
// wanted, and reading it to the end (as closing the body alone would)
// could wait for as long as the build runs.
func (b *connBody) Close() error {
	b.stop()
	err := b.conn.Close()
	b.ReadCloser.Close()
	return err
}

// close ends the stream and waits for its reader.
func (s *eventStream) close() {
	s.cancel()
	s.wg.Wait()
}

// openEvents connects to /events and reads up to the daemon's first
// comment, which it sends once the subscription is in place.
func (cl *client) openEvents(ctx context.Context, query, lastID string) (*bufio.Reader, io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cl.base+"/events"+query, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	cl.authorize(req)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("daemon at %s: events: %w", cl.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, nil, daemonError(resp.StatusCode, data)
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			resp.Body.Close()
			return nil, nil, fmt.Errorf("daemon at %s: events: %w", cl.base, err)
		}
		if strings.HasPrefix(line, ":") {
			return br, resp.Body, nil
		}
	}
}

func (s *eventStream) run(ctx context.Context, cl *client, query string, br *bufio.Reader, body io.ReadCloser) {
	defer close(s.dead)
	last := "0"
	var batch []buildnet.Event
	for failures := 0; ; {
		handOver := func() bool {
			if len(batch) == 0 {
				return true
			}
			select {
			case s.events <- batch:
				batch = nil
				return true
			case <-ctx.Done():
				return false
			}
		}
		err := readSSE(br, func(id string, ev buildnet.Event) bool {
			last, failures = id, 0
			if batch = append(batch, ev); len(batch) < maxBatch {
				return true
			}
			return handOver()
		}, handOver)
		body.Close()
		handOver()
		for {
			if ctx.Err() != nil {
				s.err = ctx.Err()
				return
			}
			if failures++; failures > maxReconnects {
				s.err = fmt.Errorf("lost the daemon's event stream: %w", err)
				return
			}
			select {
			case <-time.After(time.Duration(failures) * 100 * time.Millisecond):
			case <-ctx.Done():
				continue
			}
			if br, body, err = cl.openEvents(ctx, query, last); err == nil {
				break
			}
		}
	}
}

// streamEvent is the part of an event the CLI shows: decoding only these
// fields (not the time, digest or reason of each package) is a good part
// of following a build of hundreds of packages.
type streamEvent struct {
	Seq        uint64                `json:"seq"`
	Type       buildnet.EventType    `json:"type"`
	BuildID    string                `json:"build_id"`
	Package    string                `json:"package"`
	Stream     string                `json:"stream"`
	Line       string                `json:"line"`
	Tier       buildnet.Tier         `json:"tier"`
	Status     buildnet.Status       `json:"status"`
	DurationMs *int64                `json:"duration_ms"`
	Error      string                `json:"error"`
	Packages   []string              `json:"packages"`
	Requester  string                `json:"requester"`
	Result     *buildnet.BuildResult `json:"result"`
}

func (e *streamEvent) event() buildnet.Event {
	return buildnet.Event{Seq: e.Seq, Type: e.Type, BuildID: e.BuildID, Package: e.Package, Stream: e.Stream, Line: e.Line,
		Tier: e.Tier, Status: e.Status, DurationMs: e.DurationMs, Error: e.Error, Packages: e.Packages, Requester: e.Requester,
		Result: e.Result}
}

// readSSE parses server-sent events from br, calling fn for each until
// fn or idle returns false or the stream ends. It calls idle when br holds
// no whole event, before a read that may wait.
func readSSE(br *bufio.Reader, fn func(id string, ev buildnet.Event) bool, idle func() bool) error {
	var (
		id   string
		data []byte
	)
	for {
		line, err := readLine(br)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if len(data) > 0 {
				var se streamEvent
				if err := decodeEvent(data, &se); err == nil {
					if se.Seq != 0 && id == "" {
						id = strconv.FormatUint(se.Seq, 10)
					}
					if !fn(id, se.event()) {
						return errors.New("stopped")
					}
				}
			}
			id, data = "", data[:0]
			if !eventBuffered(br) && !idle() {
				return errors.New("stopped")
			}
		case bytes.HasPrefix(line, []byte("id:")):
			id = string(bytes.TrimSpace(line[3:]))
		case bytes.HasPrefix(line, []byte("data:")):
			data = append(data, bytes.TrimPrefix(line[5:], []byte(" "))...)
		}
	}
}

// readLine returns the next line of br, which is valid until the next
// read; a line longer than br's buffer (a large build result) is copied.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	long := append([]byte(nil), line...)
	for err == bufio.ErrBufferFull {
		line, err = br.ReadSlice('\n')
		long = append(long, line...)
	}
	return long, err
}

// eventBuffered reports whether br holds a whole event with data, ready
// to read.
func eventBuffered(br *bufio.Reader) bool {
	buf, _ := br.Peek(br.Buffered())
	i := bytes.Index(buf, []byte("data:"))
	return i >= 0 && (bytes.Contains(buf[i:], []byte("\n\n")) || bytes.Contains(buf[i:], []byte("\n\r\n")))
}
