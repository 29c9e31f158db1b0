package state

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFS holds the schema migrations, named NNNN_description.sql and
// numbered from 1 without gaps. A released migration is never edited; a
// schema change is a new file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads and orders the migrations in fsys, under migrations/.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: version %d, want %d", m.name, m.version, i+1)
		}
	}
	return ms, nil
}

// migrate brings the schema of db up to the newest migration in fsys. Each
// migration runs in its own write transaction together with the PRAGMA
// user_version that records it, so a failed migration leaves the database at
// the previous version. db must start write transactions with BEGIN
// IMMEDIATE: the version is then read under the write lock, and two processes
// opening a fresh file at once cannot both apply the same migration.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, logger *slog.Logger) error {
	ms, err := loadMigrations(fsys)
	if err != nil {
		return err
	}
	// An up-to-date schema, the usual case, is seen without taking the
	// write lock.
	var current int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err == nil && current == len(ms) {
		return nil
	}
	for {
		applied, err := migrateOne(ctx, db, ms)
		if err != nil {
			return err
		}
		if applied == 0 {
			return nil
		}
		logger.LogAttrs(ctx, slog.LevelInfo, "applied state migration", slog.Int(logKeyVersion, applied))
	}
}

// migrateOne applies the first pending migration and returns its version, or
// 0 when the schema is up to date.
func migrateOne(ctx context.Context, db *sql.DB, ms []migration) (int, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin migration: %w", err)
	}
	// Rollback after Commit is a no-op; on any earlier return it undoes the
	// partial migration.
	defer func() { _ = tx.Rollback() }()

	var current int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if current > len(ms) {
		return 0, fmt.Errorf("schema version %d, this program knows up to %d: %w", current, len(ms), ErrSchemaTooNew)
	}
	if current == len(ms) {
		return 0, nil
	}
	m := ms[current]
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return 0, fmt.Errorf("apply migration %s: %w", m.name, err)
	}
	// PRAGMA takes no bound parameters; the version is an integer we own.
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(m.version)); err != nil {
		return 0, fmt.Errorf("apply migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit migration %s: %w", m.name, err)
	}
	return m.version, nil
}
