package artifacts

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/state"
)

// clock is a settable time source.
type clock struct {
	// mu guards t.
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a store with its index and an HTTP server routing the
// protocol to it, without authentication.
type fixture struct {
	t     *testing.T
	dir   string
	db    *state.DB
	store *Store
	clock *clock
	srv   *httptest.Server
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := state.Open(t.Context(), filepath.Join(dir, "state.db"), state.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close()) })
	f := &fixture{t: t, dir: filepath.Join(dir, "artifacts"), db: db, clock: newClock()}
	opts.Dir, opts.Index, opts.Now = f.dir, db, f.clock.Now
	f.store, err = Open(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, f.store.Close()) })
	f.srv = httptest.NewServer(mux(f.store))
	t.Cleanup(f.srv.Close)
	return f
}

// mux routes the protocol as buildnetd does, less the permissions.
func mux(s *Store) *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /v8/artifacts/status", s.ServeStatus)
	m.HandleFunc("GET /v8/artifacts/{hash}", s.ServeArtifact)
	m.Handle("PUT /v8/artifacts/{hash}", s.CountDenied(http.HandlerFunc(s.ServeArtifact)))
	m.HandleFunc("POST /v8/artifacts/events", s.ServeEvents)
	m.HandleFunc("POST /v8/artifacts", s.ServeQuery)
	m.HandleFunc("OPTIONS /v8/artifacts/", ServePreflight)
	return m
}

// reopen opens a second store on the same directory and index.
func (f *fixture) reopen(opts Options) *Store {
	f.t.Helper()
	opts.Dir, opts.Index, opts.Now = f.dir, f.db, f.clock.Now
	s, err := Open(f.t.Context(), opts)
	require.NoError(f.t, err)
	return s
}

type response struct {
	status int
	header http.Header
	body   []byte
	err    error // reading the body
}

// do sends a request to the fixture's server.
func (f *fixture) do(method, path string, body []byte, header map[string]string) response {
	f.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(f.t.Context(), method, f.srv.URL+path, r)
	require.NoError(f.t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

// put uploads body as team's artifact under key.
func (f *fixture) put(team, key string, body []byte, durationMs int) response {
	f.t.Helper()
	return f.do(http.MethodPut, "/v8/artifacts/"+key+"?slug="+team, body, map[string]string{
		"Content-Type": "application/octet-stream", HeaderDuration: strconv.Itoa(durationMs)})
}

func (f *fixture) get(team, key string) response {
	f.t.Helper()
	return f.do(http.MethodGet, "/v8/artifacts/"+key+"?slug="+team, nil, nil)
}

// blobFile returns the path of team's artifact's blob under key.
func (f *fixture) blobFile(team, key string) string {
	f.t.Helper()
	a, err := f.db.Artifact(f.t.Context(), team, key)
	require.NoError(f.t, err)
	return f.store.blobPath(a.Blob)
}
