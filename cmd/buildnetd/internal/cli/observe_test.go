//go:build unix

package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/alert"
)

// withAlerts adds an alert rule for failed builds and a signed webhook
// channel posting to url to the workspace at root.
func withAlerts(t *testing.T, root, url string) {
	t.Helper()
	p := filepath.Join(root, ".buildnet", "config.json")
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(data, &cfg))
	cfg["alerts"] = map[string]any{
		"rules":    []any{map[string]any{"name": "broken", "type": "build_failed"}},
		"channels": map[string]any{"hook": map[string]any{"type": "webhook", "url": url, "secret_env": "BN_TEST_HOOK_SECRET"}},
	}
	data, err = json.Marshal(cfg)
	require.NoError(t, err)
	write(t, p, string(data))
}

// TestStartRunsAlertsAndTracing starts buildnetd with alert rules and an
// OTLP endpoint: a failed build reaches the webhook, signed, and shows in
// GET /alerts; its spans reach the collector by the time the daemon has
// stopped.
func TestStartRunsAlertsAndTracing(t *testing.T) {
	const secret = "the-hook-secret-42"
	var (
		mu      sync.Mutex
		hooks   [][]byte
		sigs    []string
		traces  int
		spanned bool
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hooks, sigs = append(hooks, b), append(sigs, r.Header.Get(alert.HeaderSignature))
		mu.Unlock()
	}))
	defer hook.Close()
	otlp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		if r.URL.Path == "/v1/traces" {
			traces++
			spanned = spanned || strings.Contains(string(b), "package fail")
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer otlp.Close()
	// The child process inherits the environment.
	t.Setenv("BN_TEST_HOOK_SECRET", secret)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.URL)

	root := newWorkspace(t)
	withAlerts(t, root, hook.URL+"/hook")
	p, addr, logs := startProcess(t, root)
	resp, err := adminDo(t, root, http.MethodPost, "http://"+addr+"/build/fail?wait=true")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	deadline := time.Now().Add(waitTimeout)
	for {
		mu.Lock()
		n := len(hooks)
		mu.Unlock()
		if n > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "no alert reached the webhook")
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	require.Len(t, hooks, 1)
	assert.True(t, alert.VerifySignature([]byte(secret), hooks[0], sigs[0]))
	var payload alert.Payload
	require.NoError(t, json.Unmarshal(hooks[0], &payload))
	mu.Unlock()
	assert.Equal(t, "broken", payload.Rule)
	assert.Equal(t, "Build failed: fail", payload.Title)

	resp, err = adminDo(t, root, http.MethodGet, "http://"+addr+"/alerts")
	require.NoError(t, err)
	var got struct{ Alerts []alert.Record }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	resp.Body.Close()
	require.Len(t, got.Alerts, 1)
	assert.Equal(t, payload.ID, got.Alerts[0].ID)

	require.NoError(t, p.Signal(syscall.SIGTERM))
	st, err := p.Wait()
	require.NoError(t, err)
	assert.Equal(t, 0, st.ExitCode())
	msgs := logs.msgs()
	mu.Lock()
	defer mu.Unlock()
	assert.Positive(t, traces, "the spans were exported at shutdown")
	assert.True(t, spanned, "the failed package has a span")
	assert.False(t, slices.Contains(msgs, "flush traces"), "the flush worked: %v", msgs)
}

func TestStartRefusesAlertsWithAMissingSecret(t *testing.T) {
	t.Parallel()
	root := newWorkspace(t)
	withAlerts(t, root, "http://127.0.0.1:1/hook")
	code, _, stderr := run(t, map[string]string{}, "start", "--root", root, "--port", "0")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, stderr, "alerts.channels.hook: webhook channel: secret_env: $BN_TEST_HOOK_SECRET is empty or unset")
}
