package graph

import (
	"encoding/json"
	"strings"
)

type jsonGraph struct {
	Nodes []jsonNode `json:"nodes"`
	Edges []jsonEdge `json:"edges"`
}

type jsonNode struct {
	Name       string   `json:"name"`
	Deps       []string `json:"deps"`
	Dependents []string `json:"dependents"`
	Level      int      `json:"level"`
}

type jsonEdge struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// MarshalJSON encodes the graph as
//
//	{"nodes":[{"name":"a","deps":["b"],"dependents":[],"level":1},...],
//	 "edges":[{"from":"a","to":"b"},...]}
//
// Nodes are sorted by name, each with its sorted direct dependencies and
// dependents; an edge goes from a dependent to its dependency, and edges
// are sorted by from, then to. Lists are never null, so the output is
// byte-for-byte deterministic.
func (g *Graph) MarshalJSON() ([]byte, error) {
	out := jsonGraph{
		Nodes: make([]jsonNode, len(g.names)),
		Edges: []jsonEdge{},
	}
	for v, name := range g.names {
		out.Nodes[v] = jsonNode{
			Name:       name,
			Deps:       g.namesOf(g.deps[v]),
			Dependents: g.namesOf(g.dependents[v]),
			Level:      g.level[v],
		}
		for _, d := range g.deps[v] {
			out.Edges = append(out.Edges, jsonEdge{From: name, To: g.names[d]})
		}
	}
	return json.Marshal(out)
}

// DOT returns the graph in Graphviz DOT syntax:
//
//	digraph buildnet {
//	  "a";
//	  "b";
//	  "a" -> "b";
//	}
//
// Every package is listed, sorted, even one without edges; then come the
// edges from each dependent to its dependencies, sorted by dependent, then
// dependency. Names are always quoted, with '"', '\' and line breaks
// escaped.
func (g *Graph) DOT() string {
	var b strings.Builder
	b.WriteString("digraph buildnet {\n")
	for _, name := range g.names {
		b.WriteString("  ")
		writeDOTID(&b, name)
		b.WriteString(";\n")
	}
	for v, name := range g.names {
		for _, d := range g.deps[v] {
			b.WriteString("  ")
			writeDOTID(&b, name)
			b.WriteString(" -> ")
			writeDOTID(&b, g.names[d])
			b.WriteString(";\n")
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// writeDOTID writes s as a quoted DOT identifier.
func writeDOTID(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := range len(s) { // bytes, so that distinct names stay distinct
		switch c := s[i]; c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
