package remotetest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// NPMVersion is the version of the npm package turborepo-remote-cache
// that scripts/setup-remote-cache.sh installs and [StartNPM] runs.
const NPMVersion = "2.12.0"

// NPMOptions configures [StartNPM].
type NPMOptions struct {
	// Token is the bearer token the server requires. Required.
	Token string
	// StoreTags sets TURBO_REMOTE_CACHE_SIGNATURE_KEY on the server,
	// which makes it store and return x-artifact-tag (it never checks
	// them) and answer 404 for an artifact stored without one.
	StoreTags bool
}

// NPMServer is a running turborepo-remote-cache server.
type NPMServer struct {
	// URL is the server's base address, http://127.0.0.1:port.
	URL string
	// StorageDir holds the artifacts: <StorageDir>/<team>/<hash>.
	StorageDir string
}

// ArtifactPath returns the file holding the artifact of team and hash.
func (s *NPMServer) ArtifactPath(team, hash string) string {
	return filepath.Join(s.StorageDir, team, hash)
}

// NPMDir returns the directory into which scripts/setup-remote-cache.sh
// installs the server: $BUILDNET_REMOTE_CACHE_DIR, or .tools/remote-cache
// under the module root.
func NPMDir() (string, error) { return ToolDir("BUILDNET_REMOTE_CACHE_DIR", "remote-cache") }

// ToolDir returns the directory into which a script of scripts/ installs
// the tool name for the tests: the environment variable env when it is
// set, else .tools/name under the module root found above the working
// directory.
func ToolDir(env, name string) (string, error) {
	if d := os.Getenv(env); d != "" {
		return filepath.Abs(d)
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".tools", name), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find .tools/%s: no go.mod above the working directory", name)
		}
		dir = parent
	}
}

// StartNPM starts the turborepo-remote-cache server installed by
// scripts/setup-remote-cache.sh on a free loopback port, with local
// storage in a temporary directory, and stops it when t ends. When node
// or the installed package is missing the test is skipped, unless the
// environment has CI=true: then it fails.
func StartNPM(t testing.TB, opts NPMOptions) *NPMServer {
	t.Helper()
	node, cli, err := findNPM()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("turborepo-remote-cache server unavailable: %v (run scripts/setup-remote-cache.sh)", err)
		}
		t.Skipf("turborepo-remote-cache server unavailable: %v (run scripts/setup-remote-cache.sh)", err)
	}
	var lastErr error
	for range 3 { // the free port may be taken before the server binds it
		s, err := startNPM(t, node, cli, opts)
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("start turborepo-remote-cache: %v", lastErr)
	return nil
}

func findNPM() (node, cli string, err error) {
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", err
	}
	dir, err := NPMDir()
	if err != nil {
		return "", "", err
	}
	cli = filepath.Join(dir, "node_modules", "turborepo-remote-cache", "dist", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		return "", "", err
	}
	return node, cli, nil
}

func startNPM(t testing.TB, node, cli string, opts NPMOptions) (*NPMServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	storage := t.TempDir()
	cmd := exec.Command(node, cli)
	cmd.Env = append(os.Environ(),
		"HOST=127.0.0.1", "PORT="+strconv.Itoa(port), "TURBO_TOKEN="+opts.Token,
		"STORAGE_PROVIDER=local", "STORAGE_PATH="+storage, "STORAGE_PATH_USE_TMP_FOLDER=false",
		"LOG_LEVEL=warn", "NODE_NO_WARNINGS=1")
	if opts.StoreTags {
		cmd.Env = append(cmd.Env, "TURBO_REMOTE_CACHE_SIGNATURE_KEY=store-tags")
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	s := &NPMServer{URL: fmt.Sprintf("http://127.0.0.1:%d", port), StorageDir: storage}
	if err := waitReady(s.URL, exited); err != nil {
		stop()
		return nil, fmt.Errorf("%w; server output:\n%s", err, out.String())
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("turborepo-remote-cache output:\n%s", out.String())
		}
	})
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls the status endpoint, which needs no token, until the
// server answers.
func waitReady(base string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v8/artifacts/status", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("server exited before answering")
		case <-ctx.Done():
			return fmt.Errorf("server not ready after 20s: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type syncBuffer struct {
	// mu guards b.
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
