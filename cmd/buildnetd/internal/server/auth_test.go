package server_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/state"
)

// bearer is the Authorization header value for a key or token; "" sends
// no credentials at all.
func bearer(cred string) string {
	if cred == "" {
		return noAuth
	}
	return "Bearer " + cred
}

// call sends a request as cred and returns the status and body.
func (f *fixture) call(cred, method, path, body string) (int, []byte) {
	f.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	resp, b := f.do(method, path, r, "Authorization", bearer(cred), "Content-Type", "application/json")
	return resp.StatusCode, b
}

// sseStatus opens GET path as an event stream and returns the status.
func (f *fixture) sseStatus(cred, path string) int {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url+path, nil)
	require.NoError(f.t, err)
	req.Header.Set("Authorization", bearer(cred))
	resp, err := testClient.Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		require.NoError(f.t, err)
		require.Equal(f.t, ": connected\n", line)
	}
	return resp.StatusCode
}

// dialAs opens the WebSocket as cred and returns the handshake status
// and, on success, the connection (closed with the test).
func (f *fixture) dialAs(t *testing.T, cred string) (int, *wsConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.url, "http")+"/ws", &websocket.DialOptions{
		HTTPClient: testClient, HTTPHeader: http.Header{"Authorization": []string{bearer(cred)}}})
	if err != nil {
		require.NotNil(t, resp, "%v", err)
		return resp.StatusCode, nil
	}
	t.Cleanup(func() { c.CloseNow() })
	return resp.StatusCode, &wsConn{t: t, c: c}
}

// audit lists audit entries as admin.
func (f *fixture) audit(query string) []state.AuditEntry {
	f.t.Helper()
	var out struct {
		Entries []state.AuditEntry `json:"entries"`
		Next    string             `json:"next"`
	}
	f.getJSON("/audit?limit=1000&"+query, http.StatusOK, &out)
	return out.Entries
}

// TestAuthMatrix checks every role against every class of endpoint over
// real HTTP, SSE and WebSocket: who gets in, who gets 401 or 403 (with
// the role needed), and that each refusal is in the audit log.
func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	admin := f.key
	read := f.newKey("reader", "read").Key
	build := f.newKey("builder", "build").Key
	// A build of the admin's, and one of the build key's, to cancel.
	adminBuild := f.build("/build/core", "")
	var own struct{ ID string }
	code, body := f.call(build, http.MethodPost, "/build/gate", "")
	require.Equal(t, http.StatusAccepted, code, "%s", body)
	require.NoError(t, json.Unmarshal(body, &own))

	type want struct{ none, read, build, admin int }
	public := want{200, 200, 200, 200}
	readable := want{401, 200, 200, 200}
	buildable := func(ok int) want { return want{401, 403, ok, ok} }
	adminOnly := func(ok int) want { return want{401, 403, 403, ok} }
	tests := []struct {
		class, method, path, body string
		want                      want
	}{
		{"public", "GET", "/health", "", public},
		{"read", "GET", "/status", "", readable},
		{"read", "GET", "/builds", "", readable},
		{"read", "GET", "/builds/" + adminBuild.ID, "", readable},
		{"read", "GET", "/builds/" + adminBuild.ID + "/log", "", readable},
		{"read", "GET", "/graph", "", readable},
		{"read", "GET", "/config", "", readable},
		{"read", "GET", "/cache/stats", "", readable},
		{"read", "GET", "/cache/entries", "", readable},
		{"read", "GET", "/metrics", "", readable},
		{"read", "GET", "/auth/me", "", readable},
		{"read", "GET", "/audit", "", readable},
		{"read", "GET", "/sessions", "", readable},
		{"read", "GET", "/files", "", readable},
		{"read", "GET", "/files/content?path=pkgs/core/src/main.txt", "", readable},
		{"build", "POST", "/build/core", "", buildable(202)},
		{"build", "POST", "/build", `{"packages":["api"]}`, buildable(202)},
		{"admin", "POST", "/cache/clear", "", adminOnly(200)},
		{"admin", "GET", "/keys", "", adminOnly(200)},
		{"admin", "GET", "/users", "", adminOnly(200)},
		{"admin", "GET", "/security/config", "", adminOnly(200)},
		{"admin", "PUT", "/files/content?path=pkgs/core/src/main.txt", `{"content":"edited\n"}`, adminOnly(200)},
		{"admin", "POST", "/builds/" + adminBuild.ID + "/cancel", "", adminOnly(409)},
	}
	creds := []struct {
		name string
		cred string
		pick func(want) int
	}{
		{"none", "", func(w want) int { return w.none }},
		{"read", read, func(w want) int { return w.read }},
		{"build", build, func(w want) int { return w.build }},
		{"admin", admin, func(w want) int { return w.admin }},
	}
	refusals := 0
	for _, tt := range tests {
		for _, c := range creds {
			t.Run(tt.class+"/"+c.name+"/"+tt.method+" "+tt.path, func(t *testing.T) {
				code, body := f.call(c.cred, tt.method, tt.path, tt.body)
				require.Equal(t, c.pick(tt.want), code, "%s", body)
				if code == http.StatusForbidden {
					var e struct {
						Error struct{ Code, NeedRole string }
					}
					require.NoError(t, json.Unmarshal(body, &e))
					assert.Equal(t, "forbidden", e.Error.Code)
					need := tt.class
					if c.name == "read" {
						need = "build" // a read key lacks build first
					}
					if tt.path == "/cache/clear" || !strings.Contains(tt.path, "/cancel") {
						need = tt.class
					}
					assert.Contains(t, string(body), `"need_role":"`+need+`"`)
				}
				if code == http.StatusUnauthorized {
					var e struct{ Error struct{ Code string } }
					require.NoError(t, json.Unmarshal(body, &e))
					assert.Equal(t, "unauthorized", e.Error.Code)
				}
			})
			if w := c.pick(tt.want); w == http.StatusUnauthorized || w == http.StatusForbidden {
				refusals++
			}
		}
	}

	// Cancelling: the build key cancels its own build, not the admin's.
	code, body = f.call(build, http.MethodPost, "/builds/"+own.ID+"/cancel", "")
	assert.Equal(t, http.StatusAccepted, code, "own build: %s", body)
	code, _ = f.call(read, http.MethodPost, "/builds/"+own.ID+"/cancel", "")
	assert.Equal(t, http.StatusForbidden, code, "a read key cancels nothing")
	refusals++

	// Event streams: SSE.
	for _, c := range creds {
		wantCode := http.StatusOK
		if c.cred == "" {
			wantCode = http.StatusUnauthorized
		}
		assert.Equal(t, wantCode, f.sseStatus(c.cred, "/events"), "SSE as %s", c.name)
	}
	refusals++

	// WebSocket: connecting needs read; the build op needs build, checked
	// by the same service.
	code, _ = f.dialAs(t, "")
	assert.Equal(t, http.StatusUnauthorized, code, "WebSocket without credentials")
	refusals++
	for _, c := range creds[1:] {
		code, ws := f.dialAs(t, c.cred)
		require.Equal(t, http.StatusSwitchingProtocols, code, c.name)
		hello := ws.recv()
		require.Equal(t, "hello", hello.Op)
		assert.NotEmpty(t, hello.Session)
		ws.send(`{"op":"build","id":"b1","packages":["core"]}`)
		m := ws.reply()
		if c.name == "read" {
			require.Equal(t, "error", m.Op, c.name)
			assert.Equal(t, "forbidden", m.Error.Code)
			refusals++
		} else {
			assert.Equal(t, "ack", m.Op, c.name)
			assert.NotEmpty(t, m.BuildID)
		}
	}

	// Every refusal is in the audit log, with its outcome.
	denied := f.audit("outcome=denied")
	assert.Len(t, denied, refusals, "one audit entry per refusal")
	var sawWS, sawSSE, sawNeed bool
	for _, e := range denied {
		assert.Equal(t, state.OutcomeDenied, e.Outcome)
		switch {
		case e.Details["path"] == "/ws":
			sawWS = true
		case e.Details["path"] == "/events":
			sawSSE = true
		}
		if e.Details["need_role"] == "admin" && e.Actor == "key:"+keyID(t, f, "builder") {
			sawNeed = true
		}
	}
	assert.True(t, sawWS && sawSSE && sawNeed, "refusals of the WebSocket, SSE and a build key asking for admin are audited")
	allowed := f.audit("outcome=allowed&action=build.trigger")
	assert.NotEmpty(t, allowed)
	for _, e := range allowed {
		assert.NotEmpty(t, e.Session)
		assert.NotEmpty(t, e.SourceIP)
	}
}

// keyID returns the id of the key named name.
func keyID(t *testing.T, f *fixture, name string) string {
	t.Helper()
	var out struct{ Keys []state.APIKey }
	f.getJSON("/keys", http.StatusOK, &out)
	for _, k := range out.Keys {
		if k.Name == name {
			return k.ID
		}
	}
	t.Fatalf("no key %s", name)
	return ""
}

// jwtPart encodes one part of a hand-made token.
func jwtPart(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestTokensAndKeysRefused logs in for a token, then shows that an
// expired, a tampered, an alg:none and a wrongly signed token, and a
// revoked key, are all refused with 401 and audited.
func TestTokensAndKeysRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	f.postJSON("/users", `{"name":"alice","role":"build","password":"correct horse"}`, http.StatusCreated, nil)

	var login auth.LoginResponse
	code, body := f.call("", http.MethodPost, "/auth/login", `{"user":"alice","password":"correct horse"}`)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.NoError(t, json.Unmarshal(body, &login))
	require.NotEmpty(t, login.Token)
	assert.Equal(t, "alice", login.Actor)
	assert.Equal(t, auth.RoleBuild, login.Role)
	code, _ = f.call(login.Token, http.MethodGet, "/status", "")
	require.Equal(t, http.StatusOK, code, "a valid token")
	code, body = f.call(login.Token, http.MethodPost, "/build/core", "")
	require.Equal(t, http.StatusAccepted, code, "a build token builds: %s", body)
	code, _ = f.call("", http.MethodPost, "/auth/login", `{"user":"alice","password":"wrong horse"}`)
	require.Equal(t, http.StatusUnauthorized, code, "a wrong password")

	// Refresh gives a new access token.
	var refreshed auth.LoginResponse
	code, body = f.call("", http.MethodPost, "/auth/refresh", `{"refresh_token":"`+login.RefreshToken+`"}`)
	require.Equal(t, http.StatusOK, code, "%s", body)
	require.NoError(t, json.Unmarshal(body, &refreshed))
	code, _ = f.call(refreshed.Token, http.MethodGet, "/status", "")
	assert.Equal(t, http.StatusOK, code, "a refreshed token")
	code, _ = f.call(login.Token, http.MethodPost, "/auth/refresh", `{"refresh_token":"`+login.Token+`"}`)
	assert.Equal(t, http.StatusUnauthorized, code, "an access token is no refresh token")

	db, err := state.Open(t.Context(), filepath.Join(f.root, ".buildnet", "state.db"), state.Options{})
	require.NoError(t, err)
	defer db.Close()
	secret, err := db.AuthSecret(t.Context())
	require.NoError(t, err)
	var claims jwt.MapClaims
	_, _, err = jwt.NewParser().ParseUnverified(login.Token, &claims)
	require.NoError(t, err)
	sign := func(method jwt.SigningMethod, key any, edit func(jwt.MapClaims)) string {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		edit(c)
		s, err := jwt.NewWithClaims(method, c).SignedString(key)
		require.NoError(t, err)
		return s
	}
	parts := strings.Split(login.Token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"knd":"user"`, `"knd":"user","x":1`, 1))) + "." + parts[2]
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	noneClaims := jwt.MapClaims{}
	for k, v := range claims {
		noneClaims[k] = v
	}
	tokens := map[string]string{
		"expired": sign(jwt.SigningMethodHS256, secret, func(c jwt.MapClaims) {
			c["iat"] = time.Now().Add(-3 * time.Hour).Unix()
			c["nbf"] = c["iat"]
			c["exp"] = time.Now().Add(-2 * time.Hour).Unix()
		}),
		"tampered":      tampered,
		"alg none":      jwtPart(map[string]string{"alg": "none", "typ": "JWT"}) + "." + jwtPart(noneClaims) + ".",
		"other secret":  sign(jwt.SigningMethodHS256, []byte("not the daemon's secret, but long enough"), func(jwt.MapClaims) {}),
		"RS256":         sign(jwt.SigningMethodRS256, rsaKey, func(jwt.MapClaims) {}),
		"HS512":         sign(jwt.SigningMethodHS512, secret, func(jwt.MapClaims) {}),
		"refresh typ":   login.RefreshToken,
		"garbage":       "not.a.token",
		"admin claimed": sign(jwt.SigningMethodHS256, []byte("x"), func(c jwt.MapClaims) { c["role"] = "admin" }),
	}
	for name, tok := range tokens {
		t.Run(name, func(t *testing.T) {
			code, body := f.call(tok, http.MethodGet, "/status", "")
			assert.Equal(t, http.StatusUnauthorized, code, "%s", body)
			assert.Contains(t, string(body), `"unauthorized"`)
		})
	}
	// The key-confusion attack: HS256 keyed with the public key of an
	// RS256 key pair, where a parser would verify with that key.
	pub, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(fmt.Sprint(rsaKey.PublicKey.N)))
	require.NoError(t, err)
	code, _ = f.call(pub, http.MethodGet, "/status", "")
	assert.Equal(t, http.StatusUnauthorized, code, "key confusion")

	// A password change ends the tokens issued before.
	f.do(http.MethodPut, "/users/alice", strings.NewReader(`{"password":"battery staple"}`))
	code, _ = f.call(refreshed.Token, http.MethodGet, "/status", "")
	assert.Equal(t, http.StatusUnauthorized, code, "token issued before the password change")

	// A revoked key.
	k := f.newKey("temp", "read")
	code, _ = f.call(k.Key, http.MethodGet, "/status", "")
	require.Equal(t, http.StatusOK, code)
	resp, body := f.do(http.MethodDelete, "/keys/"+k.ID, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	code, body = f.call(k.Key, http.MethodGet, "/status", "")
	assert.Equal(t, http.StatusUnauthorized, code)
	assert.Contains(t, string(body), "revoked")
	var keys struct{ Keys []state.APIKey }
	f.getJSON("/keys", http.StatusOK, &keys)
	for _, kk := range keys.Keys {
		if kk.ID == k.ID {
			assert.True(t, kk.Revoked())
			assert.False(t, kk.LastUsedAt.IsZero(), "last used time recorded")
			assert.True(t, strings.HasPrefix(kk.Prefix, "bnk_"))
		}
	}
	assert.NotContains(t, f.logs.String(), k.Key, "the key never appears in the logs")

	// Each refusal is audited: the bad tokens, the wrong password, the
	// revoked key.
	denied := f.audit("outcome=denied")
	assert.GreaterOrEqual(t, len(denied), len(tokens)+4)
	var sawLogin, sawRevoked bool
	for _, e := range denied {
		if e.Action == auth.ActionLogin && e.Target == "alice" {
			sawLogin = true
		}
		if msg, _ := e.Details["message"].(string); strings.Contains(msg, "revoked") {
			sawRevoked = true
		}
	}
	assert.True(t, sawLogin, "the failed login is audited")
	assert.True(t, sawRevoked, "the revoked key's use is audited")
	ok := f.audit("action=auth.login&outcome=allowed")
	require.Len(t, ok, 1)
	assert.Equal(t, "alice", ok[0].Actor)
}

// TestRateLimit: a burst beyond a key's limit gets 429 with Retry-After;
// another key is not affected; /status shows the caller its limit.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{settings: `{"rate_limits": {"read": {"rate": 0.5, "burst": 3}, "build": {"rate": 0}, "admin": {"rate": 0}, "anonymous": {"rate": 0}}}`})
	a := f.newKey("a", "read").Key
	b := f.newKey("b", "read").Key
	var codes []int
	var retry string
	for range 6 {
		resp, _ := f.do(http.MethodGet, "/graph", nil, "Authorization", bearer(a))
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			retry = resp.Header.Get("Retry-After")
		}
	}
	assert.Equal(t, []int{200, 200, 200, 429, 429, 429}, codes)
	n, err := strconv.Atoi(retry)
	require.NoError(t, err, "Retry-After %q", retry)
	assert.GreaterOrEqual(t, n, 1)

	var st struct {
		Caller auth.Me `json:"caller"`
	}
	resp, body := f.do(http.MethodGet, "/status", nil, "Authorization", bearer(b))
	require.Equal(t, http.StatusOK, resp.StatusCode, "another key is not limited: %s", body)
	require.NoError(t, json.Unmarshal(body, &st))
	assert.Equal(t, "read", st.Caller.RateLimit.Role)
	assert.Equal(t, 0.5, st.Caller.RateLimit.Rate)
	assert.Equal(t, 3, st.Caller.RateLimit.Burst)
	assert.Equal(t, 2, st.Caller.RateLimit.Remaining)
	limited := f.audit("outcome=denied")
	require.Len(t, limited, 3)
	assert.Equal(t, "rate_limited", limited[0].Details["reason"])
}

// TestFairScheduling: user A queues 20 builds of distinct packages, then
// user B one; with one slot, B's package runs after at most one of A's.
func TestFairScheduling(t *testing.T) {
	t.Parallel()
	pkgs := []buildnet.Package{
		{Name: "gate", Path: "pkgs/gate", BuildCmd: `while [ ! -e ../../.release ]; do sleep 0.02; done; mkdir -p dist; echo ok > dist/out`},
		{Name: "b", Path: "pkgs/b", BuildCmd: `mkdir -p dist; echo ok > dist/out`},
	}
	for i := range 20 {
		name := fmt.Sprintf("a%02d", i)
		pkgs = append(pkgs, buildnet.Package{Name: name, Path: "pkgs/" + name, BuildCmd: `mkdir -p dist; echo ok > dist/out`})
	}
	f := newFixture(t, fixtureOpts{packages: pkgs, concurrency: 1})
	for _, p := range pkgs {
		writeFile(t, filepath.Join(f.root, p.Path, "src", "main.txt"), p.Name)
	}
	f.postJSON("/users", `{"name":"usera","role":"build","password":"password-a"}`, http.StatusCreated, nil)
	f.postJSON("/users", `{"name":"userb","role":"build","password":"password-b"}`, http.StatusCreated, nil)
	token := func(user, pw string) string {
		var l auth.LoginResponse
		f.postJSON("/auth/login", `{"user":"`+user+`","password":"`+pw+`"}`, http.StatusOK, &l)
		return l.Token
	}
	ta, tb := token("usera", "password-a"), token("userb", "password-b")
	events := openSSE(t, f.url+"/events?types=package:running")

	// The gate holds the only slot while the queue fills.
	f.postJSON("/build/gate", "", http.StatusAccepted, nil)
	require.Equal(t, "gate", events.next().ev.Package)
	for i := range 20 {
		code, body := f.call(ta, http.MethodPost, fmt.Sprintf("/build/a%02d", i), "")
		require.Equal(t, http.StatusAccepted, code, "%s", body)
	}
	waitFor(t, "A's 20 packages queued", func() bool {
		var st struct{ Queue []buildnet.QueuedPackage }
		f.getJSON("/status", http.StatusOK, &st)
		return len(st.Queue) == 20
	})
	code, body := f.call(tb, http.MethodPost, "/build/b", "")
	require.Equal(t, http.StatusAccepted, code, "%s", body)
	var st struct{ Queue []buildnet.QueuedPackage }
	waitFor(t, "B's package queued", func() bool {
		f.getJSON("/status", http.StatusOK, &st)
		return len(st.Queue) == 21
	})
	assert.Contains(t, []string{st.Queue[0].Requester, st.Queue[1].Requester}, "userb", "the queue in /status takes turns")
	f.release()

	var order []string
	for len(order) < 21 {
		ev := events.next().ev
		order = append(order, ev.Requester+":"+ev.Package)
	}
	bAt := slices.Index(order, "userb:b")
	require.GreaterOrEqual(t, bAt, 0, "%v", order)
	assert.LessOrEqual(t, bAt, 1, "B's build started after at most one of A's: %v", order)
	for _, o := range order {
		assert.True(t, strings.HasPrefix(o, "usera:") || o == "userb:b", o)
	}
}

// TestSessionHandoff: a CLI-like session's build and a WebSocket's
// subscription are handed to the user's panel session; handing to another
// user's session is refused.
func TestSessionHandoff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	k := f.newKey("dev", "build")
	other := f.newKey("other", "build")

	// The "CLI" session: plain HTTP, with its session id sent back.
	resp, body := f.do(http.MethodPost, "/build/gate", nil, "Authorization", bearer(k.Key))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
	cli := resp.Header.Get(auth.SessionHeader)
	require.NotEmpty(t, cli)
	var started struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &started))
	// The CLI also follows build completions over a WebSocket.
	_, cliWS := f.dialAs(t, k.Key)
	cliHello := cliWS.recv()
	cliWS.send(`{"op":"subscribe","types":["build:complete"]}`)
	require.Equal(t, "ack", cliWS.reply().Op)

	// The "panel" session: a WebSocket subscribed to nothing yet.
	_, panel := f.dialAs(t, k.Key)
	panelHello := panel.recv()
	require.NotEqual(t, cli, panelHello.Session)

	var sess struct {
		ID     string
		Builds []string
	}
	resp, body = f.do(http.MethodGet, "/sessions/"+cli, nil, "Authorization", bearer(k.Key), auth.SessionHeader, cli)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.NoError(t, json.Unmarshal(body, &sess))
	assert.Equal(t, []string{started.ID}, sess.Builds, "the build belongs to the session that asked")

	// Another user's session cannot take it.
	_, foreign := f.dialAs(t, other.Key)
	foreignHello := foreign.recv()
	resp, body = f.do(http.MethodPost, "/sessions/"+cli+"/handoff", strings.NewReader(`{"to":"`+foreignHello.Session+`"}`),
		"Authorization", bearer(k.Key), auth.SessionHeader, cli)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "%s", body)

	// Hand the CLI WebSocket's session to the panel: its subscription
	// moves, the CLI's stream ends.
	resp, body = f.do(http.MethodPost, "/sessions/"+cliHello.Session+"/handoff", strings.NewReader(`{"to":"`+panelHello.Session+`"}`),
		"Authorization", bearer(k.Key))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	// Hand the CLI's HTTP session, with its build, to the panel too.
	resp, body = f.do(http.MethodPost, "/sessions/"+cli+"/handoff", strings.NewReader(`{"to":"`+panelHello.Session+`"}`),
		"Authorization", bearer(k.Key), auth.SessionHeader, cli)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var moved struct{ Builds []string }
	require.NoError(t, json.Unmarshal(body, &moved))
	assert.Equal(t, []string{started.ID}, moved.Builds)

	resp, body = f.do(http.MethodGet, "/sessions/"+panelHello.Session, nil, "Authorization", bearer(k.Key))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.NoError(t, json.Unmarshal(body, &sess))
	assert.Equal(t, []string{started.ID}, sess.Builds, "the panel's session owns the build now")
	resp, _ = f.do(http.MethodGet, "/sessions/"+cli, nil, "Authorization", bearer(k.Key))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the handed-off session is closed")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, _, err := cliWS.c.Read(ctx)
	assert.Equal(t, websocket.StatusNormalClosure, websocket.CloseStatus(err), "the CLI's WebSocket ends: %v", err)

	f.release()
	for {
		m := panel.recv()
		if m.Op == "event" && m.Event.Type == buildnet.EventBuildComplete {
			assert.Equal(t, started.ID, m.Event.BuildID, "the panel got the CLI's subscription")
			break
		}
	}
	handoffs := f.audit("action=session.handoff")
	assert.Len(t, handoffs, 3, "two handoffs and one refusal")
}

// TestSessionIdleTimeout: an idle session is closed and audited; a
// session with a build in progress is not idle; the same key then gets a
// new session.
func TestSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{settings: `{"session_idle": "1s", "max_sessions_per_actor": 2}`})
	k := f.newKey("dev", "build")
	// Connection: close gives each request its own connection, and so
	// its own session.
	resp, _ := f.do(http.MethodGet, "/status", nil, "Authorization", bearer(k.Key), "Connection", "close")
	idle := resp.Header.Get(auth.SessionHeader)
	resp, body := f.do(http.MethodPost, "/build/gate", nil, "Authorization", bearer(k.Key), "Connection", "close")
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
	busy := resp.Header.Get(auth.SessionHeader)
	require.NotEqual(t, idle, busy)

	listed := func() []string {
		var out struct{ Sessions []struct{ ID string } }
		resp, body := f.do(http.MethodGet, "/sessions?all=true", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
		require.NoError(t, json.Unmarshal(body, &out))
		var ids []string
		for _, s := range out.Sessions {
			ids = append(ids, s.ID)
		}
		return ids
	}
	waitFor(t, "the idle session closed", func() bool { return !slices.Contains(listed(), idle) })
	assert.Contains(t, listed(), busy, "a session with a build in progress is not idle")
	waitFor(t, "the expiry audited", func() bool {
		for _, e := range f.audit("action=session.expire") {
			if e.Target == idle {
				return true
			}
		}
		return false
	})

	// Its id no longer works: the client gets a new session.
	resp, _ = f.do(http.MethodGet, "/status", nil, "Authorization", bearer(k.Key), auth.SessionHeader, idle)
	assert.NotEqual(t, idle, resp.Header.Get(auth.SessionHeader))

	// At the limit of two, with one busy and one idle session, a third
	// evicts the idle one.
	resp, _ = f.do(http.MethodGet, "/status", nil, "Authorization", bearer(k.Key))
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	f.release()
	waitFor(t, "the busy session closed once its build ended", func() bool { return !slices.Contains(listed(), busy) })
}

// TestAuditAPI: filters, search, NDJSON export and the caller's own view.
func TestAuditAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	b := f.newKey("ci", "build")
	code, _ := f.call(b.Key, http.MethodPost, "/build/core?wait=true", "")
	require.Equal(t, http.StatusOK, code)
	code, _ = f.call(b.Key, http.MethodPost, "/cache/clear", "")
	require.Equal(t, http.StatusForbidden, code)
	f.postJSON("/cache/clear", "", http.StatusOK, nil)

	actor := "key:" + b.ID
	mine := f.audit("actor=" + actor)
	require.Len(t, mine, 2)
	assert.Equal(t, "cache.clear", mine[0].Action)
	assert.Equal(t, state.OutcomeDenied, mine[0].Outcome)
	assert.Equal(t, "build.trigger", mine[1].Action)
	assert.Equal(t, state.OutcomeAllowed, mine[1].Outcome)
	assert.Equal(t, "build", mine[1].Role)
	assert.NotEmpty(t, mine[1].Target, "the build id")
	assert.Len(t, f.audit("action=cache.clear"), 2)
	assert.Len(t, f.audit("action=cache.clear&outcome=allowed"), 1)
	assert.Len(t, f.audit("q=ci"), 3, "search matches the key's name in details, and the key creation")
	future := url(time.Now().Add(time.Hour))
	assert.Empty(t, f.audit("since="+future))
	assert.NotEmpty(t, f.audit("until="+future))

	// A non-admin sees only its own entries.
	code, body := f.call(b.Key, http.MethodGet, "/audit", "")
	require.Equal(t, http.StatusOK, code)
	var own struct{ Entries []state.AuditEntry }
	require.NoError(t, json.Unmarshal(body, &own))
	for _, e := range own.Entries {
		assert.Equal(t, actor, e.Actor)
	}
	code, _ = f.call(b.Key, http.MethodGet, "/audit?actor="+f.actor(), "")
	assert.Equal(t, http.StatusForbidden, code)

	// The export: NDJSON, every line valid JSON, oldest first.
	resp, body := f.do(http.MethodGet, "/audit/export", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	require.NotEmpty(t, lines)
	var prev int64
	for _, l := range lines {
		var e map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &e), "line %q", l)
		assert.Contains(t, e, "@timestamp")
		seq := int64(e["seq"].(float64))
		assert.Greater(t, seq, prev)
		prev = seq
	}
}

func url(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// TestCORSOffUnlessConfigured: no CORS headers by default; a configured
// origin gets them and its preflight.
func TestCORSOffUnlessConfigured(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	resp, _ := f.do(http.MethodGet, "/status", nil, "Origin", "http://app.example")
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
	resp, _ = f.do(http.MethodPost, "/build/core", nil, "Origin", "http://app.example", "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "cross-origin unsafe request refused")

	g := newFixture(t, fixtureOpts{settings: `{"cors_origins": ["http://app.example"], "rate_limits": {"admin": {"rate": 0}}}`})
	resp, _ = g.do(http.MethodOptions, "/build/core", nil, "Origin", "http://app.example", "Access-Control-Request-Method", "POST")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
	assert.Equal(t, "http://app.example", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")
	resp, body := g.do(http.MethodPost, "/build/core", nil, "Origin", "http://app.example", "Sec-Fetch-Site", "cross-site")
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
	resp, _ = g.do(http.MethodGet, "/status", nil, "Origin", "http://evil.example")
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

// TestPanelCookieLoginNeedsCSRF: a cookie login authenticates the panel;
// an unsafe request by cookie needs the CSRF token.
func TestPanelCookieLoginNeedsCSRF(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	k := f.newKey("panel", "build")
	resp, body := f.do(http.MethodPost, "/auth/login", strings.NewReader(`{"key":"`+k.Key+`","cookie":true}`), "Authorization", noAuth)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var login auth.LoginResponse
	require.NoError(t, json.Unmarshal(body, &login))
	assert.Empty(t, login.Token, "the token stays in the HttpOnly cookie")
	assert.NotEmpty(t, login.CSRFToken)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == auth.TokenCookie {
			cookie = c
		}
	}
	require.NotNil(t, cookie)
	assert.True(t, cookie.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, cookie.SameSite)
	jar := "bn_token=" + cookie.Value
	resp, _ = f.do(http.MethodGet, "/status", nil, "Authorization", noAuth, "Cookie", jar)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the cookie authenticates")
	resp, body = f.do(http.MethodPost, "/build/core", nil, "Authorization", noAuth, "Cookie", jar)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "no CSRF token: %s", body)
	assert.Contains(t, string(body), `"csrf"`)
	resp, _ = f.do(http.MethodPost, "/build/core", nil, "Authorization", noAuth, "Cookie", jar, auth.CSRFHeader, "wrong")
	assert.Equal(t, http.StatusForbidden, resp.StatusCode, "a wrong CSRF token")
	resp, body = f.do(http.MethodPost, "/build/core", nil, "Authorization", noAuth, "Cookie", jar, auth.CSRFHeader, login.CSRFToken)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", body)
	assert.Equal(t, login.Session, resp.Header.Get(auth.SessionHeader), "the panel's requests share its login session")

	resp, _ = f.do(http.MethodPost, "/auth/logout", nil, "Authorization", noAuth, "Cookie", jar, auth.CSRFHeader, login.CSRFToken)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = f.do(http.MethodGet, "/status", nil, "Authorization", noAuth, "Cookie", jar)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the token of a closed session is refused")
}

// TestAdminKeyFile: the server writes an admin key file readable by its
// owner only.
func TestAdminKeyFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	fi, err := os.Stat(filepath.Join(f.root, ".buildnet", auth.AdminKeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.True(t, auth.IsKey(f.key))
	assert.Contains(t, f.logs.String(), "admin.key")
}

// TestWaitedBuildAuditedWhileItRuns checks that a build request that
// waits for its build is in the audit log while the build still runs,
// and once only.
func TestWaitedBuildAuditedWhileItRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	done := make(chan *buildnet.BuildResult, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, f.url+"/build/gate?wait=true", nil)
		resp, err := testClient.Do(req)
		if err != nil {
			done <- nil
			return
		}
		defer resp.Body.Close()
		var res buildnet.BuildResult
		_ = json.NewDecoder(resp.Body).Decode(&res)
		done <- &res
	}()
	var entry state.AuditEntry
	waitFor(t, "the trigger in the audit log", func() bool {
		got := f.audit("action=build.trigger")
		if len(got) == 1 {
			entry = got[0]
		}
		return len(got) == 1
	})
	select {
	case <-done:
		t.Fatal("the build answered before its gate was released")
	default:
	}
	assert.Equal(t, state.OutcomeAllowed, entry.Outcome)
	assert.EqualValues(t, http.StatusOK, entry.Details["status"])
	f.release()
	res := <-done
	require.NotNil(t, res)
	assert.Equal(t, buildnet.StatusSuccess, res.Status)
	assert.Equal(t, res.ID, entry.Target)
	assert.Len(t, f.audit("action=build.trigger"), 1, "recorded once")
}
