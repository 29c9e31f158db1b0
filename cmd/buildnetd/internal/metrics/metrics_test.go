package metrics_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/alert"
	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/metrics"
)

type labels = map[string]string

func TestCountersFollowBuilds(t *testing.T) {
	t.Parallel()
	w := newWorkspace(t)
	e := w.Open()
	m := metrics.New(metrics.Options{Engine: e, Version: "1.2.3"})
	run(t, m)

	f := scrape(t, m.Handler())
	assert.Zero(t, value(f, "buildnet_builds_total", nil))
	assert.Equal(t, 1.0, value(f, "buildnet_build_info", labels{"version": "1.2.3"}))
	assert.Equal(t, float64(buildnet.DefaultMaxCacheSize), value(f, "buildnet_cache_max_bytes", nil))
	require.Contains(t, f, "buildnet_cache_hits_total")
	assert.Equal(t, dto.MetricType_COUNTER, f["buildnet_cache_hits_total"].GetType())
	assert.Equal(t, dto.MetricType_GAUGE, f["buildnet_cache_bytes"].GetType())

	// A first build runs every command and fills the cache.
	res := build(t, e, m, buildnet.Request{Requester: "alice"})
	require.Equal(t, buildnet.StatusSuccess, res.Status)
	f = scrape(t, m.Handler())
	assert.Equal(t, 1.0, value(f, "buildnet_builds_total", labels{"status": "success", "requester": "alice"}))
	assert.Equal(t, 4.0, value(f, "buildnet_package_builds_total", labels{"tier": "full_build", "status": "success"}))
	assert.Equal(t, 4.0, value(f, "buildnet_package_duration_seconds", labels{"tier": "full_build"}))
	assert.Equal(t, 1.0, value(f, "buildnet_build_duration_seconds", labels{"status": "success"}))
	assert.Equal(t, 4.0, value(f, "buildnet_cache_entries", nil))
	assert.Positive(t, value(f, "buildnet_cache_bytes", nil))
	assert.Zero(t, value(f, "buildnet_cache_hits_total", nil))
	assert.Equal(t, 1.0, value(f, "buildnet_events_total", labels{"type": "build:start"}))
	assert.Equal(t, 4.0, value(f, "buildnet_events_total", labels{"type": "package:complete"}))
	assert.Zero(t, value(f, "buildnet_active_builds", nil))
	assert.Zero(t, value(f, "buildnet_queue_depth", nil))
	misses := value(f, "buildnet_cache_misses_total", nil)

	// Nothing changed: every package skips at once.
	build(t, e, m, buildnet.Request{Requester: "bob"})
	f = scrape(t, m.Handler())
	assert.Equal(t, 1.0, value(f, "buildnet_builds_total", labels{"status": "success", "requester": "bob"}))
	assert.Equal(t, 4.0, value(f, "buildnet_package_builds_total", labels{"tier": "instant_skip"}))

	// Lost outputs come back from the cache: a hit.
	w.Remove("pkgs/docs/dist")
	build(t, e, m, buildnet.Request{Requester: "bob"})
	f = scrape(t, m.Handler())
	assert.Equal(t, 1.0, value(f, "buildnet_package_builds_total", labels{"tier": "cache_restore", "status": "success"}))
	assert.Equal(t, 1.0, value(f, "buildnet_cache_hits_total", nil))
	assert.Equal(t, misses, value(f, "buildnet_cache_misses_total", nil))

	// A failure: base fails, api and web are skipped.
	w.Write(".fail/base", "")
	w.Write("pkgs/base/src/main.txt", "changed\n")
	res = build(t, e, m, buildnet.Request{Requester: "bob"})
	require.Equal(t, buildnet.StatusFailed, res.Status)
	f = scrape(t, m.Handler())
	assert.Equal(t, 1.0, value(f, "buildnet_builds_total", labels{"status": "failed", "requester": "bob"}))
	assert.Equal(t, 1.0, value(f, "buildnet_package_builds_total", labels{"status": "failed"}))
	assert.Equal(t, 2.0, value(f, "buildnet_package_builds_total", labels{"tier": "none", "status": "skipped"}))
	assert.Equal(t, misses+1, value(f, "buildnet_cache_misses_total", nil), "base's new digest missed")
	assert.Equal(t, 4.0, value(f, "buildnet_builds_total", nil))
	assert.Equal(t, 4.0, value(f, "buildnet_build_duration_seconds", nil))
}

func TestHTTPMetrics(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /builds/{id}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.PathValue("id")) })
	mux.HandleFunc("POST /build", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "slow down", http.StatusTooManyRequests) })
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": ping\n\n")
	})
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()
	do := func(method, path string) int {
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, id := range []string{"1", "2", "3"} {
		require.Equal(t, 200, do("GET", "/builds/"+id))
	}
	require.Equal(t, 429, do("POST", "/build"))
	require.Equal(t, 429, do("POST", "/build"))
	require.Equal(t, 404, do("GET", "/no/such/path"))
	require.Equal(t, 200, do("GET", "/events"))

	f := scrape(t, m.Handler())
	assert.Equal(t, 3.0, value(f, "buildnet_http_requests_total", labels{"route": "GET /builds/{id}", "code": "200"}), "one series per route, not per path")
	assert.Equal(t, 2.0, value(f, "buildnet_http_requests_total", labels{"route": "POST /build", "code": "429"}))
	assert.Equal(t, 1.0, value(f, "buildnet_http_requests_total", labels{"route": "unmatched", "code": "404"}))
	assert.Equal(t, 1.0, value(f, "buildnet_http_requests_total", labels{"route": "GET /events", "code": "200"}))
	assert.Equal(t, 2.0, value(f, "buildnet_http_rate_limited_total", nil))
	assert.Equal(t, 3.0, value(f, "buildnet_http_request_duration_seconds", labels{"route": "GET /builds/{id}"}))
	assert.Zero(t, value(f, "buildnet_http_request_duration_seconds", labels{"route": "GET /events"}), "streams have no latency")
	for _, m := range f["buildnet_http_requests_total"].Metric {
		for _, l := range m.Label {
			assert.NotContains(t, l.GetValue(), "/builds/1", "raw paths never become labels")
		}
	}
}

func TestRuntimeAndProcessMetrics(t *testing.T) {
	t.Parallel()
	f := scrape(t, metrics.New(metrics.Options{}).Handler())
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "go_gc_duration_seconds", "go_threads", "go_info",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds"} {
		assert.Contains(t, f, name)
	}
	assert.Positive(t, value(f, "go_goroutines", nil))
	assert.Positive(t, value(f, "process_resident_memory_bytes", nil))
	assert.Equal(t, dto.MetricType_GAUGE, f["go_goroutines"].GetType())
	assert.Equal(t, dto.MetricType_COUNTER, f["process_cpu_seconds_total"].GetType())
	assert.Equal(t, dto.MetricType_SUMMARY, f["go_gc_duration_seconds"].GetType())
}

func TestNoGlobalState(t *testing.T) {
	t.Parallel()
	a, b := metrics.New(metrics.Options{}), metrics.New(metrics.Options{})
	a.Observe(buildnet.Event{Type: buildnet.EventBuildComplete, Status: buildnet.StatusSuccess})
	a.ObserveRequest("GET /health", 200, time.Millisecond, false)
	assert.Equal(t, 1.0, value(scrape(t, a.Handler()), "buildnet_builds_total", nil))
	assert.Zero(t, value(scrape(t, b.Handler()), "buildnet_builds_total", nil))
	assert.Zero(t, value(scrape(t, b.Handler()), "buildnet_http_requests_total", nil))
	// The library's global sets, the ones its own WritePrometheus writes,
	// hold nothing of ours.
	var global bytes.Buffer
	vm.WritePrometheus(&global, false)
	assert.NotContains(t, global.String(), "buildnet_")
}

func TestSourcesAtScrapeTime(t *testing.T) {
	t.Parallel()
	subs, dropped := 3, uint64(1)
	st := alert.Stats{
		Rules:    []alert.RuleStats{{Name: "broken", Type: alert.RuleBuildFailed, Fired: 5}},
		Channels: []alert.ChannelStats{{Name: "ops", Type: "webhook", Delivered: 4, Failed: 1, Dropped: 0, Attempts: 8, AttemptErrors: 4, Queued: 2}},
	}
	m := metrics.New(metrics.Options{
		Subscribers: func() int { return subs },
		Dropped:     func() uint64 { return dropped },
		Alerts:      func() alert.Stats { return st },
	})
	f := scrape(t, m.Handler())
	assert.Equal(t, 3.0, value(f, "buildnet_event_subscribers", nil))
	assert.Equal(t, 1.0, value(f, "buildnet_event_subscribers_dropped_total", nil))
	assert.Equal(t, 5.0, value(f, "buildnet_alerts_fired_total", labels{"rule": "broken", "type": "build_failed"}))
	assert.Equal(t, 4.0, value(f, "buildnet_alert_deliveries_total", labels{"channel": "ops", "result": "delivered"}))
	assert.Equal(t, 1.0, value(f, "buildnet_alert_deliveries_total", labels{"channel": "ops", "result": "failed"}))
	assert.Equal(t, 4.0, value(f, "buildnet_alert_delivery_attempts_total", labels{"channel": "ops", "result": "error"}))
	assert.Equal(t, 4.0, value(f, "buildnet_alert_delivery_attempts_total", labels{"channel": "ops", "result": "ok"}))
	assert.Equal(t, 2.0, value(f, "buildnet_alert_queue_depth", labels{"channel": "ops"}))
	subs = 0
	assert.Zero(t, value(scrape(t, m.Handler()), "buildnet_event_subscribers", nil), "read at each scrape")
	assert.NotContains(t, f, "buildnet_active_builds", "no engine, no engine gauges")
}

func TestRequesterLabelIsBounded(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	for i := range metrics.MaxRequesters + 10 {
		m.Observe(buildnet.Event{Type: buildnet.EventBuildComplete, Status: buildnet.StatusSuccess, Requester: fmt.Sprint("user", i)})
	}
	m.Observe(buildnet.Event{Type: buildnet.EventBuildComplete, Status: buildnet.StatusSuccess, Requester: "user0"})
	m.Observe(buildnet.Event{Type: buildnet.EventBuildComplete, Status: buildnet.StatusSuccess})
	f := scrape(t, m.Handler())
	assert.Len(t, f["buildnet_builds_total"].Metric, metrics.MaxRequesters+2)
	assert.Equal(t, 10.0, value(f, "buildnet_builds_total", labels{"requester": "other"}))
	assert.Equal(t, 2.0, value(f, "buildnet_builds_total", labels{"requester": "user0"}))
	assert.Equal(t, 1.0, value(f, "buildnet_builds_total", labels{"requester": "unknown"}))
}

func TestCacheErrorKeepsOtherMetrics(t *testing.T) {
	t.Parallel()
	w := newWorkspace(t)
	e := w.Open()
	var logs logBuffer
	m := metrics.New(metrics.Options{
		Engine:      e,
		Subscribers: func() int { return 2 },
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	})
	m.Observe(buildnet.Event{Type: buildnet.EventBuildComplete, Status: buildnet.StatusSuccess})
	require.NoError(t, e.Close()) // the cache is closed: its statistics fail

	f := scrape(t, m.Handler()) // a 200 the text parser accepts
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "read cache statistics for metrics")
	for _, name := range []string{"buildnet_cache_bytes", "buildnet_cache_entries", "buildnet_cache_hits_total", "buildnet_cache_misses_total"} {
		assert.NotContains(t, f, name, "no value rather than a wrong one")
	}
	assert.Equal(t, 1.0, value(f, "buildnet_builds_total", nil))
	assert.Equal(t, 2.0, value(f, "buildnet_event_subscribers", nil))
	assert.Equal(t, float64(buildnet.DefaultMaxCacheSize), value(f, "buildnet_cache_max_bytes", nil))
	assert.Contains(t, f, "buildnet_active_builds")
	assert.Contains(t, f, "go_goroutines")
}

func ExampleMetrics_Observe() {
	m := metrics.New(metrics.Options{})
	ms := int64(1500)
	m.Observe(buildnet.Event{Type: buildnet.EventPackageComplete, Package: "api", Tier: buildnet.TierFullBuild, Status: buildnet.StatusSuccess, DurationMs: &ms})
	m.Observe(buildnet.Event{Type: buildnet.EventBuildComplete, Status: buildnet.StatusSuccess, Requester: "ci",
		Result: &buildnet.BuildResult{Status: buildnet.StatusSuccess, DurationMs: 1600}})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "buildnet_builds_total") || strings.HasPrefix(line, "buildnet_package_builds_total") ||
			strings.HasPrefix(line, "buildnet_package_duration_seconds_sum") {
			fmt.Print(line)
		}
	}
	// Output:
	// buildnet_builds_total{requester="ci",status="success"} 1
	// buildnet_package_builds_total{status="success",tier="full_build"} 1
	// buildnet_package_duration_seconds_sum{tier="full_build"} 1.5
}

// BenchmarkObserve counts one package:complete event, the event a build
// of N packages sends N of.
func BenchmarkObserve(b *testing.B) {
	m := metrics.New(metrics.Options{})
	ms := int64(0)
	ev := buildnet.Event{Type: buildnet.EventPackageComplete, Package: "web", Tier: buildnet.TierInstantSkip,
		Status: buildnet.StatusSuccess, DurationMs: &ms}
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(ev)
	}
}
