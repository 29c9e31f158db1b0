package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/alert"
	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/server"
)

// dashboardPath is the Grafana dashboard shipped in examples/.
const dashboardPath = "../../../../examples/grafana/buildnet-dashboard.json"

// observed is a server with an alerter watching its engine and a webhook
// receiving the alerts.
type observed struct {
	*fixture
	alerts *alert.Alerter
	hook   *httptest.Server
	secret string

	// mu guards bodies.
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
}

func newObserved(t *testing.T) *observed {
	t.Helper()
	o := &observed{secret: "hook-secret-1234"}
	o.hook = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		o.mu.Lock()
		o.bodies, o.sigs = append(o.bodies, b), append(o.sigs, r.Header.Get(alert.HeaderSignature))
		o.mu.Unlock()
	}))
	t.Cleanup(o.hook.Close)
	cfg, err := alert.ParseConfig(json.RawMessage(`{
		"rules": [{"name": "fail-broken", "type": "build_failed", "packages": ["fail"]}],
		"channels": {"hook": {"type": "webhook", "url": "` + o.hook.URL + `", "secret_env": "HOOK_SECRET"}}
	}`))
	require.NoError(t, err)
	o.alerts, err = alert.New(*cfg, alert.Options{Getenv: func(string) string { return o.secret }})
	require.NoError(t, err)
	t.Cleanup(func() { o.alerts.Close() })
	o.fixture = newFixture(t, fixtureOpts{opts: server.Options{Alerts: o.alerts}})
	// Feed the alerter the engine's events, as buildnetd does.
	sub := o.e.Subscribe(context.Background(), 0)
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range sub.Events() {
			o.alerts.Observe(context.Background(), ev)
		}
	})
	t.Cleanup(func() {
		sub.Close()
		wg.Wait()
	})
	return o
}

// scrape GETs /metrics and parses it with the Prometheus text parser.
func (o *observed) scrape() map[string]*dto.MetricFamily {
	o.t.Helper()
	resp, body := o.do(http.MethodGet, "/metrics", nil)
	require.Equal(o.t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Contains(o.t, resp.Header.Get("Content-Type"), "text/plain")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	require.NoError(o.t, err)
	return fams
}

// sample returns the value of the counter or gauge name whose labels
// include want, summed.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
next:
	for _, m := range f.Metric {
		for k, v := range want {
			if !slices.ContainsFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
				continue next
			}
		}
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return sum
}

func TestMetricsAndAlertsEndpoints(t *testing.T) {
	t.Parallel()
	o := newObserved(t)
	require.Equal(t, buildnet.StatusSuccess, o.build("/build/core", "").Status)
	require.Equal(t, buildnet.StatusFailed, o.build("/build/fail", "").Status)

	var fams map[string]*dto.MetricFamily
	waitFor(t, "the metrics to count both builds", func() bool {
		fams = o.scrape()
		return sample(fams, "buildnet_builds_total", nil) == 2
	})
	assert.Equal(t, 1.0, sample(fams, "buildnet_builds_total", map[string]string{"status": "failed"}))
	assert.Equal(t, 1.0, sample(fams, "buildnet_builds_total", map[string]string{"status": "success"}))
	assert.Equal(t, 1.0, sample(fams, "buildnet_package_builds_total", map[string]string{"tier": "full_build", "status": "success"}))
	assert.Equal(t, 1.0, sample(fams, "buildnet_package_builds_total", map[string]string{"status": "failed"}))
	assert.Equal(t, 2.0, sample(fams, "buildnet_build_duration_seconds", nil))
	assert.Equal(t, 2.0, sample(fams, "buildnet_http_requests_total", map[string]string{"route": "POST /build/{package}", "code": "200"}))
	assert.Equal(t, 2.0, sample(fams, "buildnet_http_request_duration_seconds", map[string]string{"route": "POST /build/{package}"}))
	assert.Equal(t, 1.0, sample(fams, "buildnet_cache_entries", nil))
	assert.Equal(t, 1.0, sample(fams, "buildnet_build_info", map[string]string{"version": "test"}))
	assert.Contains(t, fams, "process_resident_memory_bytes")
	assert.Contains(t, fams, "go_goroutines")

	// The alert fired for the failure of "fail", reached the webhook
	// signed, and shows in GET /alerts and in the metrics.
	waitFor(t, "the webhook", func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return len(o.bodies) == 1
	})
	o.mu.Lock()
	assert.True(t, alert.VerifySignature([]byte(o.secret), o.bodies[0], o.sigs[0]))
	o.mu.Unlock()
	var got struct {
		Alerts   []alert.Record       `json:"alerts"`
		Rules    []alert.RuleStats    `json:"rules"`
		Channels []alert.ChannelStats `json:"channels"`
	}
	waitFor(t, "the delivery to be recorded", func() bool {
		o.getJSON("/alerts", http.StatusOK, &got)
		return len(got.Alerts) == 1 && got.Alerts[0].Deliveries[0].Status == alert.DeliveryDelivered
	})
	assert.Equal(t, "fail-broken", got.Alerts[0].Rule)
	assert.Equal(t, "Build failed: fail", got.Alerts[0].Title)
	assert.Equal(t, []alert.RuleStats{{Name: "fail-broken", Type: alert.RuleBuildFailed, Fired: 1}}, got.Rules)
	require.Len(t, got.Channels, 1)
	assert.Equal(t, int64(1), got.Channels[0].Delivered)
	fams = o.scrape()
	assert.Equal(t, 1.0, sample(fams, "buildnet_alerts_fired_total", map[string]string{"rule": "fail-broken", "type": "build_failed"}))
	assert.Equal(t, 1.0, sample(fams, "buildnet_alert_deliveries_total", map[string]string{"channel": "hook", "result": "delivered"}))
	resp, body := o.do(http.MethodGet, "/alerts", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotContains(t, string(body), o.secret)
}

func TestAlertsEndpointWithoutAlerter(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	resp, body := f.do(http.MethodGet, "/alerts", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"alerts": [], "rules": [], "channels": []}`, string(body))
}

// metricRE finds the metric names in a PromQL expression: BuildNet's own
// and the standard process and Go collectors'. Label names and functions
// never start with these prefixes.
var metricRE = regexp.MustCompile(`\b(?:buildnet|process|go)_[a-zA-Z0-9_]*`)

// TestGrafanaDashboardMatchesMetrics parses the dashboard and checks that
// every query names metrics a real /metrics scrape has after a build.
func TestGrafanaDashboardMatchesMetrics(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(dashboardPath)
	require.NoError(t, err)
	var dash struct {
		UID           string  `json:"uid"`
		Title         string  `json:"title"`
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []panel `json:"panels"`
		Templating    struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(data, &dash), "the dashboard is valid JSON")
	assert.NotEmpty(t, dash.UID)
	assert.Equal(t, "BuildNet", dash.Title)
	assert.GreaterOrEqual(t, dash.SchemaVersion, 36)

	o := newObserved(t)
	o.build("/build/core", "")
	o.build("/build/fail", "")
	waitFor(t, "the alert to be delivered", func() bool {
		st := o.alerts.Stats()
		return len(st.Channels) == 1 && st.Channels[0].Delivered == 1
	})
	var fams map[string]*dto.MetricFamily
	waitFor(t, "the metrics to count both builds", func() bool {
		fams = o.scrape()
		return sample(fams, "buildnet_builds_total", nil) == 2
	})
	series := map[string]bool{}
	for name, f := range fams {
		series[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			series[name+"_bucket"], series[name+"_sum"], series[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			series[name+"_sum"], series[name+"_count"] = true, true
		}
	}

	ids := map[int]bool{}
	var exprs []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			assert.False(t, ids[p.ID], "panel id %d is unique", p.ID)
			ids[p.ID] = true
			assert.NotEmpty(t, p.Title)
			if p.Type != "row" {
				assert.Equal(t, "${datasource}", p.Datasource.UID, "panel %q uses the datasource variable", p.Title)
				require.NotEmpty(t, p.Targets, "panel %q has queries", p.Title)
			}
			for _, tg := range p.Targets {
				require.NotEmpty(t, tg.Expr, "panel %q", p.Title)
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			exprs = append(exprs, v.Definition)
		}
	}
	for _, expr := range exprs {
		names := metricRE.FindAllString(expr, -1)
		require.NotEmpty(t, names, "query %q names no metric", expr)
		for _, n := range names {
			assert.True(t, series[n], "query %q uses %s, which /metrics does not have", expr, n)
		}
	}
	// What the issue asks the dashboard to show.
	all := strings.Join(exprs, "\n")
	for _, want := range []string{
		"rate(buildnet_builds_total",                                   // build rate
		`buildnet_builds_total{instance=~"$instance",status="failed"}`, // failure rate
		"buildnet_cache_hits_total", "buildnet_cache_misses_total",     // cache hit ratio
		"histogram_quantile(0.5,", "histogram_quantile(0.95,", // p50 / p95
		"buildnet_queue_depth",
	} {
		assert.Contains(t, all, want)
	}
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}
