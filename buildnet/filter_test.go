package buildnet_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/graph"
)

func timeIn(t *testing.T, sec int) time.Time {
	t.Helper()
	return time.Now().Add(time.Duration(sec) * time.Second)
}

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in   string
		want buildnet.Filter
		err  string
	}{
		{in: "api", want: buildnet.Filter{Name: "api"}},
		{in: "api...", want: buildnet.Filter{Name: "api", Dependencies: true}},
		{in: "api^...", want: buildnet.Filter{Name: "api", Dependencies: true, ExcludeSelf: true}},
		{in: "...shared", want: buildnet.Filter{Name: "shared", Dependents: true}},
		{in: "...^shared", want: buildnet.Filter{Name: "shared", Dependents: true, ExcludeSelf: true}},
		{in: "...shared...", want: buildnet.Filter{Name: "shared", Dependents: true, Dependencies: true}},
		{in: "!docs", want: buildnet.Filter{Name: "docs", Exclude: true}},
		{in: "@acme/*", want: buildnet.Filter{Name: "@acme/*"}},
		{in: "./apps/*", want: buildnet.Filter{Dir: "apps/*"}},
		{in: "{./packages/ui}", want: buildnet.Filter{Dir: "packages/ui"}},
		{in: "", err: "names no package"},
		{in: "...", err: "names no package"},
		{in: "...^a^...", err: "one side only"},
		{in: "[main]", err: "--affected"},
		{in: "./../x", err: "outside the workspace"},
		{in: "a{b", err: "unexpected character"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := buildnet.ParseFilter(tt.in)
			if tt.err != "" {
				require.ErrorIs(t, err, buildnet.ErrBadFilter)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			again, err := buildnet.ParseFilter(got.String())
			require.NoError(t, err, got.String())
			assert.Equal(t, got, again, "String round-trips")
		})
	}
}

func TestSelectFilters(t *testing.T) {
	ws := &buildnet.Workspace{Packages: []buildnet.Package{
		{Name: "a", Path: "libs/a"}, {Name: "b", Path: "libs/b", Dependencies: []string{"a"}},
		{Name: "c", Path: "apps/c", Dependencies: []string{"b"}}, {Name: "d", Path: "apps/d"},
	}}
	nodes := []graph.Node{}
	for _, p := range ws.Packages {
		nodes = append(nodes, graph.Node{Name: p.Name, Deps: p.Dependencies})
	}
	g, err := graph.New(nodes)
	require.NoError(t, err)
	for in, want := range map[string][]string{
		"b":              {"b"},
		"b...":           {"a", "b"},
		"b^...":          {"a"},
		"...b":           {"b", "c"},
		"...^b":          {"c"},
		"./apps/*":       {"c", "d"},
		"{./libs}":       {"a", "b"},
		"!d":             {"a", "b", "c"},
		"./apps/*,!d":    {"c"},
		"...a...,!...^b": {"a", "b"},
	} {
		got, err := buildnet.SelectFilters(ws, g, splitComma(in))
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err = buildnet.SelectFilters(ws, g, []string{"bb"})
	assert.ErrorIs(t, err, buildnet.ErrUnknownPackage)
	assert.Contains(t, err.Error(), `filter "bb" matches no package`)
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"api", "...api", "api...", "...^api...", "!./apps/*", "{./x}", "@s/*", "[main]", "!...^"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := buildnet.ParseFilter(s)
		if err != nil {
			require.ErrorIs(t, err, buildnet.ErrBadFilter)
			return
		}
		again, err := buildnet.ParseFilter(got.String())
		require.NoError(t, err, "%q rendered as %q", s, got.String())
		require.Equal(t, got, again)
	})
}
