package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/state"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "buildnetd-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "buildnetd")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		panic("build buildnetd: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// example copies the bundled example monorepo into a temporary folder.
func example(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := "../../examples/monorepo"
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && (d.Name() == "dist" || d.Name() == "cache") {
			return filepath.SkipDir
		}
		if strings.HasPrefix(d.Name(), "state.db") || d.Name() == "admin.key" {
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
	require.NoError(t, err)
	return dst
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	// No daemon answers on this address, so the CLI works in-process.
	cmd.Env = append(os.Environ(), "BUILDNET_ADDR=127.0.0.1:1", "NO_COLOR=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{out.String(), errb.String(), code}
}

func decodeBuild(t *testing.T, s string) buildnet.BuildResult {
	t.Helper()
	var r buildnet.BuildResult
	require.NoError(t, json.Unmarshal([]byte(s), &r), s)
	return r
}

func TestBuildJSONAndTiers(t *testing.T) {
	root := example(t)
	r := run(t, root, "build", "--all", "--json")
	require.Equal(t, 0, r.code, r.stderr+r.stdout)
	res := decodeBuild(t, r.stdout)
	assert.Equal(t, buildnet.StatusSuccess, res.Status)
	require.Len(t, res.Packages, 6)
	for _, p := range res.Packages {
		assert.Equal(t, buildnet.TierFullBuild, p.Tier, p.Name)
		assert.Len(t, p.Digest, 64)
	}
	assert.FileExists(t, filepath.Join(root, "apps/api/dist/index.js"))

	r = run(t, root, "build")
	require.Equal(t, 0, r.code)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 7, r.stdout)
	assert.Regexp(t, regexp.MustCompile(`^6 packages: 6 instant_skip in \d+(ms|µs)$`), lines[6])
	assert.Regexp(t, regexp.MustCompile(`^✓ \S+\s+instant_skip`), lines[0])
}

func TestBuildInsidePackage(t *testing.T) {
	root := example(t)
	r := run(t, filepath.Join(root, "packages/core/src"), "build", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var names []string
	for _, p := range decodeBuild(t, r.stdout).Packages {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"shared", "core"}, names)
}

func TestFailureOutputAndExitCode(t *testing.T) {
	root := example(t)
	f := filepath.Join(root, "packages/core/src/index.js")
	data, err := os.ReadFile(f)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(f, append(data, []byte("\n// BUILD_FAIL\n")...), 0o644))
	r := run(t, root, "build", "--all")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "✗ core")
	assert.Contains(t, r.stdout, "--- output of core:")
	assert.Contains(t, r.stdout, "BUILD_FAIL")
	assert.Regexp(t, `- plugin-sdk\s+skipped\s+dependency core failed`, r.stdout)
	assert.Regexp(t, `1 failed, 3 skipped in`, r.stdout)

	r = run(t, root, "build", "--all", "--json")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, buildnet.StatusFailed, decodeBuild(t, r.stdout).Status)
}

func TestErrorsAsJSON(t *testing.T) {
	root := example(t)
	r := run(t, root, "build", "--package", "corr", "--json")
	assert.Equal(t, 2, r.code)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &e), r.stdout)
	assert.Equal(t, "unknown_package", e.Error.Code)
	assert.Contains(t, e.Error.Message, `"corr"`)
	assert.Contains(t, e.Error.Message, "core", "close names are suggested")

	r = run(t, t.TempDir(), "status", "--json")
	assert.Equal(t, 2, r.code)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &e))
	assert.Equal(t, "no_workspace", e.Error.Code)

	r = run(t, root, "frobnicate")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, `unknown command "frobnicate"`)
}

func TestStatusAndCache(t *testing.T) {
	root := example(t)
	require.Equal(t, 0, run(t, root, "build").code)
	r := run(t, root, "status", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var st struct {
		Workspace string `json:"workspace"`
		Packages  []buildnet.PackageStatus
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &st))
	assert.Len(t, st.Packages, 6)
	for _, p := range st.Packages {
		assert.Equal(t, buildnet.StatusSuccess, p.LastStatus)
		assert.Equal(t, buildnet.TierFullBuild, p.LastTier)
	}
	r = run(t, root, "cache", "stats", "--json")
	require.Equal(t, 0, r.code)
	var cs struct{ Entries int64 }
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &cs))
	assert.Equal(t, int64(6), cs.Entries)
	require.Equal(t, 0, run(t, root, "cache", "clear").code)
	r = run(t, root, "cache", "stats", "--json")
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &cs))
	assert.Zero(t, cs.Entries)
}

func TestInitFromWorkspaces(t *testing.T) {
	for _, tc := range []struct{ name, manager string }{{"npm", "npm"}, {"pnpm", "pnpm"}} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			write := func(rel, s string) {
				p := filepath.Join(root, rel)
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
			}
			if tc.manager == "pnpm" {
				write("package.json", `{"name":"root","private":true}`)
				write("pnpm-workspace.yaml", "packages:\n  - 'libs/*'\n")
				write("pnpm-lock.yaml", "lockfileVersion: '9.0'\n")
			} else {
				write("package.json", `{"name":"root","private":true,"workspaces":["libs/*"]}`)
			}
			write("libs/base/package.json", `{"name":"base","scripts":{"build":"mkdir -p dist && echo base > dist/x"}}`)
			write("libs/top/package.json", `{"name":"top","dependencies":{"base":"workspace:*"},"scripts":{"build":"mkdir -p dist && cat ../base/dist/x > dist/y"}}`)
			write("libs/docs/package.json", `{"name":"docs"}`)
			r := run(t, root, "init", "--json")
			require.Equal(t, 0, r.code, r.stderr+r.stdout)
			ws, err := buildnet.LoadWorkspace(root)
			require.NoError(t, err)
			require.Len(t, ws.Packages, 2)
			assert.Equal(t, "base", ws.Packages[0].Name)
			assert.Equal(t, []string{"base"}, ws.Packages[1].Dependencies)
			assert.Equal(t, tc.manager+" run build", strings.Replace(ws.Packages[0].BuildCmd, "pnpm build", "pnpm run build", 1))
			assert.Equal(t, 2, run(t, root, "init").code, "an existing config is kept without --force")
		})
	}
}

func TestKilledBuildIsInterrupted(t *testing.T) {
	root := example(t)
	pidFile := filepath.Join(root, "sleeper.pid")
	cfgPath := filepath.Join(root, buildnet.ConfigFile)
	ws, err := buildnet.LoadWorkspace(root)
	require.NoError(t, err)
	ws.Packages[0].BuildCmd = "echo $$ > " + pidFile + "; sleep 30"
	data, _ := json.Marshal(ws)
	require.NoError(t, os.WriteFile(cfgPath, data, 0o644))

	cmd := exec.Command(binary, "build", "--package", ws.Packages[0].Name)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "BUILDNET_ADDR=127.0.0.1:1")
	require.NoError(t, cmd.Start())
	require.Eventually(t, func() bool { _, err := os.Stat(pidFile); return err == nil }, 20*time.Second, 20*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	b, _ := os.ReadFile(pidFile)
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL) // the orphaned build command
	}

	db, err := state.Open(context.Background(), filepath.Join(root, ".buildnet", "state.db"), state.Options{})
	require.NoError(t, err)
	defer db.Close()
	builds, _, err := db.Builds(context.Background(), state.Query{})
	require.NoError(t, err)
	require.Len(t, builds, 1)
	assert.Equal(t, "interrupted", builds[0].Status)
}

func TestWhyDryAndGraph(t *testing.T) {
	root := example(t)
	require.Equal(t, 0, run(t, root, "build").code)
	f := filepath.Join(root, "packages/shared/src/format.js")
	data, err := os.ReadFile(f)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(f, append(data, []byte("\n// changed\n")...), 0o644))

	// a dry run predicts and writes nothing
	before := snapshotTree(t, root)
	r := run(t, root, "build", "--dry", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	plan := decodeBuild(t, r.stdout)
	assert.True(t, plan.DryRun)
	assert.Equal(t, before, snapshotTree(t, root), "a dry run leaves the workspace as it was")
	r = run(t, root, "build", "--json", "--summarize")
	require.Equal(t, 0, r.code, r.stderr)
	real := decodeBuild(t, r.stdout)
	for i := range real.Packages {
		assert.Equal(t, real.Packages[i].Tier, plan.Packages[i].Tier, real.Packages[i].Name)
	}
	assert.FileExists(t, filepath.Join(root, ".buildnet", "runs", real.ID+".json"))

	r = run(t, root, "why", "core", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var ex buildnet.Explanation
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &ex))
	assert.Equal(t, []buildnet.Reason{{Kind: buildnet.ReasonDependencyChanged, Dependency: "shared",
		Reasons: []buildnet.Reason{{Kind: buildnet.ReasonFileChanged, Path: "src/format.js"}}}}, ex.Reasons)
	r = run(t, root, "why", "core")
	assert.Contains(t, r.stdout, "- dependency shared changed:")
	assert.Contains(t, r.stdout, "- file src/format.js")

	r = run(t, root, "graph", "--filter", "...ui", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.JSONEq(t, `{"packages": ["shared", "core", "ui", "client"], "warnings": null}`, r.stdout)
	assert.Contains(t, run(t, root, "graph", "--format", "dot").stdout, `"client" -> "ui";`)

	r = run(t, root, "why", "nope")
	assert.Equal(t, 2, r.code)
}

func TestTemplateApplyCLI(t *testing.T) {
	root := example(t)
	require.NoError(t, os.MkdirAll(filepath.Join(root, "packages/widgets"), 0o755))
	r := run(t, root, "template", "list", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"ts-library"`)
	r = run(t, root, "template", "apply", "ts-library", "--set", "name=widgets", "--json")
	require.Equal(t, 0, r.code, r.stderr+r.stdout)
	ws, err := buildnet.LoadWorkspace(root)
	require.NoError(t, err)
	assert.Equal(t, "widgets", ws.Packages[len(ws.Packages)-1].Name)
	// a clash is refused and changes nothing
	r = run(t, root, "template", "apply", "ts-library", "--set", "name=widgets")
	assert.Equal(t, 2, r.code)
	again, err := buildnet.LoadWorkspace(root)
	require.NoError(t, err)
	assert.Equal(t, ws, again)
}

// snapshotTree hashes every file below root.
func snapshotTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		out[p] = string(b)
		return nil
	}))
	return out
}
