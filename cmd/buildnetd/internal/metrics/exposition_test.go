package metrics_test

import (
	"flag"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/alert"
	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/metrics"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// full returns Metrics with every family present: an engine, alerts,
// event-stream clients, a version, events and requests.
func full(t *testing.T) *metrics.Metrics {
	t.Helper()
	st := alert.Stats{
		Rules:    []alert.RuleStats{{Name: "broken", Type: alert.RuleBuildFailed, Fired: 5}},
		Channels: []alert.ChannelStats{{Name: "ops", Type: "webhook", Delivered: 4, Failed: 1, Attempts: 8, AttemptErrors: 3, Queued: 2}},
	}
	m := metrics.New(metrics.Options{
		Engine:      newWorkspace(t).Open(),
		Version:     "1.2.3",
		Subscribers: func() int { return 2 },
		Dropped:     func() uint64 { return 1 },
		Alerts:      func() alert.Stats { return st },
	})
	ms := int64(1500)
	m.Observe(buildnet.Event{Type: buildnet.EventPackageComplete, Tier: buildnet.TierFullBuild, Status: buildnet.StatusSuccess, DurationMs: &ms})
	m.Observe(buildnet.Event{Type: buildnet.EventBuildComplete, Requester: "ci",
		Result: &buildnet.BuildResult{Status: buildnet.StatusSuccess, DurationMs: 1600}})
	m.ObserveRequest("GET /builds/{id}", http.StatusOK, 3*time.Millisecond, false)
	m.ObserveRequest("POST /build", http.StatusTooManyRequests, time.Millisecond, false)
	return m
}

// TestFamiliesHelpAndType checks every BuildNet family's # HELP and
// # TYPE lines against the golden file: dashboards, alert rules and
// people reading /metrics depend on them.
func TestFamiliesHelpAndType(t *testing.T) {
	t.Parallel()
	_, body := get(t, full(t).Handler(), nil)
	var meta strings.Builder
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "# HELP buildnet_") || strings.HasPrefix(line, "# TYPE buildnet_") {
			meta.WriteString(line)
		}
	}
	const golden = "testdata/families.golden"
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(meta.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), meta.String())

	// Every family has its metadata once, and every sample follows the
	// metadata of its own family.
	fams := parse(t, body)
	for name, f := range fams {
		if !strings.HasPrefix(name, metrics.Namespace+"_") {
			continue
		}
		assert.NotEmpty(t, f.GetHelp(), name)
		assert.NotEmpty(t, f.GetMetric(), name)
	}
	assert.Len(t, strings.Split(strings.TrimSpace(string(want)), "\n"), 2*countPrefix(fams, metrics.Namespace+"_"))
}

func countPrefix[V any](m map[string]V, prefix string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// TestHistogramBuckets checks the histograms' le bounds, in order:
// queries such as histogram_quantile and saved bucket selections depend
// on them.
func TestHistogramBuckets(t *testing.T) {
	t.Parallel()
	durations := []string{"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "300", "600", "1800", "+Inf"}
	requests := []string{"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "+Inf"}
	tests := []struct {
		series string
		want   []string
		count  int
		sum    string
	}{
		{`buildnet_build_duration_seconds_bucket{status="success"`, durations, 1, `buildnet_build_duration_seconds_sum{status="success"} 1.6`},
		{`buildnet_package_duration_seconds_bucket{tier="full_build"`, durations, 1, `buildnet_package_duration_seconds_sum{tier="full_build"} 1.5`},
		{`buildnet_http_request_duration_seconds_bucket{route="GET /builds/{id}"`, requests, 1, `buildnet_http_request_duration_seconds_sum{route="GET /builds/{id}"} 0.003`},
	}
	_, body := get(t, full(t).Handler(), nil)
	le := regexp.MustCompile(`,le="([^"]*)"\} (\d+)$`)
	for _, tt := range tests {
		var got []string
		var counts []string
		for line := range strings.Lines(body) {
			if after, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), tt.series); ok {
				mm := le.FindStringSubmatch(after)
				require.NotNil(t, mm, "%q", line)
				got, counts = append(got, mm[1]), append(counts, mm[2])
			}
		}
		assert.Equal(t, tt.want, got, tt.series)
		require.NotEmpty(t, counts)
		assert.Equal(t, "1", counts[len(counts)-1], "the +Inf bucket counts every sample")
		assert.Contains(t, body, tt.sum+"\n")
	}
	// The parser agrees: cumulative buckets, the observation in the right one.
	h := parse(t, body)["buildnet_build_duration_seconds"].GetMetric()[0].GetHistogram()
	for _, b := range h.GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= 1.6 {
			want = 1
		}
		assert.Equal(t, want, b.GetCumulativeCount(), "le=%g", b.GetUpperBound())
	}
}

// TestLabelValuesEscaped feeds label values a user controls (requester
// names, alert rule and channel names) with quotes, backslashes,
// newlines, braces and bytes that are not UTF-8, and checks that the
// exposition parses and gives the values back.
func TestLabelValuesEscaped(t *testing.T) {
	t.Parallel()
	nasty := []string{
		`quote"d`, `back\slash`, "new\nline", `\"`, `\n`, `trailing\`, `"`, `}`, `a="b",c="d"`,
		"tab\tand\rreturn", "ünïcødé ✓", "{brace}", "#comment", " spaced ", "not utf8 \xff\xfe",
	}
	st := alert.Stats{
		Rules:    []alert.RuleStats{{Name: `rule"\` + "\n", Type: alert.RuleBuildFailed, Fired: 1}},
		Channels: []alert.ChannelStats{{Name: `chan"nel\` + "\n", Delivered: 1}},
	}
	m := metrics.New(metrics.Options{Alerts: func() alert.Stats { return st }, Version: "v\"1\\\n"})
	for _, r := range nasty {
		m.Observe(buildnet.Event{Type: buildnet.EventBuildComplete, Status: buildnet.StatusSuccess, Requester: r})
		m.ObserveRequest(r, http.StatusOK, time.Millisecond, false)
	}
	f := scrape(t, m.Handler())
	for _, r := range nasty {
		want := strings.ToValidUTF8(r, "\uFFFD")
		assert.Equal(t, 1.0, value(f, "buildnet_builds_total", labels{"requester": want, "status": "success"}), "%q", r)
		assert.Equal(t, 1.0, value(f, "buildnet_http_requests_total", labels{"route": want, "code": "200"}), "%q", r)
		assert.Equal(t, 1.0, value(f, "buildnet_http_request_duration_seconds", labels{"route": want}), "%q", r)
	}
	assert.Len(t, f["buildnet_builds_total"].GetMetric(), len(nasty))
	assert.Equal(t, 1.0, value(f, "buildnet_alerts_fired_total", labels{"rule": `rule"\` + "\n"}))
	assert.Equal(t, 1.0, value(f, "buildnet_alert_deliveries_total", labels{"channel": `chan"nel\` + "\n", "result": "delivered"}))
	assert.Equal(t, 1.0, value(f, "buildnet_build_info", labels{"version": "v\"1\\\n"}))
}

func TestHandlerContentTypeAndGzip(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	// A request that does not accept gzip gets the text as it is.
	resp, body := get(t, m.Handler(), http.Header{"Accept-Encoding": {"identity"}})
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, metrics.ContentType, resp.Header.Get("Content-Type"))
	assert.Empty(t, resp.Header.Get("Content-Encoding"))
	assert.Contains(t, body, "\nbuildnet_events_lost_total 0\n")
	// Prometheus asks for gzip; Go's client asks for it too when the
	// request names no encoding, and unpacks the answer.
	resp, body = get(t, m.Handler(), nil)
	assert.True(t, resp.Uncompressed, "the answer was gzip-compressed")
	assert.Contains(t, body, "\nbuildnet_events_lost_total 0\n")
	parse(t, body)
	resp, _ = get(t, m.Handler(), http.Header{"Accept-Encoding": {"gzip;q=0, identity"}})
	assert.Empty(t, resp.Header.Get("Content-Encoding"))
}
