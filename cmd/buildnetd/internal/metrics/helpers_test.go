package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
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

// scrape GETs h and parses the answer with the Prometheus text parser.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	require.NoError(t, err)
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
