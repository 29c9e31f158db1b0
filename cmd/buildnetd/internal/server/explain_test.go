package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
)

func TestExplainEndpoints(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	first := f.build("/build/api", "{}")
	require.Equal(t, buildnet.StatusSuccess, first.Status)
	writeFile(t, filepath.Join(f.root, "pkgs/core/src/extra.txt"), "more\n")

	// a plan answers at once and runs nothing
	var plan buildnet.BuildResult
	f.postJSON("/build/api", `{"dry_run": true}`, http.StatusOK, &plan)
	assert.True(t, plan.DryRun)
	assert.Equal(t, 1, runs(t, f.root, "core"), "a plan runs nothing")
	second := f.build("/build/api", "{}")
	for i := range second.Packages {
		assert.Equal(t, second.Packages[i].Tier, plan.Packages[i].Tier)
	}

	var ex buildnet.Explanation
	f.getJSON("/why/api", http.StatusOK, &ex)
	assert.Equal(t, []buildnet.Reason{{Kind: buildnet.ReasonDependencyChanged, Dependency: "core",
		Reasons: []buildnet.Reason{{Kind: buildnet.ReasonFileAdded, Path: "src/extra.txt"}}}}, ex.Reasons)
	var since buildnet.Explanation
	f.getJSON("/why/core?since="+first.ID, http.StatusOK, &since)
	assert.Equal(t, []buildnet.Reason{{Kind: buildnet.ReasonFileAdded, Path: "src/extra.txt"}}, since.Reasons)

	var diff struct {
		Reasons []buildnet.Reason `json:"reasons"`
	}
	f.getJSON("/diff?a="+first.Packages[0].Digest+"&b="+second.Packages[0].Digest, http.StatusOK, &diff)
	assert.Equal(t, since.Reasons, diff.Reasons)
	var m buildnet.InputManifest
	f.getJSON("/manifests/"+second.Packages[0].Digest, http.StatusOK, &m)
	assert.Equal(t, "core", m.Package)
	assert.Len(t, m.Files, 2)

	var sum buildnet.Summary
	f.getJSON("/builds/"+second.ID+"/summary", http.StatusOK, &sum)
	assert.Equal(t, 2, sum.Totals.Packages)

	// history carries structured reasons
	var b struct {
		Packages []struct {
			Name    string            `json:"name"`
			Reasons []buildnet.Reason `json:"reasons"`
		} `json:"packages"`
	}
	f.getJSON("/builds/"+second.ID, http.StatusOK, &b)
	require.NotEmpty(t, b.Packages)
	assert.Equal(t, buildnet.ReasonFileAdded, b.Packages[0].Reasons[0].Kind)

	resp, body := f.do(http.MethodGet, "/why/nope", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, string(body))
	resp, body = f.do(http.MethodGet, "/why/noisy", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "never built: %s", body)
	resp, _ = f.do(http.MethodGet, "/diff?a=x", nil)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	resp, body = f.do(http.MethodPost, "/build", strings.NewReader(`{"filters": ["...^"]}`), "Content-Type", "application/json")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))
}

func TestPutConfig(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var ws buildnet.Workspace
	f.getJSON("/config", http.StatusOK, &ws)
	before, err := os.ReadFile(filepath.Join(f.root, buildnet.ConfigFile))
	require.NoError(t, err)

	// a cycle is refused, with the reason, and nothing changes
	bad := ws
	bad.Packages = append([]buildnet.Package(nil), ws.Packages...)
	bad.Packages[0].Dependencies = []string{"api"}
	data, _ := json.Marshal(bad)
	resp, body := f.do(http.MethodPut, "/config", strings.NewReader(string(data)), "Content-Type", "application/json")
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	assert.Contains(t, string(body), "dependency cycle")
	after, _ := os.ReadFile(filepath.Join(f.root, buildnet.ConfigFile))
	assert.Equal(t, string(before), string(after))
	resp, body = f.do(http.MethodPut, "/config", strings.NewReader(`{"packages": [`), "Content-Type", "application/json")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, string(body))

	// a good change is saved and applied without restart
	good := ws
	good.Packages = append([]buildnet.Package(nil), ws.Packages...)
	writeFile(t, filepath.Join(f.root, "pkgs/extra/src/main.txt"), "x\n")
	good.Packages = append(good.Packages, buildnet.Package{Name: "extra", Path: "pkgs/extra", BuildCmd: "mkdir -p dist && cp src/main.txt dist/"})
	data, _ = json.Marshal(good)
	var out struct {
		Change buildnet.ConfigChange `json:"change"`
	}
	resp, body = f.do(http.MethodPut, "/config", strings.NewReader(string(data)), "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.NoError(t, json.Unmarshal(body, &out))
	assert.Equal(t, []string{"extra"}, out.Change.Added)
	res := f.build("/build/extra", "{}")
	assert.Equal(t, buildnet.StatusSuccess, res.Status)
	saved, err := buildnet.LoadWorkspace(f.root)
	require.NoError(t, err)
	assert.Equal(t, "extra", saved.Packages[len(saved.Packages)-1].Name)

	// both attempts are in the audit log, the refused one with its status
	var audit struct {
		Entries []struct {
			Action  string         `json:"action"`
			Outcome string         `json:"outcome"`
			Details map[string]any `json:"details"`
		} `json:"entries"`
	}
	f.getJSON("/audit?action=config.change", http.StatusOK, &audit)
	require.Len(t, audit.Entries, 3, "%+v", audit.Entries)
	statuses := map[string]bool{}
	for _, e := range audit.Entries {
		statuses[fmt.Sprint(e.Details["status"])] = true
	}
	assert.True(t, statuses["422"], "the rejected change is audited with its status: %+v", audit.Entries)
}

func TestTemplatesOverHTTP(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var list struct {
		Templates []struct {
			Name string `json:"Name"`
		} `json:"templates"`
	}
	resp, body := f.do(http.MethodGet, "/templates", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.NoError(t, json.Unmarshal(body, &list))
	assert.Contains(t, string(body), "ts-library")
	require.NoError(t, os.MkdirAll(filepath.Join(f.root, "packages/widgets"), 0o755))
	f.postJSON("/templates/ts-library/apply", `{"values": {"name": "widgets"}}`, http.StatusOK, nil)
	assert.True(t, f.e.Graph().Has("widgets"), "applied without restart")
	resp, body = f.do(http.MethodPost, "/templates/ts-library/apply", strings.NewReader(`{"values": {"name": "widgets"}}`), "Content-Type", "application/json")
	assert.Equal(t, http.StatusConflict, resp.StatusCode, string(body))
	resp, _ = f.do(http.MethodPost, "/templates/nope/apply", strings.NewReader(`{}`), "Content-Type", "application/json")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// A daemon watching a 100 × 100 workspace answers a build with nothing
// changed without a single file system call.
func TestWatchingDaemonNoopMakesNoStatCall(t *testing.T) {
	var pkgs []buildnet.Package
	for i := range 100 {
		p := buildnet.Package{Name: fmt.Sprintf("p%03d", i), Path: fmt.Sprintf("pkgs/p%03d", i), BuildCmd: "mkdir -p dist && echo ok > dist/out"}
		if i > 0 {
			p.Dependencies = []string{fmt.Sprintf("p%03d", (i-1)/2)}
		}
		pkgs = append(pkgs, p)
	}
	f := newFixture(t, fixtureOpts{packages: pkgs})
	for _, p := range pkgs {
		for j := range 99 {
			writeFile(t, filepath.Join(f.root, p.Path, "src", fmt.Sprintf("d%d", j%4), fmt.Sprintf("f%02d.ts", j)), "export {}\n")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- f.e.Watch(ctx, buildnet.WatchOptions{OnReady: func() { close(ready) }}) }()
	<-ready
	t.Cleanup(func() { cancel(); <-done })

	res := f.build("/build", "{}")
	require.Equal(t, buildnet.StatusSuccess, res.Status)
	waitFor(t, "outputs settled", func() bool {
		before := f.e.StatCalls()
		f.build("/build", "{}")
		return f.e.StatCalls() == before
	})
	before := f.e.StatCalls()
	res = f.build("/build", "{}")
	assert.Equal(t, int64(0), f.e.StatCalls()-before, "nothing changed: no file system call")
	for _, p := range res.Packages {
		require.Equal(t, buildnet.TierInstantSkip, p.Tier, p.Name)
	}
	assert.Len(t, res.Packages, 100)
}
