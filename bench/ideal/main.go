// Command ideal computes the ideal wall time of a cold build: the larger
// of the packages' command times summed and divided by the cores, and the
// graph's critical path (the longest chain of dependent command times).
// A scheduler cannot beat it; the harness reports the real wall time
// against it.
//
//	ideal -root WS -result cold.json [-cores N]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/graph"
)

func main() {
	root := flag.String("root", "", "workspace root")
	result := flag.String("result", "", "`buildnetd build --json` output of a cold build")
	cores := flag.Int("cores", runtime.NumCPU(), "cores the build could use")
	flag.Parse()
	ms, err := ideal(*root, *result, *cores)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ideal:", err)
		os.Exit(1)
	}
	fmt.Printf("%.1f\n", ms)
}

func ideal(root, resultFile string, cores int) (float64, error) {
	ws, err := buildnet.LoadWorkspace(root)
	if err != nil {
		return 0, err
	}
	data, err := os.ReadFile(resultFile)
	if err != nil {
		return 0, err
	}
	var res buildnet.BuildResult
	if err := json.Unmarshal(data, &res); err != nil {
		return 0, fmt.Errorf("%s: %w", resultFile, err)
	}
	dur := map[string]float64{}
	sum := 0.0
	for _, p := range res.Packages {
		dur[p.Name] = float64(p.DurationMs)
		sum += float64(p.DurationMs)
	}
	var nodes []graph.Node
	for _, p := range ws.Packages {
		nodes = append(nodes, graph.Node{Name: p.Name, Deps: p.Dependencies})
	}
	g, err := graph.New(nodes)
	if err != nil {
		return 0, err
	}
	_, critical := g.CriticalPath(func(n string) float64 { return dur[n] })
	return max(sum/float64(max(cores, 1)), critical), nil
}
