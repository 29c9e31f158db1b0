package state

import (
	"context"
	"database/sql"
	"fmt"
)

// PackageStates returns the state of every package, keyed by name, with a
// single query.
func (db *DB) PackageStates(ctx context.Context) (map[string]PackageState, error) {
	states := make(map[string]PackageState)
	err := db.view(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT name, digest, snapshot, updated_at FROM package_states`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				s       PackageState
				digest  []byte
				updated int64
			)
			if err := rows.Scan(&s.Name, &digest, &s.Snapshot, &updated); err != nil {
				return err
			}
			if s.Digest, err = scanDigest(digest); err != nil {
				return fmt.Errorf("package %s: %w", s.Name, err)
			}
			s.UpdatedAt = fromNanos(updated)
			states[s.Name] = s
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("load package states: %w", err)
	}
	return states, nil
}

// PutPackageStates inserts or replaces states in one transaction. A zero
// UpdatedAt is set to the current time.
func (db *DB) PutPackageStates(ctx context.Context, states []PackageState) error {
	if len(states) == 0 {
		return nil
	}
	for _, s := range states {
		if s.Name == "" {
			return fmt.Errorf("put package states: empty package name: %w", ErrInvalid)
		}
	}
	now := nanos(db.now())
	err := db.update(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO package_states (name, digest, snapshot, updated_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET
				digest = excluded.digest, snapshot = excluded.snapshot, updated_at = excluded.updated_at`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, s := range states {
			updated := nanos(s.UpdatedAt)
			if updated == 0 {
				updated = now
			}
			if _, err := stmt.ExecContext(ctx, s.Name, digestArg(s.Digest), s.Snapshot, updated); err != nil {
				return fmt.Errorf("package %s: %w", s.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put package states: %w", err)
	}
	return nil
}

// DeletePackageStates removes the states of the named packages in one
// transaction; names without a state are ignored.
func (db *DB) DeletePackageStates(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `DELETE FROM package_states WHERE name = ?`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, name := range names {
			if _, err := stmt.ExecContext(ctx, name); err != nil {
				return fmt.Errorf("package %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete package states: %w", err)
	}
	return nil
}
