package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/hash"
)

func TestArtifactPutGetReplace(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	b1, b2 := hash.Sum([]byte("one")), hash.Sum([]byte("two"))

	_, err := db.Artifact(ctx, "acme", "0123456789abcdef")
	require.ErrorIs(t, err, ErrNotFound)

	old, replaced, err := db.PutArtifact(ctx, Artifact{Team: "acme", Key: "0123456789abcdef", Blob: b1, Size: 3, DurationMs: 1200, Tag: "sig=="})
	require.NoError(t, err)
	assert.False(t, replaced)
	assert.Zero(t, old)
	got, err := db.Artifact(ctx, "acme", "0123456789abcdef")
	require.NoError(t, err)
	assert.Equal(t, b1, got.Blob)
	assert.Equal(t, int64(3), got.Size)
	assert.Equal(t, int64(1200), got.DurationMs)
	assert.Equal(t, "sig==", got.Tag)
	assert.False(t, got.CreatedAt.IsZero())
	assert.Equal(t, got.CreatedAt, got.LastUsed)

	// Teams are separate key spaces.
	_, err = db.Artifact(ctx, "other", "0123456789abcdef")
	require.ErrorIs(t, err, ErrNotFound)

	old, replaced, err = db.PutArtifact(ctx, Artifact{Team: "acme", Key: "0123456789abcdef", Blob: b2, Size: 3})
	require.NoError(t, err)
	assert.True(t, replaced)
	assert.Equal(t, b1, old.Blob)
	got, err = db.Artifact(ctx, "acme", "0123456789abcdef")
	require.NoError(t, err)
	assert.Equal(t, b2, got.Blob)
	assert.Empty(t, got.Tag, "a replacement carries its own tag")

	_, _, err = db.PutArtifact(ctx, Artifact{Team: "acme", Key: "k"})
	require.ErrorIs(t, err, ErrInvalid)
}

func TestArtifactLRUAndDelete(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	shared, own := hash.Sum([]byte("shared")), hash.Sum([]byte("own"))
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, a := range []Artifact{
		{Team: "t", Key: "a", Blob: shared, Size: 10},
		{Team: "t", Key: "b", Blob: own, Size: 20},
		{Team: "u", Key: "a", Blob: shared, Size: 10},
	} {
		a.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
		a.LastUsed = a.CreatedAt
		_, _, err := db.PutArtifact(ctx, a)
		require.NoError(t, err)
	}
	tot, err := db.ArtifactTotals(ctx)
	require.NoError(t, err)
	assert.Equal(t, ArtifactTotals{Entries: 3, Bytes: 40}, tot)
	blobs, err := db.ArtifactBlobs(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []hash.Digest{shared, own}, blobs)

	require.NoError(t, db.TouchArtifact(ctx, "t", "a", t0.Add(time.Hour)))
	require.NoError(t, db.TouchArtifact(ctx, "t", "missing", t0), "touching a missing artifact is no error")
	lru, err := db.LeastRecentArtifacts(ctx, 10)
	require.NoError(t, err)
	keys := []string{}
	for _, a := range lru {
		keys = append(keys, a.Team+"/"+a.Key)
	}
	assert.Equal(t, []string{"t/b", "u/a", "t/a"}, keys)
	lru, err = db.LeastRecentArtifacts(ctx, 1)
	require.NoError(t, err)
	assert.Len(t, lru, 1)

	// A conditional delete leaves an artifact whose body changed.
	ok, err := db.DeleteArtifact(ctx, "t", "b", shared)
	require.NoError(t, err)
	assert.False(t, ok)
	ok, err = db.DeleteArtifact(ctx, "t", "b", own)
	require.NoError(t, err)
	assert.True(t, ok)
	used, err := db.ArtifactBlobUsed(ctx, own)
	require.NoError(t, err)
	assert.False(t, used)

	gone, err := db.DeleteArtifactsByBlob(ctx, shared)
	require.NoError(t, err)
	assert.Len(t, gone, 2)
	tot, err = db.ArtifactTotals(ctx)
	require.NoError(t, err)
	assert.Zero(t, tot)
}
