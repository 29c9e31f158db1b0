package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/musclemap/buildnet/buildnet"
)

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string { return strings.Join(*m, ",") }

func (m *multi) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*m = append(*m, s)
		}
	}
	return nil
}

func cmdBuild(ctx context.Context, args []string, env Env) error {
	var (
		c         common
		all       bool
		force     bool
		verbose   bool
		dry       bool
		summarize bool
		affected  bool
		base      string
		head      string
		packages  multi
		filters   multi
	)
	fs := newFlags("build", &c, env)
	fs.BoolVar(&all, "all", false, "build every package")
	fs.Var(&packages, "package", "build this package and its dependencies (repeatable)")
	fs.Var(&filters, "filter", "select packages: NAME, NAME... (with dependencies), ...NAME (with dependents), ./DIR, !NAME (repeatable)")
	fs.BoolVar(&affected, "affected", false, "build the packages changed since --base, and their dependents")
	fs.StringVar(&base, "base", "", "with --affected: the git revision to compare with (default main)")
	fs.StringVar(&head, "head", "", "with --affected: the git revision to compare (default: the working tree)")
	fs.BoolVar(&force, "force", false, "run every selected build command, ignoring state and cache")
	fs.BoolVar(&dry, "dry", false, "say what each package would do, and why, without running or writing anything")
	fs.BoolVar(&summarize, "summarize", false, "write a run summary to .buildnet/runs/ID.json")
	fs.BoolVar(&verbose, "verbose", false, "stream every output line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if all && (len(packages) > 0 || len(filters) > 0 || affected) {
		return usageErr("build: --all excludes --package, --filter and --affected")
	}
	if !affected && (base != "" || head != "") {
		return usageErr("build: --base and --head go with --affected")
	}
	if dry && summarize {
		return usageErr("build: a --dry run has nothing to summarize")
	}
	out := newReporter(env.Stdout, !c.json && isTTY(env.Stdout) && !c.noColor, !c.json, verbose)
	request := func() buildnet.Request {
		req := buildnet.Request{Packages: packages, Filters: filters, Force: force, Requester: "cli", DryRun: dry}
		if affected {
			req.Affected = &buildnet.GitRange{Base: base, Head: head}
		}
		return req
	}
	var (
		root string
		cl   *client
		e    *buildnet.Engine
		res  *buildnet.BuildResult
		err  error
	)
	if !dry && (all || len(packages) > 0 || len(filters) > 0 || affected) {
		// Straight to the daemon: the build request itself says which
		// workspace it is for, so no health check comes first.
		if root, err = c.workspace(env); err != nil {
			return err
		}
		if cl = c.client(root); cl != nil {
			res, err = buildRemote(ctx, cl, root, request(), out)
			if nt := (*notThisDaemon)(nil); errors.As(err, &nt) {
				cl, res, err = nil, nil, nil
			}
		}
	}
	if res == nil && err == nil {
		// Without a selection, the package whose directory holds the
		// working directory is built.
		here := !all && len(packages) == 0 && len(filters) == 0 && !affected
		res, root, cl, e, err = c.buildThrough(ctx, env, dry, here, func(root string, ws *buildnet.Workspace) (buildnet.Request, error) {
			if ws != nil {
				cwd, err := env.dir()
				if err != nil {
					return buildnet.Request{}, err
				}
				if p := packageAt(root, *ws, cwd); p != "" {
					packages = multi{p}
				}
			}
			return request(), nil
		}, out)
		if e != nil {
			defer e.Close()
		}
	}
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(env.Stderr, "buildnetd: warning: %s\n", w)
	}
	switch {
	case c.json:
		writeJSON(env.Stdout, res)
	case dry:
		printPlan(env.Stdout, res)
	default:
		out.summary(res)
	}
	if summarize {
		path, err := writeSummary(ctx, root, res.ID, e, cl)
		if err != nil {
			return err
		}
		if !c.json {
			fmt.Fprintf(env.Stdout, "summary: %s\n", path)
		}
	}
	if res.Status != buildnet.StatusSuccess {
		return errSilent
	}
	return nil
}

// buildThrough connects to the daemon serving the workspace (checked with
// a health request) or opens the engine in process, and runs the build
// (a plan when dry) that request gives for the workspace's root and, when
// withConfig, its configuration. The caller closes the engine it returns.
func (c *common) buildThrough(ctx context.Context, env Env, dry, withConfig bool, request func(root string, ws *buildnet.Workspace) (buildnet.Request, error), out *reporter) (res *buildnet.BuildResult, root string, cl *client, e *buildnet.Engine, err error) {
	if dry {
		root, cl, e, err = c.connectReadOnly(ctx, env)
	} else {
		root, cl, e, err = c.connect(ctx, env)
	}
	if err != nil {
		return nil, "", nil, nil, err
	}
	var ws *buildnet.Workspace
	if withConfig {
		ws = new(buildnet.Workspace)
		if e != nil {
			*ws = e.Workspace()
		} else if err := cl.do(ctx, http.MethodGet, "/config", nil, ws); err != nil {
			return nil, root, cl, e, err
		}
	}
	req, err := request(root, ws)
	if err != nil {
		return nil, root, cl, e, err
	}
	switch {
	case dry && e != nil:
		res, err = e.Plan(ctx, req)
	case dry:
		res = new(buildnet.BuildResult)
		err = cl.do(ctx, http.MethodPost, "/build", buildBody(req), res)
	case e != nil:
		res, err = buildLocal(ctx, e, req, out)
	default:
		res, err = buildRemote(ctx, cl, root, req, out)
	}
	return res, root, cl, e, err
}

// buildBody is the request body POST /build takes for req.
func buildBody(req buildnet.Request) map[string]any {
	return map[string]any{"packages": req.Packages, "force": req.Force, "requester": req.Requester,
		"filters": req.Filters, "affected": req.Affected, "dry_run": req.DryRun}
}

// buildLocal runs the build in process.
func buildLocal(ctx context.Context, e *buildnet.Engine, req buildnet.Request, out *reporter) (*buildnet.BuildResult, error) {
	sub := e.Subscribe(ctx, 1<<16)
	defer sub.Close()
	run, err := e.StartBuild(req)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, run.Cancel)
	defer stop()
	return follow(out, run.ID(), sub.Events(), run.Done(), func() (*buildnet.BuildResult, error) {
		return run.Wait(context.Background())
	})
}

// buildRemote runs the build on the daemon and prints its progress from
// the daemon's event stream. Interrupting the command cancels the build
// there.
func buildRemote(ctx context.Context, cl *client, root string, req buildnet.Request, out *reporter) (*buildnet.BuildResult, error) {
	types := []string{string(buildnet.EventBuildStart), string(buildnet.EventPackageComplete), string(buildnet.EventBuildComplete)}
	if out.verbose && out.human {
		types = append(types, string(buildnet.EventPackageOutput))
	}
	if out.tty {
		types = append(types, string(buildnet.EventPackageStart)) // for the progress line
	}
	// Following outlives ctx: after an interrupt the command still waits
	// for the daemon to report the cancelled build.
	following := context.WithoutCancel(ctx)
	id, stream, err := cl.startBuild(following, root, buildBody(req), types)
	if err != nil {
		return nil, err
	}
	defer stream.close()
	stop := context.AfterFunc(ctx, func() {
		cctx, cancel := context.WithTimeout(following, 10*time.Second)
		defer cancel()
		_ = cl.do(cctx, http.MethodPost, "/builds/"+url.PathEscape(id)+"/cancel", nil, nil)
	})
	defer stop()
	return follow(out, id, stream.events, stream.dead, func() (*buildnet.BuildResult, error) {
		return nil, fmt.Errorf("build %s on the daemon at %s: %w", id, cl.base, stream.err)
	})
}

// packageAt returns the package whose directory holds dir, or "" at the
// root or outside every package.
func packageAt(root string, ws buildnet.Workspace, dir string) string {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return ""
	}
	root, err = filepath.EvalSymlinks(root)
	if err != nil {
		return ""
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return ""
	}
	rel = filepath.ToSlash(rel)
	best := ""
	bestLen := -1
	for _, p := range ws.Packages {
		if (rel == p.Path || strings.HasPrefix(rel, p.Path+"/")) && len(p.Path) > bestLen {
			best, bestLen = p.Name, len(p.Path)
		}
	}
	return best
}

// reporter prints a build's progress for people. Lines are buffered
// while more events are queued and written when the queue runs dry: a
// burst of hundreds of packages costs a few writes, and a line still
// appears as soon as nothing follows it at once.
type reporter struct {
	w        *bufio.Writer
	tty      bool // colours and a live progress line
	human    bool
	verbose  bool
	total    int
	finished int
	running  []string
}

func newReporter(w io.Writer, tty, human, verbose bool) *reporter {
	return &reporter{w: bufio.NewWriterSize(w, 32<<10), tty: tty, human: human, verbose: verbose}
}

// flush writes what the reporter buffered.
func (r *reporter) flush() { _ = r.w.Flush() }

const (
	ansiReset  = "\x1b[0m"
	ansiGreen  = "\x1b[32m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiDim    = "\x1b[2m"
	clearLine  = "\r\x1b[K"
)

func (r *reporter) color(c, s string) string {
	if !r.tty {
		return s
	}
	return c + s + ansiReset
}

// follow prints the events of build id until its build:complete event,
// or until done is closed (then result gives the outcome), and returns
// the build's result. Events come one by one from an engine in process,
// and in batches from a daemon.
func follow[E buildnet.Event | []buildnet.Event](r *reporter, id string, events <-chan E, done <-chan struct{}, result func() (*buildnet.BuildResult, error)) (*buildnet.BuildResult, error) {
	defer r.flush()
	var ticker <-chan time.Time
	if r.tty {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		ticker = t.C
	}
	finish := func() {
		if r.tty {
			fmt.Fprint(r.w, clearLine)
		}
	}
	for {
		select {
		case evs, ok := <-events:
			if !ok {
				events = nil // dropped: the result still arrives
				continue
			}
			if res := r.events(id, batch(evs)); res != nil {
				finish()
				return res, nil
			}
			if len(events) == 0 {
				r.flush()
			}
		case <-ticker:
			r.progress()
			r.flush()
		case <-done:
			// Drain what is already queued so no package line is lost.
			for drained := false; !drained && events != nil; {
				select {
				case evs, ok := <-events:
					if !ok {
						drained = true
					} else if res := r.events(id, batch(evs)); res != nil {
						finish()
						return res, nil
					}
				default:
					drained = true
				}
			}
			finish()
			return result()
		}
	}
}

// batch returns the events of e, one event or several.
func batch[E buildnet.Event | []buildnet.Event](e E) []buildnet.Event {
	switch e := any(e).(type) {
	case buildnet.Event:
		return []buildnet.Event{e}
	case []buildnet.Event:
		return e
	}
	panic("unreachable")
}

// events shows the events of build id among evs, and returns the build's
// result if they hold its end.
func (r *reporter) events(id string, evs []buildnet.Event) *buildnet.BuildResult {
	for _, ev := range evs {
		if ev.BuildID != id {
			continue
		}
		r.event(ev)
		if ev.Type == buildnet.EventBuildComplete && ev.Result != nil {
			return ev.Result
		}
	}
	return nil
}

func (r *reporter) event(ev buildnet.Event) {
	if !r.human {
		return
	}
	switch ev.Type {
	case buildnet.EventBuildStart:
		r.total = len(ev.Packages)
	case buildnet.EventPackageStart:
		r.running = append(r.running, ev.Package)
	case buildnet.EventPackageOutput:
		if r.verbose {
			r.clear()
			fmt.Fprintf(r.w, "%s %s\n", r.color(ansiDim, ev.Package+":"), ev.Line)
		}
	case buildnet.EventPackageComplete:
		r.finished++
		r.running = slices.DeleteFunc(r.running, func(s string) bool { return s == ev.Package })
		r.clear()
		fmt.Fprintln(r.w, r.packageLine(ev))
	}
}

func (r *reporter) clear() {
	if r.tty {
		fmt.Fprint(r.w, clearLine)
	}
}

func (r *reporter) progress() {
	if !r.tty || r.total == 0 {
		return
	}
	running := strings.Join(r.running, ", ")
	if len(running) > 60 {
		running = running[:57] + "..."
	}
	fmt.Fprintf(r.w, "%s[%d/%d] %s", clearLine, r.finished, r.total, running)
}

func (r *reporter) packageLine(ev buildnet.Event) string {
	dur := time.Duration(0)
	if ev.DurationMs != nil {
		dur = time.Duration(*ev.DurationMs) * time.Millisecond
	}
	switch ev.Status {
	case buildnet.StatusSuccess:
		c := ansiGreen
		if ev.Tier == buildnet.TierFullBuild {
			c = ansiCyan
		}
		return fmt.Sprintf("%s %-24s %s %s", r.color(ansiGreen, "✓"), ev.Package, r.color(c, fmt.Sprintf("%-13s", ev.Tier)), fmtDur(dur))
	case buildnet.StatusFailed:
		return fmt.Sprintf("%s %-24s %s %s", r.color(ansiRed, "✗"), ev.Package, r.color(ansiRed, "failed       "), ev.Error)
	case buildnet.StatusSkipped:
		return fmt.Sprintf("%s %-24s %s %s", r.color(ansiYellow, "-"), ev.Package, r.color(ansiYellow, "skipped      "), ev.Error)
	default:
		return fmt.Sprintf("%s %-24s %s", r.color(ansiYellow, "!"), ev.Package, r.color(ansiYellow, string(ev.Status)))
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

// summary prints the closing line and, for failures, the failing
// packages' last output lines.
func (r *reporter) summary(res *buildnet.BuildResult) {
	for _, p := range res.Packages {
		if p.Status != buildnet.StatusFailed {
			continue
		}
		fmt.Fprintf(r.w, "\n%s %s:\n", r.color(ansiRed, "--- output of"), p.Name)
		for _, l := range p.Output {
			fmt.Fprintf(r.w, "  %s\n", l)
		}
		if p.Error != "" {
			fmt.Fprintf(r.w, "  %s\n", r.color(ansiRed, p.Error))
		}
	}
	fmt.Fprintln(r.w, summaryLine(res))
	r.flush()
}

// summaryLine reads like "12 packages: 10 instant_skip, 1 cache_restore,
// 1 full_build in 84ms".
func summaryLine(res *buildnet.BuildResult) string {
	tiers, statuses := res.Counts()
	var parts []string
	for _, t := range []buildnet.Tier{buildnet.TierInstantSkip, buildnet.TierHashSkip, buildnet.TierCacheRestore, buildnet.TierFullBuild} {
		if n := tiers[t]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, t))
		}
	}
	for _, s := range []buildnet.Status{buildnet.StatusFailed, buildnet.StatusSkipped, buildnet.StatusCancelled} {
		if n := statuses[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	noun := "packages"
	if len(res.Packages) == 1 {
		noun = "package"
	}
	return fmt.Sprintf("%d %s: %s in %s", len(res.Packages), noun, strings.Join(parts, ", "), fmtDur(time.Duration(res.DurationMs)*time.Millisecond))
}
