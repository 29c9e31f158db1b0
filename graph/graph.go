package graph

import (
	"cmp"
	"fmt"
	"slices"
)

// maxSuggestions is how many "did you mean" names an error carries.
const maxSuggestions = 3

// Node is one package and the names of the packages it depends on.
type Node struct {
	Name string
	Deps []string
}

// Graph is a validated, acyclic package dependency graph built by [New].
//
// A Graph is immutable, so it is safe for concurrent use by multiple
// goroutines. Methods that take a package name treat an unknown name as
// documented on each method; none of them panics.
type Graph struct {
	// Packages are numbered by their rank in name order, so sorting
	// indexes sorts names and every index slice below is kept sorted.
	names      []string
	index      map[string]int
	deps       [][]int // direct dependencies, sorted
	dependents [][]int // direct dependents, sorted
	topo       []int   // Kahn order, ties by name
	level      []int
	levels     [][]int // each sorted
}

// New validates nodes and returns their graph. It returns an error wrapping
// [ErrEmptyName] for a node without a name, a [*DuplicateError] when two
// nodes share a name, an [*UnknownDependencyError] when a dependency names
// no node, and a [*CycleError] when the dependencies form a cycle
// (including a package that depends on itself). Repeated entries in a
// node's Deps count once.
//
// Errors are deterministic and do not depend on the order of nodes: the
// culprit reported is the one with the smallest name. A cycle's path starts
// at the smallest name that lies on any cycle and is the shortest cycle
// through it.
//
// New does not retain nodes.
func New(nodes []Node) (*Graph, error) {
	for i, nd := range nodes {
		if nd.Name == "" {
			return nil, fmt.Errorf("validate package at index %d: %w", i, ErrEmptyName)
		}
	}

	sorted := make([]*Node, len(nodes))
	for i := range nodes {
		sorted[i] = &nodes[i]
	}
	slices.SortStableFunc(sorted, func(a, b *Node) int { return cmp.Compare(a.Name, b.Name) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Name == sorted[i-1].Name {
			return nil, &DuplicateError{Name: sorted[i].Name}
		}
	}

	n := len(sorted)
	g := &Graph{
		names:      make([]string, n),
		index:      make(map[string]int, n),
		deps:       make([][]int, n),
		dependents: make([][]int, n),
	}
	for i, nd := range sorted {
		g.names[i] = nd.Name
		g.index[nd.Name] = i
	}

	// Both adjacency lists are carved out of one backing array each, which
	// keeps New to a handful of allocations on large graphs.
	total := 0
	for _, nd := range sorted {
		total += len(nd.Deps)
	}
	edges := make([]int, 0, total)
	var scratch []string
	for i, nd := range sorted {
		scratch = append(scratch[:0], nd.Deps...)
		slices.Sort(scratch)
		scratch = slices.Compact(scratch)
		start := len(edges)
		for _, dep := range scratch {
			j, ok := g.index[dep]
			if !ok {
				return nil, &UnknownDependencyError{
					Package:     nd.Name,
					Dependency:  dep,
					Suggestions: similar(g.names, dep, maxSuggestions),
				}
			}
			edges = append(edges, j) // sorted, because names are
		}
		g.deps[i] = edges[start:len(edges):len(edges)]
	}
	count := make([]int, n)
	for _, d := range edges {
		count[d]++
	}
	back := make([]int, len(edges))
	for d, c := range count {
		g.dependents[d], back = back[:0:c], back[c:]
	}
	for i, deps := range g.deps {
		for _, d := range deps {
			g.dependents[d] = append(g.dependents[d], i) // i ascends: stays sorted
		}
	}

	if err := g.sort(); err != nil {
		return nil, err
	}
	return g, nil
}

// sort computes the topological order and the levels, or returns a
// [*CycleError].
func (g *Graph) sort() error {
	n := len(g.names)
	pending := make([]int, n) // dependencies not yet placed
	var ready minHeap
	for i, deps := range g.deps {
		pending[i] = len(deps)
		if pending[i] == 0 {
			ready.push(i)
		}
	}
	g.topo = make([]int, 0, n)
	for ready.len() > 0 {
		v := ready.pop()
		g.topo = append(g.topo, v)
		for _, u := range g.dependents[v] {
			pending[u]--
			if pending[u] == 0 {
				ready.push(u)
			}
		}
	}
	if len(g.topo) < n {
		placed := make([]bool, n)
		for _, v := range g.topo {
			placed[v] = true
		}
		return &CycleError{Path: g.namesOf(g.findCycle(placed))}
	}

	g.level = make([]int, n)
	depth := 0
	for _, v := range g.topo {
		l := 0
		for _, d := range g.deps[v] {
			l = max(l, g.level[d]+1)
		}
		g.level[v] = l
		depth = max(depth, l+1)
	}
	g.levels = make([][]int, depth)
	for v, l := range g.level { // v ascends: each level stays sorted
		g.levels[l] = append(g.levels[l], v)
	}
	return nil
}

// findCycle returns a cycle among the packages not placed by Kahn's
// algorithm, as indexes starting and ending with the same package. It is
// the shortest cycle through the smallest package that lies on any cycle.
func (g *Graph) findCycle(placed []bool) []int {
	comp := g.components(placed)

	// The smallest package on a cycle: one whose component has another
	// member, or which depends on itself.
	size := make([]int, len(comp))
	for _, c := range comp {
		if c >= 0 {
			size[c]++
		}
	}
	start := -1
	for v, c := range comp {
		if c < 0 {
			continue
		}
		if size[c] > 1 || slices.Contains(g.deps[v], v) {
			start = v
			break
		}
	}
	if start < 0 {
		panic("graph: internal error: no cycle among unplaced packages")
	}

	// Breadth-first search back to start, inside its component, visiting
	// dependencies in name order: the shortest cycle, ties broken by name.
	parent := make(map[int]int)
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, w := range g.deps[v] {
			if w == start {
				path := []int{start}
				for u := v; u != start; u = parent[u] {
					path = append(path, u)
				}
				slices.Reverse(path[1:])
				return append(path, start)
			}
			if _, seen := parent[w]; seen || comp[w] != comp[start] {
				continue
			}
			parent[w] = v
			queue = append(queue, w)
		}
	}
	panic("graph: internal error: cycle not closed")
}

// components labels the strongly connected components of the unplaced
// packages (Tarjan's algorithm, iterative); placed packages get -1.
func (g *Graph) components(placed []bool) []int {
	n := len(g.names)
	const unvisited = -1
	order := make([]int, n) // discovery number
	low := make([]int, n)
	comp := make([]int, n)
	onStack := make([]bool, n)
	for i := range n {
		order[i] = unvisited
		comp[i] = -1
	}
	var stack []int
	type frame struct{ v, next int }
	var call []frame
	counter, ncomp := 0, 0
	for root := range n {
		if placed[root] || order[root] != unvisited {
			continue
		}
		call = append(call, frame{v: root})
		order[root], low[root] = counter, counter
		counter++
		stack = append(stack, root)
		onStack[root] = true
		for len(call) > 0 {
			f := &call[len(call)-1]
			v := f.v
			if f.next < len(g.deps[v]) {
				w := g.deps[v][f.next]
				f.next++
				switch {
				case placed[w]:
				case order[w] == unvisited:
					order[w], low[w] = counter, counter
					counter++
					stack = append(stack, w)
					onStack[w] = true
					call = append(call, frame{v: w})
				case onStack[w]:
					low[v] = min(low[v], order[w])
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] == order[v] {
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = ncomp
					if w == v {
						break
					}
				}
				ncomp++
			}
		}
	}
	return comp
}

// namesOf maps indexes to names, in a new slice that is never nil.
func (g *Graph) namesOf(idx []int) []string {
	out := make([]string, len(idx))
	for i, v := range idx {
		out[i] = g.names[v]
	}
	return out
}

// minHeap is a binary min-heap of package indexes.
type minHeap struct{ a []int }

func (h *minHeap) len() int { return len(h.a) }

func (h *minHeap) push(v int) {
	h.a = append(h.a, v)
	for i := len(h.a) - 1; i > 0; {
		p := (i - 1) / 2
		if h.a[p] <= h.a[i] {
			break
		}
		h.a[p], h.a[i] = h.a[i], h.a[p]
		i = p
	}
}

func (h *minHeap) pop() int {
	top := h.a[0]
	last := len(h.a) - 1
	h.a[0] = h.a[last]
	h.a = h.a[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && h.a[l] < h.a[m] {
			m = l
		}
		if r < last && h.a[r] < h.a[m] {
			m = r
		}
		if m == i {
			break
		}
		h.a[i], h.a[m] = h.a[m], h.a[i]
		i = m
	}
	return top
}
