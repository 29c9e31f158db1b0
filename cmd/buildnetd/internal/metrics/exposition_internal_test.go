package metrics

import (
	"net/http"
	"strings"
	"testing"

	vm "github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kv   []string
		want string
	}{
		{"no labels", nil, `m`},
		{"plain", []string{"a", "x", "b", "y"}, `m{a="x",b="y"}`},
		{"empty value", []string{"a", ""}, `m{a=""}`},
		{"quote", []string{"a", `say "hi"`}, `m{a="say \"hi\""}`},
		{"backslash", []string{"a", `C:\dir\`}, `m{a="C:\\dir\\"}`},
		{"newline", []string{"a", "two\nlines"}, `m{a="two\nlines"}`},
		{"escapes already written", []string{"a", `\n\"`}, `m{a="\\n\\\""}`},
		{"braces and commas stay", []string{"a", `GET /b/{id},x="y"`}, `m{a="GET /b/{id},x=\"y\""}`},
		{"tab and return stay", []string{"a", "t\tr\r"}, "m{a=\"t\tr\r\"}"},
		{"unicode stays", []string{"a", "ünï ✓"}, `m{a="ünï ✓"}`},
		{"not UTF-8", []string{"a", "x\xff\xfey"}, `m{a="x` + "\uFFFD" + `y"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := series("m", tt.kv...)
			assert.Equal(t, tt.want, got)
			assert.NoError(t, vm.ValidateMetric(got), "the library accepts it as a name")
		})
	}
}

// FuzzSeries checks that any label value survives the exposition: the
// metrics library accepts the series name, and the Prometheus text parser
// reads the value back (made valid UTF-8).
func FuzzSeries(f *testing.F) {
	for _, s := range []string{"", "plain", `"`, `\`, "\n", `\"\n`, "}{", `a="b"`, "\xff", "ü\x80", " # x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		name := series("buildnet_test_total", "l", v)
		require.NoError(t, vm.ValidateMetric(name))
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(strings.NewReader(name + " 1\n"))
		require.NoError(t, err, "%s", name)
		ms := fams["buildnet_test_total"].GetMetric()
		require.Len(t, ms, 1)
		require.Len(t, ms[0].GetLabel(), 1)
		assert.Equal(t, strings.ToValidUTF8(v, "\uFFFD"), ms[0].GetLabel()[0].GetValue())
	})
}

func TestFamilies(t *testing.T) {
	t.Parallel()
	for name, f := range families {
		assert.True(t, strings.HasPrefix(name, Namespace+"_"), name)
		assert.NotEmpty(t, f.help, name)
		assert.NotContains(t, f.help, `\`, "%s: HELP would need escaping", name)
		assert.NotContains(t, f.help, "\n", "%s: HELP would need escaping", name)
		assert.Contains(t, []string{"counter", "gauge", "histogram"}, f.typ, name)
	}
	assert.Equal(t, famBuildDuration, familyOf(famBuildDuration+"_bucket"))
	assert.Equal(t, famBuildDuration, familyOf(famBuildDuration+"_count"))
	assert.Equal(t, famRequests, familyOf(famRequests))
	assert.Equal(t, "buildnet_builds_total_count", familyOf("buildnet_builds_total_count"), "a counter has no _count samples")
}

func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"gzip"}, true},
		{[]string{"GZIP"}, true},
		{[]string{"identity"}, false},
		{[]string{"gzip, deflate, br"}, true},
		{[]string{"br", "gzip;q=0.5"}, true},
		{[]string{"gzip; q=0"}, false},
		{[]string{"gzip;q=0.0, identity"}, false},
		{[]string{"x-gzip"}, false},
		{[]string{"gzip;q=nonsense"}, false},
	}
	for _, tt := range tests {
		h := http.Header{"Accept-Encoding": tt.accept}
		assert.Equal(t, tt.want, acceptsGzip(h), "%q", tt.accept)
	}
}
