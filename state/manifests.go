package state

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"

	"github.com/musclemap/buildnet/hash"
)

// PutManifest stores the input manifest behind digest. A digest already
// stored keeps its first manifest: the same digest means the same inputs.
func (db *DB) PutManifest(ctx context.Context, pkg string, digest hash.Digest, data []byte) error {
	if digest.IsZero() || pkg == "" {
		return fmt.Errorf("put manifest: empty digest or package: %w", ErrInvalid)
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO manifests (digest, package, created_at, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest) DO NOTHING`, digest[:], pkg, nanos(db.now()), data)
		return err
	})
	if err != nil {
		return fmt.Errorf("put manifest %s: %w", digest.Short(), err)
	}
	return nil
}

// ManifestRecord is one manifest for [DB.PutManifests].
type ManifestRecord struct {
	Package string
	Digest  hash.Digest
	Data    []byte
}

// PutManifests stores several manifests in one transaction, as
// PutManifest would one by one.
func (db *DB) PutManifests(ctx context.Context, ms []ManifestRecord) error {
	if len(ms) == 0 {
		return nil
	}
	for _, m := range ms {
		if m.Digest.IsZero() || m.Package == "" {
			return fmt.Errorf("put manifests: empty digest or package: %w", ErrInvalid)
		}
	}
	now := nanos(db.now())
	err := db.update(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO manifests (digest, package, created_at, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest) DO NOTHING`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, m := range ms {
			if _, err := stmt.ExecContext(ctx, m.Digest[:], m.Package, now, m.Data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put %d manifests: %w", len(ms), err)
	}
	return nil
}

// Manifest returns the manifest stored for digest and its package.
func (db *DB) Manifest(ctx context.Context, digest hash.Digest) (string, []byte, error) {
	if db.closed.Load() {
		return "", nil, ErrClosed
	}
	var pkg string
	var data []byte
	err := db.readers.QueryRowContext(ctx, `SELECT package, data FROM manifests WHERE digest = ?`, digest[:]).Scan(&pkg, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, fmt.Errorf("manifest %s: %w", digest.Short(), ErrNotFound)
	}
	if err != nil {
		return "", nil, fmt.Errorf("manifest %s: %w", digest.Short(), err)
	}
	return pkg, data, nil
}

// PruneManifests keeps the newest keep manifests of each package and
// deletes the others, returning how many it deleted.
func (db *DB) PruneManifests(ctx context.Context, keep int) (int, error) {
	if keep < 0 {
		return 0, fmt.Errorf("prune manifests: negative keep: %w", ErrInvalid)
	}
	var n int64
	err := db.update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM manifests WHERE digest IN (
			SELECT digest FROM (
				SELECT digest, ROW_NUMBER() OVER (PARTITION BY package ORDER BY created_at DESC, digest) AS rn
				FROM manifests) WHERE rn > ?)`, keep)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune manifests: %w", err)
	}
	return int(n), nil
}

const secretKey = "secret"

// Secret returns the database's random key, creating it on first use. A
// read-only database without one returns ErrNotFound.
func (db *DB) Secret(ctx context.Context) ([]byte, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	var v []byte
	err := db.readers.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, secretKey).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	if db.readOnly {
		return nil, fmt.Errorf("read secret: %w", ErrNotFound)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("create secret: %w", err)
	}
	err = db.update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, secretKey, key); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, secretKey).Scan(&v)
	})
	if err != nil {
		return nil, fmt.Errorf("create secret: %w", err)
	}
	return v, nil
}
