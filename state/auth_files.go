package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// FileVersion is the content of a workspace file as it was saved through
// the daemon.
type FileVersion struct {
	// Seq identifies the version; the store sets it.
	Seq       int64     `json:"seq"`
	Path      string    `json:"path"`
	CreatedAt time.Time `json:"created_at"`
	Actor     string    `json:"actor,omitempty"`
	// SHA256 is the hex SHA-256 of Data.
	SHA256 string `json:"sha256"`
	Size   int    `json:"size"`
	// Data is the content; listings leave it nil.
	Data []byte `json:"-"`
}

// PutFileVersion records a saved version of a file and returns its seq.
// Saving the same content as the newest version of the path again
// records nothing and returns that version's seq.
func (db *DB) PutFileVersion(ctx context.Context, v FileVersion) (int64, error) {
	if v.Path == "" || v.SHA256 == "" {
		return 0, fmt.Errorf("put file version: path and sha256 are required: %w", ErrInvalid)
	}
	if v.Data == nil {
		v.Data = []byte{}
	}
	var seq int64
	err := db.update(ctx, func(tx *sql.Tx) error {
		var last string
		err := tx.QueryRowContext(ctx, `SELECT seq, sha256 FROM file_versions WHERE path = ? ORDER BY seq DESC LIMIT 1`, v.Path).
			Scan(&seq, &last)
		if err == nil && last == v.SHA256 {
			return nil
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO file_versions (path, created_at, actor, sha256, data) VALUES (?, ?, ?, ?, ?)`,
			v.Path, nanos(db.now()), v.Actor, v.SHA256, v.Data)
		if err != nil {
			return err
		}
		seq, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("put file version of %s: %w", v.Path, err)
	}
	return seq, nil
}

// FileVersions lists the saved versions of path, newest first, without
// their content.
func (db *DB) FileVersions(ctx context.Context, path string) ([]FileVersion, error) {
	out := []FileVersion{}
	err := db.view(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT seq, path, created_at, actor, sha256, length(data) FROM file_versions
			WHERE path = ? ORDER BY seq DESC`, path)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				v       FileVersion
				created int64
			)
			if err := rows.Scan(&v.Seq, &v.Path, &created, &v.Actor, &v.SHA256, &v.Size); err != nil {
				return err
			}
			v.CreatedAt = fromNanos(created)
			out = append(out, v)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list file versions of %s: %w", path, err)
	}
	return out, nil
}

// FileVersion returns one saved version of path with its content, or
// [ErrNotFound].
func (db *DB) FileVersion(ctx context.Context, path string, seq int64) (FileVersion, error) {
	if db.closed.Load() {
		return FileVersion{}, ErrClosed
	}
	var (
		v       FileVersion
		created int64
	)
	err := db.readers.QueryRowContext(ctx, `SELECT seq, path, created_at, actor, sha256, data FROM file_versions
		WHERE path = ? AND seq = ?`, path, seq).Scan(&v.Seq, &v.Path, &created, &v.Actor, &v.SHA256, &v.Data)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return FileVersion{}, fmt.Errorf("get version %d of %s: %w", seq, path, err)
	}
	v.CreatedAt = fromNanos(created)
	v.Size = len(v.Data)
	if v.Data == nil {
		v.Data = []byte{}
	}
	return v, nil
}

// MoveFileVersions makes the saved versions of from those of to, after a
// file was moved.
func (db *DB) MoveFileVersions(ctx context.Context, from, to string) error {
	err := db.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE file_versions SET path = ? WHERE path = ?`, to, from)
		return err
	})
	if err != nil {
		return fmt.Errorf("move file versions of %s to %s: %w", from, to, err)
	}
	return nil
}
