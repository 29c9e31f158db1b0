package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/server"
)

// waitTimeout bounds every wait of the tests; it is never reached when
// the code works.
const waitTimeout = 30 * time.Second

const countCmd = `echo x >> ../../.counts/$BUILDNET_PACKAGE`

// testPackages is the workspace of the tests:
//
//	core <- api; gate waits for .release; noisy prints 5000 lines;
//	fail exits 3; chatty prints 10000 lines in 40 bursts.
var testPackages = []buildnet.Package{
	{Name: "core", Path: "pkgs/core", BuildCmd: `mkdir -p dist && cp src/main.txt dist/ && printf '\033[32mbuilt\033[0m core\n' && ` + countCmd},
	{Name: "api", Path: "pkgs/api", BuildCmd: `mkdir -p dist && cp src/main.txt dist/ && echo built api && ` + countCmd, Dependencies: []string{"core"}},
	{Name: "gate", Path: "pkgs/gate", BuildCmd: `echo waiting; ` + countCmd + `; while [ ! -e ../../.release ]; do sleep 0.02; done; mkdir -p dist; echo ok > dist/out`},
	{Name: "noisy", Path: "pkgs/noisy", BuildCmd: `seq 1 5000 | sed 's/^/noisy output line with some padding to make it longer /'; mkdir -p dist; echo ok > dist/out`},
	{Name: "fail", Path: "pkgs/fail", BuildCmd: `echo boom >&2; exit 3`},
	{Name: "chatty", Path: "pkgs/chatty", BuildCmd: `for i in $(seq 1 40); do seq 1 250 | sed "s/^/chatty line $i /"; sleep 0.02; done; mkdir -p dist; echo ok > dist/out`},
}

// writeWorkspace creates a workspace with testPackages under root.
func writeWorkspace(t testing.TB, root string) {
	t.Helper()
	writeWorkspaceOf(t, root, testPackages)
}

// writeWorkspaceOf creates a workspace with packages under root.
func writeWorkspaceOf(t testing.TB, root string, packages []buildnet.Package) {
	t.Helper()
	ws := buildnet.Workspace{Version: 1, Packages: packages}
	for _, p := range ws.Packages {
		writeFile(t, filepath.Join(root, p.Path, "src", "main.txt"), "source of "+p.Name+"\n")
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".counts"), 0o755))
	data, err := json.MarshalIndent(ws, "", "  ")
	require.NoError(t, err)
	writeFile(t, filepath.Join(root, buildnet.ConfigFile), string(data))
}

func writeFile(t testing.TB, p, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

// runs reports how many times pkg's build command ran.
func runs(t testing.TB, root, pkg string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ".counts", pkg))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	require.NoError(t, err)
	return bytes.Count(b, []byte("\n"))
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is a real engine on a temporary workspace served by a real
// listening server.
type fixture struct {
	t    testing.TB
	root string
	e    *buildnet.Engine
	s    *server.Server
	url  string
	addr string
	logs *syncBuffer
	// key is the admin key the server made; testClient sends it.
	key string
}

type fixtureOpts struct {
	opts server.Options
	// wrap wraps the listener (to shrink socket buffers, say).
	wrap func(net.Listener) net.Listener
	// settings is the content of .buildnet/security.json; "" lifts the
	// rate and session limits.
	settings string
	// packages, when set, replace testPackages.
	packages []buildnet.Package
	// concurrency bounds the build commands running at once; 0 is the
	// default.
	concurrency int
}

func newFixture(t testing.TB, fo fixtureOpts) *fixture {
	t.Helper()
	root := t.TempDir()
	writeWorkspace(t, root)
	if fo.packages != nil {
		writeWorkspaceOf(t, root, fo.packages)
	}
	// The tests written before authentication existed are not about rate
	// limits or session limits: lift them.
	settings := fo.settings
	if settings == "" {
		settings = unlimitedSettings
	}
	writeFile(t, filepath.Join(root, ".buildnet", auth.SettingsFile), settings)
	f := &fixture{t: t, root: root, logs: &syncBuffer{}}
	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: root, Concurrency: fo.concurrency})
	require.NoError(t, err)
	f.e = e
	opts := fo.opts
	opts.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Version = "test"
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = 50 * time.Millisecond
	}
	f.s = server.New(e, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f.addr = ln.Addr().String()
	f.url = "http://" + f.addr
	f.key = registerAdminKey(t, root, f.addr)
	if fo.wrap != nil {
		ln = fo.wrap(ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		// Release gated builds, so that nothing waits for the grace period.
		_ = os.WriteFile(filepath.Join(root, ".release"), nil, 0o644)
		cancel()
		select {
		case err := <-served:
			require.NoError(t, err)
		case <-time.After(waitTimeout):
			t.Error("Serve did not return after its context ended")
		}
		require.NoError(t, e.Close())
	})
	return f
}

// do sends a request and returns the response with its body read.
func (f *fixture) do(method, path string, body io.Reader, header ...string) (*http.Response, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.url+path, body)
	require.NoError(f.t, err)
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			req.Host = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := testClient.Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	return resp, b
}

// getJSON GETs path, requires want and decodes the body into v.
func (f *fixture) getJSON(path string, want int, v any) {
	f.t.Helper()
	resp, b := f.do(http.MethodGet, path, nil)
	require.Equal(f.t, want, resp.StatusCode, "GET %s: %s", path, b)
	require.NoError(f.t, json.Unmarshal(b, v), "GET %s: %s", path, b)
}

// postJSON POSTs body, requires want and decodes the response into v.
func (f *fixture) postJSON(path, body string, want int, v any) {
	f.t.Helper()
	resp, b := f.do(http.MethodPost, path, strings.NewReader(body), "Content-Type", "application/json")
	require.Equal(f.t, want, resp.StatusCode, "POST %s: %s", path, b)
	if v != nil {
		require.NoError(f.t, json.Unmarshal(b, v), "POST %s: %s", path, b)
	}
}

// build runs a build through POST ?wait=true.
func (f *fixture) build(path, body string) *buildnet.BuildResult {
	f.t.Helper()
	var res buildnet.BuildResult
	f.postJSON(path+"?wait=true", body, http.StatusOK, &res)
	return &res
}

// release lets gated builds finish.
func (f *fixture) release() {
	f.t.Helper()
	writeFile(f.t, filepath.Join(f.root, ".release"), "")
}

// waitFor polls cond until it holds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// apiError is the JSON error body.
type apiError struct {
	Error struct {
		Code        string   `json:"code"`
		Message     string   `json:"message"`
		Suggestions []string `json:"suggestions"`
	} `json:"error"`
}

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	id   uint64
	typ  string
	data string
	ev   buildnet.Event
}

// sseStream reads a server-sent event stream in the background.
type sseStream struct {
	t        testing.TB
	resp     *http.Response
	events   chan sseEvent
	comments chan string
	done     chan struct{}
}

// openSSE connects to path and returns once the server confirmed the
// subscription.
func openSSE(t testing.TB, url string, header ...string) *sseStream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := testClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	s := &sseStream{t: t, resp: resp, events: make(chan sseEvent, 1<<16), comments: make(chan string, 1024), done: make(chan struct{})}
	go s.read()
	t.Cleanup(s.close)
	select {
	case c := <-s.comments:
		require.Equal(t, "connected", c)
	case <-time.After(waitTimeout):
		t.Fatal("no subscription confirmation")
	}
	return s
}

func (s *sseStream) read() {
	defer close(s.done)
	defer close(s.events)
	sc := bufio.NewScanner(s.resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.typ != "" {
				_ = json.Unmarshal([]byte(cur.data), &cur.ev)
				s.events <- cur
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"):
			select {
			case s.comments <- strings.TrimSpace(line[1:]):
			default:
			}
		case strings.HasPrefix(line, "id: "):
			cur.id, _ = strconv.ParseUint(line[4:], 10, 64)
		case strings.HasPrefix(line, "event: "):
			cur.typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
}

func (s *sseStream) close() {
	s.resp.Body.Close()
	<-s.done
}

// next returns the next event.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatal("event stream ended")
		}
		return ev
	case <-time.After(waitTimeout):
		s.t.Fatal("timed out waiting for an event")
	}
	return sseEvent{}
}

// until returns the events up to and including the build:complete of
// build id (every build when id is empty), skipping other builds'.
func (s *sseStream) until(id string) []sseEvent {
	s.t.Helper()
	var out []sseEvent
	for {
		ev := s.next()
		if id != "" && ev.ev.BuildID != id {
			continue
		}
		out = append(out, ev)
		if ev.ev.Type == buildnet.EventBuildComplete {
			return out
		}
	}
}

// collect returns every event up to and including the build:complete
// of build id.
func (s *sseStream) collect(id string) []sseEvent {
	s.t.Helper()
	var out []sseEvent
	for {
		ev := s.next()
		out = append(out, ev)
		if ev.ev.Type == buildnet.EventBuildComplete && ev.ev.BuildID == id {
			return out
		}
	}
}

// contract lists the event types of api.md; the engine may publish more,
// which the assertions on sequences ignore.
var contract = map[string]bool{
	"build:queued": true, "build:start": true, "package:start": true, "package:output": true,
	"package:complete": true, "build:complete": true, "cache:cleared": true, "config:reloaded": true,
}

// known returns the events of evs whose types api.md names.
func known(evs []sseEvent) []sseEvent {
	var out []sseEvent
	for _, e := range evs {
		if contract[e.typ] {
			out = append(out, e)
		}
	}
	return out
}

// types returns the types of evs that api.md names.
func types(evs []sseEvent) []string {
	out := []string{}
	for _, e := range evs {
		if contract[e.typ] {
			out = append(out, e.typ)
		}
	}
	return out
}

func compact(types []string) []string {
	var out []string
	for _, t := range types {
		if len(out) == 0 || out[len(out)-1] != t {
			out = append(out, t)
		}
	}
	return out
}

func sprint(v any) string { return fmt.Sprint(v) }

func removeAll(p string) error { return os.RemoveAll(p) }

// serverOptsLoopback turns the Host check on.
func serverOptsLoopback() server.Options { return server.Options{ListenAddr: "127.0.0.1:9876"} }

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// adminKeys maps a test server's host:port to the admin key it wrote, so
// that testClient authenticates the tests written before authentication
// existed.
var adminKeys sync.Map

// registerAdminKey reads the admin key the server wrote in root's state
// directory and has testClient send it to addr.
func registerAdminKey(t testing.TB, root, addr string) string {
	t.Helper()
	key, err := auth.ReadAdminKey(filepath.Join(root, ".buildnet"))
	require.NoError(t, err)
	adminKeys.Store(addr, key)
	t.Cleanup(func() { adminKeys.Delete(addr) })
	return key
}

// adminTransport adds the admin key of the server it talks to, unless the
// request carries its own Authorization or asks for none.
type adminTransport struct{ base http.RoundTripper }

// noAuth, as an Authorization header value, sends no credentials.
const noAuth = "none"

func (a adminTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch h := r.Header.Get("Authorization"); {
	case h == noAuth:
		r = r.Clone(r.Context())
		r.Header.Del("Authorization")
	case h == "":
		if key, ok := adminKeys.Load(r.URL.Host); ok {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+key.(string))
		}
	}
	base := a.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// testClient is the HTTP client of the tests: it authenticates as admin.
var testClient = &http.Client{Transport: adminTransport{}}

// withAdmin returns a client like c that authenticates as admin.
func withAdmin(c *http.Client) *http.Client {
	if c == nil {
		return testClient
	}
	cc := *c
	cc.Transport = adminTransport{base: c.Transport}
	return &cc
}

// unlimitedSettings lifts rate and session limits.
const unlimitedSettings = `{"rate_limits": {"read": {"rate": 0}, "build": {"rate": 0}, "admin": {"rate": 0}, "anonymous": {"rate": 0}},
	"max_sessions_per_actor": 0}`

// actor is the requester of the builds the admin key asks for.
func (f *fixture) actor() string {
	f.t.Helper()
	var me struct{ Actor string }
	f.getJSON("/auth/me", http.StatusOK, &me)
	return me.Actor
}

// newKey creates an API key with the given role through the API.
func (f *fixture) newKey(name, role string) auth.CreatedKey {
	f.t.Helper()
	var k auth.CreatedKey
	f.postJSON("/keys", `{"name":"`+name+`","role":"`+role+`"}`, http.StatusCreated, &k)
	return k
}
