package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/server"
	"github.com/musclemap/buildnet/state"
)

func TestSSEOrderForAnotherClientsBuild(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	sse := openSSE(t, f.url+"/events")
	res := f.build("/build/api", "")
	require.Equal(t, buildnet.StatusSuccess, res.Status)

	all := sse.until(res.ID)
	for i, ev := range all {
		assert.Equal(t, ev.id, ev.ev.Seq, "id: matches the event's seq")
		assert.Equal(t, ev.typ, string(ev.ev.Type))
		if i > 0 {
			assert.Greater(t, ev.id, all[i-1].id, "seq increases")
		}
	}
	evs := known(all)
	assert.Equal(t, []string{
		"build:start",
		"package:start", "package:output", "package:complete", // core
		"package:start", "package:output", "package:complete", // api
		"build:complete",
	}, types(evs))
	require.Len(t, evs, 8)
	assert.Equal(t, []string{"core", "api"}, evs[0].ev.Packages)
	assert.Equal(t, f.actor(), evs[0].ev.Requester)
	assert.Equal(t, "\x1b[32mbuilt\x1b[0m core", evs[2].ev.Line, "ANSI kept")
	assert.Equal(t, "stdout", evs[2].ev.Stream)
	assert.Equal(t, buildnet.TierFullBuild, evs[3].ev.Tier)
	last := evs[len(evs)-1].ev
	assert.Equal(t, buildnet.StatusSuccess, last.Status)
	require.NotNil(t, last.Result)
	assert.Equal(t, res.ID, last.Result.ID)
}

func TestSSEReplayAndFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	sse := openSSE(t, f.url+"/events")
	first := f.build("/build/core", "")
	seen := sse.until(first.ID)
	lastID := seen[len(seen)-1].id
	sse.close()

	// Missed while disconnected.
	second := f.build("/build/api", "")
	third := f.build("/build/fail", "")

	check := func(t *testing.T, s *sseStream) {
		evs := s.collect(third.ID)
		assert.Equal(t, lastID+1, evs[0].id, "replay resumes right after the last event seen")
		for i := 1; i < len(evs); i++ {
			assert.Equal(t, evs[i-1].id+1, evs[i].id, "no gap, no duplicate")
		}
		var ids []string
		for _, ev := range evs {
			if ev.typ == "build:complete" {
				ids = append(ids, ev.ev.BuildID)
			}
		}
		assert.Equal(t, []string{second.ID, third.ID}, ids)
	}
	t.Run("Last-Event-ID header", func(t *testing.T) {
		check(t, openSSE(t, f.url+"/events", "Last-Event-ID", strconv.FormatUint(lastID, 10)))
	})
	t.Run("last_event_id query", func(t *testing.T) {
		check(t, openSSE(t, f.url+"/events?last_event_id="+strconv.FormatUint(lastID, 10)))
	})
	t.Run("types and packages filters", func(t *testing.T) {
		s := openSSE(t, f.url+"/events?last_event_id=0&types=package:complete,build:complete&packages=core")
		var got []string
		for range 4 {
			ev := s.next()
			got = append(got, ev.typ+" "+ev.ev.Package+" "+ev.ev.BuildID)
		}
		assert.Equal(t, []string{
			"package:complete core " + first.ID, "build:complete  " + first.ID,
			"package:complete core " + second.ID, "build:complete  " + second.ID,
		}, got)
		// The build of fail alone passed nothing: next comes a new build.
		fourth := f.build("/build/core", "")
		ev := s.next()
		assert.Equal(t, "package:complete core "+fourth.ID, ev.typ+" "+ev.ev.Package+" "+ev.ev.BuildID)
	})
}

// wsConn is a test WebSocket client.
type wsConn struct {
	t *testing.T
	c *websocket.Conn
}

func dialWS(t *testing.T, url string, client *http.Client) *wsConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/ws", &websocket.DialOptions{HTTPClient: withAdmin(client)})
	require.NoError(t, err)
	t.Cleanup(func() { c.CloseNow() })
	return &wsConn{t: t, c: c}
}

func (w *wsConn) send(v string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(w.t, w.c.Write(ctx, websocket.MessageText, []byte(v)))
}

type wsMsg struct {
	Op      string          `json:"op"`
	ID      string          `json:"id"`
	BuildID string          `json:"build_id"`
	Session string          `json:"session"`
	Version string          `json:"version"`
	Event   *buildnet.Event `json:"event"`
	Error   *struct {
		Code        string   `json:"code"`
		Message     string   `json:"message"`
		Suggestions []string `json:"suggestions"`
	} `json:"error"`
}

func (w *wsConn) recv() wsMsg {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	typ, data, err := w.c.Read(ctx)
	require.NoError(w.t, err)
	require.Equal(w.t, websocket.MessageText, typ)
	var m wsMsg
	require.NoError(w.t, json.Unmarshal(data, &m), "%s", data)
	return m
}

// reply skips events up to the next non-event message.
func (w *wsConn) reply() wsMsg {
	w.t.Helper()
	for {
		if m := w.recv(); m.Op != "event" {
			return m
		}
	}
}

func TestWebSocket(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	ws := dialWS(t, f.url, nil)
	hello := ws.recv()
	assert.Equal(t, "hello", hello.Op)
	assert.Equal(t, "test", hello.Version)
	assert.NotEmpty(t, hello.Session)

	ws.send(`{"op":"ping","id":"p"}`)
	assert.Equal(t, wsMsg{Op: "pong", ID: "p"}, ws.recv())
	ws.send(`{"op":"nope","id":"x"}`)
	m := ws.recv()
	assert.Equal(t, "error", m.Op)
	assert.Equal(t, "bad_request", m.Error.Code)
	ws.send(`{"op":`)
	m = ws.recv()
	assert.Equal(t, "invalid_json", m.Error.Code)
	ws.send(`{"op":"build","id":"bad","packages":["gat"]}`)
	m = ws.recv()
	assert.Equal(t, "bad", m.ID)
	assert.Equal(t, "unknown_package", m.Error.Code)
	assert.Equal(t, []string{"gate"}, m.Error.Suggestions)

	ws.send(`{"op":"subscribe","id":"s"}`)
	assert.Equal(t, wsMsg{Op: "ack", ID: "s"}, ws.recv())
	ws.send(`{"op":"build","id":"req1","packages":["gate"]}`)
	ack := ws.reply()
	require.Equal(t, "ack", ack.Op, "%+v", ack)
	assert.Equal(t, "req1", ack.ID)
	id := ack.BuildID
	require.NotEmpty(t, id)

	var got []string
	for {
		m := ws.recv()
		require.Equal(t, "event", m.Op)
		require.Equal(t, id, m.Event.BuildID)
		if contract[string(m.Event.Type)] {
			got = append(got, string(m.Event.Type))
		}
		if m.Event.Type == buildnet.EventPackageOutput {
			assert.Equal(t, "waiting", m.Event.Line)
			break
		}
	}
	assert.Equal(t, []string{"build:start", "package:start", "package:output"}, got)

	ws.send(`{"op":"cancel","id":"req2","build_id":"` + id + `"}`)
	ack = ws.reply()
	assert.Equal(t, wsMsg{Op: "ack", ID: "req2", BuildID: id}, ack)
	var done *buildnet.Event
	for done == nil {
		if m := ws.recv(); m.Op == "event" && m.Event.Type == buildnet.EventBuildComplete {
			done = m.Event
		}
	}
	assert.Equal(t, id, done.BuildID)
	assert.Equal(t, buildnet.StatusCancelled, done.Status)
	require.NotNil(t, done.Result)
	assert.Equal(t, buildnet.StatusCancelled, done.Result.Packages[0].Status)

	var b state.Build
	f.getJSON("/builds/"+id, http.StatusOK, &b)
	assert.Equal(t, state.StatusCancelled, b.Status)
	assert.Equal(t, f.actor(), b.Requester)

	ws.send(`{"op":"cancel","id":"req3","build_id":"` + id + `"}`)
	m = ws.reply()
	assert.Equal(t, "req3", m.ID)
	assert.Equal(t, "conflict", m.Error.Code)

	// Narrowed to build:complete only, events of other types stop.
	ws.send(`{"op":"unsubscribe"}`)
	assert.Equal(t, "ack", ws.reply().Op)
	ws.send(`{"op":"subscribe","types":["build:complete"]}`)
	assert.Equal(t, "ack", ws.reply().Op)
	f.build("/build/core", "")
	m = ws.recv()
	require.Equal(t, "event", m.Op)
	assert.Equal(t, buildnet.EventBuildComplete, m.Event.Type)
}

func TestWebSocketRefusesCrossOrigin(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.url, "http")+"/ws", &websocket.DialOptions{
		HTTPHeader: http.Header{"Origin": []string{"http://evil.example"}},
		HTTPClient: testClient,
	})
	require.Error(t, err)
	require.NotNil(t, resp)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
}

func TestConcurrentBuildsOfOnePackageCoalesce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	const n = 100
	client := withAdmin(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}})
	defer client.CloseIdleConnections()
	results := make([]*buildnet.BuildResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			resp, err := client.Post(f.url+"/build/core?wait=true", "application/json", nil)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			var res buildnet.BuildResult
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				errs[i] = assert.AnError
				t.Errorf("status %d: %s", resp.StatusCode, b)
				return
			}
			errs[i] = json.NewDecoder(resp.Body).Decode(&res)
			results[i] = &res
		})
	}
	close(start)
	wg.Wait()
	assert.Equal(t, 1, runs(t, f.root, "core"), "the build command ran once")
	ids := map[string]bool{}
	digest := ""
	for i, res := range results {
		require.NoError(t, errs[i])
		require.Equal(t, buildnet.StatusSuccess, res.Status)
		require.Len(t, res.Packages, 1)
		p := res.Packages[0]
		assert.Equal(t, buildnet.StatusSuccess, p.Status)
		if digest == "" {
			digest = p.Digest
		}
		assert.Equal(t, digest, p.Digest, "every caller got the same package digest")
		ids[res.ID] = true
	}
	assert.Len(t, ids, n, "each request is its own recorded build")
}

// smallBuffers shrinks the kernel buffers of accepted connections, so
// that a client that stops reading blocks the server's writes soon.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(4096)
	}
	return c, err
}

// smallDialer dials with a tiny receive buffer.
var smallDialer = &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	if err != nil {
		return err
	}
	return serr
}}

func TestSlowConsumersAreDroppedWithoutDelayingOthers(t *testing.T) {
	t.Parallel()
	// With the default queue of 4096 events, a slow client is dropped
	// after about 17 of chatty's bursts; a fast one would have to stall
	// for 16 bursts (over 300ms) to be.
	f := newFixture(t, fixtureOpts{wrap: func(l net.Listener) net.Listener { return smallBuffers{l} }})

	// A slow SSE client: subscribes, then reads nothing.
	ctx := context.Background()
	raw, err := smallDialer.DialContext(ctx, "tcp", f.addr)
	require.NoError(t, err)
	defer raw.Close()
	_, err = io.WriteString(raw, "GET /events HTTP/1.1\r\nHost: "+f.addr+"\r\nAuthorization: Bearer "+f.key+"\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(raw)
	for {
		line, err := br.ReadString('\n')
		require.NoError(t, err)
		if strings.HasPrefix(line, ": connected") {
			break
		}
	}
	// A slow WebSocket client: subscribes to everything, then reads nothing.
	slowWS := dialWS(t, f.url, &http.Client{Transport: &http.Transport{DialContext: smallDialer.DialContext}})
	require.Equal(t, "hello", slowWS.recv().Op)
	slowWS.send(`{"op":"subscribe"}`)
	require.Equal(t, "ack", slowWS.recv().Op)
	// A client that keeps up.
	fast := openSSE(t, f.url+"/events")

	res := f.build("/build/chatty", "")
	require.Equal(t, buildnet.StatusSuccess, res.Status, "the build completed while slow clients read nothing")

	evs := fast.collect(res.ID)
	lines := 0
	for i, ev := range evs {
		if i > 0 {
			require.Equal(t, evs[i-1].id+1, ev.id, "the fast client missed nothing")
		}
		if ev.typ == "package:output" {
			lines++
		}
	}
	assert.Equal(t, 10000, lines)
	assert.Equal(t, []string{"build:start", "package:start", "package:output", "package:complete", "build:complete"}, compact(types(evs)))

	waitFor(t, "both slow clients dropped", func() bool {
		logs := f.logs.String()
		return strings.Contains(logs, `msg="event client dropped"`) &&
			strings.Contains(logs, "kind=sse") && strings.Contains(logs, "kind=ws")
	})
	assert.Contains(t, f.logs.String(), "too slow")
	_, body := f.do(http.MethodGet, "/metrics", nil)
	assert.Contains(t, string(body), "buildnet_event_subscribers_dropped_total 2\n")
	// The server hung up on the slow SSE client.
	require.NoError(t, raw.SetReadDeadline(time.Now().Add(waitTimeout)))
	_, err = io.Copy(io.Discard, br)
	assert.NoError(t, err, "the stream ends (EOF) rather than timing out")
}

func TestServeShutdownCancelsBuildsAfterGrace(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeWorkspace(t, root)
	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: root})
	require.NoError(t, err)
	defer e.Close()
	logs := &syncBuffer{}
	s := server.New(e, server.Options{ShutdownGrace: 100 * time.Millisecond, Logger: slogTo(logs)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	registerAdminKey(t, root, addr)

	resp, err := testClient.Post("http://"+addr+"/build/gate", "application/json", nil)
	require.NoError(t, err)
	var started struct{ ID string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&started))
	resp.Body.Close()
	waitFor(t, "gate to run", func() bool { return runs(t, root, "gate") == 1 })
	// A client waiting for the build and one following events.
	waited := make(chan int, 1)
	go func() {
		resp, err := testClient.Post("http://"+addr+"/build/gate?wait=true", "application/json", nil)
		if err != nil {
			waited <- -1
			return
		}
		resp.Body.Close()
		waited <- resp.StatusCode
	}()
	waitFor(t, "the waited-for build to start", func() bool { return len(e.ActiveBuilds()) == 2 })
	sse := openSSE(t, "http://"+addr+"/events")

	cancel()
	select {
	case err := <-served:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return")
	}
	b, err := e.Store().Build(context.Background(), started.ID)
	require.NoError(t, err)
	assert.Equal(t, state.StatusCancelled, b.Status)
	assert.Empty(t, e.ActiveBuilds())
	assert.Contains(t, logs.String(), "cancelling build at shutdown")
	assert.Equal(t, http.StatusOK, <-waited, "the waiting client got the cancelled result")
	<-sse.done // the event stream ended, after carrying the build's end
	evs := sse.collect(started.ID)
	assert.Equal(t, buildnet.StatusCancelled, evs[len(evs)-1].ev.Status)
	_, err = net.DialTimeout("tcp", addr, time.Second)
	assert.Error(t, err, "the port is released")
}

func TestSSEReplayIsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{opts: server.Options{EventBuffer: 8}})
	live := openSSE(t, f.url+"/events")
	f.build("/build/core", "")
	res := f.build("/build/api", "")
	all := live.collect(res.ID)
	last := all[len(all)-1].id
	require.Greater(t, last, uint64(8))

	s := openSSE(t, f.url+"/events", "Last-Event-ID", "0")
	select {
	case c := <-s.comments:
		assert.Equal(t, "missed "+strconv.FormatUint(last-8, 10)+" events no longer buffered", c)
	case <-time.After(waitTimeout):
		t.Fatal("no gap notice")
	}
	got := s.collect(res.ID)
	require.Len(t, got, 8, "the ring's events")
	assert.Equal(t, last-7, got[0].id)
	assert.Equal(t, last, got[7].id)
}

func TestSSEKeepAlivePings(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{opts: server.Options{PingInterval: 20 * time.Millisecond}})
	s := openSSE(t, f.url+"/events")
	for range 2 {
		select {
		case c := <-s.comments:
			assert.Equal(t, "ping", c)
		case <-time.After(waitTimeout):
			t.Fatal("no ping")
		}
	}
}

// TestBuildStream starts a build with POST /build?stream=true and reads
// its events, and only its events, from the answer.
func TestBuildStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	defer f.release()
	f.postJSON("/build/gate", "", http.StatusAccepted, nil) // another build's events go by meanwhile

	resp, err := testClient.Post(f.url+"/build/api?stream=true&types=build:start,package:complete,build:complete", "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	id := resp.Header.Get("X-Build-ID")
	require.NotEmpty(t, id)
	body, err := io.ReadAll(resp.Body) // the answer ends with the build
	require.NoError(t, err)
	var evs []buildnet.Event
	for frame := range strings.SplitSeq(string(body), "\n\n") {
		for line := range strings.SplitSeq(frame, "\n") {
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var ev buildnet.Event
				require.NoError(t, json.Unmarshal([]byte(data), &ev))
				evs = append(evs, ev)
			}
		}
	}
	require.Len(t, evs, 4, "%s", body)
	assert.Equal(t, []string{"build:start", "package:complete", "package:complete", "build:complete"},
		[]string{string(evs[0].Type), string(evs[1].Type), string(evs[2].Type), string(evs[3].Type)})
	for _, ev := range evs {
		assert.Equal(t, id, ev.BuildID)
	}
	assert.Equal(t, []string{"core", "api"}, []string{evs[1].Package, evs[2].Package})
	require.NotNil(t, evs[3].Result)
	assert.Equal(t, id, evs[3].Result.ID)
	assert.Equal(t, buildnet.StatusSuccess, evs[3].Result.Status)
	triggers := f.audit("action=build.trigger&q=" + id)
	require.Len(t, triggers, 1, "the trigger is audited before the answer ends")

	// Errors come before the stream, as JSON.
	resp, err = testClient.Post(f.url+"/build/apx?stream=true", "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	var e apiError
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	assert.Equal(t, "unknown_package", e.Error.Code)
	assert.Contains(t, e.Error.Suggestions, "api")
	resp, err = testClient.Post(f.url+"/build/api?stream=maybe", "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)

	// A request for another workspace is refused before anything starts;
	// the same workspace through a symbolic link is this one.
	other := t.TempDir()
	resp, err = testClient.Post(f.url+"/build/api?stream=true&workspace="+neturl.QueryEscape(other), "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
	assert.Equal(t, "other_workspace", e.Error.Code)
	link := filepath.Join(t.TempDir(), "ws")
	require.NoError(t, os.Symlink(f.root, link))
	resp, err = testClient.Post(f.url+"/build/api?wait=true&workspace="+neturl.QueryEscape(link), "application/json", nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Len(t, f.audit("action=build.trigger&q=other_workspace"), 0)
}

// writeLog records every write the server makes on the connections it
// accepts.
type writeLog struct {
	net.Listener
	mu     sync.Mutex
	writes [][]byte
	conns  []*loggedConn
}

func (l *writeLog) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &loggedConn{Conn: c, log: l}
	l.mu.Lock()
	l.conns = append(l.conns, lc)
	l.mu.Unlock()
	return lc, nil
}

// conn returns the connection whose first write contains sub.
func (l *writeLog) conn(sub string) *loggedConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		if len(c.own) > 0 && strings.Contains(string(c.own[0]), sub) {
			return c
		}
	}
	return nil
}

func (l *writeLog) find(sub string) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.writes {
		if strings.Contains(string(w), sub) {
			return w
		}
	}
	return nil
}

type loggedConn struct {
	net.Conn
	log  *writeLog
	own  [][]byte      // this connection's writes; guarded by log.mu
	gate chan struct{} // while set and open, writes wait; guarded by log.mu
}

func (c *loggedConn) Write(p []byte) (int, error) {
	c.log.mu.Lock()
	w := append([]byte(nil), p...)
	c.log.writes = append(c.log.writes, w)
	c.own = append(c.own, w)
	gate := c.gate
	c.log.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return c.Conn.Write(p)
}

// hold makes the connection's writes wait until the returned function is
// called; it returns how many writes it had made.
func (c *loggedConn) hold() (writes int, release func()) {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	gate := make(chan struct{})
	c.gate = gate
	return len(c.own), func() { close(gate) }
}

// writesSince returns the connection's writes after the first n.
func (c *loggedConn) writesSince(n int) [][]byte {
	c.log.mu.Lock()
	defer c.log.mu.Unlock()
	return slices.Clone(c.own[n:])
}

// A stream's batch of events goes out in one write, with no chunk
// framing: the stream is the rest of the connection (Transfer-Encoding
// identity), so fanning a build out to many subscribers costs one system
// call per subscriber and batch, however large the batch.
func TestSSEBatchGoesOutInOneWrite(t *testing.T) {
	t.Parallel()
	wl := &writeLog{}
	f := newFixture(t, fixtureOpts{wrap: func(l net.Listener) net.Listener { wl.Listener = l; return wl }})
	var last *buildnet.BuildResult
	for range 8 {
		last = f.build("/build/api", `{"force": true}`)
	}
	// The replay of every event so far is one batch.
	s := openSSE(t, f.url+"/events?last_event_id=0")
	var lastID uint64
	for _, ev := range s.until(last.ID) {
		lastID = ev.id
	}
	assert.True(t, s.resp.Close, "the stream closes its connection at its end")
	assert.Empty(t, s.resp.TransferEncoding, "no chunked encoding")

	batch := wl.find("id: 1\n")
	require.NotNil(t, batch, "the replay's first event was written")
	require.Greater(t, len(batch), 8<<10, "a batch larger than the server's write buffers")
	assert.True(t, strings.HasPrefix(string(batch), "id: 1\n"), "the batch starts with its first event, no chunk size")
	assert.Contains(t, string(batch), "id: "+strconv.FormatUint(lastID, 10)+"\n", "and holds its last event")
}

// A WebSocket client that fell behind gets what it missed, one message per
// event as ever, in one write: here its connection is held while a build
// runs, so all but the first of the build's events wait in the hub.
func TestWebSocketBatchGoesOutInOneWrite(t *testing.T) {
	t.Parallel()
	wl := &writeLog{}
	f := newFixture(t, fixtureOpts{wrap: func(l net.Listener) net.Listener { wl.Listener = l; return wl }})
	ws := dialWS(t, f.url, nil)
	require.Equal(t, "hello", ws.recv().Op)
	ws.send(`{"op":"subscribe","id":"s"}`)
	require.Equal(t, "ack", ws.recv().Op)
	conn := wl.conn("101 Switching Protocols")
	require.NotNil(t, conn, "the WebSocket's connection")

	before, release := conn.hold()
	res := f.build("/build/api", `{"force": true}`)
	release()
	var types []string
	for {
		m := ws.recv()
		require.Equal(t, "event", m.Op)
		types = append(types, string(m.Event.Type))
		if m.Event.Type == buildnet.EventBuildComplete && m.Event.BuildID == res.ID {
			break
		}
	}
	assert.Equal(t, "build:start", types[0])
	assert.Greater(t, len(types), 4, "a build of two packages, with output")
	// The write the gate held (with the first events), then one with
	// the rest; with the first events late, one write with all of them.
	assert.LessOrEqual(t, len(conn.writesSince(before)), 2, "the build's events came in one write after the first")
}
