package buildnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
	"github.com/musclemap/buildnet/internal/proc"
	"github.com/musclemap/buildnet/internal/sched"
	"github.com/musclemap/buildnet/state"
)

// globalsKey is the state row holding the global inputs' snapshot. It can
// never be a package name: names may not contain slashes.
const globalsKey = "/global_inputs"

// pruneEvery is how many recorded builds may pass between two trims of
// the history.
const pruneEvery = 200

// maxLog bounds the output captured per package execution.
const maxLog = 8 << 20

// failTail is how many output lines a failed package reports.
const failTail = 20

// run is one build.
type run struct {
	e           *Engine
	id          string
	req         Request
	ws          *Workspace
	g           *graph.Graph
	ix          *pkgIndex // of ws
	sel         []string
	ctx         context.Context
	cancel      context.CancelCauseFunc
	done        chan struct{}
	result      *BuildResult
	started     time.Time
	pkgs        map[string]*pkgRun
	states      map[string]state.PackageState
	snaps       map[string]*snapshot  // decoded states known current by the watcher
	tokens      map[string]watchToken // watcher generations when the build began
	watch       *watchState           // nil unless the engine watches
	hasher      *hash.Hasher          // of the configuration the build started with
	globals     hash.Digest
	globalFiles []hash.File
	secret      []byte // keys the hashes of env values in manifests
	dry         bool   // a plan: nothing runs, nothing is written
	warnings    []string

	created sync.Once // the build's record is queued
	// firstRecord is claimed, on the recorder, by whichever writes the
	// build's first record: its start record, or its end record when no
	// start record was queued before it (then one write records all).
	firstRecord atomic.Bool

	// mu guards pending, logs and manifests.
	mu        sync.Mutex
	pending   []state.PackageState
	logs      map[string][]byte
	manifests map[string]*InputManifest // by digest, computed in this run
}

type pkgRun struct {
	p        *Package
	done     chan struct{}
	res      PackageResult
	digest   hash.Digest
	sources  []hash.File
	outputs  []hash.File
	manifest *InputManifest // nil when the package was not hashed
	final    *cleanEntry    // the state the package ended in, for the watcher
}

// Start begins a build in the background. The build is recorded before
// Start returns.
func (e *Engine) Start(req Request) (*run, error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	ws, g, ix, hasher := e.ws, e.graph, e.index, e.hasher
	if e.readOnly && !req.DryRun {
		e.mu.Unlock()
		return nil, ErrReadOnly
	}
	e.mu.Unlock()
	sel, warnings, err := e.selectPackages(e.ctx, ws, g, req)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	r := &run{
		e: e, id: newBuildID(now), req: req, ws: ws, g: g, ix: ix, hasher: hasher, sel: sel, dry: req.DryRun, warnings: warnings,
		done: make(chan struct{}), started: now,
		pkgs: make(map[string]*pkgRun, len(sel)), logs: map[string][]byte{}, manifests: map[string]*InputManifest{},
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrClosed
	}
	r.ctx, r.cancel = context.WithCancelCause(e.ctx)
	if !r.dry {
		e.runs[r.id] = r
	}
	e.wg.Add(1)
	e.mu.Unlock()
	if r.dry {
		go func() {
			defer e.wg.Done()
			r.execute()
		}()
		return r, nil
	}

	// The build's record is queued before its first package does any
	// work (decide), so that a crash shows it as interrupted; a build
	// that only skips is recorded once, whole, when it ends. Flush queues
	// the records of the builds in progress, so readers see them.
	go func() {
		defer e.wg.Done()
		r.execute()
	}()
	return r, nil
}

// recordStart queues the build's start record, once: when the first
// package has work to do, so that a crash during that work shows the
// build as interrupted, or when a reader flushes the store. A build that
// ends without one is recorded whole when it ends.
func (r *run) recordStart() {
	r.created.Do(func() {
		e := r.e
		rec := state.Build{
			ID: r.id, Status: string(StatusRunning), Requester: r.req.Requester, Priority: r.req.Priority,
			Targets: r.req.Packages, Force: r.req.Force, CreatedAt: r.started, StartedAt: r.started,
		}
		e.record(func(ctx context.Context) {
			if !r.firstRecord.CompareAndSwap(false, true) {
				return // finished already: its end record creates it
			}
			if err := e.store.CreateBuild(ctx, rec); err != nil {
				e.log.Error("record build", "build", rec.ID, "err", err)
			}
		})
	})
}

// publish sends ev to subscribers; a plan publishes nothing.
func (r *run) publish(ev Event) {
	if !r.dry {
		r.e.bus.publish(ev)
	}
}

func (r *run) execute() {
	r.publish(Event{Type: EventBuildStart, BuildID: r.id, Packages: r.sel, Requester: r.req.Requester})
	for _, name := range r.sel {
		r.pkgs[name] = &pkgRun{p: r.ix.pkg(name), done: make(chan struct{})}
	}
	err := r.prepare()
	if err != nil && r.ctx.Err() != nil {
		// Cancelled (or the engine closed) before any package started.
		for _, pr := range r.pkgs {
			pr.res = PackageResult{Name: pr.p.Name, Status: StatusCancelled, Error: "build cancelled"}
		}
		r.finish(nil)
		return
	}
	if err != nil {
		for _, pr := range r.pkgs {
			pr.res = PackageResult{Name: pr.p.Name, Status: StatusFailed, Error: err.Error()}
		}
		r.finish(err)
		return
	}
	scanSem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for _, name := range r.sel { // in topological order
		pr := r.pkgs[name]
		if r.skipInline(pr) {
			close(pr.done)
			continue
		}
		wg.Go(func() {
			defer close(pr.done)
			r.runPackage(pr, scanSem)
		})
	}
	wg.Wait()
	r.finish(nil)
}

// prepare loads package state and hashes the global inputs.
func (r *run) prepare() error {
	e := r.e
	r.snaps = map[string]*snapshot{}
	r.tokens = map[string]watchToken{}
	states := map[string]state.PackageState{}
	// While the engine watches, packages no change touched need neither
	// the store nor the disk.
	r.watch = e.watchState()
	allClean := r.watch != nil
	if r.watch != nil {
		keys := r.sel
		if len(r.ws.GlobalInputs) > 0 {
			keys = append(slices.Clone(r.sel), globalsKey)
		}
		for _, name := range keys {
			r.tokens[name] = r.watch.token(name)
			if c, ok := r.watch.cleanState(name); ok {
				states[name], r.snaps[name] = c.st, c.snap
			} else {
				allClean = false
			}
		}
	}
	if !allClean {
		stored, err := e.store.PackageStates(r.ctx)
		if err != nil {
			return fmt.Errorf("load package state: %w", err)
		}
		e.mu.Lock()
		for name, st := range e.latest {
			if cur, ok := stored[name]; !ok || st.UpdatedAt.After(cur.UpdatedAt) {
				stored[name] = st
			}
		}
		e.mu.Unlock()
		for name, st := range stored {
			if _, clean := r.snaps[name]; !clean {
				states[name] = st
			}
		}
	}
	r.states = states
	var err error
	if r.secret, err = e.secretKey(r.ctx); err != nil {
		return err
	}
	if len(r.ws.GlobalInputs) == 0 {
		return nil
	}
	if snap, ok := r.snaps[globalsKey]; ok {
		r.globals, r.globalFiles = states[globalsKey].Digest, snap.sources
		return nil
	}
	files, err := fileset.Scan(e.root, fileset.Spec{Include: r.ws.GlobalInputs, ExcludeDirs: []string{".buildnet"}, Syscalls: &e.syscalls})
	if err != nil {
		return fmt.Errorf("scan global inputs: %w", err)
	}
	var prev *snapshot
	if st, ok := states[globalsKey]; ok {
		prev, _ = decodeSnapshot(st.Snapshot)
	}
	var prevMap map[string]hash.File
	if prev != nil {
		prevMap = fileMap(prev.sources)
	}
	read, err := r.hasher.Update(r.ctx, e.root, files, prevMap)
	if err != nil {
		return fmt.Errorf("hash global inputs: %w", err)
	}
	h := hash.New()
	d := digester{h}
	d.field(digestVersion + "/globals")
	for _, f := range files {
		d.field("file", []byte(f.Path), f.Sum[:])
	}
	r.globals = hash.FromHash(h)
	r.globalFiles = files
	snap := &snapshot{sources: files}
	st := state.PackageState{Name: globalsKey, Digest: r.globals, Snapshot: snap.encode(), UpdatedAt: time.Now()}
	if len(read) > 0 || prev == nil || !sameStats(prev.sources, files) {
		r.addPending(st)
	}
	if r.watch != nil && !r.dry {
		r.watch.markClean(globalsKey, r.tokens[globalsKey], st, snap)
	}
	return nil
}

func fileMap(files []hash.File) map[string]hash.File {
	m := make(map[string]hash.File, len(files))
	for _, f := range files {
		m[f.Path] = f
	}
	return m
}

func (r *run) addPending(st state.PackageState) {
	if r.dry {
		return
	}
	r.mu.Lock()
	r.pending = append(r.pending, st)
	r.mu.Unlock()
}

func (r *run) runPackage(pr *pkgRun, scanSem chan struct{}) {
	e, p := r.e, pr.p
	pr.res.Name = p.Name
	// Scanning needs nothing from the dependencies, so it overlaps with
	// their builds.
	var err error
	if snap, ok := r.snaps[p.Name]; ok {
		pr.sources, pr.outputs = snap.sources, snap.outputs // the watcher vouches for them
	} else {
		scanSem <- struct{}{}
		pr.sources, err = fileset.Scan(e.root, p.sourceSpec(&e.syscalls))
		if err == nil {
			pr.outputs, err = e.scanOutputs(p)
		}
		<-scanSem
	}
	for _, d := range r.g.Deps(p.Name) {
		dr := r.pkgs[d]
		<-dr.done
		if dr.res.Status != StatusSuccess {
			if dr.res.Status == StatusCancelled || r.ctx.Err() != nil {
				r.complete(pr, PackageResult{Status: StatusCancelled, Error: "build cancelled"})
				return
			}
			r.complete(pr, PackageResult{
				Status: StatusSkipped,
				Error:  fmt.Sprintf("dependency %s %s", d, dependencyVerb(dr.res.Status)),
				Reason: &Reason{Kind: ReasonDependencyFailed, Dependency: d},
			})
			return
		}
	}
	if r.ctx.Err() != nil {
		r.complete(pr, PackageResult{Status: StatusCancelled, Error: "build cancelled"})
		return
	}
	if err != nil {
		r.complete(pr, PackageResult{Status: StatusFailed, Error: err.Error()})
		return
	}
	r.publish(Event{Type: EventPackageStart, BuildID: r.id, Package: p.Name})
	start := time.Now()
	res := r.decide(pr)
	if res.DurationMs == 0 {
		// Executions report their command's own time; everything else
		// the time the decision took.
		res.DurationMs = time.Since(start).Milliseconds()
	}
	r.settle(pr, res)
}

// settle completes a decided package; one that ended in a known state is
// marked clean for the watcher, which vouches for it until a change.
func (r *run) settle(pr *pkgRun, res PackageResult) {
	if r.watch != nil && !r.dry && res.Status == StatusSuccess && pr.final != nil {
		if tok, ok := r.tokens[pr.p.Name]; ok {
			r.watch.markClean(pr.p.Name, tok, pr.final.st, pr.final.snap)
		}
	}
	r.complete(pr, res)
}

// instantSkip is the result of a package that stat checks alone decided.
func instantSkip() PackageResult {
	return PackageResult{Tier: TierInstantSkip, Status: StatusSuccess, Reason: &Reason{Kind: ReasonUnchangedStat}}
}

// skipInline completes pr at once, on the build's own goroutine, when
// nothing can have changed for it: the watcher vouches for its files, its
// dependencies are done and successful, its configuration key and
// dependency digests match its snapshot, and no flight runs it. It is the
// path of a watching engine's no-op build, so that one costs no goroutine
// per package. It reports false, having done nothing, for any package that
// needs runPackage.
func (r *run) skipInline(pr *pkgRun) bool {
	p := pr.p
	snap, ok := r.snaps[p.Name]
	if !ok || r.req.Force || r.ctx.Err() != nil {
		return false
	}
	prevState, ok := r.states[p.Name]
	if !ok {
		return false
	}
	for _, d := range r.g.Deps(p.Name) {
		dr := r.pkgs[d]
		select {
		case <-dr.done:
			if dr.res.Status != StatusSuccess {
				return false
			}
		default:
			return false
		}
	}
	deps := r.depDigests(p)
	if snap.configKey != r.configKey(p) || !sameDeps(snap.deps, deps) || r.e.flightOf(p.Name) != nil {
		return false
	}
	pr.sources, pr.outputs = snap.sources, snap.outputs
	pr.digest = prevState.Digest
	pr.final = &cleanEntry{st: prevState, snap: snap}
	r.publish(Event{Type: EventPackageStart, BuildID: r.id, Package: p.Name})
	r.settle(pr, instantSkip())
	return true
}

func dependencyVerb(s Status) string {
	if s == StatusSkipped {
		return "was skipped"
	}
	return "failed"
}

func (e *Engine) scanOutputs(p *Package) ([]hash.File, error) {
	files, err := fileset.Scan(e.root, fileset.Spec{Dir: p.OutputDir, Syscalls: &e.syscalls})
	if err != nil {
		return nil, fmt.Errorf("scan outputs: %w", err)
	}
	return files, nil
}

// complete records a package's result and publishes it.
func (r *run) complete(pr *pkgRun, res PackageResult) {
	res.Name = pr.p.Name
	if !pr.digest.IsZero() && res.Digest == "" {
		res.Digest = pr.digest.String()
	}
	pr.res = res
	d := res.DurationMs
	r.publish(Event{
		Type: EventPackageComplete, BuildID: r.id, Package: res.Name, Tier: res.Tier, Status: res.Status,
		DurationMs: &d, Digest: res.Digest, Error: res.Error, Reason: res.Reason,
	})
}

// envNames returns the env vars hashed for p, sorted.
func (r *run) envNames(p *Package) []string {
	names := slices.Concat(r.ws.Env, p.Env)
	slices.Sort(names)
	return slices.Compact(names)
}

// envDigest adds p's hashed environment to d: names sorted, with whether
// each is set and its value.
func (r *run) envDigest(d digester, p *Package) {
	for _, n := range r.envNames(p) {
		v, ok := r.e.envMap[n]
		set := []byte{0}
		if ok {
			set[0] = 1
		}
		d.field("env", []byte(n), set, []byte(v))
	}
}

// pluginDigest adds the runner and content hash when they are not the
// defaults, so that digests made with the defaults never change.
func (r *run) pluginDigest(d digester, p *Package) {
	if p.Runner != "" && p.Runner != DefaultRunner {
		d.field("runner", []byte(p.Runner))
	}
	if r.ws.Hash != "" && r.ws.Hash != DefaultHash {
		d.field("hash", []byte(r.ws.Hash))
	}
}

// configKey digests everything about p except its source files and
// dependencies: when it matches, stat checks alone can decide.
func (r *run) configKey(p *Package) hash.Digest {
	return r.ix.configKey(p.Name, r.globals, func() hash.Digest { return r.computeConfigKey(p) })
}

func (r *run) computeConfigKey(p *Package) hash.Digest {
	h := hash.New()
	d := digester{h}
	d.field(digestVersion + "/config")
	d.field("package", []byte(p.Name), []byte(p.Path), []byte(p.OutputDir))
	d.field("cmd", []byte(p.BuildCmd))
	d.field("hooks", []byte(p.Hooks.PreBuild), []byte(p.Hooks.PostBuild))
	d.field("sources", []byte(strings.Join(p.Sources, "\x00")))
	r.pluginDigest(d, p)
	r.envDigest(d, p)
	d.field("globals", r.globals[:])
	return hash.FromHash(h)
}

// inputDigest is the package's input digest as DESIGN.md defines it.
func (r *run) inputDigest(p *Package, sources []hash.File, deps []depDigest) hash.Digest {
	h := hash.New()
	d := digester{h}
	d.field(digestVersion)
	d.field("name", []byte(p.Name))
	d.field("cmd", []byte(p.BuildCmd))
	d.field("hooks", []byte(p.Hooks.PreBuild), []byte(p.Hooks.PostBuild))
	d.field("output_dir", []byte(p.relToPackage(p.OutputDir)))
	r.pluginDigest(d, p)
	rel := make([]hash.File, len(sources))
	for i, f := range sources {
		f.Path = p.relToPackage(f.Path)
		rel[i] = f
	}
	slices.SortFunc(rel, func(a, b hash.File) int { return strings.Compare(a.Path, b.Path) })
	for _, f := range rel {
		kind := []byte{'f'}
		switch {
		case f.Stat.IsLink():
			kind[0] = 'l'
		case f.Stat.Executable():
			kind[0] = 'x'
		}
		d.field("src", []byte(f.Path), f.Sum[:], kind)
	}
	r.envDigest(d, p)
	d.field("globals", r.globals[:])
	for _, dep := range deps {
		d.field("dep", []byte(dep.name), dep.digest[:])
	}
	return hash.FromHash(h)
}

func (r *run) depDigests(p *Package) []depDigest {
	deps := r.g.Deps(p.Name)
	out := make([]depDigest, len(deps))
	for i, name := range deps {
		out[i] = depDigest{name: name, digest: r.pkgs[name].digest}
	}
	return out
}

// decide brings one package up to date through the cheapest tier that is
// correct.
func (r *run) decide(pr *pkgRun) PackageResult {
	e, p := r.e, pr.p
	deps := r.depDigests(p)
	cfgKey := r.configKey(p)
	prevState, hasPrev := r.states[p.Name]
	prev := r.snaps[p.Name]
	if hasPrev && prev == nil {
		var err error
		if prev, err = decodeSnapshot(prevState.Snapshot); err != nil {
			e.log.Warn("package state unreadable; hashing again", "pkg", p.Name, "err", err)
			hasPrev = false
		}
	}
	for {
		f := e.flightOf(p.Name)
		inputsSame := !r.req.Force && hasPrev && prev.configKey == cfgKey && sameDeps(prev.deps, deps)
		if f == nil && inputsSame && sameStats(prev.sources, pr.sources) {
			pr.sources = prev.sources // carry the sums over
			pr.digest = prevState.Digest
			if sameStats(prev.outputs, pr.outputs) {
				pr.final = &cleanEntry{st: prevState, snap: prev}
				return instantSkip()
			}
		} else {
			var prevFiles map[string]hash.File
			if hasPrev {
				prevFiles = fileMap(prev.sources)
			}
			if _, err := r.hasher.Update(r.ctx, e.root, pr.sources, prevFiles); err != nil {
				if r.ctx.Err() != nil {
					return PackageResult{Status: StatusCancelled, Error: "build cancelled"}
				}
				return PackageResult{Status: StatusFailed, Error: err.Error()}
			}
			pr.digest = r.inputDigest(p, pr.sources, deps)
			pr.manifest = r.manifest(p, pr.digest, pr.sources, deps)
			r.mu.Lock()
			r.manifests[pr.manifest.Digest] = pr.manifest
			r.mu.Unlock()
			if f == nil && !r.req.Force && hasPrev && pr.digest == prevState.Digest && sameStats(prev.outputs, pr.outputs) {
				snap := &snapshot{configKey: cfgKey, deps: deps, sources: pr.sources, outputs: pr.outputs}
				st := state.PackageState{Name: p.Name, Digest: pr.digest, Snapshot: snap.encode(), UpdatedAt: time.Now()}
				r.addPending(st)
				pr.final = &cleanEntry{st: st, snap: snap}
				return PackageResult{Tier: TierHashSkip, Status: StatusSuccess, Reason: &Reason{Kind: ReasonUnchangedContent}}
			}
		}
		reasons := r.reasons(pr, prevState, hasPrev)
		if r.dry {
			return r.predict(pr, reasons)
		}
		r.recordStart()
		job := &execJob{
			run: r, p: p, digest: pr.digest, force: r.req.Force, reasons: reasons, manifest: pr.manifest,
			snap: snapshot{configKey: cfgKey, deps: deps, sources: pr.sources},
		}
		res, err := e.join(r.ctx, p.Name, pr.digest, job.execute)
		if errors.Is(err, errOtherDigest) {
			// Another build ran this package with other inputs; decide
			// again against what it left behind.
			if st, ok := e.latestState(p.Name); ok {
				if s, err := decodeSnapshot(st.Snapshot); err == nil {
					prevState, prev, hasPrev = st, s, true
				}
			}
			if pr.outputs, err = e.scanOutputs(p); err != nil {
				return PackageResult{Status: StatusFailed, Error: err.Error()}
			}
			continue
		}
		if err != nil {
			return PackageResult{Status: StatusCancelled, Error: "build cancelled"}
		}
		if len(res.log) > 0 {
			r.mu.Lock()
			r.logs[p.Name] = res.log
			r.mu.Unlock()
		}
		pr.final = res.final
		return res.result
	}
}

// reasons says why pr cannot skip: what differs from the previous
// successful run.
func (r *run) reasons(pr *pkgRun, prev state.PackageState, hasPrev bool) []Reason {
	switch {
	case r.req.Force:
		return []Reason{{Kind: ReasonForced}}
	case !hasPrev:
		return []Reason{{Kind: ReasonNoPreviousBuild}}
	case pr.digest == prev.Digest:
		return []Reason{{Kind: ReasonOutputsMissing}}
	case pr.manifest == nil:
		return []Reason{{Kind: ReasonInputsChanged}}
	}
	old, err := r.manifestFor(r.ctx, prev.Digest.String())
	if err != nil {
		return []Reason{{Kind: ReasonInputsChanged, Message: "the previous run's manifest is no longer kept"}}
	}
	rs := diffManifests(r.ctx, old, pr.manifest, r.manifestFor, 0)
	if len(rs) == 0 {
		rs = []Reason{{Kind: ReasonInputsChanged}}
	}
	return rs
}

// predict is a plan's answer for a package that cannot skip: restored
// when the cache has its digest, else built.
func (r *run) predict(pr *pkgRun, reasons []Reason) PackageResult {
	if !r.req.Force {
		if m, err := peekCache(r.e.cacheDir, pr.digest); err == nil {
			hit := Reason{Kind: ReasonCacheHit, Source: "local"}
			return PackageResult{Tier: TierCacheRestore, Status: StatusSuccess, CacheSource: "local",
				Reason: &hit, Reasons: append([]Reason{hit}, reasons...), SavedMs: m.DurationMs}
		}
		if r.remoteHas(pr.digest) {
			hit := Reason{Kind: ReasonCacheHit, Source: "remote"}
			return PackageResult{Tier: TierCacheRestore, Status: StatusSuccess, CacheSource: "remote",
				Reason: &hit, Reasons: append([]Reason{hit}, reasons...)}
		}
	}
	return PackageResult{Tier: TierFullBuild, Status: StatusSuccess, Reason: &reasons[0], Reasons: reasons}
}

// finish records the build's outcome and publishes build:complete.
func (r *run) finish(buildErr error) {
	e := r.e
	res := &BuildResult{ID: r.id, StartedAt: r.started, Requester: r.req.Requester, Status: StatusSuccess, DryRun: r.dry, Warnings: r.warnings}
	for _, name := range r.sel {
		pr := r.pkgs[name]
		res.Packages = append(res.Packages, pr.res)
		switch pr.res.Status {
		case StatusFailed, StatusSkipped:
			if res.Status == StatusSuccess {
				res.Status = StatusFailed
			}
		case StatusCancelled:
			res.Status = StatusCancelled
		}
	}
	if buildErr != nil {
		res.Status = StatusFailed
		res.Error = buildErr.Error()
	} else if res.Status == StatusCancelled {
		res.Error = "build cancelled"
		if c := context.Cause(r.ctx); c != nil && !errors.Is(c, errCancelled) && !errors.Is(c, context.Canceled) {
			res.Error = "build cancelled: " + c.Error()
		}
	} else if res.Status == StatusFailed {
		var failed []string
		for _, p := range res.Packages {
			if p.Status == StatusFailed {
				failed = append(failed, p.Name)
			}
		}
		res.Error = "failed: " + strings.Join(failed, ", ")
	}
	res.DurationMs = time.Since(r.started).Milliseconds()
	if r.dry {
		r.result = res
		r.cancel(nil)
		close(r.done)
		return
	}

	// Bookkeeping outlives the build's own context: completed work is
	// recorded even when the build was cancelled or the engine closes.
	// It happens on the recorder; what later builds decide from is
	// remembered at once.
	pending, logs := r.pending, r.logs
	e.remember(pending...)
	if e.discardNoops && len(pending) == 0 && len(logs) == 0 && noop(res) {
		r.result = res
		e.mu.Lock()
		delete(e.runs, r.id)
		e.mu.Unlock()
		r.publish(Event{Type: EventBuildComplete, BuildID: r.id, Status: res.Status, Result: res, Requester: r.req.Requester})
		r.cancel(nil)
		close(r.done)
		return
	}
	results := make([]state.PackageResult, len(res.Packages))
	for i, p := range res.Packages {
		results[i] = toStateResult(p, r.started)
	}
	id, status, errMsg, end := r.id, string(res.Status), res.Error, time.Now()
	e.record(func(ctx context.Context) {
		if len(pending) > 0 {
			if err := e.store.PutPackageStates(ctx, pending); err != nil {
				e.log.Error("record package state", "build", id, "err", err)
			}
		}
		// Decided here, in the recorder's order: a build whose start
		// record was not written before is recorded whole, in one write.
		whole := r.firstRecord.CompareAndSwap(false, true)
		if whole {
			b := state.Build{
				ID: id, Status: status, Requester: r.req.Requester, Priority: r.req.Priority, Targets: r.req.Packages,
				Force: r.req.Force, CreatedAt: r.started, StartedAt: r.started, FinishedAt: end, Error: errMsg, Packages: results,
			}
			if err := e.store.CreateBuild(ctx, b); err != nil {
				e.log.Error("record build", "build", id, "err", err)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(logs)) {
			if err := e.store.PutLog(ctx, id, name, logs[name]); err != nil {
				e.log.Error("record build log", "build", id, "pkg", name, "err", err)
			}
		}
		if !whole {
			if err := e.store.FinishBuild(ctx, id, status, errMsg, end, results); err != nil {
				e.log.Error("record build", "build", id, "err", err)
			}
		}
		// History is trimmed after builds that ran something, and every
		// pruneEvery builds, so a daemon answering no-op builds all day
		// keeps a bounded database too.
		if len(logs) > 0 || e.finished.Add(1)%pruneEvery == 0 {
			e.prune(ctx)
		}
	})
	r.result = res
	e.mu.Lock()
	delete(e.runs, r.id)
	e.mu.Unlock()
	r.publish(Event{Type: EventBuildComplete, BuildID: r.id, Status: res.Status, Result: res, Requester: r.req.Requester})
	r.cancel(nil)
	close(r.done)
}

// noop reports whether every package of a successful build was an
// instant_skip: nothing changed and nothing was done.
func noop(res *BuildResult) bool {
	if res.Status != StatusSuccess {
		return false
	}
	for _, p := range res.Packages {
		if p.Tier != TierInstantSkip {
			return false
		}
	}
	return true
}

func toStateResult(p PackageResult, started time.Time) state.PackageResult {
	sr := state.PackageResult{
		Package: p.Name, Tier: string(p.Tier), Status: string(p.Status), DurationMs: p.DurationMs,
		Error: p.Error, CacheSource: p.CacheSource, StartedAt: started,
	}
	if d, err := hash.ParseDigest(p.Digest); err == nil {
		sr.Digest = d
	}
	sr.Reason = encodeReasons(p.Reasons)
	if sr.Reason == "" && p.Reason != nil {
		sr.Reason = encodeReasons([]Reason{*p.Reason})
	}
	sr.SavedMs = p.SavedMs
	return sr
}

func (e *Engine) remember(states ...state.PackageState) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range states {
		e.latest[st.Name] = st
	}
}

func (e *Engine) latestState(name string) (state.PackageState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, ok := e.latest[name]
	return st, ok
}

// execJob restores or builds one package for a flight.
type execJob struct {
	run      *run // the build that started the flight
	p        *Package
	digest   hash.Digest
	force    bool
	reasons  []Reason
	manifest *InputManifest
	snap     snapshot
	final    *cleanEntry // set by persist
}

type flightResult struct {
	result PackageResult
	log    []byte
	final  *cleanEntry // the state persisted for the package
}

func (j *execJob) execute(ctx context.Context) flightResult {
	e, p := j.run.e, j.p
	outDir := p.outDir(e.root)
	if !j.force {
		if res, ok := j.restore(ctx, outDir); ok {
			return res
		}
	}
	release, err := e.slots.Acquire(ctx, sched.Ticket{Requester: j.run.req.Requester, Priority: j.run.req.Priority, Label: j.run.id + "/" + p.Name})
	if err != nil {
		return flightResult{result: PackageResult{Tier: TierFullBuild, Status: StatusCancelled, Error: "build cancelled"}}
	}
	j.run.publish(Event{Type: EventPackageRunning, BuildID: j.run.id, Package: p.Name, Requester: j.run.req.Requester})
	start := time.Now()
	logBuf, tail, err := j.runCommands(ctx)
	release()
	took := time.Since(start)
	res := PackageResult{Tier: TierFullBuild, Reason: &j.reasons[0], Reasons: j.reasons, Status: StatusSuccess, DurationMs: took.Milliseconds()}
	if err != nil {
		res.Status = StatusFailed
		res.Error = err.Error()
		res.Output = tail
		if ctx.Err() != nil {
			res.Status = StatusCancelled
			res.Error = "build cancelled"
		}
		return flightResult{result: res, log: logBuf}
	}
	outputs, err := e.scanOutputs(p)
	if err != nil {
		res.Status, res.Error = StatusFailed, err.Error()
		return flightResult{result: res, log: logBuf}
	}
	// A cache that cannot take the outputs costs a future rebuild, not
	// this build.
	if _, err := e.cache.Store(ctx, j.digest, p.Name, outDir, logBuf, took); err != nil {
		e.log.Warn("cache store failed", "pkg", p.Name, "digest", j.digest.String(), "err", err)
	} else {
		e.maybeEvict()
		j.uploadRemote(took)
	}
	j.persist(outputs)
	return flightResult{result: res, log: logBuf, final: j.final}
}

// restore serves the package from the cache when it has the digest.
func (j *execJob) restore(ctx context.Context, outDir string) (flightResult, bool) {
	e, p := j.run.e, j.p
	m, err := e.cache.Lookup(ctx, j.digest)
	source := "local"
	if err != nil {
		if !errors.Is(err, cache.ErrNotFound) {
			e.log.Warn("cache entry unusable; rebuilding", "pkg", p.Name, "digest", j.digest.String(), "err", err)
		}
		if m = j.fetchRemote(ctx); m == nil {
			return flightResult{}, false
		}
		source = "remote"
	}
	if _, err := e.cache.Restore(ctx, m, outDir); err != nil {
		e.log.Warn("cache restore failed; rebuilding", "pkg", p.Name, "digest", j.digest.String(), "err", err)
		return flightResult{}, false
	}
	logBuf, err := e.cache.ReadLog(ctx, m)
	if err != nil {
		e.log.Warn("cached log unreadable", "pkg", p.Name, "err", err)
	}
	for _, line := range splitLines(logBuf) {
		j.run.publish(Event{Type: EventPackageOutput, BuildID: j.run.id, Package: p.Name, Stream: string(proc.Stdout), Line: line})
	}
	outputs, err := e.scanOutputs(p)
	if err != nil {
		return flightResult{result: PackageResult{Tier: TierCacheRestore, Status: StatusFailed, Error: err.Error()}}, true
	}
	j.persist(outputs)
	hit := Reason{Kind: ReasonCacheHit, Source: source}
	return flightResult{
		result: PackageResult{Tier: TierCacheRestore, Status: StatusSuccess, CacheSource: source,
			Reason: &hit, Reasons: append([]Reason{hit}, j.reasons...), SavedMs: m.DurationMs},
		log:   logBuf,
		final: j.final,
	}, true
}

func splitLines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// persist records the package's new state at once, so a later crash does
// not lose the work.
func (j *execJob) persist(outputs []hash.File) {
	e := j.run.e
	snap := j.snap
	snap.outputs = outputs
	st := state.PackageState{Name: j.p.Name, Digest: j.digest, Snapshot: snap.encode(), UpdatedAt: time.Now()}
	j.final = &cleanEntry{st: st, snap: &snap}
	var rec *state.ManifestRecord
	if j.manifest != nil {
		if data, err := json.Marshal(j.manifest); err == nil {
			rec = &state.ManifestRecord{Package: j.p.Name, Digest: j.digest, Data: data}
		}
	}
	e.persistLater(st, rec)
}

// runCommands runs the pre-build hook, the build command and the
// post-build hook, streaming every line as an event.
func (j *execJob) runCommands(ctx context.Context) (logBuf []byte, tail []string, err error) {
	e, p := j.run.e, j.p
	var mu sync.Mutex
	onLine := func(s proc.Stream, line string) {
		mu.Lock()
		if len(logBuf)+len(line)+1 <= maxLog {
			logBuf = append(logBuf, line...)
			logBuf = append(logBuf, '\n')
		}
		tail = append(tail, line)
		if len(tail) > failTail {
			tail = tail[len(tail)-failTail:]
		}
		mu.Unlock()
		j.run.publish(Event{Type: EventPackageOutput, BuildID: j.run.id, Package: p.Name, Stream: string(s), Line: line})
	}
	env := append(slices.Clip(e.env), "BUILDNET_PACKAGE="+p.Name, "BUILDNET_DIGEST="+j.digest.String())
	steps := []struct{ name, cmd string }{{"pre_build hook", p.Hooks.PreBuild}, {"build_cmd", p.BuildCmd}, {"post_build hook", p.Hooks.PostBuild}}
	for _, s := range steps {
		if strings.TrimSpace(s.cmd) == "" {
			continue
		}
		runner, err := e.registry.Runner(cmpOr(p.Runner, DefaultRunner))
		if err == nil {
			err = runner.Run(ctx, RunJob{Package: p.Name, Step: strings.TrimSuffix(s.name, " hook"), Command: s.cmd, Dir: p.dir(e.root), Env: env,
				Output: func(stream, line string) { onLine(proc.Stream(stream), line) }})
		}
		if err != nil {
			mu.Lock()
			defer mu.Unlock()
			return logBuf, slices.Clone(tail), fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return logBuf, nil, nil
}

// flight is one execution of a package that every build needing the same
// package with the same digest shares.
type flight struct {
	digest  hash.Digest
	done    chan struct{}
	res     flightResult
	waiters int // guarded by Engine.mu
	cancel  context.CancelCauseFunc
}

var errOtherDigest = errors.New("package running with other inputs")

func (e *Engine) flightOf(name string) *flight {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.flights[name]
}

// join runs fn for (name, digest), or waits for the run already in
// progress. fn runs on an engine-owned context that ends only when every
// waiter has gone (or the engine closes). When name runs with another
// digest, join waits for it to end and returns errOtherDigest.
func (e *Engine) join(ctx context.Context, name string, digest hash.Digest, fn func(context.Context) flightResult) (flightResult, error) {
	e.mu.Lock()
	f := e.flights[name]
	switch {
	case f == nil:
		fctx, cancel := context.WithCancelCause(e.ctx)
		f = &flight{digest: digest, done: make(chan struct{}), waiters: 1, cancel: cancel}
		e.flights[name] = f
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			f.res = fn(fctx)
			e.mu.Lock()
			delete(e.flights, name)
			e.mu.Unlock()
			cancel(nil)
			close(f.done)
		}()
	case f.digest == digest:
		f.waiters++
	default:
		e.mu.Unlock()
		select {
		case <-f.done:
			return flightResult{}, errOtherDigest
		case <-ctx.Done():
			return flightResult{}, context.Cause(ctx)
		}
	}
	e.mu.Unlock()
	select {
	case <-f.done:
		return f.res, nil
	case <-ctx.Done():
		e.mu.Lock()
		f.waiters--
		last := f.waiters == 0
		if last {
			f.cancel(context.Cause(ctx))
		}
		e.mu.Unlock()
		if last {
			// This build stopped the execution: wait until its process
			// group is gone before the build reports.
			<-f.done
			if f.res.result.Status == StatusSuccess {
				return f.res, nil
			}
		}
		return flightResult{}, context.Cause(ctx)
	}
}

// maybeEvict trims the cache in the background, at most once at a time.
func (e *Engine) maybeEvict() {
	e.mu.Lock()
	if e.evicting || e.closed {
		e.mu.Unlock()
		return
	}
	e.evicting = true
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		defer func() {
			e.mu.Lock()
			e.evicting = false
			e.mu.Unlock()
		}()
		if st, err := e.cache.Evict(e.ctx); err != nil {
			e.log.Warn("cache eviction failed", "err", err)
		} else if st.Entries > 0 {
			e.log.Info("cache evicted", "entries", st.Entries, "bytes", st.Bytes)
		}
	}()
}
