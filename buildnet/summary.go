package buildnet

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/musclemap/buildnet/hash"
)

// Summary describes a finished build for people and tools: what each
// package's inputs were, which tier it took and what the cache saved.
type Summary struct {
	ID         string           `json:"id"`
	Status     Status           `json:"status"`
	Requester  string           `json:"requester,omitempty"`
	Targets    []string         `json:"targets"`
	Force      bool             `json:"force,omitempty"`
	StartedAt  time.Time        `json:"started_at"`
	FinishedAt time.Time        `json:"finished_at,omitzero"`
	DurationMs int64            `json:"duration_ms"`
	Totals     SummaryTotals    `json:"totals"`
	Packages   []PackageSummary `json:"packages"`
}

// SummaryTotals adds up a build.
type SummaryTotals struct {
	Packages  int            `json:"packages"`
	Tiers     map[Tier]int   `json:"tiers"`
	Statuses  map[Status]int `json:"statuses"`
	SavedMs   int64          `json:"saved_ms"`   // time the cache and skips saved, from the original durations
	CacheHits int            `json:"cache_hits"` // cache_restore packages
	Executed  int            `json:"executed"`   // full_build packages
}

// PackageSummary is one package in a [Summary].
type PackageSummary struct {
	Name         string      `json:"name"`
	Tier         Tier        `json:"tier,omitempty"`
	Status       Status      `json:"status"`
	Digest       string      `json:"digest,omitempty"`
	DurationMs   int64       `json:"duration_ms"`
	SavedMs      int64       `json:"saved_ms,omitempty"`
	CacheSource  string      `json:"cache_source,omitempty"`
	Error        string      `json:"error,omitempty"`
	Inputs       *InputsInfo `json:"inputs,omitempty"`
	Dependencies []InputDep  `json:"dependencies"`
	Reasons      []Reason    `json:"reasons"`
}

// InputsInfo summarises a package's inputs: counts and one hash over
// the file list (paths and content hashes).
type InputsInfo struct {
	Files        int      `json:"files"`
	FilesHash    string   `json:"files_hash"`
	Env          []string `json:"env"` // names only
	GlobalInputs int      `json:"global_inputs"`
	Command      string   `json:"command"`
}

// Summary returns the summary of a recorded build.
func (e *Engine) Summary(ctx context.Context, buildID string) (*Summary, error) {
	b, err := e.Store().Build(ctx, buildID)
	if err != nil {
		return nil, fmt.Errorf("summary %s: %w", buildID, ErrBuildNotFound)
	}
	s := &Summary{
		ID: b.ID, Status: Status(b.Status), Requester: b.Requester, Targets: b.Targets, Force: b.Force,
		StartedAt: b.StartedAt, FinishedAt: b.FinishedAt, DurationMs: b.DurationMs,
		Totals:   SummaryTotals{Tiers: map[Tier]int{}, Statuses: map[Status]int{}},
		Packages: []PackageSummary{},
	}
	for _, r := range b.Packages {
		ps := PackageSummary{
			Name: r.Package, Tier: Tier(r.Tier), Status: Status(r.Status), DurationMs: r.DurationMs,
			SavedMs: r.SavedMs, CacheSource: r.CacheSource, Error: r.Error,
			Dependencies: []InputDep{}, Reasons: decodeReasons(r.Reason),
		}
		if !r.Digest.IsZero() {
			ps.Digest = r.Digest.String()
			if m, err := e.loadManifest(ctx, ps.Digest); err == nil {
				ps.Inputs = inputsInfo(m)
				ps.Dependencies = m.Deps
			}
			// A skip saved what the package took when it last ran: the
			// duration its cache entry recorded.
			if ps.SavedMs == 0 && (ps.Tier == TierInstantSkip || ps.Tier == TierHashSkip) {
				if d, err := e.cacheDuration(ps.Digest); err == nil {
					ps.SavedMs = d
				}
			}
		}
		s.Totals.Packages++
		if ps.Tier != "" && ps.Status == StatusSuccess {
			s.Totals.Tiers[ps.Tier]++
		}
		s.Totals.Statuses[ps.Status]++
		s.Totals.SavedMs += ps.SavedMs
		switch ps.Tier {
		case TierCacheRestore:
			s.Totals.CacheHits++
		case TierFullBuild:
			s.Totals.Executed++
		}
		s.Packages = append(s.Packages, ps)
	}
	return s, nil
}

// cacheDuration is how long the build whose outputs the cache holds
// under digest took.
func (e *Engine) cacheDuration(digest string) (int64, error) {
	d, err := hash.ParseDigest(digest)
	if err != nil {
		return 0, err
	}
	m, err := peekCache(e.cacheDir, d)
	if err != nil {
		return 0, err
	}
	return m.DurationMs, nil
}

func inputsInfo(m *InputManifest) *InputsInfo {
	h := hash.New()
	d := digester{h}
	for _, f := range m.Files {
		d.field("file", []byte(f.Path), []byte(f.Hash))
	}
	info := &InputsInfo{Files: len(m.Files), FilesHash: hash.FromHash(h).String(), Env: []string{}, GlobalInputs: len(m.Globals), Command: m.Command}
	for _, e := range m.Env {
		info.Env = append(info.Env, e.Name)
	}
	return info
}

// FormatSummary renders a summary as a short text report.
func FormatSummary(s *Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "build %s: %s in %dms\n", s.ID, s.Status, s.DurationMs)
	for _, p := range s.Packages {
		fmt.Fprintf(&b, "  %-20s %-13s %-9s %6dms", p.Name, p.Tier, p.Status, p.DurationMs)
		if p.SavedMs > 0 {
			fmt.Fprintf(&b, "  saved %dms", p.SavedMs)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%d packages, %d executed, %d restored; the cache saved %s\n",
		s.Totals.Packages, s.Totals.Executed, s.Totals.CacheHits, time.Duration(s.Totals.SavedMs)*time.Millisecond)
	return b.String()
}
