package buildnet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/fsnotify/fsnotify"

	"github.com/musclemap/buildnet/state"
)

// ErrWatching is returned by a second concurrent [Engine.Watch].
var ErrWatching = errors.New("buildnet: already watching")

// WatchOptions configures [Engine.Watch].
type WatchOptions struct {
	// Debounce is the quiet time after the last change before acting;
	// 0 means 150ms. Changes arriving steadily still act after at most
	// ten times this.
	Debounce time.Duration
	// Build, when set, builds the changed packages and their dependents
	// after each burst of changes.
	Build bool
	// Requester is recorded on the builds Watch starts; "" means "watch".
	Requester string
	// OnBuild, when set, receives the result of each build Watch starts
	// (from Watch's goroutine).
	OnBuild func(*BuildResult)
	// OnError, when set, receives errors that do not stop watching: a
	// rejected configuration, a directory that could not be watched.
	OnError func(error)
	// OnReady, when set, is called once every directory is watched.
	OnReady func()
}

// watchState is what the engine knows while it watches: which packages'
// remembered snapshots still match the disk, so a build can skip their
// scan entirely.
type watchState struct {
	// mu guards everything below.
	mu    sync.Mutex
	epoch uint64            // bumped when everything becomes dirty
	gen   map[string]uint64 // bumped on each change of a package
	clean map[string]cleanEntry
	// reconf is signalled when the configuration changed, so the
	// watcher re-reads which directories to watch.
	reconf chan struct{}
}

// cleanEntry is a package's state known to match the disk.
type cleanEntry struct {
	token watchToken
	st    state.PackageState
	snap  *snapshot
}

// watchToken identifies the generation of a package when a scan began.
type watchToken struct{ epoch, gen uint64 }

func newWatchState() *watchState {
	return &watchState{gen: map[string]uint64{}, clean: map[string]cleanEntry{}, reconf: make(chan struct{}, 1)}
}

func (w *watchState) token(name string) watchToken {
	w.mu.Lock()
	defer w.mu.Unlock()
	return watchToken{w.epoch, w.gen[name]}
}

// cleanState returns the remembered state of name if no change touched
// it since it was recorded.
func (w *watchState) cleanState(name string) (cleanEntry, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.clean[name]
	if !ok || c.token != (watchToken{w.epoch, w.gen[name]}) {
		return cleanEntry{}, false
	}
	return c, true
}

// markClean remembers st as matching the disk, unless a change arrived
// since tok was taken.
func (w *watchState) markClean(name string, tok watchToken, st state.PackageState, snap *snapshot) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if tok != (watchToken{w.epoch, w.gen[name]}) {
		return
	}
	w.clean[name] = cleanEntry{token: tok, st: st, snap: snap}
}

func (w *watchState) dirty(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen[name]++
	delete(w.clean, name)
}

func (w *watchState) dirtyAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.epoch++
	clear(w.clean)
}

func (w *watchState) reconfigure() {
	select {
	case w.reconf <- struct{}{}:
	default:
	}
}

func (e *Engine) watchState() *watchState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.watch
}

// editorTemp reports names editors write and remove around a save.
func editorTemp(name string) bool {
	return strings.HasSuffix(name, "~") || strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".swx") ||
		strings.HasPrefix(name, ".#") || name == "4913" || strings.HasSuffix(name, ".tmp")
}

// Watch watches the workspace's sources, global inputs, outputs and
// configuration until ctx ends. While it runs, builds skip the scan of
// every package no change touched, so a build with nothing changed makes
// no file system call at all. A change to the configuration file reloads
// it ([Engine.Reload]); with opts.Build, each burst of source changes
// builds the changed packages and their dependents. A build never
// triggers itself: changes inside output directories and .buildnet/
// only invalidate what the engine remembers.
func (e *Engine) Watch(ctx context.Context, opts WatchOptions) error {
	if opts.Debounce <= 0 {
		opts.Debounce = 150 * time.Millisecond
	}
	if opts.Requester == "" {
		opts.Requester = "watch"
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer fw.Close()
	ws := newWatchState()
	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		return ErrClosed
	case e.watch != nil:
		e.mu.Unlock()
		return ErrWatching
	}
	e.watch = ws
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.watch = nil
		e.mu.Unlock()
	}()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(e.ctx, cancel)
	defer stop()

	wt := &watcher{e: e, fw: fw, ws: ws, opts: opts, watched: map[string]bool{}}
	wt.addTree(e.root)
	if opts.OnReady != nil {
		opts.OnReady()
	}

	builds := make(chan []string, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(builds)
	if opts.Build {
		wg.Go(func() {
			for names := range builds {
				res, err := e.Build(ctx, Request{Packages: names, Requester: opts.Requester})
				if err != nil {
					wt.report(err)
					continue
				}
				if opts.OnBuild != nil {
					opts.OnBuild(res)
				}
			}
		})
	}
	var (
		pending  = map[string]bool{}
		reload   bool
		timer    = time.NewTimer(time.Hour)
		deadline time.Time
	)
	timer.Stop()
	arm := func() {
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(10 * opts.Debounce)
		}
		d := min(opts.Debounce, time.Until(deadline))
		timer.Reset(max(d, 0))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ws.reconf:
			wt.addTree(e.root)
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: nothing remembered can be trusted.
				ws.dirtyAll()
				for _, n := range e.Graph().Names() {
					pending[n] = true
				}
				arm()
				continue
			}
			wt.report(fmt.Errorf("watch: %w", err))
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			trig, cfg := wt.handle(ev)
			for _, n := range trig {
				pending[n] = true
			}
			if cfg {
				reload = true
			}
			if len(trig) > 0 || cfg {
				arm()
			}
		case <-timer.C:
			deadline = time.Time{}
			if reload {
				reload = false
				// An editor that truncates the file before writing it
				// leaves it empty for a moment: the write that follows
				// brings another event, and the reload then.
				fi, err := os.Stat(filepath.Join(e.root, ConfigFile))
				if err != nil || fi.Size() > 0 {
					if _, err := e.Reload(ctx); err != nil {
						wt.report(err)
					}
				}
			}
			if len(pending) == 0 || !opts.Build {
				clear(pending)
				continue
			}
			names := e.buildSetFor(pending)
			clear(pending)
			if len(names) == 0 {
				continue
			}
			select {
			case builds <- names:
			default:
				// A build is already queued: merge into it.
				select {
				case prev := <-builds:
					names = mergeSorted(prev, names)
				default:
				}
				builds <- names
			}
		}
	}
}

// buildSetFor returns the changed packages that still exist and their
// dependents.
func (e *Engine) buildSetFor(changed map[string]bool) []string {
	g := e.Graph()
	var names []string
	for n := range changed {
		if g.Has(n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil
	}
	aff, err := g.Affected(names...)
	if err != nil {
		return nil
	}
	return aff
}

func mergeSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// watcher maps file system events to packages.
type watcher struct {
	e       *Engine
	fw      *fsnotify.Watcher
	ws      *watchState
	opts    WatchOptions
	watched map[string]bool // directories with a watch, absolute
}

func (wt *watcher) report(err error) {
	wt.e.log.Warn("watch", "err", err)
	if wt.opts.OnError != nil {
		wt.opts.OnError(err)
	}
}

// addTree watches dir and every directory below it, except dot-folders
// (.buildnet itself is watched, not its contents) and node_modules.
func (wt *watcher) addTree(dir string) {
	stateDir := filepath.Join(wt.e.root, ".buildnet")
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished meanwhile
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if p != wt.e.root && p != stateDir && (strings.HasPrefix(name, ".") || name == "node_modules") {
			return filepath.SkipDir
		}
		if !wt.watched[p] {
			if err := wt.fw.Add(p); err != nil {
				wt.report(fmt.Errorf("watch %s: %w", p, err))
				return filepath.SkipDir
			}
			wt.watched[p] = true
		}
		if p == stateDir {
			return filepath.SkipDir
		}
		return nil
	})
}

// handle records one event and returns the packages it should build and
// whether the configuration file changed.
func (wt *watcher) handle(ev fsnotify.Event) (trigger []string, config bool) {
	e := wt.e
	rel, err := filepath.Rel(e.root, ev.Name)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return nil, false
	}
	rel = filepath.ToSlash(rel)
	if rel == ConfigFile {
		return nil, true
	}
	if within(rel, ".buildnet") {
		return nil, false
	}
	isDir := false
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if wt.watched[ev.Name] {
			isDir = true
			delete(wt.watched, ev.Name) // the kernel dropped the watch
		}
	}
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			// Files may have landed in it before its watch existed: the
			// directory itself counts as the change.
			isDir = true
			wt.addTree(ev.Name)
		}
	}
	ws := e.Workspace()
	for _, g := range ws.GlobalInputs {
		if ok, _ := doublestar.Match(g, rel); ok || g == rel {
			wt.ws.dirtyAll()
			return e.Graph().Names(), false
		}
	}
	temp := editorTemp(filepath.Base(rel))
	for i := range ws.Packages {
		p := &ws.Packages[i]
		if within(rel, p.OutputDir) {
			wt.ws.dirty(p.Name) // remembered outputs are stale; nothing to build
			continue
		}
		owns, may := p.owns(rel), p.mayContain(rel)
		if owns || may || within(rel, p.Path) {
			wt.ws.dirty(p.Name)
		}
		if !temp && (owns || (isDir && may)) {
			trigger = append(trigger, p.Name)
		}
	}
	return trigger, false
}

// mayContain reports whether rel is a directory under which sources of p
// could lie.
func (p *Package) mayContain(rel string) bool {
	if len(p.Sources) == 0 {
		return within(rel, p.Path) && !within(rel, p.OutputDir)
	}
	for _, s := range p.Sources {
		base := s
		if strings.ContainsAny(s, "*?[{\\") {
			base, _ = doublestar.SplitPattern(s)
			if base == "." {
				base = ""
			}
		}
		if within(rel, base) {
			return true
		}
	}
	return false
}
