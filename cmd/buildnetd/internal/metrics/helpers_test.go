package metrics_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/buildnet/buildnettest"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/metrics"
)

// workspace is the shared test workspace: base <- api, base <- web, and
// docs; a package fails while .fail/NAME exists.
type workspace = buildnettest.Workspace

func newWorkspace(t *testing.T) *workspace { return buildnettest.New(t) }

// run runs m until the test ends.
func run(t *testing.T, m *metrics.Metrics) {
	t.Helper()
	buildnettest.Run(t, m.Run)
}

// build runs a build and waits until m has counted it.
func build(t *testing.T, e *buildnet.Engine, m *metrics.Metrics, req buildnet.Request) *buildnet.BuildResult {
	t.Helper()
	before := value(scrape(t, m.Handler()), "buildnet_builds_total", nil)
	res, err := e.Build(t.Context(), req)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return value(scrape(t, m.Handler()), "buildnet_builds_total", nil) > before
	}, 10*time.Second, 2*time.Millisecond)
	return res
}

// get serves h over HTTP, GETs it as a scraper would and returns the
// response, whose body has been read into body.
func get(t *testing.T, h http.Handler, header http.Header) (resp *http.Response, body string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/metrics", nil)
	require.NoError(t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err = srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	return resp, string(b)
}

// scrape GETs h over HTTP and parses the answer with the Prometheus text
// parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	_, body := get(t, h, nil)
	return parse(t, body)
}

// parse parses text in the Prometheus text exposition format.
func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	require.NoError(t, err, "%s", text)
	return fams
}

// value sums the samples of a counter, gauge or untyped family whose
// labels include labels; for a histogram it sums the sample counts.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	var sum float64
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

// logBuffer is an io.Writer for a test logger, safe for concurrent use.
type logBuffer struct {
	// mu guards b.
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
