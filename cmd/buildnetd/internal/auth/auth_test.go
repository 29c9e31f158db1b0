package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/state"
)

// clock is a settable time source.
type clock struct {
	// mu guards t.
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openDB(t *testing.T) *state.DB {
	t.Helper()
	db, err := state.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"), state.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// env is a service on a real database behind a real HTTP server.
type env struct {
	t    *testing.T
	db   *state.DB
	svc  *auth.Service
	srv  *httptest.Server
	clk  *clock
	keys map[string]string // role → key
}

func newEnv(t *testing.T, st *auth.Settings) *env {
	t.Helper()
	db := openDB(t)
	clk := &clock{t: time.Now()}
	svc, err := auth.New(t.Context(), auth.Options{Store: db, Settings: st, Now: clk.Now, BcryptCost: bcrypt.MinCost, SweepInterval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, r *http.Request) {
		c, _ := auth.FromContext(r.Context())
		auth.Annotate(r.Context(), "thing", map[string]any{"k": "v"})
		fmt.Fprintf(w, "%s %s %s", c.Actor(), c.Role, c.Session)
	}
	mux.Handle("GET /read", svc.Wrap(auth.PermRead, "", http.HandlerFunc(ok)))
	mux.Handle("POST /build", svc.Wrap(auth.PermBuild, "build.trigger", http.HandlerFunc(ok)))
	mux.Handle("POST /admin", svc.Wrap(auth.PermCacheClear, "cache.clear", http.HandlerFunc(ok)))
	svc.Routes(func(p string, _ bool, h http.Handler) { mux.Handle(p, h) })
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnContext = auth.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	e := &env{t: t, db: db, svc: svc, srv: srv, clk: clk, keys: map[string]string{}}
	for _, r := range []auth.Role{auth.RoleRead, auth.RoleBuild, auth.RoleAdmin} {
		k, err := auth.CreateKey(t.Context(), db, r.String()+"-key", r, "test")
		require.NoError(t, err)
		e.keys[r.String()] = k.Key
	}
	return e
}

func (e *env) req(method, path, cred, body string, header ...string) (*http.Response, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(e.t, err)
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	return resp, mustRead(e.t, resp)
}

func mustRead(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func (e *env) audit(q state.AuditQuery) []state.AuditEntry {
	e.t.Helper()
	q.Limit = 1000
	es, _, err := e.db.Audit(e.t.Context(), q)
	require.NoError(e.t, err)
	return es
}

func TestRoles(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		perm auth.Perm
		want auth.Role
	}{
		{auth.PermPublic, auth.RoleNone}, {auth.PermRead, auth.RoleRead}, {auth.PermBuild, auth.RoleBuild},
		{auth.PermCancelAny, auth.RoleAdmin}, {auth.PermCacheClear, auth.RoleAdmin}, {auth.PermKeys, auth.RoleAdmin},
		{auth.PermFilesWrite, auth.RoleAdmin}, {auth.Perm("unknown"), auth.RoleAdmin},
	} {
		assert.Equal(t, tt.want, tt.perm.Role(), tt.perm)
	}
	assert.True(t, auth.RoleAdmin.Allows(auth.RoleBuild))
	assert.False(t, auth.RoleRead.Allows(auth.RoleBuild))
	assert.False(t, auth.RoleNone.Allows(auth.RoleNone), "no role allows nothing")
	r, err := auth.ParseRole("build")
	require.NoError(t, err)
	assert.Equal(t, auth.RoleBuild, r)
	_, err = auth.ParseRole("root")
	assert.ErrorIs(t, err, auth.ErrInvalidRole)
	b, _ := json.Marshal(struct{ R auth.Role }{auth.RoleAdmin})
	assert.JSONEq(t, `{"R":"admin"}`, string(b))
}

func TestKeysAndPasswords(t *testing.T) {
	t.Parallel()
	k, err := auth.NewKey()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(k, auth.KeyPrefix))
	assert.Len(t, k, len(auth.KeyPrefix)+64)
	assert.True(t, auth.IsKey(k))
	assert.False(t, auth.IsKey("bnk_short"))
	assert.False(t, auth.IsKey(strings.Replace(k, "bnk_", "xyz_", 1)))
	k2, _ := auth.NewKey()
	assert.NotEqual(t, k, k2)
	assert.Len(t, auth.HashKey(k), 32)

	h, err := auth.HashPassword("correct horse", bcrypt.MinCost)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(h, "$2"), "a bcrypt hash")
	assert.True(t, auth.CheckPassword(h, "correct horse"))
	assert.False(t, auth.CheckPassword(h, "correct horsE"))
	_, err = auth.HashPassword("short", bcrypt.MinCost)
	assert.ErrorIs(t, err, auth.ErrWeakPassword)
	assert.True(t, auth.ValidName("alice.b-c_d@x"))
	assert.False(t, auth.ValidName("a b"))
	assert.False(t, auth.ValidName("key:x"))
}

func TestWrapEnforcesRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	tests := []struct {
		method, path string
		want         map[string]int
	}{
		{"GET", "/read", map[string]int{"": 401, "read": 200, "build": 200, "admin": 200}},
		{"POST", "/build", map[string]int{"": 401, "read": 403, "build": 200, "admin": 200}},
		{"POST", "/admin", map[string]int{"": 401, "read": 403, "build": 403, "admin": 200}},
	}
	denials := 0
	for _, tt := range tests {
		for role, want := range tt.want {
			resp, body := e.req(tt.method, tt.path, e.keys[role], "")
			assert.Equal(t, want, resp.StatusCode, "%s %s as %q: %s", tt.method, tt.path, role, body)
			switch want {
			case 401:
				denials++
				assert.Equal(t, `Bearer realm="buildnetd"`, resp.Header.Get("WWW-Authenticate"))
			case 403:
				denials++
				var er struct{ Error auth.Error }
				require.NoError(t, json.Unmarshal([]byte(body), &er))
				assert.Equal(t, tt.path[1:], er.Error.NeedRole)
			case 200:
				assert.NotEmpty(t, resp.Header.Get(auth.SessionHeader))
				assert.Contains(t, body, role)
			}
		}
	}
	assert.Len(t, e.audit(state.AuditQuery{Outcome: state.OutcomeDenied}), denials, "every refusal audited")
	allowed := e.audit(state.AuditQuery{Outcome: state.OutcomeAllowed, Action: "build.trigger"})
	require.Len(t, allowed, 2)
	assert.Equal(t, "thing", allowed[0].Target)
	assert.Equal(t, "v", allowed[0].Details["k"])
	assert.Empty(t, e.audit(state.AuditQuery{Action: "http.request", Outcome: state.OutcomeAllowed}), "reads are not audited when allowed")
}

func TestRateLimitPerPrincipal(t *testing.T) {
	t.Parallel()
	st := auth.DefaultSettings()
	st.RateLimits.Read = auth.Limit{Rate: 1, Burst: 2}
	e := newEnv(t, &st)
	other, err := auth.CreateKey(t.Context(), e.db, "other", auth.RoleRead, "test")
	require.NoError(t, err)
	var codes []int
	for range 3 {
		resp, _ := e.req("GET", "/read", e.keys["read"], "")
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 {
			assert.Equal(t, "1", resp.Header.Get("Retry-After"))
		}
	}
	assert.Equal(t, []int{200, 200, 429}, codes)
	resp, _ := e.req("GET", "/read", other.Key, "")
	assert.Equal(t, 200, resp.StatusCode, "another key has its own bucket")
	e.clk.Add(time.Second)
	resp, _ = e.req("GET", "/read", e.keys["read"], "")
	assert.Equal(t, 200, resp.StatusCode, "the bucket refills")
	e.clk.Add(5 * time.Second) // full again: 2 tokens, /auth/me takes one
	resp, body := e.req("GET", "/auth/me", e.keys["read"], "")
	require.Equal(t, 200, resp.StatusCode, body)
	var me auth.Me
	require.NoError(t, json.Unmarshal([]byte(body), &me))
	assert.Equal(t, auth.LimitStatus{Role: "read", Rate: 1, Burst: 2, Remaining: 1}, me.RateLimit, "the caller sees its limit")
}

func TestLoginRefreshLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	require.NoError(t, auth.AddUser(t.Context(), e.db, "alice", auth.RoleBuild, "correct horse", bcrypt.MinCost))
	resp, body := e.req("POST", "/auth/login", "", `{"user":"alice","password":"correct horse"}`)
	require.Equal(t, 200, resp.StatusCode, body)
	var l auth.LoginResponse
	require.NoError(t, json.Unmarshal([]byte(body), &l))
	assert.Equal(t, auth.RoleBuild, l.Role)
	assert.Equal(t, 3, strings.Count(l.Token, ".")+1, "a JWT")
	resp, body = e.req("POST", "/build", l.Token, "")
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Contains(t, body, l.Session, "the token's session")

	// Expiry: an hour later the access token is refused; refresh works.
	e.clk.Add(time.Hour + time.Minute)
	resp, _ = e.req("GET", "/read", l.Token, "")
	assert.Equal(t, 401, resp.StatusCode, "expired")
	resp, body = e.req("POST", "/auth/refresh", "", `{"refresh_token":"`+l.RefreshToken+`"}`)
	require.Equal(t, 200, resp.StatusCode, body)
	var r auth.LoginResponse
	require.NoError(t, json.Unmarshal([]byte(body), &r))
	resp, _ = e.req("GET", "/read", r.Token, "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, l.Session, r.Session)

	// A role change takes effect at once and ends older tokens.
	require.NoError(t, auth.UpdateUser(t.Context(), e.db, "alice", auth.RoleRead, "", bcrypt.MinCost))
	resp, _ = e.req("GET", "/read", r.Token, "")
	assert.Equal(t, 401, resp.StatusCode)

	resp, body = e.req("POST", "/auth/login", "", `{"user":"alice","password":"correct horse"}`)
	require.Equal(t, 200, resp.StatusCode, body)
	require.NoError(t, json.Unmarshal([]byte(body), &l))
	resp, _ = e.req("POST", "/build", l.Token, "")
	assert.Equal(t, 403, resp.StatusCode, "now a reader")
	resp, _ = e.req("POST", "/auth/logout", l.Token, "")
	require.Equal(t, 200, resp.StatusCode)
	resp, _ = e.req("GET", "/read", l.Token, "")
	assert.Equal(t, 401, resp.StatusCode, "logged out: the session is closed")
	resp, _ = e.req("POST", "/auth/refresh", "", `{"refresh_token":"`+l.RefreshToken+`"}`)
	assert.Equal(t, 401, resp.StatusCode, "no refresh for a closed session")

	resp, _ = e.req("POST", "/auth/login", "", `{"user":"nobody","password":"correct horse"}`)
	assert.Equal(t, 401, resp.StatusCode)
	resp, body = e.req("POST", "/auth/login", "", `{"key":"`+e.keys["admin"]+`"}`)
	require.Equal(t, 200, resp.StatusCode, body)
	logins := e.audit(state.AuditQuery{Action: auth.ActionLogin})
	assert.Len(t, logins, 4)
	assert.Len(t, e.audit(state.AuditQuery{Action: auth.ActionLogin, Outcome: state.OutcomeDenied}), 1)
}

func TestCSRFForCookies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	resp, body := e.req("POST", "/auth/login", "", `{"key":"`+e.keys["build"]+`","cookie":true}`)
	require.Equal(t, 200, resp.StatusCode, body)
	var l auth.LoginResponse
	require.NoError(t, json.Unmarshal([]byte(body), &l))
	var tok string
	for _, c := range resp.Cookies() {
		if c.Name == auth.TokenCookie {
			tok = c.Value
			assert.True(t, c.HttpOnly)
		}
	}
	require.NotEmpty(t, tok)
	resp, _ = e.req("GET", "/read", "", "", "Cookie", auth.TokenCookie+"="+tok)
	assert.Equal(t, 200, resp.StatusCode)
	resp, _ = e.req("POST", "/build", "", "", "Cookie", auth.TokenCookie+"="+tok)
	assert.Equal(t, 403, resp.StatusCode)
	resp, _ = e.req("POST", "/build", "", "", "Cookie", auth.TokenCookie+"="+tok, auth.CSRFHeader, l.CSRFToken)
	assert.Equal(t, 200, resp.StatusCode)
	resp, _ = e.req("POST", "/build", tok, "")
	assert.Equal(t, 200, resp.StatusCode, "the same token in the header needs no CSRF token")
	resp, _ = e.req("GET", "/read", "", "", "Cookie", auth.TokenCookie+"="+e.keys["admin"])
	assert.Equal(t, 401, resp.StatusCode, "a key is never taken from a cookie")
}

func TestSessionsIdleLimitHandoff(t *testing.T) {
	t.Parallel()
	st := auth.DefaultSettings()
	st.SessionIdle = auth.Duration(time.Minute)
	st.MaxSessions = 2
	e := newEnv(t, &st)
	session := func(key string) string {
		resp, body := e.req("GET", "/read", key, "", "Connection", "close")
		require.Equal(t, 200, resp.StatusCode, body)
		return resp.Header.Get(auth.SessionHeader)
	}
	s1 := session(e.keys["build"])
	s2 := session(e.keys["build"])
	require.NotEqual(t, s1, s2, "one session per connection")
	e.clk.Add(time.Second)
	resp, _ := e.req("GET", "/read", e.keys["build"], "", auth.SessionHeader, s1)
	assert.Equal(t, s1, resp.Header.Get(auth.SessionHeader), "the header resumes a session")
	resp, _ = e.req("GET", "/read", e.keys["read"], "", auth.SessionHeader, s1, "Connection", "close")
	assert.NotEqual(t, s1, resp.Header.Get(auth.SessionHeader), "another principal cannot use it")

	// A third session evicts the least recently used idle one (s2).
	e.clk.Add(time.Second)
	s3 := session(e.keys["build"])
	ss := e.svc.Sessions()
	_, ok := ss.Info(s2)
	assert.False(t, ok, "s2 evicted")
	_, ok = ss.Info(s1)
	assert.True(t, ok)

	// A stream keeps a session busy: it never idles out.
	ended := make(chan struct{})
	detach := ss.Attach(s3, &auth.Stream{Export: func() any { return "filter-3" }, End: func() { close(ended) }})
	defer detach()
	e.clk.Add(2 * time.Minute)
	closed := e.svc.Sweep(t.Context())
	assert.Contains(t, closed, s1)
	assert.NotContains(t, closed, s3)
	assert.Len(t, e.audit(state.AuditQuery{Action: auth.ActionSessionExpire}), len(closed))

	// Hand s3 (with its stream) to another session of the same key.
	s4 := session(e.keys["build"])
	var imported any
	detach4 := ss.Attach(s4, &auth.Stream{Import: func(v any) { imported = v }})
	defer detach4()
	resp, body := e.req("POST", "/sessions/"+s3+"/handoff", e.keys["build"], `{"to":"`+s4+`"}`, auth.SessionHeader, s4)
	require.Equal(t, 200, resp.StatusCode, body)
	assert.Equal(t, "filter-3", imported, "the subscription moved")
	<-ended // the old stream ended
	_, ok = ss.Info(s3)
	assert.False(t, ok, "the source session is closed")

	// Not to another principal's non-admin session; yes to an admin's.
	readS := session(e.keys["read"])
	resp, _ = e.req("POST", "/sessions/"+s4+"/handoff", e.keys["build"], `{"to":"`+readS+`"}`, auth.SessionHeader, s4)
	assert.Equal(t, 403, resp.StatusCode)
	adminS := session(e.keys["admin"])
	resp, body = e.req("POST", "/sessions/"+s4+"/handoff", e.keys["build"], `{"to":"`+adminS+`"}`, auth.SessionHeader, s4)
	assert.Equal(t, 200, resp.StatusCode, body)
	// Nor someone else's session.
	resp, _ = e.req("POST", "/sessions/"+readS+"/handoff", e.keys["build"], `{"to":"`+adminS+`"}`)
	assert.Equal(t, 404, resp.StatusCode)
}

func TestAuditorGroupCommitAndSubscribe(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	a := auth.NewAuditor(db, nil, nil)
	sub := a.Subscribe()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			assert.NoError(t, a.Record(t.Context(), state.AuditEntry{Actor: "u", Action: fmt.Sprintf("a%d", i), Outcome: state.OutcomeAllowed}))
		})
	}
	wg.Wait()
	es, _, err := db.Audit(t.Context(), state.AuditQuery{Limit: 100})
	require.NoError(t, err)
	assert.Len(t, es, 50, "every entry committed before Record returned")
	got := 0
	for range 50 {
		e := <-sub.Entries()
		assert.Positive(t, e.Seq)
		got++
	}
	assert.Equal(t, 50, got)
	a.Close()
	_, open := <-sub.Entries()
	assert.False(t, open, "Close ends subscriptions")
	assert.ErrorIs(t, a.Record(context.Background(), state.AuditEntry{Actor: "u", Action: "x", Outcome: state.OutcomeAllowed}), auth.ErrAuditorClosed)
}

func TestAuditRetention(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	now := time.Now()
	require.NoError(t, db.AppendAudit(t.Context(), []state.AuditEntry{
		{Time: now.Add(-40 * 24 * time.Hour), Actor: "u", Action: "old", Outcome: state.OutcomeAllowed},
		{Time: now.Add(-10 * 24 * time.Hour), Actor: "u", Action: "recent", Outcome: state.OutcomeAllowed},
	}))
	a := auth.NewAuditor(db, nil, func() time.Time { return now })
	defer a.Close()
	st := auth.DefaultSettings()
	st.AuditRetentionDays = 30
	n, err := a.Prune(t.Context(), st.AuditRetention())
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	es, _, err := db.Audit(t.Context(), state.AuditQuery{})
	require.NoError(t, err)
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Action)
	}
	assert.Equal(t, []string{auth.ActionAuditPrune, "recent"}, actions)
	n, err = a.Prune(t.Context(), 0)
	require.NoError(t, err)
	assert.Zero(t, n, "a retention of 0 keeps everything")
}

func TestSettingsFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), auth.SettingsFile)
	st, err := auth.LoadSettings(path)
	require.NoError(t, err)
	assert.Equal(t, auth.DefaultSettings(), st, "no file: the defaults")
	st.SessionIdle = auth.Duration(5 * time.Minute)
	st.CORSOrigins = []string{"https://ci.example"}
	require.NoError(t, auth.SaveSettings(path, st))
	back, err := auth.LoadSettings(path)
	require.NoError(t, err)
	assert.Equal(t, st, back)
	b, _ := os.ReadFile(path)
	assert.Contains(t, string(b), `"session_idle": "5m0s"`)
	require.NoError(t, os.WriteFile(path, []byte(`{"cors_origins": ["*"]}`), 0o600))
	_, err = auth.LoadSettings(path)
	assert.Error(t, err, "a wildcard origin")
}

func TestEnsureAdminKey(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	dir := t.TempDir()
	path, created, err := auth.EnsureAdminKey(t.Context(), db, dir)
	require.NoError(t, err)
	assert.True(t, created)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	key, err := auth.ReadAdminKey(dir)
	require.NoError(t, err)
	_, created, err = auth.EnsureAdminKey(t.Context(), db, dir)
	require.NoError(t, err)
	assert.False(t, created, "a valid key is kept")
	k, err := db.KeyByHash(t.Context(), auth.HashKey(key))
	require.NoError(t, err)
	require.NoError(t, db.RevokeKey(t.Context(), k.ID, time.Time{}))
	_, created, err = auth.EnsureAdminKey(t.Context(), db, dir)
	require.NoError(t, err)
	assert.True(t, created, "a revoked key is replaced")
	key2, _ := auth.ReadAdminKey(dir)
	assert.NotEqual(t, key, key2)
}

func FuzzIsKey(f *testing.F) {
	f.Add("bnk_" + strings.Repeat("a", 64))
	f.Add("bnk_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if auth.IsKey(s) {
			assert.True(t, strings.HasPrefix(s, auth.KeyPrefix))
			assert.Len(t, s, len(auth.KeyPrefix)+64)
		}
	})
}

// TestSessionRecordsLandInOrder opens sessions, whose records are written
// in the background, and closes them at once: every record lands, and
// none is left open in the store.
func TestSessionRecordsLandInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var ids []string
	for range 20 {
		resp, body := e.req("GET", "/read", e.keys["build"], "", "Connection", "close")
		require.Equal(t, 200, resp.StatusCode, body)
		id := resp.Header.Get(auth.SessionHeader)
		resp, body = e.req("DELETE", "/sessions/"+id, e.keys["build"], "", auth.SessionHeader, id)
		require.Equal(t, 200, resp.StatusCode, body)
		ids = append(ids, id)
	}
	resp, body := e.req("GET", "/read", e.keys["read"], "", "Connection", "close")
	require.Equal(t, 200, resp.StatusCode, body)
	open := resp.Header.Get(auth.SessionHeader)
	require.NoError(t, e.svc.Close()) // waits for the records being written
	recs, err := e.db.Sessions(t.Context())
	require.NoError(t, err)
	var stored []string
	for _, r := range recs {
		stored = append(stored, r.ID)
	}
	assert.Equal(t, []string{open}, stored, "the closed sessions are closed in the store, the open one is there")
}
