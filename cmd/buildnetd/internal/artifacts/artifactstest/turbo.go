// Package artifactstest runs the real turbo CLI against a remote cache
// server, for the tests of buildnetd's: [Turbo] finds the binary that
// scripts/setup-turbo.sh installed, [TurboWorkspace] writes a tiny turbo
// monorepo and [RunTurbo] builds it and reads turbo's run summary.
// Nothing is ever downloaded at test time.
package artifactstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/musclemap/buildnet/cache/remote/remotetest"
)

// TurboVersion is the version of the npm package turbo that
// scripts/setup-turbo.sh installs.
const TurboVersion = "2.11.11"

// TurboDir returns the directory into which scripts/setup-turbo.sh
// installs turbo: $BUILDNET_TURBO_DIR, or .tools/turbo under the module
// root.
func TurboDir() (string, error) { return remotetest.ToolDir("BUILDNET_TURBO_DIR", "turbo") }

// Turbo returns the path of the installed turbo binary after checking
// that it runs (--version). When it is missing or does not run, or node
// and npm (which turbo runs the package scripts with) are missing, the
// test is skipped with the reason, unless the environment has CI=true:
// then it fails.
func Turbo(t testing.TB) string {
	t.Helper()
	bin, err := findTurbo()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("turbo unavailable: %v (run scripts/setup-turbo.sh)", err)
		}
		t.Skipf("turbo unavailable: %v (run scripts/setup-turbo.sh)", err)
	}
	return bin
}

func findTurbo() (string, error) {
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", err
		}
	}
	dir, err := TurboDir()
	if err != nil {
		return "", err
	}
	// The platform binary itself, else the npm launcher that finds it.
	var bin string
	for _, p := range []string{
		filepath.Join(dir, "node_modules", "@turbo", "linux-64", "bin", "turbo"),
		filepath.Join(dir, "node_modules", ".bin", "turbo"),
	} {
		if _, err := os.Stat(p); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		return "", fmt.Errorf("no turbo binary under %s", dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w: %s", bin, err, bytes.TrimSpace(out))
	}
	return bin, nil
}

// TurboWorkspace writes, in a temporary directory, a turbo monorepo with
// npm workspaces: a root package.json (with packageManager), a turbo.json
// whose build task outputs dist/**, and one package per name whose build
// (node -e) writes dist/out.txt holding "built <name>". With signed, the
// turbo.json turns artifact signing on (remoteCache.signature): turbo then
// signs uploads and treats a download without a valid x-artifact-tag as a
// miss. It returns the root.
func TurboWorkspace(t testing.TB, signed bool, names ...string) string {
	t.Helper()
	root := t.TempDir()
	write := func(p string, v any) {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("package.json", map[string]any{"name": "turbo-fixture", "private": true,
		"packageManager": "npm@10.9.0", "workspaces": []string{"packages/*"}})
	turbo := map[string]any{"tasks": map[string]any{"build": map[string]any{"outputs": []string{"dist/**"}}}}
	if signed {
		turbo["remoteCache"] = map[string]any{"signature": true}
	}
	write("turbo.json", turbo)
	for _, n := range names {
		script := fmt.Sprintf(`node -e "require('fs').mkdirSync('dist',{recursive:true});require('fs').writeFileSync('dist/out.txt','built %s')"`, n)
		write(filepath.Join("packages", n, "package.json"), map[string]any{"name": n, "version": "1.0.0",
			"scripts": map[string]string{"build": script}})
	}
	return root
}

// TurboRemote says which remote cache turbo uses.
type TurboRemote struct {
	API   string // TURBO_API: the server's base address
	Token string // TURBO_TOKEN
	Team  string // TURBO_TEAM
	// SignatureKey is TURBO_REMOTE_CACHE_SIGNATURE_KEY, for a signed
	// workspace.
	SignatureKey string
}

// TaskCache is what turbo's run summary says about one task's cache.
type TaskCache struct {
	Status    string `json:"status"` // HIT or MISS
	Source    string `json:"source"` // LOCAL or REMOTE, for a hit
	TimeSaved int64  `json:"timeSaved"`
}

// RunTurbo runs `turbo run build` in root with the remote cache only
// (--cache=remote:<mode>, mode "rw" or "r"), without a daemon, telemetry
// or update checks, and with HOME in a temporary directory. It returns
// turbo's output and its run summary's cache outcome by task id (such as
// "a#build"), and the error of the run.
func RunTurbo(t testing.TB, turbo, root string, remote TurboRemote, mode string) (string, map[string]TaskCache, error) {
	t.Helper()
	// The previous summaries are not this run's.
	if err := os.RemoveAll(filepath.Join(root, ".turbo", "runs")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, turbo, "run", "build", "--cache=remote:"+mode, "--summarize",
		"--ui=stream", "--no-daemon", "--log-order=grouped")
	cmd.Dir = root
	home := t.TempDir()
	cmd.Env = append(cleanEnv(),
		"HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"TURBO_API="+remote.API, "TURBO_TOKEN="+remote.Token, "TURBO_TEAM="+remote.Team,
		"TURBO_TELEMETRY_DISABLED=1", "DO_NOT_TRACK=1", "TURBO_NO_UPDATE_NOTIFIER=1",
		"NPM_CONFIG_UPDATE_NOTIFIER=false", "TURBO_PRINT_VERSION_DISABLED=1")
	if remote.SignatureKey != "" {
		cmd.Env = append(cmd.Env, "TURBO_REMOTE_CACHE_SIGNATURE_KEY="+remote.SignatureKey)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), nil, fmt.Errorf("turbo run build: %w", err)
	}
	runs, _ := filepath.Glob(filepath.Join(root, ".turbo", "runs", "*.json"))
	if len(runs) != 1 {
		return string(out), nil, fmt.Errorf("want one run summary, found %d", len(runs))
	}
	b, err := os.ReadFile(runs[0])
	if err != nil {
		return string(out), nil, err
	}
	var sum struct {
		Tasks []struct {
			TaskID string    `json:"taskId"`
			Cache  TaskCache `json:"cache"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		return string(out), nil, fmt.Errorf("decode run summary: %w", err)
	}
	tasks := map[string]TaskCache{}
	for _, tk := range sum.Tasks {
		tasks[tk.TaskID] = tk.Cache
	}
	return string(out), tasks, nil
}

// cleanEnv is the environment without turbo's own settings and the CI
// markers, which change what turbo sends.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TURBO_") || strings.HasPrefix(kv, "CI=") || strings.HasPrefix(kv, "VERCEL") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
