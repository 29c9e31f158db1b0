package alert

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/musclemap/buildnet/buildnet"
)

// ruleState is what the rules remember between events. It is guarded by
// Alerter.mu.
type ruleState struct {
	// durations holds each package's latest durations by tier, oldest
	// first, at most the largest window of the slow_package rules.
	durations map[durationKey][]int64
	// streaks counts each package's failures in a row.
	streaks map[string]int
	// cacheOver remembers the cache_size rules whose threshold the cache
	// is over, so that they fire once per crossing.
	cacheOver map[string]bool
	// sets caches each rule's resolved packages (nil: every package);
	// cleared when the configuration is reloaded.
	sets map[string]map[string]bool
}

type durationKey struct {
	pkg  string
	tier buildnet.Tier
}

func newRuleState() ruleState {
	return ruleState{
		durations: map[durationKey][]int64{},
		streaks:   map[string]int{},
		cacheOver: map[string]bool{},
		sets:      map[string]map[string]bool{},
	}
}

// CheckPackages resolves every rule's package filters, so that a filter
// matching no package shows at startup rather than as silence.
func (a *Alerter) CheckPackages() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, r := range a.rules {
		if _, err := a.packageSet(r); err != nil {
			return &ConfigError{Field: fmt.Sprintf("rules[%d] (%s).packages", i, r.Name), Msg: err.Error(), Err: err}
		}
	}
	return nil
}

// packageSet returns the packages r applies to; nil means every package.
// a.mu must be held.
func (a *Alerter) packageSet(r Rule) (map[string]bool, error) {
	if len(r.Packages) == 0 {
		return nil, nil
	}
	if set, ok := a.state.sets[r.Name]; ok {
		return set, nil
	}
	names, err := a.opts.Packages(r.Packages)
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	a.state.sets[r.Name] = set
	return set, nil
}

// applies reports whether r watches pkg. a.mu must be held.
func (a *Alerter) applies(r Rule, pkg string) bool {
	set, err := a.packageSet(r)
	if err != nil {
		a.log.Warn("alert rule's packages match nothing; the rule is idle until the configuration changes", "rule", r.Name, "err", err)
		a.state.sets[r.Name] = map[string]bool{}
		return false
	}
	return set == nil || set[pkg]
}

// evaluate returns the alerts ev triggers.
func (a *Alerter) evaluate(ctx context.Context, ev buildnet.Event) []alert {
	var out []alert
	switch ev.Type {
	case buildnet.EventConfigReloaded:
		a.mu.Lock()
		clear(a.state.sets)
		a.mu.Unlock()
	case buildnet.EventPackageComplete:
		a.mu.Lock()
		out = a.packageComplete(ev)
		a.mu.Unlock()
	case buildnet.EventBuildComplete:
		a.mu.Lock()
		out = a.buildComplete(ev)
		a.mu.Unlock()
		out = append(out, a.checkCache(ctx, ev.BuildID)...)
	case buildnet.EventCacheCleared:
		out = a.checkCache(ctx, "")
	}
	return out
}

// packageComplete runs the slow_package and repeated_failures rules.
func (a *Alerter) packageComplete(ev buildnet.Event) []alert {
	var out []alert
	switch ev.Status {
	case buildnet.StatusFailed:
		a.state.streaks[ev.Package]++
	case buildnet.StatusSuccess:
		a.state.streaks[ev.Package] = 0
	}
	streak := a.state.streaks[ev.Package]
	for _, r := range a.rules {
		if r.Type != RuleRepeatedFailures || ev.Status != buildnet.StatusFailed || streak != r.Count || !a.applies(r, ev.Package) {
			continue
		}
		n := buildnet.Notification{
			Title:   fmt.Sprintf("%s failed %d builds in a row", ev.Package, streak),
			Text:    firstLine(ev.Error),
			BuildID: ev.BuildID,
			Package: ev.Package,
			Fields:  map[string]string{"package": ev.Package, "failures": strconv.Itoa(streak), "build_id": ev.BuildID, "error": firstLine(ev.Error)},
		}
		out = append(out, alert{rule: r, n: n})
	}
	if ev.Status != buildnet.StatusSuccess || ev.DurationMs == nil || ev.Tier == "" {
		return out
	}
	d, key := *ev.DurationMs, durationKey{ev.Package, ev.Tier}
	prev := a.state.durations[key]
	keep := 0
	for _, r := range a.rules {
		if r.Type != RuleSlowPackage || !slices.Contains(r.Tiers, ev.Tier) {
			continue
		}
		keep = max(keep, r.Window)
		if !a.applies(r, ev.Package) {
			continue
		}
		window := prev[max(0, len(prev)-r.Window):]
		if len(window) < r.MinSamples || d < time.Duration(r.MinDuration).Milliseconds() {
			continue
		}
		med := median(window)
		if float64(d) <= r.Factor*med {
			continue
		}
		ratio := float64(d) / max(med, 1)
		n := buildnet.Notification{
			Title: fmt.Sprintf("%s took %s, %.1f× its median of %s", ev.Package, describe(d), ratio, describe(int64(med))),
			Text: fmt.Sprintf("The %s of %s took %s; the median of its last %s is %s (alert above %g×).",
				ev.Tier, ev.Package, describe(d), plural(len(window), "build"), describe(int64(med)), r.Factor),
			BuildID: ev.BuildID,
			Package: ev.Package,
			Fields: map[string]string{
				"package": ev.Package, "tier": string(ev.Tier), "build_id": ev.BuildID,
				"duration_ms": strconv.FormatInt(d, 10), "median_ms": strconv.FormatInt(int64(med), 10),
				"ratio": strconv.FormatFloat(ratio, 'f', 2, 64), "samples": strconv.Itoa(len(window)),
			},
		}
		out = append(out, alert{rule: r, n: n})
	}
	if keep > 0 {
		prev = append(prev, d)
		if len(prev) > keep {
			prev = slices.Delete(prev, 0, len(prev)-keep)
		}
		a.state.durations[key] = prev
	}
	return out
}

// median returns the median of xs, which must not be empty.
func median(xs []int64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return float64(s[m])
	}
	return float64(s[m-1]+s[m]) / 2
}

// buildComplete runs the build_failed rules.
func (a *Alerter) buildComplete(ev buildnet.Event) []alert {
	res := ev.Result
	status := ev.Status
	if res != nil {
		status = res.Status
	}
	if status != buildnet.StatusFailed {
		return nil
	}
	var out []alert
	for _, r := range a.rules {
		if r.Type != RuleBuildFailed {
			continue
		}
		var failed []buildnet.PackageResult
		skipped := 0
		if res != nil {
			for _, p := range res.Packages {
				switch {
				case p.Status == buildnet.StatusFailed && a.applies(r, p.Name):
					failed = append(failed, p)
				case p.Status == buildnet.StatusSkipped:
					skipped++
				}
			}
		}
		if len(r.Packages) > 0 && len(failed) == 0 {
			continue // the failure is outside the rule's packages
		}
		out = append(out, alert{rule: r, n: buildFailed(ev, res, failed, skipped)})
	}
	return out
}

func buildFailed(ev buildnet.Event, res *buildnet.BuildResult, failed []buildnet.PackageResult, skipped int) buildnet.Notification {
	names := make([]string, len(failed))
	var text strings.Builder
	for i, p := range failed {
		names[i] = p.Name
		fmt.Fprintf(&text, "• %s: %s\n", p.Name, cmpOr(firstLine(p.Error), "failed"))
	}
	if skipped > 0 {
		fmt.Fprintf(&text, "%s skipped because a dependency failed.\n", plural(skipped, "package"))
	}
	n := buildnet.Notification{
		Title:   "Build " + ev.BuildID + " failed",
		BuildID: ev.BuildID,
		Fields:  map[string]string{"build_id": ev.BuildID},
	}
	if len(names) > 0 {
		n.Title = "Build failed: " + strings.Join(names, ", ")
		n.Fields["failed"] = strings.Join(names, ", ")
	}
	if len(failed) == 1 {
		n.Package = failed[0].Name
	}
	if res != nil {
		if res.Error != "" && len(failed) == 0 {
			fmt.Fprintf(&text, "%s\n", firstLine(res.Error))
		}
		if res.Requester != "" {
			n.Fields["requester"] = res.Requester
		}
		n.Fields["duration"] = describe(res.DurationMs)
		n.Fields["packages"] = strconv.Itoa(len(res.Packages))
	} else if ev.Requester != "" {
		n.Fields["requester"] = ev.Requester
	}
	n.Text = strings.TrimSuffix(text.String(), "\n")
	return n
}

// checkCache runs the cache_size rules; it reads the cache's size once.
func (a *Alerter) checkCache(ctx context.Context, buildID string) []alert {
	var rules []Rule
	for _, r := range a.rules {
		if r.Type == RuleCacheSize {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 || a.opts.CacheStats == nil {
		return nil
	}
	st, err := a.opts.CacheStats(ctx)
	if err != nil {
		a.log.Warn("read cache size for alert rules", "err", err)
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []alert
	for _, r := range rules {
		over := st.Bytes > int64(r.Threshold)
		was := a.state.cacheOver[r.Name]
		a.state.cacheOver[r.Name] = over
		if !over || was {
			continue
		}
		n := buildnet.Notification{
			Title:   fmt.Sprintf("Cache is %s, over its %s threshold", humanBytes(st.Bytes), humanBytes(int64(r.Threshold))),
			Text:    fmt.Sprintf("The local cache holds %s in %s. Clear it or lower cache.max_size.", humanBytes(st.Bytes), fmt.Sprintf("%d entries", st.Entries)),
			BuildID: buildID,
			Fields: map[string]string{
				"bytes": strconv.FormatInt(st.Bytes, 10), "threshold_bytes": strconv.FormatInt(int64(r.Threshold), 10),
				"entries": strconv.FormatInt(st.Entries, 10),
			},
		}
		out = append(out, alert{rule: r, n: n})
	}
	return out
}

// humanBytes formats n with a binary unit, e.g. 1.5 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return truncate(s, 300)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
