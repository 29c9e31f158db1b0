package state

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/hash"
)

func TestPackageStates(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()

	states, err := db.PackageStates(ctx)
	require.NoError(t, err)
	assert.Empty(t, states)

	at := time.Date(2025, 5, 6, 7, 8, 9, 10, time.UTC)
	in := []PackageState{
		{Name: "api", Digest: hash.Sum([]byte("api")), Snapshot: []byte(`{"files":1}`), UpdatedAt: at},
		{Name: "web", Digest: hash.Sum([]byte("web")), Snapshot: bytes.Repeat([]byte{0, 1, 2, 0xff}, 1000)},
		{Name: "new"}, // never built: zero digest, no snapshot
	}
	require.NoError(t, db.PutPackageStates(ctx, in))

	states, err = db.PackageStates(ctx)
	require.NoError(t, err)
	require.Len(t, states, 3)
	assert.Equal(t, in[0], states["api"], "an explicit UpdatedAt is kept, to the nanosecond")
	assert.Equal(t, in[1].Digest, states["web"].Digest)
	assert.Equal(t, in[1].Snapshot, states["web"].Snapshot, "binary snapshots are stored verbatim")
	assert.False(t, states["web"].UpdatedAt.IsZero(), "a zero UpdatedAt is set to now")
	assert.Equal(t, time.UTC, states["web"].UpdatedAt.Location())
	assert.True(t, states["new"].Digest.IsZero())
	assert.Empty(t, states["new"].Snapshot)

	// Upsert one, add one.
	changed := PackageState{Name: "api", Digest: hash.Sum([]byte("api v2")), Snapshot: []byte("v2")}
	require.NoError(t, db.PutPackageStates(ctx, []PackageState{changed, {Name: "docs"}}))
	states, err = db.PackageStates(ctx)
	require.NoError(t, err)
	require.Len(t, states, 4)
	assert.Equal(t, changed.Digest, states["api"].Digest)
	assert.Equal(t, []byte("v2"), states["api"].Snapshot)
	assert.True(t, states["api"].UpdatedAt.After(at))

	// Delete two, one of them unknown.
	require.NoError(t, db.DeletePackageStates(ctx, []string{"web", "unknown", "new"}))
	states, err = db.PackageStates(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"api", "docs"}, keys(states))

	require.NoError(t, db.PutPackageStates(ctx, nil))
	require.NoError(t, db.DeletePackageStates(ctx, nil))
}

func TestPutPackageStatesIsAtomic(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	err := db.PutPackageStates(ctx, []PackageState{{Name: "ok"}, {Name: ""}})
	require.ErrorIs(t, err, ErrInvalid)
	states, err := db.PackageStates(ctx)
	require.NoError(t, err)
	assert.Empty(t, states, "nothing of a rejected batch is written")
}

func TestPackageStatesLarge(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("writes 50 MB")
	}
	db := newTestDB(t)
	ctx := t.Context()
	const n, size = 500, 100 << 10
	in := make([]PackageState, n)
	for i := range in {
		name := fmt.Sprintf("pkg-%03d", i)
		in[i] = PackageState{Name: name, Digest: hash.Sum([]byte(name)), Snapshot: bytes.Repeat([]byte{byte(i)}, size)}
	}
	require.NoError(t, db.PutPackageStates(ctx, in))
	states, err := db.PackageStates(ctx)
	require.NoError(t, err)
	require.Len(t, states, n)
	for _, s := range in {
		got := states[s.Name]
		require.Equal(t, s.Digest, got.Digest, s.Name)
		require.True(t, bytes.Equal(s.Snapshot, got.Snapshot), s.Name)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
