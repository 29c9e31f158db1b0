package graph

import "slices"

// Len returns the number of packages.
func (g *Graph) Len() int { return len(g.names) }

// Names returns every package name, sorted.
func (g *Graph) Names() []string { return slices.Clone(g.names) }

// Has reports whether name is a package of the graph.
func (g *Graph) Has(name string) bool {
	_, ok := g.index[name]
	return ok
}

// Deps returns the direct dependencies of name, sorted. It returns nil when
// name is not in the graph.
func (g *Graph) Deps(name string) []string {
	i, ok := g.index[name]
	if !ok {
		return nil
	}
	return g.namesOf(g.deps[i])
}

// Dependents returns the packages that depend directly on name, sorted. It
// returns nil when name is not in the graph.
func (g *Graph) Dependents(name string) []string {
	i, ok := g.index[name]
	if !ok {
		return nil
	}
	return g.namesOf(g.dependents[i])
}

// Topo returns every package in topological order: each package comes after
// all its dependencies. Among packages whose dependencies are all placed,
// the smallest name comes first (Kahn's algorithm), so the order is
// deterministic.
func (g *Graph) Topo() []string { return g.namesOf(g.topo) }

// Levels groups the packages by [Graph.Level]: level 0 holds the packages
// without dependencies, and every package of level n depends only on
// packages of lower levels, so each level can be built in parallel once
// the previous ones are done. Each level is sorted.
func (g *Graph) Levels() [][]string {
	out := make([][]string, len(g.levels))
	for i, l := range g.levels {
		out[i] = g.namesOf(l)
	}
	return out
}

// Level returns the level of name: 0 for a package without dependencies,
// otherwise one more than the highest level of its dependencies. It returns
// -1 when name is not in the graph.
func (g *Graph) Level(name string) int {
	i, ok := g.index[name]
	if !ok {
		return -1
	}
	return g.level[i]
}

// Closure returns names and all their transitive dependencies, each once,
// in [Graph.Topo] order: what must be built to build names. It returns an
// [*UnknownPackageError] for the first name not in the graph.
func (g *Graph) Closure(names ...string) ([]string, error) {
	seen, err := g.reach(names, g.deps)
	if err != nil {
		return nil, err
	}
	return g.inTopoOrder(seen), nil
}

// Affected returns names and all the packages that depend on them,
// directly or transitively, each once, in [Graph.Topo] order: what must be
// rebuilt when names change. It returns an [*UnknownPackageError] for the
// first name not in the graph.
func (g *Graph) Affected(names ...string) ([]string, error) {
	seen, err := g.reach(names, g.dependents)
	if err != nil {
		return nil, err
	}
	return g.inTopoOrder(seen), nil
}

// Subgraph returns the graph induced by [Graph.Closure] of names: those
// packages with all their edges. It returns an [*UnknownPackageError] for
// the first name not in the graph.
func (g *Graph) Subgraph(names ...string) (*Graph, error) {
	seen, err := g.reach(names, g.deps)
	if err != nil {
		return nil, err
	}
	nodes := make([]Node, 0, len(g.names))
	for v, ok := range seen {
		if ok {
			nodes = append(nodes, Node{Name: g.names[v], Deps: g.namesOf(g.deps[v])})
		}
	}
	// A closure keeps every dependency of its members and cannot gain a
	// cycle, so New cannot fail here.
	return New(nodes)
}

// CriticalPath returns the heaviest chain of dependencies, ordered from the
// first package to build to the last, and its total weight: with build
// durations as weights, the least wall time a fully parallel build needs.
// The weight of a path is the sum of the weights of its packages; weight is
// called once per package, and a nil weight counts every package as 1.
// Negative and NaN weights count as 0. Ties go to the smallest names. An
// empty graph yields nil and 0.
func (g *Graph) CriticalPath(weight func(name string) float64) (path []string, total float64) {
	n := len(g.names)
	if n == 0 {
		return nil, 0
	}
	best := make([]float64, n) // heaviest path ending at v
	prev := make([]int, n)
	for _, v := range g.topo {
		w := 1.0
		if weight != nil {
			w = weight(g.names[v])
			if !(w > 0) { // also catches NaN
				w = 0
			}
		}
		prev[v] = -1
		for _, d := range g.deps[v] { // sorted: first maximum is the smallest name
			if prev[v] < 0 || best[d] > best[prev[v]] {
				prev[v] = d
			}
		}
		best[v] = w
		if prev[v] >= 0 {
			best[v] += best[prev[v]]
		}
	}
	end := 0
	for v := 1; v < n; v++ {
		if best[v] > best[end] {
			end = v
		}
	}
	var idx []int
	for v := end; v >= 0; v = prev[v] {
		idx = append(idx, v)
	}
	slices.Reverse(idx)
	return g.namesOf(idx), best[end]
}

// Similar returns up to limit package names close to name, best first, for
// "did you mean" messages. A name is close when its edit distance to name
// is at most 2, or when one contains the other, or when they share a long
// prefix; comparisons ignore case. The name itself is never returned. It
// returns nil when nothing is close or limit is not positive.
func (g *Graph) Similar(name string, limit int) []string {
	return similar(g.names, name, limit)
}

// reach marks names and everything reachable from them along edges. It
// fails on the first unknown name.
func (g *Graph) reach(names []string, edges [][]int) ([]bool, error) {
	seen := make([]bool, len(g.names))
	var stack []int
	for _, name := range names {
		i, ok := g.index[name]
		if !ok {
			return nil, &UnknownPackageError{Name: name, Suggestions: g.Similar(name, maxSuggestions)}
		}
		if !seen[i] {
			seen[i] = true
			stack = append(stack, i)
		}
	}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, w := range edges[v] {
			if !seen[w] {
				seen[w] = true
				stack = append(stack, w)
			}
		}
	}
	return seen, nil
}

// inTopoOrder lists the marked packages in topological order.
func (g *Graph) inTopoOrder(marked []bool) []string {
	out := []string{}
	for _, v := range g.topo {
		if marked[v] {
			out = append(out, g.names[v])
		}
	}
	return out
}
