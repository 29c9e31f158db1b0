package state

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/hash"
)

func TestBuildLifecycle(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	created := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)

	require.NoError(t, db.CreateBuild(ctx, Build{
		ID: "b1", Requester: "alice", Priority: 5, Targets: []string{"web", "api"}, Force: true, CreatedAt: created,
	}))
	b, err := db.Build(ctx, "b1")
	require.NoError(t, err)
	assert.Equal(t, Build{
		ID: "b1", Status: StatusQueued, Requester: "alice", Priority: 5, Targets: []string{"web", "api"},
		Force: true, CreatedAt: created, Packages: []PackageResult{},
	}, b)

	require.ErrorIs(t, db.CreateBuild(ctx, Build{ID: "b1"}), ErrExists)

	started := created.Add(2 * time.Second)
	require.NoError(t, db.StartBuild(ctx, "b1", started))
	require.NoError(t, db.StartBuild(ctx, "b1", started.Add(time.Hour)), "starting twice is a no-op")
	b, err = db.Build(ctx, "b1")
	require.NoError(t, err)
	assert.Equal(t, StatusRunning, b.Status)
	assert.Equal(t, started, b.StartedAt)

	d := hash.Sum([]byte("web inputs"))
	results := []PackageResult{
		{Package: "web", Tier: "full_build", Status: "failed", Digest: d, DurationMs: 1200, Error: "exit status 1",
			Reason: `{"changed":["src/a.ts"]}`, StartedAt: started.Add(time.Millisecond)},
		{Package: "api", Tier: "cache_restore", Status: "success", DurationMs: 30, CacheSource: "remote",
			StartedAt: started},
		{Package: "shared", Tier: "instant_skip", Status: "success"},
	}
	finishedAt := started.Add(1500 * time.Millisecond)
	require.NoError(t, db.FinishBuild(ctx, "b1", StatusFailed, "web failed", finishedAt, results))

	b, err = db.Build(ctx, "b1")
	require.NoError(t, err)
	assert.Equal(t, StatusFailed, b.Status)
	assert.Equal(t, "web failed", b.Error)
	assert.Equal(t, finishedAt, b.FinishedAt)
	assert.Equal(t, int64(1500), b.DurationMs)
	assert.Equal(t, results, b.Packages, "results come back in insertion order, field for field")

	require.ErrorIs(t, db.FinishBuild(ctx, "b1", StatusSuccess, "", time.Time{}, nil), ErrFinished)
	require.ErrorIs(t, db.StartBuild(ctx, "b1", time.Time{}), ErrFinished)
	b, err = db.Build(ctx, "b1")
	require.NoError(t, err)
	assert.Equal(t, StatusFailed, b.Status, "a rejected finish changes nothing")
	assert.Len(t, b.Packages, 3)
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	require.NoError(t, db.CreateBuild(ctx, Build{ID: "b"}))

	tests := []struct {
		name string
		err  error
		want error
	}{
		{"get unknown", func() error { _, err := db.Build(ctx, "nope"); return err }(), ErrNotFound},
		{"start unknown", db.StartBuild(ctx, "nope", time.Time{}), ErrNotFound},
		{"finish unknown", db.FinishBuild(ctx, "nope", StatusSuccess, "", time.Time{}, nil), ErrNotFound},
		{"create without id", db.CreateBuild(ctx, Build{}), ErrInvalid},
		{"create with unknown status", db.CreateBuild(ctx, Build{ID: "x", Status: "done"}), ErrInvalid},
		{"create finished with unnamed result", db.CreateBuild(ctx, Build{ID: "y", Status: StatusSuccess,
			Packages: []PackageResult{{Status: "success"}}}), ErrInvalid},
		{"finish as running", db.FinishBuild(ctx, "b", StatusRunning, "", time.Time{}, nil), ErrInvalid},
		{"finish with unnamed result", db.FinishBuild(ctx, "b", StatusSuccess, "", time.Time{},
			[]PackageResult{{Status: "success"}}), ErrInvalid},
		{"prune negative", func() error { _, err := db.PruneBuilds(ctx, -1); return err }(), ErrInvalid},
		{"log of unknown build", db.PutLog(ctx, "nope", "api", []byte("x")), ErrNotFound},
		{"log without package", db.PutLog(ctx, "b", "", []byte("x")), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.ErrorIs(t, tt.err, tt.want)
		})
	}
	b, err := db.Build(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, StatusQueued, b.Status, "failed calls leave the build alone")
	assert.Empty(t, b.Packages)
}

func TestFinishBuildReplacesResults(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	created := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	require.NoError(t, db.CreateBuild(ctx, Build{ID: "b", CreatedAt: created, Packages: []PackageResult{
		{Package: "a", Status: "success", Tier: "hash_skip"},
		{Package: "b", Status: "cancelled", Error: "not run yet"},
	}}))
	// Cancelled while still queued: the duration counts from creation.
	require.NoError(t, db.FinishBuild(ctx, "b", StatusCancelled, "cancelled by user", created.Add(250*time.Millisecond),
		[]PackageResult{{Package: "c", Status: "cancelled"}, {Package: "b", Status: "failed", Error: "boom"}}))

	b, err := db.Build(ctx, "b")
	require.NoError(t, err)
	assert.Equal(t, int64(250), b.DurationMs)
	assert.True(t, b.StartedAt.IsZero())
	assert.Equal(t, []PackageResult{
		{Package: "a", Status: "success", Tier: "hash_skip"},
		{Package: "b", Status: "failed", Error: "boom"},
		{Package: "c", Status: "cancelled"},
	}, b.Packages, "a replaced result keeps its place")
}

func TestBuildJSON(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	d := hash.Sum([]byte("x"))
	tests := []struct {
		name string
		b    Build
		want string
	}{
		{
			name: "queued",
			b:    Build{ID: "q", Status: StatusQueued, Targets: []string{}, CreatedAt: created, Packages: []PackageResult{}},
			want: `{"id":"q","status":"queued","priority":0,"targets":[],"force":false,` +
				`"created_at":"2026-02-03T10:00:00Z","duration_ms":0,"packages":[]}`,
		},
		{
			name: "finished",
			b: Build{ID: "f", Status: StatusSuccess, Requester: "cli", Targets: []string{"api"}, CreatedAt: created,
				StartedAt: created, FinishedAt: created.Add(time.Second), DurationMs: 1000,
				Packages: []PackageResult{
					{Package: "api", Tier: "full_build", Status: "success", Digest: d, DurationMs: 900, StartedAt: created},
					{Package: "web", Status: "skipped"},
				}},
			want: `{"id":"f","status":"success","requester":"cli","priority":0,"targets":["api"],"force":false,` +
				`"created_at":"2026-02-03T10:00:00Z","started_at":"2026-02-03T10:00:00Z",` +
				`"finished_at":"2026-02-03T10:00:01Z","duration_ms":1000,"packages":[` +
				`{"name":"api","tier":"full_build","status":"success","digest":"` + d.String() + `",` +
				`"duration_ms":900,"started_at":"2026-02-03T10:00:00Z"},` +
				`{"name":"web","status":"skipped","duration_ms":0}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.b)
			require.NoError(t, err)
			assert.JSONEq(t, tt.want, string(got))

			var back Build
			require.NoError(t, json.Unmarshal(got, &back))
			assert.Equal(t, tt.b, back)
		})
	}
}

// seedHistory records a small, varied build history and returns its base
// time.
func seedHistory(t *testing.T, db *DB) time.Time {
	t.Helper()
	ctx := t.Context()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	type seed struct {
		id, requester, status, err string
		results                    []PackageResult
	}
	seeds := []seed{
		{"b1", "alice", StatusSuccess, "", []PackageResult{
			{Package: "api", Tier: "full_build", Status: "success"},
			{Package: "web", Tier: "hash_skip", Status: "success"}}},
		{"b2", "bob", StatusFailed, "exit status 2", []PackageResult{
			{Package: "api", Tier: "cache_restore", Status: "success", CacheSource: "remote"},
			{Package: "web", Tier: "full_build", Status: "failed", Error: "TypeError: cannot read x"}}},
		{"b3", "alice", StatusCancelled, "", []PackageResult{
			{Package: "shared", Tier: "instant_skip", Status: "success"}}},
		{"b4", "ci", StatusRunning, "", nil},
		{"b5", "Carol_X", StatusQueued, "", nil},
		{"b6", "bob", StatusSuccess, "", []PackageResult{
			{Package: "web", Tier: "instant_skip", Status: "success"},
			{Package: "api", Tier: "instant_skip", Status: "success"}}},
		{"100%-done", "ci", StatusSuccess, "", nil},
	}
	for i, s := range seeds {
		created := base.Add(time.Duration(i+1) * time.Hour)
		status := StatusRunning
		if s.status == StatusQueued {
			status = StatusQueued
		}
		require.NoError(t, db.CreateBuild(ctx, Build{ID: s.id, Requester: s.requester, Status: status, CreatedAt: created}))
		if finished(s.status) {
			require.NoError(t, db.FinishBuild(ctx, s.id, s.status, s.err, created.Add(time.Minute), s.results))
		}
	}
	return base
}

func ids(builds []Build) []string {
	out := make([]string, len(builds))
	for i, b := range builds {
		out[i] = b.ID
	}
	return out
}

func TestBuildsFilters(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	base := seedHistory(t, db)
	hour := func(n int) time.Time { return base.Add(time.Duration(n) * time.Hour) }

	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"all, newest first", Query{}, []string{"100%-done", "b6", "b5", "b4", "b3", "b2", "b1"}},
		{"package", Query{Package: "api"}, []string{"b6", "b2", "b1"}},
		{"tier", Query{Tier: "full_build"}, []string{"b2", "b1"}},
		{"package and tier on the same result", Query{Package: "web", Tier: "full_build"}, []string{"b2"}},
		{"status", Query{Status: StatusSuccess}, []string{"100%-done", "b6", "b1"}},
		{"running", Query{Status: StatusRunning}, []string{"b4"}},
		{"requester", Query{Requester: "bob"}, []string{"b6", "b2"}},
		{"requester is exact", Query{Requester: "Bob"}, []string{}},
		{"status and requester", Query{Status: StatusSuccess, Requester: "bob"}, []string{"b6"}},
		{"since is inclusive", Query{Since: hour(3)}, []string{"100%-done", "b6", "b5", "b4", "b3"}},
		{"until is exclusive", Query{Until: hour(3)}, []string{"b2", "b1"}},
		{"window", Query{Since: hour(2), Until: hour(4)}, []string{"b3", "b2"}},
		{"search package error, any case", Query{Search: "TYPEERROR"}, []string{"b2"}},
		{"search build error", Query{Search: "exit status"}, []string{"b2"}},
		{"search package name", Query{Search: "SHAR"}, []string{"b3"}},
		{"search requester", Query{Search: "carol"}, []string{"b5"}},
		{"search id", Query{Search: "b6"}, []string{"b6"}},
		{"search percent is literal", Query{Search: "%"}, []string{"100%-done"}},
		{"search underscore is literal", Query{Search: "_x"}, []string{"b5"}},
		{"search and filter", Query{Search: "api", Status: StatusFailed}, []string{"b2"}},
		{"no match", Query{Package: "nope"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			builds, next, err := db.Builds(t.Context(), tt.q)
			require.NoError(t, err)
			assert.Equal(t, tt.want, ids(builds))
			assert.Empty(t, next)
		})
	}

	t.Run("packages come with each build", func(t *testing.T) {
		t.Parallel()
		builds, _, err := db.Builds(t.Context(), Query{Requester: "bob"})
		require.NoError(t, err)
		require.Len(t, builds, 2)
		assert.Equal(t, []string{"web", "api"}, packageNames(builds[0]))
		assert.Equal(t, []string{"api", "web"}, packageNames(builds[1]))
		assert.Equal(t, "remote", builds[1].Packages[0].CacheSource)
	})
}

func packageNames(b Build) []string {
	out := make([]string, len(b.Packages))
	for i, r := range b.Packages {
		out[i] = r.Package
	}
	return out
}

func TestBuildsPaging(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	const n = 120
	type key struct {
		created time.Time
		id      string
	}
	var all []key
	for i := range n {
		// Three builds share each timestamp, so the id must break ties.
		created := base.Add(time.Duration(i/3) * time.Second)
		id := fmt.Sprintf("build-%03d", (i*37)%n) // ids not in creation order
		status := StatusSuccess
		if i%4 == 0 {
			status = StatusFailed
		}
		require.NoError(t, db.CreateBuild(ctx, Build{ID: id, Status: StatusRunning, CreatedAt: created}))
		require.NoError(t, db.FinishBuild(ctx, id, status, "", created.Add(time.Second),
			[]PackageResult{{Package: "p", Status: status}}))
		all = append(all, key{created, id})
	}
	slices.SortFunc(all, func(a, b key) int {
		if c := b.created.Compare(a.created); c != 0 {
			return c
		}
		return strings.Compare(b.id, a.id)
	})
	want := make([]string, n)
	for i, k := range all {
		want[i] = k.id
	}

	page := func(t *testing.T, q Query) []string {
		t.Helper()
		var got []string
		for pages := 0; ; pages++ {
			require.Less(t, pages, n, "paging does not end")
			builds, next, err := db.Builds(ctx, q)
			require.NoError(t, err)
			require.LessOrEqual(t, len(builds), q.Limit)
			for _, b := range builds {
				require.Len(t, b.Packages, 1, b.ID)
			}
			got = append(got, ids(builds)...)
			if next == "" {
				return got
			}
			require.Len(t, builds, q.Limit, "only the last page may be short")
			q.Cursor = next
		}
	}

	t.Run("all", func(t *testing.T) {
		got := page(t, Query{Limit: 7})
		assert.Equal(t, want, got, "every build exactly once, newest first")
	})
	t.Run("exact multiple of the page size", func(t *testing.T) {
		assert.Equal(t, want, page(t, Query{Limit: 40}))
	})
	t.Run("filtered", func(t *testing.T) {
		var failed []string
		for _, id := range want {
			b, err := db.Build(ctx, id)
			require.NoError(t, err)
			if b.Status == StatusFailed {
				failed = append(failed, id)
			}
		}
		require.Len(t, failed, n/4)
		assert.Equal(t, failed, page(t, Query{Status: StatusFailed, Limit: 4}))
	})
	t.Run("default limit", func(t *testing.T) {
		builds, next, err := db.Builds(ctx, Query{})
		require.NoError(t, err)
		assert.Len(t, builds, 50)
		assert.NotEmpty(t, next)
	})
	t.Run("new builds do not shift later pages", func(t *testing.T) {
		first, next, err := db.Builds(ctx, Query{Limit: 10})
		require.NoError(t, err)
		require.NoError(t, db.CreateBuild(ctx, Build{ID: "newest", CreatedAt: base.Add(time.Hour)}))
		second, _, err := db.Builds(ctx, Query{Limit: 10, Cursor: next})
		require.NoError(t, err)
		assert.Equal(t, want[:20], append(ids(first), ids(second)...))
	})
	t.Run("invalid cursor", func(t *testing.T) {
		for _, c := range []string{"!!", base64.RawURLEncoding.EncodeToString([]byte("x")),
			base64.RawURLEncoding.EncodeToString([]byte("12:"))} {
			_, _, err := db.Builds(ctx, Query{Cursor: c})
			require.ErrorIs(t, err, ErrInvalidCursor, c)
		}
	})
}

func TestLogs(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	require.NoError(t, db.CreateBuild(ctx, Build{ID: "b", Status: StatusRunning}))

	_, err := db.Log(ctx, "b", "api")
	require.ErrorIs(t, err, ErrNotFound)

	out := []byte("\x1b[32mcompiled\x1b[0m 3 files\n")
	require.NoError(t, db.PutLog(ctx, "b", "api", out))
	require.NoError(t, db.PutLog(ctx, "b", "web", nil))
	got, err := db.Log(ctx, "b", "api")
	require.NoError(t, err)
	assert.Equal(t, out, got, "ANSI escapes are kept")
	got, err = db.Log(ctx, "b", "web")
	require.NoError(t, err)
	assert.Empty(t, got, "an empty log exists")

	require.NoError(t, db.PutLog(ctx, "b", "api", []byte("second run\n")))
	got, err = db.Log(ctx, "b", "api")
	require.NoError(t, err)
	assert.Equal(t, "second run\n", string(got))

	_, err = db.Log(ctx, "other", "api")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestPruneBuilds(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		id := fmt.Sprintf("b%02d", i)
		created := base.Add(time.Duration(i) * time.Minute)
		require.NoError(t, db.CreateBuild(ctx, Build{ID: id, Status: StatusRunning, CreatedAt: created}))
		require.NoError(t, db.PutLog(ctx, id, "api", []byte("log of "+id)))
		require.NoError(t, db.FinishBuild(ctx, id, StatusSuccess, "", created.Add(time.Second),
			[]PackageResult{{Package: "api", Status: "success"}}))
	}
	// The oldest build of all is still running: it is never pruned.
	require.NoError(t, db.CreateBuild(ctx, Build{ID: "active", Status: StatusRunning, CreatedAt: base.Add(-time.Hour)}))

	n, err := db.PruneBuilds(ctx, 3)
	require.NoError(t, err)
	assert.Equal(t, 7, n)

	builds, _, err := db.Builds(ctx, Query{})
	require.NoError(t, err)
	assert.Equal(t, []string{"b09", "b08", "b07", "active"}, ids(builds))

	_, err = db.Log(ctx, "b00", "api")
	require.ErrorIs(t, err, ErrNotFound, "logs go with their build")
	log, err := db.Log(ctx, "b09", "api")
	require.NoError(t, err)
	assert.Equal(t, "log of b09", string(log))
	builds, _, err = db.Builds(ctx, Query{Package: "api"})
	require.NoError(t, err)
	assert.Equal(t, []string{"b09", "b08", "b07"}, ids(builds), "results go with their build")

	n, err = db.PruneBuilds(ctx, 3)
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = db.PruneBuilds(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

func TestPackageResultJSONReasons(t *testing.T) {
	r := PackageResult{Package: "a", Status: "success", Reason: `[{"kind":"file_changed","path":"x"}]`}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"a","status":"success","duration_ms":0,"reasons":[{"kind":"file_changed","path":"x"}]}`, string(b))
	var back PackageResult
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, r, back)
	plain := PackageResult{Package: "a", Status: "success", Reason: "text"}
	b, _ = json.Marshal(plain)
	assert.Contains(t, string(b), `"reason":"text"`)
}

func TestNoopBuildStoredCompactly(t *testing.T) {
	db := newTestDB(t)
	ctx := t.Context()
	require.NoError(t, db.CreateBuild(ctx, Build{ID: "noop", Status: StatusRunning}))
	results := []PackageResult{
		{Package: "b", Tier: "instant_skip", Status: "success", Digest: hash.Sum([]byte("b")), Reason: `[{"kind":"unchanged_stat"}]`},
		{Package: "a", Tier: "instant_skip", Status: "success", Digest: hash.Sum([]byte("a"))},
	}
	require.NoError(t, db.FinishBuild(ctx, "noop", StatusSuccess, "", db.now(), results))
	var rows int
	require.NoError(t, db.readers.QueryRowContext(ctx, `SELECT COUNT(*) FROM package_results WHERE build_id = 'noop'`).Scan(&rows))
	assert.Zero(t, rows, "a no-op build writes no row per package")
	b, err := db.Build(ctx, "noop")
	require.NoError(t, err)
	require.Len(t, b.Packages, 2)
	assert.Equal(t, "b", b.Packages[0].Package, "order kept")
	assert.Equal(t, results[0].Digest, b.Packages[0].Digest)
	assert.Equal(t, results[0].Reason, b.Packages[0].Reason)
	for _, q := range []Query{{Package: "a"}, {Tier: "instant_skip"}, {Package: "a", Tier: "instant_skip"}, {Search: "b"}} {
		got, _, err := db.Builds(ctx, q)
		require.NoError(t, err)
		require.Len(t, got, 1, "%+v", q)
		assert.Equal(t, "noop", got[0].ID)
	}
	got, _, err := db.Builds(ctx, Query{Tier: "full_build"})
	require.NoError(t, err)
	assert.Empty(t, got)
}

// TestCreateFinishedBuild records finished builds in one call and reads
// them back as CreateBuild then FinishBuild would have left them.
func TestCreateFinishedBuild(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	started := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	skips := []PackageResult{
		{Package: "api", Tier: "instant_skip", Status: "success", Reason: `[{"kind":"unchanged_stat"}]`, StartedAt: started},
		{Package: "ui", Tier: "instant_skip", Status: "success", StartedAt: started},
	}
	built := []PackageResult{
		{Package: "api", Tier: "full_build", Status: "failed", Error: "exit status 2", DurationMs: 40, StartedAt: started},
	}
	for _, b := range []Build{
		{ID: "noop", Status: StatusSuccess, Requester: "key:k1", Targets: []string{"api", "ui"}, CreatedAt: started,
			FinishedAt: started.Add(3 * time.Millisecond), Packages: skips},
		{ID: "failed", Status: StatusFailed, Error: "failed: api", CreatedAt: started.Add(time.Second),
			FinishedAt: started.Add(time.Second + 50*time.Millisecond), Packages: built},
	} {
		require.NoError(t, db.CreateBuild(ctx, b))
		got, err := db.Build(ctx, b.ID)
		require.NoError(t, err)
		assert.Equal(t, b.Status, got.Status)
		assert.Equal(t, b.Error, got.Error)
		assert.True(t, got.FinishedAt.Equal(b.FinishedAt), "%v", got.FinishedAt)
		assert.True(t, got.StartedAt.Equal(b.CreatedAt), "a finished build started when it was created")
		assert.Equal(t, b.FinishedAt.Sub(b.CreatedAt).Milliseconds(), got.DurationMs)
		require.Len(t, got.Packages, len(b.Packages))
		for i := range b.Packages {
			assert.Equal(t, b.Packages[i].Package, got.Packages[i].Package)
			assert.Equal(t, b.Packages[i].Tier, got.Packages[i].Tier)
			assert.Equal(t, b.Packages[i].Error, got.Packages[i].Error)
		}
		assert.ErrorIs(t, db.FinishBuild(ctx, b.ID, StatusSuccess, "", time.Time{}, nil), ErrFinished)
		assert.ErrorIs(t, db.CreateBuild(ctx, b), ErrExists)
	}
	// both are found by the history's package and tier filters
	list, _, err := db.Builds(ctx, Query{Package: "ui", Tier: "instant_skip"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "noop", list[0].ID)
	list, _, err = db.Builds(ctx, Query{Package: "api", Status: StatusFailed})
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "failed", list[0].ID)
}

// TestNoopBuildsShareTheirResults records no-op builds of an unchanged
// workspace: their results are stored once, each build reads them back
// with its own start, history finds them, and pruning the builds removes
// the stored results too.
func TestNoopBuildsShareTheirResults(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	skips := func(at time.Time) []PackageResult {
		return []PackageResult{
			{Package: "api", Tier: "instant_skip", Status: "success", Digest: hash.Sum([]byte("api")), Reason: `{"kind":"unchanged_stat"}`, StartedAt: at},
			{Package: "ui", Tier: "instant_skip", Status: "success", Digest: hash.Sum([]byte("ui")), Reason: `{"kind":"unchanged_stat"}`, StartedAt: at},
		}
	}
	t0 := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Second)
		require.NoError(t, db.CreateBuild(ctx, Build{ID: fmt.Sprintf("noop-%d", i), Status: StatusSuccess, CreatedAt: at,
			StartedAt: at, FinishedAt: at.Add(time.Millisecond), Packages: skips(at)}))
	}
	// A no-op build whose results started at another time than it did
	// keeps them exactly, in a copy of its own.
	odd := skips(t0.Add(-time.Hour))
	require.NoError(t, db.CreateBuild(ctx, Build{ID: "noop-odd", Status: StatusSuccess, CreatedAt: t0.Add(time.Minute),
		StartedAt: t0.Add(time.Minute), FinishedAt: t0.Add(time.Minute + time.Millisecond), Packages: odd}))

	sets := func() (n int) {
		require.NoError(t, db.readers.QueryRowContext(ctx, `SELECT count(*) FROM skip_sets`).Scan(&n))
		return n
	}
	assert.Equal(t, 1, sets(), "three no-op builds of an unchanged workspace store their results once")

	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Second)
		got, err := db.Build(ctx, fmt.Sprintf("noop-%d", i))
		require.NoError(t, err)
		want := skips(at)
		require.Len(t, got.Packages, len(want))
		for j := range want {
			assert.Equal(t, want[j].Package, got.Packages[j].Package)
			assert.Equal(t, want[j].Tier, got.Packages[j].Tier)
			assert.Equal(t, want[j].Digest, got.Packages[j].Digest)
			assert.Equal(t, want[j].Reason, got.Packages[j].Reason)
			assert.True(t, got.Packages[j].StartedAt.Equal(at), "%s started %v, want the build's start %v", want[j].Package, got.Packages[j].StartedAt, at)
		}
	}
	got, err := db.Build(ctx, "noop-odd")
	require.NoError(t, err)
	require.Len(t, got.Packages, 2)
	assert.True(t, got.Packages[0].StartedAt.Equal(odd[0].StartedAt), "%v", got.Packages[0].StartedAt)

	list, _, err := db.Builds(ctx, Query{Package: "ui", Tier: "instant_skip"})
	require.NoError(t, err)
	assert.Len(t, list, 4, "the package and tier filters find every no-op build")
	list, _, err = db.Builds(ctx, Query{Search: "ap"})
	require.NoError(t, err)
	assert.Len(t, list, 4, "search finds package names in shared results")
	list, _, err = db.Builds(ctx, Query{Package: "web"})
	require.NoError(t, err)
	assert.Empty(t, list)

	n, err := db.PruneBuilds(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	assert.Equal(t, 0, sets(), "the set no build names any more is gone")
	_, err = db.Build(ctx, "noop-odd")
	require.NoError(t, err)

	// The same results again, after their set was pruned: stored anew.
	at := t0.Add(time.Hour)
	require.NoError(t, db.CreateBuild(ctx, Build{ID: "noop-again", Status: StatusSuccess, CreatedAt: at,
		StartedAt: at, FinishedAt: at.Add(time.Millisecond), Packages: skips(at)}))
	assert.Equal(t, 1, sets())
	got, err = db.Build(ctx, "noop-again")
	require.NoError(t, err)
	require.Len(t, got.Packages, 2)
	assert.Equal(t, "ui", got.Packages[1].Package)
}
