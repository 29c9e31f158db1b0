package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/artifacts"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/state"
)

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{
		"status": "ok", "version": s.opts.Version, "workspace": s.e.Root(),
		"uptime_s": time.Since(s.started).Seconds(),
	})
}

// GET /status is statusHead, then "packages" (a []buildnet.PackageStatus
// encoded once per refresh of the status cache), then statusTail: the
// largest part of the answer is not encoded again for every request.
type statusHead struct {
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	UptimeS     float64   `json:"uptime_s"`
	Workspace   string    `json:"workspace"`
	Concurrency int       `json:"concurrency"`
}

type statusTail struct {
	ActiveBuilds []activeBuild            `json:"active_builds"`
	Queue        []buildnet.QueuedPackage `json:"queue"`
	Cache        cache.Stats              `json:"cache"`
	Host         hostStats                `json:"host"`
	// Caller is who asked, with the rate limit that applies to it.
	Caller *auth.Me `json:"caller,omitempty"`
}

// statusCache keeps the engine status and cache stats for up to
// statusMaxAge, or until an event changes them, so that panels polling
// /status do not each rescan the store and the cache.
type statusCache struct {
	// mu guards the fields below; it is held while refreshing, so
	// concurrent callers share one refresh.
	mu       sync.Mutex
	at       time.Time
	gen      uint64
	st       *buildnet.EngineStatus
	pkgsJSON json.RawMessage // st.Packages
	cs       cache.Stats
}

// statusMaxAge bounds how stale /status may be about changes made by
// other processes on the same workspace.
const statusMaxAge = time.Second

// engineStatus returns the engine's status, its packages encoded as
// JSON, and the cache's stats.
func (s *Server) engineStatus(ctx context.Context) (*buildnet.EngineStatus, json.RawMessage, cache.Stats, error) {
	c := &s.status
	c.mu.Lock()
	defer c.mu.Unlock()
	gen := s.hub.generation()
	if c.st != nil && c.gen == gen && time.Since(c.at) < statusMaxAge {
		return c.st, c.pkgsJSON, c.cs, nil
	}
	st, err := s.e.Status(ctx)
	if err != nil {
		return nil, nil, cache.Stats{}, err
	}
	cs, err := s.e.CacheStats(ctx)
	if err != nil {
		return nil, nil, cache.Stats{}, err
	}
	pkgs, err := json.Marshal(st.Packages)
	if err != nil {
		return nil, nil, cache.Stats{}, err
	}
	c.st, c.pkgsJSON, c.cs, c.gen, c.at = st, pkgs, cs, gen, time.Now()
	return st, pkgs, cs, nil
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	st, pkgs, cs, err := s.engineStatus(r.Context())
	if err != nil {
		return err
	}
	active, err := s.activeBuilds(r.Context())
	if err != nil {
		return err
	}
	queue := s.e.Queue()
	if queue == nil {
		queue = []buildnet.QueuedPackage{}
	}
	head, err := json.Marshal(statusHead{Version: s.opts.Version, StartedAt: s.started, UptimeS: time.Since(s.started).Seconds(),
		Workspace: st.Root, Concurrency: st.Concurrency})
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	tail, err := json.Marshal(statusTail{ActiveBuilds: active, Queue: queue, Cache: cs, Host: s.hostStats(), Caller: s.describe(r)})
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	b := make([]byte, 0, len(head)+len(pkgs)+len(tail)+16)
	b = append(append(b, head[:len(head)-1]...), `,"packages":`...)
	b = append(append(append(b, pkgs...), ','), tail[1:]...)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, err = w.Write(append(b, '\n'))
	return err
}

// activeBuilds describes the engine's running builds, from the hub's live
// view or, for a build whose start the hub has not seen yet, the store.
func (s *Server) activeBuilds(ctx context.Context) ([]activeBuild, error) {
	ids := s.e.ActiveBuilds()
	out := make([]activeBuild, 0, len(ids))
	for _, id := range ids {
		a, ok := s.hub.active(id)
		if !ok {
			b, err := s.e.Store().Build(ctx, id)
			if err != nil && !errors.Is(err, state.ErrNotFound) {
				return nil, err
			}
			a.Requester, a.StartedAt = b.Requester, b.StartedAt
		}
		out = append(out, a)
	}
	return out, nil
}

// buildBody is the optional body of POST /build.
type buildBody struct {
	Packages []string `json:"packages"`
	Force    bool     `json:"force"`
	Priority priority `json:"priority"`
	// Requester is accepted for compatibility and ignored: the
	// requester is the authenticated user or key.
	Requester string `json:"requester"`
	// Filters, Affected and DryRun are those of buildnet.Request.
	Filters  []string           `json:"filters"`
	Affected *buildnet.GitRange `json:"affected"`
	DryRun   bool               `json:"dry_run"`
}

// priority reads "low", "normal", "high" or an integer.
type priority int

func (p *priority) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		*p = priority(n)
		return nil
	}
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return fmt.Errorf("priority: want \"low\", \"normal\", \"high\" or an integer")
	}
	n, err := buildnet.ParsePriority(name)
	if err != nil {
		return fmt.Errorf("priority: %w", err)
	}
	*p = priority(n)
	return nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errorf(http.StatusBadRequest, codeBadRequest, "query parameter %s=%q: want true or false", name, v)
	}
	return b, nil
}

func (s *Server) postBuild(w http.ResponseWriter, r *http.Request) error {
	if s.shuttingDown() {
		return errorf(http.StatusServiceUnavailable, codeShuttingDown, "buildnetd is shutting down")
	}
	wait, err := boolParam(r, "wait")
	if err != nil {
		return err
	}
	stream, err := boolParam(r, "stream")
	if err != nil {
		return err
	}
	if dir := r.URL.Query().Get("workspace"); dir != "" && !s.serves(dir) {
		return errorf(http.StatusConflict, codeOtherWorkspace, "this daemon serves the workspace %s, not %s", s.e.Root(), dir)
	}
	var body buildBody
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if p := r.PathValue("package"); p != "" {
		body.Packages = []string{p}
	}
	if slices.Contains(body.Packages, "") {
		return errorf(http.StatusBadRequest, codeBadRequest, "empty package name")
	}
	// The requester is who authenticated: the scheduler takes turns
	// between requesters, and a build role may cancel only its own.
	c := caller(r)
	requester := c.Actor()
	req := buildnet.Request{
		Packages: body.Packages, Force: body.Force, Requester: requester, Priority: int(body.Priority),
		Filters: body.Filters, Affected: body.Affected,
	}
	if body.DryRun {
		// A plan runs nothing and writes nothing: answer at once.
		res, err := s.e.Plan(r.Context(), req)
		if err != nil {
			return s.withSuggestions(err, body.Packages)
		}
		return writeResult(w, res)
	}
	var bs *buildStream
	if stream {
		// Subscribed before the build starts: none of its events is missed.
		if bs, err = s.openBuildStream(w, r); err != nil {
			return err
		}
		defer s.closeBuildStream(bs)
	}
	run, err := s.e.StartBuild(req)
	if err != nil {
		auth.Annotate(r.Context(), "", map[string]any{"packages": body.Packages, "error": err.Error()})
		return s.withSuggestions(err, body.Packages)
	}
	s.auth.Sessions().AddBuild(c.Session, run.ID())
	auth.Annotate(r.Context(), run.ID(), map[string]any{"packages": body.Packages, "force": body.Force, "priority": int(body.Priority)})
	s.log.Info("build started", "build", run.ID(), "requester", requester, "session", c.Session, "packages", body.Packages, "force", body.Force, "remote", r.RemoteAddr)
	if stream {
		return s.streamBuild(w, r, run, bs)
	}
	if !wait {
		return writeJSON(w, http.StatusAccepted, map[string]string{"id": run.ID(), "status": string(buildnet.StatusRunning)})
	}
	// The build may take long: lift the request's deadlines. The client
	// leaving ends the wait, not the build.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	// The trigger is audited while the build runs, not after it behind
	// the build's own records; the answer still waits for it.
	audited := auth.CommitAudit(r.Context(), http.StatusOK)
	res, err := run.Wait(r.Context())
	<-audited
	if err != nil {
		return err
	}
	return writeResult(w, res)
}

// withSuggestions adds to an unknown-package error the names close to
// the first requested name the workspace does not have.
func (s *Server) withSuggestions(err error, names []string) error {
	if !errors.Is(err, buildnet.ErrUnknownPackage) {
		return err
	}
	ae := toAPIError(err)
	g := s.e.Graph()
	for _, n := range names {
		if !g.Has(n) {
			ae.Suggestions = append([]string{}, g.Similar(n, maxSuggestions)...)
			break
		}
	}
	return ae
}

// buildsResponse is the body of GET /builds.
type buildsResponse struct {
	Builds []state.Build `json:"builds"`
	Next   string        `json:"next"`
}

func (s *Server) listBuilds(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	q := state.Query{
		Package: v.Get("package"), Status: v.Get("status"), Tier: v.Get("tier"),
		Requester: v.Get("requester"), Search: v.Get("q"), Cursor: v.Get("cursor"),
	}
	var err error
	if q.Since, err = timeParam(v.Get("since"), "since"); err != nil {
		return err
	}
	if q.Until, err = timeParam(v.Get("until"), "until"); err != nil {
		return err
	}
	if q.Limit, err = intParam(v.Get("limit"), "limit"); err != nil {
		return err
	}
	builds, next, err := s.e.History(r.Context(), q)
	if err != nil {
		return err
	}
	for i := range builds {
		s.withLive(&builds[i])
	}
	return writeJSON(w, http.StatusOK, buildsResponse{Builds: builds, Next: next})
}

// withLive fills in the packages finished so far of a running build.
func (s *Server) withLive(b *state.Build) {
	if b.Status != state.StatusRunning || len(b.Packages) > 0 {
		return
	}
	if res, ok := s.hub.liveResults(b.ID); ok {
		b.Packages = res
	}
}

func timeParam(v, name string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errorf(http.StatusBadRequest, codeBadRequest, "query parameter %s=%q: want an RFC 3339 time", name, v)
	}
	return t, nil
}

func intParam(v, name string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, codeBadRequest, "query parameter %s=%q: want a non-negative integer", name, v)
	}
	return n, nil
}

func (s *Server) build(ctx context.Context, id string) (state.Build, error) {
	b, err := s.e.Store().Build(ctx, id)
	if errors.Is(err, state.ErrNotFound) {
		return b, errorf(http.StatusNotFound, codeNotFound, "build %q not found", id)
	}
	return b, err
}

func (s *Server) getBuild(w http.ResponseWriter, r *http.Request) error {
	b, err := s.build(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	s.withLive(&b)
	return writeJSON(w, http.StatusOK, b)
}

func (s *Server) getLog(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	b, err := s.build(r.Context(), id)
	if err != nil {
		return err
	}
	v := r.URL.Query()
	keepANSI := true
	if a := v.Get("ansi"); a != "" {
		if keepANSI, err = strconv.ParseBool(a); err != nil {
			return errorf(http.StatusBadRequest, codeBadRequest, "query parameter ansi=%q: want true or false", a)
		}
	}
	download, err := boolParam(r, "download")
	if err != nil {
		return err
	}
	var (
		pkgs []string // the build's packages, in order
		logs = map[string][]byte{}
	)
	live := false
	if b.Status == state.StatusRunning {
		pkgs, logs, live = s.hub.liveLogs(id)
	}
	if !live {
		for _, p := range b.Packages {
			pkgs = append(pkgs, p.Package)
			l, err := s.e.Store().Log(r.Context(), id, p.Package)
			switch {
			case errors.Is(err, state.ErrNotFound):
			case err != nil:
				return err
			default:
				logs[p.Package] = l
			}
		}
	}
	var out []byte
	name := "build-" + id + ".log"
	if one := v.Get("package"); one != "" {
		if !slices.Contains(pkgs, one) && !slices.Contains(b.Targets, one) {
			return errorf(http.StatusNotFound, codeNotFound, "package %q is not part of build %s", one, id)
		}
		out = logs[one]
		name = "build-" + id + "-" + one + ".log"
	} else {
		for _, p := range pkgs {
			l, ok := logs[p]
			if !ok {
				continue
			}
			if len(out) > 0 {
				out = append(out, '\n')
			}
			out = append(out, "==> "+p+" <==\n"...)
			out = append(out, l...)
			if len(l) > 0 && l[len(l)-1] != '\n' {
				out = append(out, '\n')
			}
		}
	}
	if !keepANSI {
		out = stripANSI(out)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if download {
		w.Header().Set("Content-Disposition", `attachment; filename="`+safeFileName(name)+`"`)
	}
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(out)
	return err
}

// safeFileName keeps a header-safe file name.
func safeFileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' || r == '/' {
			return '_'
		}
		return r
	}, s)
}

// describe describes the caller of r.
func (s *Server) describe(r *http.Request) *auth.Me {
	c := caller(r)
	if c == nil {
		return nil
	}
	me := s.auth.Describe(c)
	return &me
}

// buildOwner returns who asked for build id: its requester, else the
// actor of the session that asked for it.
func (s *Server) buildOwner(ctx context.Context, id string) string {
	if a, ok := s.hub.active(id); ok && a.Requester != "" {
		return a.Requester
	}
	if b, err := s.e.Store().Build(ctx, id); err == nil && b.Requester != "" {
		return b.Requester
	}
	if sid, ok := s.auth.Sessions().BuildSession(id); ok {
		if info, ok := s.auth.Sessions().Info(sid); ok {
			return info.Actor
		}
	}
	return ""
}

// mayCancel checks that c may cancel build id: its own, or anyone's with
// auth.PermCancelAny.
func (s *Server) mayCancel(ctx context.Context, c *auth.Caller, id string) error {
	owner := s.buildOwner(ctx, id)
	auth.Annotate(ctx, id, map[string]any{"owner": owner})
	if owner == "" || owner == c.Actor() {
		return nil // unknown: the cancel answers 404
	}
	return s.auth.Check(ctx, c, auth.PermCancelAny, actionBuildCancel, id)
}

func (s *Server) cancelBuild(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.mayCancel(r.Context(), caller(r), id); err != nil {
		return err
	}
	if err := s.e.Cancel(id); err != nil {
		if !errors.Is(err, buildnet.ErrBuildNotFound) {
			return err
		}
		if _, err := s.build(r.Context(), id); err != nil {
			return err
		}
		return errorf(http.StatusConflict, codeConflict, "build %s has already finished", id)
	}
	s.log.Info("build cancel requested", "build", id, "by", caller(r).Actor(), "remote", r.RemoteAddr)
	return writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": "cancelling"})
}

// cacheStatsBody is GET /cache/stats: the local cache's statistics, the
// engine's remote cache client's under "remote", and the remote cache the
// daemon serves, if any, under "artifacts".
type cacheStatsBody struct {
	cache.Stats
	Remote    buildnet.RemoteStats `json:"remote"`
	Artifacts *artifacts.Stats     `json:"artifacts,omitempty"`
}

func (s *Server) cacheStats(w http.ResponseWriter, r *http.Request) error {
	cs, err := s.e.CacheStats(r.Context())
	if err != nil {
		return err
	}
	body := cacheStatsBody{Stats: cs, Remote: s.e.RemoteStats()}
	if a := s.opts.Artifacts; a != nil {
		st := a.Stats()
		body.Artifacts = &st
	}
	return writeJSON(w, http.StatusOK, body)
}

// cacheEntry is one item of GET /cache/entries.
type cacheEntry struct {
	Key       string    `json:"key"`
	Package   string    `json:"package"`
	Size      int64     `json:"size"`
	Files     int       `json:"files"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used"`
}

// Page sizes of GET /cache/entries.
const (
	defaultEntries = 100
	maxEntries     = 1000
)

func (s *Server) cacheEntries(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	limit, err := intParam(v.Get("limit"), "limit")
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = defaultEntries
	}
	limit = min(limit, maxEntries)
	offset := 0
	if c := v.Get("cursor"); c != "" {
		if offset, err = strconv.Atoi(c); err != nil || offset < 0 {
			return errorf(http.StatusBadRequest, codeBadRequest, "invalid cursor %q", c)
		}
	}
	all, err := s.e.Cache().Entries(r.Context())
	if err != nil {
		return err
	}
	offset = min(offset, len(all))
	page := all[offset:min(offset+limit, len(all))]
	out := make([]cacheEntry, len(page))
	for i, e := range page {
		out[i] = cacheEntry{Key: e.Key.String(), Package: e.Package, Size: e.Size, Files: e.Files, CreatedAt: e.CreatedAt, LastUsed: e.LastUsed}
	}
	next := ""
	if offset+limit < len(all) {
		next = strconv.Itoa(offset + limit)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"entries": out, "next": next})
}

func (s *Server) cacheClear(w http.ResponseWriter, r *http.Request) error {
	if err := s.e.ClearCache(r.Context()); err != nil {
		return err
	}
	s.log.Info("cache cleared", "remote", r.RemoteAddr)
	return writeJSON(w, http.StatusOK, map[string]bool{"cleared": true})
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, s.e.Workspace())
}

func (s *Server) graph(w http.ResponseWriter, r *http.Request) error {
	g := s.e.Graph()
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		return writeJSON(w, http.StatusOK, g)
	case "dot":
		w.Header().Set("Content-Type", "text/vnd.graphviz; charset=utf-8")
		_, err := w.Write([]byte(g.DOT()))
		return err
	default:
		return errorf(http.StatusBadRequest, codeBadRequest, "format %q: want json or dot", f)
	}
}

// serves reports whether dir names the workspace this daemon serves, once
// symbolic links are resolved: a client that sends the workspace it means
// with its build request needs no health check first.
func (s *Server) serves(dir string) bool {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	root, err := filepath.EvalSymlinks(s.e.Root())
	return err == nil && real == root
}
