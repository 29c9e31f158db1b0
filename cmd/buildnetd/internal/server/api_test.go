package server_test

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/state"
)

func TestReadEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	res := f.build("/build/api", "")
	require.Equal(t, buildnet.StatusSuccess, res.Status)

	t.Run("health", func(t *testing.T) {
		var h struct {
			Status, Version, Workspace string
			UptimeS                    float64 `json:"uptime_s"`
		}
		f.getJSON("/health", http.StatusOK, &h)
		assert.Equal(t, "ok", h.Status)
		assert.Equal(t, "test", h.Version)
		assert.Equal(t, f.e.Root(), h.Workspace)
		assert.Positive(t, h.UptimeS)
	})
	t.Run("status", func(t *testing.T) {
		var st struct {
			Version      string                   `json:"version"`
			Workspace    string                   `json:"workspace"`
			Concurrency  int                      `json:"concurrency"`
			Packages     []buildnet.PackageStatus `json:"packages"`
			ActiveBuilds []json.RawMessage        `json:"active_builds"`
			Queue        []json.RawMessage        `json:"queue"`
			Cache        struct{ Entries int64 }  `json:"cache"`
			Host         map[string]float64       `json:"host"`
		}
		f.getJSON("/status", http.StatusOK, &st)
		assert.Equal(t, f.e.Root(), st.Workspace)
		assert.Positive(t, st.Concurrency)
		require.Len(t, st.Packages, len(testPackages))
		byName := map[string]buildnet.PackageStatus{}
		for _, p := range st.Packages {
			byName[p.Name] = p
		}
		assert.Equal(t, buildnet.StatusSuccess, byName["core"].LastStatus)
		assert.Equal(t, res.ID, byName["api"].LastBuild)
		assert.Empty(t, byName["gate"].LastStatus, "never built")
		assert.NotNil(t, st.ActiveBuilds)
		assert.NotNil(t, st.Queue)
		assert.EqualValues(t, 2, st.Cache.Entries)
		for _, k := range []string{"cpu_percent", "load1", "mem_total_bytes", "mem_available_bytes", "disk_total_bytes", "disk_free_bytes", "rss_bytes", "goroutines"} {
			assert.Contains(t, st.Host, k)
		}
		assert.Positive(t, st.Host["goroutines"])
		assert.Positive(t, st.Host["mem_total_bytes"])
		assert.Positive(t, st.Host["disk_total_bytes"])
		assert.Positive(t, st.Host["rss_bytes"])
	})
	t.Run("config", func(t *testing.T) {
		var ws buildnet.Workspace
		f.getJSON("/config", http.StatusOK, &ws)
		require.Len(t, ws.Packages, len(testPackages))
		assert.Equal(t, "core", ws.Packages[0].Name)
		assert.Equal(t, "pkgs/core/dist", ws.Packages[0].OutputDir)
	})
	t.Run("graph", func(t *testing.T) {
		var g struct {
			Nodes []struct {
				Name       string   `json:"name"`
				Deps       []string `json:"deps"`
				Dependents []string `json:"dependents"`
				Level      int      `json:"level"`
			} `json:"nodes"`
			Edges []struct{ From, To string } `json:"edges"`
		}
		f.getJSON("/graph", http.StatusOK, &g)
		assert.Len(t, g.Nodes, len(testPackages))
		assert.Equal(t, []struct{ From, To string }{{"api", "core"}}, g.Edges)
		resp, body := f.do(http.MethodGet, "/graph?format=dot", nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "text/vnd.graphviz; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Contains(t, string(body), `"api" -> "core";`)
	})
	t.Run("metrics", func(t *testing.T) {
		resp, body := f.do(http.MethodGet, "/metrics", nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, string(body), "buildnet_active_builds 0\n")
		assert.Contains(t, string(body), "buildnet_cache_entries 2\n")
		assert.Contains(t, string(body), `buildnet_http_requests_total{code="200",route="GET /health"}`)
	})
	t.Run("panel", func(t *testing.T) {
		resp, body := f.do(http.MethodGet, "/", nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Contains(t, resp.Header.Get("Content-Type"), "text/html")
		assert.Contains(t, strings.ToLower(string(body)), "<html")
	})
}

func TestBuildsHistoryAndLogs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	first := f.build("/build/core", "")
	require.Equal(t, buildnet.StatusSuccess, first.Status)
	require.Len(t, first.Packages, 1)
	assert.Equal(t, buildnet.TierFullBuild, first.Packages[0].Tier)
	// The requester is who authenticated, whatever the body says.
	nightly := f.newKey("nightly", "build")
	var failed buildnet.BuildResult
	resp, body := f.do(http.MethodPost, "/build?wait=true", strings.NewReader(`{"packages":["fail"],"requester":"someone"}`),
		"Authorization", "Bearer "+nightly.Key)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.NoError(t, json.Unmarshal(body, &failed))
	require.Equal(t, buildnet.StatusFailed, failed.Status)
	assert.Equal(t, "key:"+nightly.ID, failed.Requester)
	again := f.build("/build", `{"packages":["api"],"priority":"high"}`)
	require.Equal(t, buildnet.StatusSuccess, again.Status)
	assert.Equal(t, f.actor(), again.Requester)

	list := func(q string) ([]string, string) {
		var out struct {
			Builds []state.Build `json:"builds"`
			Next   string        `json:"next"`
		}
		f.getJSON("/builds"+q, http.StatusOK, &out)
		ids := []string{}
		for _, b := range out.Builds {
			ids = append(ids, b.ID)
		}
		return ids, out.Next
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{again.ID, failed.ID, first.ID}},
		{"?status=failed", []string{failed.ID}},
		{"?package=core", []string{again.ID, first.ID}},
		{"?package=core&tier=full_build", []string{first.ID}},
		{"?tier=instant_skip", []string{again.ID}},
		{"?requester=key:" + nightly.ID, []string{failed.ID}},
		{"?q=FAIL", []string{failed.ID}},
		{"?since=2000-01-01T00:00:00Z&until=2001-01-01T00:00:00Z", []string{}},
	}
	for _, tt := range tests {
		t.Run("list"+tt.query, func(t *testing.T) {
			ids, next := list(tt.query)
			assert.Equal(t, tt.want, ids)
			assert.Empty(t, next)
		})
	}
	t.Run("paging", func(t *testing.T) {
		ids, next := list("?limit=2")
		assert.Equal(t, []string{again.ID, failed.ID}, ids)
		require.NotEmpty(t, next)
		ids, next = list("?limit=2&cursor=" + next)
		assert.Equal(t, []string{first.ID}, ids)
		assert.Empty(t, next)
	})
	t.Run("one build", func(t *testing.T) {
		var b state.Build
		f.getJSON("/builds/"+failed.ID, http.StatusOK, &b)
		assert.Equal(t, state.StatusFailed, b.Status)
		require.Len(t, b.Packages, 1)
		assert.Equal(t, "fail", b.Packages[0].Package)
		assert.Equal(t, "failed", b.Packages[0].Status)
	})
	t.Run("log", func(t *testing.T) {
		resp, body := f.do(http.MethodGet, "/builds/"+first.ID+"/log", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "text/plain; charset=utf-8", resp.Header.Get("Content-Type"))
		assert.Equal(t, "==> core <==\n\x1b[32mbuilt\x1b[0m core\n", string(body))
		assert.Empty(t, resp.Header.Get("Content-Disposition"))

		_, body = f.do(http.MethodGet, "/builds/"+first.ID+"/log?ansi=false", nil)
		assert.Equal(t, "==> core <==\nbuilt core\n", string(body))

		resp, body = f.do(http.MethodGet, "/builds/"+failed.ID+"/log?package=fail&download=1", nil)
		assert.Equal(t, "boom\n", string(body))
		assert.Equal(t, `attachment; filename="build-`+failed.ID+`-fail.log"`, resp.Header.Get("Content-Disposition"))
	})
}

func TestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{opts: serverOptsLoopback()})
	f.build("/build/core", "")
	huge := `{"packages":["` + strings.Repeat("a", 2<<20) + `"]}`
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		code                     string
		message                  string // a substring
		suggestions              []string
	}{
		{name: "unknown package in path", method: "POST", path: "/build/cor", status: 404, code: "unknown_package", message: `unknown package "cor"`, suggestions: []string{"core"}},
		{name: "unknown package in body", method: "POST", path: "/build?wait=true", body: `{"packages":["noisey"]}`, status: 404, code: "unknown_package", suggestions: []string{"noisy"}},
		{name: "unknown package far from all", method: "POST", path: "/build", body: `{"packages":["zzzzzzzz"]}`, status: 404, code: "unknown_package", suggestions: []string{}},
		{name: "bad JSON", method: "POST", path: "/build", body: `{"packages":`, status: 400, code: "invalid_json", message: "unexpected end of JSON input"},
		{name: "bad JSON syntax", method: "POST", path: "/build", body: `{"packages" ["a"]}`, status: 400, code: "invalid_json", message: "invalid character"},
		{name: "wrong JSON type", method: "POST", path: "/build", body: `{"force":"yes"}`, status: 400, code: "invalid_json", message: "force"},
		{name: "trailing data", method: "POST", path: "/build", body: `{} {}`, status: 400, code: "invalid_json"},
		{name: "bad priority", method: "POST", path: "/build", body: `{"priority":"urgent"}`, status: 400, code: "invalid_json", message: "urgent"},
		{name: "oversized body", method: "POST", path: "/build", body: huge, status: 413, code: "too_large"},
		{name: "bad wait", method: "POST", path: "/build?wait=maybe", status: 400, code: "bad_request"},
		{name: "unknown build", method: "GET", path: "/builds/nope", status: 404, code: "not_found", message: `build "nope" not found`},
		{name: "unknown build log", method: "GET", path: "/builds/nope/log", status: 404, code: "not_found"},
		{name: "cancel unknown build", method: "POST", path: "/builds/nope/cancel", status: 404, code: "not_found"},
		{name: "bad since", method: "GET", path: "/builds?since=yesterday", status: 400, code: "bad_request"},
		{name: "bad limit", method: "GET", path: "/builds?limit=-1", status: 400, code: "bad_request"},
		{name: "bad cursor", method: "GET", path: "/builds?cursor=garbage", status: 400, code: "bad_request"},
		{name: "bad entries cursor", method: "GET", path: "/cache/entries?cursor=x", status: 400, code: "bad_request"},
		{name: "bad graph format", method: "GET", path: "/graph?format=xml", status: 400, code: "bad_request"},
		{name: "bad Last-Event-ID", method: "GET", path: "/events", header: []string{"Last-Event-ID", "x"}, status: 400, code: "bad_request"},
		{name: "wrong method", method: "POST", path: "/status", status: 405, code: "method_not_allowed"},
		{name: "no such endpoint", method: "DELETE", path: "/nope", status: 404, code: "not_found"},
		{name: "DNS rebinding", method: "GET", path: "/health", header: []string{"Host", "evil.example:9876"}, status: 403, code: "forbidden"},
		{name: "cross-origin POST", method: "POST", path: "/cache/clear", header: []string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}, status: 403, code: "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(tt.method, tt.path, strings.NewReader(tt.body), tt.header...)
			require.Equal(t, tt.status, resp.StatusCode, "%s", body)
			assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
			var e apiError
			require.NoError(t, json.Unmarshal(body, &e), "%s", body)
			assert.Equal(t, tt.code, e.Error.Code)
			assert.Contains(t, e.Error.Message, tt.message)
			if tt.suggestions != nil {
				assert.Equal(t, tt.suggestions, e.Error.Suggestions)
			}
		})
	}
	t.Run("loopback hosts allowed", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(f.addr)
		for _, h := range []string{"localhost", "localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port} {
			resp, body := f.do(http.MethodGet, "/health", nil, "Host", h)
			assert.Equal(t, http.StatusOK, resp.StatusCode, "Host %s: %s", h, body)
		}
	})
	assert.Equal(t, 1, runs(t, f.root, "core"), "no refused request built anything")
	assert.Equal(t, 0, runs(t, f.root, "noisy"))
}

func TestCancelBuild(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	var started struct{ ID, Status string }
	f.postJSON("/build/gate", "", http.StatusAccepted, &started)
	require.Equal(t, "running", started.Status)
	waitFor(t, "gate to run", func() bool { return runs(t, f.root, "gate") == 1 })

	var b state.Build
	f.getJSON("/builds/"+started.ID, http.StatusOK, &b)
	assert.Equal(t, state.StatusRunning, b.Status)
	waitFor(t, "the running build in /status", func() bool {
		var st struct {
			ActiveBuilds []struct {
				ID, Requester string
				Total, Done   int
				Running       []string
			} `json:"active_builds"`
		}
		f.getJSON("/status", http.StatusOK, &st)
		return len(st.ActiveBuilds) == 1 && st.ActiveBuilds[0].ID == started.ID &&
			sprint(st.ActiveBuilds[0].Running) == "[gate]" && st.ActiveBuilds[0].Total == 1 &&
			st.ActiveBuilds[0].Requester == f.actor()
	})
	// The live log of a running build.
	waitFor(t, "the live log", func() bool {
		_, body := f.do(http.MethodGet, "/builds/"+started.ID+"/log", nil)
		return string(body) == "==> gate <==\nwaiting\n"
	})

	var c struct{ ID, Status string }
	f.postJSON("/builds/"+started.ID+"/cancel", "", http.StatusAccepted, &c)
	assert.Equal(t, started.ID, c.ID)
	assert.Equal(t, "cancelling", c.Status)
	waitFor(t, "the build to end", func() bool {
		f.getJSON("/builds/"+started.ID, http.StatusOK, &b)
		return b.Status != state.StatusRunning
	})
	assert.Equal(t, state.StatusCancelled, b.Status)
	require.Len(t, b.Packages, 1)
	assert.Equal(t, "cancelled", b.Packages[0].Status)

	var e apiError
	f.postJSON("/builds/"+started.ID+"/cancel", "", http.StatusConflict, &e)
	assert.Equal(t, "conflict", e.Error.Code)
}

func TestRunningBuildShowsFinishedPackages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	var started struct{ ID string }
	f.postJSON("/build", `{"packages":["core","gate"]}`, http.StatusAccepted, &started)
	waitFor(t, "core to finish while gate waits", func() bool {
		var b state.Build
		f.getJSON("/builds/"+started.ID, http.StatusOK, &b)
		return b.Status == state.StatusRunning && len(b.Packages) == 1 && b.Packages[0].Package == "core" &&
			b.Packages[0].Status == "success" && !b.Packages[0].Digest.IsZero()
	})
	f.release()
	waitFor(t, "the build to end", func() bool {
		var b state.Build
		f.getJSON("/builds/"+started.ID, http.StatusOK, &b)
		return b.Status == state.StatusSuccess && len(b.Packages) == 2
	})
}

func TestCacheEndpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	f.build("/build/api", "")
	var cs struct{ Entries, Bytes, Hits, Misses int64 }
	f.getJSON("/cache/stats", http.StatusOK, &cs)
	assert.EqualValues(t, 2, cs.Entries)
	assert.Positive(t, cs.Bytes)

	type entry struct {
		Key, Package string
		Size         int64
		Files        int
	}
	var page struct {
		Entries []entry `json:"entries"`
		Next    string  `json:"next"`
	}
	f.getJSON("/cache/entries", http.StatusOK, &page)
	require.Len(t, page.Entries, 2)
	assert.Empty(t, page.Next)
	pkgs := []string{page.Entries[0].Package, page.Entries[1].Package}
	assert.ElementsMatch(t, []string{"core", "api"}, pkgs)
	assert.Len(t, page.Entries[0].Key, 64)
	assert.Positive(t, page.Entries[0].Size)

	f.getJSON("/cache/entries?limit=1", http.StatusOK, &page)
	require.Len(t, page.Entries, 1)
	require.Equal(t, "1", page.Next)
	first := page.Entries[0].Key
	f.getJSON("/cache/entries?limit=1&cursor=1", http.StatusOK, &page)
	require.Len(t, page.Entries, 1)
	assert.NotEqual(t, first, page.Entries[0].Key)
	assert.Empty(t, page.Next)

	var cleared map[string]bool
	f.postJSON("/cache/clear", "", http.StatusOK, &cleared)
	assert.Equal(t, map[string]bool{"cleared": true}, cleared)
	f.getJSON("/cache/stats", http.StatusOK, &cs)
	assert.Zero(t, cs.Entries)

	// Outputs removed, cache empty: the package really builds again.
	require.NoError(t, removeAll(filepath.Join(f.root, "pkgs/core/dist")))
	res := f.build("/build/core", "")
	assert.Equal(t, buildnet.TierFullBuild, res.Packages[0].Tier)
	assert.Equal(t, 2, runs(t, f.root, "core"))
}
