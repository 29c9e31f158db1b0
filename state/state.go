package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/musclemap/buildnet/hash"
	"github.com/musclemap/buildnet/internal/jsonenc"
)

var (
	// ErrNotFound is returned when a build, a log or another record does not
	// exist.
	ErrNotFound = errors.New("state: not found")
	// ErrExists is returned by [DB.CreateBuild] when a build with the same id
	// already exists.
	ErrExists = errors.New("state: already exists")
	// ErrFinished is returned when starting or finishing a build that has
	// already finished (including one marked interrupted).
	ErrFinished = errors.New("state: build already finished")
	// ErrInvalid is returned for an argument the store cannot accept, such as
	// an empty id or an unknown status.
	ErrInvalid = errors.New("state: invalid argument")
	// ErrInvalidCursor is returned by [DB.Builds] for a cursor it did not
	// produce.
	ErrInvalidCursor = errors.New("state: invalid cursor")
	// ErrSchemaTooNew is returned by [Open] when the database was written by
	// a newer version of BuildNet, with a schema this one does not know.
	ErrSchemaTooNew = errors.New("state: database schema is newer than this program")
	// ErrReadOnly is returned by writes on a database opened read-only.
	ErrReadOnly = errors.New("state: database opened read-only")
	// ErrClosed is returned by methods called after [DB.Close].
	ErrClosed = errors.New("state: database closed")
)

// Build statuses. A build is created queued or running and ends in one of the
// other four.
const (
	StatusQueued      = "queued"
	StatusRunning     = "running"
	StatusSuccess     = "success"
	StatusFailed      = "failed"
	StatusCancelled   = "cancelled"
	StatusInterrupted = "interrupted"
)

// PackageState is what the store remembers about one package between builds.
type PackageState struct {
	// Name is the package name, unique in the workspace.
	Name string
	// Digest is the input digest of the last successful build of the
	// package; the zero Digest means none.
	Digest hash.Digest
	// Snapshot is an opaque blob owned by the engine (file fingerprints and
	// the like), stored verbatim.
	Snapshot []byte
	// UpdatedAt is when the state was written. [DB.PutPackageStates] sets it
	// to the current time when it is zero.
	UpdatedAt time.Time
}

// Build is one build request and, once it ran, its outcome.
type Build struct {
	ID     string `json:"id"`
	Status string `json:"status"` // queued, running, success, failed, cancelled or interrupted
	// Requester names who asked for the build (a user, "cli", "watch"...).
	Requester string `json:"requester,omitempty"`
	Priority  int    `json:"priority"`
	// Targets are the requested package names; empty means all packages.
	Targets []string `json:"targets"`
	// Force asks for every package to be rebuilt regardless of its state.
	Force     bool      `json:"force"`
	CreatedAt time.Time `json:"created_at"`
	// StartedAt is zero while the build is queued.
	StartedAt time.Time `json:"started_at,omitzero"`
	// FinishedAt is zero until the build finished.
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// DurationMs is the time from start (or creation, if it never started)
	// to finish, in milliseconds.
	DurationMs int64  `json:"duration_ms"`
	Error      string `json:"error,omitempty"`
	// Packages are the per-package results, in the order they were first
	// recorded. It is never nil in a Build returned by the store.
	Packages []PackageResult `json:"packages"`
}

// PackageResult is the outcome of one package in one build.
type PackageResult struct {
	Package string `json:"name"`
	// Tier is instant_skip, hash_skip, cache_restore or full_build.
	Tier string `json:"tier,omitempty"`
	// Status is success, failed, skipped or cancelled.
	Status string `json:"status"`
	// Digest is the input digest of the package in this build.
	Digest     hash.Digest `json:"digest,omitzero"`
	DurationMs int64       `json:"duration_ms"`
	Error      string      `json:"error,omitempty"`
	// Reason explains the tier decision (JSON or text from the engine),
	// stored verbatim.
	Reason string `json:"reason,omitempty"`
	// CacheSource is local or remote when outputs came from a cache.
	CacheSource string    `json:"cache_source,omitempty"`
	StartedAt   time.Time `json:"started_at,omitzero"`
	// SavedMs is how long the original build of a restored package took:
	// the time the cache saved.
	SavedMs int64 `json:"saved_ms,omitempty"`
}

// Query selects builds for [DB.Builds]. The zero Query lists the newest 50
// builds.
type Query struct {
	// Package and Tier keep the builds that have a result for that package,
	// with that tier; when both are set, the same result must match both.
	Package string
	Tier    string
	// Status and Requester are exact filters on the build.
	Status    string
	Requester string
	// Since (inclusive) and Until (exclusive) bound the creation time; zero
	// means unbounded.
	Since time.Time
	Until time.Time
	// Search is a case-insensitive (ASCII) substring matched against the
	// build id, requester and error, and the names and errors of its
	// package results.
	Search string
	// Limit is the page size: 0 means 50, and it is capped at 500.
	Limit int
	// Cursor continues a listing from the next value a previous page
	// returned, with the same filters.
	Cursor string
}

// Store is the persistence the engine needs. [DB] implements it on SQLite.
// Implementations are safe for concurrent use.
type Store interface {
	// PackageStates returns the state of every package, keyed by name.
	PackageStates(ctx context.Context) (map[string]PackageState, error)
	// PutPackageStates inserts or replaces states in one transaction.
	PutPackageStates(ctx context.Context, states []PackageState) error
	// DeletePackageStates removes the states of the named packages; unknown
	// names are ignored.
	DeletePackageStates(ctx context.Context, names []string) error
	// CreateBuild records a new build, queued or running; or, given a
	// final status, a build that already finished, with its results, in
	// one transaction.
	CreateBuild(ctx context.Context, b Build) error
	// StartBuild moves a queued build to running.
	StartBuild(ctx context.Context, id string, at time.Time) error
	// FinishBuild records the final status of a build and its package
	// results in one transaction.
	FinishBuild(ctx context.Context, id, status, errMsg string, at time.Time, results []PackageResult) error
	// Build returns one build with its package results, or ErrNotFound.
	Build(ctx context.Context, id string) (Build, error)
	// Builds lists builds newest first; next is "" on the last page.
	Builds(ctx context.Context, q Query) (builds []Build, next string, err error)
	// PutLog stores the captured output of one package in one build.
	PutLog(ctx context.Context, buildID, pkg string, log []byte) error
	// Log returns what PutLog stored, or ErrNotFound.
	Log(ctx context.Context, buildID, pkg string) ([]byte, error)
	// PruneBuilds keeps the newest keep finished builds and deletes the
	// older ones with their results and logs, returning how many it deleted.
	PruneBuilds(ctx context.Context, keep int) (int, error)
	// PutManifest stores the input manifest behind a package's digest;
	// storing the same digest again is a no-op.
	PutManifest(ctx context.Context, pkg string, digest hash.Digest, data []byte) error
	// PutManifests stores several manifests in one transaction.
	PutManifests(ctx context.Context, ms []ManifestRecord) error
	// Manifest returns the manifest stored for digest, or ErrNotFound.
	Manifest(ctx context.Context, digest hash.Digest) (pkg string, data []byte, err error)
	// PruneManifests keeps the newest keep manifests of each package.
	PruneManifests(ctx context.Context, keep int) (int, error)
	// Secret returns a random key that is created once per database and
	// never leaves it (the engine keys hashes of environment values with it).
	Secret(ctx context.Context) ([]byte, error)
}

var _ Store = (*DB)(nil)

// finished reports whether status is one a build ends in.
func finished(status string) bool {
	switch status {
	case StatusSuccess, StatusFailed, StatusCancelled, StatusInterrupted:
		return true
	}
	return false
}

// nanos converts t to the stored form: UTC Unix nanoseconds, 0 for the zero
// time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// digestArg is the stored form of d: NULL for the zero digest.
func digestArg(d hash.Digest) any {
	if d.IsZero() {
		return nil
	}
	return d[:]
}

// scanDigest converts a stored digest back.
func scanDigest(b []byte) (hash.Digest, error) {
	var d hash.Digest
	switch len(b) {
	case 0:
		return d, nil
	case hash.Size:
		copy(d[:], b)
		return d, nil
	}
	return d, fmt.Errorf("decode digest: %d bytes, want %d", len(b), hash.Size)
}

// packageResultJSON is PackageResult's wire form without its methods.
type packageResultJSON PackageResult

// MarshalJSON writes a Reason that holds a JSON list (as the engine
// stores it) as the list itself, under "reasons", so readers get
// structured reasons rather than JSON inside a string.
func (r PackageResult) MarshalJSON() ([]byte, error) {
	if y := r.StartedAt.Year(); !r.StartedAt.IsZero() && !jsonenc.TimeOK(r.StartedAt) {
		return nil, fmt.Errorf("package result %s: started_at year %d outside [0,9999]", r.Package, y)
	}
	return appendResultJSON(make([]byte, 0, 256), r), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *PackageResult) UnmarshalJSON(b []byte) error {
	var v struct {
		packageResultJSON
		Reasons json.RawMessage `json:"reasons"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = PackageResult(v.packageResultJSON)
	if len(v.Reasons) > 0 && string(v.Reasons) != "null" {
		r.Reason = string(v.Reasons)
	}
	return nil
}

// pageSize is a requested page size n, with def for 0 or less and at
// most most.
func pageSize(n, def, most int) int {
	switch {
	case n <= 0:
		return def
	case n > most:
		return most
	}
	return n
}

// queryRows runs query in tx and appends each row, read by scan, to out.
func queryRows[T any](ctx context.Context, tx *sql.Tx, query string, args []any, scan func(rowScanner) (T, error), out []T) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
