package buildnet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
)

func TestFairScheduling(t *testing.T) {
	root := t.TempDir()
	ws := &buildnet.Workspace{Concurrency: 1}
	add := func(name string) {
		require.NoError(t, os.MkdirAll(filepath.Join(root, name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, name, "in.txt"), []byte(name), 0o644))
		ws.Packages = append(ws.Packages, buildnet.Package{Name: name, Path: name, BuildCmd: "sleep 0.05; mkdir -p dist; cp in.txt dist/"})
	}
	for i := range 20 {
		add(fmt.Sprintf("a%02d", i))
	}
	add("b")
	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: root, Workspace: ws})
	require.NoError(t, err)
	defer e.Close()
	sub := e.Subscribe(context.Background(), 0)

	var runs []buildnet.Run
	for i := range 20 {
		r, err := e.StartBuild(buildnet.Request{Packages: []string{fmt.Sprintf("a%02d", i)}, Requester: "alice"})
		require.NoError(t, err)
		runs = append(runs, r)
	}
	require.Eventually(t, func() bool { return len(e.Queue()) >= 19 }, 10e9, 1e6, "alice's builds are queued")
	rb, err := e.StartBuild(buildnet.Request{Packages: []string{"b"}, Requester: "bob"})
	require.NoError(t, err)
	runs = append(runs, rb)
	var q []buildnet.QueuedPackage
	require.Eventually(t, func() bool {
		q = e.Queue()
		for _, p := range q {
			if p.Requester == "bob" {
				return true
			}
		}
		return len(q) == 0
	}, 10e9, 1e6)
	if len(q) > 0 {
		assert.Equal(t, "bob", q[0].Requester, "bob is next in line: %v", q)
	}

	var order []string
	for len(order) < 21 {
		ev := <-sub.Events()
		if ev.Type == buildnet.EventPackageRunning {
			order = append(order, ev.Requester)
		}
	}
	for _, r := range runs {
		<-r.Done()
	}
	pos := -1
	for i, who := range order {
		if who == "bob" {
			pos = i
			break
		}
	}
	assert.LessOrEqual(t, pos, 1, "bob's build runs after at most one of alice's: %v", order)

	// high priority goes first whoever asked
	assert.Equal(t, buildnet.PriorityHigh, mustPriority(t, "high"))
	_, err = buildnet.ParsePriority("urgent")
	assert.Error(t, err)
}

func mustPriority(t *testing.T, s string) int {
	t.Helper()
	p, err := buildnet.ParsePriority(s)
	require.NoError(t, err)
	return p
}
