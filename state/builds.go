package state

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/musclemap/buildnet/hash"
)

// Page sizes of [DB.Builds].
const (
	defaultLimit = 50
	maxLimit     = 500
)

// buildColumns are the columns scanBuild reads, in order.
const buildColumns = `b.id, b.status, b.requester, b.priority, b.targets, b.forced,
	b.created_at, b.started_at, b.finished_at, b.duration_ms, b.error, ` + skipsExpr + `, b.skip_set IS NOT NULL`

// skipsExpr is the results document of a no-op build b: its own copy
// (skips, as recorded before skip sets) or its set's.
const skipsExpr = `COALESCE(b.skips, (SELECT ss.data FROM skip_sets ss WHERE ss.id = b.skip_set))`

// resultColumns are the columns scanResult reads after build_id, in order.
const resultColumns = `package, tier, status, digest, duration_ms, error, reason, cache_source, started_at, saved_ms`

// upsertResultSQL inserts a package result or replaces the one recorded for
// the same package of the same build, keeping its position.
const upsertResultSQL = `INSERT INTO package_results (build_id, ` + resultColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)` + upsertResultTail

// upsertResultTail is upsertResultSQL's conflict clause.
const upsertResultTail = `
	ON CONFLICT (build_id, package) DO UPDATE SET
		tier = excluded.tier, status = excluded.status, digest = excluded.digest,
		duration_ms = excluded.duration_ms, error = excluded.error, reason = excluded.reason,
		cache_source = excluded.cache_source, started_at = excluded.started_at, saved_ms = excluded.saved_ms`

// CreateBuild records a new build owned by this handle. Its status is
// queued (the default when empty) or running; a zero CreatedAt is set to the
// current time, and a running build with a zero StartedAt starts at
// CreatedAt. Results in b.Packages are recorded too. A final status
// (success, failed, cancelled or interrupted) records a build that already
// finished at b.FinishedAt (now when zero), as CreateBuild then
// FinishBuild would, in one transaction: a build too short to have been
// worth recording while it ran costs one write. It returns [ErrExists] if
// the id is taken.
func (db *DB) CreateBuild(ctx context.Context, b Build) error {
	if b.ID == "" {
		return fmt.Errorf("create build: empty id: %w", ErrInvalid)
	}
	final := finished(b.Status)
	switch b.Status {
	case "":
		b.Status = StatusQueued
	case StatusQueued, StatusRunning:
	default:
		if !final {
			return fmt.Errorf("create build %s: status %q: %w", b.ID, b.Status, ErrInvalid)
		}
	}
	if err := checkResults(b.Packages); err != nil {
		return fmt.Errorf("create build %s: %w", b.ID, err)
	}
	now := nanos(db.now())
	created := nanos(b.CreatedAt)
	if created == 0 {
		created = now
	}
	started := nanos(b.StartedAt)
	if (b.Status == StatusRunning || final) && started == 0 {
		started = created
	}
	status := b.Status
	if final {
		status = StatusRunning // until finishTx below, in the same transaction
	}
	targets := b.Targets
	if targets == nil {
		targets = []string{}
	}
	targetsJSON, err := json.Marshal(targets)
	if err != nil {
		return fmt.Errorf("create build %s: %w", b.ID, err)
	}
	err = db.update(ctx, func(tx *sql.Tx) error {
		if err := db.register(ctx, tx); err != nil {
			return err
		}
		var exists bool
		err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM builds WHERE id = ?)`, b.ID).Scan(&exists)
		if err != nil {
			return err
		}
		if exists {
			return ErrExists
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO builds
			(id, status, requester, priority, targets, forced, created_at, started_at, error, owner_pid, owner_instance)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			b.ID, status, b.Requester, b.Priority, string(targetsJSON), b.Force, created, started, b.Error,
			db.pid, db.instance)
		if err != nil {
			return err
		}
		if final {
			end := nanos(b.FinishedAt)
			if end == 0 {
				end = now
			}
			if err := db.finishTx(ctx, tx, b.ID, b.Status, b.Error, end, b.Packages); err != nil {
				return err
			}
		} else if err := putResults(ctx, tx, b.ID, b.Packages); err != nil {
			return err
		}
		return db.touch(ctx, tx, now)
	})
	if err != nil {
		return fmt.Errorf("create build %s: %w", b.ID, err)
	}
	return nil
}

// StartBuild moves a queued build to running, started at at (the current
// time when zero). Starting a running build again is a no-op. It returns
// [ErrNotFound] for an unknown id and [ErrFinished] for a finished build.
func (db *DB) StartBuild(ctx context.Context, id string, at time.Time) error {
	now := nanos(db.now())
	started := nanos(at)
	if started == 0 {
		started = now
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		status, err := buildStatus(ctx, tx, id)
		if err != nil {
			return err
		}
		switch {
		case status == StatusRunning:
			return nil
		case finished(status):
			return fmt.Errorf("status %s: %w", status, ErrFinished)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE builds SET status = 'running', started_at = ? WHERE id = ?`,
			started, id); err != nil {
			return err
		}
		return db.touch(ctx, tx, now)
	})
	if err != nil {
		return fmt.Errorf("start build %s: %w", id, err)
	}
	return nil
}

// FinishBuild records the end of a build in one transaction: its status
// (success, failed, cancelled or interrupted), error message, finish time (the
// current time when at is zero) and duration, and its package results, each
// inserted or replacing the one already recorded for the same package. It
// returns [ErrNotFound] for an unknown id and [ErrFinished] for a build that
// already finished.
func (db *DB) FinishBuild(ctx context.Context, id, status, errMsg string, at time.Time, results []PackageResult) error {
	if !finished(status) {
		return fmt.Errorf("finish build %s: status %q: %w", id, status, ErrInvalid)
	}
	if err := checkResults(results); err != nil {
		return fmt.Errorf("finish build %s: %w", id, err)
	}
	now := nanos(db.now())
	end := nanos(at)
	if end == 0 {
		end = now
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		if err := db.finishTx(ctx, tx, id, status, errMsg, end, results); err != nil {
			return err
		}
		return db.touch(ctx, tx, now)
	})
	if err != nil {
		return fmt.Errorf("finish build %s: %w", id, err)
	}
	return nil
}

// finishTx records the end of build id in tx, as FinishBuild describes;
// end is in stored form.
func (db *DB) finishTx(ctx context.Context, tx *sql.Tx, id, status, errMsg string, end int64, results []PackageResult) error {
	var cur string
	var created, started int64
	err := tx.QueryRowContext(ctx, `SELECT status, created_at, started_at FROM builds WHERE id = ?`, id).
		Scan(&cur, &created, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if finished(cur) {
		return fmt.Errorf("status %s: %w", cur, ErrFinished)
	}
	from := started
	if from == 0 {
		from = created
	}
	duration := max(0, (end-from)/int64(time.Millisecond))
	var set, skips []byte
	switch {
	case !allSkipped(status, results):
		if err := putResults(ctx, tx, id, results); err != nil {
			return err
		}
	case startedWith(results, started):
		if set, err = db.putSkipSet(ctx, tx, results); err != nil {
			return err
		}
	default:
		skips = appendResultsJSON(make([]byte, 0, 256*len(results)), results)
	}
	_, err = tx.ExecContext(ctx,
		`UPDATE builds SET status = ?, error = ?, finished_at = ?, duration_ms = ?, skips = ?, skip_set = ? WHERE id = ?`,
		status, errMsg, end, duration, skips, set, id)
	return err
}

// startedWith reports whether every result started when its build did
// (started, in stored form), as the engine records them: a skip set
// leaves their start out.
func startedWith(results []PackageResult, started int64) bool {
	at := fromNanos(started)
	for _, r := range results {
		if !r.StartedAt.Equal(at) {
			return false
		}
	}
	return true
}

// putSkipSet stores the results of a no-op build as a skip set, unless
// the same set is stored already, and returns its id. The results leave
// out their start, which is the build's (startedWith): the sets of two
// no-op builds of an unchanged workspace are the same.
func (db *DB) putSkipSet(ctx context.Context, tx *sql.Tx, results []PackageResult) ([]byte, error) {
	if id := db.lastSkips.id(results); id != nil {
		var stored bool
		err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM skip_sets WHERE id = ?)`, id).Scan(&stored)
		if err != nil {
			return nil, fmt.Errorf("skip set: %w", err)
		}
		if stored {
			return id, nil
		}
	}
	b := make([]byte, 0, 160*len(results))
	b = append(b, '[')
	for i, r := range results {
		if i > 0 {
			b = append(b, ',')
		}
		r.StartedAt = time.Time{}
		b = appendResultJSON(b, r)
	}
	b = append(b, ']')
	sum := hash.Sum(b)
	if _, err := tx.ExecContext(ctx, `INSERT INTO skip_sets (id, data) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, sum[:], b); err != nil {
		return nil, fmt.Errorf("skip set: %w", err)
	}
	db.lastSkips.remember(results, sum[:])
	return sum[:], nil
}

// lastSkipSet remembers the results of the skip set last stored, and its
// id. It is safe for concurrent use.
type lastSkipSet struct {
	mu      sync.Mutex
	results []PackageResult // StartedAt left zero
	set     []byte
}

// id returns the id of the set results make when they are those
// remembered, whatever their start; nil otherwise.
func (l *lastSkipSet) id(results []PackageResult) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(results) != len(l.results) {
		return nil
	}
	for i, r := range results {
		r.StartedAt = time.Time{}
		if r != l.results[i] {
			return nil
		}
	}
	return l.set
}

func (l *lastSkipSet) remember(results []PackageResult, set []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.results = slices.Clone(results)
	for i := range l.results {
		l.results[i].StartedAt = time.Time{}
	}
	l.set = set
}

// checkResults rejects results the store cannot key.
func checkResults(results []PackageResult) error {
	for _, r := range results {
		if r.Package == "" {
			return fmt.Errorf("package result with empty name: %w", ErrInvalid)
		}
		if y := r.StartedAt.Year(); !r.StartedAt.IsZero() && (y < 0 || y > 9999) {
			return fmt.Errorf("package result %s: started_at year %d outside [0,9999]: %w", r.Package, y, ErrInvalid)
		}
	}
	return nil
}

// putResults upserts the results of build id.
func putResults(ctx context.Context, tx *sql.Tx, id string, results []PackageResult) error {
	// One multi-row statement per chunk: a statement per row costs more
	// than the rows themselves.
	const chunk = 200
	for len(results) > 0 {
		n := min(len(results), chunk)
		var q strings.Builder
		q.WriteString(`INSERT INTO package_results (build_id, ` + resultColumns + `) VALUES `)
		args := make([]any, 0, n*11)
		for i, r := range results[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, id, r.Package, r.Tier, r.Status, digestArg(r.Digest), r.DurationMs,
				r.Error, r.Reason, r.CacheSource, nanos(r.StartedAt), r.SavedMs)
		}
		q.WriteString(upsertResultTail)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("package results: %w", err)
		}
		results = results[n:]
	}
	return nil
}

// buildStatus returns the status of build id, or ErrNotFound.
func buildStatus(ctx context.Context, tx *sql.Tx, id string) (string, error) {
	var status string
	err := tx.QueryRowContext(ctx, `SELECT status FROM builds WHERE id = ?`, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return status, err
}

// Build returns build id with its package results in the order they were
// first recorded, or [ErrNotFound].
func (db *DB) Build(ctx context.Context, id string) (Build, error) {
	var b Build
	err := db.view(ctx, func(tx *sql.Tx) error {
		var err error
		b, err = scanBuild(tx.QueryRowContext(ctx, `SELECT `+buildColumns+` FROM builds b WHERE b.id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		builds := []Build{b}
		if err := loadResults(ctx, tx, builds); err != nil {
			return err
		}
		b = builds[0]
		return nil
	})
	if err != nil {
		return Build{}, fmt.Errorf("get build %s: %w", id, err)
	}
	return b, nil
}

// Builds lists the builds matching q, newest first (by creation time, then
// id), each with its package results. It returns at most q.Limit builds and,
// when more match, a cursor to pass as q.Cursor for the next page; next is ""
// on the last page. Paging is by key, so builds created while a client pages
// never shift the pages it has yet to read. A cursor it did not produce
// yields [ErrInvalidCursor].
func (db *DB) Builds(ctx context.Context, q Query) ([]Build, string, error) {
	limit := pageSize(q.Limit, defaultLimit, maxLimit)

	var (
		where []string
		args  []any
	)
	if q.Status != "" {
		where = append(where, `b.status = ?`)
		args = append(args, q.Status)
	}
	if q.Requester != "" {
		where = append(where, `b.requester = ?`)
		args = append(args, q.Requester)
	}
	if q.Package != "" || q.Tier != "" {
		cond := `EXISTS (SELECT 1 FROM package_results r WHERE r.build_id = b.id`
		// A no-op build keeps its results in a skip set (or, recorded
		// before skip sets, on its own row): every one of them an
		// instant_skip.
		skip := `((b.skips IS NOT NULL OR b.skip_set IS NOT NULL)`
		if q.Package != "" {
			cond += ` AND r.package = ?`
			args = append(args, q.Package)
		}
		if q.Tier != "" {
			cond += ` AND r.tier = ?`
			args = append(args, q.Tier)
			skip += ` AND ? = 'instant_skip'`
		}
		if q.Package != "" {
			skip += ` AND EXISTS (SELECT 1 FROM json_each(` + skipsExpr + `) s WHERE json_extract(s.value, '$.name') = ?)`
		}
		if q.Tier != "" {
			args = append(args, q.Tier)
		}
		if q.Package != "" {
			args = append(args, q.Package)
		}
		where = append(where, `(`+cond+`) OR `+skip+`))`)
	}
	if !q.Since.IsZero() {
		where = append(where, `b.created_at >= ?`)
		args = append(args, nanos(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, `b.created_at < ?`)
		args = append(args, nanos(q.Until))
	}
	if q.Search != "" {
		p := likePattern(q.Search)
		where = append(where, `(b.id LIKE ? ESCAPE '\' OR b.requester LIKE ? ESCAPE '\' OR b.error LIKE ? ESCAPE '\'
			OR EXISTS (SELECT 1 FROM package_results r WHERE r.build_id = b.id
				AND (r.package LIKE ? ESCAPE '\' OR r.error LIKE ? ESCAPE '\'))
			OR ((b.skips IS NOT NULL OR b.skip_set IS NOT NULL) AND EXISTS (SELECT 1 FROM json_each(`+skipsExpr+`) s
				WHERE json_extract(s.value, '$.name') LIKE ? ESCAPE '\')))`)
		args = append(args, p, p, p, p, p, p)
	}
	if q.Cursor != "" {
		created, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list builds: %w", err)
		}
		where = append(where, `(b.created_at, b.id) < (?, ?)`)
		args = append(args, created, id)
	}
	query := `SELECT ` + buildColumns + ` FROM builds b`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY b.created_at DESC, b.id DESC LIMIT ?`
	// One more than a page tells whether there is a next page.
	args = append(args, limit+1)

	var (
		builds []Build
		more   bool
	)
	err := db.view(ctx, func(tx *sql.Tx) error {
		var err error
		if builds, err = queryRows(ctx, tx, query, args, scanBuild, builds); err != nil {
			return err
		}
		if len(builds) > limit {
			builds, more = builds[:limit], true
		}
		return loadResults(ctx, tx, builds)
	})
	if err != nil {
		return nil, "", fmt.Errorf("list builds: %w", err)
	}
	if builds == nil {
		builds = []Build{}
	}
	var next string
	if more {
		last := builds[len(builds)-1]
		next = encodeCursor(nanos(last.CreatedAt), last.ID)
	}
	return builds, next, nil
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// scanBuild reads the buildColumns of one row.
func scanBuild(row rowScanner) (Build, error) {
	var (
		b                          Build
		targets                    string
		created, started, finished int64
		skips                      []byte
		fromSet                    bool
	)
	err := row.Scan(&b.ID, &b.Status, &b.Requester, &b.Priority, &targets, &b.Force,
		&created, &started, &finished, &b.DurationMs, &b.Error, &skips, &fromSet)
	if err != nil {
		return Build{}, err
	}
	if err := json.Unmarshal([]byte(targets), &b.Targets); err != nil {
		return Build{}, fmt.Errorf("build %s: decode targets: %w", b.ID, err)
	}
	if b.Targets == nil {
		b.Targets = []string{}
	}
	b.CreatedAt = fromNanos(created)
	b.StartedAt = fromNanos(started)
	b.FinishedAt = fromNanos(finished)
	b.Packages = []PackageResult{}
	if len(skips) > 0 {
		if err := json.Unmarshal(skips, &b.Packages); err != nil {
			return Build{}, fmt.Errorf("build %s: decode results: %w", b.ID, err)
		}
	}
	if fromSet {
		for i := range b.Packages {
			b.Packages[i].StartedAt = b.StartedAt
		}
	}
	return b, nil
}

// allSkipped reports whether results are those of a build that did
// nothing: every package an instant_skip. Such results are stored as one
// document, shared by the builds with the same results (putSkipSet).
func allSkipped(status string, results []PackageResult) bool {
	if status != StatusSuccess || len(results) == 0 {
		return false
	}
	for _, r := range results {
		if r.Tier != "instant_skip" {
			return false
		}
	}
	return true
}

// loadResults fills in the Packages of builds with one query.
func loadResults(ctx context.Context, tx *sql.Tx, builds []Build) error {
	if len(builds) == 0 {
		return nil
	}
	index := make(map[string]int, len(builds))
	args := make([]any, len(builds))
	for i, b := range builds {
		index[b.ID] = i
		args[i] = b.ID
	}
	placeholders := strings.Repeat(", ?", len(builds))[2:]
	rows, err := tx.QueryContext(ctx, `SELECT build_id, `+resultColumns+` FROM package_results
		WHERE build_id IN (`+placeholders+`) ORDER BY seq`, args...)
	if err != nil {
		return fmt.Errorf("load package results: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id      string
			r       PackageResult
			digest  []byte
			started int64
		)
		if err := rows.Scan(&id, &r.Package, &r.Tier, &r.Status, &digest, &r.DurationMs,
			&r.Error, &r.Reason, &r.CacheSource, &started, &r.SavedMs); err != nil {
			return fmt.Errorf("load package results: %w", err)
		}
		if r.Digest, err = scanDigest(digest); err != nil {
			return fmt.Errorf("load package results: build %s package %s: %w", id, r.Package, err)
		}
		r.StartedAt = fromNanos(started)
		i := index[id]
		builds[i].Packages = append(builds[i].Packages, r)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load package results: %w", err)
	}
	return nil
}

// likePattern returns a LIKE pattern (with ESCAPE '\') matching s anywhere.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// encodeCursor returns the opaque cursor that continues a listing after the
// build created at created with the given id.
func encodeCursor(created int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(created, 10) + ":" + id))
}

// decodeCursor is the inverse of encodeCursor.
func decodeCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", ErrInvalidCursor
	}
	num, id, ok := strings.Cut(string(b), ":")
	created, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || id == "" {
		return 0, "", ErrInvalidCursor
	}
	return created, id, nil
}

// PutLog stores the captured output of package pkg in build buildID,
// replacing any stored before. It returns [ErrNotFound] for an unknown build.
func (db *DB) PutLog(ctx context.Context, buildID, pkg string, log []byte) error {
	if pkg == "" {
		return fmt.Errorf("put log of build %s: empty package name: %w", buildID, ErrInvalid)
	}
	if log == nil {
		log = []byte{}
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		if _, err := buildStatus(ctx, tx, buildID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO logs (build_id, package, data) VALUES (?, ?, ?)
			ON CONFLICT (build_id, package) DO UPDATE SET data = excluded.data`, buildID, pkg, log)
		return err
	})
	if err != nil {
		return fmt.Errorf("put log of %s in build %s: %w", pkg, buildID, err)
	}
	return nil
}

// Log returns the output stored by [DB.PutLog] for package pkg in build
// buildID, or [ErrNotFound].
func (db *DB) Log(ctx context.Context, buildID, pkg string) ([]byte, error) {
	var log []byte
	err := db.view(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT data FROM logs WHERE build_id = ? AND package = ?`, buildID, pkg).
			Scan(&log)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get log of %s in build %s: %w", pkg, buildID, err)
	}
	if log == nil {
		log = []byte{}
	}
	return log, nil
}

// PruneBuilds keeps the newest keep finished builds (success, failed,
// cancelled or interrupted) and deletes the older ones, with their package
// results and logs. Queued and running builds are never deleted. It returns
// the number of builds deleted.
func (db *DB) PruneBuilds(ctx context.Context, keep int) (int, error) {
	if keep < 0 {
		return 0, fmt.Errorf("prune builds: keep %d: %w", keep, ErrInvalid)
	}
	var n int64
	err := db.update(ctx, func(tx *sql.Tx) error {
		// Results and logs go with their build through ON DELETE CASCADE.
		res, err := tx.ExecContext(ctx, `DELETE FROM builds
			WHERE status IN ('success', 'failed', 'cancelled', 'interrupted')
			AND id NOT IN (
				SELECT id FROM builds
				WHERE status IN ('success', 'failed', 'cancelled', 'interrupted')
				ORDER BY created_at DESC, id DESC LIMIT ?)`, keep)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM skip_sets
			WHERE id NOT IN (SELECT skip_set FROM builds WHERE skip_set IS NOT NULL)`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune builds: %w", err)
	}
	return int(n), nil
}
