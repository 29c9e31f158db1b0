package buildnet_test

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
)

// watching starts Watch with builds on and returns the channel of the
// results of the builds it starts.
func watching(t *testing.T, e *buildnet.Engine) <-chan *buildnet.BuildResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan *buildnet.BuildResult, 100)
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- e.Watch(ctx, buildnet.WatchOptions{
			Build: true, Debounce: 100 * time.Millisecond,
			OnBuild: func(r *buildnet.BuildResult) { results <- r },
			OnReady: func() { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("watch ended: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return results
}

// watchOnly starts Watch without builds of its own.
func watchOnly(t *testing.T, e *buildnet.Engine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- e.Watch(ctx, buildnet.WatchOptions{OnReady: func() { close(ready) }}) }()
	<-ready
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
}

func next(t *testing.T, results <-chan *buildnet.BuildResult) *buildnet.BuildResult {
	t.Helper()
	select {
	case r := <-results:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no build started by the watcher")
		return nil
	}
}

func quiet(t *testing.T, results <-chan *buildnet.BuildResult, d time.Duration) {
	t.Helper()
	select {
	case r := <-results:
		t.Fatalf("unexpected build: %v", tiers(r))
	case <-time.After(d):
	}
}

func executed(r *buildnet.BuildResult) []string {
	var out []string
	for _, p := range r.Packages {
		if p.Tier == buildnet.TierFullBuild || p.Tier == buildnet.TierCacheRestore {
			out = append(out, p.Name)
		}
	}
	return out
}

func TestWatchRebuildsWhatChanged(t *testing.T) {
	w := newWorkspace(t)
	e := w.open()
	_, err := e.Build(context.Background(), buildnet.Request{})
	require.NoError(t, err)
	results := watching(t, e)

	w.write("pkgs/d/src/main.txt", "leaf edit\n")
	r := next(t, results)
	assert.Equal(t, []string{"d"}, executed(r), "a leaf edit rebuilds only the leaf")
	quiet(t, results, 600*time.Millisecond) // its own outputs trigger nothing

	w.write("pkgs/a/src/main.txt", "shared edit\n")
	r = next(t, results)
	assert.Equal(t, []string{"a", "b", "c"}, executed(r), "a and its dependents, in order")

	require.NoError(t, os.Remove(w.path("pkgs/b/src/util.txt")))
	r = next(t, results)
	assert.Equal(t, []string{"b", "c"}, executed(r), "deleting a source rebuilds")

	require.NoError(t, os.MkdirAll(w.path("pkgs/d/src/deep/er"), 0o755))
	w.write("pkgs/d/src/deep/er/new.txt", "new\n")
	r = next(t, results)
	for r.Packages[len(r.Packages)-1].Tier == buildnet.TierInstantSkip {
		r = next(t, results) // the directory alone changed nothing yet
	}
	assert.Equal(t, []string{"d"}, executed(r), "a new directory with a source is noticed")
	assert.Equal(t, buildnet.StatusSuccess, r.Status, "%+v", r.Packages)
	assert.Equal(t, 3, w.runs("d"), w.read(".counts/d"))
}

func TestWatchDebouncesBursts(t *testing.T) {
	w := newWorkspace(t)
	e := w.open()
	_, err := e.Build(context.Background(), buildnet.Request{})
	require.NoError(t, err)
	results := watching(t, e)
	for i := range 100 {
		w.write("pkgs/d/src/main.txt", "save "+string(rune('a'+i%26))+"\n")
	}
	builds := 0
	deadline := time.After(5 * time.Second)
loop:
	for {
		select {
		case <-results:
			builds++
		case <-deadline:
			break loop
		case <-time.After(1500 * time.Millisecond):
			break loop
		}
	}
	assert.GreaterOrEqual(t, builds, 1)
	assert.LessOrEqual(t, builds, 2, "100 rapid saves make one or two builds")
}

func TestWatchNoChangeBuildMakesNoStatCall(t *testing.T) {
	w := newWorkspace(t)
	e := w.open()
	_, err := e.Build(context.Background(), buildnet.Request{})
	require.NoError(t, err)
	watchOnly(t, e)
	// The first build while watching learns the state; from then on the
	// watcher vouches for it.
	time.Sleep(300 * time.Millisecond)
	_, err = e.Build(context.Background(), buildnet.Request{})
	require.NoError(t, err)
	before := e.StatCalls()
	res, err := e.Build(context.Background(), buildnet.Request{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "instant_skip", "b": "instant_skip", "c": "instant_skip", "d": "instant_skip"}, tiers(res))
	assert.Zero(t, e.StatCalls()-before, "nothing changed: no file system call")

	// a change is still seen
	w.write("pkgs/c/src/main.txt", "edit\n")
	time.Sleep(400 * time.Millisecond)
	res, err = e.Build(context.Background(), buildnet.Request{Packages: []string{"c"}})
	require.NoError(t, err)
	assert.Equal(t, "full_build", tiers(res)["c"])
}

func TestWatchReloadsConfiguration(t *testing.T) {
	w := newWorkspace(t)
	e := w.open()
	_, err := e.Build(context.Background(), buildnet.Request{})
	require.NoError(t, err)
	sub := e.Subscribe(context.Background(), 0)
	watching(t, e)

	// a bad configuration is rejected; the old one keeps working
	w.write(buildnet.ConfigFile, `{"packages": [{"name": "a"}]}`)
	waitEvent(t, sub, buildnet.EventConfigRejected)
	assert.Len(t, e.Workspace().Packages, 4)

	// a new package is picked up without restart
	w.write("pkgs/e/src/main.txt", "e\n")
	w.ws.Packages = append(w.ws.Packages, buildnet.Package{Name: "e", Path: "pkgs/e", BuildCmd: buildCmd, Dependencies: []string{"d"}})
	data, _ := json.Marshal(w.ws)
	w.write(buildnet.ConfigFile, string(data))
	ev := waitEvent(t, sub, buildnet.EventConfigReloaded)
	assert.Equal(t, []string{"e"}, ev.Change.Added)
	res, err := e.Build(context.Background(), buildnet.Request{Packages: []string{"e"}})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"d": "instant_skip", "e": "full_build"}, tiers(res))
}

func waitEvent(t *testing.T, sub *buildnet.Subscription, typ buildnet.EventType) buildnet.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-sub.Events():
			require.True(t, ok, "subscription ended: %v", sub.Err())
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", typ)
		}
	}
}

func TestHotReloadDuringBuild(t *testing.T) {
	w := newWorkspace(t)
	w.ws.Packages[3].BuildCmd = "sleep 0.5; " + buildCmd
	w.saveConfig()
	e := w.open()
	var wg sync.WaitGroup
	var res *buildnet.BuildResult
	wg.Go(func() { res, _ = e.Build(context.Background(), buildnet.Request{Packages: []string{"d"}}) })
	time.Sleep(150 * time.Millisecond)
	ws := e.Workspace()
	ws.Packages[3].BuildCmd = "exit 9"
	_, err := e.SetWorkspace(&ws)
	require.NoError(t, err)
	wg.Wait()
	assert.Equal(t, buildnet.StatusSuccess, res.Status, "the running build keeps the configuration it started with")
	res, err = e.Build(context.Background(), buildnet.Request{Packages: []string{"d"}})
	require.NoError(t, err)
	assert.Equal(t, buildnet.StatusFailed, res.Status, "the next build uses the new command")

	bad := e.Workspace()
	bad.Packages[0].Dependencies = []string{"c"}
	_, err = e.SetWorkspace(&bad)
	assert.ErrorContains(t, err, "dependency cycle")
	assert.Equal(t, "exit 9", e.Workspace().Packages[3].BuildCmd, "a bad configuration changes nothing")
}

// TestWatchingNoopSeesConfigurationAndGlobalChanges checks the watching
// engine's no-op path: it remembers configuration keys and skips
// packages without scanning, yet a new command, a changed global input
// and a rebuilt dependency each still rebuild what they affect.
func TestWatchingNoopSeesConfigurationAndGlobalChanges(t *testing.T) {
	w := newWorkspace(t)
	e := w.open()
	ctx := context.Background()
	_, err := e.Build(ctx, buildnet.Request{})
	require.NoError(t, err)
	watchOnly(t, e)
	for range 2 { // the first build while watching learns the state
		_, err = e.Build(ctx, buildnet.Request{})
		require.NoError(t, err)
	}
	all := func(tier string) map[string]string {
		return map[string]string{"a": tier, "b": tier, "c": tier, "d": tier}
	}
	res, err := e.Build(ctx, buildnet.Request{})
	require.NoError(t, err)
	require.Equal(t, all("instant_skip"), tiers(res))

	// a new command for a: a and its dependents rebuild, d stays
	ws := e.Workspace()
	ws.Packages[0].BuildCmd = "true; " + buildCmd
	_, err = e.SetWorkspace(&ws)
	require.NoError(t, err)
	res, err = e.Build(ctx, buildnet.Request{})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "full_build", "b": "full_build", "c": "full_build", "d": "instant_skip"}, tiers(res))
	res, err = e.Build(ctx, buildnet.Request{})
	require.NoError(t, err)
	assert.Equal(t, all("instant_skip"), tiers(res))

	// a changed global input: every package rebuilds
	w.write("lock.txt", "lock v2\n")
	time.Sleep(400 * time.Millisecond)
	res, err = e.Build(ctx, buildnet.Request{})
	require.NoError(t, err)
	assert.Equal(t, all("full_build"), tiers(res))
	res, err = e.Build(ctx, buildnet.Request{})
	require.NoError(t, err)
	assert.Equal(t, all("instant_skip"), tiers(res))

	// forced: nothing is skipped
	res, err = e.Build(ctx, buildnet.Request{Packages: []string{"d"}, Force: true})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"d": "full_build"}, tiers(res))
}
