package state

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	h1 := sha256.Sum256([]byte("bnk_one"))
	h2 := sha256.Sum256([]byte("bnk_two"))
	require.NoError(t, db.CreateKey(ctx, APIKey{ID: "k1", Name: "ci", Role: "build", Hash: h1[:], Prefix: "bnk_one"}))
	require.NoError(t, db.CreateKey(ctx, APIKey{ID: "k2", Name: "ops", Role: "admin", Hash: h2[:], Prefix: "bnk_two", CreatedBy: "admin"}))
	assert.ErrorIs(t, db.CreateKey(ctx, APIKey{ID: "k3", Name: "dup", Role: "read", Hash: h1[:]}), ErrExists, "same hash")
	assert.ErrorIs(t, db.CreateKey(ctx, APIKey{ID: "k1", Name: "dup", Role: "read", Hash: []byte("x")}), ErrExists, "same id")
	assert.ErrorIs(t, db.CreateKey(ctx, APIKey{ID: "k4", Name: "nohash", Role: "read"}), ErrInvalid)

	k, err := db.KeyByHash(ctx, h1[:])
	require.NoError(t, err)
	assert.Equal(t, "k1", k.ID)
	assert.Equal(t, "build", k.Role)
	assert.False(t, k.Revoked())
	assert.True(t, k.LastUsedAt.IsZero())
	_, err = db.KeyByHash(ctx, []byte("nope"))
	assert.ErrorIs(t, err, ErrNotFound)

	used := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, db.TouchKey(ctx, "k1", used))
	require.NoError(t, db.TouchKey(ctx, "k1", used.Add(-time.Hour)), "an older use does not go back in time")
	k, err = db.Key(ctx, "k1")
	require.NoError(t, err)
	assert.Equal(t, used, k.LastUsedAt)

	require.NoError(t, db.RevokeKey(ctx, "k1", used))
	require.NoError(t, db.RevokeKey(ctx, "k1", used.Add(time.Hour)))
	k, err = db.Key(ctx, "k1")
	require.NoError(t, err)
	assert.True(t, k.Revoked())
	assert.Equal(t, used, k.RevokedAt, "revoking again keeps the first time")
	assert.ErrorIs(t, db.RevokeKey(ctx, "missing", time.Time{}), ErrNotFound)

	keys, err := db.Keys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	assert.Equal(t, []string{"k1", "k2"}, []string{keys[0].ID, keys[1].ID})
}

func TestUsers(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	require.NoError(t, db.CreateUser(ctx, User{Name: "bob", Role: "read", PasswordHash: "h1"}))
	require.NoError(t, db.CreateUser(ctx, User{Name: "alice", Role: "admin", PasswordHash: "h2"}))
	assert.ErrorIs(t, db.CreateUser(ctx, User{Name: "bob", Role: "read", PasswordHash: "h"}), ErrExists)

	u, err := db.User(ctx, "bob")
	require.NoError(t, err)
	v := u.TokenVersion
	require.NoError(t, db.UpdateUser(ctx, "bob", "", "h3"))
	u, err = db.User(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, "h3", u.PasswordHash)
	assert.Equal(t, "read", u.Role, "an empty role keeps the role")
	assert.Greater(t, u.TokenVersion, v, "a password change ends older tokens")
	require.NoError(t, db.UpdateUser(ctx, "bob", "build", ""))
	u, err = db.User(ctx, "bob")
	require.NoError(t, err)
	assert.Equal(t, "h3", u.PasswordHash, "an empty hash keeps the password")
	assert.Equal(t, "build", u.Role)

	users, err := db.Users(ctx)
	require.NoError(t, err)
	require.Len(t, users, 2)
	assert.Equal(t, "alice", users[0].Name)

	require.NoError(t, db.DeleteUser(ctx, "bob"))
	assert.ErrorIs(t, db.DeleteUser(ctx, "bob"), ErrNotFound)
	_, err = db.User(ctx, "bob")
	assert.ErrorIs(t, err, ErrNotFound)
	assert.ErrorIs(t, db.UpdateUser(ctx, "bob", "read", ""), ErrNotFound)
}

func TestAuthSecret(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/state.db"
	db := openTest(t, path, Options{})
	s1, err := db.AuthSecret(t.Context())
	require.NoError(t, err)
	require.Len(t, s1, 32)
	other := openTest(t, path, Options{})
	s2, err := other.AuthSecret(t.Context())
	require.NoError(t, err)
	assert.Equal(t, s1, s2, "one secret per database")
	env, err := db.Secret(t.Context())
	require.NoError(t, err)
	assert.NotEqual(t, env, s1, "the token key is not the engine's secret")
}

func TestSessions(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, db.PutSession(ctx, Session{ID: "s1", Actor: "alice", Role: "admin", Kind: "cli", CreatedAt: t0, LastSeen: t0}))
	require.NoError(t, db.PutSession(ctx, Session{ID: "s2", Actor: "bob", Role: "read", CreatedAt: t0, LastSeen: t0.Add(time.Hour)}))
	require.NoError(t, db.PutSession(ctx, Session{ID: "s1", Actor: "alice", Role: "admin", Kind: "cli", CreatedAt: t0, LastSeen: t0.Add(2 * time.Hour)}))
	open, err := db.Sessions(ctx)
	require.NoError(t, err)
	require.Len(t, open, 2)
	assert.Equal(t, t0.Add(2*time.Hour), open[0].LastSeen, "PutSession replaces")

	require.NoError(t, db.CloseSession(ctx, "s1", t0.Add(3*time.Hour)))
	assert.ErrorIs(t, db.CloseSession(ctx, "s1", time.Time{}), ErrNotFound, "already closed")
	open, err = db.Sessions(ctx)
	require.NoError(t, err)
	require.Len(t, open, 1)
	assert.Equal(t, "s2", open[0].ID)

	n, err := db.PruneSessions(ctx, t0.Add(90*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "s2 was last seen before; s1 closed after")
	n, err = db.PruneSessions(ctx, t0.Add(4*time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

func TestFileVersions(t *testing.T) {
	t.Parallel()
	db := newTestDB(t)
	ctx := t.Context()
	s1, err := db.PutFileVersion(ctx, FileVersion{Path: "a/x.txt", SHA256: "h1", Data: []byte("one"), Actor: "alice"})
	require.NoError(t, err)
	again, err := db.PutFileVersion(ctx, FileVersion{Path: "a/x.txt", SHA256: "h1", Data: []byte("one")})
	require.NoError(t, err)
	assert.Equal(t, s1, again, "the same content twice is one version")
	s2, err := db.PutFileVersion(ctx, FileVersion{Path: "a/x.txt", SHA256: "h2", Data: []byte("two!")})
	require.NoError(t, err)
	assert.Greater(t, s2, s1)

	vs, err := db.FileVersions(ctx, "a/x.txt")
	require.NoError(t, err)
	require.Len(t, vs, 2)
	assert.Equal(t, s2, vs[0].Seq)
	assert.Equal(t, 4, vs[0].Size)
	assert.Nil(t, vs[0].Data)

	v, err := db.FileVersion(ctx, "a/x.txt", s1)
	require.NoError(t, err)
	assert.Equal(t, "one", string(v.Data))
	assert.Equal(t, "alice", v.Actor)
	_, err = db.FileVersion(ctx, "b/x.txt", s1)
	assert.ErrorIs(t, err, ErrNotFound, "a version is found only under its path")

	require.NoError(t, db.MoveFileVersions(ctx, "a/x.txt", "b/x.txt"))
	vs, err = db.FileVersions(ctx, "b/x.txt")
	require.NoError(t, err)
	assert.Len(t, vs, 2)
}
