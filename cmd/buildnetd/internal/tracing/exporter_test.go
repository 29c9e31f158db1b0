package tracing_test

import (
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/tracing"
)

// decodeRequest decodes an OTLP/JSON export request with the protocol's
// own JSON decoder, refusing unknown fields.
//
// protojson reads bytes fields as base64, where OTLP/JSON writes trace
// and span ids in hex. Hex digits being base64 digits too, an id decodes
// to other bytes that encode back to the hex sent; decodeRequest turns
// them back into the ids, failing the test if they are not hex.
func decodeRequest(t testing.TB, body []byte) *coltrace.ExportTraceServiceRequest {
	t.Helper()
	var req coltrace.ExportTraceServiceRequest
	require.NoError(t, protojson.UnmarshalOptions{DiscardUnknown: false}.Unmarshal(body, &req), "%s", body)
	id := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		h, err := hex.DecodeString(base64.StdEncoding.EncodeToString(b))
		require.NoError(t, err, "an id is hex")
		return h
	}
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				s.TraceId, s.SpanId, s.ParentSpanId = id(s.TraceId), id(s.SpanId), id(s.ParentSpanId)
				for _, l := range s.Links {
					l.TraceId, l.SpanId = id(l.TraceId), id(l.SpanId)
				}
			}
		}
	}
	return &req
}

// roundTripFunc is an [http.RoundTripper] made of a function, a collector
// without a network for tests in a synctest bubble.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// answer returns a response of status code with header key=value pairs
// and body.
func answer(code int, body string, header ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &http.Response{
		StatusCode: code, Status: strconv.Itoa(code) + " " + http.StatusText(code), Header: h,
		Body: io.NopCloser(strings.NewReader(body)),
	}
}

// fakeClient returns a client whose requests are answered by f.
func fakeClient(f roundTripFunc) *http.Client { return &http.Client{Transport: f} }

// stubSpans returns one small span, for tests about the transport.
func stubSpans() []sdktrace.ReadOnlySpan {
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}})
	return tracetest.SpanStubs{{Name: "build", SpanContext: sc, StartTime: time.Unix(1, 0), EndTime: time.Unix(2, 0)}}.Snapshots()
}

func TestExporterEncoding(t *testing.T) {
	t.Parallel()
	tid := trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c}
	sid := trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31}
	pid := trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}
	lid := trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}
	ts, err := trace.ParseTraceState("vendor=opaque")
	require.NoError(t, err)
	start := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	odd := "quote\" back\\ nl\n tab\t bell\x07 del\x7f sep\u2028 é 😀 bad\xffbyte"
	stub := tracetest.SpanStub{
		Name:        "package api",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts}),
		Parent:      trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: pid, Remote: true}),
		SpanKind:    trace.SpanKindServer,
		StartTime:   start,
		EndTime:     start.Add(1500 * time.Millisecond),
		Attributes: []attribute.KeyValue{
			attribute.String("s", odd),
			attribute.Int64("min", math.MinInt64),
			attribute.Int64("max", math.MaxInt64),
			attribute.Float64("f", 1.5),
			attribute.Float64("big", 1e300),
			attribute.Float64("nan", math.NaN()),
			attribute.Float64("inf", math.Inf(1)),
			attribute.Float64("-inf", math.Inf(-1)),
			attribute.Bool("b", true),
			attribute.BoolSlice("bs", []bool{true, false}),
			attribute.Int64Slice("is", []int64{-1, 1 << 60}),
			attribute.Float64Slice("fs", []float64{0.25, math.NaN()}),
			attribute.StringSlice("ss", []string{"x", ""}),
			attribute.StringSlice("none", nil),
			attribute.ByteSlice("bytes", []byte{0, 0xff, 'a'}),
			attribute.Slice("mixed", attribute.StringValue("one"), attribute.IntValue(2)),
			attribute.Map("map", attribute.String("k", "v"), attribute.Map("inner", attribute.Bool("deep", false))),
			{Key: "empty"},
		},
		Events: []sdktrace.Event{{
			Name: "running", Time: start.Add(time.Millisecond), DroppedAttributeCount: 2,
			Attributes: []attribute.KeyValue{attribute.String("slot", "3")},
		}},
		Links: []sdktrace.Link{{
			SpanContext:           trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: lid, TraceState: ts, Remote: true}),
			Attributes:            []attribute.KeyValue{attribute.Int("n", 7)},
			DroppedAttributeCount: 1,
		}},
		Status:            sdktrace.Status{Code: codes.Error, Description: "exit status 3"},
		DroppedAttributes: 4,
		DroppedEvents:     5,
		DroppedLinks:      6,
		Resource:          resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0", attribute.String("service.name", "buildnetd")),
		InstrumentationScope: instrumentation.Scope{
			Name: "github.com/musclemap/buildnet/cmd/buildnetd", Version: "1.2.3", SchemaURL: "https://example.com/scope",
			Attributes: attribute.NewSet(attribute.String("scope.attr", "x")),
		},
	}
	// A root span of another resource, with the fewest fields.
	root := tracetest.SpanStub{
		Name:        "build",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: pid}),
		StartTime:   start,
		EndTime:     start.Add(2 * time.Second),
		Status:      sdktrace.Status{Code: codes.Ok},
		Resource:    resource.NewSchemaless(attribute.String("service.name", "other")),
	}

	var body []byte
	exp, err := tracing.NewExporter("http://collector.invalid/v1/traces", tracing.ExporterOptions{
		Client: fakeClient(func(r *http.Request) (*http.Response, error) {
			body, _ = io.ReadAll(r.Body)
			return answer(http.StatusOK, ""), nil
		}),
	})
	require.NoError(t, err)
	require.NoError(t, exp.ExportSpans(t.Context(), tracetest.SpanStubs{stub, root}.Snapshots()))

	str := func(s string) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
	}
	i64 := func(n int64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: n}}
	}
	dbl := func(f float64) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
	}
	boo := func(b bool) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
	}
	arr := func(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
	}
	kv := func(k string, v *commonpb.AnyValue) *commonpb.KeyValue { return &commonpb.KeyValue{Key: k, Value: v} }
	kvlist := func(kvs ...*commonpb.KeyValue) *commonpb.AnyValue {
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: kvs}}}
	}
	nanos := func(t time.Time) uint64 { return uint64(t.UnixNano()) }
	want := &coltrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{
			Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", str("buildnetd"))}},
			SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
			ScopeSpans: []*tracepb.ScopeSpans{{
				Scope: &commonpb.InstrumentationScope{
					Name: "github.com/musclemap/buildnet/cmd/buildnetd", Version: "1.2.3",
					Attributes: []*commonpb.KeyValue{kv("scope.attr", str("x"))},
				},
				SchemaUrl: "https://example.com/scope",
				Spans: []*tracepb.Span{{
					TraceId: tid[:], SpanId: sid[:], ParentSpanId: pid[:], TraceState: "vendor=opaque",
					Flags: 0x301, // sampled, parent's remoteness known, and remote
					Name:  "package api", Kind: tracepb.Span_SPAN_KIND_SERVER,
					StartTimeUnixNano: nanos(start), EndTimeUnixNano: nanos(start.Add(1500 * time.Millisecond)),
					Attributes: []*commonpb.KeyValue{
						kv("s", str(strings.ToValidUTF8(odd, "\ufffd"))),
						kv("min", i64(math.MinInt64)),
						kv("max", i64(math.MaxInt64)),
						kv("f", dbl(1.5)),
						kv("big", dbl(1e300)),
						kv("nan", dbl(math.NaN())),
						kv("inf", dbl(math.Inf(1))),
						kv("-inf", dbl(math.Inf(-1))),
						kv("b", boo(true)),
						kv("bs", arr(boo(true), boo(false))),
						kv("is", arr(i64(-1), i64(1<<60))),
						kv("fs", arr(dbl(0.25), dbl(math.NaN()))),
						kv("ss", arr(str("x"), str(""))),
						kv("none", arr()),
						kv("bytes", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 0xff, 'a'}}}),
						kv("mixed", arr(str("one"), i64(2))),
						kv("map", kvlist(kv("inner", kvlist(kv("deep", boo(false)))), kv("k", str("v")))),
						kv("empty", &commonpb.AnyValue{}),
					},
					DroppedAttributesCount: 4,
					Events: []*tracepb.Span_Event{{
						TimeUnixNano: nanos(start.Add(time.Millisecond)), Name: "running",
						Attributes: []*commonpb.KeyValue{kv("slot", str("3"))}, DroppedAttributesCount: 2,
					}},
					DroppedEventsCount: 5,
					Links: []*tracepb.Span_Link{{
						TraceId: tid[:], SpanId: lid[:], TraceState: "vendor=opaque", Flags: 0x300,
						Attributes: []*commonpb.KeyValue{kv("n", i64(7))}, DroppedAttributesCount: 1,
					}},
					DroppedLinksCount: 6,
					Status:            &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "exit status 3"},
				}},
			}},
		},
		{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", str("other"))}},
			ScopeSpans: []*tracepb.ScopeSpans{{
				Scope: &commonpb.InstrumentationScope{},
				Spans: []*tracepb.Span{{
					TraceId: tid[:], SpanId: pid[:], Flags: 0x100, Name: "build",
					StartTimeUnixNano: nanos(start), EndTimeUnixNano: nanos(start.Add(2 * time.Second)),
					Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
				}},
			}},
		},
	}}
	got := decodeRequest(t, body)
	assert.True(t, proto.Equal(want, got), "got:\n%s\nwant:\n%s", protojson.Format(got), protojson.Format(want))
	assert.Contains(t, string(body), `"traceId":"0af7651916cd43dd8448eb211c80319c"`, "ids are lowercase hex")
	assert.Contains(t, string(body), `"kind":2`, "enums are integers")
	assert.Contains(t, string(body), `"intValue":"-9223372036854775808"`, "64-bit integers are strings")
}

// FuzzExporterStrings checks that any string, as a span name, attribute
// key and value, reaches the collector as itself, its invalid UTF-8
// replaced.
func FuzzExporterStrings(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\r\t\x00\x1f\x7f", "\u2028\u2029", "é😀", "\xff\xfe", "a\xc3", "\xed\xa0\x80"} {
		f.Add(s)
	}
	var body []byte
	exp, err := tracing.NewExporter("http://collector.invalid/", tracing.ExporterOptions{
		Client: fakeClient(func(r *http.Request) (*http.Response, error) {
			body, _ = io.ReadAll(r.Body)
			return answer(http.StatusOK, ""), nil
		}),
	})
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, s string) {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}})
		spans := tracetest.SpanStubs{{Name: s, SpanContext: sc, Attributes: []attribute.KeyValue{attribute.String(s, s)}}}.Snapshots()
		require.NoError(t, exp.ExportSpans(t.Context(), spans))
		got := decodeRequest(t, body).ResourceSpans[0].ScopeSpans[0].Spans[0]
		want := string([]rune(s)) // each invalid byte becomes U+FFFD
		assert.Equal(t, want, got.Name)
		require.Len(t, got.Attributes, 1)
		assert.Equal(t, want, got.Attributes[0].Key)
		assert.Equal(t, want, got.Attributes[0].Value.GetStringValue())
	})
}

// collector is a fake OTLP/HTTP collector answering with the statuses
// given, then 200.
type collector struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	bodies  [][]byte
	headers []http.Header
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bodies, c.headers = append(c.bodies, body), append(c.headers, r.Header.Clone())
	if len(c.answers) > 0 {
		a := c.answers[0]
		c.answers = c.answers[1:]
		a(w)
	}
}

func (c *collector) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.bodies)
}

func status(code int, body string, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func TestExporterRetries(t *testing.T) {
	t.Parallel()
	c := &collector{answers: []func(http.ResponseWriter){
		status(http.StatusServiceUnavailable, "starting"),
		status(http.StatusBadGateway, ""),
		status(http.StatusTooManyRequests, "slow down", "Retry-After", "0"),
		status(http.StatusGatewayTimeout, ""),
	}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	exp, err := tracing.NewExporter(srv.URL+"/v1/traces", tracing.ExporterOptions{InitialBackoff: time.Millisecond})
	require.NoError(t, err)
	defer exp.Shutdown(t.Context())

	require.NoError(t, exp.ExportSpans(t.Context(), stubSpans()))
	require.Equal(t, 5, c.requests(), "four refusals, then a success")
	for _, b := range c.bodies[1:] {
		assert.Equal(t, c.bodies[0], b, "each attempt sends the same spans")
	}
	assert.Equal(t, "application/json", c.headers[0].Get("Content-Type"))
}

func TestExporterRetriesTransportErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		exp, err := tracing.NewExporter("http://collector.invalid/", tracing.ExporterOptions{
			Client: fakeClient(func(r *http.Request) (*http.Response, error) {
				calls++
				if calls == 1 {
					return nil, errors.New("connection refused")
				}
				return answer(http.StatusOK, ""), nil
			}),
		})
		require.NoError(t, err)
		require.NoError(t, exp.ExportSpans(t.Context(), stubSpans()))
		assert.Equal(t, 2, calls)
	})
}

func TestExporterRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		retryAfter func() string
		wait       time.Duration // before the second attempt; 0 means the backoff
		fail       string        // the error when it gives up instead
	}{
		{name: "seconds", retryAfter: func() string { return "7" }, wait: 7 * time.Second},
		{name: "date", retryAfter: func() string { return time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat) }, wait: 5 * time.Second},
		{name: "zero", retryAfter: func() string { return "0" }},
		{name: "past the retry budget", retryAfter: func() string { return "86400" }, fail: "gave up after attempt 1: collector answered 429 Too Many Requests: busy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var at []time.Time
				exp, err := tracing.NewExporter("http://collector.invalid/", tracing.ExporterOptions{
					InitialBackoff: time.Millisecond, MaxElapsed: time.Hour,
					Client: fakeClient(func(r *http.Request) (*http.Response, error) {
						at = append(at, time.Now())
						if len(at) == 1 {
							return answer(http.StatusTooManyRequests, "busy", "Retry-After", tt.retryAfter()), nil
						}
						return answer(http.StatusOK, ""), nil
					}),
				})
				require.NoError(t, err)
				start := time.Now()
				err = exp.ExportSpans(t.Context(), stubSpans())
				if tt.fail != "" {
					require.ErrorContains(t, err, tt.fail)
					assert.Len(t, at, 1)
					assert.Zero(t, time.Since(start), "gives up without waiting")
					return
				}
				require.NoError(t, err)
				require.Len(t, at, 2)
				if tt.wait == 0 {
					assert.LessOrEqual(t, at[1].Sub(at[0]), time.Millisecond, "the backoff, which Retry-After does not shorten")
					return
				}
				assert.Equal(t, tt.wait, at[1].Sub(at[0]))
			})
		})
	}
}

func TestExporterTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var attempts []time.Duration
		exp, err := tracing.NewExporter("http://collector.invalid/", tracing.ExporterOptions{
			MaxElapsed: 15 * time.Second,
			Client: fakeClient(func(r *http.Request) (*http.Response, error) {
				// A collector that never answers.
				start := time.Now()
				<-r.Context().Done()
				attempts = append(attempts, time.Since(start))
				return nil, r.Context().Err()
			}),
		})
		require.NoError(t, err)
		start := time.Now()
		err = exp.ExportSpans(t.Context(), stubSpans())
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorContains(t, err, "gave up after attempt 2")
		require.Len(t, attempts, 2)
		assert.Equal(t, tracing.DefaultTimeout, attempts[0], "an attempt lasts at most the timeout")
		assert.Equal(t, 15*time.Second, time.Since(start), "nor outlasts the retry budget")
	})
}

func TestExporterPermanentError(t *testing.T) {
	t.Parallel()
	c := &collector{answers: []func(http.ResponseWriter){
		status(http.StatusBadRequest, "bad span: traceId is not hex\n"+strings.Repeat("x", 4096)),
	}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	exp, err := tracing.NewExporter(srv.URL+"/v1/traces?token=secret", tracing.ExporterOptions{InitialBackoff: time.Millisecond})
	require.NoError(t, err)
	defer exp.Shutdown(t.Context())

	err = exp.ExportSpans(t.Context(), stubSpans())
	require.Error(t, err)
	assert.Equal(t, 1, c.requests(), "a refusal other than 429, 502, 503 and 504 is final")
	herr, ok := errors.AsType[*tracing.HTTPError](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, http.StatusBadRequest, herr.StatusCode)
	assert.Contains(t, err.Error(), "export 1 spans to "+srv.URL+"/v1/traces: collector answered 400 Bad Request: bad span: traceId is not hex")
	assert.NotContains(t, err.Error(), "secret", "the query may hold a token")
	assert.Less(t, len(herr.Body), 600, "only the start of the answer is kept")
}

func TestExporterPartialSuccess(t *testing.T) {
	t.Parallel()
	c := &collector{answers: []func(http.ResponseWriter){
		status(http.StatusOK, `{"partialSuccess":{"rejectedSpans":"1","errorMessage":"span too old"}}`, "Content-Type", "application/json"),
		status(http.StatusOK, `{"partialSuccess":{}}`, "Content-Type", "application/json"),
		status(http.StatusOK, "\x0a\x00", "Content-Type", "application/x-protobuf"),
	}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	exp, err := tracing.NewExporter(srv.URL, tracing.ExporterOptions{})
	require.NoError(t, err)
	defer exp.Shutdown(t.Context())
	assert.ErrorContains(t, exp.ExportSpans(t.Context(), stubSpans()), "collector rejected 1 spans: span too old")
	assert.NoError(t, exp.ExportSpans(t.Context(), stubSpans()))
	assert.NoError(t, exp.ExportSpans(t.Context(), stubSpans()))
	assert.Equal(t, 3, c.requests(), "a partial success is not retried")
}

func TestExporterShutdown(t *testing.T) {
	t.Parallel()
	c := &collector{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	exp, err := tracing.NewExporter(srv.URL, tracing.ExporterOptions{})
	require.NoError(t, err)
	require.NoError(t, exp.ExportSpans(t.Context(), stubSpans()))
	require.NoError(t, exp.Shutdown(t.Context()))
	require.NoError(t, exp.Shutdown(t.Context()), "shutting down twice is fine")
	assert.ErrorIs(t, exp.ExportSpans(t.Context(), stubSpans()), tracing.ErrShutdown)
	assert.Equal(t, 1, c.requests(), "nothing is posted after shutdown")
}

func TestExporterShutdownEndsRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		exp, err := tracing.NewExporter("http://collector.invalid/", tracing.ExporterOptions{
			Client: fakeClient(func(r *http.Request) (*http.Response, error) {
				return answer(http.StatusServiceUnavailable, ""), nil
			}),
		})
		require.NoError(t, err)
		done := make(chan error)
		go func() { done <- exp.ExportSpans(context.Background(), stubSpans()) }()
		synctest.Wait() // waiting to retry
		require.NoError(t, exp.Shutdown(t.Context()))
		err = <-done
		assert.ErrorIs(t, err, tracing.ErrShutdown)
		assert.ErrorContains(t, err, "attempt 1: collector answered 503 Service Unavailable")
	})
}

func TestExporterGzip(t *testing.T) {
	t.Parallel()
	var got []byte
	exp, err := tracing.NewExporter("http://collector.invalid/", tracing.ExporterOptions{
		Gzip: true,
		Client: fakeClient(func(r *http.Request) (*http.Response, error) {
			if r.Header.Get("Content-Encoding") != "gzip" {
				return answer(http.StatusUnsupportedMediaType, "want gzip"), nil
			}
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				return answer(http.StatusBadRequest, err.Error()), nil
			}
			got, _ = io.ReadAll(zr)
			return answer(http.StatusOK, ""), nil
		}),
	})
	require.NoError(t, err)
	require.NoError(t, exp.ExportSpans(t.Context(), stubSpans()))
	assert.Equal(t, "build", decodeRequest(t, got).ResourceSpans[0].ScopeSpans[0].Spans[0].Name)
}

func TestNewExporterRefusesBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "localhost:4318", "ftp://host/", "http:///v1/traces"} {
		_, err := tracing.NewExporter(u, tracing.ExporterOptions{})
		assert.ErrorContains(t, err, "want an http or https URL", "%q", u)
	}
}
