// Package graph models the dependency graph of the packages of a monorepo.
//
// [New] validates a list of [Node] values (one per package, each naming the
// packages it depends on) and returns an immutable [Graph]. Validation
// rejects empty and duplicate names, dependencies on unknown packages and
// dependency cycles, including a package depending on itself. A cycle is
// reported as a [*CycleError] carrying its full path, printed as
// "dependency cycle: a -> b -> c -> a".
//
// # Queries
//
// A [Graph] answers the questions a build orchestrator asks: the direct
// dependencies and dependents of a package, a topological order
// ([Graph.Topo], dependencies first), the levels of packages that can be
// built in parallel ([Graph.Levels]), the transitive dependencies of a
// selection ([Graph.Closure]), the packages a change affects
// ([Graph.Affected]), the graph induced by a selection ([Graph.Subgraph]),
// the critical path under given build durations ([Graph.CriticalPath]) and
// "did you mean" suggestions for a misspelt name ([Graph.Similar]). It
// exports itself as JSON ([Graph.MarshalJSON]) and Graphviz DOT
// ([Graph.DOT]).
//
// # Determinism
//
// Every result, including which culprit an error names, is deterministic:
// it depends only on the set of nodes and edges, never on the order of the
// input or on map iteration. (The one exception is the empty-name error,
// which gives the offending node's input index.) Lists of names are sorted,
// or in topological order with ties broken by name.
//
// # Concurrency
//
// A Graph is immutable once [New] returns it, so all its methods are safe
// for concurrent use. Every slice a method returns is a fresh copy owned by
// the caller.
//
// The package is pure data: it does no I/O and runs no processes.
package graph
