package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/cli"
	"github.com/musclemap/buildnet/state"
)

// runIn runs the CLI with stdin.
func runIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), args, cli.Env{
		Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string {
			if k == "USER" {
				return "tester"
			}
			return ""
		},
	})
	return code, stdout.String(), stderr.String()
}

// keyStatus sends GET /status to the daemon with key.
func keyStatus(t *testing.T, d *daemon, key string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+d.addr+"/status", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func TestKeyCommandsWithARunningDaemon(t *testing.T) {
	t.Parallel()
	root := newWorkspace(t)
	d := startDaemon(t, root)

	code, out, errOut := runIn(t, "", "key", "create", "--root", root, "--name", "ci", "--role", "build", "--json")
	require.Equal(t, 0, code, "%s%s", out, errOut)
	var k struct{ ID, Name, Role, Key string }
	require.NoError(t, json.Unmarshal([]byte(out), &k))
	assert.Equal(t, "ci", k.Name)
	assert.Equal(t, "build", k.Role)
	assert.True(t, strings.HasPrefix(k.Key, "bnk_"), k.Key)
	assert.Equal(t, http.StatusOK, keyStatus(t, d, k.Key), "the daemon knows a key the CLI made")

	code, out, _ = runIn(t, "", "key", "list", "--root", root, "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, k.ID)
	assert.NotContains(t, out, k.Key, "a listing never shows a key")
	code, out, _ = runIn(t, "", "key", "list", "--root", root)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "local-admin", "the daemon's admin key")

	code, out, _ = runIn(t, "", "key", "revoke", k.ID, "--root", root, "--addr", d.addr, "--json")
	require.Equal(t, 0, code, out)
	assert.Equal(t, http.StatusUnauthorized, keyStatus(t, d, k.Key), "revoked through the daemon: refused at once")

	// Revoked in the database alone (no daemon at --addr), a key the
	// daemon just saw is refused within a moment.
	code, out, _ = runIn(t, "", "key", "create", "--root", root, "--name", "ci2", "--role", "build", "--json")
	require.Equal(t, 0, code, out)
	require.NoError(t, json.Unmarshal([]byte(out), &k))
	require.Equal(t, http.StatusOK, keyStatus(t, d, k.Key))
	code, out, _ = runIn(t, "", "key", "revoke", k.ID, "--root", root, "--addr", "127.0.0.1:1", "--json")
	require.Equal(t, 0, code, out)
	deadline := time.Now().Add(10 * time.Second)
	for keyStatus(t, d, k.Key) != http.StatusUnauthorized {
		require.True(t, time.Now().Before(deadline), "a key revoked in the database is still accepted")
		time.Sleep(100 * time.Millisecond)
	}

	code, out, _ = runIn(t, "", "key", "create", "--root", root, "--name", "x", "--role", "root", "--json")
	assert.Equal(t, 2, code)
	assert.Contains(t, out, "bad_request")
	code, _, _ = runIn(t, "", "key", "revoke", "k_missing", "--root", root)
	assert.Equal(t, 1, code)
}

func TestUserCommandsWithoutADaemon(t *testing.T) {
	t.Parallel()
	root := newWorkspace(t)
	code, out, errOut := runIn(t, "s3cret-password\n", "user", "add", "bob", "--role", "read", "--password-stdin", "--root", root, "--json")
	require.Equal(t, 0, code, "%s%s", out, errOut)
	code, _, _ = runIn(t, "short\n", "user", "add", "eve", "--role", "read", "--password-stdin", "--root", root)
	assert.Equal(t, 2, code, "a short password")
	code, _, errOut = runIn(t, "", "user", "add", "eve", "--role", "read", "--root", root)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "--password-stdin", "no terminal to ask on")

	code, out, _ = runIn(t, "", "user", "list", "--root", root, "--json")
	require.Equal(t, 0, code)
	var users struct{ Users []state.User }
	require.NoError(t, json.Unmarshal([]byte(out), &users))
	require.Len(t, users.Users, 1)
	assert.Equal(t, "bob", users.Users[0].Name)
	assert.NotContains(t, out, "$2a$", "no password hash in the output")

	// The daemon started afterwards lets bob log in with that password.
	d := startDaemon(t, root)
	login := func(pw string) int {
		resp, err := http.Post("http://"+d.addr+"/auth/login", "application/json", strings.NewReader(`{"user":"bob","password":"`+pw+`"}`))
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, login("s3cret-password"))
	code, _, _ = runIn(t, "n3w-password!\n", "user", "passwd", "bob", "--password-stdin", "--root", root)
	require.Equal(t, 0, code)
	assert.Equal(t, http.StatusUnauthorized, login("s3cret-password"))
	assert.Equal(t, http.StatusOK, login("n3w-password!"))
	code, _, _ = runIn(t, "", "user", "remove", "bob", "--root", root)
	require.Equal(t, 0, code)
	assert.Equal(t, http.StatusUnauthorized, login("n3w-password!"))
}

func TestAuditExportAndPrune(t *testing.T) {
	t.Parallel()
	root := newWorkspace(t)
	db, err := state.Open(context.Background(), filepath.Join(root, ".buildnet", "state.db"), state.Options{})
	require.NoError(t, err)
	old := time.Now().Add(-100 * 24 * time.Hour)
	require.NoError(t, db.AppendAudit(context.Background(), []state.AuditEntry{
		{Time: old, Actor: "alice", Action: "build.trigger", Outcome: state.OutcomeAllowed, Target: "b-old"},
		{Actor: "bob", Action: "cache.clear", Outcome: state.OutcomeDenied, Details: map[string]any{"need_role": "admin"}},
	}))
	require.NoError(t, db.Close())

	code, out, errOut := runIn(t, "", "audit", "export", "--root", root)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	for _, l := range lines {
		var e map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &e), l)
		assert.Contains(t, e, "@timestamp")
	}
	code, out, _ = runIn(t, "", "audit", "export", "--outcome", "denied", "--root", root)
	require.Equal(t, 0, code)
	assert.Equal(t, 1, strings.Count(out, "\n"))
	assert.Contains(t, out, `"actor":"bob"`)

	// The default retention (90 days) prunes the 100-day-old entry.
	code, out, _ = runIn(t, "", "audit", "prune", "--root", root, "--json")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, `"deleted": 1`)
	code, out, _ = runIn(t, "", "audit", "export", "--root", root)
	require.Equal(t, 0, code)
	assert.NotContains(t, out, "b-old")
	assert.Contains(t, out, `"action":"audit.prune"`, "the pruning is itself audited")
}
