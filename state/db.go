package state

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// busyTimeout is how long a connection waits for the SQLite lock held by
// another connection (usually another process) before failing with
// SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// readConns is the size of the read-only pool.
const readConns = 4

// Log attribute keys.
const (
	logKeyPath     = "path"
	logKeyVersion  = "version"
	logKeyCount    = "count"
	logKeyInstance = "instance"
)

// Options configures [Open]. The zero value is ready to use.
type Options struct {
	// Now returns the current time; nil means time.Now. Tests set it to get
	// deterministic timestamps.
	Now func() time.Time
	// Logger receives migration and recovery messages; nil discards them.
	Logger *slog.Logger
	// ReadOnly opens the database without writing anything to it, or
	// beside it: no migration, no instance registration, no recovery.
	// Writes return [ErrReadOnly]. A missing file reads as an empty
	// database. It serves dry runs, which must leave the workspace as it
	// was.
	ReadOnly bool
}

// DB is the SQLite implementation of [Store]. It is safe for concurrent use
// by multiple goroutines, and several DBs, in one process or in several, may
// use the same file at once.
type DB struct {
	path     string
	instance string
	pid      int
	now      func() time.Time
	logger   *slog.Logger

	writer   *sql.DB // one connection: writes are serialised in-process
	readers  *sql.DB // read-only pool
	readOnly bool

	// registered is set once this handle's instance row is committed;
	// pendingRegister by register inside a write transaction, until it
	// commits or rolls back.
	registered      atomic.Bool
	pendingRegister atomic.Bool

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// lastSkips is the skip set last stored: the next no-op build of an
	// unchanged workspace has the same results, and need not encode them.
	lastSkips lastSkipSet
}

// Open opens the state database at path, creating the file, and its parent
// directory, if needed. It applies pending migrations, registers this handle
// as a live instance and marks the builds of crashed instances interrupted.
// The caller must call [DB.Close].
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	if opts.ReadOnly {
		return openReadOnly(ctx, abs, opts)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	id, err := newInstanceID()
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	db := &DB{
		path:     abs,
		instance: id,
		pid:      os.Getpid(),
		now:      opts.Now,
		logger:   opts.Logger,
	}
	if db.now == nil {
		db.now = time.Now
	}
	if db.logger == nil {
		db.logger = slog.New(slog.DiscardHandler)
	}
	db.logger = db.logger.With(logKeyPath, abs)

	if err := db.open(ctx); err != nil {
		db.closeConns()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return db, nil
}

// open connects and prepares the database.
func (db *DB) open(ctx context.Context) error {
	ms := strconv.FormatInt(busyTimeout.Milliseconds(), 10)
	var err error
	db.writer, err = sql.Open("sqlite", dsn(db.path,
		"_pragma=busy_timeout("+ms+")",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
		"_pragma=foreign_keys(1)",
		"_txlock=immediate",
	))
	if err != nil {
		return err
	}
	db.writer.SetMaxOpenConns(1)
	db.writer.SetMaxIdleConns(1)
	db.writer.SetConnMaxLifetime(0)
	db.writer.SetConnMaxIdleTime(0)

	// The writer creates the file and switches it to WAL (a persistent
	// setting) before any reader connects.
	if err := migrate(ctx, db.writer, migrationFS, db.logger); err != nil {
		return err
	}

	db.readers, err = sql.Open("sqlite", dsn(db.path,
		"_pragma=busy_timeout("+ms+")",
		"_pragma=query_only(1)",
	))
	if err != nil {
		return err
	}
	db.readers.SetMaxOpenConns(readConns)
	db.readers.SetMaxIdleConns(readConns)

	return db.recover(ctx)
}

// openReadOnly opens path for reading only. Without a WAL file beside it
// (no writer has it open) the file is opened immutable, so SQLite creates
// no -wal or -shm file either.
func openReadOnly(ctx context.Context, abs string, opts Options) (*DB, error) {
	db := &DB{path: abs, now: opts.Now, logger: opts.Logger, readOnly: true, pid: os.Getpid()}
	if db.now == nil {
		db.now = time.Now
	}
	if db.logger == nil {
		db.logger = slog.New(slog.DiscardHandler)
	}
	ms := strconv.FormatInt(busyTimeout.Milliseconds(), 10)
	var err error
	switch _, statErr := os.Stat(abs); {
	case errors.Is(statErr, os.ErrNotExist):
		// An empty schema in memory: every read finds nothing.
		db.readers, err = sql.Open("sqlite", "file:readonly-empty?mode=memory")
		if err == nil {
			db.readers.SetMaxOpenConns(1)
			db.readers.SetConnMaxIdleTime(0)
			db.readers.SetConnMaxLifetime(0)
			err = migrate(ctx, db.readers, migrationFS, db.logger)
		}
	case statErr != nil:
		err = statErr
	default:
		params := []string{"mode=ro", "_pragma=busy_timeout(" + ms + ")"}
		if fi, werr := os.Stat(abs + "-wal"); werr != nil || fi.Size() == 0 {
			params = append(params, "immutable=1")
		}
		db.readers, err = sql.Open("sqlite", dsn(abs, params...))
		if err == nil {
			db.readers.SetMaxOpenConns(readConns)
			var v int
			if err = db.readers.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err == nil {
				known, lerr := loadMigrations(migrationFS)
				switch {
				case lerr != nil:
					err = lerr
				case v > len(known):
					err = fmt.Errorf("schema version %d, this program knows up to %d: %w", v, len(known), ErrSchemaTooNew)
				case v < len(known):
					err = fmt.Errorf("schema version %d is older than this program's %d: run a build once to upgrade it", v, len(known))
				}
			}
		}
	}
	if err != nil {
		db.closeConns()
		return nil, fmt.Errorf("open state %s read-only: %w", abs, err)
	}
	return db, nil
}

// dsn builds a modernc.org/sqlite URI for path with the given parameters.
func dsn(path string, params ...string) string {
	// EscapedPath percent-encodes '?', '#', '%' and spaces, which SQLite's
	// URI parser decodes again.
	return "file:" + (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath() + "?" + strings.Join(params, "&")
}

// newInstanceID returns a random id for this handle.
func newInstanceID() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate instance id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Path returns the absolute path of the database file.
func (db *DB) Path() string { return db.path }

// Close marks the builds this handle left unfinished interrupted, unregisters
// the handle and closes its connections. Close is idempotent; methods called
// afterwards return [ErrClosed].
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if db.readOnly {
			db.closed.Store(true)
			db.closeErr = db.closeConns()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*busyTimeout)
		defer cancel()
		var err error
		if db.registered.Load() {
			err = db.update(ctx, func(tx *sql.Tx) error { return db.unregister(ctx, tx) })
		}
		db.closed.Store(true)
		db.closeErr = errors.Join(err, db.closeConns())
		if db.closeErr != nil {
			db.closeErr = fmt.Errorf("close state %s: %w", db.path, db.closeErr)
		}
	})
	return db.closeErr
}

// closeConns closes both connection pools.
func (db *DB) closeConns() error {
	var errs []error
	if db.readers != nil {
		errs = append(errs, db.readers.Close())
	}
	if db.writer != nil {
		errs = append(errs, db.writer.Close())
	}
	return errors.Join(errs...)
}

// update runs fn in a write transaction (BEGIN IMMEDIATE) on the writer
// connection and commits it if fn returns nil.
func (db *DB) update(ctx context.Context, fn func(*sql.Tx) error) error {
	if db.closed.Load() {
		return ErrClosed
	}
	if db.readOnly {
		return ErrReadOnly
	}
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write: %w", err)
	}
	if err := fn(tx); err != nil {
		// The rollback error adds nothing to fn's, and a failed rollback
		// leaves nothing committed either.
		_ = tx.Rollback()
		db.pendingRegister.Store(false)
		return err
	}
	if err := tx.Commit(); err != nil {
		db.pendingRegister.Store(false)
		return fmt.Errorf("commit: %w", err)
	}
	if db.pendingRegister.Swap(false) {
		db.registered.Store(true)
	}
	return nil
}

// view runs fn in a read transaction on the read pool, so that all its
// queries see one consistent snapshot.
func (db *DB) view(ctx context.Context, fn func(*sql.Tx) error) error {
	if db.closed.Load() {
		return ErrClosed
	}
	tx, err := db.readers.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	// A read transaction has nothing to commit; rolling back only ends it.
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}
