package buildnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/graph"
	"github.com/musclemap/buildnet/hash"
	"github.com/musclemap/buildnet/internal/fileset"
	"github.com/musclemap/buildnet/internal/sched"
	"github.com/musclemap/buildnet/state"
)

// Config configures an [Engine]. Zero values mean the documented defaults.
// It crosses the C and Node boundaries as one JSON document; fields that
// hold Go values are not part of that document.
type Config struct {
	// Root is the workspace root, the folder holding .buildnet/. Required.
	Root string `json:"root"`
	// StateDir holds config.json, state.db and the default cache; ""
	// means <Root>/.buildnet.
	StateDir string `json:"state_dir,omitempty"`
	// Workspace, when set, is used instead of reading
	// <StateDir>/config.json. It is validated against Root.
	Workspace *Workspace `json:"workspace,omitempty"`
	// Concurrency bounds the build commands running at once; 0 means the
	// workspace's setting, then the number of CPUs.
	Concurrency int `json:"concurrency,omitempty"`
	// Env is the environment of build commands and the source of the
	// values of the env vars the workspace hashes; nil means the current
	// process's environment.
	Env []string `json:"env,omitempty"`
	// DiscardNoops leaves out of the history the builds in which every
	// package was an instant_skip: nothing changed and nothing ran, so a
	// short-lived process (the CLI) does not pay to write that down.
	// Builds that did anything are always recorded.
	DiscardNoops bool `json:"discard_noops,omitempty"`
	// ReadOnly opens the state without writing to it and no cache: such
	// an engine can only [Engine.Plan]. A dry run uses it so that the
	// workspace stays byte for byte as it was.
	ReadOnly bool `json:"read_only,omitempty"`

	// Store persists state; nil means SQLite at <StateDir>/state.db.
	Store state.Store `json:"-"`
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger `json:"-"`
	// Registry provides the runners, hash algorithms, cache backends and
	// notifiers the configuration names; nil means [NewRegistry].
	Registry *Registry `json:"-"`
}

// Engine builds the packages of one workspace. It is safe for concurrent
// use: concurrent builds share work, and never run the same package twice
// at once.
type Engine struct {
	root     string
	stateDir string
	env      []string
	envMap   map[string]string
	log      *slog.Logger
	store    state.Store
	ownStore bool
	cache    *cache.Cache // nil when read-only
	cacheDir string
	readOnly bool
	// discardNoops is Config.DiscardNoops.
	discardNoops bool
	registry     *Registry
	bus          *bus
	syscalls     atomic.Int64 // file system calls made scanning sources and outputs

	records      chan recordJob // build records, written in order by the recorder
	recorderDone chan struct{}
	finished     atomic.Int64 // builds recorded, to pace pruning

	// pendMu guards the package states and manifests waiting for the
	// recorder (see persistLater).
	pendMu        sync.Mutex
	pendStates    []state.PackageState
	pendManifests []state.ManifestRecord
	remote        remoteState // the remote cache, made on first use (remote.go)

	ctx    context.Context // ends when the engine closes
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup

	// mu guards everything below.
	mu          sync.Mutex
	closed      bool
	ws          *Workspace
	graph       *graph.Graph
	index       *pkgIndex // of ws
	concurrency int
	slots       *sched.Scheduler // bounds and orders build commands
	flights     map[string]*flight
	runs        map[string]*run
	latest      map[string]state.PackageState // written by this engine
	evicting    bool
	secret      []byte
	hasher      *hash.Hasher
	watch       *watchState // nil unless Watch runs
	// fixedConcurrency is set when Config.Concurrency overrides the
	// workspace's setting.
	fixedConcurrency bool
}

// Open validates cfg, reads the workspace configuration and opens the
// state store and cache. The caller must Close the engine.
func Open(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.Root == "" {
		return nil, &ConfigError{Field: "root", Msg: "missing: the workspace root"}
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("open engine: %w", err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, &ConfigError{Field: "root", Msg: fmt.Sprintf("%s is not a directory", root), Err: err}
	}
	stateDir := cfg.StateDir
	if stateDir == "" {
		stateDir = filepath.Join(root, ".buildnet")
	}
	ws := cfg.Workspace
	if ws == nil {
		if ws, err = LoadWorkspace(root); err != nil {
			return nil, err
		}
	} else {
		c := ws.clone()
		if err := c.Validate(root); err != nil {
			return nil, err
		}
		ws = c
	}
	g, err := ws.graph()
	if err != nil {
		return nil, err
	}
	e := &Engine{
		root:         root,
		stateDir:     stateDir,
		readOnly:     cfg.ReadOnly,
		discardNoops: cfg.DiscardNoops,
		env:          cfg.Env,
		log:          cfg.Logger,
		store:        cfg.Store,
		registry:     cfg.Registry,
		bus:          newBus(),
		ws:           ws,
		graph:        g,
		index:        newPkgIndex(ws),
		flights:      map[string]*flight{},
		runs:         map[string]*run{},
		latest:       map[string]state.PackageState{},
	}
	if e.env == nil {
		e.env = os.Environ()
	}
	e.envMap = make(map[string]string, len(e.env))
	for _, kv := range e.env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			e.envMap[k] = v
		}
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.registry == nil {
		e.registry = NewRegistry()
	}
	if e.hasher, err = e.newHasher(ws); err != nil {
		return nil, err
	}
	e.concurrency = cfg.Concurrency
	e.fixedConcurrency = cfg.Concurrency > 0
	if e.concurrency <= 0 {
		e.concurrency = ws.Concurrency
	}
	if e.concurrency <= 0 {
		e.concurrency = runtime.NumCPU()
	}
	e.slots = sched.New(e.concurrency)
	cacheDir := ws.Cache.Dir
	switch {
	case cacheDir == "":
		cacheDir = filepath.Join(stateDir, "cache")
	case !filepath.IsAbs(cacheDir):
		cacheDir = filepath.Join(root, filepath.FromSlash(cacheDir))
	}
	e.cacheDir = cacheDir
	if !e.readOnly {
		if err := os.MkdirAll(stateDir, 0o755); err != nil {
			return nil, fmt.Errorf("open engine: %w", err)
		}
		maxSize := int64(ws.Cache.MaxSize)
		if maxSize == 0 {
			maxSize = DefaultMaxCacheSize
		}
		e.cache, err = cache.Open(cacheDir, cache.Options{MaxSize: maxSize, MaxAge: time.Duration(ws.Cache.MaxAge), Logger: e.log.With("component", "cache")})
		if err != nil {
			return nil, fmt.Errorf("open engine: %w", err)
		}
	}
	if e.store == nil {
		db, err := state.Open(ctx, filepath.Join(stateDir, "state.db"), state.Options{Logger: e.log.With("component", "state"), ReadOnly: e.readOnly})
		if err != nil {
			if e.cache != nil {
				e.cache.Close()
			}
			return nil, fmt.Errorf("open engine: %w", err)
		}
		e.store, e.ownStore = db, true
	}
	e.ctx, e.cancel = context.WithCancelCause(context.Background())
	e.startRecorder()
	e.bus.onDrop = func() { e.log.Warn("event subscriber dropped", "reason", ErrSlowSubscriber) }
	return e, nil
}

// Close cancels running builds, waits for them to be recorded and
// releases the store and cache. Further calls return [ErrClosed].
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	e.closed = true
	e.mu.Unlock()
	e.cancel(ErrClosed)
	e.wg.Wait()
	e.stopRecorder()
	e.closeRemote() // flushes uploads, which read the cache
	e.bus.close()
	var errs []error
	if e.cache != nil {
		if err := e.cache.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if e.ownStore {
		if c, ok := e.store.(interface{ Close() error }); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Root returns the absolute workspace root.
func (e *Engine) Root() string { return e.root }

// StateDir returns the directory holding state and cache.
func (e *Engine) StateDir() string { return e.stateDir }

// Store returns the state store. Its reads first wait for the build
// records the engine has queued, so they never miss a finished build.
func (e *Engine) Store() state.Store { return flushingStore{e: e, inner: e.store} }

// Cache returns the local cache; nil for a read-only engine.
func (e *Engine) Cache() *cache.Cache { return e.cache }

// ErrReadOnly is returned for work a read-only engine cannot do.
var ErrReadOnly = errors.New("buildnet: engine opened read-only")

// Workspace returns a copy of the current configuration.
func (e *Engine) Workspace() Workspace {
	e.mu.Lock()
	defer e.mu.Unlock()
	return *e.ws.clone()
}

// Graph returns the package graph of the current configuration. The
// graph is immutable.
func (e *Engine) Graph() *graph.Graph {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.graph
}

// HasherCounters reports how many files the engine has read to hash
// them since it opened.
func (e *Engine) HasherCounters() hash.Counters {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hasher.Counters()
}

// Registry returns the engine's plugin registry.
func (e *Engine) Registry() *Registry { return e.registry }

// newHasher checks that every component ws names is registered and
// returns a hasher for its content hash.
func (e *Engine) newHasher(ws *Workspace) (*hash.Hasher, error) {
	alg, err := e.registry.Hash(cmpOr(ws.Hash, DefaultHash))
	if err != nil {
		return nil, &ConfigError{Field: "hash", Msg: err.Error(), Err: err}
	}
	for i, p := range ws.Packages {
		if _, err := e.registry.Runner(cmpOr(p.Runner, DefaultRunner)); err != nil {
			return nil, &ConfigError{Field: fmt.Sprintf("packages[%d] (%s).runner", i, p.Name), Msg: err.Error(), Err: err}
		}
	}
	if t := ws.Cache.Remote.Type; !ws.Cache.Remote.builtin() {
		if _, err := e.registry.Backend(t); err != nil {
			return nil, &ConfigError{Field: "cache.remote.type", Msg: err.Error(), Err: err}
		}
	}
	return hash.NewHasherWith(0, alg), nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// StatCalls reports how many file system calls (lstat, open, getdents)
// the engine has made scanning sources and outputs since it opened.
func (e *Engine) StatCalls() int64 { return e.syscalls.Load() }

// Subscribe returns a subscription to every event the engine publishes
// from now on. buffer bounds the events held for a slow reader (0 means
// 1024); a reader that lets it fill is dropped ([ErrSlowSubscriber]). The
// subscription ends when ctx ends, on Close, or when the engine closes.
func (e *Engine) Subscribe(ctx context.Context, buffer int) *Subscription {
	return e.bus.subscribe(ctx, buffer)
}

// Publish sends an event of the consumer's own (such as
// [EventConfigReloaded]) to every subscriber.
func (e *Engine) Publish(ev Event) Event { return e.bus.publish(ev) }

// CacheStats reports the local cache's statistics.
func (e *Engine) CacheStats(ctx context.Context) (cache.Stats, error) {
	if e.cache == nil {
		return cache.Stats{}, ErrReadOnly
	}
	return e.cache.Stats(ctx)
}

// ClearCache empties the local cache and publishes [EventCacheCleared].
// Package state is kept, so unchanged packages still skip.
func (e *Engine) ClearCache(ctx context.Context) error {
	if e.cache == nil {
		return ErrReadOnly
	}
	if err := e.cache.Clear(ctx); err != nil {
		return fmt.Errorf("clear cache: %w", err)
	}
	e.bus.publish(Event{Type: EventCacheCleared})
	return nil
}

// History returns recorded builds, newest first.
func (e *Engine) History(ctx context.Context, q state.Query) ([]state.Build, string, error) {
	return e.Store().Builds(ctx, q)
}

// Build builds the requested packages and their dependencies and returns
// the result. When ctx ends the build is cancelled: work that another
// build also waits for carries on for it. The error is non-nil only when
// the build could not run at all (bad request, closed engine); a build
// with failed packages returns a result with status failed.
func (e *Engine) Build(ctx context.Context, req Request) (*BuildResult, error) {
	r, err := e.Start(req)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { r.cancel(context.Cause(ctx)) })
	defer stop()
	<-r.done
	return r.result, nil
}

// Run is a build in progress, returned by [Engine.Start].
type Run struct{ r *run }

// ID returns the build id.
func (r Run) ID() string { return r.r.id }

// Wait blocks until the build ends or ctx does (the build goes on).
func (r Run) Wait(ctx context.Context) (*BuildResult, error) {
	select {
	case <-r.r.done:
		return r.r.result, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// Done is closed when the build has ended.
func (r Run) Done() <-chan struct{} { return r.r.done }

// Cancel cancels the build.
func (r Run) Cancel() { r.r.cancel(errCancelled) }

var errCancelled = errors.New("build cancelled")

// StartBuild starts a build in the background and returns at once. It runs
// until it ends or is cancelled with [Run.Cancel] or [Engine.Cancel].
func (e *Engine) StartBuild(req Request) (Run, error) {
	r, err := e.Start(req)
	if err != nil {
		return Run{}, err
	}
	return Run{r}, nil
}

// Cancel cancels the running build with the given id.
func (e *Engine) Cancel(id string) error {
	e.mu.Lock()
	r := e.runs[id]
	e.mu.Unlock()
	if r == nil {
		return fmt.Errorf("cancel %s: %w", id, ErrBuildNotFound)
	}
	r.cancel(errCancelled)
	return nil
}

// QueuedPackage is a package execution waiting for a free slot.
type QueuedPackage struct {
	BuildID   string    `json:"build_id"`
	Package   string    `json:"package"`
	Requester string    `json:"requester"`
	Priority  int       `json:"priority"`
	Since     time.Time `json:"since"`
}

// Queue returns the package executions waiting for a slot, in the order
// they will run: higher priorities first, requesters taking turns.
func (e *Engine) Queue() []QueuedPackage {
	var out []QueuedPackage
	for _, t := range e.slots.Queue() {
		id, pkg, _ := strings.Cut(t.Label, "/")
		out = append(out, QueuedPackage{BuildID: id, Package: pkg, Requester: t.Requester, Priority: t.Priority, Since: t.Since})
	}
	return out
}

// Priorities a [Request] may carry.
const (
	PriorityLow    = -1
	PriorityNormal = 0
	PriorityHigh   = 1
)

// ParsePriority reads "low", "normal", "high" (or "" for normal).
func ParsePriority(s string) (int, error) {
	switch s {
	case "low":
		return PriorityLow, nil
	case "", "normal":
		return PriorityNormal, nil
	case "high":
		return PriorityHigh, nil
	}
	return 0, fmt.Errorf("unknown priority %q: want low, normal or high", s)
}

// ActiveBuilds returns the ids of the builds in progress, oldest first.
func (e *Engine) ActiveBuilds() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]string, 0, len(e.runs))
	for id := range e.runs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func newBuildID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102-150405.000000") + "-" + hex.EncodeToString(b[:])
}

// Plan computes what a build of req would do — each package's digest,
// tier and reasons — without running anything or writing anything: not
// the outputs, not the cache, not the state. A later build with nothing
// changed in between gets exactly the planned tiers (a command that fails
// aside).
func (e *Engine) Plan(ctx context.Context, req Request) (*BuildResult, error) {
	req.DryRun = true
	return e.Build(ctx, req)
}

// Select returns the packages req names, in build order, with their
// dependencies, and any warning (such as a fallback to every package).
func (e *Engine) Select(ctx context.Context, req Request) ([]string, []string, error) {
	e.mu.Lock()
	ws, g := e.ws, e.graph
	e.mu.Unlock()
	return e.selectPackages(ctx, ws, g, req)
}

// Affected returns the packages whose inputs changed in rng and their
// dependents, in build order, without their dependencies.
func (e *Engine) Affected(ctx context.Context, rng GitRange) ([]string, []string, error) {
	e.mu.Lock()
	ws, g := e.ws, e.graph
	e.mu.Unlock()
	return e.affected(ctx, ws, g, rng)
}

func (e *Engine) affected(ctx context.Context, ws *Workspace, g *graph.Graph, rng GitRange) ([]string, []string, error) {
	files, shallow, err := changedFiles(ctx, e.root, rng)
	if err != nil {
		return nil, nil, err
	}
	base := rng.Base
	if base == "" {
		base = "main"
	}
	if shallow {
		return g.Topo(), []string{fmt.Sprintf("shallow clone: history does not reach %s, so every package is selected (fetch more history with `git fetch --unshallow` or a deeper checkout)", base)}, nil
	}
	changed, all := owners(ws, files)
	if all {
		return g.Topo(), []string{"a global input or the configuration changed: every package is affected"}, nil
	}
	if len(changed) == 0 {
		return []string{}, nil, nil
	}
	aff, err := g.Affected(changed...)
	return aff, nil, err
}

// selectPackages resolves req's selection against g: names, filters and
// affected packages, then their dependencies, in build order.
func (e *Engine) selectPackages(ctx context.Context, ws *Workspace, g *graph.Graph, req Request) ([]string, []string, error) {
	var warnings []string
	var names []string
	narrowed := false
	if len(req.Packages) > 0 {
		for _, n := range req.Packages {
			if !g.Has(n) {
				return nil, nil, e.unknown(n)
			}
		}
		names, narrowed = slices.Clone(req.Packages), true
	}
	if len(req.Filters) > 0 {
		sel, err := SelectFilters(ws, g, req.Filters)
		if err != nil {
			return nil, nil, err
		}
		names, narrowed = intersect(names, sel, narrowed), true
	}
	if req.Affected != nil {
		aff, w, err := e.affected(ctx, ws, g, *req.Affected)
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, w...)
		names, narrowed = intersect(names, aff, narrowed), true
	}
	if !narrowed {
		return g.Topo(), warnings, nil
	}
	if len(names) == 0 {
		return []string{}, warnings, nil
	}
	sel, err := g.Closure(names...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUnknownPackage, err)
	}
	return sel, warnings, nil
}

// intersect narrows a selection: the first narrowing takes b as it is.
func intersect(a, b []string, narrowed bool) []string {
	if !narrowed {
		return slices.Clone(b)
	}
	var out []string
	for _, n := range a {
		if slices.Contains(b, n) {
			out = append(out, n)
		}
	}
	return out
}

// secretKey returns the key that hashes env values in manifests.
func (e *Engine) secretKey(ctx context.Context) ([]byte, error) {
	e.mu.Lock()
	k := e.secret
	e.mu.Unlock()
	if k != nil {
		return k, nil
	}
	k, err := e.store.Secret(ctx)
	if errors.Is(err, state.ErrNotFound) {
		return []byte{}, nil // read-only and never written: nothing to compare with
	}
	if err != nil {
		return nil, fmt.Errorf("read workspace key: %w", err)
	}
	e.mu.Lock()
	e.secret = k
	e.mu.Unlock()
	return k, nil
}

// prune trims build history and input manifests to the configured depth.
func (e *Engine) prune(ctx context.Context) {
	e.mu.Lock()
	h := e.ws.History
	e.mu.Unlock()
	if _, err := e.store.PruneBuilds(ctx, h.keepBuilds()); err != nil {
		e.log.Warn("prune build history", "err", err)
	}
	if _, err := e.store.PruneManifests(ctx, h.keepManifests()); err != nil {
		e.log.Warn("prune input manifests", "err", err)
	}
}

func (ws *Workspace) graph() (*graph.Graph, error) {
	nodes := make([]graph.Node, len(ws.Packages))
	for i, p := range ws.Packages {
		nodes[i] = graph.Node{Name: p.Name, Deps: p.Dependencies}
	}
	g, err := graph.New(nodes)
	if err != nil {
		return nil, &ConfigError{Field: "packages", Msg: err.Error(), Err: err}
	}
	return g, nil
}

func (ws *Workspace) clone() *Workspace {
	c := *ws
	c.GlobalInputs = slices.Clone(ws.GlobalInputs)
	c.Env = slices.Clone(ws.Env)
	c.Packages = make([]Package, len(ws.Packages))
	for i, p := range ws.Packages {
		p.Dependencies = slices.Clone(p.Dependencies)
		p.Sources = slices.Clone(p.Sources)
		p.Env = slices.Clone(p.Env)
		c.Packages[i] = p
	}
	return &c
}

// sourceSpec is the file set of a package's sources.
func (p *Package) sourceSpec(calls *atomic.Int64) fileset.Spec {
	return fileset.Spec{
		Include:     p.Sources,
		Dir:         p.Path,
		ExcludeDirs: []string{p.OutputDir, ".buildnet"},
		SkipHidden:  len(p.Sources) == 0,
		Syscalls:    calls,
	}
}

// relToPackage returns a source path as the digest records it: relative
// to the package directory, or root-relative with a leading slash for a
// source outside it.
func (p *Package) relToPackage(rootRel string) string {
	if p.Path == "" {
		return rootRel
	}
	if strings.HasPrefix(rootRel, p.Path+"/") {
		return rootRel[len(p.Path)+1:]
	}
	return "/" + rootRel
}

func (p *Package) dir(root string) string { return filepath.Join(root, filepath.FromSlash(p.Path)) }

func (p *Package) outDir(root string) string {
	return filepath.Join(root, filepath.FromSlash(p.OutputDir))
}

// peekCache is cache.Peek, kept in one place for the engine's read-only
// lookups.
func peekCache(dir string, d hash.Digest) (*cache.Manifest, error) { return cache.Peek(dir, d) }
