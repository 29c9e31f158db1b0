package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func seedAudit(t *testing.T, db *DB) time.Time {
	t.Helper()
	t0 := time.Date(2026, 2, 1, 10, 0, 0, 0, time.UTC)
	entries := []AuditEntry{
		{Time: t0, Actor: "alice", Role: "admin", Action: "login", Outcome: OutcomeAllowed, SourceIP: "10.0.0.1"},
		{Time: t0.Add(time.Minute), Actor: "bob", Role: "build", Action: "build.trigger", Target: "api", Outcome: OutcomeAllowed,
			Details: map[string]any{"packages": []any{"api"}}},
		{Time: t0.Add(2 * time.Minute), Actor: "bob", Role: "build", Action: "cache.clear", Outcome: OutcomeDenied,
			Details: map[string]any{"need": "admin"}},
		{Time: t0.Add(3 * time.Minute), Actor: "key:k1", Role: "read", Action: "build.cancel", Target: "b-1", Outcome: OutcomeDenied},
		{Time: t0.Add(24 * time.Hour), Actor: "alice", Role: "admin", Action: "file.write", Target: "packages/api/src/x.ts", Outcome: OutcomeAllowed},
	}
	require.NoError(t, db.AppendAudit(t.Context(), entries))
	return t0
}

func TestAuditFilters(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	t0 := seedAudit(t, db)
	actions := func(q AuditQuery) []string {
		t.Helper()
		es, _, err := db.Audit(t.Context(), q)
		require.NoError(t, err)
		out := []string{}
		for _, e := range es {
			out = append(out, e.Actor+" "+e.Action)
		}
		return out
	}
	tests := []struct {
		name string
		q    AuditQuery
		want []string
	}{
		{"all, newest first", AuditQuery{}, []string{"alice file.write", "key:k1 build.cancel", "bob cache.clear", "bob build.trigger", "alice login"}},
		{"actor", AuditQuery{Actor: "bob"}, []string{"bob cache.clear", "bob build.trigger"}},
		{"action", AuditQuery{Action: "login"}, []string{"alice login"}},
		{"action prefix", AuditQuery{Action: "build.*"}, []string{"key:k1 build.cancel", "bob build.trigger"}},
		{"outcome", AuditQuery{Outcome: OutcomeDenied}, []string{"key:k1 build.cancel", "bob cache.clear"}},
		{"time range", AuditQuery{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, []string{"bob cache.clear", "bob build.trigger"}},
		{"search in target", AuditQuery{Search: "SRC/X"}, []string{"alice file.write"}},
		{"search in details", AuditQuery{Search: `"need":"admin"`}, []string{"bob cache.clear"}},
		{"search in ip", AuditQuery{Search: "10.0.0"}, []string{"alice login"}},
		{"search wildcard is literal", AuditQuery{Search: "%"}, []string{}},
		{"combined", AuditQuery{Actor: "bob", Outcome: OutcomeAllowed}, []string{"bob build.trigger"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, actions(tt.q))
		})
	}
	es, _, err := db.Audit(t.Context(), AuditQuery{Actor: "bob", Action: "build.trigger"})
	require.NoError(t, err)
	require.Len(t, es, 1)
	assert.Equal(t, []any{"api"}, es[0].Details["packages"])
	assert.Equal(t, t0.Add(time.Minute), es[0].Time)
}

func TestAuditPaging(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	var entries []AuditEntry
	for i := range 25 {
		entries = append(entries, AuditEntry{Actor: "u", Action: fmt.Sprintf("a%02d", i), Outcome: OutcomeAllowed})
	}
	require.NoError(t, db.AppendAudit(t.Context(), entries))
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		es, next, err := db.Audit(t.Context(), AuditQuery{Limit: 10, Cursor: cursor})
		require.NoError(t, err)
		for _, e := range es {
			seen = append(seen, e.Action)
		}
		if next == "" {
			break
		}
		// An entry appended while paging does not shift the pages.
		require.NoError(t, db.AppendAudit(t.Context(), []AuditEntry{{Actor: "u", Action: "late", Outcome: OutcomeAllowed}}))
		cursor = next
	}
	require.Len(t, seen, 25)
	assert.Equal(t, "a24", seen[0])
	assert.Equal(t, "a00", seen[24])
	_, _, err := db.Audit(t.Context(), AuditQuery{Cursor: "bogus"})
	assert.ErrorIs(t, err, ErrInvalidCursor)
	assert.ErrorIs(t, db.AppendAudit(t.Context(), []AuditEntry{{Actor: "u", Action: "x", Outcome: "maybe"}}), ErrInvalid)
}

func TestAuditExportAndPrune(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	t0 := seedAudit(t, db)
	var extra []AuditEntry
	for i := range exportBatch + 3 {
		extra = append(extra, AuditEntry{Time: t0.Add(48*time.Hour + time.Duration(i)), Actor: "ci", Action: "build.trigger", Outcome: OutcomeAllowed})
	}
	require.NoError(t, db.AppendAudit(t.Context(), extra))

	var lines [][]byte
	require.NoError(t, db.ExportAudit(t.Context(), AuditQuery{}, func(e AuditEntry) error {
		b, err := json.Marshal(e)
		lines = append(lines, b)
		return err
	}))
	require.Len(t, lines, 5+exportBatch+3, "every entry, across batches")
	var first AuditEntry
	require.NoError(t, json.Unmarshal(lines[0], &first))
	assert.Equal(t, "login", first.Action, "oldest first")

	n := 0
	require.NoError(t, db.ExportAudit(t.Context(), AuditQuery{Actor: "bob"}, func(AuditEntry) error { n++; return nil }))
	assert.Equal(t, 2, n)
	stop := errors.New("stop")
	assert.ErrorIs(t, db.ExportAudit(t.Context(), AuditQuery{}, func(AuditEntry) error { return stop }), stop)

	pruned, err := db.PruneAudit(t.Context(), t0.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 4, pruned)
	es, _, err := db.Audit(t.Context(), AuditQuery{Actor: "alice"})
	require.NoError(t, err)
	require.Len(t, es, 1)
	assert.Equal(t, "file.write", es[0].Action)
}
