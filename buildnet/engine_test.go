package buildnet_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/state"
)

func TestTiers(t *testing.T) {
	w := newWorkspace(t)
	set := func(tier string, names ...string) map[string]string {
		m := map[string]string{}
		for _, p := range w.ws.Packages {
			m[p.Name] = "instant_skip"
		}
		for _, n := range names {
			m[n] = tier
		}
		return m
	}

	res, _ := w.build(buildnet.Request{})
	require.Equal(t, buildnet.StatusSuccess, res.Status, res.Error)
	assert.Equal(t, set("full_build", "a", "b", "c", "d"), tiers(res), "first build")
	assert.Equal(t, "package a\nutil of a\n", w.read("pkgs/a/dist/out.txt"))

	res, read := w.build(buildnet.Request{})
	assert.Equal(t, set("instant_skip"), tiers(res), "second build")
	assert.Zero(t, read, "an unchanged workspace must not read any source file")
	for _, p := range res.Packages {
		assert.NotEmpty(t, p.Digest)
		assert.Equal(t, buildnet.ReasonUnchangedStat, p.Reason.Kind)
	}

	// touch: new mtime, same content
	future := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(w.path("pkgs/b/src/main.txt"), future, future))
	res, read = w.build(buildnet.Request{})
	assert.Equal(t, set("hash_skip", "b"), tiers(res), "after touch")
	assert.Equal(t, int64(1), read, "only the touched file is read")
	res, _ = w.build(buildnet.Request{})
	assert.Equal(t, set("instant_skip"), tiers(res), "fingerprints refreshed after hash_skip")

	// edit a: a and its dependents rebuild
	w.write("pkgs/a/src/main.txt", "package a, edited\n")
	res, _ = w.build(buildnet.Request{})
	assert.Equal(t, set("full_build", "a", "b", "c"), tiers(res), "after editing a")
	assert.Equal(t, 2, w.runs("a"))
	assert.Equal(t, 1, w.runs("d"))

	// delete every output: restored from the cache, byte for byte
	before := map[string]string{}
	for _, p := range w.ws.Packages {
		before[p.Name] = w.read(p.Path + "/dist/out.txt")
		require.NoError(t, os.RemoveAll(w.path(p.Path+"/dist")))
	}
	res, _ = w.build(buildnet.Request{})
	assert.Equal(t, set("cache_restore", "a", "b", "c", "d"), tiers(res), "after deleting outputs")
	for _, p := range w.ws.Packages {
		assert.Equal(t, before[p.Name], w.read(p.Path+"/dist/out.txt"))
		fi, err := os.Stat(w.path(p.Path + "/dist/run.sh"))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm(), "exec bit restored")
	}
	for _, p := range res.Packages {
		assert.Equal(t, buildnet.ReasonCacheHit, p.Reason.Kind)
		assert.Equal(t, "local", p.CacheSource)
	}
	assert.Equal(t, 2, w.runs("a"), "restoring runs no command")

	// an env var listed in the configuration changes the digest
	res, _ = w.build(buildnet.Request{}, "BN_TEST_MODE=production")
	assert.Equal(t, set("full_build", "a", "b", "c", "d"), tiers(res), "after changing BN_TEST_MODE")
	res, _ = w.build(buildnet.Request{}, "BN_TEST_MODE=production")
	assert.Equal(t, set("instant_skip"), tiers(res))
	// back to the old value: the old outputs come back from the cache
	res, _ = w.build(buildnet.Request{})
	assert.Equal(t, set("cache_restore", "a", "b", "c", "d"), tiers(res))

	// a global input rebuilds everything
	w.write("lock.txt", "lock v2\n")
	res, _ = w.build(buildnet.Request{})
	assert.Equal(t, set("full_build", "a", "b", "c", "d"), tiers(res), "after changing a global input")

	// force runs the command even though nothing changed
	res, _ = w.build(buildnet.Request{Packages: []string{"d"}, Force: true})
	assert.Equal(t, map[string]string{"d": "full_build"}, tiers(res))
	assert.Equal(t, buildnet.ReasonForced, res.Packages[0].Reason.Kind)
}

func TestExecBitChangesDigest(t *testing.T) {
	w := newWorkspace(t)
	res, _ := w.build(buildnet.Request{Packages: []string{"d"}})
	require.Equal(t, buildnet.StatusSuccess, res.Status)
	d1 := res.Packages[0].Digest
	require.NoError(t, os.Chmod(w.path("pkgs/d/src/main.txt"), 0o755))
	res, _ = w.build(buildnet.Request{Packages: []string{"d"}})
	assert.Equal(t, "full_build", string(res.Packages[0].Tier))
	assert.NotEqual(t, d1, res.Packages[0].Digest)
}

func TestSelectionIncludesDependencies(t *testing.T) {
	w := newWorkspace(t)
	res, _ := w.build(buildnet.Request{Packages: []string{"b"}})
	assert.Equal(t, map[string]string{"a": "full_build", "b": "full_build"}, tiers(res))
	assert.Equal(t, 0, w.runs("c"))

	e := w.open()
	_, err := e.Build(context.Background(), buildnet.Request{Packages: []string{"nope"}})
	require.ErrorIs(t, err, buildnet.ErrUnknownPackage)
}

func TestFailureSkipsDependents(t *testing.T) {
	w := newWorkspace(t)
	w.ws.Packages[1].BuildCmd = `echo "compiling b"; echo "error: b is broken" >&2; exit 3`
	w.saveConfig()
	res, _ := w.build(buildnet.Request{})
	assert.Equal(t, buildnet.StatusFailed, res.Status)
	got := tiers(res)
	assert.Equal(t, "full_build", got["a"])
	assert.Equal(t, "failed", got["b"])
	assert.Equal(t, "skipped", got["c"])
	assert.Equal(t, "full_build", got["d"], "an independent branch still builds")
	for _, p := range res.Packages {
		switch p.Name {
		case "b":
			assert.Contains(t, p.Error, "exited with status 3")
			assert.ElementsMatch(t, []string{"compiling b", "error: b is broken"}, p.Output, "stdout and stderr lines; their relative order is not defined")
		case "c":
			assert.Contains(t, p.Error, "dependency b failed")
			assert.Equal(t, "b", p.Reason.Dependency)
		}
	}
	// nothing of the failed build is cached: fixing nothing and building
	// again runs b again
	res, _ = w.build(buildnet.Request{Packages: []string{"b"}})
	assert.Equal(t, "failed", tiers(res)["b"])
	assert.Equal(t, "instant_skip", tiers(res)["a"])
}

func TestCoalescing(t *testing.T) {
	w := newWorkspace(t)
	w.ws.Packages[3].BuildCmd = "sleep 0.5; " + buildCmd
	w.saveConfig()
	e := w.open()
	var wg sync.WaitGroup
	results := make([]*buildnet.BuildResult, 8)
	for i := range results {
		wg.Go(func() {
			res, err := e.Build(context.Background(), buildnet.Request{Packages: []string{"d"}})
			assert.NoError(t, err)
			results[i] = res
		})
	}
	wg.Wait()
	assert.Equal(t, 1, w.runs("d"), "the build command ran exactly once")
	for _, r := range results {
		require.NotNil(t, r)
		assert.Equal(t, buildnet.StatusSuccess, r.Status)
		assert.Equal(t, results[0].Packages[0].Digest, r.Packages[0].Digest)
	}
}

func TestCoalescedWaiterLeavingDoesNotCancel(t *testing.T) {
	w := newWorkspace(t)
	w.ws.Packages[3].BuildCmd = "sleep 1; " + buildCmd
	w.saveConfig()
	e := w.open()
	ctx, cancel := context.WithCancel(context.Background())
	var first *buildnet.BuildResult
	var wg sync.WaitGroup
	wg.Go(func() { first, _ = e.Build(ctx, buildnet.Request{Packages: []string{"d"}}) })
	time.Sleep(300 * time.Millisecond)
	var second *buildnet.BuildResult
	wg.Go(func() { second, _ = e.Build(context.Background(), buildnet.Request{Packages: []string{"d"}}) })
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	assert.Equal(t, buildnet.StatusCancelled, first.Status)
	assert.Equal(t, buildnet.StatusSuccess, second.Status, "the other waiter still gets its build")
	assert.Equal(t, 1, w.runs("d"))
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func TestCancelKillsProcessTree(t *testing.T) {
	w := newWorkspace(t)
	pidFile := w.path(".counts/pids")
	// the shell starts a background grandchild and a foreground child
	w.ws.Packages[3].BuildCmd = `sleep 300 & echo $! >> ` + pidFile + `; sh -c 'echo $$ >> ` + pidFile + `; sleep 300'; wait`
	w.saveConfig()
	e := w.open()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *buildnet.BuildResult)
	go func() {
		res, _ := e.Build(ctx, buildnet.Request{Packages: []string{"d"}})
		done <- res
	}()
	var pids []int
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(pidFile)
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			require.NoError(t, err)
			pids = append(pids, n)
		}
		return len(pids) == 2
	}, 10*time.Second, 20*time.Millisecond)
	for _, p := range pids {
		require.True(t, alive(p))
	}
	cancel()
	res := <-done
	assert.Equal(t, buildnet.StatusCancelled, res.Status)
	assert.Equal(t, buildnet.StatusCancelled, res.Packages[0].Status)
	for _, p := range pids {
		assert.Eventually(t, func() bool { return !alive(p) }, 5*time.Second, 20*time.Millisecond, "process %d left behind", p)
	}
	hist, _, err := e.History(context.Background(), state.Query{Search: res.ID})
	require.NoError(t, err)
	require.Len(t, hist, 1)
	assert.Equal(t, "cancelled", hist[0].Status)
}

func TestEventsInOrder(t *testing.T) {
	w := newWorkspace(t)
	e := w.open()
	sub := e.Subscribe(context.Background(), 0)
	res, err := e.Build(context.Background(), buildnet.Request{Packages: []string{"b"}})
	require.NoError(t, err)
	var types []string
	var lines []string
	for ev := range sub.Events() {
		require.Equal(t, res.ID, ev.BuildID)
		types = append(types, string(ev.Type)+":"+ev.Package)
		if ev.Type == buildnet.EventPackageOutput {
			lines = append(lines, ev.Line)
		}
		if ev.Type == buildnet.EventBuildComplete {
			require.NotNil(t, ev.Result)
			assert.Equal(t, res.ID, ev.Result.ID)
			break
		}
	}
	assert.Equal(t, []string{
		"build:start:", "package:start:a", "package:running:a", "package:output:a", "package:complete:a",
		"package:start:b", "package:running:b", "package:output:b", "package:complete:b", "build:complete:",
	}, types)
	assert.Equal(t, "\x1b[32mbuilt\x1b[0m a", lines[0], "ANSI escapes preserved")
}

func TestSlowSubscriberDropped(t *testing.T) {
	w := newWorkspace(t)
	e := w.open()
	slow := e.Subscribe(context.Background(), 2)
	fast := e.Subscribe(context.Background(), 0)
	res, err := e.Build(context.Background(), buildnet.Request{})
	require.NoError(t, err)
	require.Equal(t, buildnet.StatusSuccess, res.Status)
	n := 0
	for range slow.Events() {
		n++
	}
	assert.Equal(t, 2, n)
	assert.ErrorIs(t, slow.Err(), buildnet.ErrSlowSubscriber)
	assert.NoError(t, fast.Err(), "the fast subscriber is untouched")
}

// TestBuildsAreVisibleToReadersAtOnce checks that a build that has not
// been recorded yet (a no-op is recorded once, whole, when it ends) is
// found by a reader of the store the moment it has started.
func TestBuildsAreVisibleToReadersAtOnce(t *testing.T) {
	w := newWorkspace(t)
	e := w.open()
	ctx := context.Background()
	_, err := e.Build(ctx, buildnet.Request{})
	require.NoError(t, err)
	for range 50 {
		run, err := e.StartBuild(buildnet.Request{})
		require.NoError(t, err)
		b, err := e.Store().Build(ctx, run.ID())
		require.NoError(t, err, "a started build is in the store for its readers")
		assert.Contains(t, []string{"running", "success"}, b.Status)
		res, err := run.Wait(ctx)
		require.NoError(t, err)
		b, err = e.Store().Build(ctx, run.ID())
		require.NoError(t, err)
		assert.Equal(t, "success", b.Status)
		assert.Len(t, b.Packages, len(res.Packages))
	}
}
