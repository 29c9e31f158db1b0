package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/musclemap/buildnet/alert"
	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/artifacts"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/files"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/httpstatus"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/panel"
	"github.com/musclemap/buildnet/state"
)

// Defaults of [Options].
const (
	DefaultMaxBodyBytes   = 1 << 20
	DefaultEventBuffer    = 4096
	DefaultClientBuffer   = 4096
	DefaultShutdownGrace  = 30 * time.Second
	DefaultPingInterval   = 15 * time.Second
	DefaultRequestTimeout = 60 * time.Second
)

// Options configures a [Server]. Zero values mean the defaults.
type Options struct {
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Version is reported by /health, /status and the WebSocket hello.
	Version string
	// ListenAddr is the host:port the server is reached at. When its host
	// is a loopback name or address, requests must name a loopback host
	// (localhost, 127.0.0.1, [::1] or ListenAddr's host) in Host: a guard
	// against DNS rebinding. "" means the listener's address when served
	// by [Server.Serve], and no Host check otherwise.
	ListenAddr string
	// MaxBodyBytes bounds request bodies; 0 means 1 MiB.
	MaxBodyBytes int64
	// EventBuffer is how many recent events are kept for Last-Event-ID
	// replay; 0 means 4096.
	EventBuffer int
	// ClientBuffer is how many events may wait for one SSE or WebSocket
	// client before it is dropped as too slow; 0 means 4096. A dropped
	// SSE client that reconnects with Last-Event-ID gets what it missed
	// from the EventBuffer, so there is little point in it being larger.
	ClientBuffer int
	// PingInterval is the period of SSE keep-alive comments; 0 means 15s.
	PingInterval time.Duration
	// ShutdownGrace is how long [Server.Serve] lets running builds go on
	// after its context ends before cancelling them; 0 means 30s.
	ShutdownGrace time.Duration
	// RequestTimeout bounds reading and writing each request that is not
	// a stream or a waited-for build; 0 means 60s.
	RequestTimeout time.Duration
	// Panel serves GET /; nil means the embedded panel.
	Panel http.Handler
	// Alerts is the alerter whose history GET /alerts lists and whose
	// counters GET /metrics exports; nil means none. The caller runs and
	// closes it.
	Alerts *alert.Alerter
	// Auth authenticates, authorises, rate-limits and audits every
	// request but GET /health and the panel's files. nil means a service
	// the server makes on the engine's state store, with the settings of
	// <state dir>/security.json, that [Server.Close] closes; the server
	// then also makes sure <state dir>/admin.key holds an admin key.
	Auth *auth.Service
	// Files is the file browser of /files; nil means one on the engine's
	// workspace.
	Files *files.Browser
	// Artifacts is the remote cache served under /v8/artifacts (the
	// Turborepo protocol): reading needs the read role, uploading the
	// build role. nil serves none: those paths then answer that remote
	// caching is disabled. The caller opens and closes it.
	Artifacts *artifacts.Store
}

// Server serves the HTTP API of one engine. It is an [http.Handler] and
// safe for concurrent use. Close releases it.
type Server struct {
	e       *buildnet.Engine
	opts    Options
	log     *slog.Logger
	hub     *hub
	mux     *http.ServeMux
	cop     http.CrossOriginProtection
	started time.Time
	hostCPU *cpuSampler
	host    *hostReading
	status  statusCache
	obs     *observability // metrics and alerts

	auth      *auth.Service
	ownAuth   bool
	authErr   error // why the server could make no auth service: it then refuses every request
	files     *files.Browser
	ownFiles  bool
	db        *state.DB                       // the server's own handle on the state database; may be nil
	hosts     atomic.Pointer[map[string]bool] // nil: no Host check
	draining  chan struct{}                   // closed when shutdown begins: no new builds or streams
	drainOnce sync.Once
	stopping  chan struct{} // closed when event streams must end
	stopOnce  sync.Once
	closeOnce sync.Once
	streams   sync.WaitGroup // SSE and WebSocket handlers
}

// New returns a server for e. It subscribes to e's events at once, so
// that /events can replay everything published from now on.
func New(e *buildnet.Engine, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.EventBuffer <= 0 {
		opts.EventBuffer = DefaultEventBuffer
	}
	if opts.ClientBuffer <= 0 {
		opts.ClientBuffer = DefaultClientBuffer
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = DefaultShutdownGrace
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Panel == nil {
		opts.Panel = panel.Handler()
	}
	s := &Server{
		e: e, opts: opts, log: opts.Logger, started: time.Now(),
		draining: make(chan struct{}), stopping: make(chan struct{}), hostCPU: newCPUSampler(), host: &hostReading{},
	}
	s.hub = newHub(e, s.log, opts.EventBuffer, opts.ClientBuffer)
	s.setupObservability()
	s.setupAuth()
	if opts.ListenAddr != "" {
		s.setListenAddr(opts.ListenAddr)
	}
	s.routes()
	return s
}

// Audit actions of the server's routes.
const (
	actionBuildTrigger = "build.trigger"
	actionBuildCancel  = "build.cancel"
	actionCacheClear   = "cache.clear"
	actionConfigChange = "config.change"
	actionArtifactPut  = "artifact.put"
)

// routes registers every endpoint with the permission it needs: the one
// table of who may do what over HTTP (see auth.Perm.Role for the roles).
func (s *Server) routes() {
	m := http.NewServeMux()
	route := func(pattern string, perm auth.Perm, action string, h http.Handler) {
		m.Handle(pattern, s.guard(perm, action, h))
	}
	m.Handle("GET /health", s.api(s.health))
	route("GET /status", auth.PermRead, "", s.api(s.getStatus))
	route("POST /build", auth.PermBuild, actionBuildTrigger, s.api(s.postBuild))
	route("POST /build/{package}", auth.PermBuild, actionBuildTrigger, s.api(s.postBuild))
	route("GET /builds", auth.PermRead, "", s.api(s.listBuilds))
	route("GET /builds/{id}", auth.PermRead, "", s.api(s.getBuild))
	route("GET /builds/{id}/log", auth.PermRead, "", s.api(s.getLog))
	route("GET /builds/{id}/summary", auth.PermRead, "", s.api(s.buildSummary))
	route("GET /why/{package}", auth.PermRead, "", s.api(s.why))
	route("GET /diff", auth.PermRead, "", s.api(s.diff))
	route("GET /manifests/{digest}", auth.PermRead, "", s.api(s.manifest))
	route("GET /affected", auth.PermRead, "", s.api(s.affected))
	route("PUT /config", auth.PermConfig, actionConfigChange, s.api(s.putConfig))
	route("GET /templates", auth.PermRead, "", s.api(s.listTemplates))
	route("POST /templates/{name}/apply", auth.PermConfig, actionConfigChange, s.api(s.applyTemplate))
	// Cancelling another's build needs auth.PermCancelAny: cancelBuild
	// checks it against the build's requester.
	route("POST /builds/{id}/cancel", auth.PermBuild, actionBuildCancel, s.api(s.cancelBuild))
	route("GET /cache/stats", auth.PermRead, "", s.api(s.cacheStats))
	route("GET /cache/entries", auth.PermRead, "", s.api(s.cacheEntries))
	route("POST /cache/clear", auth.PermCacheClear, actionCacheClear, s.api(s.cacheClear))
	route("GET /config", auth.PermRead, "", s.api(s.config))
	route("GET /graph", auth.PermRead, "", s.api(s.graph))
	route("GET /metrics", auth.PermRead, "", s.api(s.metrics))
	route("GET /alerts", auth.PermRead, "", s.api(s.listAlerts))
	route("GET /events", auth.PermRead, "", s.stream(s.events))
	route("GET /ws", auth.PermRead, "", s.stream(s.websocket))
	s.artifactRoutes(m, route)
	reg := func(pattern string, stream bool, h http.Handler) {
		if s.auth == nil {
			h = s.guard(auth.PermRead, "", h) // refuses: no auth service
		}
		if !stream {
			h = s.bounded(h)
		}
		m.Handle(pattern, h)
	}
	if s.auth != nil {
		s.auth.Routes(reg)
		if s.files != nil {
			s.files.Routes(s.auth, reg)
		}
	}
	m.Handle("GET /", s.bounded(s.opts.Panel))
	m.Handle("/", s.api(s.noRoute))
	s.mux = m
}

// artifactRoutes registers the remote cache's endpoints. Downloads and
// uploads set their own, longer, deadlines.
func (s *Server) artifactRoutes(m *http.ServeMux, route func(string, auth.Perm, string, http.Handler)) {
	// turbo's --preflight carries no Origin: the artifacts package answers
	// it, without credentials. Browsers from allowed origins are answered
	// by cors first.
	m.HandleFunc("OPTIONS /v8/artifacts", artifacts.ServePreflight)
	m.HandleFunc("OPTIONS /v8/artifacts/", artifacts.ServePreflight)
	a := s.opts.Artifacts
	if a == nil {
		for _, p := range []string{"GET /v8/artifacts/", "PUT /v8/artifacts/", "POST /v8/artifacts/", "POST /v8/artifacts"} {
			route(p, auth.PermRead, "", s.bounded(http.HandlerFunc(artifacts.Disabled)))
		}
		return
	}
	route("GET /v8/artifacts/status", auth.PermRead, "", s.bounded(http.HandlerFunc(a.ServeStatus)))
	route("GET /v8/artifacts/{hash}", auth.PermRead, "", s.bounded(http.HandlerFunc(a.ServeArtifact))) // HEAD too
	m.Handle("PUT /v8/artifacts/{hash}", a.CountDenied(s.guard(auth.PermBuild, actionArtifactPut, http.HandlerFunc(a.ServeArtifact))))
	route("POST /v8/artifacts/events", auth.PermRead, "", s.bounded(http.HandlerFunc(a.ServeEvents)))
	route("POST /v8/artifacts", auth.PermRead, "", s.bounded(http.HandlerFunc(a.ServeQuery)))
}

// setListenAddr turns the Host check on when addr is on loopback.
func (s *Server) setListenAddr(addr string) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	if !isLoopback(host) {
		s.hosts.Store(nil)
		return
	}
	allowed := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true, host: true}
	s.hosts.Store(&allowed)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostAllowed reports whether the request's Host passes the DNS
// rebinding check.
func (s *Server) hostAllowed(r *http.Request) bool {
	allowed := s.hosts.Load()
	if allowed == nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	return (*allowed)[strings.ToLower(strings.Trim(host, "[]"))]
}

// ServeHTTP checks Host and cross-origin requests, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := httpstatus.Wrap(w) // a handler failing after it wrote its response writes no error over it
	start := time.Now()
	defer func() { s.observeRequest(r, sw, start) }()
	if !s.hostAllowed(r) {
		s.log.Warn("request refused: Host not allowed", "host", r.Host, "remote", r.RemoteAddr, "path", r.URL.Path)
		writeError(sw, errorf(http.StatusForbidden, codeForbidden, "host %q not allowed", r.Host))
		return
	}
	if s.cors(sw, r) {
		return // a preflight, answered
	}
	if err := s.checkOrigin(r); err != nil {
		s.log.Warn("request refused: cross-origin", "origin", r.Header.Get("Origin"), "remote", r.RemoteAddr, "path", r.URL.Path)
		writeError(sw, errorf(http.StatusForbidden, codeForbidden, "cross-origin request refused"))
		return
	}
	sw.Header().Set("X-Content-Type-Options", "nosniff")
	limit := s.opts.MaxBodyBytes
	if a := s.opts.Artifacts; a != nil && r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/v8/artifacts/") {
		limit = a.MaxArtifactSize() + 1 // the store answers 413 beyond its limit
	}
	r.Body = http.MaxBytesReader(sw, r.Body, limit)
	s.mux.ServeHTTP(sw, r)
}

// handlerFunc is an HTTP handler that returns its error for the one JSON
// error writer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// api wraps a request-response handler: its reads and writes are bounded
// by RequestTimeout.
func (s *Server) api(fn handlerFunc) http.Handler {
	return s.bounded(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.run(fn, w, r) }))
}

// bounded bounds the reads and writes of h's requests by RequestTimeout.
func (s *Server) bounded(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		deadline := time.Now().Add(s.opts.RequestTimeout)
		_ = rc.SetReadDeadline(deadline)
		_ = rc.SetWriteDeadline(deadline)
		h.ServeHTTP(w, r)
	})
}

// stream wraps an event stream handler, which runs as long as its client
// and manages its own deadlines.
func (s *Server) stream(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.run(fn, w, r) })
}

func (s *Server) run(fn handlerFunc, w http.ResponseWriter, r *http.Request) {
	err := fn(w, r)
	if err == nil {
		return
	}
	ae := toAPIError(err)
	switch {
	case ae.Status >= 500 && ae.Status != http.StatusServiceUnavailable:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	default:
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", ae.Status, "code", ae.Code, "err", err)
	}
	if sw, ok := w.(interface{ Written() bool }); ok && sw.Written() {
		return // the response has begun; the error can only be logged
	}
	if ae.Status == 499 {
		return
	}
	writeError(w, ae)
}

// noRoute answers what no route matched (GET goes to the panel).
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pat := s.mux.Handler(probe); pat != "" && pat != "/" && pat != "GET /" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return errorf(http.StatusMethodNotAllowed, codeMethod, "method %s not allowed on %s", r.Method, r.URL.Path)
	}
	return errorf(http.StatusNotFound, codeNotFound, "no endpoint %s %s", r.Method, r.URL.Path)
}

// Close stops the event hub, ending every event stream. It does not
// close the engine. Serve calls it when it returns.
func (s *Server) Close() error {
	s.beginShutdown()
	s.stopStreams()
	s.hub.close()
	s.closeObservability()
	s.closeOnce.Do(func() {
		if s.ownAuth {
			_ = s.auth.Close()
		}
		if s.ownFiles {
			_ = s.files.Close()
		}
		if s.db != nil {
			_ = s.db.Close()
		}
	})
	return nil
}

// beginShutdown refuses new builds and new event streams.
func (s *Server) beginShutdown() {
	s.drainOnce.Do(func() { close(s.draining) })
}

// stopStreams ends the event streams, once they have been sent what is
// queued for them.
func (s *Server) stopStreams() {
	s.stopOnce.Do(func() { close(s.stopping) })
}

func (s *Server) shuttingDown() bool {
	select {
	case <-s.draining:
		return true
	default:
		return false
	}
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting connections and refuses new builds, lets running builds
// finish within ShutdownGrace, cancels those still running (the engine
// records them cancelled) and waits for them; event streams get the
// builds' last events, then end; requests in flight finish. It returns
// nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.opts.ListenAddr == "" {
		s.setListenAddr(ln.Addr().String())
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		// Each client connection gets its own session.
		ConnContext: auth.ConnContext,
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// WriteTimeout stays 0: event streams and waited-for builds are
		// long; other routes bound themselves (see api).
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "cause", context.Cause(ctx), "grace", s.opts.ShutdownGrace)
	s.beginShutdown()
	shut := make(chan error, 1)
	// Shutdown closes the listener at once, then waits for requests in
	// flight; a waited-for build ends with the builds below.
	go func() { shut <- srv.Shutdown(context.WithoutCancel(ctx)) }()
	s.drainBuilds()
	// Let the streams carry the builds' build:complete before they end.
	s.hub.waitBuildsSeen(2 * time.Second)
	s.stopStreams()
	select {
	case <-shut:
	case <-time.After(5 * time.Second):
		s.log.Warn("requests still in flight after the builds ended; closing their connections")
		srv.Close()
		<-shut
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("serve", "err", err)
	}
	s.Close()
	s.streams.Wait()
	s.log.Info("stopped")
	return nil
}

// drainBuilds waits for running builds up to the grace period, then
// cancels the rest and waits for them to be recorded.
func (s *Server) drainBuilds() {
	deadline := time.Now().Add(s.opts.ShutdownGrace)
	if ids := s.e.ActiveBuilds(); len(ids) > 0 {
		s.log.Info("waiting for running builds", "builds", ids, "grace", s.opts.ShutdownGrace)
	}
	if s.waitIdle(deadline) {
		return
	}
	for _, id := range s.e.ActiveBuilds() {
		s.log.Warn("cancelling build at shutdown", "build", id, "reason", "grace period over")
		if err := s.e.Cancel(id); err != nil && !errors.Is(err, buildnet.ErrBuildNotFound) {
			s.log.Error("cancel build", "build", id, "err", err)
		}
	}
	if !s.waitIdle(time.Now().Add(30 * time.Second)) {
		s.log.Error("builds still running after cancellation", "builds", s.e.ActiveBuilds())
	}
}

// waitIdle waits until no build runs, or deadline; it reports which.
func (s *Server) waitIdle(deadline time.Time) bool {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for len(s.e.ActiveBuilds()) > 0 {
		if !time.Now().Before(deadline) {
			return false
		}
		<-t.C
	}
	return true
}
