package buildnet

import (
	"errors"
	"strings"
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

// Reason kinds. The first three say which check let a package skip work;
// the others say what differs from the previous successful run.
const (
	ReasonUnchangedStat      ReasonKind = "unchanged_stat"    // instant_skip
	ReasonUnchangedContent   ReasonKind = "unchanged_content" // hash_skip
	ReasonCacheHit           ReasonKind = "cache_hit"         // cache_restore, with Source
	ReasonForced             ReasonKind = "forced"
	ReasonNoPreviousBuild    ReasonKind = "no_previous_build"
	ReasonOutputsMissing     ReasonKind = "outputs_missing"
	ReasonFileAdded          ReasonKind = "file_added"
	ReasonFileRemoved        ReasonKind = "file_removed"
	ReasonFileChanged        ReasonKind = "file_changed"
	ReasonModeChanged        ReasonKind = "mode_changed"
	ReasonEnvChanged         ReasonKind = "env_changed"     // Name only, never the value
	ReasonCommandChanged     ReasonKind = "command_changed" // Name: build_cmd, pre_build or post_build
	ReasonGlobalInputChanged ReasonKind = "global_input_changed"
	ReasonDependencyChanged  ReasonKind = "dependency_changed" // with Dependency and its Reasons
	ReasonDependencyFailed   ReasonKind = "dependency_failed"
	// ReasonInputsChanged is used when the previous run's manifest is no
	// longer kept, so the exact difference cannot be named.
	ReasonInputsChanged ReasonKind = "inputs_changed"
)

// Reason explains one decision.
type Reason struct {
	Kind       ReasonKind `json:"kind"`
	Path       string     `json:"path,omitempty"`       // file_*, mode_changed, global_input_changed
	Name       string     `json:"name,omitempty"`       // env_changed, command_changed
	Source     string     `json:"source,omitempty"`     // cache_hit: local or remote
	Dependency string     `json:"dependency,omitempty"` // dependency_changed, dependency_failed
	Reasons    []Reason   `json:"reasons,omitempty"`    // dependency_changed: the dependency's own reasons
	Message    string     `json:"message,omitempty"`
}

// String renders the reason for people, e.g. "dependency shared changed:
// file src/x.ts".
func (r Reason) String() string {
	switch r.Kind {
	case ReasonUnchangedStat:
		return "no file changed (stat check)"
	case ReasonUnchangedContent:
		return "files touched, contents unchanged"
	case ReasonCacheHit:
		return "cache hit (" + r.Source + ")"
	case ReasonForced:
		return "forced"
	case ReasonNoPreviousBuild:
		return "no previous build"
	case ReasonOutputsMissing:
		return "outputs missing or changed"
	case ReasonFileAdded:
		return "file added: " + r.Path
	case ReasonFileRemoved:
		return "file removed: " + r.Path
	case ReasonFileChanged:
		return "file " + r.Path
	case ReasonModeChanged:
		return "mode changed: " + r.Path
	case ReasonEnvChanged:
		return "env " + r.Name + " changed"
	case ReasonCommandChanged:
		return r.Name + " changed"
	case ReasonGlobalInputChanged:
		return "global input changed: " + r.Path
	case ReasonDependencyChanged:
		var parts []string
		for _, sub := range r.Reasons {
			parts = append(parts, sub.String())
		}
		if len(parts) == 0 {
			return "dependency " + r.Dependency + " changed"
		}
		return "dependency " + r.Dependency + " changed: " + strings.Join(parts, ", ")
	case ReasonDependencyFailed:
		return "dependency " + r.Dependency + " failed"
	}
	if r.Message != "" {
		return string(r.Kind) + ": " + r.Message
	}
	return string(r.Kind)
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
	// Filters select packages in Turborepo's syntax (see [ParseFilter]):
	// "api", "api..." (with its dependencies), "...shared" (with its
	// dependents), "./apps/*" (by directory), "!docs" (exclude).
	Filters []string `json:"filters,omitempty"`
	// Affected, when set, selects the packages whose inputs changed
	// between two git revisions, and their dependents.
	Affected *GitRange `json:"affected,omitempty"`
	// DryRun computes digests and tiers without running anything or
	// writing anything; see [Engine.Plan].
	DryRun bool `json:"dry_run,omitempty"`
}

// GitRange names two revisions to compare. An empty Base means "main";
// an empty Head means the working tree, uncommitted changes included.
type GitRange struct {
	Base string `json:"base,omitempty"`
	Head string `json:"head,omitempty"`
}

// PackageResult is one package's outcome in a build.
type PackageResult struct {
	Name       string  `json:"name"`
	Tier       Tier    `json:"tier,omitempty"`
	Status     Status  `json:"status"`
	DurationMs int64   `json:"duration_ms"`
	Digest     string  `json:"digest,omitempty"`
	Error      string  `json:"error,omitempty"`
	Reason     *Reason `json:"reason,omitempty"`
	// Reasons lists every reason: for a full build, every difference from
	// the previous successful run.
	Reasons     []Reason `json:"reasons,omitempty"`
	CacheSource string   `json:"cache_source,omitempty"`
	// SavedMs is how long the original build of restored outputs took.
	SavedMs int64 `json:"saved_ms,omitempty"`
	// Output holds the last lines of a failed package's output.
	Output []string `json:"output,omitempty"`
}

// BuildResult is the outcome of a build, in the shape DESIGN.md fixes for
// `build --json` and the HTTP API.
type BuildResult struct {
	ID         string    `json:"id"`
	Status     Status    `json:"status"`
	DurationMs int64     `json:"duration_ms"`
	StartedAt  time.Time `json:"started_at"`
	Requester  string    `json:"requester,omitempty"`
	Error      string    `json:"error,omitempty"`
	// DryRun marks a plan: nothing ran.
	DryRun bool `json:"dry_run,omitempty"`
	// Warnings are things the user should know, such as a fallback to
	// building everything.
	Warnings []string        `json:"warnings,omitempty"`
	Packages []PackageResult `json:"packages"`
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
