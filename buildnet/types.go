package buildnet

import (
	"errors"
	"time"
)

// ErrClosed is returned by calls on a closed [Engine].
var ErrClosed = errors.New("buildnet: engine closed")

// ErrUnknownPackage is matched by errors naming a package the workspace
// does not have.
var ErrUnknownPackage = errors.New("buildnet: unknown package")

// ErrBuildNotFound is returned for a build id the engine does not know.
var ErrBuildNotFound = errors.New("buildnet: build not found")

// Tier says how a package was brought up to date. See DESIGN.md.
type Tier string

// The four tiers, cheapest first.
const (
	TierInstantSkip  Tier = "instant_skip"  // stat calls only
	TierHashSkip     Tier = "hash_skip"     // changed stats, same content
	TierCacheRestore Tier = "cache_restore" // outputs restored from the cache
	TierFullBuild    Tier = "full_build"    // the build command ran
)

// Status is the outcome of a package or a whole build.
type Status string

// Statuses. A build is success, failed or cancelled (interrupted when the
// process died during it); a package is success, failed, skipped (a
// dependency failed) or cancelled.
const (
	StatusQueued      Status = "queued"
	StatusRunning     Status = "running"
	StatusSuccess     Status = "success"
	StatusFailed      Status = "failed"
	StatusSkipped     Status = "skipped"
	StatusCancelled   Status = "cancelled"
	StatusInterrupted Status = "interrupted"
)

// ReasonKind names why a package got its tier.
type ReasonKind string

// Reason kinds.
const (
	ReasonUnchangedStat    ReasonKind = "unchanged_stat"    // instant_skip
	ReasonUnchangedContent ReasonKind = "unchanged_content" // hash_skip
	ReasonCacheHit         ReasonKind = "cache_hit"         // cache_restore
	ReasonForced           ReasonKind = "forced"
	ReasonNoPreviousBuild  ReasonKind = "no_previous_build"
	ReasonInputsChanged    ReasonKind = "inputs_changed"
	ReasonOutputsMissing   ReasonKind = "outputs_missing"
	ReasonDependencyFailed ReasonKind = "dependency_failed"
)

// Reason explains one decision.
type Reason struct {
	Kind       ReasonKind `json:"kind"`
	Source     string     `json:"source,omitempty"`     // cache_hit: local or remote
	Dependency string     `json:"dependency,omitempty"` // dependency_failed
	Message    string     `json:"message,omitempty"`
}

// Request asks for a build. The zero Request builds every package.
type Request struct {
	// Packages to build, with their dependencies; empty means all.
	Packages []string `json:"packages,omitempty"`
	// Force runs every selected package's command, ignoring state and
	// cache (outputs are still stored).
	Force bool `json:"force,omitempty"`
	// Requester names who asked (a user, key or tool); recorded.
	Requester string `json:"requester,omitempty"`
	// Priority is recorded for schedulers that honour it; higher first.
	Priority int `json:"priority,omitempty"`
}

// PackageResult is one package's outcome in a build.
type PackageResult struct {
	Name        string  `json:"name"`
	Tier        Tier    `json:"tier,omitempty"`
	Status      Status  `json:"status"`
	DurationMs  int64   `json:"duration_ms"`
	Digest      string  `json:"digest,omitempty"`
	Error       string  `json:"error,omitempty"`
	Reason      *Reason `json:"reason,omitempty"`
	CacheSource string  `json:"cache_source,omitempty"`
	// Output holds the last lines of a failed package's output.
	Output []string `json:"output,omitempty"`
}

// BuildResult is the outcome of a build, in the shape DESIGN.md fixes for
// `build --json` and the HTTP API.
type BuildResult struct {
	ID         string          `json:"id"`
	Status     Status          `json:"status"`
	DurationMs int64           `json:"duration_ms"`
	StartedAt  time.Time       `json:"started_at"`
	Requester  string          `json:"requester,omitempty"`
	Error      string          `json:"error,omitempty"`
	Packages   []PackageResult `json:"packages"`
}

// Counts returns how many packages ended in each tier and status.
func (r *BuildResult) Counts() (tiers map[Tier]int, statuses map[Status]int) {
	tiers, statuses = map[Tier]int{}, map[Status]int{}
	for _, p := range r.Packages {
		if p.Tier != "" && p.Status == StatusSuccess {
			tiers[p.Tier]++
		}
		statuses[p.Status]++
	}
	return tiers, statuses
}
