package graph_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/graph"
)

// monorepo is a small workspace:
//
//	web -> ui -> shared
//	web -> api -> shared
//	       api -> db
//	docs
func monorepo() []graph.Node {
	return []graph.Node{
		{Name: "web", Deps: []string{"ui", "api"}},
		{Name: "ui", Deps: []string{"shared"}},
		{Name: "api", Deps: []string{"shared", "db"}},
		{Name: "shared"},
		{Name: "db"},
		{Name: "docs"},
	}
}

func mustNew(t testing.TB, nodes []graph.Node) *graph.Graph {
	t.Helper()
	g, err := graph.New(nodes)
	require.NoError(t, err)
	return g
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		nodes []graph.Node
		is    error
		msg   string
		cycle []string
	}{
		{
			name:  "empty name",
			nodes: []graph.Node{{Name: "a"}, {Name: ""}},
			is:    graph.ErrEmptyName,
			msg:   "validate package at index 1: graph: empty package name",
		},
		{
			name:  "duplicate",
			nodes: []graph.Node{{Name: "a"}, {Name: "b"}, {Name: "a"}},
			is:    graph.ErrDuplicate,
			msg:   `duplicate package name "a"`,
		},
		{
			name:  "smallest duplicate reported",
			nodes: []graph.Node{{Name: "z"}, {Name: "m"}, {Name: "z"}, {Name: "m"}},
			is:    graph.ErrDuplicate,
			msg:   `duplicate package name "m"`,
		},
		{
			name:  "unknown dependency with suggestion",
			nodes: []graph.Node{{Name: "api", Deps: []string{"sharde"}}, {Name: "shared"}},
			is:    graph.ErrUnknownDependency,
			msg:   `package "api" depends on unknown package "sharde" (did you mean "shared"?)`,
		},
		{
			name: "unknown dependency with several suggestions",
			nodes: []graph.Node{
				{Name: "app", Deps: []string{"ui-kt"}},
				{Name: "ui-kit"}, {Name: "ui-lib"}, {Name: "ui-kits"}, {Name: "ui-kite"},
			},
			is:  graph.ErrUnknownDependency,
			msg: `package "app" depends on unknown package "ui-kt" (did you mean "ui-kit", "ui-kite" or "ui-kits"?)`,
		},
		{
			name:  "unknown dependency without suggestion",
			nodes: []graph.Node{{Name: "a", Deps: []string{"zzz"}}, {Name: "b"}},
			is:    graph.ErrUnknownDependency,
			msg:   `package "a" depends on unknown package "zzz"`,
		},
		{
			name:  "empty dependency name",
			nodes: []graph.Node{{Name: "a", Deps: []string{""}}},
			is:    graph.ErrUnknownDependency,
			msg:   `package "a" depends on unknown package ""`,
		},
		{
			name:  "self dependency",
			nodes: []graph.Node{{Name: "b"}, {Name: "a", Deps: []string{"b", "a"}}},
			is:    graph.ErrCycle,
			msg:   "dependency cycle: a -> a",
			cycle: []string{"a", "a"},
		},
		{
			name:  "cycle of two",
			nodes: []graph.Node{{Name: "b", Deps: []string{"a"}}, {Name: "a", Deps: []string{"b"}}},
			is:    graph.ErrCycle,
			msg:   "dependency cycle: a -> b -> a",
			cycle: []string{"a", "b", "a"},
		},
		{
			name: "cycle of three",
			nodes: []graph.Node{
				{Name: "b", Deps: []string{"c"}},
				{Name: "c", Deps: []string{"a"}},
				{Name: "a", Deps: []string{"b"}},
			},
			is:    graph.ErrCycle,
			msg:   "dependency cycle: a -> b -> c -> a",
			cycle: []string{"a", "b", "c", "a"},
		},
		{
			name: "cycle inside a larger graph",
			nodes: []graph.Node{
				{Name: "app", Deps: []string{"lib", "ui"}}, // depends on the cycle, is not on it
				{Name: "ui", Deps: []string{"core"}},
				{Name: "lib", Deps: []string{"core"}},
				{Name: "core", Deps: []string{"util"}},
				{Name: "util", Deps: []string{"lib", "base"}},
				{Name: "base"},
				{Name: "y", Deps: []string{"z"}},
				{Name: "z", Deps: []string{"y"}},
			},
			is:    graph.ErrCycle,
			msg:   "dependency cycle: core -> util -> lib -> core",
			cycle: []string{"core", "util", "lib", "core"},
		},
		{
			name: "shortest cycle through the smallest name",
			nodes: []graph.Node{
				{Name: "a", Deps: []string{"b", "c"}},
				{Name: "b", Deps: []string{"d"}},
				{Name: "c", Deps: []string{"a"}},
				{Name: "d", Deps: []string{"a"}},
			},
			is:    graph.ErrCycle,
			msg:   "dependency cycle: a -> c -> a",
			cycle: []string{"a", "c", "a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, err := graph.New(tt.nodes)
			require.Error(t, err)
			assert.Nil(t, g)
			assert.ErrorIs(t, err, tt.is)
			assert.EqualError(t, err, tt.msg)
			for _, other := range []error{graph.ErrCycle, graph.ErrDuplicate, graph.ErrUnknownDependency, graph.ErrUnknownPackage, graph.ErrEmptyName} {
				if other != tt.is {
					assert.NotErrorIs(t, err, other)
				}
			}
			if tt.cycle != nil {
				ce, ok := errors.AsType[*graph.CycleError](err)
				require.True(t, ok)
				assert.Equal(t, tt.cycle, ce.Path)
			}

			// The same error whatever the input order.
			rng := rand.New(rand.NewPCG(1, 2))
			for range 5 {
				shuffled := slices.Clone(tt.nodes)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				_, err2 := graph.New(shuffled)
				if tt.is != graph.ErrEmptyName { // its message names the input index
					assert.EqualError(t, err2, tt.msg)
				}
			}
		})
	}
}

func TestNewTypedErrorFields(t *testing.T) {
	t.Parallel()
	_, err := graph.New([]graph.Node{{Name: "api", Deps: []string{"sharde"}}, {Name: "shared"}})
	ude, ok := errors.AsType[*graph.UnknownDependencyError](err)
	require.True(t, ok)
	assert.Equal(t, "api", ude.Package)
	assert.Equal(t, "sharde", ude.Dependency)
	assert.Equal(t, []string{"shared"}, ude.Suggestions)

	_, err = graph.New([]graph.Node{{Name: "x"}, {Name: "x"}})
	de, ok := errors.AsType[*graph.DuplicateError](err)
	require.True(t, ok)
	assert.Equal(t, "x", de.Name)

	// Wrapped errors keep their identity.
	wrapped := fmt.Errorf("load config: %w", &graph.CycleError{Path: []string{"a", "a"}})
	assert.ErrorIs(t, wrapped, graph.ErrCycle)
	assert.EqualError(t, wrapped, "load config: dependency cycle: a -> a")
}

func TestNewEmptyGraph(t *testing.T) {
	t.Parallel()
	for _, nodes := range [][]graph.Node{nil, {}} {
		g := mustNew(t, nodes)
		assert.Equal(t, 0, g.Len())
		assert.Empty(t, g.Names())
		assert.Empty(t, g.Topo())
		assert.Empty(t, g.Levels())
		path, total := g.CriticalPath(nil)
		assert.Empty(t, path)
		assert.Zero(t, total)
		assert.Equal(t, "digraph buildnet {\n}\n", g.DOT())
		b, err := json.Marshal(g)
		require.NoError(t, err)
		assert.JSONEq(t, `{"nodes":[],"edges":[]}`, string(b))
	}
}

func TestNewDedupesDeps(t *testing.T) {
	t.Parallel()
	g := mustNew(t, []graph.Node{
		{Name: "a", Deps: []string{"c", "b", "c", "b", "c"}},
		{Name: "b"},
		{Name: "c"},
	})
	assert.Equal(t, []string{"b", "c"}, g.Deps("a"))
	assert.Equal(t, []string{"a"}, g.Dependents("c"))
	b, err := json.Marshal(g)
	require.NoError(t, err)
	assert.Equal(t, 2, strings.Count(string(b), `"from":"a"`))
}

func TestNewDoesNotAliasInput(t *testing.T) {
	t.Parallel()
	nodes := []graph.Node{{Name: "a", Deps: []string{"b"}}, {Name: "b"}}
	g := mustNew(t, nodes)
	nodes[0].Deps[0] = "zzz"
	nodes[1].Name = "zzz"
	assert.Equal(t, []string{"a", "b"}, g.Names())
	assert.Equal(t, []string{"b"}, g.Deps("a"))

	// Returned slices belong to the caller.
	deps := g.Deps("a")
	deps[0] = "mutated"
	topo := g.Topo()
	topo[0] = "mutated"
	assert.Equal(t, []string{"b"}, g.Deps("a"))
	assert.Equal(t, []string{"b", "a"}, g.Topo())
}

func TestQueries(t *testing.T) {
	t.Parallel()
	g := mustNew(t, monorepo())

	assert.Equal(t, 6, g.Len())
	assert.Equal(t, []string{"api", "db", "docs", "shared", "ui", "web"}, g.Names())
	assert.True(t, g.Has("api"))
	assert.False(t, g.Has("API"))
	assert.False(t, g.Has(""))

	assert.Equal(t, []string{"db", "shared"}, g.Deps("api"))
	assert.Equal(t, []string{"api", "ui"}, g.Deps("web"))
	assert.Empty(t, g.Deps("shared"))
	assert.NotNil(t, g.Deps("shared"))
	assert.Nil(t, g.Deps("nope"))
	assert.Equal(t, []string{"api", "ui"}, g.Dependents("shared"))
	assert.Empty(t, g.Dependents("web"))
	assert.Nil(t, g.Dependents("nope"))

	assert.Equal(t, []string{"db", "docs", "shared", "api", "ui", "web"}, g.Topo())
	assert.Equal(t, [][]string{{"db", "docs", "shared"}, {"api", "ui"}, {"web"}}, g.Levels())
	for name, want := range map[string]int{"db": 0, "docs": 0, "shared": 0, "api": 1, "ui": 1, "web": 2, "nope": -1} {
		assert.Equal(t, want, g.Level(name), name)
	}
}

func TestLevelIsLongestChain(t *testing.T) {
	t.Parallel()
	// d is reached from a both directly and through b -> c, so its level
	// follows the longer chain.
	g := mustNew(t, []graph.Node{
		{Name: "a"},
		{Name: "b", Deps: []string{"a"}},
		{Name: "c", Deps: []string{"b"}},
		{Name: "d", Deps: []string{"a", "c"}},
	})
	assert.Equal(t, [][]string{{"a"}, {"b"}, {"c"}, {"d"}}, g.Levels())
	assert.Equal(t, 3, g.Level("d"))
}

func TestClosureAndAffected(t *testing.T) {
	t.Parallel()
	g := mustNew(t, monorepo())
	tests := []struct {
		name     string
		query    func(...string) ([]string, error)
		args     []string
		want     []string
		wantErr  string
		wantSugg []string
	}{
		{name: "closure of a leaf", query: g.Closure, args: []string{"db"}, want: []string{"db"}},
		{name: "closure of api", query: g.Closure, args: []string{"api"}, want: []string{"db", "shared", "api"}},
		{name: "closure of web", query: g.Closure, args: []string{"web"}, want: []string{"db", "shared", "api", "ui", "web"}},
		{name: "closure of several", query: g.Closure, args: []string{"ui", "docs", "ui"}, want: []string{"docs", "shared", "ui"}},
		{name: "closure of nothing", query: g.Closure, args: nil, want: []string{}},
		{name: "closure unknown", query: g.Closure, args: []string{"api", "shard"}, wantErr: `unknown package "shard" (did you mean "shared"?)`, wantSugg: []string{"shared"}},
		{name: "closure unknown without suggestion", query: g.Closure, args: []string{"kubernetes"}, wantErr: `unknown package "kubernetes"`},
		{name: "affected by shared", query: g.Affected, args: []string{"shared"}, want: []string{"shared", "api", "ui", "web"}},
		{name: "affected by db", query: g.Affected, args: []string{"db"}, want: []string{"db", "api", "web"}},
		{name: "affected by a root", query: g.Affected, args: []string{"web"}, want: []string{"web"}},
		{name: "affected by several", query: g.Affected, args: []string{"docs", "ui"}, want: []string{"docs", "ui", "web"}},
		{name: "affected unknown", query: g.Affected, args: []string{"wbe"}, wantErr: `unknown package "wbe" (did you mean "web"?)`, wantSugg: []string{"web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.query(tt.args...)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Nil(t, got)
				assert.ErrorIs(t, err, graph.ErrUnknownPackage)
				assert.EqualError(t, err, tt.wantErr)
				upe, ok := errors.AsType[*graph.UnknownPackageError](err)
				require.True(t, ok)
				assert.Equal(t, tt.wantSugg, upe.Suggestions)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSubgraph(t *testing.T) {
	t.Parallel()
	g := mustNew(t, monorepo())

	sub, err := g.Subgraph("api")
	require.NoError(t, err)
	assert.Equal(t, []string{"api", "db", "shared"}, sub.Names())
	assert.Equal(t, []string{"db", "shared"}, sub.Deps("api"))
	assert.Equal(t, []string{"api"}, sub.Dependents("shared"), "ui is outside the subgraph")
	assert.False(t, sub.Has("ui"))
	assert.Equal(t, []string{"db", "shared", "api"}, sub.Topo())

	sub, err = g.Subgraph("ui", "db")
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"db", "shared"}, {"ui"}}, sub.Levels())

	sub, err = g.Subgraph()
	require.NoError(t, err)
	assert.Equal(t, 0, sub.Len())

	_, err = g.Subgraph("web", "nope")
	require.ErrorIs(t, err, graph.ErrUnknownPackage)
	assert.EqualError(t, err, `unknown package "nope"`)

	// The original graph is untouched.
	assert.Equal(t, []string{"api", "ui"}, g.Dependents("shared"))
}

func TestCriticalPath(t *testing.T) {
	t.Parallel()
	g := mustNew(t, monorepo())
	weights := func(m map[string]float64) func(string) float64 {
		return func(name string) float64 { return m[name] }
	}
	tests := []struct {
		name      string
		weight    func(string) float64
		wantPath  []string
		wantTotal float64
	}{
		{
			name:      "nil weight counts packages, ties to smallest names",
			weight:    nil,
			wantPath:  []string{"db", "api", "web"},
			wantTotal: 3,
		},
		{
			name:      "heaviest chain",
			weight:    weights(map[string]float64{"shared": 5, "ui": 9, "api": 2, "db": 1, "web": 1, "docs": 3}),
			wantPath:  []string{"shared", "ui", "web"},
			wantTotal: 15,
		},
		{
			name:      "a single heavy package",
			weight:    weights(map[string]float64{"shared": 5, "ui": 1, "api": 2, "db": 10, "web": 1, "docs": 100}),
			wantPath:  []string{"docs"},
			wantTotal: 100,
		},
		{
			name:      "negative and NaN count as zero",
			weight:    weights(map[string]float64{"shared": -50, "ui": 1, "api": 2, "db": math.NaN(), "web": 1, "docs": 2.5}),
			wantPath:  []string{"db", "api", "web"},
			wantTotal: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, total := g.CriticalPath(tt.weight)
			assert.Equal(t, tt.wantPath, path)
			assert.InDelta(t, tt.wantTotal, total, 1e-9)
		})
	}

	calls := map[string]int{}
	g.CriticalPath(func(name string) float64 { calls[name]++; return 1 })
	assert.Len(t, calls, g.Len())
	for name, n := range calls {
		assert.Equal(t, 1, n, "weight called more than once for %s", name)
	}
}

func TestSimilar(t *testing.T) {
	t.Parallel()
	g := mustNew(t, []graph.Node{
		{Name: "shared"}, {Name: "shared-utils"}, {Name: "api"}, {Name: "api-gateway"},
		{Name: "web"}, {Name: "ui"}, {Name: "db"},
	})
	tests := []struct {
		name  string
		limit int
		want  []string
	}{
		{name: "sharde", limit: 3, want: []string{"shared", "shared-utils"}},
		{name: "Shared", limit: 3, want: []string{"shared", "shared-utils"}},
		{name: "shared", limit: 3, want: []string{"shared-utils"}},
		{name: "apii", limit: 3, want: []string{"api", "api-gateway"}},
		{name: "apii", limit: 1, want: []string{"api"}},
		{name: "gateway", limit: 3, want: []string{"api-gateway"}},
		{name: "ux", limit: 3, want: []string{"ui"}},
		{name: "wbe", limit: 3, want: []string{"web"}},
		{name: "zzz", limit: 3, want: nil},
		{name: "", limit: 3, want: nil},
		{name: "sharde", limit: 0, want: nil},
		{name: "sharde", limit: -1, want: nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.name, tt.limit), func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, g.Similar(tt.name, tt.limit))
		})
	}
}

// small is a -> b, a -> c, b -> c and an isolated d.
func small(t testing.TB) *graph.Graph {
	t.Helper()
	return mustNew(t, []graph.Node{
		{Name: "d"},
		{Name: "b", Deps: []string{"c"}},
		{Name: "a", Deps: []string{"c", "b"}},
		{Name: "c"},
	})
}

func TestMarshalJSON(t *testing.T) {
	t.Parallel()
	const want = `{"nodes":[` +
		`{"name":"a","deps":["b","c"],"dependents":[],"level":2},` +
		`{"name":"b","deps":["c"],"dependents":["a"],"level":1},` +
		`{"name":"c","deps":[],"dependents":["a","b"],"level":0},` +
		`{"name":"d","deps":[],"dependents":[],"level":0}],` +
		`"edges":[{"from":"a","to":"b"},{"from":"a","to":"c"},{"from":"b","to":"c"}]}`
	g := small(t)
	b, err := g.MarshalJSON()
	require.NoError(t, err)
	assert.Equal(t, want, string(b))

	// Through encoding/json too, as a field of a larger document.
	b, err = json.Marshal(struct {
		Graph *graph.Graph `json:"graph"`
	}{g})
	require.NoError(t, err)
	assert.Equal(t, `{"graph":`+want+`}`, string(b))
}

func TestDOT(t *testing.T) {
	t.Parallel()
	const want = `digraph buildnet {
  "a";
  "b";
  "c";
  "d";
  "a" -> "b";
  "a" -> "c";
  "b" -> "c";
}
`
	assert.Equal(t, want, small(t).DOT())
}

func TestDOTEscapesNames(t *testing.T) {
	t.Parallel()
	g := mustNew(t, []graph.Node{
		{Name: `@scope/pkg`, Deps: []string{`we"ird`, `back\slash`}},
		{Name: `we"ird`},
		{Name: `back\slash`},
		{Name: "multi\nline"},
	})
	const want = `digraph buildnet {
  "@scope/pkg";
  "back\\slash";
  "multi\nline";
  "we\"ird";
  "@scope/pkg" -> "back\\slash";
  "@scope/pkg" -> "we\"ird";
}
`
	assert.Equal(t, want, g.DOT())
}

// randomDAG returns n nodes with random edges that always point to a node
// earlier in a random permutation, so the graph is acyclic, in random input
// order.
func randomDAG(rng *rand.Rand, n, maxDeps int) []graph.Node {
	perm := rng.Perm(n)
	names := make([]string, n)
	for i, p := range perm {
		names[i] = fmt.Sprintf("pkg-%04d", p)
	}
	nodes := make([]graph.Node, n)
	for i := range nodes {
		nodes[i].Name = names[i]
		if i == 0 {
			continue
		}
		for range rng.IntN(maxDeps + 1) {
			nodes[i].Deps = append(nodes[i].Deps, names[rng.IntN(i)])
		}
	}
	rng.Shuffle(n, func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	return nodes
}

// referenceTopo is a naive Kahn: repeatedly place the smallest name whose
// dependencies are all placed.
func referenceTopo(nodes []graph.Node) []string {
	deps := map[string][]string{}
	var names []string
	for _, nd := range nodes {
		names = append(names, nd.Name)
		deps[nd.Name] = nd.Deps
	}
	slices.Sort(names)
	placed := map[string]bool{}
	var out []string
	for len(out) < len(names) {
		for _, name := range names {
			if placed[name] {
				continue
			}
			ready := true
			for _, d := range deps[name] {
				ready = ready && placed[d]
			}
			if ready {
				placed[name] = true
				out = append(out, name)
				break
			}
		}
	}
	return out
}

func TestRandomDAGProperties(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(42, 7))
	nodes := randomDAG(rng, 500, 6)
	g := mustNew(t, nodes)
	require.Equal(t, 500, g.Len())

	topo := g.Topo()
	require.Len(t, topo, 500)
	pos := map[string]int{}
	for i, name := range topo {
		_, dup := pos[name]
		require.False(t, dup, "%s twice in Topo", name)
		pos[name] = i
	}
	for _, nd := range nodes {
		for _, d := range nd.Deps {
			require.Less(t, pos[d], pos[nd.Name], "%s must precede its dependent %s", d, nd.Name)
		}
	}
	assert.Equal(t, referenceTopo(nodes), topo, "ties are broken by name")

	// Levels: 0 without deps, else 1 + the highest dependency level.
	seen := 0
	for l, level := range g.Levels() {
		require.NotEmpty(t, level)
		assert.True(t, slices.IsSorted(level))
		for _, name := range level {
			seen++
			want := 0
			for _, d := range g.Deps(name) {
				want = max(want, g.Level(d)+1)
			}
			assert.Equal(t, want, l, name)
			assert.Equal(t, l, g.Level(name))
		}
	}
	assert.Equal(t, 500, seen)

	// Closure is closed under Deps and Affected under Dependents, both in
	// Topo order.
	for range 20 {
		name := topo[rng.IntN(len(topo))]
		for _, q := range []struct {
			run   func(...string) ([]string, error)
			edges func(string) []string
		}{{g.Closure, g.Deps}, {g.Affected, g.Dependents}} {
			got, err := q.run(name)
			require.NoError(t, err)
			assert.Contains(t, got, name)
			assert.True(t, slices.IsSortedFunc(got, func(a, b string) int { return pos[a] - pos[b] }))
			in := map[string]bool{}
			for _, n := range got {
				in[n] = true
			}
			for _, n := range got {
				for _, e := range q.edges(n) {
					assert.True(t, in[e], "%s reaches %s, which is missing", n, e)
				}
			}
		}
	}

	// Same graph from another input order: same answers.
	shuffled := slices.Clone(nodes)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	g2 := mustNew(t, shuffled)
	assert.Equal(t, topo, g2.Topo())
	assert.Equal(t, g.Levels(), g2.Levels())
	assert.Equal(t, g.DOT(), g2.DOT())
	j1, err := json.Marshal(g)
	require.NoError(t, err)
	j2, err := json.Marshal(g2)
	require.NoError(t, err)
	assert.Equal(t, string(j1), string(j2))
}

func TestConcurrentReads(t *testing.T) {
	t.Parallel()
	g := mustNew(t, randomDAG(rand.New(rand.NewPCG(3, 4)), 200, 4))
	want := g.Topo()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := want[i*10]
			assert.Equal(t, want, g.Topo())
			_, err := g.Closure(name)
			assert.NoError(t, err)
			_, err = g.Affected(name)
			assert.NoError(t, err)
			g.Levels()
			g.CriticalPath(nil)
			g.Similar(name+"x", 3)
			_ = g.DOT()
			_, err = g.Subgraph(name)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
}

// FuzzNew builds a graph from fuzz bytes. The first byte sets the number
// of nodes (1 to 8, named "a" to "h"); each following byte pair adds an
// edge, a duplicate node or an empty name.
func FuzzNew(f *testing.F) {
	f.Add([]byte{3, 0, 1, 1, 2})       // a -> b -> c
	f.Add([]byte{3, 0, 1, 1, 2, 2, 0}) // a -> b -> c -> a
	f.Add([]byte{2, 1, 1})             // b -> b
	f.Add([]byte{4, 0, 9})             // a -> unknown
	f.Add([]byte{4, 250, 2})           // duplicate c
	f.Add([]byte{5, 0, 1, 1, 0, 3, 4, 4, 3, 2, 3})
	f.Add([]byte{8, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0, 7})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		n := int(data[0])%8 + 1
		nodes := make([]graph.Node, n)
		for i := range nodes {
			nodes[i].Name = string(rune('a' + i))
		}
		for rest := data[1:]; len(rest) >= 2; rest = rest[2:] {
			from, to := rest[0], rest[1]
			switch {
			case from == 255:
				nodes = append(nodes, graph.Node{Name: ""})
			case from >= 250:
				nodes = append(nodes, graph.Node{Name: string(rune('a' + int(to)%n))})
			default:
				i := int(from) % len(nodes)
				dep := string(rune('a' + int(to)%(n+1))) // one past the end is unknown
				nodes[i].Deps = append(nodes[i].Deps, dep)
			}
		}

		edges := map[[2]string]bool{}
		names := map[string]int{}
		for _, nd := range nodes {
			names[nd.Name]++
			for _, d := range nd.Deps {
				edges[[2]string{nd.Name, d}] = true
			}
		}

		g, err := graph.New(nodes)
		if err != nil {
			require.Nil(t, g)
			if ce, ok := errors.AsType[*graph.CycleError](err); ok {
				p := ce.Path
				require.GreaterOrEqual(t, len(p), 2)
				require.Equal(t, p[0], p[len(p)-1], "cycle must close: %v", p)
				require.Equal(t, slices.Min(p), p[0], "cycle must start at its smallest name: %v", p)
				inner := slices.Clone(p[:len(p)-1])
				slices.Sort(inner)
				require.Len(t, slices.Compact(inner), len(p)-1, "cycle must be simple: %v", p)
				for i := range len(p) - 1 {
					require.True(t, edges[[2]string{p[i], p[i+1]}], "%s -> %s is not an edge: %v", p[i], p[i+1], p)
				}
				return
			}
			if ude, ok := errors.AsType[*graph.UnknownDependencyError](err); ok {
				require.True(t, edges[[2]string{ude.Package, ude.Dependency}])
				require.Zero(t, names[ude.Dependency])
				return
			}
			if de, ok := errors.AsType[*graph.DuplicateError](err); ok {
				require.Greater(t, names[de.Name], 1)
				return
			}
			require.ErrorIs(t, err, graph.ErrEmptyName)
			require.Positive(t, names[""])
			return
		}

		require.Len(t, names, g.Len())
		topo := g.Topo()
		require.Len(t, topo, g.Len())
		pos := map[string]int{}
		for i, name := range topo {
			_, dup := pos[name]
			require.False(t, dup, "%s twice in Topo", name)
			pos[name] = i
		}
		for e := range edges {
			require.Less(t, pos[e[1]], pos[e[0]], "%s must precede %s", e[1], e[0])
			require.Less(t, g.Level(e[1]), g.Level(e[0]))
		}
		path, _ := g.CriticalPath(nil)
		require.NotEmpty(t, path)
		for i := 1; i < len(path); i++ {
			require.True(t, edges[[2]string{path[i], path[i-1]}])
		}
		require.NotEmpty(t, g.DOT())
		_, err = json.Marshal(g)
		require.NoError(t, err)
	})
}

func BenchmarkNewTopo(b *testing.B) {
	nodes := randomDAG(rand.New(rand.NewPCG(1, 1)), 1000, 8)
	b.ReportAllocs()
	for b.Loop() {
		g, err := graph.New(nodes)
		if err != nil {
			b.Fatal(err)
		}
		if len(g.Topo()) != 1000 {
			b.Fatal("short topo")
		}
	}
}

func BenchmarkClosure(b *testing.B) {
	g, err := graph.New(randomDAG(rand.New(rand.NewPCG(1, 1)), 1000, 8))
	if err != nil {
		b.Fatal(err)
	}
	top := g.Topo()[999]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Closure(top); err != nil {
			b.Fatal(err)
		}
	}
}
