package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/artifacts"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/artifacts/artifactstest"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/server"
	"github.com/musclemap/buildnet/state"
)

// openArtifacts opens an artifact store, with its own index, for a
// server of the test.
func openArtifacts(t testing.TB, opts artifacts.Options) (*artifacts.Store, *state.DB) {
	t.Helper()
	dir := t.TempDir()
	db, err := state.Open(context.Background(), filepath.Join(dir, "state.db"), state.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	opts.Dir, opts.Index = filepath.Join(dir, "artifacts"), db
	s, err := artifacts.Open(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, db
}

// cacheServer is a buildnetd serving a remote cache, with a build key
// (what CI holds) and a read key (what laptops hold).
type cacheServer struct {
	*fixture
	store  *artifacts.Store
	index  *state.DB
	ci     string
	laptop string
}

func newCacheServer(t testing.TB, opts artifacts.Options) *cacheServer {
	t.Helper()
	store, index := openArtifacts(t, opts)
	f := newFixture(t, fixtureOpts{opts: server.Options{Artifacts: store}})
	return &cacheServer{fixture: f, store: store, index: index, ci: f.newKey("ci", "build").Key, laptop: f.newKey("laptop", "read").Key}
}

// remoteWorkspace writes a workspace of n packages (each odd one depends
// on the one before) whose builds write a file, a nested file and a
// symbolic link, using the remote cache rc.
func remoteWorkspace(t testing.TB, n int, rc buildnet.RemoteConfig) string {
	t.Helper()
	root := t.TempDir()
	ws := buildnet.Workspace{Version: 1, Cache: buildnet.CacheConfig{Remote: rc}}
	for i := range n {
		name := fmt.Sprintf("p%03d", i)
		p := buildnet.Package{Name: name, Path: "pkgs/" + name,
			BuildCmd: `mkdir -p dist/sub && cp src/main.txt dist/ && echo "$BUILDNET_PACKAGE" > dist/sub/name && ln -sf main.txt dist/link && ` + countCmd}
		if i%2 == 1 {
			p.Dependencies = []string{ws.Packages[i-1].Name}
		}
		ws.Packages = append(ws.Packages, p)
		writeFile(t, filepath.Join(root, p.Path, "src", "main.txt"), "source of "+name+"\n")
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".counts"), 0o755))
	data, err := json.MarshalIndent(ws, "", "  ")
	require.NoError(t, err)
	writeFile(t, filepath.Join(root, buildnet.ConfigFile), string(data))
	return root
}

// outputs describes every file under the packages' dist directories.
func outputs(t testing.TB, root string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	dists, _ := filepath.Glob(filepath.Join(root, "pkgs", "*", "dist"))
	for _, dist := range dists {
		require.NoError(t, filepath.WalkDir(dist, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				tree[rel] = "-> " + target
				return err
			case d.Type().IsRegular():
				b, err := os.ReadFile(p)
				tree[rel] = string(b)
				return err
			}
			return nil
		}))
	}
	return tree
}

// serveEngine serves the workspace at root from a second buildnetd, whose
// engine gets env, and returns its address (testClient authenticates to
// it as admin).
func serveEngine(t testing.TB, root string, env []string) string {
	t.Helper()
	writeFile(t, filepath.Join(root, ".buildnet", auth.SettingsFile), unlimitedSettings)
	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: root, Env: env})
	require.NoError(t, err)
	s := server.New(e, server.Options{Version: "test", ShutdownGrace: 50 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	registerAdminKey(t, root, ln.Addr().String())
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-served)
		require.NoError(t, e.Close())
	})
	return "http://" + ln.Addr().String()
}

// cacheStats is GET /cache/stats with the remote and served caches.
type cacheStats struct {
	Entries   int64                `json:"entries"`
	Remote    buildnet.RemoteStats `json:"remote"`
	Artifacts *artifacts.Stats     `json:"artifacts"`
}

func getCacheStats(t testing.TB, url string) cacheStats {
	t.Helper()
	resp, err := testClient.Get(url + "/cache/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var st cacheStats
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

// TestServeCacheToBuildNet is the end-to-end check of buildnetd as a
// remote cache for other BuildNet instances: machine A (CI, build key)
// builds and uploads; machine B, another buildnetd with an identical
// checkout, an empty cache and a read key, restores every package from
// the remote, byte for byte, and shows it in its /cache/stats.
func TestServeCacheToBuildNet(t *testing.T) {
	t.Parallel()
	f := newCacheServer(t, artifacts.Options{})
	store, ci, laptop := f.store, f.ci, f.laptop
	const n = 6
	rc := buildnet.RemoteConfig{URL: f.url, Team: "acme", TokenEnv: "BN_CACHE_TOKEN"}
	write := rc
	write.Write = true

	rootA := remoteWorkspace(t, n, write)
	a, err := buildnet.Open(context.Background(), buildnet.Config{Root: rootA, Env: append(os.Environ(), "BN_CACHE_TOKEN="+ci)})
	require.NoError(t, err)
	resA, err := a.Build(context.Background(), buildnet.Request{})
	require.NoError(t, err)
	require.NoError(t, a.Close(), "closing flushes the uploads")
	require.Equal(t, buildnet.StatusSuccess, resA.Status)
	stA := a.RemoteStats()
	assert.Equal(t, int64(n), stA.Uploads, "%+v", stA)
	assert.Zero(t, stA.Errors)

	rootB := remoteWorkspace(t, n, rc)
	urlB := serveEngine(t, rootB, append(os.Environ(), "BN_CACHE_TOKEN="+laptop))
	resp, err := testClient.Post(urlB+"/build?wait=true", "application/json", nil)
	require.NoError(t, err)
	var resB buildnet.BuildResult
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&resB))
	resp.Body.Close()
	require.Equal(t, buildnet.StatusSuccess, resB.Status)
	for _, p := range resB.Packages {
		assert.Equal(t, buildnet.TierCacheRestore, p.Tier, p.Name)
		assert.Equal(t, "remote", p.CacheSource, p.Name)
		assert.Zero(t, runs(t, rootB, p.Name), "%s did not build on B", p.Name)
	}
	assert.Equal(t, outputs(t, rootA), outputs(t, rootB), "byte-identical outputs")
	assert.Len(t, outputs(t, rootB), 3*n)

	stB := getCacheStats(t, urlB)
	assert.Equal(t, int64(n), stB.Remote.Hits, "remote hits in B's /cache/stats")
	assert.Positive(t, stB.Remote.BytesDown)
	assert.Zero(t, stB.Remote.Errors)
	assert.Nil(t, stB.Artifacts, "B serves no cache")

	stS := getCacheStats(t, f.url)
	require.NotNil(t, stS.Artifacts)
	assert.Equal(t, int64(n), stS.Artifacts.Entries)
	assert.Equal(t, int64(n), stS.Artifacts.Puts)
	assert.Equal(t, int64(n), stS.Artifacts.Hits)
	assert.Equal(t, store.Stats().Bytes, stS.Artifacts.Bytes)
	assert.False(t, stS.Remote.Configured, "the server's own engine uses no remote")

	// Every upload is in the audit log, by the CI key.
	entries := f.audit("action=artifact.put")
	require.Len(t, entries, n)
	for _, e := range entries {
		assert.Equal(t, state.OutcomeAllowed, e.Outcome)
		assert.Equal(t, "build", e.Role)
		assert.Equal(t, "ci", e.Details["key_name"])
		assert.True(t, strings.HasPrefix(e.Target, "artifact:acme/"), e.Target)
		assert.Contains(t, e.Details, "blob")
	}
}

// TestServeCacheReadKeyCannotWrite shows the "CI writes, laptops read"
// boundary on the server: a read key's upload is refused with 403 and
// audited, and it changes nothing that readers restore.
func TestServeCacheReadKeyCannotWrite(t *testing.T) {
	t.Parallel()
	f := newCacheServer(t, artifacts.Options{MaxArtifactSize: 1 << 10})
	store, ci, laptop := f.store, f.ci, f.laptop
	put := func(key, hash string, body []byte) (int, string) {
		code, b := f.call(key, http.MethodPut, "/v8/artifacts/"+hash+"?slug=acme", string(body))
		return code, string(b)
	}
	code, body := put(ci, "0123456789abcdef", []byte("built by CI"))
	require.Equal(t, http.StatusAccepted, code, body)

	code, body = put(laptop, "0123456789abcdef", []byte("poisoned"))
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, `"code":"forbidden"`, "turbo reports: insufficient permissions to write")
	code, body = put("", "0123456789abcdef", []byte("anonymous"))
	assert.Equal(t, http.StatusUnauthorized, code, body)

	code, got := f.call(laptop, http.MethodGet, "/v8/artifacts/0123456789abcdef?slug=acme", "")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "built by CI", string(got), "the read key reads, and what CI wrote is intact")

	denied := f.audit("action=artifact.put&outcome=denied")
	require.Len(t, denied, 2)
	assert.Equal(t, "read", denied[len(denied)-1].Role, "%+v", denied)
	assert.EqualValues(t, http.StatusForbidden, denied[len(denied)-1].Details["status"])

	// Over the size limit: 413, still audited.
	code, body = put(ci, "fedcba9876543210", bytes.Repeat([]byte("x"), 2<<10))
	assert.Equal(t, http.StatusRequestEntityTooLarge, code, body)
	st := store.Stats()
	assert.Equal(t, int64(2), st.Denied)
	assert.Equal(t, int64(1), st.Rejected)
	assert.Equal(t, int64(1), st.Entries)
	tooLarge := f.audit("action=artifact.put&q=fedcba9876543210")
	require.NotEmpty(t, tooLarge)
	assert.EqualValues(t, http.StatusRequestEntityTooLarge, tooLarge[0].Details["status"])
}

// TestServeCacheToTurbo runs the real turbo CLI against buildnetd with
// BuildNet keys and artifact signing on: CI's build key stores the
// artifacts, then a laptop's read key restores them all, on a cleared
// local turbo cache, as remote cache hits with the time saved. Turbo
// verifies each x-artifact-tag itself: the hits show that the server
// returned them verbatim, and a tag changed on the server makes a miss.
func TestServeCacheToTurbo(t *testing.T) {
	t.Parallel()
	turbo := artifactstest.Turbo(t)
	f := newCacheServer(t, artifacts.Options{})
	store, ci, laptop := f.store, f.ci, f.laptop
	root := artifactstest.TurboWorkspace(t, true, "web", "docs")
	const secret = "shared turbo signing secret"
	clear := func() {
		for _, p := range []string{".turbo", "packages/web/dist", "packages/docs/dist", "packages/web/.turbo", "packages/docs/.turbo"} {
			require.NoError(t, os.RemoveAll(filepath.Join(root, p)))
		}
	}

	out, tasks, err := artifactstest.RunTurbo(t, turbo, root, artifactstest.TurboRemote{API: f.url, Token: ci, Team: "team_x", SignatureKey: secret}, "rw")
	require.NoError(t, err, out)
	assert.Equal(t, "MISS", tasks["web#build"].Status, out)
	require.Equal(t, int64(2), store.Stats().Puts, out)

	clear()
	laptopRemote := artifactstest.TurboRemote{API: f.url, Token: laptop, Team: "team_x", SignatureKey: secret}
	out, tasks, err = artifactstest.RunTurbo(t, turbo, root, laptopRemote, "r")
	require.NoError(t, err, out)
	for _, id := range []string{"web#build", "docs#build"} {
		assert.Equal(t, "HIT", tasks[id].Status, "%s:\n%s", id, out)
		assert.Equal(t, "REMOTE", tasks[id].Source, id)
		assert.Positive(t, tasks[id].TimeSaved, "%s: time saved, from x-artifact-duration", id)
	}
	assert.Contains(t, out, "FULL TURBO")
	b, err := os.ReadFile(filepath.Join(root, "packages/web/dist/out.txt"))
	require.NoError(t, err)
	assert.Equal(t, "built web", string(b))
	st := store.Stats()
	assert.Equal(t, int64(2), st.Hits)
	assert.Positive(t, st.Events, "turbo's usage events")

	// Someone with write access to the server's index replaces web's tag.
	puts := f.audit("action=artifact.put")
	require.NotEmpty(t, puts)
	assert.Equal(t, true, puts[0].Details["tagged"], "turbo signed its uploads")
	hash, _ := puts[0].Details["key"].(string)
	a, err := f.index.Artifact(context.Background(), "team_x", hash)
	require.NoError(t, err)
	a.Tag = "Zm9yZ2VkIHRhZw"
	_, _, err = f.index.PutArtifact(context.Background(), a)
	require.NoError(t, err)
	clear()
	out, tasks, err = artifactstest.RunTurbo(t, turbo, root, laptopRemote, "r")
	require.NoError(t, err, out)
	misses := 0
	for _, tc := range tasks {
		if tc.Status == "MISS" {
			misses++
		}
	}
	assert.Equal(t, 1, misses, "turbo refuses the artifact whose tag was changed:\n%s", out)
}

const benchRemotePackages = 100

// BenchmarkServeCacheRestore restores a 100-package workspace, whose
// local cache is empty, entirely from a buildnetd on the loopback
// interface (five 4 KiB files per package).
func BenchmarkServeCacheRestore(b *testing.B) {
	f := newCacheServer(b, artifacts.Options{})
	ci, laptop := f.ci, f.laptop
	ctx := context.Background()
	rc := buildnet.RemoteConfig{URL: f.url, Team: "acme", TokenEnv: "BN_CACHE_TOKEN"}
	workspace := func(rc buildnet.RemoteConfig) string {
		root := b.TempDir()
		ws := buildnet.Workspace{Version: 1, Cache: buildnet.CacheConfig{Remote: rc}}
		for i := range benchRemotePackages {
			name := fmt.Sprintf("p%03d", i)
			ws.Packages = append(ws.Packages, buildnet.Package{Name: name, Path: "pkgs/" + name,
				BuildCmd: `mkdir -p dist && for i in 1 2 3 4 5; do head -c 4096 /dev/urandom > dist/f$i.bin; done`})
			writeFile(b, filepath.Join(root, "pkgs", name, "src", "index.ts"), "export const name = '"+name+"'\n")
		}
		data, err := json.Marshal(ws)
		require.NoError(b, err)
		writeFile(b, filepath.Join(root, buildnet.ConfigFile), string(data))
		return root
	}
	build := func(root, token string) *buildnet.BuildResult {
		e, err := buildnet.Open(ctx, buildnet.Config{Root: root, Env: append(os.Environ(), "BN_CACHE_TOKEN="+token)})
		require.NoError(b, err)
		res, err := e.Build(ctx, buildnet.Request{})
		require.NoError(b, err)
		require.NoError(b, e.Close())
		return res
	}
	write := rc
	write.Write = true
	require.Equal(b, buildnet.StatusSuccess, build(workspace(write), ci).Status)
	root := workspace(rc)
	reset := func() {
		for _, p := range []string{"cache", "state.db", "state.db-wal", "state.db-shm"} {
			require.NoError(b, os.RemoveAll(filepath.Join(root, ".buildnet", p)))
		}
		for i := range benchRemotePackages {
			require.NoError(b, os.RemoveAll(filepath.Join(root, "pkgs", fmt.Sprintf("p%03d", i), "dist")))
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		reset()
		b.StartTimer()
		res := build(root, laptop)
		b.StopTimer()
		counts, _ := res.Counts()
		require.Equal(b, map[buildnet.Tier]int{buildnet.TierCacheRestore: benchRemotePackages}, counts)
		b.StartTimer()
	}
}

// TestServeCacheOffAndPreflight checks a daemon started without
// --serve-cache (turbo is told remote caching is disabled, rather than
// missing forever) and turbo's --preflight, which needs no credentials
// and must let the Authorization header through.
func TestServeCacheOffAndPreflight(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOpts{})
	read := f.newKey("laptop", "read").Key
	code, body := f.call(read, http.MethodGet, "/v8/artifacts/status?slug=acme", "")
	assert.Equal(t, http.StatusOK, code)
	assert.JSONEq(t, `{"status":"disabled"}`, string(body))
	code, body = f.call(read, http.MethodGet, "/v8/artifacts/0123456789abcdef?slug=acme", "")
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, string(body), artifacts.CodeDisabled)
	code, _ = f.call("", http.MethodGet, "/v8/artifacts/0123456789abcdef?slug=acme", "")
	assert.Equal(t, http.StatusUnauthorized, code, "still authenticated")

	resp, _ := f.do(http.MethodOptions, "/v8/artifacts/0123456789abcdef?slug=acme", nil, "Authorization", noAuth,
		"Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "authorization, x-artifact-duration")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "authorization, x-artifact-duration", resp.Header.Get("Access-Control-Allow-Headers"))
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}
