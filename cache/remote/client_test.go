package remote_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/cache/cachetest"
	"github.com/musclemap/buildnet/cache/remote"
	"github.com/musclemap/buildnet/cache/remote/remotetest"
	"github.com/musclemap/buildnet/hash"
)

const (
	testToken = "s3cr3t-token-value"
	testTeam  = "buildnet"
)

func newServer(t *testing.T) *remotetest.Server {
	t.Helper()
	s := remotetest.NewServer(testToken)
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, opts remote.Options) *remote.Client {
	t.Helper()
	c, err := remote.New(opts)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func TestBackend(t *testing.T) {
	t.Run("Unsigned", func(t *testing.T) {
		cachetest.TestBackend(t, func(t *testing.T) cache.Backend {
			return newClient(t, remote.Options{URL: newServer(t).URL, Team: testTeam, Token: testToken})
		})
	})
	t.Run("Signed", func(t *testing.T) {
		cachetest.TestBackend(t, func(t *testing.T) cache.Backend {
			return newClient(t, remote.Options{URL: newServer(t).URL, Team: testTeam, Token: testToken, SignatureKey: []byte("k")})
		})
	})
}

func TestSign(t *testing.T) {
	// Computed independently:
	// printf '{"hash":"abc","teamId":"team_x"}hello' | openssl dgst -sha256 -hmac key -binary | base64 | tr -d =
	assert.Equal(t, "BE6VviTdp8G8YTYlIBrFGva3q6w5kS/UFfOIftdintg", remote.Sign([]byte("key"), "team_x", "abc", []byte("hello")))
}

// recorder is a protocol server that records the last request.
type recorder struct {
	// mu guards everything below.
	mu     sync.Mutex
	query  string
	header http.Header
	body   []byte
	path   string
}

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.query, r.header, r.body, r.path = req.URL.RawQuery, req.Header.Clone(), body, req.URL.Path
	r.mu.Unlock()
	if req.Method == http.MethodGet {
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestRequestShape(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(rec.serve))
	t.Cleanup(srv.Close)
	key := hash.Sum([]byte("k"))
	tests := []struct {
		name, url, team, query string
	}{
		{"slug", srv.URL, "my-team", "slug=my-team"},
		{"vercel team id", srv.URL, "team_abc123", "teamId=team_abc123"},
		{"no team", srv.URL, "", ""},
		{"base path and trailing slash", srv.URL + "/cache/", "x", "slug=x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, remote.Options{URL: tt.url, Team: tt.team, Token: testToken})
			require.NoError(t, c.PutArtifact(t.Context(), key, strings.NewReader("artifact"), 8, 1500*time.Millisecond))
			rec.mu.Lock()
			defer rec.mu.Unlock()
			assert.Equal(t, tt.query, rec.query)
			assert.True(t, strings.HasSuffix(rec.path, "/v8/artifacts/"+key.String()), rec.path)
			assert.False(t, strings.Contains(rec.path, "//"), rec.path)
			assert.Equal(t, "Bearer "+testToken, rec.header.Get("Authorization"))
			assert.Equal(t, "application/octet-stream", rec.header.Get("Content-Type"))
			assert.Equal(t, "1500", rec.header.Get("x-artifact-duration"))
			assert.Empty(t, rec.header.Get("x-artifact-tag"), "unsigned client sends no tag")
			assert.Equal(t, "artifact", string(rec.body))
		})
	}
	t.Run("signed", func(t *testing.T) {
		c := newClient(t, remote.Options{URL: srv.URL, Team: "team_x", SignatureKey: []byte("key")})
		require.NoError(t, c.Put(t.Context(), key, bytes.NewReader([]byte("hello")), 5))
		rec.mu.Lock()
		defer rec.mu.Unlock()
		assert.Equal(t, remote.Sign([]byte("key"), "team_x", key.String(), []byte("hello")), rec.header.Get("x-artifact-tag"))
		assert.Empty(t, rec.header.Get("Authorization"), "no token, no header")
	})
	t.Run("seeker sent from its offset", func(t *testing.T) {
		c := newClient(t, remote.Options{URL: srv.URL, Team: "t", SignatureKey: []byte("key")})
		r := bytes.NewReader([]byte("skip:payload"))
		_, err := r.Seek(5, io.SeekStart)
		require.NoError(t, err)
		require.NoError(t, c.Put(t.Context(), key, r, 7))
		rec.mu.Lock()
		defer rec.mu.Unlock()
		assert.Equal(t, "payload", string(rec.body))
		assert.Equal(t, remote.Sign([]byte("key"), "t", key.String(), []byte("payload")), rec.header.Get("x-artifact-tag"))
	})
	t.Run("seeker shorter than size", func(t *testing.T) {
		c := newClient(t, remote.Options{URL: srv.URL, Team: "t"})
		err := c.Put(t.Context(), key, bytes.NewReader([]byte("short")), 50)
		require.Error(t, err)
		assert.False(t, remote.Retryable(err))
	})
}

func TestSignatureVerification(t *testing.T) {
	srv := newServer(t)
	key := hash.Sum([]byte("signed artifact"))
	signer := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken, SignatureKey: []byte("shared key")})
	require.NoError(t, signer.Put(t.Context(), key, strings.NewReader("genuine artifact"), -1))
	stored, ok := srv.Artifact(testTeam, key.String())
	require.True(t, ok)
	require.NotEmpty(t, stored.Tag)

	t.Run("same key accepts", func(t *testing.T) {
		c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken, SignatureKey: []byte("shared key")})
		rc, err := c.Get(t.Context(), key)
		require.NoError(t, err)
		defer rc.Close()
		got, err := io.ReadAll(rc)
		require.NoError(t, err)
		assert.Equal(t, "genuine artifact", string(got))
	})
	refused := []struct {
		name   string
		keyStr string
		art    *remotetest.Artifact
	}{
		{"other key", "another key", nil},
		{"tampered body", "shared key", &remotetest.Artifact{Body: []byte("evil artifact!!!"), Tag: stored.Tag}},
		{"missing tag", "shared key", &remotetest.Artifact{Body: stored.Body}},
		{"garbage tag", "shared key", &remotetest.Artifact{Body: stored.Body, Tag: "not base64 at all"}},
		{"other team's tag", "shared key", &remotetest.Artifact{Body: stored.Body, Tag: remote.Sign([]byte("shared key"), "other", key.String(), stored.Body)}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if tt.art != nil {
				srv.SetArtifact(testTeam, key.String(), *tt.art)
				t.Cleanup(func() { srv.SetArtifact(testTeam, key.String(), stored) })
			}
			c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken, SignatureKey: []byte(tt.keyStr)})
			_, err := c.Get(t.Context(), key)
			require.ErrorIs(t, err, remote.ErrSignature)
			assert.False(t, remote.Retryable(err))
			st := c.Stats()
			assert.Equal(t, int64(1), st.Refused)
			assert.Equal(t, int64(1), st.Errors)
			assert.Zero(t, st.Hits)
		})
	}
	t.Run("unsigned client ignores tags", func(t *testing.T) {
		srv.SetArtifact(testTeam, key.String(), remotetest.Artifact{Body: []byte("anything"), Tag: "bogus"})
		t.Cleanup(func() { srv.SetArtifact(testTeam, key.String(), stored) })
		c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken})
		rc, err := c.Get(t.Context(), key)
		require.NoError(t, err)
		rc.Close()
	})
}

func TestFaults(t *testing.T) {
	key := hash.Sum([]byte("faulty"))
	down := remotetest.NewServer("")
	downURL := down.URL
	down.Close()
	tests := []struct {
		name  string
		fault remotetest.Fault
		url   string // overrides the server's
		want  string // in the error
	}{
		{"server down", remotetest.Healthy, downURL, "connection refused"},
		{"500", remotetest.Fail500, "", "500 Internal Server Error: injected failure"},
		{"slow beyond timeout", remotetest.Hang, "", "deadline exceeded"},
		{"truncated body", remotetest.Truncate, "", "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			srv.SetArtifact(testTeam, key.String(), remotetest.Artifact{Body: bytes.Repeat([]byte("artifact"), 4096)})
			srv.SetFault(tt.fault)
			url := srv.URL
			if tt.url != "" {
				url = tt.url
			}
			c := newClient(t, remote.Options{URL: url, Team: testTeam, Token: testToken, Timeout: 200 * time.Millisecond})
			_, err := c.Get(t.Context(), key)
			require.Error(t, err)
			assert.NotErrorIs(t, err, cache.ErrNotFound)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, remote.Retryable(err), "%v", err)
			assert.NotContains(t, err.Error(), testToken)
			st := c.Stats()
			assert.Equal(t, int64(1), st.Errors)
			assert.Zero(t, st.Hits)
		})
	}
	t.Run("garbage is refused by import", func(t *testing.T) {
		srv := newServer(t)
		srv.SetFault(remotetest.Garbage)
		c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken})
		rc, err := c.Get(t.Context(), key)
		require.NoError(t, err, "the client cannot tell garbage from an artifact")
		defer rc.Close()
		local, err := cache.Open(t.TempDir(), cache.Options{})
		require.NoError(t, err)
		defer local.Close()
		_, err = local.Import(t.Context(), key, rc)
		require.ErrorIs(t, err, cache.ErrCorrupt)
		_, err = local.Lookup(t.Context(), key)
		require.ErrorIs(t, err, cache.ErrNotFound)
	})
	t.Run("miss", func(t *testing.T) {
		srv := newServer(t)
		c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken})
		_, err := c.Get(t.Context(), key)
		require.ErrorIs(t, err, cache.ErrNotFound)
		ok, err := c.Exists(t.Context(), key)
		require.NoError(t, err)
		assert.False(t, ok)
		st := c.Stats()
		assert.Equal(t, int64(1), st.Misses)
		assert.Zero(t, st.Errors)
	})
}

func TestStatusErrors(t *testing.T) {
	// A server that echoes the credentials it was sent must not make
	// them appear in errors.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"error":{"code":"forbidden","message":"token `+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+` may not write"}}`)
	}))
	t.Cleanup(echo.Close)
	c := newClient(t, remote.Options{URL: echo.URL, Team: testTeam, Token: testToken})
	key := hash.Sum([]byte("x"))
	for name, err := range map[string]error{
		"get": func() error { _, err := c.Get(t.Context(), key); return err }(),
		"put": c.Put(t.Context(), key, strings.NewReader("a"), 1),
	} {
		t.Run(name, func(t *testing.T) {
			se, ok := errors.AsType[*remote.StatusError](err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, http.StatusForbidden, se.Code)
			assert.Equal(t, "token [redacted] may not write", se.Message)
			assert.False(t, remote.Retryable(err))
			assert.NotContains(t, err.Error(), testToken)
		})
	}
	t.Run("bad token", func(t *testing.T) {
		srv := newServer(t)
		c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: "wrong"})
		_, err := c.Get(t.Context(), key)
		se, ok := errors.AsType[*remote.StatusError](err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, http.StatusUnauthorized, se.Code)
	})
}

func TestRestsAfterRepeatedFailures(t *testing.T) {
	srv := newServer(t)
	srv.SetFault(remotetest.Fail500)
	c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken, MaxFailures: 2, Cooldown: time.Hour})
	key := hash.Sum([]byte("k"))
	for range 2 {
		_, err := c.Get(t.Context(), key)
		require.Error(t, err)
	}
	_, err := c.Get(t.Context(), key)
	require.ErrorIs(t, err, remote.ErrUnavailable)
	require.ErrorIs(t, c.Put(t.Context(), key, strings.NewReader("a"), 1), remote.ErrUnavailable)
	assert.Equal(t, 2, srv.Requests(""), "no request is sent while resting")
	st := c.Stats()
	assert.Equal(t, int64(2), st.Errors)
	assert.Equal(t, int64(2), st.Skipped)
}

func TestTooLarge(t *testing.T) {
	srv := newServer(t)
	key := hash.Sum([]byte("big"))
	srv.SetArtifact(testTeam, key.String(), remotetest.Artifact{Body: make([]byte, 100)})
	c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken, MaxArtifactSize: 10})
	_, err := c.Get(t.Context(), key)
	require.ErrorIs(t, err, remote.ErrTooLarge)
	assert.Equal(t, int64(1), c.Stats().Refused)
	err = c.Put(t.Context(), hash.Sum([]byte("other")), bytes.NewReader(make([]byte, 100)), 100)
	require.ErrorIs(t, err, remote.ErrTooLarge)
	assert.Zero(t, srv.Requests(http.MethodPut))
}

func TestCountsBytes(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken})
	key := hash.Sum([]byte("k"))
	require.NoError(t, c.Put(t.Context(), key, strings.NewReader("0123456789"), 10))
	rc, err := c.Get(t.Context(), key)
	require.NoError(t, err)
	rc.Close()
	st := c.Stats()
	assert.Equal(t, remote.Stats{Hits: 1, Uploads: 1, BytesUp: 10, BytesDown: 10}, st)
}

func TestCancelledRequestIsNotAFailure(t *testing.T) {
	srv := newServer(t)
	srv.SetFault(remotetest.Hang)
	c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken, MaxFailures: 1, Cooldown: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for srv.Requests(http.MethodGet) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.Get(ctx, hash.Sum([]byte("k")))
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, c.Stats().Errors)
	srv.SetFault(remotetest.Healthy)
	_, err = c.Get(t.Context(), hash.Sum([]byte("k")))
	require.ErrorIs(t, err, cache.ErrNotFound, "a cancelled request does not make the client rest")
}

func TestNewRejects(t *testing.T) {
	tests := []struct{ name, url, token, want string }{
		{"empty", "", "", "empty URL"},
		{"no scheme", "cache.example.com", "", "scheme"},
		{"ftp", "ftp://cache.example.com", "", "scheme"},
		{"no host", "http://", "", "no host"},
		{"query", "http://h/?slug=x", "", "without query"},
		{"token with newline", "http://h", "a\nb", "line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := remote.New(remote.Options{URL: tt.url, Token: tt.token})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("password masked", func(t *testing.T) {
		c, err := remote.New(remote.Options{URL: "https://user:hunter2@cache.example.com/"})
		require.NoError(t, err)
		assert.Equal(t, "https://user:xxxxx@cache.example.com", c.URL())
	})
}
