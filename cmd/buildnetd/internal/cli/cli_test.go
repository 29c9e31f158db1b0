package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/cli"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/server"
)

// TestMain lets tests run the test binary as buildnetd itself.
func TestMain(m *testing.M) {
	if os.Getenv("BUILDNETD_TEST_MAIN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		context.AfterFunc(ctx, stop)
		code := cli.Main(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// waitTimeout bounds every wait; it is never reached when the code works.
const waitTimeout = 30 * time.Second

const countCmd = `echo x >> ../../.counts/$BUILDNET_PACKAGE`

// newWorkspace writes a workspace: core <- api, fail exits 3, gate waits
// for .release.
func newWorkspace(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	ws := buildnet.Workspace{Packages: []buildnet.Package{
		{Name: "core", Path: "pkgs/core", BuildCmd: `mkdir -p dist && cp src/main.txt dist/ && echo built core && ` + countCmd},
		{Name: "api", Path: "pkgs/api", BuildCmd: `mkdir -p dist && cp src/main.txt dist/ && echo built api && ` + countCmd, Dependencies: []string{"core"}},
		{Name: "fail", Path: "pkgs/fail", BuildCmd: `echo boom >&2; exit 3`},
		{Name: "gate", Path: "pkgs/gate", BuildCmd: countCmd + `; while [ ! -e ../../.release ]; do sleep 0.02; done; mkdir -p dist; echo ok > dist/out`},
	}}
	for _, p := range ws.Packages {
		write(t, filepath.Join(root, p.Path, "src", "main.txt"), "source of "+p.Name+"\n")
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".counts"), 0o755))
	data, err := json.Marshal(ws)
	require.NoError(t, err)
	write(t, filepath.Join(root, buildnet.ConfigFile), string(data))
	return root
}

func write(t *testing.T, p, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

func runs(t *testing.T, root, pkg string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, ".counts", pkg))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	require.NoError(t, err)
	return bytes.Count(b, []byte("\n"))
}

// daemon is an in-process buildnetd serving one workspace.
type daemon struct {
	root, addr string
	events     chan buildnet.Event
}

func startDaemon(t *testing.T, root string) *daemon {
	t.Helper()
	e, err := buildnet.Open(context.Background(), buildnet.Config{Root: root})
	require.NoError(t, err)
	s := server.New(e, server.Options{Version: cli.Version, ShutdownGrace: 50 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	d := &daemon{root: root, addr: ln.Addr().String(), events: make(chan buildnet.Event, 1<<12)}

	// Follow the daemon's events from now on.
	resp, err := adminDo(t, root, http.MethodGet, "http://"+d.addr+"/events")
	require.NoError(t, err)
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, ": connected\n", line)
	go func() {
		defer close(d.events)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var ev buildnet.Event
				if json.Unmarshal([]byte(data), &ev) == nil {
					d.events <- ev
				}
			}
		}
	}()
	t.Cleanup(func() {
		resp.Body.Close()
		_ = os.WriteFile(filepath.Join(root, ".release"), nil, 0o644)
		cancel()
		require.NoError(t, <-served)
		require.NoError(t, e.Close())
	})
	return d
}

// nextStart returns the next build:start the daemon published.
func (d *daemon) nextStart(t *testing.T) buildnet.Event {
	t.Helper()
	for {
		select {
		case ev, ok := <-d.events:
			require.True(t, ok, "event stream ended")
			if ev.Type == buildnet.EventBuildStart {
				return ev
			}
		case <-time.After(waitTimeout):
			t.Fatal("no build:start from the daemon")
		}
	}
}

// next returns the daemon's next event of type typ.
func (d *daemon) next(t *testing.T, typ buildnet.EventType) buildnet.Event {
	t.Helper()
	for {
		select {
		case ev, ok := <-d.events:
			require.True(t, ok, "event stream ended")
			if ev.Type == typ {
				return ev
			}
		case <-time.After(waitTimeout):
			t.Fatalf("no %s from the daemon", typ)
		}
	}
}

// run runs the CLI in process and returns its exit status and output.
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), args, cli.Env{
		Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] },
		Dir:    env["PWD"],
	})
	return code, stdout.String(), stderr.String()
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(s), &v), "%s", s)
	return v
}

type jsonError struct {
	Error struct{ Code, Message string } `json:"error"`
}

func TestClientModeUsesTheDaemonOfTheSameRoot(t *testing.T) {
	t.Parallel()
	root := newWorkspace(t)
	d := startDaemon(t, root)
	env := map[string]string{"BUILDNET_ADDR": d.addr}

	code, out, errOut := run(t, env, "build", "--json", "--root", root, "--package", "api")
	require.Equal(t, 0, code, "%s%s", out, errOut)
	res := decode[buildnet.BuildResult](t, out)
	assert.Equal(t, buildnet.StatusSuccess, res.Status)
	require.Len(t, res.Packages, 2)
	assert.Equal(t, buildnet.TierFullBuild, res.Packages[1].Tier)
	start := d.nextStart(t)
	assert.Equal(t, res.ID, start.BuildID, "the daemon ran the build")
	// The CLI authenticated with the admin key the daemon wrote.
	actor := adminActor(t, d)
	assert.Equal(t, actor, start.Requester)
	var builds struct{ Builds []struct{ ID string } }
	resp, err := adminDo(t, root, http.MethodGet, "http://"+d.addr+"/builds?requester="+actor)
	require.NoError(t, err)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&builds))
	resp.Body.Close()
	require.Len(t, builds.Builds, 1)
	assert.Equal(t, res.ID, builds.Builds[0].ID)

	t.Run("human output", func(t *testing.T) {
		code, out, _ := run(t, env, "build", "--root", root, "--package", "core", "--verbose", "--force")
		require.Equal(t, 0, code)
		assert.Equal(t, res.ID, res.ID)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		require.Len(t, lines, 3, "%s", out)
		assert.Equal(t, "core: built core", lines[0])
		assert.Regexp(t, `^✓ core +full_build +\d+ms$`, lines[1])
		assert.Regexp(t, `^1 package: 1 full_build in \d+ms$`, lines[2])
		assert.Equal(t, actor, d.nextStart(t).Requester)
	})
	t.Run("failure", func(t *testing.T) {
		code, out, _ := run(t, env, "build", "--json", "--root", root, "--package", "fail")
		assert.Equal(t, 1, code)
		res := decode[buildnet.BuildResult](t, out)
		assert.Equal(t, buildnet.StatusFailed, res.Status)
		assert.Equal(t, []string{"boom"}, res.Packages[0].Output)
		assert.Equal(t, res.ID, d.nextStart(t).BuildID)
	})
	t.Run("unknown package", func(t *testing.T) {
		code, out, _ := run(t, env, "build", "--json", "--root", root, "--package", "cor")
		assert.Equal(t, 2, code)
		remote := decode[jsonError](t, out)
		code, out, _ = run(t, env, "build", "--json", "--local", "--root", root, "--package", "cor")
		assert.Equal(t, 2, code)
		local := decode[jsonError](t, out)
		assert.Equal(t, "unknown_package", remote.Error.Code)
		assert.Equal(t, local, remote, "the same error as in process")
	})
	t.Run("build in a package directory", func(t *testing.T) {
		e := map[string]string{"BUILDNET_ADDR": d.addr, "PWD": filepath.Join(root, "pkgs", "core", "src")}
		code, out, _ := run(t, e, "build", "--json")
		require.Equal(t, 0, code, out)
		res := decode[buildnet.BuildResult](t, out)
		require.Len(t, res.Packages, 1)
		assert.Equal(t, "core", res.Packages[0].Name)
		assert.Equal(t, res.ID, d.nextStart(t).BuildID)
	})
	t.Run("status", func(t *testing.T) {
		code, out, _ := run(t, env, "status", "--json", "--root", root)
		require.Equal(t, 0, code)
		remote := decode[map[string]any](t, out)
		code, out, _ = run(t, env, "status", "--json", "--local", "--root", root)
		require.Equal(t, 0, code)
		local := decode[map[string]any](t, out)
		// Cache counters not yet flushed by the daemon are its own.
		assert.Equal(t, local["cache"].(map[string]any)["entries"], remote["cache"].(map[string]any)["entries"])
		delete(local, "cache")
		delete(remote, "cache")
		assert.Equal(t, local, remote, "the same report as in process")
		assert.Equal(t, root, remote["workspace"])
	})
	t.Run("cache", func(t *testing.T) {
		code, out, _ := run(t, env, "cache", "stats", "--root", root)
		require.Equal(t, 0, code)
		assert.Contains(t, out, filepath.Join(root, ".buildnet", "cache"))
		code, out, _ = run(t, env, "cache", "clear", "--json", "--root", root)
		require.Equal(t, 0, code)
		assert.JSONEq(t, `{"cleared":true}`, out)
		d.next(t, buildnet.EventCacheCleared) // the daemon cleared it
		code, out, _ = run(t, env, "cache", "stats", "--json", "--root", root)
		require.Equal(t, 0, code)
		assert.EqualValues(t, 0, decode[map[string]any](t, out)["entries"])
	})
	t.Run("--local", func(t *testing.T) {
		code, out, _ := run(t, env, "build", "--json", "--local", "--root", root, "--package", "core")
		require.Equal(t, 0, code)
		local := decode[buildnet.BuildResult](t, out)
		// The next build the daemon sees is this one, not the local one.
		code, out, _ = run(t, env, "build", "--json", "--root", root, "--package", "core")
		require.Equal(t, 0, code)
		remote := decode[buildnet.BuildResult](t, out)
		start := d.nextStart(t)
		assert.Equal(t, remote.ID, start.BuildID)
		assert.NotEqual(t, local.ID, start.BuildID)
	})
}

func TestClientModeThroughASymlinkedRoot(t *testing.T) {
	t.Parallel()
	root := newWorkspace(t)
	d := startDaemon(t, root)
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(root, link))
	code, out, _ := run(t, nil, "build", "--json", "--root", link, "--addr", d.addr, "--package", "core")
	require.Equal(t, 0, code, out)
	assert.Equal(t, decode[buildnet.BuildResult](t, out).ID, d.nextStart(t).BuildID)
}

func TestClientModeRunsInProcessForAnotherRoot(t *testing.T) {
	t.Parallel()
	other := newWorkspace(t)
	d := startDaemon(t, other)
	root := newWorkspace(t)

	code, out, errOut := run(t, nil, "build", "--json", "--root", root, "--addr", d.addr, "--package", "core")
	require.Equal(t, 0, code, "%s%s", out, errOut)
	res := decode[buildnet.BuildResult](t, out)
	assert.Equal(t, buildnet.StatusSuccess, res.Status)
	assert.Equal(t, 1, runs(t, root, "core"), "built in this workspace")
	assert.Equal(t, 0, runs(t, other, "core"))
	// The daemon's next build is its own: it never saw the CLI's.
	resp, err := adminDo(t, other, http.MethodPost, "http://"+d.addr+"/build/api")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, adminActor(t, d), d.nextStart(t).Requester)

	code, out, _ = run(t, nil, "status", "--json", "--root", root, "--addr", d.addr)
	require.Equal(t, 0, code)
	assert.Equal(t, root, decode[map[string]any](t, out)["workspace"])

	// No daemon at all: in process too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	free := ln.Addr().String()
	require.NoError(t, ln.Close())
	code, out, _ = run(t, map[string]string{"BUILDNET_ADDR": free}, "build", "--json", "--root", root, "--package", "core")
	require.Equal(t, 0, code, out)
	assert.Equal(t, buildnet.TierInstantSkip, decode[buildnet.BuildResult](t, out).Packages[0].Tier)
}

// startProcess runs `buildnetd start` as a child process and returns its
// address once it listens.
func startProcess(t *testing.T, root string, args ...string) (*os.Process, string, *logLines) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	argv := append([]string{exe, "start", "--root", root, "--port", "0", "--log-format", "json"}, args...)
	p, err := os.StartProcess(exe, argv, &os.ProcAttr{
		Env:   append(os.Environ(), "BUILDNETD_TEST_MAIN=1"),
		Files: []*os.File{nil, nil, w},
	})
	require.NoError(t, err)
	w.Close()
	t.Cleanup(func() { _ = p.Kill() })
	logs := &logLines{lines: make(chan map[string]any, 1024)}
	go logs.read(r)
	for {
		l := logs.next(t)
		if l["msg"] == "buildnetd listening" {
			return p, l["addr"].(string), logs
		}
	}
}

// logLines reads JSON log lines.
type logLines struct {
	lines chan map[string]any
}

func (l *logLines) read(r io.ReadCloser) {
	defer r.Close()
	defer close(l.lines)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			l.lines <- m
		}
	}
}

func (l *logLines) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case m, ok := <-l.lines:
		require.True(t, ok, "the daemon's log ended")
		return m
	case <-time.After(waitTimeout):
		t.Fatal("no log line from the daemon")
	}
	return nil
}

// msgs returns the messages of the rest of the log.
func (l *logLines) msgs() []string {
	var out []string
	for m := range l.lines {
		out = append(out, m["msg"].(string))
	}
	return out
}

// adminDo sends a request with the admin key of the daemon serving root.
func adminDo(t *testing.T, root, method, url string) (*http.Response, error) {
	t.Helper()
	key, err := auth.ReadAdminKey(filepath.Join(root, ".buildnet"))
	require.NoError(t, err)
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	return http.DefaultClient.Do(req)
}

// adminActor is the requester the daemon records for its admin key.
func adminActor(t *testing.T, d *daemon) string {
	t.Helper()
	resp, err := adminDo(t, d.root, http.MethodGet, "http://"+d.addr+"/auth/me")
	require.NoError(t, err)
	defer resp.Body.Close()
	var me struct{ Actor string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&me))
	require.NotEmpty(t, me.Actor)
	return me.Actor
}

// TestClientModeWithAWrongToken checks that a daemon refusing the
// credentials of its own workspace is reported, not built around.
func TestClientModeWithAWrongToken(t *testing.T) {
	t.Parallel()
	root := newWorkspace(t)
	d := startDaemon(t, root)
	code, out, errOut := run(t, nil, "build", "--root", root, "--addr", d.addr, "--token", "bnk_"+strings.Repeat("0", 64), "--package", "core")
	assert.Equal(t, 1, code, "%s%s", out, errOut)
	assert.Contains(t, errOut, "unknown API key")
	assert.Equal(t, 0, runs(t, root, "core"), "nothing built in process")
}
