package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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

// Metrics holds the daemon's collectors and their registry. It is safe
// for concurrent use.
type Metrics struct {
	reg  *prometheus.Registry
	opts Options
	log  *slog.Logger

	builds          *prometheus.CounterVec
	buildDuration   *prometheus.HistogramVec
	packages        *prometheus.CounterVec
	packageDuration *prometheus.HistogramVec
	events          *prometheus.CounterVec
	eventsLost      prometheus.Counter
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	rateLimited     prometheus.Counter

	// mu guards requesters.
	mu         sync.Mutex
	requesters map[string]bool
}

// New makes the collectors and registers them, with the Go and process
// collectors, on a new registry.
func New(opts Options) *Metrics {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), opts: opts, log: opts.Logger, requesters: map[string]bool{}}
	m.builds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "builds_total",
		Help: "Builds finished, by status (success, failed, cancelled) and requester.",
	}, []string{"status", "requester"})
	m.buildDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "build_duration_seconds",
		Help: "Duration of finished builds, by status.", Buckets: durationBuckets,
	}, []string{"status"})
	m.packages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "package_builds_total",
		Help: "Package results, by tier (instant_skip, hash_skip, cache_restore, full_build, none) and status (success, failed, skipped, cancelled).",
	}, []string{"tier", "status"})
	m.packageDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "package_duration_seconds",
		Help: "Time spent bringing a package up to date, by tier; successful packages only.", Buckets: durationBuckets,
	}, []string{"tier"})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "events_total",
		Help: "Engine events seen, by type.",
	}, []string{"type"})
	m.eventsLost = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "events_lost_total",
		Help: "Times the metrics fell behind the engine's events and lost some: build counters may then be low.",
	})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Name: "http_requests_total",
		Help: "HTTP requests served, by route pattern and status code.",
	}, []string{"route", "code"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "http_request_duration_seconds",
		Help:    "Latency of HTTP requests, by route pattern; event streams (SSE, WebSocket) are not included.",
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"route"})
	m.rateLimited = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "http_rate_limited_total",
		Help: "HTTP requests refused by rate limiting (429); buildnet_http_requests_total{code=\"429\"} has them by route.",
	})
	m.reg.MustRegister(m.builds, m.buildDuration, m.packages, m.packageDuration, m.events, m.eventsLost,
		m.requests, m.requestDuration, m.rateLimited,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&sourceCollector{m: m},
	)
	if opts.Version != "" {
		info := prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "build_info", Help: "Always 1; the version label names the daemon's version.",
			ConstLabels: prometheus.Labels{"version": opts.Version},
		})
		info.Set(1)
		m.reg.MustRegister(info)
	}
	return m
}

// Registry returns the registry holding every collector, for adding
// more or gathering in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format. A
// source failing (the cache unreadable) is logged, and the other metrics
// are still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
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
	m.events.WithLabelValues(string(ev.Type)).Inc()
	switch ev.Type {
	case buildnet.EventPackageComplete:
		tier := string(ev.Tier)
		if tier == "" {
			tier = "none"
		}
		m.packages.WithLabelValues(tier, string(ev.Status)).Inc()
		if ev.Status == buildnet.StatusSuccess && ev.DurationMs != nil {
			m.packageDuration.WithLabelValues(tier).Observe(seconds(*ev.DurationMs))
		}
	case buildnet.EventBuildComplete:
		status, requester, ms := ev.Status, ev.Requester, int64(-1)
		if r := ev.Result; r != nil {
			status, ms = r.Status, r.DurationMs
			if requester == "" {
				requester = r.Requester
			}
		}
		m.builds.WithLabelValues(string(status), m.requester(requester)).Inc()
		if ms >= 0 {
			m.buildDuration.WithLabelValues(string(status)).Observe(seconds(ms))
		}
	}
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
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	if code == http.StatusTooManyRequests {
		m.rateLimited.Inc()
	}
	if !stream {
		m.requestDuration.WithLabelValues(route).Observe(d.Seconds())
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
