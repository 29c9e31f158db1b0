package buildnet

import (
	"context"
	"fmt"
	"time"

	"github.com/musclemap/buildnet/state"
)

// PackageStatus is what the engine knows about one package.
type PackageStatus struct {
	Name         string    `json:"name"`
	Path         string    `json:"path"`
	Dependencies []string  `json:"dependencies"`
	Digest       string    `json:"digest,omitempty"` // of the last success
	LastBuild    string    `json:"last_build,omitempty"`
	LastTier     Tier      `json:"last_tier,omitempty"`
	LastStatus   Status    `json:"last_status,omitempty"`
	LastDuration int64     `json:"last_duration_ms"`
	LastBuiltAt  time.Time `json:"last_built_at,omitzero"`
}

// EngineStatus is a snapshot of the engine and its workspace.
type EngineStatus struct {
	Root         string          `json:"root"`
	Concurrency  int             `json:"concurrency"`
	Packages     []PackageStatus `json:"packages"`
	ActiveBuilds []string        `json:"active_builds"`
}

// historyDepth bounds how many recent builds Status reads to find each
// package's last result.
const historyDepth = 200

// Status reports every package's last known outcome and the builds in
// progress.
func (e *Engine) Status(ctx context.Context) (*EngineStatus, error) {
	e.mu.Lock()
	ix, g, conc := e.index, e.graph, e.concurrency
	e.mu.Unlock()
	states, err := e.store.PackageStates(ctx)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	st := &EngineStatus{Root: e.root, Concurrency: conc, ActiveBuilds: e.ActiveBuilds()}
	idx := map[string]int{}
	for _, name := range g.Names() {
		p := ix.pkg(name)
		ps := PackageStatus{Name: name, Path: p.Path, Dependencies: g.Deps(name)}
		if s, ok := states[name]; ok {
			ps.Digest = s.Digest.String()
		}
		idx[name] = len(st.Packages)
		st.Packages = append(st.Packages, ps)
	}
	missing := len(st.Packages)
	cursor := ""
	for seen := 0; missing > 0 && seen < historyDepth; {
		builds, next, err := e.Store().Builds(ctx, state.Query{Limit: 50, Cursor: cursor})
		if err != nil {
			return nil, fmt.Errorf("status: %w", err)
		}
		for _, b := range builds {
			for _, r := range b.Packages {
				i, ok := idx[r.Package]
				if !ok || st.Packages[i].LastBuild != "" {
					continue
				}
				p := &st.Packages[i]
				p.LastBuild, p.LastTier, p.LastStatus = b.ID, Tier(r.Tier), Status(r.Status)
				p.LastDuration, p.LastBuiltAt = r.DurationMs, b.FinishedAt
				missing--
			}
		}
		seen += len(builds)
		if next == "" {
			break
		}
		cursor = next
	}
	return st, nil
}
