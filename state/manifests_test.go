package state

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/hash"
)

func TestManifests(t *testing.T) {
	db := newTestDB(t)
	ctx := t.Context()
	d1, d2, d3 := hash.Sum([]byte("1")), hash.Sum([]byte("2")), hash.Sum([]byte("3"))
	require.NoError(t, db.PutManifest(ctx, "api", d1, []byte(`{"v":1}`)))
	require.NoError(t, db.PutManifest(ctx, "api", d1, []byte(`{"v":"other"}`)), "same digest again is a no-op")
	require.NoError(t, db.PutManifest(ctx, "api", d2, []byte(`{"v":2}`)))
	require.NoError(t, db.PutManifest(ctx, "web", d3, []byte(`{"v":3}`)))
	pkg, data, err := db.Manifest(ctx, d1)
	require.NoError(t, err)
	assert.Equal(t, "api", pkg)
	assert.JSONEq(t, `{"v":1}`, string(data))
	_, _, err = db.Manifest(ctx, hash.Sum([]byte("none")))
	assert.ErrorIs(t, err, ErrNotFound)

	n, err := db.PruneManifests(ctx, 1)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "api keeps its newest, web its only one")
	_, _, err = db.Manifest(ctx, d1)
	assert.ErrorIs(t, err, ErrNotFound)
	_, _, err = db.Manifest(ctx, d2)
	assert.NoError(t, err)
}

func TestSecretIsStable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(t.Context(), path, Options{})
	require.NoError(t, err)
	k1, err := db.Secret(t.Context())
	require.NoError(t, err)
	require.Len(t, k1, 32)
	require.NoError(t, db.Close())
	db = openTest(t, path, Options{})
	k2, err := db.Secret(t.Context())
	require.NoError(t, err)
	assert.Equal(t, k1, k2)
}

func fileSums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func TestReadOnlyChangesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	db, err := Open(t.Context(), path, Options{})
	require.NoError(t, err)
	require.NoError(t, db.CreateBuild(t.Context(), Build{ID: "b1", Status: StatusRunning}))
	require.NoError(t, db.FinishBuild(t.Context(), "b1", StatusSuccess, "", db.now(), []PackageResult{{Package: "a", Status: "success", SavedMs: 42}}))
	require.NoError(t, db.Close())
	before := fileSums(t, dir)

	ro, err := Open(t.Context(), path, Options{ReadOnly: true})
	require.NoError(t, err)
	b, err := ro.Build(t.Context(), "b1")
	require.NoError(t, err)
	assert.Equal(t, int64(42), b.Packages[0].SavedMs)
	assert.ErrorIs(t, ro.PutPackageStates(t.Context(), []PackageState{{Name: "x"}}), ErrReadOnly)
	assert.ErrorIs(t, ro.CreateBuild(t.Context(), Build{ID: "b2"}), ErrReadOnly)
	_, err = ro.Secret(t.Context())
	assert.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, ro.Close())
	assert.Equal(t, before, fileSums(t, dir), "a read-only open leaves every file as it was")

	missing := filepath.Join(t.TempDir(), "none", "state.db")
	ro, err = Open(t.Context(), missing, Options{ReadOnly: true})
	require.NoError(t, err)
	states, err := ro.PackageStates(t.Context())
	require.NoError(t, err)
	assert.Empty(t, states)
	require.NoError(t, ro.Close())
	assert.NoDirExists(t, filepath.Dir(missing))
}
