package buildnet_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/cache/cachetest"
	"github.com/musclemap/buildnet/cache/remote/remotetest"
	"github.com/musclemap/buildnet/hash"
)

const (
	remoteToken = "remote-token-7f3a9c"
	remoteTeam  = "buildnet"
	tokenVar    = "BN_REMOTE_TOKEN=" + remoteToken
	keyVar      = "BN_REMOTE_KEY=shared signing key"
)

// withRemote configures w's remote cache and saves the configuration.
func (w *workspace) withRemote(rc buildnet.RemoteConfig) *workspace {
	w.t.Helper()
	w.ws.Cache.Remote = rc
	w.saveConfig()
	return w
}

// remoteBuild builds everything in a fresh engine, closes it (which
// flushes uploads) and returns the result and the remote statistics.
func (w *workspace) remoteBuild(env ...string) (*buildnet.BuildResult, buildnet.RemoteStats) {
	w.t.Helper()
	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: w.root, Env: append(os.Environ(), env...)})
	require.NoError(w.t, err)
	res, err := e.Build(context.Background(), buildnet.Request{})
	require.NoError(w.t, err)
	require.NoError(w.t, e.Close())
	return res, e.RemoteStats()
}

func sources(res *buildnet.BuildResult) map[string]string {
	m := map[string]string{}
	for _, p := range res.Packages {
		src := p.CacheSource
		if p.Reason != nil && p.Reason.Kind == buildnet.ReasonCacheHit {
			src += "/" + p.Reason.Source
		}
		m[p.Name] = src
	}
	return m
}

func digests(res *buildnet.BuildResult) map[string]hash.Digest {
	m := map[string]hash.Digest{}
	for _, p := range res.Packages {
		d, err := hash.ParseDigest(p.Digest)
		if err == nil {
			m[p.Name] = d
		}
	}
	return m
}

func allTiers(tier string, names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m[n] = tier
	}
	return m
}

// outputTree describes every package's output directory: path, mode and
// content or link target.
func (w *workspace) outputTree() map[string]string {
	w.t.Helper()
	tree := map[string]string{}
	for _, p := range w.ws.Packages {
		dir := w.path(p.Path + "/dist")
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(w.root, path)
			fi, err := d.Info()
			if err != nil {
				return err
			}
			desc := fi.Mode().String()
			switch {
			case fi.Mode().IsRegular():
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				desc += " " + string(b)
			case fi.Mode()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(path)
				desc += " -> " + target
			}
			tree[filepath.ToSlash(rel)] = desc
			return nil
		})
		require.NoError(w.t, err)
	}
	return tree
}

// machines sets up machine A, which builds and uploads, and machine B, an
// identical checkout with an empty local cache, against one server.
func machines(t *testing.T, url string, signed bool) (a, b *workspace, env []string) {
	t.Helper()
	rc := buildnet.RemoteConfig{URL: url, Team: remoteTeam, TokenEnv: "BN_REMOTE_TOKEN"}
	env = []string{tokenVar}
	if signed {
		rc.SignatureKeyEnv = "BN_REMOTE_KEY"
		env = append(env, keyVar)
	}
	write := rc
	write.Write = true
	return newWorkspace(t).withRemote(write), newWorkspace(t).withRemote(rc), env
}

// TestRemoteNPMServer is the end-to-end check against the real
// turborepo-remote-cache server: machine A builds everything and uploads,
// machine B restores every package from the remote, byte for byte.
func TestRemoteNPMServer(t *testing.T) {
	srv := remotetest.StartNPM(t, remotetest.NPMOptions{Token: remoteToken})
	a, b, env := machines(t, srv.URL, false)

	resA, stA := a.remoteBuild(env...)
	require.Equal(t, buildnet.StatusSuccess, resA.Status)
	assert.Equal(t, allTiers("full_build", "a", "b", "c", "d"), tiers(resA))
	assert.Equal(t, int64(4), stA.Uploads, "uploads flushed by Close: %+v", stA)
	assert.Zero(t, stA.Errors)
	assert.Equal(t, int64(4), stA.Misses)
	for name, d := range digests(resA) {
		_, err := os.Stat(srv.ArtifactPath(remoteTeam, d.String()))
		assert.NoError(t, err, "artifact of %s on the server", name)
	}

	resB, stB := b.remoteBuild(env...)
	require.Equal(t, buildnet.StatusSuccess, resB.Status)
	assert.Equal(t, allTiers("cache_restore", "a", "b", "c", "d"), tiers(resB))
	assert.Equal(t, allTiers("remote/remote", "a", "b", "c", "d"), sources(resB))
	for _, p := range resB.Packages {
		assert.Positive(t, p.SavedMs+1, "saved time carried over")
		assert.Equal(t, 0, b.runs(p.Name), "%s did not build on B", p.Name)
	}
	assert.Equal(t, a.outputTree(), b.outputTree(), "byte-identical outputs")
	assert.Len(t, b.outputTree(), 12)
	assert.Equal(t, int64(4), stB.Hits)
	assert.Positive(t, stB.BytesDown)
	assert.Zero(t, stB.Errors)
	assert.Zero(t, stB.Uploads, "B only reads")
	assert.True(t, stB.Read)
	assert.False(t, stB.Write)

	// Now local: the next build on B only stats, and asks the remote
	// nothing.
	res, st := b.remoteBuild(env...)
	assert.Equal(t, allTiers("instant_skip", "a", "b", "c", "d"), tiers(res))
	assert.Zero(t, st.Hits+st.Misses+st.Errors+st.BytesDown)
}

// TestRemoteNPMServerSigned shows that with signing on, an artifact
// replaced on the server is refused and the package rebuilt.
func TestRemoteNPMServerSigned(t *testing.T) {
	srv := remotetest.StartNPM(t, remotetest.NPMOptions{Token: remoteToken, StoreTags: true})
	a, b, env := machines(t, srv.URL, true)
	resA, stA := a.remoteBuild(env...)
	require.Equal(t, buildnet.StatusSuccess, resA.Status)
	require.Equal(t, int64(4), stA.Uploads)

	// An attacker with write access to the server's storage replaces a's
	// artifact by a well-formed one carrying other outputs.
	keyA := digests(resA)["a"]
	poison := poisonedArtifact(t, keyA)
	require.NoError(t, os.WriteFile(srv.ArtifactPath(remoteTeam, keyA.String()), poison, 0o644))

	resB, stB := b.remoteBuild(env...)
	require.Equal(t, buildnet.StatusSuccess, resB.Status)
	assert.Equal(t, map[string]string{"a": "full_build", "b": "cache_restore", "c": "cache_restore", "d": "cache_restore"}, tiers(resB))
	assert.Equal(t, 1, b.runs("a"))
	assert.Equal(t, "package a\nutil of a\n", b.read("pkgs/a/dist/out.txt"))
	assert.Equal(t, int64(1), stB.Refused)
	assert.Equal(t, int64(1), stB.Errors)
	assert.Equal(t, int64(3), stB.Hits)
	assert.True(t, stB.Signed)

	// What the signature protects against: a machine without signing
	// takes the poisoned artifact, which is a valid one.
	c := newWorkspace(t).withRemote(buildnet.RemoteConfig{URL: srv.URL, Team: remoteTeam, TokenEnv: "BN_REMOTE_TOKEN"})
	resC, _ := c.remoteBuild(tokenVar)
	require.Equal(t, buildnet.StatusSuccess, resC.Status)
	assert.Equal(t, "poisoned\n", c.read("pkgs/a/dist/out.txt"))
}

// poisonedArtifact returns a well-formed artifact for key whose output
// differs from what the build produces.
func poisonedArtifact(t *testing.T, key hash.Digest) []byte {
	t.Helper()
	c, err := cache.Open(t.TempDir(), cache.Options{})
	require.NoError(t, err)
	defer c.Close()
	out := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(out, "out.txt"), []byte("poisoned\n"), 0o644))
	_, err = c.Store(t.Context(), key, "a", out, nil, time.Second)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, c.Export(t.Context(), key, &buf))
	return buf.Bytes()
}

func newRemoteServer(t *testing.T) *remotetest.Server {
	t.Helper()
	s := remotetest.NewServer(remoteToken)
	t.Cleanup(s.Close)
	return s
}

// TestRemoteFaults checks that a remote cache that is down, failing, slow,
// truncating or serving the wrong bytes costs a rebuild, never a build.
func TestRemoteFaults(t *testing.T) {
	// Fill a server from machine A once; each case breaks a copy of it.
	full := newRemoteServer(t)
	a, _, env := machines(t, full.URL, false)
	resA, _ := a.remoteBuild(env...)
	require.Equal(t, buildnet.StatusSuccess, resA.Status)
	ds := digests(resA)
	closed := remotetest.NewServer(remoteToken)
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name    string
		fault   remotetest.Fault
		prepare func(s *remotetest.Server) // beyond copying A's artifacts
		url     string
		refused int64
	}{
		{name: "down", url: closedURL},
		{name: "500", fault: remotetest.Fail500},
		{name: "slow beyond timeout", fault: remotetest.Hang},
		{name: "truncated body", fault: remotetest.Truncate},
		{name: "garbage", fault: remotetest.Garbage, refused: 4},
		{name: "another package's artifact", prepare: func(s *remotetest.Server) {
			other, _ := full.Artifact(remoteTeam, ds["d"].String())
			for _, n := range []string{"a", "b", "c"} {
				s.SetArtifact(remoteTeam, ds[n].String(), other)
			}
			first, _ := full.Artifact(remoteTeam, ds["a"].String())
			s.SetArtifact(remoteTeam, ds["d"].String(), first)
		}, refused: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRemoteServer(t)
			for _, h := range full.Hashes(remoteTeam) {
				art, _ := full.Artifact(remoteTeam, h)
				s.SetArtifact(remoteTeam, h, art)
			}
			if tt.prepare != nil {
				tt.prepare(s)
			}
			s.SetFault(tt.fault)
			url := s.URL
			if tt.url != "" {
				url = tt.url
			}
			b := newWorkspace(t).withRemote(buildnet.RemoteConfig{URL: url, Team: remoteTeam, TokenEnv: "BN_REMOTE_TOKEN", Timeout: buildnet.Duration(300 * time.Millisecond)})
			start := time.Now()
			res, st := b.remoteBuild(env...)
			require.Equal(t, buildnet.StatusSuccess, res.Status, res.Error)
			assert.Equal(t, allTiers("full_build", "a", "b", "c", "d"), tiers(res))
			assert.Equal(t, a.outputTree(), b.outputTree())
			assert.Equal(t, int64(4), st.Errors, "every lookup failed and was counted: %+v", st)
			assert.Equal(t, tt.refused, st.Refused)
			assert.Zero(t, st.Hits)
			assert.Less(t, time.Since(start), 20*time.Second, "the timeout bounds each lookup")
		})
	}
}

// TestRemoteMaliciousArtifact serves hand-made artifacts that try to
// write outside the output directory: they are refused, nothing is
// written outside it, and the package is built.
func TestRemoteMaliciousArtifact(t *testing.T) {
	a := newWorkspace(t)
	resA, _ := a.build(buildnet.Request{})
	keyA := digests(resA)["a"]
	outside := filepath.Join(t.TempDir(), "absolute.txt")
	blob := []byte("owned\n")
	blobDigest := hash.Sum(blob)
	file := func(path string) map[string]any {
		return map[string]any{"path": path, "mode": 0o644, "size": len(blob), "digest": blobDigest.String()}
	}
	link := func(path, target string) map[string]any {
		return map[string]any{"path": path, "mode": uint32(fs.ModeSymlink), "size": len(target), "link": target}
	}
	blobs := []member{{name: "blobs/" + blobDigest.String(), body: blob}}

	tests := []struct {
		name    string
		files   []map[string]any
		members []member // besides manifest.json; nil means blobs
	}{
		{"dot-dot path", []map[string]any{file("../../../escape.txt")}, nil},
		{"absolute path", []map[string]any{file(outside)}, nil},
		{"symlink to /etc", []map[string]any{link("etc", "/etc"), file("etc/buildnet-pwned")}, nil},
		{"symlink out through dot-dot", []map[string]any{link("up", "../../.."), file("up/escape.txt")}, nil},
		{"device file", []map[string]any{{"path": "null", "mode": uint32(fs.ModeDevice | fs.ModeCharDevice | 0o666), "size": 0}}, nil},
		{"tar member with dot-dot", []map[string]any{file("ok.txt")}, append(slices.Clone(blobs), member{name: "../../../escape.txt", body: blob})},
		{"tar symlink member", []map[string]any{file("ok.txt")}, append(slices.Clone(blobs), member{name: "blobs/link", link: "/etc/passwd"})},
		{"tar device member", []map[string]any{file("ok.txt")}, append(slices.Clone(blobs), member{name: "blobs/dev", device: true})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newRemoteServer(t)
			members := tt.members
			if members == nil {
				members = blobs
			}
			s.SetArtifact(remoteTeam, keyA.String(), remotetest.Artifact{Body: craftArtifact(t, keyA, tt.files, members)})
			b := newWorkspace(t).withRemote(buildnet.RemoteConfig{URL: s.URL, Team: remoteTeam, TokenEnv: "BN_REMOTE_TOKEN"})
			before := b.filesOutsideOutputs()
			res, st := b.remoteBuild(tokenVar)
			require.Equal(t, buildnet.StatusSuccess, res.Status)
			assert.Equal(t, "full_build", tiers(res)["a"])
			assert.Equal(t, int64(1), st.Refused)
			assert.Equal(t, before, b.filesOutsideOutputs(), "nothing written outside output_dir")
			assert.Equal(t, a.outputTree(), b.outputTree(), "outputs are the built ones")
			for _, p := range []string{outside, "/etc/buildnet-pwned", filepath.Join(filepath.Dir(b.root), "escape.txt")} {
				assert.NoFileExists(t, p)
			}
		})
	}
}

// filesOutsideOutputs lists the workspace's files outside the output
// directories and the state directory.
func (w *workspace) filesOutsideOutputs() []string {
	w.t.Helper()
	var out []string
	err := filepath.WalkDir(w.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(w.root, path)
		rel = filepath.ToSlash(rel)
		if rel == ".buildnet" || rel == ".counts" || strings.HasSuffix(rel, "/dist") {
			return fs.SkipDir
		}
		out = append(out, rel)
		return nil
	})
	require.NoError(w.t, err)
	return out
}

type member struct {
	name   string
	body   []byte
	link   string // a symbolic link to this target
	device bool   // a character device
}

func craftArtifact(t *testing.T, key hash.Digest, files []map[string]any, members []member) []byte {
	t.Helper()
	manifest, err := json.Marshal(map[string]any{
		"version": 1, "key": key.String(), "package": "a", "files": files,
		"duration_ms": 1, "created_at": "2026-01-01T00:00:00Z",
	})
	require.NoError(t, err)
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, m := range append([]member{{name: "manifest.json", body: manifest}}, members...) {
		h := &tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.body)), Typeflag: tar.TypeReg}
		switch {
		case m.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, m.link, 0
		case m.device:
			h.Typeflag, h.Devmajor, h.Devminor, h.Size = tar.TypeChar, 1, 3, 0
		}
		require.NoError(t, tw.WriteHeader(h))
		_, err := tw.Write(m.body[:h.Size])
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

// TestRemoteOnlyWhenNeeded checks that nothing is sent when nothing
// needs restoring, and that the read and write switches hold.
func TestRemoteOnlyWhenNeeded(t *testing.T) {
	s := newRemoteServer(t)
	a, b, env := machines(t, s.URL, false)
	a.remoteBuild(env...)
	require.Equal(t, 4, s.Requests(http.MethodPut))
	require.Equal(t, 4, s.Requests(http.MethodGet))

	res, _ := a.remoteBuild(env...)
	assert.Equal(t, allTiers("instant_skip", "a", "b", "c", "d"), tiers(res))
	res, _ = a.remoteBuild(append(env, "BN_TEST_MODE=other")...)
	assert.Equal(t, allTiers("full_build", "a", "b", "c", "d"), tiers(res))
	res, _ = a.remoteBuild(env...)
	assert.Equal(t, allTiers("cache_restore", "a", "b", "c", "d"), tiers(res), "back to the first inputs: local hits")
	assert.Equal(t, allTiers("local/local", "a", "b", "c", "d"), sources(res))
	assert.Equal(t, 8, s.Requests(http.MethodGet), "only the changed inputs were looked up remotely")
	assert.Equal(t, 8, s.Requests(http.MethodPut))

	b.ws.Cache.Remote.Read = new(false)
	b.saveConfig()
	res, st := b.remoteBuild(env...)
	assert.Equal(t, allTiers("full_build", "a", "b", "c", "d"), tiers(res))
	assert.Equal(t, 8, s.Requests(http.MethodGet), "read off: no lookups")
	assert.Equal(t, 8, s.Requests(http.MethodPut), "write off by default: no uploads")
	assert.False(t, st.Read)
	assert.False(t, st.Write)
}

func TestRemoteMisconfigured(t *testing.T) {
	s := newRemoteServer(t)
	tests := []struct {
		name     string
		cfg      buildnet.RemoteConfig
		env      []string
		disabled string // in RemoteStats.Disabled; "" when enabled
		errors   int64
	}{
		{"token variable unset", buildnet.RemoteConfig{URL: s.URL, Team: remoteTeam, TokenEnv: "BN_REMOTE_UNSET_TOKEN"}, nil, "BN_REMOTE_UNSET_TOKEN is not set", 0},
		{"signing key unset", buildnet.RemoteConfig{URL: s.URL, Team: remoteTeam, TokenEnv: "BN_REMOTE_TOKEN", SignatureKeyEnv: "BN_REMOTE_UNSET_KEY"}, []string{tokenVar}, "BN_REMOTE_UNSET_KEY is not set", 0},
		{"wrong token", buildnet.RemoteConfig{URL: s.URL, Team: remoteTeam, TokenEnv: "BN_REMOTE_TOKEN"}, []string{"BN_REMOTE_TOKEN=wrong-" + remoteToken}, "", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			w := newWorkspace(t).withRemote(tt.cfg)
			e, err := buildnet.Open(t.Context(), buildnet.Config{Root: w.root, Env: append(os.Environ(), tt.env...),
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			require.NoError(t, err)
			res, err := e.Build(t.Context(), buildnet.Request{})
			require.NoError(t, err)
			require.NoError(t, e.Close())
			st := e.RemoteStats()
			assert.Equal(t, buildnet.StatusSuccess, res.Status)
			assert.Equal(t, allTiers("full_build", "a", "b", "c", "d"), tiers(res))
			assert.True(t, st.Configured)
			if tt.disabled != "" {
				assert.Contains(t, st.Disabled, tt.disabled)
				assert.Contains(t, logs.String(), "remote cache disabled")
			} else {
				assert.Empty(t, st.Disabled)
			}
			assert.Equal(t, tt.errors, st.Errors)
			assert.NotContains(t, logs.String(), remoteToken, "the token is never logged")
			out, _ := json.Marshal(res)
			assert.NotContains(t, string(out), remoteToken)
		})
	}
}

// TestRemotePlan checks that a plan predicts restores from the remote.
func TestRemotePlan(t *testing.T) {
	s := newRemoteServer(t)
	a, b, env := machines(t, s.URL, false)
	a.remoteBuild(env...)
	e, err := buildnet.Open(t.Context(), buildnet.Config{Root: b.root, Env: append(os.Environ(), env...), ReadOnly: true})
	require.NoError(t, err)
	defer e.Close()
	plan, err := e.Plan(t.Context(), buildnet.Request{})
	require.NoError(t, err)
	assert.Equal(t, allTiers("cache_restore", "a", "b", "c", "d"), tiers(plan))
	assert.Equal(t, allTiers("remote/remote", "a", "b", "c", "d"), sources(plan))
	assert.Equal(t, 4, s.Requests(http.MethodHead))
	res, _ := b.remoteBuild(env...)
	assert.Equal(t, tiers(plan), tiers(res), "the build does what the plan said")
}

// TestRemoteRegistryBackend uses a cache backend from the registry,
// selected by cache.remote.type, with the same read and write rules.
func TestRemoteRegistryBackend(t *testing.T) {
	mem := new(cachetest.MemoryBackend)
	var gotConfig map[string]any
	reg := buildnet.NewRegistry()
	require.NoError(t, reg.RegisterBackend("memory", func(raw json.RawMessage, getenv func(string) string) (cache.Backend, error) {
		if err := json.Unmarshal(raw, &gotConfig); err != nil {
			return nil, err
		}
		if getenv("BN_REMOTE_TOKEN") != remoteToken {
			return nil, fmt.Errorf("no token")
		}
		return mem, nil
	}))
	cfg := `{"type": "memory", "bucket": "builds", "write": %t}`
	build := func(w *workspace, write bool) *buildnet.BuildResult {
		w.write(buildnet.ConfigFile, strings.Replace(w.read(buildnet.ConfigFile), `"cache": {}`, `"cache": {"remote": `+fmt.Sprintf(cfg, write)+`}`, 1))
		e, err := buildnet.Open(t.Context(), buildnet.Config{Root: w.root, Env: append(os.Environ(), tokenVar), Registry: reg})
		require.NoError(t, err)
		res, err := e.Build(t.Context(), buildnet.Request{})
		require.NoError(t, err)
		require.NoError(t, e.Close())
		return res
	}
	a, b := newWorkspace(t), newWorkspace(t)
	require.Contains(t, a.read(buildnet.ConfigFile), `"cache": {}`)
	build(a, true)
	assert.Len(t, mem.Keys(), 4)
	assert.Equal(t, "builds", gotConfig["bucket"], "the backend gets its own fields")
	res := build(b, false)
	assert.Equal(t, allTiers("remote/remote", "a", "b", "c", "d"), sources(res))

	c := newWorkspace(t).withRemote(buildnet.RemoteConfig{Type: "nosuch"})
	_, err := buildnet.Open(t.Context(), buildnet.Config{Root: c.root, Registry: reg})
	require.ErrorIs(t, err, buildnet.ErrConfig)
	assert.Contains(t, err.Error(), `cache.remote.type: buildnet: unknown plugin: no cache backend named "nosuch"`)
}

func TestRemoteConfig(t *testing.T) {
	parse := func(remote string) (*buildnet.Workspace, error) {
		return buildnet.ParseWorkspace([]byte(`{"cache": {"remote": `+remote+`}, "packages": [{"name": "a", "path": "a", "build_cmd": "true"}]}`), "", "config.json")
	}
	t.Run("defaults", func(t *testing.T) {
		ws, err := parse(`{"url": "https://cache.example.com", "team": "acme", "token_env": "TURBO_TOKEN"}`)
		require.NoError(t, err)
		rc := ws.Cache.Remote
		assert.True(t, rc.CanRead(), "read defaults to true")
		assert.False(t, rc.Write, "write defaults to false: CI writes, laptops read")
		assert.Zero(t, rc.Timeout, "0 means 30s")
		assert.Equal(t, "TURBO_TOKEN", rc.TokenEnv)
	})
	t.Run("all fields", func(t *testing.T) {
		ws, err := parse(`{"url": "http://127.0.0.1:3000", "team": "team_x", "token_env": "T", "read": false, "write": true, "signature_key_env": "K", "timeout": "5s"}`)
		require.NoError(t, err)
		rc := ws.Cache.Remote
		assert.False(t, rc.CanRead())
		assert.True(t, rc.Write)
		assert.Equal(t, buildnet.Duration(5*time.Second), rc.Timeout)
		out, err := json.Marshal(ws.Cache)
		require.NoError(t, err)
		assert.JSONEq(t, `{"remote": {"url": "http://127.0.0.1:3000", "team": "team_x", "token_env": "T", "read": false, "write": true, "signature_key_env": "K", "timeout": "5s"}}`, string(out))
	})
	t.Run("absent", func(t *testing.T) {
		ws, err := parse(`{}`)
		require.NoError(t, err)
		assert.True(t, ws.Cache.Remote.IsZero())
		out, err := json.Marshal(ws.Cache)
		require.NoError(t, err)
		assert.JSONEq(t, `{}`, string(out), "no remote, no key")
	})
	bad := []struct{ name, remote, want string }{
		{"no url", `{"team": "x"}`, "cache.remote.url: missing"},
		{"not http", `{"url": "ftp://h"}`, "not an http or https address"},
		{"query", `{"url": "http://h/?slug=x"}`, "base address only"},
		{"password in url", `{"url": "https://u:secret@h"}`, "holds credentials"},
		{"token in url", `{"url": "https://secret@h"}`, "holds credentials"},
		{"token value instead of name", `{"url": "http://h", "token_env": "abc-123-secret"}`, "cache.remote.token_env"},
		{"key value instead of name", `{"url": "http://h", "signature_key_env": "not a name"}`, "cache.remote.signature_key_env"},
		{"negative timeout", `{"url": "http://h", "timeout": -1}`, "cache.remote.timeout: must not be negative"},
		{"bad timeout", `{"url": "http://h", "timeout": "soon"}`, "bad duration"},
		{"unknown field", `{"url": "http://h", "tokn_env": "T"}`, "unknown field \"tokn_env\""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(tt.remote)
			require.ErrorIs(t, err, buildnet.ErrConfig)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "secret", "no credentials echoed")
		})
	}
}

// BenchmarkRemoteRestore restores a 100-package workspace, whose local
// cache is empty, entirely from a remote cache on the loopback interface:
// the in-process protocol server, and the npm server when installed.
func BenchmarkRemoteRestore(b *testing.B) {
	b.Run("go-server", func(b *testing.B) {
		s := remotetest.NewServer(remoteToken)
		b.Cleanup(s.Close)
		benchRemoteRestore(b, s.URL)
	})
	b.Run("npm-server", func(b *testing.B) {
		s := remotetest.StartNPM(b, remotetest.NPMOptions{Token: remoteToken})
		benchRemoteRestore(b, s.URL)
	})
}

const benchPackages = 100

// benchWorkspace writes a workspace of independent packages, each
// building five 4 KiB files.
func benchWorkspace(b *testing.B, url string, write bool) string {
	root := b.TempDir()
	ws := buildnet.Workspace{Cache: buildnet.CacheConfig{Remote: buildnet.RemoteConfig{URL: url, Team: remoteTeam, TokenEnv: "BN_REMOTE_TOKEN", Write: write}}}
	for i := range benchPackages {
		name := fmt.Sprintf("p%03d", i)
		dir := filepath.Join(root, "pkgs", name, "src")
		require.NoError(b, os.MkdirAll(dir, 0o755))
		require.NoError(b, os.WriteFile(filepath.Join(dir, "index.ts"), []byte("export const name = '"+name+"'\n"), 0o644))
		ws.Packages = append(ws.Packages, buildnet.Package{Name: name, Path: "pkgs/" + name,
			BuildCmd: `mkdir -p dist && for i in 1 2 3 4 5; do head -c 4096 /dev/urandom > dist/f$i.bin; done`})
	}
	data, err := json.Marshal(ws)
	require.NoError(b, err)
	require.NoError(b, os.MkdirAll(filepath.Join(root, ".buildnet"), 0o755))
	require.NoError(b, os.WriteFile(filepath.Join(root, buildnet.ConfigFile), data, 0o644))
	return root
}

func benchRemoteRestore(b *testing.B, url string) {
	ctx := context.Background()
	env := append(os.Environ(), tokenVar)
	build := func(root string) *buildnet.BuildResult {
		e, err := buildnet.Open(ctx, buildnet.Config{Root: root, Env: env})
		require.NoError(b, err)
		res, err := e.Build(ctx, buildnet.Request{})
		require.NoError(b, err)
		require.NoError(b, e.Close())
		return res
	}
	res := build(benchWorkspace(b, url, true))
	require.Equal(b, buildnet.StatusSuccess, res.Status)
	root := benchWorkspace(b, url, false)
	reset := func() {
		require.NoError(b, os.RemoveAll(filepath.Join(root, ".buildnet", "cache")))
		require.NoError(b, os.Remove(filepath.Join(root, ".buildnet", "state.db")))
		for i := range benchPackages {
			require.NoError(b, os.RemoveAll(filepath.Join(root, "pkgs", fmt.Sprintf("p%03d", i), "dist")))
		}
		os.Remove(filepath.Join(root, ".buildnet", "state.db-wal"))
		os.Remove(filepath.Join(root, ".buildnet", "state.db-shm"))
	}
	b.ReportAllocs()
	first := true
	for b.Loop() {
		if !first {
			b.StopTimer()
			reset()
			b.StartTimer()
		}
		first = false
		res := build(root)
		b.StopTimer()
		counts, _ := res.Counts()
		require.Equal(b, map[buildnet.Tier]int{buildnet.TierCacheRestore: benchPackages}, counts)
		b.StartTimer()
	}
}
