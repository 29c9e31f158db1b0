package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/musclemap/buildnet/alert"
	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/httpstatus"
)

// Namespace prefixes every BuildNet metric.
const Namespace = "buildnet"

// MaxRequesters bounds the distinct values of the requester label; later
// requesters are counted as "other".
const MaxRequesters = 100

// Options configures [New]. Every source is optional: a nil one leaves
// its metrics out.
type Options struct {
	// Engine provides the cache, queue and active-build gauges, and the
	// events [Metrics.Run] counts.
	Engine *buildnet.Engine
	// Subscribers reports the connected event-stream clients (SSE and
	// WebSocket), and Dropped how many were dropped for being too slow.
	Subscribers func() int
	Dropped     func() uint64
	// Alerts reports the alerter's counters.
	Alerts func() alert.Stats
	// Version is exported as buildnet_build_info{version}.
	Version string
	// Logger receives collection errors; nil discards them.
	Logger *slog.Logger
}

// Build and package durations span milliseconds (skips) to tens of
// minutes (cold builds).
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}

// HTTP requests take from well under a millisecond (a status read) to a
// minute (a long synchronous build request).
var requestBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Metrics holds the daemon's metrics in a [vm.Set] of its own. It is safe
// for concurrent use.
type Metrics struct {
	set  *vm.Set
	opts Options
	log  *slog.Logger

	eventsLost  *vm.Counter
	rateLimited *vm.Counter

	// mu guards requesters and the series found so far.
	mu         sync.Mutex
	requesters map[string]bool
	counters   map[seriesKey]*vm.Counter
	histograms map[seriesKey]*vm.PrometheusHistogram
}

// seriesKey names a series by its family and label values (each family
// has at most two labels, always the same): finding a series counted
// before costs a map lookup, not the making of its name.
type seriesKey struct{ fam, a, b string }

// New makes the metrics, in a set of their own: nothing is registered
// globally.
//
// New turns on the metrics library's process-wide switch
// [vm.ExposeMetadata]: it is how the Go and process metrics the library
// writes get their # TYPE lines. BuildNet's own families carry their
// # HELP and # TYPE lines whatever the switch says.
func New(opts Options) *Metrics {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	vm.ExposeMetadata(true)
	m := &Metrics{set: vm.NewSet(), opts: opts, log: opts.Logger, requesters: map[string]bool{},
		counters: map[seriesKey]*vm.Counter{}, histograms: map[seriesKey]*vm.PrometheusHistogram{}}
	// Unlabelled counters are served from the start, at zero.
	m.eventsLost = m.set.NewCounter(famEventsLost)
	m.rateLimited = m.set.NewCounter(famRateLimited)
	if opts.Version != "" {
		m.set.NewGauge(series(famBuildInfo, "version", opts.Version), func() float64 { return 1 })
	}
	return m
}

// Run counts the Engine's events until ctx ends or the engine closes. A
// subscription dropped for being slow is renewed and counted in
// buildnet_events_lost_total.
func (m *Metrics) Run(ctx context.Context) error {
	e := m.opts.Engine
	if e == nil {
		return errors.New("run metrics: no engine in Options")
	}
	for {
		sub, stop := subscribe(ctx, e)
		for ev := range sub.Events() {
			m.Observe(ev)
		}
		stop()
		if ctx.Err() != nil || !errors.Is(sub.Err(), buildnet.ErrSlowSubscriber) {
			return nil
		}
		m.eventsLost.Inc()
		m.log.Warn("metrics fell behind the engine's events; counters may be low", "err", sub.Err())
	}
}

// Observe counts one engine event.
func (m *Metrics) Observe(ev buildnet.Event) {
	m.counter(famEvents, "type", string(ev.Type)).Inc()
	switch ev.Type {
	case buildnet.EventPackageComplete:
		tier := string(ev.Tier)
		if tier == "" {
			tier = "none"
		}
		m.counter(famPackages, "status", string(ev.Status), "tier", tier).Inc()
		if ev.Status == buildnet.StatusSuccess && ev.DurationMs != nil {
			m.histogram(famPackageDuration, durationBuckets, "tier", tier).Update(seconds(*ev.DurationMs))
		}
	case buildnet.EventBuildComplete:
		status, requester, ms := ev.Status, ev.Requester, int64(-1)
		if r := ev.Result; r != nil {
			status, ms = r.Status, r.DurationMs
			if requester == "" {
				requester = r.Requester
			}
		}
		m.counter(famBuilds, "requester", m.requester(requester), "status", string(status)).Inc()
		if ms >= 0 {
			m.histogram(famBuildDuration, durationBuckets, "status", string(status)).Update(seconds(ms))
		}
	}
}

// counter returns the counter of family fam with the label pairs kv,
// making it on first use. kv is in label-name order, so that the samples
// sort as they always have.
func (m *Metrics) counter(fam string, kv ...string) *vm.Counter {
	return find(m, m.counters, key(fam, kv), func() *vm.Counter { return m.set.GetOrCreateCounter(series(fam, kv...)) })
}

// find returns the series of cache under k, making it with newSeries on first
// use.
func find[T any](m *Metrics, cache map[seriesKey]*T, k seriesKey, newSeries func() *T) *T {
	m.mu.Lock()
	v := cache[k]
	m.mu.Unlock()
	if v == nil {
		v = newSeries()
		m.mu.Lock()
		cache[k] = v
		m.mu.Unlock()
	}
	return v
}

// key returns the seriesKey of family fam with the label pairs kv.
func key(fam string, kv []string) seriesKey {
	k := seriesKey{fam: fam}
	if len(kv) >= 2 {
		k.a = kv[1]
	}
	if len(kv) >= 4 {
		k.b = kv[3]
	}
	return k
}

// histogram returns the histogram of family fam with the label pairs kv
// and the given bucket bounds, making it on first use.
func (m *Metrics) histogram(fam string, buckets []float64, kv ...string) *vm.PrometheusHistogram {
	return find(m, m.histograms, key(fam, kv), func() *vm.PrometheusHistogram {
		return m.set.GetOrCreatePrometheusHistogramExt(series(fam, kv...), buckets)
	})
}

// requester returns the label value for r, bounding the label's values.
func (m *Metrics) requester(r string) string {
	if r == "" {
		return "unknown"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requesters[r] {
		return r
	}
	if len(m.requesters) >= MaxRequesters {
		return "other"
	}
	m.requesters[r] = true
	return r
}

func seconds(ms int64) float64 { return float64(ms) / 1000 }

// ObserveRequest counts one HTTP request. route is the pattern that
// served it (such as "GET /builds/{id}"), never the raw path, so that the
// label's values stay few. stream marks a long-lived event stream, whose
// duration says nothing about latency. A 429 also counts as a rate-limit
// rejection.
func (m *Metrics) ObserveRequest(route string, code int, d time.Duration, stream bool) {
	if route == "" {
		route = "unmatched"
	}
	if code == 0 {
		code = http.StatusOK
	}
	m.counter(famRequests, "code", strconv.Itoa(code), "route", route).Inc()
	if code == http.StatusTooManyRequests {
		m.rateLimited.Inc()
	}
	if !stream {
		m.histogram(famRequestDuration, requestBuckets, "route", route).Update(d.Seconds())
	}
}

// Middleware counts the requests next serves. The route is the pattern
// [http.ServeMux] recorded in the request (r.Pattern) once next returns;
// requests no pattern matched count as "unmatched". WebSocket upgrades and
// SSE responses count as streams.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := httpstatus.Wrap(w)
		next.ServeHTTP(rw, r)
		stream := r.Header.Get("Upgrade") != "" || IsEventStream(rw.Header())
		m.ObserveRequest(r.Pattern, rw.Status, time.Since(start), stream)
	})
}

// IsEventStream reports whether h is the header of an SSE response.
func IsEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	return len(ct) >= 17 && ct[:17] == "text/event-stream"
}

// subscribe subscribes to e's events until ctx ends.
//
// The engine finishes setting a subscription up after releasing its
// locks, so a subscription made on another goroutine than the one closing
// the engine (or ending ctx) races with it. The subscription is therefore
// not bound to ctx but closed when ctx ends, and sub.Err, which takes the
// subscription's lock, orders the set-up before any later close.
func subscribe(ctx context.Context, e *buildnet.Engine) (*buildnet.Subscription, func() bool) {
	sub := e.Subscribe(context.Background(), 4096)
	_ = sub.Err()
	return sub, context.AfterFunc(ctx, sub.Close)
}
