package graph_test

import (
	"errors"
	"fmt"

	"github.com/musclemap/buildnet/graph"
)

func ExampleNew() {
	g, err := graph.New([]graph.Node{
		{Name: "web", Deps: []string{"ui", "api"}},
		{Name: "ui", Deps: []string{"shared"}},
		{Name: "api", Deps: []string{"shared"}},
		{Name: "shared"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g.Len(), g.Names())
	fmt.Println(g.Deps("web"), g.Dependents("shared"))

	_, err = graph.New([]graph.Node{
		{Name: "api", Deps: []string{"db"}},
		{Name: "db", Deps: []string{"auth"}},
		{Name: "auth", Deps: []string{"api"}},
	})
	fmt.Println(err)
	if ce, ok := errors.AsType[*graph.CycleError](err); ok {
		fmt.Println(errors.Is(err, graph.ErrCycle), ce.Path)
	}

	_, err = graph.New([]graph.Node{
		{Name: "api", Deps: []string{"sharde"}},
		{Name: "shared"},
	})
	fmt.Println(err)
	// Output:
	// 4 [api shared ui web]
	// [api ui] [api ui]
	// dependency cycle: api -> db -> auth -> api
	// true [api db auth api]
	// package "api" depends on unknown package "sharde" (did you mean "shared"?)
}

func ExampleGraph_Topo() {
	g, err := graph.New([]graph.Node{
		{Name: "web", Deps: []string{"ui", "api"}},
		{Name: "ui", Deps: []string{"shared"}},
		{Name: "api", Deps: []string{"shared", "db"}},
		{Name: "shared"},
		{Name: "db"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(g.Topo())
	for i, level := range g.Levels() {
		fmt.Println(i, level)
	}
	// Output:
	// [db shared api ui web]
	// 0 [db shared]
	// 1 [api ui]
	// 2 [web]
}

func ExampleGraph_Affected() {
	g, err := graph.New([]graph.Node{
		{Name: "web", Deps: []string{"ui", "api"}},
		{Name: "ui", Deps: []string{"shared"}},
		{Name: "api", Deps: []string{"shared", "db"}},
		{Name: "shared"},
		{Name: "db"},
		{Name: "docs"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	affected, err := g.Affected("db")
	fmt.Println(affected, err)

	_, err = g.Affected("shard")
	fmt.Println(err)
	// Output:
	// [db api web] <nil>
	// unknown package "shard" (did you mean "shared"?)
}

func ExampleGraph_DOT() {
	g, err := graph.New([]graph.Node{
		{Name: "app", Deps: []string{"lib"}},
		{Name: "lib"},
		{Name: "tools"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(g.DOT())
	// Output:
	// digraph buildnet {
	//   "app";
	//   "lib";
	//   "tools";
	//   "app" -> "lib";
	// }
}
