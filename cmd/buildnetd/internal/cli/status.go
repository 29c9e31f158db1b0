package cli

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cache"
)

// statusReport is what `status` prints, from the engine or the daemon.
type statusReport struct {
	Workspace    string                   `json:"workspace"`
	Concurrency  int                      `json:"concurrency"`
	Packages     []buildnet.PackageStatus `json:"packages"`
	ActiveBuilds []string                 `json:"active_builds"`
	Cache        cache.Stats              `json:"cache"`
}

func cmdStatus(ctx context.Context, args []string, env Env) error {
	var c common
	fs := newFlags("status", &c, env)
	if err := parse(fs, args); err != nil {
		return err
	}
	root, cl, e, err := c.connect(ctx, env)
	if err != nil {
		return err
	}
	var rep statusReport
	if e != nil {
		defer e.Close()
		st, err := e.Status(ctx)
		if err != nil {
			return err
		}
		cs, err := e.CacheStats(ctx)
		if err != nil {
			return err
		}
		rep = statusReport{Workspace: st.Root, Concurrency: st.Concurrency, Packages: st.Packages, ActiveBuilds: st.ActiveBuilds, Cache: cs}
	} else {
		var st struct {
			Concurrency  int                      `json:"concurrency"`
			Packages     []buildnet.PackageStatus `json:"packages"`
			ActiveBuilds []struct {
				ID string `json:"id"`
			} `json:"active_builds"`
			Cache cache.Stats `json:"cache"`
		}
		if err := cl.do(ctx, http.MethodGet, "/status", nil, &st); err != nil {
			return err
		}
		rep = statusReport{Workspace: root, Concurrency: st.Concurrency, Packages: st.Packages, ActiveBuilds: []string{}, Cache: st.Cache}
		for _, b := range st.ActiveBuilds {
			rep.ActiveBuilds = append(rep.ActiveBuilds, b.ID)
		}
	}
	if c.json {
		writeJSON(env.Stdout, rep)
		return nil
	}
	fmt.Fprintf(env.Stdout, "workspace  %s\npackages   %d (concurrency %d)\ncache      %s\n\n", rep.Workspace, len(rep.Packages), rep.Concurrency, cacheSummary(rep.Cache))
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKAGE\tLAST STATUS\tTIER\tDURATION\tDIGEST\tBUILT")
	for _, p := range rep.Packages {
		status, tier, digest, built := "never built", "", "", ""
		if p.LastStatus != "" {
			status, tier = string(p.LastStatus), string(p.LastTier)
		}
		if len(p.Digest) >= 12 {
			digest = p.Digest[:12]
		}
		if !p.LastBuiltAt.IsZero() {
			built = p.LastBuiltAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, status, tier, fmtDur(time.Duration(p.LastDuration)*time.Millisecond), digest, built)
	}
	return tw.Flush()
}

func cacheSummary(cs cache.Stats) string {
	ratio := "-"
	if n := cs.Hits + cs.Misses; n > 0 {
		ratio = fmt.Sprintf("%.0f%%", 100*float64(cs.Hits)/float64(n))
	}
	return fmt.Sprintf("%d entries, %s, hit ratio %s", cs.Entries, humanBytes(cs.Bytes), ratio)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// cacheDir is where the engine keeps the cache of the workspace at root:
// the rule of [buildnet.Open].
func cacheDir(root string, ws buildnet.Workspace) string {
	switch d := ws.Cache.Dir; {
	case d == "":
		return filepath.Join(root, ".buildnet", "cache")
	case filepath.IsAbs(d):
		return d
	default:
		return filepath.Join(root, filepath.FromSlash(d))
	}
}

func cmdCache(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || (args[0] != "stats" && args[0] != "clear") {
		return usageErr("cache: want `cache stats` or `cache clear`")
	}
	verb := args[0]
	var c common
	fs := newFlags("cache "+verb, &c, env)
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	root, cl, e, err := c.connect(ctx, env)
	if err != nil {
		return err
	}
	if e != nil {
		defer e.Close()
	}
	if verb == "clear" {
		if e != nil {
			err = e.ClearCache(ctx)
		} else {
			err = cl.do(ctx, http.MethodPost, "/cache/clear", nil, nil)
		}
		if err != nil {
			return err
		}
		if c.json {
			writeJSON(env.Stdout, map[string]any{"cleared": true})
		} else {
			fmt.Fprintln(env.Stdout, "cache cleared")
		}
		return nil
	}
	var (
		cs  cache.Stats
		dir string
	)
	if e != nil {
		if cs, err = e.CacheStats(ctx); err != nil {
			return err
		}
		dir = e.Cache().Dir()
	} else {
		if err := cl.do(ctx, http.MethodGet, "/cache/stats", nil, &cs); err != nil {
			return err
		}
		var ws buildnet.Workspace
		if err := cl.do(ctx, http.MethodGet, "/config", nil, &ws); err != nil {
			return err
		}
		dir = cacheDir(root, ws)
	}
	if c.json {
		writeJSON(env.Stdout, cs)
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "entries\t%d\nsize\t%s\nhits\t%d\nmisses\t%d\nevictions\t%d\ncorrupt\t%d\ndirectory\t%s\n",
		cs.Entries, humanBytes(cs.Bytes), cs.Hits, cs.Misses, cs.Evictions, cs.Corrupt, dir)
	return tw.Flush()
}
