package state

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Audit outcomes.
const (
	OutcomeAllowed = "allowed"
	OutcomeDenied  = "denied"
)

// AuditEntry is one record of the audit log: who did what, to what, from
// where, and whether it was allowed.
type AuditEntry struct {
	// Seq numbers entries in the order they were appended; the store sets
	// it.
	Seq      int64     `json:"seq"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Role     string    `json:"role,omitempty"`
	Session  string    `json:"session,omitempty"`
	SourceIP string    `json:"source_ip,omitempty"`
	// Action names what was done, such as build.trigger or key.create.
	Action string `json:"action"`
	Target string `json:"target,omitempty"`
	// Outcome is allowed or denied.
	Outcome string `json:"outcome"`
	// Details holds anything else worth keeping (a JSON object).
	Details map[string]any `json:"details,omitempty"`
}

// AuditQuery selects entries for [DB.Audit] and [DB.ExportAudit].
type AuditQuery struct {
	// Actor, Action and Outcome are exact filters; an Action ending in
	// ".*" matches every action with that prefix (build.* matches
	// build.trigger and build.cancel).
	Actor   string
	Action  string
	Outcome string
	// Since (inclusive) and Until (exclusive) bound the time; zero means
	// unbounded.
	Since time.Time
	Until time.Time
	// Search is a case-insensitive (ASCII) substring matched against the
	// actor, action, target, session, source IP and details.
	Search string
	// Limit is the page size of [DB.Audit]: 0 means 100, capped at 1000.
	// [DB.ExportAudit] ignores it.
	Limit int
	// Cursor continues a listing from the next value of a previous page.
	Cursor string
}

// AuditStore is the persistence of the audit log. [DB] implements it.
type AuditStore interface {
	// AppendAudit appends entries in one transaction and sets their Seq.
	AppendAudit(ctx context.Context, entries []AuditEntry) error
	// Audit lists entries newest first; next is "" on the last page.
	Audit(ctx context.Context, q AuditQuery) (entries []AuditEntry, next string, err error)
	// ExportAudit calls fn with every matching entry, oldest first.
	ExportAudit(ctx context.Context, q AuditQuery, fn func(AuditEntry) error) error
	// PruneAudit deletes the entries older than before.
	PruneAudit(ctx context.Context, before time.Time) (int, error)
}

var _ AuditStore = (*DB)(nil)

// Page sizes of [DB.Audit].
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

const auditColumns = `seq, time, actor, role, session, source_ip, action, target, outcome, details`

// AppendAudit appends entries to the audit log in one transaction and
// sets the Seq of each. A zero Time is set to the current time; Actor,
// Action and an Outcome of allowed or denied are required.
func (db *DB) AppendAudit(ctx context.Context, entries []AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	now := nanos(db.now())
	rows := make([][]any, len(entries))
	for i, e := range entries {
		if e.Actor == "" || e.Action == "" || (e.Outcome != OutcomeAllowed && e.Outcome != OutcomeDenied) {
			return fmt.Errorf("append audit: entry %d: actor, action and outcome allowed or denied are required: %w", i, ErrInvalid)
		}
		details := []byte("{}")
		if len(e.Details) > 0 {
			b, err := json.Marshal(e.Details)
			if err != nil {
				return fmt.Errorf("append audit: entry %d details: %w", i, err)
			}
			details = b
		}
		t := nanos(e.Time)
		if t == 0 {
			t = now
		}
		rows[i] = []any{t, e.Actor, e.Role, e.Session, e.SourceIP, e.Action, e.Target, e.Outcome, string(details)}
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit
			(time, actor, role, session, source_ip, action, target, outcome, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i, r := range rows {
			res, err := stmt.ExecContext(ctx, r...)
			if err != nil {
				return err
			}
			if entries[i].Seq, err = res.LastInsertId(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// auditWhere turns q's filters into a WHERE clause (without the cursor).
func auditWhere(q AuditQuery) ([]string, []any) {
	var (
		where []string
		args  []any
	)
	if q.Actor != "" {
		where = append(where, `actor = ?`)
		args = append(args, q.Actor)
	}
	if q.Action != "" {
		if prefix, ok := strings.CutSuffix(q.Action, ".*"); ok {
			where = append(where, `action LIKE ? ESCAPE '\'`)
			args = append(args, strings.TrimPrefix(likePattern(prefix+"."), "%"))
		} else {
			where = append(where, `action = ?`)
			args = append(args, q.Action)
		}
	}
	if q.Outcome != "" {
		where = append(where, `outcome = ?`)
		args = append(args, q.Outcome)
	}
	if !q.Since.IsZero() {
		where = append(where, `time >= ?`)
		args = append(args, nanos(q.Since))
	}
	if !q.Until.IsZero() {
		where = append(where, `time < ?`)
		args = append(args, nanos(q.Until))
	}
	if q.Search != "" {
		p := likePattern(q.Search)
		where = append(where, `(actor LIKE ? ESCAPE '\' OR action LIKE ? ESCAPE '\' OR target LIKE ? ESCAPE '\'
			OR session LIKE ? ESCAPE '\' OR source_ip LIKE ? ESCAPE '\' OR details LIKE ? ESCAPE '\')`)
		args = append(args, p, p, p, p, p, p)
	}
	return where, args
}

func scanAudit(row rowScanner) (AuditEntry, error) {
	var (
		e       AuditEntry
		t       int64
		details string
	)
	if err := row.Scan(&e.Seq, &t, &e.Actor, &e.Role, &e.Session, &e.SourceIP, &e.Action, &e.Target, &e.Outcome, &details); err != nil {
		return AuditEntry{}, err
	}
	e.Time = fromNanos(t)
	if details != "" && details != "{}" {
		if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
			return AuditEntry{}, fmt.Errorf("audit entry %d: decode details: %w", e.Seq, err)
		}
	}
	return e, nil
}

// Audit lists the entries matching q, newest first, at most q.Limit of
// them, and a cursor for the next page ("" on the last). A cursor it did
// not produce yields [ErrInvalidCursor].
func (db *DB) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, string, error) {
	limit := pageSize(q.Limit, defaultAuditLimit, maxAuditLimit)
	where, args := auditWhere(q)
	if q.Cursor != "" {
		seq, err := decodeAuditCursor(q.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("list audit: %w", err)
		}
		where = append(where, `seq < ?`)
		args = append(args, seq)
	}
	query := `SELECT ` + auditColumns + ` FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY seq DESC LIMIT ?`
	args = append(args, limit+1)
	entries := []AuditEntry{}
	err := db.view(ctx, func(tx *sql.Tx) error {
		var err error
		entries, err = queryRows(ctx, tx, query, args, scanAudit, entries)
		return err
	})
	if err != nil {
		return nil, "", fmt.Errorf("list audit: %w", err)
	}
	var next string
	if len(entries) > limit {
		entries = entries[:limit]
		next = encodeAuditCursor(entries[limit-1].Seq)
	}
	return entries, next, nil
}

// exportBatch is how many entries ExportAudit reads per query, so that
// fn never runs inside a read transaction for long.
const exportBatch = 500

// ExportAudit calls fn with every entry matching q (Limit and Cursor
// aside), oldest first, reading in batches. It stops at fn's first error
// and returns it.
func (db *DB) ExportAudit(ctx context.Context, q AuditQuery, fn func(AuditEntry) error) error {
	where, args := auditWhere(q)
	var after int64
	for {
		w := append(append([]string{}, where...), `seq > ?`)
		a := append(append([]any{}, args...), after, exportBatch)
		var batch []AuditEntry
		err := db.view(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit WHERE `+strings.Join(w, ` AND `)+
				` ORDER BY seq LIMIT ?`, a...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				e, err := scanAudit(rows)
				if err != nil {
					return err
				}
				batch = append(batch, e)
			}
			return rows.Err()
		})
		if err != nil {
			return fmt.Errorf("export audit: %w", err)
		}
		for _, e := range batch {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(batch) < exportBatch {
			return nil
		}
		after = batch[len(batch)-1].Seq
	}
}

// PruneAudit deletes the entries older than before and returns how many.
func (db *DB) PruneAudit(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := db.update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM audit WHERE time < ?`, nanos(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune audit: %w", err)
	}
	return int(n), nil
}

func encodeAuditCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a:" + strconv.FormatInt(seq, 10)))
}

func decodeAuditCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, ErrInvalidCursor
	}
	num, ok := strings.CutPrefix(string(b), "a:")
	seq, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || seq <= 0 {
		return 0, ErrInvalidCursor
	}
	return seq, nil
}
