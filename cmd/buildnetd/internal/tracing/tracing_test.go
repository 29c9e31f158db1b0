package tracing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/tracing"
)

const buildCmd = `if [ -f ../../.fail/$BUILDNET_PACKAGE ]; then echo boom >&2; exit 3; fi; mkdir -p dist && cat src/* > dist/out.txt`

// openEngine opens an engine on a monorepo of base <- api, base <- web
// and docs, in which the packages listed in failing fail.
func openEngine(t *testing.T, failing ...string) *buildnet.Engine {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	ws := buildnet.Workspace{Packages: []buildnet.Package{
		{Name: "base", Path: "pkgs/base", BuildCmd: buildCmd},
		{Name: "api", Path: "pkgs/api", BuildCmd: buildCmd, Dependencies: []string{"base"}},
		{Name: "web", Path: "pkgs/web", BuildCmd: buildCmd, Dependencies: []string{"base"}},
		{Name: "docs", Path: "pkgs/docs", BuildCmd: buildCmd},
	}}
	for _, p := range ws.Packages {
		write(p.Path+"/src/main.txt", p.Name)
	}
	for _, f := range failing {
		write(".fail/"+f, "")
	}
	data, err := json.Marshal(ws)
	require.NoError(t, err)
	write(buildnet.ConfigFile, string(data))
	e, err := buildnet.Open(t.Context(), buildnet.Config{Root: root, Env: []string{"PATH=" + os.Getenv("PATH")}})
	require.NoError(t, err)
	t.Cleanup(func() { e.Close() })
	return e
}

// trace runs one build of e under a tracer and returns the spans ended.
func traceBuild(t *testing.T, e *buildnet.Engine) (*buildnet.BuildResult, []sdktrace.ReadOnlySpan) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := tracing.New(tp, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = tr.Run(ctx, e) })
	// Run subscribes asynchronously: wait until it sees events.
	require.Eventually(t, func() bool {
		e.Publish(buildnet.Event{Type: buildnet.EventBuildStart, BuildID: "probe"})
		return tr.Open() > 0
	}, 10*time.Second, 5*time.Millisecond)
	e.Publish(buildnet.Event{Type: buildnet.EventBuildComplete, BuildID: "probe"})
	require.Eventually(t, func() bool { return tr.Open() == 0 }, 10*time.Second, time.Millisecond)
	rec.Reset()
	res, err := e.Build(t.Context(), buildnet.Request{Requester: "tester"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return tr.Open() == 0 && len(rec.Ended()) == 5 }, 10*time.Second, 2*time.Millisecond)
	cancel()
	wg.Wait()
	return res, rec.Ended()
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestSpanTree(t *testing.T) {
	t.Parallel()
	e := openEngine(t)
	res, spans := traceBuild(t, e)
	require.Equal(t, buildnet.StatusSuccess, res.Status)

	var root sdktrace.ReadOnlySpan
	children := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		if s.Name() == "build" {
			root = s
		} else {
			children[s.Name()] = s
		}
	}
	require.NotNil(t, root)
	assert.False(t, root.Parent().IsValid(), "the build span is a root")
	a := attrs(root)
	assert.Equal(t, res.ID, a[tracing.KeyBuildID].AsString())
	assert.Equal(t, "tester", a[tracing.KeyRequester].AsString())
	assert.Equal(t, "success", a[tracing.KeyStatus].AsString())
	assert.Equal(t, []string{"base", "api", "docs", "web"}, sortedLike(a[tracing.KeyPackages].AsStringSlice(), res))
	assert.Equal(t, int64(4), a["buildnet.tier.full_build"].AsInt64())
	assert.Equal(t, codes.Unset, root.Status().Code)

	require.Len(t, children, 4)
	byName := map[string]buildnet.PackageResult{}
	for _, p := range res.Packages {
		byName[p.Name] = p
	}
	for name, s := range children {
		p := byName[name[len("package "):]]
		assert.Equal(t, root.SpanContext().TraceID(), s.SpanContext().TraceID(), name)
		assert.Equal(t, root.SpanContext().SpanID(), s.Parent().SpanID(), "%s is a child of the build", name)
		a := attrs(s)
		assert.Equal(t, p.Name, a[tracing.KeyPackage].AsString())
		assert.Equal(t, "full_build", a[tracing.KeyTier].AsString())
		assert.Equal(t, "success", a[tracing.KeyStatus].AsString())
		assert.Equal(t, p.Digest, a[tracing.KeyDigest].AsString())
		assert.Len(t, a[tracing.KeyDigest].AsString(), 64)
		assert.Equal(t, p.DurationMs, a[tracing.KeyDurationMs].AsInt64())
		assert.False(t, s.StartTime().Before(root.StartTime()), "%s starts inside the build", name)
		assert.False(t, s.EndTime().After(root.EndTime()), "%s ends inside the build", name)
		assert.False(t, s.EndTime().Before(s.StartTime()))
		require.Len(t, s.Events(), 1, "the moment the command got a slot")
		assert.Equal(t, "running", s.Events()[0].Name)
	}
	// base ran before the packages depending on it.
	assert.False(t, children["package api"].StartTime().Before(children["package base"].EndTime()))
}

// sortedLike returns names in the order of res.Packages, for comparison.
func sortedLike(names []string, res *buildnet.BuildResult) []string {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	var out []string
	for _, p := range res.Packages {
		if set[p.Name] {
			out = append(out, p.Name)
		}
	}
	if len(out) != len(names) {
		return names
	}
	return out
}

func TestFailedBuildSpans(t *testing.T) {
	t.Parallel()
	e := openEngine(t, "base")
	res, spans := traceBuild(t, e)
	require.Equal(t, buildnet.StatusFailed, res.Status)
	by := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		by[s.Name()] = s
	}
	assert.Equal(t, codes.Error, by["build"].Status().Code)
	assert.Equal(t, codes.Error, by["package base"].Status().Code)
	assert.Contains(t, by["package base"].Status().Description, "status 3")
	for _, name := range []string{"package api", "package web"} {
		s := by[name]
		require.NotNil(t, s, name)
		assert.Equal(t, "skipped", attrs(s)[tracing.KeyStatus].AsString())
		assert.Equal(t, "dependency base failed", attrs(s)[tracing.KeyError].AsString())
		assert.Equal(t, by["build"].SpanContext().SpanID(), s.Parent().SpanID())
	}
	assert.Equal(t, codes.Unset, by["package docs"].Status().Code)
}

func TestOTLPExport(t *testing.T) {
	t.Parallel()
	type request struct {
		path, contentType, auth, userAgent string
		body                               []byte
	}
	var (
		mu   sync.Mutex
		reqs []request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a POST of application/json", http.StatusUnsupportedMediaType)
			return
		}
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, request{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.Header.Get("User-Agent"), body})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	}))
	defer srv.Close()

	cfg := tracing.ConfigFromEnv(env{
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
		"OTEL_SERVICE_NAME":           "bn-test",
		"OTEL_EXPORTER_OTLP_HEADERS":  "authorization=Bearer%20t0k3n",
	}.get)
	tp, err := tracing.NewProvider(t.Context(), cfg, "9.9.9")
	require.NoError(t, err)
	tr := tracing.New(tp, nil)
	now := time.Now()
	ms := int64(40)
	for _, ev := range []buildnet.Event{
		{Type: buildnet.EventBuildStart, BuildID: "b1", Time: now, Packages: []string{"api", "web"}, Requester: "ci"},
		{Type: buildnet.EventPackageStart, BuildID: "b1", Package: "api", Time: now.Add(time.Millisecond)},
		{Type: buildnet.EventPackageComplete, BuildID: "b1", Package: "api", Time: now.Add(41 * time.Millisecond),
			Tier: buildnet.TierFullBuild, Status: buildnet.StatusSuccess, DurationMs: &ms, Digest: "ab12"},
		{Type: buildnet.EventPackageStart, BuildID: "b1", Package: "web", Time: now.Add(41 * time.Millisecond)},
		{Type: buildnet.EventPackageComplete, BuildID: "b1", Package: "web", Time: now.Add(50 * time.Millisecond),
			Tier: buildnet.TierFullBuild, Status: buildnet.StatusFailed, Error: "exit status 3"},
		{Type: buildnet.EventBuildComplete, BuildID: "b1", Time: now.Add(52 * time.Millisecond), Status: buildnet.StatusFailed},
	} {
		tr.Observe(ev)
	}
	require.NoError(t, tp.Shutdown(t.Context()), "shutdown flushes the batch")

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, reqs)
	spans := map[string]*tracepb.Span{}
	for _, r := range reqs {
		assert.Equal(t, "/v1/traces", r.path)
		assert.Equal(t, "Bearer t0k3n", r.auth, "OTEL_EXPORTER_OTLP_HEADERS are sent")
		assert.Equal(t, "buildnetd/9.9.9", r.userAgent)
		for _, rs := range decodeRequest(t, r.body).ResourceSpans {
			res := anyValues(rs.Resource.Attributes)
			assert.Equal(t, "bn-test", res["service.name"].GetStringValue())
			assert.Equal(t, "9.9.9", res["service.version"].GetStringValue())
			for _, ss := range rs.ScopeSpans {
				assert.Equal(t, "github.com/musclemap/buildnet/cmd/buildnetd", ss.Scope.GetName())
				for _, s := range ss.Spans {
					spans[s.Name] = s
				}
			}
		}
	}
	require.Len(t, spans, 3)
	build, api, web := spans["build"], spans["package api"], spans["package web"]
	require.NotNil(t, build)
	require.NotNil(t, api)
	require.NotNil(t, web)

	assert.Empty(t, build.ParentSpanId, "the build span is a root")
	assert.Len(t, build.TraceId, 16)
	assert.Len(t, build.SpanId, 8)
	for _, s := range []*tracepb.Span{api, web} {
		assert.Equal(t, build.TraceId, s.TraceId, s.Name)
		assert.Equal(t, build.SpanId, s.ParentSpanId, "%s is a child of the build", s.Name)
		assert.NotEqual(t, build.SpanId, s.SpanId)
		assert.Equal(t, tracepb.Span_SPAN_KIND_INTERNAL, s.Kind)
		assert.GreaterOrEqual(t, s.StartTimeUnixNano, build.StartTimeUnixNano, "%s starts inside the build", s.Name)
		assert.LessOrEqual(t, s.EndTimeUnixNano, build.EndTimeUnixNano, "%s ends inside the build", s.Name)
	}

	a := anyValues(build.Attributes)
	assert.Equal(t, "b1", a["buildnet.build.id"].GetStringValue())
	assert.Equal(t, "ci", a["buildnet.requester"].GetStringValue())
	assert.Equal(t, "failed", a["buildnet.status"].GetStringValue())
	var pkgs []string
	for _, v := range a["buildnet.packages"].GetArrayValue().GetValues() {
		pkgs = append(pkgs, v.GetStringValue())
	}
	assert.Equal(t, []string{"api", "web"}, pkgs)
	assert.Equal(t, tracepb.Status_STATUS_CODE_ERROR, build.Status.GetCode())
	assert.Equal(t, uint64(now.UnixNano()), build.StartTimeUnixNano)
	assert.Equal(t, uint64(now.Add(52*time.Millisecond).UnixNano()), build.EndTimeUnixNano)

	a = anyValues(api.Attributes)
	assert.Equal(t, "api", a["buildnet.package"].GetStringValue())
	assert.Equal(t, "full_build", a["buildnet.tier"].GetStringValue())
	assert.Equal(t, "ab12", a["buildnet.digest"].GetStringValue())
	assert.Equal(t, int64(40), a["buildnet.duration_ms"].GetIntValue())
	assert.Equal(t, tracepb.Status_STATUS_CODE_UNSET, api.Status.GetCode())
	assert.Equal(t, uint64(now.Add(time.Millisecond).UnixNano()), api.StartTimeUnixNano)
	assert.Equal(t, uint64(now.Add(41*time.Millisecond).UnixNano()), api.EndTimeUnixNano)

	a = anyValues(web.Attributes)
	assert.Equal(t, "failed", a["buildnet.status"].GetStringValue())
	assert.Equal(t, "exit status 3", a["buildnet.error"].GetStringValue())
	assert.Equal(t, tracepb.Status_STATUS_CODE_ERROR, web.Status.GetCode())
	assert.Equal(t, "exit status 3", web.Status.GetMessage())
}

// anyValues returns attributes by key.
func anyValues(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	cfg := tracing.ConfigFromEnv(env{
		"OTEL_EXPORTER_OTLP_ENDPOINT":           "http://a:4318",
		"OTEL_EXPORTER_OTLP_HEADERS":            "a=1",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS":     "b=2",
		"OTEL_EXPORTER_OTLP_TIMEOUT":            "500",
		"OTEL_EXPORTER_OTLP_COMPRESSION":        "gzip",
		"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none",
	}.get)
	assert.Equal(t, tracing.Config{OTLPEndpoint: "http://a:4318", Headers: "b=2", TimeoutMs: 500, Compression: "none"}, cfg,
		"the traces' variables win")
	_, err := tracing.NewProvider(t.Context(), cfg, "")
	require.NoError(t, err)

	tests := []struct {
		name string
		env  env
		err  string
	}{
		{"timeout", env{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "10s"}, `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="10s": want a number of milliseconds`},
		{"compression", env{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, `OTEL_EXPORTER_OTLP_COMPRESSION="zstd": want gzip or none`},
		{"header without value", env{"OTEL_EXPORTER_OTLP_HEADERS": "a=1,authorization"}, "tracing: headers: pair 2: want key=value"},
		{"bad header name", env{"OTEL_EXPORTER_OTLP_HEADERS": "bad name=s3cret"}, "tracing: headers: pair 1: want key=value"},
		{"bad escape", env{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=s3cret%zz"}, "tracing: headers: authorization: bad percent-encoding"},
		{"control character", env{"OTEL_EXPORTER_OTLP_HEADERS": "authorization=s3cret%0d%0aX: y"}, "tracing: headers: authorization: control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://a:4318"
			_, err := tracing.NewProvider(t.Context(), tracing.ConfigFromEnv(tt.env.get), "")
			require.ErrorContains(t, err, tt.err)
			assert.NotContains(t, err.Error(), "s3cret", "header values may be secrets")
		})
	}
}

func TestOffByDefault(t *testing.T) {
	t.Parallel()
	cfg := tracing.ConfigFromEnv(func(string) string { return "" })
	assert.False(t, cfg.Enabled())
	tp, err := tracing.NewProvider(t.Context(), cfg, "")
	require.NoError(t, err)
	assert.Nil(t, tp, "no endpoint, no provider")

	_, err = tracing.NewProvider(t.Context(), tracing.Config{OTLPEndpoint: "localhost:4318"}, "")
	assert.ErrorContains(t, err, "want an http or https URL")

	u, err := tracing.Config{OTLPEndpoint: "https://otel.example.com/custom/path"}.TracesURL()
	require.NoError(t, err)
	assert.Equal(t, "https://otel.example.com/custom/path", u)
	cfg = tracing.ConfigFromEnv(env{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://a:4318",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4318/v1/traces",
	}.get)
	assert.Equal(t, "http://b:4318/v1/traces", cfg.OTLPEndpoint)
}

func TestUnknownBuildsAreIgnored(t *testing.T) {
	t.Parallel()
	tr := tracing.New(noop.NewTracerProvider(), nil)
	ms := int64(1)
	tr.Observe(buildnet.Event{Type: buildnet.EventPackageComplete, BuildID: "nope", Package: "a", DurationMs: &ms})
	tr.Observe(buildnet.Event{Type: buildnet.EventBuildComplete, BuildID: "nope"})
	assert.Zero(t, tr.Open())
	for i := range tracing.MaxOpenBuilds + 5 {
		tr.Observe(buildnet.Event{Type: buildnet.EventBuildStart, BuildID: fmt.Sprint("b", i)})
	}
	assert.Equal(t, tracing.MaxOpenBuilds, tr.Open(), "open builds are bounded")
}

type env map[string]string

func (e env) get(k string) string { return e[k] }
