package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/musclemap/buildnet/hash"
)

// Artifact is one entry of the remote cache buildnetd serves: the body a
// client stored under a team and a key, kept as a content-addressed blob.
type Artifact struct {
	// Team is the key space the artifact belongs to.
	Team string `json:"team"`
	// Key is the client's name for the artifact: turbo's task hash or
	// BuildNet's input digest. It is not a content hash.
	Key string `json:"key"`
	// Blob is the BLAKE3 digest of the body.
	Blob hash.Digest `json:"blob"`
	// Size is the length of the body in bytes.
	Size int64 `json:"size"`
	// DurationMs is the time the client took to produce the artifact, as
	// sent in x-artifact-duration.
	DurationMs int64 `json:"duration_ms"`
	// Tag is the x-artifact-tag sent with the body, verbatim; "" for none.
	Tag       string    `json:"tag,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// LastUsed is when the artifact was stored or last served.
	LastUsed time.Time `json:"last_used"`
}

// ArtifactTotals counts what an [ArtifactStore] holds.
type ArtifactTotals struct {
	Entries int64 `json:"entries"`
	// Bytes is the sum of the artifacts' sizes; artifacts with identical
	// bodies share one blob, so the blobs take at most this much.
	Bytes int64 `json:"bytes"`
}

// ArtifactStore is the index of the remote cache buildnetd serves: which
// blob holds each team's artifact under each key. [DB] implements it.
type ArtifactStore interface {
	// Artifact returns the artifact of team under key, or [ErrNotFound].
	Artifact(ctx context.Context, team, key string) (Artifact, error)
	// PutArtifact inserts a, or replaces the artifact under the same team
	// and key, and returns the one it replaced (replaced false if none).
	PutArtifact(ctx context.Context, a Artifact) (old Artifact, replaced bool, err error)
	// TouchArtifact records that the artifact of team under key was used
	// at at. A missing artifact is not an error.
	TouchArtifact(ctx context.Context, team, key string, at time.Time) error
	// DeleteArtifact deletes the artifact of team under key if its body is
	// still blob, and reports whether it did.
	DeleteArtifact(ctx context.Context, team, key string, blob hash.Digest) (bool, error)
	// DeleteArtifactsByBlob deletes every artifact whose body is blob and
	// returns them.
	DeleteArtifactsByBlob(ctx context.Context, blob hash.Digest) ([]Artifact, error)
	// ArtifactBlobUsed reports whether an artifact's body is blob.
	ArtifactBlobUsed(ctx context.Context, blob hash.Digest) (bool, error)
	// ArtifactBlobs returns the distinct blobs artifacts refer to.
	ArtifactBlobs(ctx context.Context) ([]hash.Digest, error)
	// LeastRecentArtifacts returns up to n artifacts, least recently used
	// first.
	LeastRecentArtifacts(ctx context.Context, n int) ([]Artifact, error)
	// ArtifactTotals counts the artifacts and their bytes.
	ArtifactTotals(ctx context.Context) (ArtifactTotals, error)
}

var _ ArtifactStore = (*DB)(nil)

const artifactColumns = `team, key, blob, size, duration_ms, tag, created_at, last_used`

func scanArtifact(row rowScanner) (Artifact, error) {
	var (
		a             Artifact
		blob          []byte
		created, used int64
	)
	if err := row.Scan(&a.Team, &a.Key, &blob, &a.Size, &a.DurationMs, &a.Tag, &created, &used); err != nil {
		return Artifact{}, err
	}
	if len(blob) != len(a.Blob) {
		return Artifact{}, fmt.Errorf("artifact %s/%s: stored blob digest has %d bytes", a.Team, a.Key, len(blob))
	}
	copy(a.Blob[:], blob)
	a.CreatedAt, a.LastUsed = fromNanos(created), fromNanos(used)
	return a, nil
}

// Artifact returns the artifact of team under key.
func (db *DB) Artifact(ctx context.Context, team, key string) (Artifact, error) {
	if db.closed.Load() {
		return Artifact{}, ErrClosed
	}
	a, err := scanArtifact(db.readers.QueryRowContext(ctx,
		`SELECT `+artifactColumns+` FROM artifacts WHERE team = ? AND key = ?`, team, key))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Artifact{}, fmt.Errorf("get artifact %s/%s: %w", team, key, err)
	}
	return a, nil
}

// PutArtifact inserts a or replaces the artifact of a.Team under a.Key.
// Team, key, blob and a non-negative size are required; a zero CreatedAt
// or LastUsed is set to the current time.
func (db *DB) PutArtifact(ctx context.Context, a Artifact) (Artifact, bool, error) {
	if a.Team == "" || a.Key == "" || a.Blob.IsZero() || a.Size < 0 {
		return Artifact{}, false, fmt.Errorf("put artifact %s/%s: team, key, blob and size are required: %w", a.Team, a.Key, ErrInvalid)
	}
	now := db.now()
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now
	}
	if a.LastUsed.IsZero() {
		a.LastUsed = now
	}
	var (
		old      Artifact
		replaced bool
	)
	err := db.update(ctx, func(tx *sql.Tx) error {
		var err error
		old, err = scanArtifact(tx.QueryRowContext(ctx,
			`SELECT `+artifactColumns+` FROM artifacts WHERE team = ? AND key = ?`, a.Team, a.Key))
		switch {
		case err == nil:
			replaced = true
		case errors.Is(err, sql.ErrNoRows):
		default:
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO artifacts (`+artifactColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			a.Team, a.Key, a.Blob[:], a.Size, a.DurationMs, a.Tag, nanos(a.CreatedAt), nanos(a.LastUsed))
		return err
	})
	if err != nil {
		return Artifact{}, false, fmt.Errorf("put artifact %s/%s: %w", a.Team, a.Key, err)
	}
	return old, replaced, nil
}

// TouchArtifact sets the last use of the artifact of team under key.
func (db *DB) TouchArtifact(ctx context.Context, team, key string, at time.Time) error {
	err := db.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE artifacts SET last_used = ? WHERE team = ? AND key = ?`, nanos(at), team, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch artifact %s/%s: %w", team, key, err)
	}
	return nil
}

// DeleteArtifact deletes the artifact of team under key if its body is
// still blob: a concurrent upload that replaced it is kept.
func (db *DB) DeleteArtifact(ctx context.Context, team, key string, blob hash.Digest) (bool, error) {
	var n int64
	err := db.update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM artifacts WHERE team = ? AND key = ? AND blob = ?`, team, key, blob[:])
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete artifact %s/%s: %w", team, key, err)
	}
	return n > 0, nil
}

// DeleteArtifactsByBlob deletes the artifacts whose body is blob and
// returns what it deleted.
func (db *DB) DeleteArtifactsByBlob(ctx context.Context, blob hash.Digest) ([]Artifact, error) {
	var deleted []Artifact
	err := db.update(ctx, func(tx *sql.Tx) error {
		deleted = nil
		rows, err := tx.QueryContext(ctx, `DELETE FROM artifacts WHERE blob = ? RETURNING `+artifactColumns, blob[:])
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanArtifact(rows)
			if err != nil {
				return err
			}
			deleted = append(deleted, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("delete artifacts of blob %s: %w", blob.Short(), err)
	}
	return deleted, nil
}

// ArtifactBlobUsed reports whether some artifact's body is blob.
func (db *DB) ArtifactBlobUsed(ctx context.Context, blob hash.Digest) (bool, error) {
	if db.closed.Load() {
		return false, ErrClosed
	}
	var one int
	err := db.readers.QueryRowContext(ctx, `SELECT 1 FROM artifacts WHERE blob = ? LIMIT 1`, blob[:]).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("check artifact blob %s: %w", blob.Short(), err)
	}
	return true, nil
}

// ArtifactBlobs returns the distinct blobs artifacts refer to, in no
// particular order.
func (db *DB) ArtifactBlobs(ctx context.Context) ([]hash.Digest, error) {
	var out []hash.Digest
	err := db.view(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT blob FROM artifacts`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				return err
			}
			var d hash.Digest
			if len(b) != len(d) {
				return fmt.Errorf("stored blob digest has %d bytes", len(b))
			}
			copy(d[:], b)
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list artifact blobs: %w", err)
	}
	return out, nil
}

// LeastRecentArtifacts returns up to n artifacts, least recently used
// first (ties by team and key).
func (db *DB) LeastRecentArtifacts(ctx context.Context, n int) ([]Artifact, error) {
	if n <= 0 {
		return nil, fmt.Errorf("list least recent artifacts: n = %d: %w", n, ErrInvalid)
	}
	out := []Artifact{}
	err := db.view(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+artifactColumns+` FROM artifacts ORDER BY last_used, team, key LIMIT ?`, n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanArtifact(rows)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list least recent artifacts: %w", err)
	}
	return out, nil
}

// ArtifactTotals counts the artifacts and the bytes of their bodies.
func (db *DB) ArtifactTotals(ctx context.Context) (ArtifactTotals, error) {
	if db.closed.Load() {
		return ArtifactTotals{}, ErrClosed
	}
	var t ArtifactTotals
	err := db.readers.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM artifacts`).Scan(&t.Entries, &t.Bytes)
	if err != nil {
		return ArtifactTotals{}, fmt.Errorf("count artifacts: %w", err)
	}
	return t, nil
}
