package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/graph"
)

// connectReadOnly is connect for work that must not write: a daemon
// serving the workspace, or an engine opened read-only.
func (c *common) connectReadOnly(ctx context.Context, env Env) (string, *client, *buildnet.Engine, error) {
	root, err := c.workspace(env)
	if err != nil {
		return "", nil, nil, err
	}
	if cl := c.daemon(ctx, root); cl != nil {
		return root, cl, nil, nil
	}
	e, err := buildnet.Open(ctx, buildnet.Config{Root: root, ReadOnly: true})
	if err != nil {
		return "", nil, nil, err
	}
	return root, nil, e, nil
}

// printPlan prints a dry run: each package's predicted tier and why.
func printPlan(w io.Writer, res *buildnet.BuildResult) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKAGE\tWOULD\tWHY")
	for _, p := range res.Packages {
		var why []string
		for _, r := range p.Reasons {
			why = append(why, r.String())
		}
		if len(why) == 0 && p.Reason != nil {
			why = append(why, p.Reason.String())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Tier, strings.Join(why, "; "))
	}
	tw.Flush()
	tiers, _ := res.Counts()
	var parts []string
	for _, t := range []buildnet.Tier{buildnet.TierInstantSkip, buildnet.TierHashSkip, buildnet.TierCacheRestore, buildnet.TierFullBuild} {
		if n := tiers[t]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, t))
		}
	}
	fmt.Fprintf(w, "dry run, nothing ran: %d packages would be %s\n", len(res.Packages), strings.Join(parts, ", "))
}

// writeSummary saves the summary of build id under .buildnet/runs/.
func writeSummary(ctx context.Context, root, id string, e *buildnet.Engine, cl *client) (string, error) {
	var sum *buildnet.Summary
	if e != nil {
		var err error
		if sum, err = e.Summary(ctx, id); err != nil {
			return "", err
		}
	} else {
		sum = new(buildnet.Summary)
		if err := cl.do(ctx, http.MethodGet, "/builds/"+url.PathEscape(id)+"/summary", nil, sum); err != nil {
			return "", err
		}
	}
	data, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, ".buildnet", "runs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, id+".json")
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

func cmdWhy(ctx context.Context, args []string, env Env) error {
	var (
		c     common
		since string
	)
	fs := newFlags("why", &c, env)
	fs.StringVar(&since, "since", "", "compare the package's inputs with those of this build")
	pkg, rest, err := positional(args, "why PACKAGE")
	if err != nil {
		return err
	}
	if err := parse(fs, rest); err != nil {
		return err
	}
	_, cl, e, err := c.connectReadOnly(ctx, env)
	if err != nil {
		return err
	}
	var ex *buildnet.Explanation
	if e != nil {
		defer e.Close()
		ex, err = e.Why(ctx, pkg, since)
	} else {
		ex = new(buildnet.Explanation)
		q := ""
		if since != "" {
			q = "?since=" + url.QueryEscape(since)
		}
		err = cl.do(ctx, http.MethodGet, "/why/"+url.PathEscape(pkg)+q, nil, ex)
	}
	if err != nil {
		return err
	}
	if c.json {
		writeJSON(env.Stdout, ex)
		return nil
	}
	if since != "" {
		fmt.Fprintf(env.Stdout, "%s: inputs in build %s against build %s:\n", ex.Package, ex.BuildID, since)
	} else {
		fmt.Fprintf(env.Stdout, "%s: %s (%s) in build %s\n", ex.Package, orStatus(ex), ex.Status, ex.BuildID)
	}
	printReasons(env.Stdout, ex.Reasons, "  ")
	return nil
}

func orStatus(ex *buildnet.Explanation) string {
	if ex.Tier != "" {
		return string(ex.Tier)
	}
	return string(ex.Status)
}

// printReasons prints reasons as an indented tree: a dependency's own
// reasons below it.
func printReasons(w io.Writer, rs []buildnet.Reason, indent string) {
	if len(rs) == 0 {
		fmt.Fprintf(w, "%sno difference\n", indent)
	}
	for _, r := range rs {
		if r.Kind == buildnet.ReasonDependencyChanged && len(r.Reasons) > 0 {
			fmt.Fprintf(w, "%s- dependency %s changed:\n", indent, r.Dependency)
			printReasons(w, r.Reasons, indent+"    ")
			continue
		}
		fmt.Fprintf(w, "%s- %s\n", indent, r)
	}
}

// positional takes the first argument as a required operand.
func positional(args []string, synopsis string) (string, []string, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", nil, usageErr("usage: buildnetd %s", synopsis)
	}
	return args[0], args[1:], nil
}

func cmdDiff(ctx context.Context, args []string, env Env) error {
	var c common
	fs := newFlags("diff", &c, env)
	a, rest, err := positional(args, "diff DIGEST_A DIGEST_B")
	if err != nil {
		return err
	}
	b, rest, err := positional(rest, "diff DIGEST_A DIGEST_B")
	if err != nil {
		return err
	}
	if err := parse(fs, rest); err != nil {
		return err
	}
	_, cl, e, err := c.connectReadOnly(ctx, env)
	if err != nil {
		return err
	}
	var rs []buildnet.Reason
	if e != nil {
		defer e.Close()
		rs, err = e.Diff(ctx, a, b)
	} else {
		var out struct {
			Reasons []buildnet.Reason `json:"reasons"`
		}
		err = cl.do(ctx, http.MethodGet, "/diff?a="+url.QueryEscape(a)+"&b="+url.QueryEscape(b), nil, &out)
		rs = out.Reasons
	}
	if err != nil {
		return err
	}
	if c.json {
		writeJSON(env.Stdout, map[string]any{"a": a, "b": b, "reasons": rs})
		return nil
	}
	printReasons(env.Stdout, rs, "")
	return nil
}

func cmdGraph(ctx context.Context, args []string, env Env) error {
	var (
		c        common
		affected bool
		base     string
		head     string
		format   string
		filters  multi
	)
	fs := newFlags("graph", &c, env)
	fs.BoolVar(&affected, "affected", false, "list the packages changed since --base, and their dependents")
	fs.StringVar(&base, "base", "", "with --affected: the git revision to compare with (default main)")
	fs.StringVar(&head, "head", "", "with --affected: the git revision to compare (default: the working tree)")
	fs.Var(&filters, "filter", "list the packages a filter selects (repeatable)")
	fs.StringVar(&format, "format", "list", "list, json or dot (json and dot for the whole graph)")
	if err := parse(fs, args); err != nil {
		return err
	}
	_, cl, e, err := c.connectReadOnly(ctx, env)
	if err != nil {
		return err
	}
	if e != nil {
		defer e.Close()
	}
	var names, warnings []string
	switch {
	case affected || len(filters) > 0:
		req := buildnet.Request{Filters: filters}
		if affected {
			req.Affected = &buildnet.GitRange{Base: base, Head: head}
		}
		if e != nil {
			if affected && len(filters) == 0 {
				names, warnings, err = e.Affected(ctx, *req.Affected)
			} else {
				names, warnings, err = e.Select(ctx, req)
			}
		} else {
			var out struct {
				Packages []string `json:"packages"`
				Warnings []string `json:"warnings"`
			}
			if affected && len(filters) == 0 {
				err = cl.do(ctx, http.MethodGet, "/affected?base="+url.QueryEscape(base)+"&head="+url.QueryEscape(head), nil, &out)
				names, warnings = out.Packages, out.Warnings
			} else {
				req.DryRun = true
				var res buildnet.BuildResult
				err = cl.do(ctx, http.MethodPost, "/build", buildBody(req), &res)
				for _, p := range res.Packages {
					names = append(names, p.Name)
				}
				warnings = res.Warnings
			}
		}
		if err != nil {
			return err
		}
	case format == "json" || format == "dot":
		if e != nil {
			g := e.Graph()
			if format == "dot" {
				_, err := io.WriteString(env.Stdout, g.DOT())
				return err
			}
			writeJSON(env.Stdout, g)
			return nil
		}
		var wire struct {
			Nodes []struct {
				Name string   `json:"name"`
				Deps []string `json:"deps"`
			} `json:"nodes"`
		}
		if err := cl.do(ctx, http.MethodGet, "/graph", nil, &wire); err != nil {
			return err
		}
		var nodes []graph.Node
		for _, n := range wire.Nodes {
			nodes = append(nodes, graph.Node{Name: n.Name, Deps: n.Deps})
		}
		g, err := graph.New(nodes)
		if err != nil {
			return err
		}
		if format == "dot" {
			_, err := io.WriteString(env.Stdout, g.DOT())
			return err
		}
		writeJSON(env.Stdout, g)
		return nil
	default:
		if e != nil {
			names = e.Graph().Topo()
		} else {
			var g struct {
				Nodes []struct {
					Name string `json:"name"`
				} `json:"nodes"`
			}
			if err := cl.do(ctx, http.MethodGet, "/graph", nil, &g); err != nil {
				return err
			}
			for _, n := range g.Nodes {
				names = append(names, n.Name)
			}
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(env.Stderr, "buildnetd: warning: %s\n", w)
	}
	if names == nil {
		names = []string{}
	}
	if c.json {
		writeJSON(env.Stdout, map[string]any{"packages": names, "warnings": warnings})
		return nil
	}
	for _, n := range names {
		fmt.Fprintln(env.Stdout, n)
	}
	return nil
}

func cmdWatch(ctx context.Context, args []string, env Env) error {
	var (
		c        common
		debounce time.Duration
	)
	fs := newFlags("watch", &c, env)
	fs.DurationVar(&debounce, "debounce", 150*time.Millisecond, "quiet time after the last change before building")
	if err := parse(fs, args); err != nil {
		return err
	}
	root, err := c.workspace(env)
	if err != nil {
		return err
	}
	e, err := buildnet.Open(ctx, buildnet.Config{Root: root})
	if err != nil {
		return err
	}
	defer e.Close()
	out := newReporter(env.Stdout, !c.json && isTTY(env.Stdout) && !c.noColor, !c.json, false)
	report := func(res *buildnet.BuildResult) {
		if c.json {
			b, _ := json.Marshal(res)
			fmt.Fprintln(env.Stdout, string(b))
			return
		}
		for _, p := range res.Packages {
			if p.Tier == buildnet.TierInstantSkip && p.Status == buildnet.StatusSuccess {
				continue // only what did something
			}
			d := p.DurationMs
			fmt.Fprintln(env.Stdout, out.packageLine(buildnet.Event{Package: p.Name, Tier: p.Tier, Status: p.Status, DurationMs: &d, Error: p.Error}))
		}
		out.summary(res)
	}
	res, err := e.Build(ctx, buildnet.Request{Requester: "watch"})
	if err != nil {
		return err
	}
	report(res)
	if !c.json {
		fmt.Fprintf(env.Stdout, "watching %s (Ctrl-C to stop)\n", root)
	}
	err = e.Watch(ctx, buildnet.WatchOptions{
		Build: true, Debounce: debounce, Requester: "watch", OnBuild: report,
		OnError: func(err error) { fmt.Fprintf(env.Stderr, "buildnetd: %v\n", err) },
	})
	if ctx.Err() != nil {
		return nil // interrupted: the normal way to stop
	}
	return err
}
