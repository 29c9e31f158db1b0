package state

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/hash"
)

// fakeClock advances by one second on every reading, so that every timestamp
// a test observes is distinct and predictable.
type fakeClock struct {
	// mu guards t.
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// openTest opens a database at path and closes it when the test ends.
func openTest(t *testing.T, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(t.Context(), path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, db.Close()) })
	return db
}

// newTestDB opens a fresh database in a temporary directory.
func newTestDB(t *testing.T) *DB {
	t.Helper()
	return openTest(t, filepath.Join(t.TempDir(), "state.db"), Options{Now: newClock().Now})
}

// rawDB opens path with no BuildNet logic, to inspect or tamper with it.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, raw.Close()) })
	return raw
}

func userVersion(t *testing.T, raw *sql.DB) int {
	t.Helper()
	var v int
	require.NoError(t, raw.QueryRowContext(t.Context(), "PRAGMA user_version").Scan(&v))
	return v
}

func TestOpenCreatesSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nested", "dir", "state.db")
	db, err := Open(t.Context(), path, Options{})
	require.NoError(t, err)
	assert.Equal(t, path, db.Path())
	require.NoError(t, db.Close())
	require.NoError(t, db.Close(), "Close is idempotent")

	ms, err := loadMigrations(migrationFS)
	require.NoError(t, err)
	raw := rawDB(t, path)
	assert.Equal(t, len(ms), userVersion(t, raw))
	var mode string
	require.NoError(t, raw.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, "wal", mode)

	// Reopening applies nothing and keeps the version.
	db = openTest(t, path, Options{})
	_, err = db.Build(t.Context(), "none")
	require.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, len(ms), userVersion(t, raw))
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(t.Context(), path, Options{})
	require.NoError(t, err)
	require.NoError(t, db.Close())

	raw := rawDB(t, path)
	_, err = raw.ExecContext(t.Context(), "PRAGMA user_version = 999")
	require.NoError(t, err)

	_, err = Open(t.Context(), path, Options{})
	require.ErrorIs(t, err, ErrSchemaTooNew)
	assert.Contains(t, err.Error(), "999")
	assert.Equal(t, 999, userVersion(t, raw), "a refused database is left alone")
}

func TestOpenRelativePathWithSpecialCharacters(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars")
	db := openTest(t, filepath.Join(dir, "state.db"), Options{})
	require.NoError(t, db.CreateBuild(t.Context(), Build{ID: "b1"}))
	assert.FileExists(t, filepath.Join(dir, "state.db"))
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	m1 := &fstest.MapFile{Data: []byte("CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);")}
	m2 := &fstest.MapFile{Data: []byte("CREATE TABLE b (y INTEGER); INSERT INTO b SELECT x + 1 FROM a;")}
	bad := &fstest.MapFile{Data: []byte("CREATE TABLE c (z INTEGER); INSERT INTO nowhere VALUES (1);")}

	open := func(t *testing.T) *sql.DB {
		t.Helper()
		path := filepath.Join(t.TempDir(), "m.db")
		db, err := sql.Open("sqlite", dsn(path, "_txlock=immediate"))
		require.NoError(t, err)
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { assert.NoError(t, db.Close()) })
		return db
	}
	logger := slog.New(slog.DiscardHandler)

	t.Run("in order", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		// Listed out of order on purpose: versions, not names, decide.
		fsys := fstest.MapFS{"migrations/0002_b.sql": m2, "migrations/0001_a.sql": m1}
		require.NoError(t, migrate(t.Context(), db, fsys, logger))
		assert.Equal(t, 2, userVersion(t, db))
		var y int
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT y FROM b").Scan(&y))
		assert.Equal(t, 2, y)
		// Applying again is a no-op.
		require.NoError(t, migrate(t.Context(), db, fsys, logger))
		assert.Equal(t, 2, userVersion(t, db))
	})

	t.Run("incrementally", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		require.NoError(t, migrate(t.Context(), db, fstest.MapFS{"migrations/0001_a.sql": m1}, logger))
		assert.Equal(t, 1, userVersion(t, db))
		require.NoError(t, migrate(t.Context(), db, fstest.MapFS{"migrations/0001_a.sql": m1, "migrations/0002_b.sql": m2}, logger))
		assert.Equal(t, 2, userVersion(t, db))
	})

	t.Run("failure rolls back", func(t *testing.T) {
		t.Parallel()
		db := open(t)
		fsys := fstest.MapFS{"migrations/0001_a.sql": m1, "migrations/0002_bad.sql": bad}
		err := migrate(t.Context(), db, fsys, logger)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "0002_bad.sql")
		assert.Equal(t, 1, userVersion(t, db))
		var n int
		require.NoError(t, db.QueryRowContext(t.Context(),
			"SELECT count(*) FROM sqlite_schema WHERE name = 'c'").Scan(&n))
		assert.Zero(t, n, "the table of the failed migration must not exist")
	})

	for name, fsys := range map[string]fstest.MapFS{
		"gap":      {"migrations/0001_a.sql": m1, "migrations/0003_b.sql": m2},
		"bad name": {"migrations/first.sql": m1},
		"zero":     {"migrations/0000_a.sql": m1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := open(t)
			require.Error(t, migrate(t.Context(), db, fsys, logger))
			assert.Equal(t, 0, userVersion(t, db))
		})
	}
}

func TestStateSurvivesReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.db")
	ctx := t.Context()
	db, err := Open(ctx, path, Options{})
	require.NoError(t, err)
	d := hash.Sum([]byte("api"))
	require.NoError(t, db.PutPackageStates(ctx, []PackageState{{Name: "api", Digest: d, Snapshot: []byte("snap")}}))
	require.NoError(t, db.CreateBuild(ctx, Build{ID: "b1", Status: StatusRunning, Targets: []string{"api"}}))
	require.NoError(t, db.FinishBuild(ctx, "b1", StatusSuccess, "", time.Time{},
		[]PackageResult{{Package: "api", Status: "success", Tier: "full_build", Digest: d}}))
	require.NoError(t, db.PutLog(ctx, "b1", "api", []byte("built\n")))
	require.NoError(t, db.Close())

	db = openTest(t, path, Options{})
	states, err := db.PackageStates(ctx)
	require.NoError(t, err)
	require.Contains(t, states, "api")
	assert.Equal(t, d, states["api"].Digest)
	assert.Equal(t, []byte("snap"), states["api"].Snapshot)

	b, err := db.Build(ctx, "b1")
	require.NoError(t, err)
	assert.Equal(t, StatusSuccess, b.Status, "a finished build is not touched by reopening")
	assert.Equal(t, []string{"api"}, b.Targets)
	require.Len(t, b.Packages, 1)
	assert.Equal(t, d, b.Packages[0].Digest)

	log, err := db.Log(ctx, "b1", "api")
	require.NoError(t, err)
	assert.Equal(t, "built\n", string(log))
}

func TestClosedDB(t *testing.T) {
	t.Parallel()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "state.db"), Options{})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = db.PackageStates(t.Context())
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, db.CreateBuild(t.Context(), Build{ID: "x"}), ErrClosed)
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, db.CreateBuild(ctx, Build{ID: "b"}), context.Canceled)
	_, err := db.Build(ctx, "b")
	require.ErrorIs(t, err, context.Canceled)
	// The handle stays usable.
	require.NoError(t, db.CreateBuild(t.Context(), Build{ID: "b"}))
}

func TestInterruptedBuilds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")

	// db1 starts a build and stays open; db2, opened in the same process
	// while db1 is live (the CLI next to the engine), must not touch it.
	db1, err := Open(ctx, path, Options{})
	require.NoError(t, err)
	require.NoError(t, db1.CreateBuild(ctx, Build{ID: "one", Status: StatusRunning}))
	require.NoError(t, db1.CreateBuild(ctx, Build{ID: "one-queued"}))

	db2 := openTest(t, path, Options{})
	for _, id := range []string{"one", "one-queued"} {
		b, err := db2.Build(ctx, id)
		require.NoError(t, err)
		assert.NotEqual(t, StatusInterrupted, b.Status, "a live handle's build %s was interrupted", id)
		assert.True(t, b.FinishedAt.IsZero())
	}
	require.NoError(t, db2.CreateBuild(ctx, Build{ID: "two", Status: StatusRunning}))

	// db1 goes away without finishing its builds.
	require.NoError(t, db1.Close())

	db3 := openTest(t, path, Options{})
	for _, id := range []string{"one", "one-queued"} {
		b, err := db3.Build(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, StatusInterrupted, b.Status, id)
		assert.False(t, b.FinishedAt.IsZero(), id)
		assert.NotEmpty(t, b.Error, id)
	}
	b, err := db3.Build(ctx, "two")
	require.NoError(t, err)
	assert.Equal(t, StatusRunning, b.Status, "db2 is still open")

	// Its owner can still finish it.
	require.NoError(t, db2.FinishBuild(ctx, "two", StatusSuccess, "", time.Time{}, nil))
	// An interrupted build cannot be finished any more.
	require.ErrorIs(t, db3.FinishBuild(ctx, "one", StatusSuccess, "", time.Time{}, nil), ErrFinished)
}

func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	const workers, rounds = 16, 5

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				id := fmt.Sprintf("w%02d-r%d", w, r)
				pkg := fmt.Sprintf("pkg-%02d", w)
				err := db.CreateBuild(ctx, Build{ID: id, Status: StatusRunning})
				if err == nil {
					err = db.PutPackageStates(ctx, []PackageState{{Name: pkg, Digest: hash.Sum([]byte(id))}})
				}
				if err == nil {
					err = db.FinishBuild(ctx, id, StatusSuccess, "", time.Time{},
						[]PackageResult{{Package: pkg, Status: "success", Tier: "full_build"}})
				}
				if err == nil {
					_, _, err = db.Builds(ctx, Query{Limit: 5})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	builds, next, err := db.Builds(ctx, Query{Status: StatusSuccess, Limit: 500})
	require.NoError(t, err)
	assert.Len(t, builds, workers*rounds)
	assert.Empty(t, next)
	states, err := db.PackageStates(ctx)
	require.NoError(t, err)
	require.Len(t, states, workers)
	for w := range workers {
		want := hash.Sum(fmt.Appendf(nil, "w%02d-r%d", w, rounds-1))
		assert.Equal(t, want, states[fmt.Sprintf("pkg-%02d", w)].Digest, "last write wins")
	}
}

func TestTwoHandlesWriteConcurrently(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	dbs := []*DB{openTest(t, path, Options{}), openTest(t, path, Options{})}
	const workers, rounds = 4, 8

	var wg sync.WaitGroup
	errs := make(chan error, len(dbs)*workers)
	for i, db := range dbs {
		for w := range workers {
			wg.Go(func() {
				for r := range rounds {
					id := fmt.Sprintf("db%d-w%d-r%d", i, w, r)
					err := db.CreateBuild(ctx, Build{ID: id, Status: StatusRunning})
					if err == nil {
						err = db.PutPackageStates(ctx, []PackageState{{Name: id, Snapshot: []byte(id)}})
					}
					if err == nil {
						err = db.FinishBuild(ctx, id, StatusFailed, "boom", time.Time{},
							[]PackageResult{{Package: "p", Status: "failed", Error: "boom"}})
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "no 'database is locked' under concurrent handles")
	}
	for _, db := range dbs {
		builds, _, err := db.Builds(ctx, Query{Status: StatusFailed, Limit: 500})
		require.NoError(t, err)
		assert.Len(t, builds, len(dbs)*workers*rounds)
		states, err := db.PackageStates(ctx)
		require.NoError(t, err)
		assert.Len(t, states, len(dbs)*workers*rounds)
	}
}
