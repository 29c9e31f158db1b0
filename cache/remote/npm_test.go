package remote_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/cache/cachetest"
	"github.com/musclemap/buildnet/cache/remote"
	"github.com/musclemap/buildnet/cache/remote/remotetest"
	"github.com/musclemap/buildnet/hash"
)

// TestNPMServer runs the client against the real turborepo-remote-cache
// server (installed by scripts/setup-remote-cache.sh).
func TestNPMServer(t *testing.T) {
	srv := remotetest.StartNPM(t, remotetest.NPMOptions{Token: testToken, StoreTags: true})
	var teams atomic.Int64
	t.Run("Backend", func(t *testing.T) {
		// A team of its own makes an empty backend on the same server.
		cachetest.TestBackend(t, func(t *testing.T) cache.Backend {
			team := fmt.Sprintf("team-%d", teams.Add(1))
			return newClient(t, remote.Options{URL: srv.URL, Team: team, Token: testToken, SignatureKey: []byte("k")})
		})
	})
	t.Run("TeamID", func(t *testing.T) {
		c := newClient(t, remote.Options{URL: srv.URL, Team: "team_abc", Token: testToken})
		key := hash.Sum([]byte("team id"))
		require.NoError(t, c.Put(t.Context(), key, strings.NewReader("by id"), 5))
		_, err := os.Stat(srv.ArtifactPath("team_abc", key.String()))
		require.NoError(t, err, "stored under the team id")
	})
	t.Run("TamperedArtifactRefused", func(t *testing.T) {
		c := newClient(t, remote.Options{URL: srv.URL, Team: "signed", Token: testToken, SignatureKey: []byte("shared")})
		key := hash.Sum([]byte("tampered"))
		require.NoError(t, c.Put(t.Context(), key, strings.NewReader("genuine"), 7))
		rc, err := c.Get(t.Context(), key)
		require.NoError(t, err)
		got, _ := io.ReadAll(rc)
		rc.Close()
		require.Equal(t, "genuine", string(got))

		require.NoError(t, os.WriteFile(srv.ArtifactPath("signed", key.String()), []byte("malware"), 0o644))
		_, err = c.Get(t.Context(), key)
		require.ErrorIs(t, err, remote.ErrSignature)
		assert.Equal(t, int64(1), c.Stats().Refused)
	})
	t.Run("WrongToken", func(t *testing.T) {
		c := newClient(t, remote.Options{URL: srv.URL, Team: "t", Token: "wrong"})
		_, err := c.Get(t.Context(), hash.Sum([]byte("x")))
		se, ok := errors.AsType[*remote.StatusError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, 401, se.Code)
		assert.NotContains(t, err.Error(), "wrong")
	})
}
