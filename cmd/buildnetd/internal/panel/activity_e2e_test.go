package panel_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/alert"
	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/server"
)

// activityDaemon is an in-process buildnetd whose workspace has a package
// that fails, an alert rule for failed builds and a webhook channel whose
// receiver is down.
type activityDaemon struct {
	base string
	key  string
}

func startActivityDaemon(t *testing.T) *activityDaemon {
	t.Helper()
	root := writeWorkspace(t, t.TempDir())
	cfgPath := filepath.Join(root, ".buildnet", "config.json")
	data, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, json.Unmarshal(data, &cfg))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "packages", "broken"), 0o755))
	cfg["packages"] = append(cfg["packages"].([]any), map[string]any{
		"name": "broken", "path": "packages/broken", "build_cmd": "echo 'this package never builds' >&2; exit 4",
	})
	// Nothing listens on the receiver's port: every delivery fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	downURL := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	cfg["alerts"] = map[string]any{
		"rules":    []any{map[string]any{"name": "broken-build", "type": "build_failed"}},
		"channels": map[string]any{"ops": map[string]any{"type": "webhook", "url": downURL, "retries": 1, "backoff": "10ms"}},
	}
	data, err = json.Marshal(cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfgPath, data, 0o644))

	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: root})
	require.NoError(t, err)
	ac, err := alert.ParseConfig(e.Workspace().Alerts)
	require.NoError(t, err)
	a, err := alert.New(*ac, alert.Options{Engine: e})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(ctx) })
	s := server.New(e, server.Options{Version: "test", Alerts: a, ShutdownGrace: 50 * time.Millisecond})
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	wg.Go(func() { _ = s.Serve(ctx, ln) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		a.Close()
		e.Close()
	})
	key, err := os.ReadFile(filepath.Join(root, ".buildnet", "admin.key"))
	require.NoError(t, err, "the server makes an admin key")
	return &activityDaemon{base: "http://" + ln.Addr().String(), key: strings.TrimSpace(string(key))}
}

// build asks the daemon for a build and waits for it.
func (d *activityDaemon) build(t *testing.T, path string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, d.base+path+"?wait=true", strings.NewReader(`{"force": true}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+d.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
}

// TestActivityInBrowser drives the Activity tab in headless Chromium:
// the rate charts show the builds of the last hour, the duration trend
// shows a package's history, and the alert history shows the failed
// build's alert with its failed deliveries, updating live.
func TestActivityInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing: install Debian's chromium package (apt-get install -y chromium)", chromiumPath)
		}
		t.Skipf("%s is missing (apt-get install -y chromium); skipping the browser test", chromiumPath)
	}
	artifacts := artifactDir(t)
	d := startActivityDaemon(t)
	d.build(t, "/build/shared")
	d.build(t, "/build/shared")
	d.build(t, "/build") // broken fails: an alert

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := newBrowser(ctx, t, artifacts, d.base)
	tab := b.newTab("activity", "")
	tab.do("open the Activity tab", chromedp.Navigate(d.base+"/#activity"))
	tab.poll("the login form or the panel", `document.body.dataset.ready === 'true' || document.getElementById('login')?.hidden === false`, 10*time.Second)
	if !evalJS[bool](tab, `document.body.dataset.ready === 'true'`) {
		tab.do("log in with the API key", chromedp.SetValue(chromedp.CSS("#login-key"), d.key), chromedp.Click(chromedp.CSS("#login-submit")))
	}
	tab.poll("the panel starts", `document.body.dataset.ready === 'true'`, 10*time.Second)
	tab.poll("the Activity tab shows", `!document.getElementById('panel-activity').hidden`, 5*time.Second)

	// Rates of the last hour: three builds, one failed.
	tab.poll("the builds counted", `document.querySelector('#stat-builds-hour .stat-value')?.textContent === '3'`, 10*time.Second)
	assert.Equal(t, "33.3%", evalJS[string](tab, `document.querySelector('#stat-error-rate .stat-value').textContent`))
	assert.Equal(t, 60, evalJS[int](tab, `document.querySelectorAll('#chart-builds rect.bar').length`), "one bar a minute")
	assert.True(t, evalJS[bool](tab, `[...document.querySelectorAll('#chart-builds rect.bar')].some((r) => r.getAttribute('fill') === '#f85149')`),
		"the minute with the failed build is red")
	assert.Equal(t, 1, evalJS[int](tab, `document.querySelectorAll('#chart-errors path[stroke]:not([stroke="none"])').length`), "the error-rate line")
	assert.Equal(t, 1, evalJS[int](tab, `document.querySelectorAll('#chart-hits path[stroke]:not([stroke="none"])').length`), "the hit-ratio line")

	// The duration trend of shared: three full builds.
	tab.do("pick shared", chromedp.SetValue(chromedp.CSS("#duration-pkg"), "shared"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('duration-pkg').dispatchEvent(new Event('change'))`))
	tab.poll("shared's durations", `window.buildnet.views.activity.data().trend.pkg === 'shared' && window.buildnet.views.activity.data().trend.points.length === 3`, 10*time.Second)
	assert.Contains(t, evalJS[string](tab, `document.getElementById('duration-info').textContent`), "3 builds of shared")
	assert.Equal(t, 1, evalJS[int](tab, `document.querySelectorAll('#chart-duration path[stroke]:not([stroke="none"])').length`), "one tier: full_build")

	// The alert history: the failed build's alert, and the receiver down:
	// both attempts failed, with the error shown.
	tab.poll("the alert's deliveries failed", `!!document.querySelector('#alerts-table tr[data-rule="broken-build"] .delivery[data-status="failed"]')`, 15*time.Second)
	row := evalJS[string](tab, `document.querySelector('#alerts-table tr[data-rule="broken-build"]').textContent`)
	assert.Contains(t, row, "Build failed: broken")
	assert.Contains(t, row, "2 attempts")
	assert.Contains(t, row, "connection refused")
	assert.Contains(t, evalJS[string](tab, `document.getElementById('alert-channels').textContent`), "ops (webhook): 0 delivered, 1 failed")

	// Live: another failure shows without reloading the page.
	d.build(t, "/build/broken")
	tab.poll("the second alert, live", `document.querySelectorAll('#alerts-table tr[data-rule="broken-build"]').length === 2`, 15*time.Second)
	tab.poll("the fourth build, live", `document.querySelector('#stat-builds-hour .stat-value')?.textContent === '4'`, 10*time.Second)
	tab.screenshot("activity.png")
	b.checkNoErrors()
}
