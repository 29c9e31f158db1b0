package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/musclemap/buildnet/buildnet"
)

// DefaultServiceName is the service.name of the spans when none is
// configured.
const DefaultServiceName = "buildnetd"

// MaxOpenBuilds bounds the builds being traced at once; the spans of
// builds past it are not recorded.
const MaxOpenBuilds = 1000

// Config configures tracing. The zero value means off.
type Config struct {
	// OTLPEndpoint is the OTLP/HTTP collector's base URL, such as
	// "http://localhost:4318"; "/v1/traces" is added unless the URL has a
	// path. "" turns tracing off.
	OTLPEndpoint string `json:"otlp_endpoint,omitempty"`
	// ServiceName is the spans' service.name; "" means "buildnetd".
	ServiceName string `json:"service_name,omitempty"`
	// Headers are added to each export request, written as in
	// OTEL_EXPORTER_OTLP_HEADERS: comma-separated key=value pairs whose
	// values are percent-decoded, such as
	// "authorization=Bearer%20abc,x-tenant=ci".
	Headers string `json:"headers,omitempty"`
	// TimeoutMs bounds each attempt at exporting a batch, in
	// milliseconds; 0 means 10 s.
	TimeoutMs int64 `json:"timeout_ms,omitempty"`
	// Compression of the requests: "gzip", or "" or "none" for none.
	Compression string `json:"compression,omitempty"`

	// envErr is why ConfigFromEnv could not read a variable, reported
	// by NewProvider.
	envErr error
}

// Enabled reports whether c turns tracing on.
func (c Config) Enabled() bool { return c.OTLPEndpoint != "" }

// ConfigFromEnv reads the standard OpenTelemetry variables through
// getenv: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (a full URL) or else
// OTEL_EXPORTER_OTLP_ENDPOINT (a base URL), OTEL_SERVICE_NAME, and the
// traces' or else the general OTEL_EXPORTER_OTLP_ HEADERS, TIMEOUT (in
// milliseconds) and COMPRESSION. A variable it cannot read makes
// [NewProvider] fail, naming it.
func ConfigFromEnv(getenv func(string) string) Config {
	// pick returns the traces' variable of a setting when set, or else
	// the general one.
	pick := func(setting string) (name, value string) {
		name = "OTEL_EXPORTER_OTLP_TRACES_" + setting
		if v := getenv(name); v != "" {
			return name, v
		}
		name = "OTEL_EXPORTER_OTLP_" + setting
		return name, getenv(name)
	}
	c := Config{ServiceName: getenv("OTEL_SERVICE_NAME")}
	_, c.OTLPEndpoint = pick("ENDPOINT")
	_, c.Headers = pick("HEADERS")
	if name, v := pick("COMPRESSION"); v != "" {
		c.Compression = v
		if v != "gzip" && v != "none" {
			c.envErr = fmt.Errorf("tracing: %s=%q: want gzip or none", name, v)
		}
	}
	if name, v := pick("TIMEOUT"); v != "" {
		ms, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || ms < 0 {
			c.envErr = fmt.Errorf("tracing: %s=%q: want a number of milliseconds", name, v)
		}
		c.TimeoutMs = ms
	}
	return c
}

// TracesURL returns the URL spans are posted to.
func (c Config) TracesURL() (string, error) {
	u, err := url.Parse(c.OTLPEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("tracing: otlp_endpoint %q: want an http or https URL such as http://localhost:4318", c.OTLPEndpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

// NewProvider returns a tracer provider that batches spans and exports
// them to cfg's endpoint with an [Exporter], or nil when cfg is off. The
// caller must Shutdown it, which flushes the spans still batched.
// version is the service.version of the spans, if not "".
func NewProvider(_ context.Context, cfg Config, version string) (*sdktrace.TracerProvider, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	if cfg.envErr != nil {
		return nil, cfg.envErr
	}
	u, err := cfg.TracesURL()
	if err != nil {
		return nil, err
	}
	header, err := parseHeaders(cfg.Headers)
	if err != nil {
		return nil, fmt.Errorf("tracing: headers: %w", err)
	}
	if header.Get("User-Agent") == "" {
		header.Set("User-Agent", strings.TrimSuffix(DefaultServiceName+"/"+version, "/"))
	}
	if cfg.TimeoutMs < 0 {
		return nil, fmt.Errorf("tracing: timeout_ms %d: want 0 or more", cfg.TimeoutMs)
	}
	opts := ExporterOptions{Header: header, Timeout: time.Duration(cfg.TimeoutMs) * time.Millisecond}
	switch cfg.Compression {
	case "", "none":
	case "gzip":
		opts.Gzip = true
	default:
		return nil, fmt.Errorf("tracing: compression %q: want gzip or none", cfg.Compression)
	}
	exp, err := NewExporter(u, opts)
	if err != nil {
		return nil, err
	}
	name := cfg.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if version != "" {
		attrs = append(attrs, attribute.String("service.version", version))
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
	), nil
}

// parseHeaders parses headers written as in OTEL_EXPORTER_OTLP_HEADERS.
// Its errors name keys but never values, which may be secrets.
func parseHeaders(s string) (http.Header, error) {
	h := http.Header{}
	for i, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || !validHeaderName(k) {
			return nil, fmt.Errorf("pair %d: want key=value with a key such as authorization", i+1)
		}
		v, err := url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("%s: bad percent-encoding in the value", k)
		}
		v = strings.TrimSpace(v)
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) {
			return nil, fmt.Errorf("%s: control character in the value", k)
		}
		h.Add(k, v)
	}
	return h, nil
}

// validHeaderName reports whether k is an HTTP header name (RFC 9110
// token).
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Attribute keys of the spans.
const (
	KeyBuildID    = attribute.Key("buildnet.build.id")
	KeyRequester  = attribute.Key("buildnet.requester")
	KeyPackages   = attribute.Key("buildnet.packages")
	KeyStatus     = attribute.Key("buildnet.status")
	KeyDurationMs = attribute.Key("buildnet.duration_ms")
	KeyPackage    = attribute.Key("buildnet.package")
	KeyTier       = attribute.Key("buildnet.tier")
	KeyDigest     = attribute.Key("buildnet.digest")
	KeyReason     = attribute.Key("buildnet.reason")
	KeyError      = attribute.Key("buildnet.error")
)

// Tracer makes spans from engine events. It is safe for concurrent use.
type Tracer struct {
	tracer trace.Tracer
	log    *slog.Logger

	// mu guards builds.
	mu     sync.Mutex
	builds map[string]*buildSpan
}

// buildSpan is a build being traced.
type buildSpan struct {
	ctx     context.Context // holds the build span
	span    trace.Span
	started map[string]time.Time // package:start
	running map[string]time.Time // package:running
}

// New returns a tracer recording through tp. logger nil discards logs.
func New(tp trace.TracerProvider, logger *slog.Logger) *Tracer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Tracer{
		tracer: tp.Tracer("github.com/musclemap/buildnet/cmd/buildnetd"),
		log:    logger,
		builds: map[string]*buildSpan{},
	}
}

// Run traces e's builds until ctx ends or e closes. A subscription
// dropped for being slow ends the open spans as incomplete and is
// renewed.
func (t *Tracer) Run(ctx context.Context, e *buildnet.Engine) error {
	if e == nil {
		return errors.New("run tracer: no engine")
	}
	defer t.abandon("tracer stopped")
	for {
		sub, stop := subscribe(ctx, e)
		for ev := range sub.Events() {
			t.Observe(ev)
		}
		stop()
		if ctx.Err() != nil || !errors.Is(sub.Err(), buildnet.ErrSlowSubscriber) {
			return nil
		}
		t.log.Warn("tracer fell behind the engine's events; open build spans end incomplete", "err", sub.Err())
		t.abandon("events lost")
	}
}

// Open reports how many builds have a span open.
func (t *Tracer) Open() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.builds)
}

// Observe records what ev says about a build's spans.
func (t *Tracer) Observe(ev buildnet.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev.Type {
	case buildnet.EventBuildStart:
		if _, ok := t.builds[ev.BuildID]; ok {
			return
		}
		if len(t.builds) >= MaxOpenBuilds {
			t.log.Warn("too many builds traced at once; this one is not", "build", ev.BuildID, "max", MaxOpenBuilds)
			return
		}
		attrs := []attribute.KeyValue{KeyBuildID.String(ev.BuildID), KeyPackages.StringSlice(ev.Packages)}
		if ev.Requester != "" {
			attrs = append(attrs, KeyRequester.String(ev.Requester))
		}
		ctx, span := t.tracer.Start(context.Background(), "build",
			trace.WithTimestamp(ev.Time), trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
		t.builds[ev.BuildID] = &buildSpan{ctx: ctx, span: span, started: map[string]time.Time{}, running: map[string]time.Time{}}
	case buildnet.EventPackageStart:
		if b := t.builds[ev.BuildID]; b != nil {
			b.started[ev.Package] = ev.Time
		}
	case buildnet.EventPackageRunning:
		if b := t.builds[ev.BuildID]; b != nil {
			b.running[ev.Package] = ev.Time
		}
	case buildnet.EventPackageComplete:
		if b := t.builds[ev.BuildID]; b != nil {
			b.packageSpan(t.tracer, ev)
		}
	case buildnet.EventBuildComplete:
		b := t.builds[ev.BuildID]
		if b == nil {
			return
		}
		delete(t.builds, ev.BuildID)
		b.end(ev)
	}
}

// packageSpan records the span of one package, now that it is complete.
func (b *buildSpan) packageSpan(tr trace.Tracer, ev buildnet.Event) {
	start, ok := b.started[ev.Package]
	if !ok {
		// Skipped and cancelled packages never start: a point in time.
		start = ev.Time
	}
	attrs := []attribute.KeyValue{KeyPackage.String(ev.Package), KeyStatus.String(string(ev.Status))}
	if ev.Tier != "" {
		attrs = append(attrs, KeyTier.String(string(ev.Tier)))
	}
	if ev.Digest != "" {
		attrs = append(attrs, KeyDigest.String(ev.Digest))
	}
	if ev.DurationMs != nil {
		attrs = append(attrs, KeyDurationMs.Int64(*ev.DurationMs))
	}
	if ev.Reason != nil {
		attrs = append(attrs, KeyReason.String(string(ev.Reason.Kind)))
	}
	_, span := tr.Start(b.ctx, "package "+ev.Package, trace.WithTimestamp(start), trace.WithAttributes(attrs...))
	if t, ok := b.running[ev.Package]; ok {
		span.AddEvent("running", trace.WithTimestamp(t))
	}
	switch ev.Status {
	case buildnet.StatusFailed:
		span.SetStatus(codes.Error, ev.Error)
		span.SetAttributes(KeyError.String(ev.Error))
	case buildnet.StatusSkipped, buildnet.StatusCancelled:
		if ev.Error != "" {
			span.SetAttributes(KeyError.String(ev.Error))
		}
	}
	span.End(trace.WithTimestamp(ev.Time))
	delete(b.started, ev.Package)
	delete(b.running, ev.Package)
}

// end closes the build span with the build's outcome.
func (b *buildSpan) end(ev buildnet.Event) {
	status, errText := ev.Status, ev.Error
	if r := ev.Result; r != nil {
		status = r.Status
		if errText == "" {
			errText = r.Error
		}
		b.span.SetAttributes(KeyDurationMs.Int64(r.DurationMs))
		tiers, statuses := r.Counts()
		for tier, n := range tiers {
			b.span.SetAttributes(attribute.Int("buildnet.tier."+string(tier), n))
		}
		if n := statuses[buildnet.StatusFailed]; n > 0 && errText == "" {
			errText = fmt.Sprintf("%d packages failed", n)
		}
	}
	b.span.SetAttributes(KeyStatus.String(string(status)))
	if status == buildnet.StatusFailed {
		b.span.SetStatus(codes.Error, errText)
	}
	b.span.End(trace.WithTimestamp(ev.Time))
}

// abandon ends every open span, marked incomplete.
func (t *Tracer) abandon(why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for id, b := range t.builds {
		b.span.SetStatus(codes.Error, why)
		b.span.SetAttributes(attribute.Bool("buildnet.incomplete", true))
		b.span.End(trace.WithTimestamp(now))
		delete(t.builds, id)
	}
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
