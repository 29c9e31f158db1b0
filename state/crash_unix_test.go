//go:build unix

package state

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crashEnv, when set in the environment of the test binary, turns it into
// the helper process of TestOpenInterruptsBuildsOfCrashedProcess: it opens
// the database named by the variable, starts a build, reports "ready" and
// waits to be killed.
const crashEnv = "BUILDNET_STATE_TEST_CRASH_DB"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		crashHelper(path)
	}
	os.Exit(m.Run())
}

func crashHelper(path string) {
	ctx := context.Background()
	db, err := Open(ctx, path, Options{})
	if err == nil {
		err = db.CreateBuild(ctx, Build{ID: "crashed", Status: StatusRunning})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("ready")
	// Block until the parent kills us, without ever closing db.
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(3)
}

// startHelper runs the test binary as a helper with extra environment.
func startHelper(t *testing.T, env ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	t.Cleanup(func() { _ = stdin.Close() })
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	return cmd, bufio.NewReader(stdout)
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	// The test binary running no test: a process that exits at once.
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

func TestOpenInterruptsBuildsOfCrashedProcess(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	// A live handle of this process, whose build must survive.
	live := openTest(t, path, Options{})
	require.NoError(t, live.CreateBuild(ctx, Build{ID: "live", Status: StatusRunning}))

	cmd, out := startHelper(t, crashEnv+"="+path)
	line, err := out.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	b, err := live.Build(ctx, "crashed")
	require.NoError(t, err)
	require.Equal(t, StatusRunning, b.Status)

	require.NoError(t, cmd.Process.Kill())
	require.Error(t, cmd.Wait(), "the helper was killed")

	db := openTest(t, path, Options{})
	b, err = db.Build(ctx, "crashed")
	require.NoError(t, err)
	assert.Equal(t, StatusInterrupted, b.Status)
	assert.False(t, b.FinishedAt.IsZero())
	assert.Contains(t, b.Error, "interrupted")

	b, err = db.Build(ctx, "live")
	require.NoError(t, err)
	assert.Equal(t, StatusRunning, b.Status)
}

func TestOpenInterruptsBuildsOfVanishedInstance(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(ctx, path, Options{})
	require.NoError(t, err)
	require.NoError(t, db.Close())

	// A build whose owner row is gone, as after a crash whose instance was
	// then reaped, and one whose instance row names a process that is gone.
	raw := rawDB(t, path)
	now := time.Now().UnixNano()
	_, err = raw.ExecContext(ctx, `INSERT INTO instances (id, pid, started_at, heartbeat) VALUES ('dead', ?, ?, ?)`,
		deadPID(t), now, now)
	require.NoError(t, err)
	for _, b := range []struct{ id, owner string }{{"ghost", "nobody"}, {"zombie", "dead"}} {
		_, err = raw.ExecContext(ctx, `INSERT INTO builds (id, status, created_at, started_at, owner_instance)
			VALUES (?, 'running', ?, ?, ?)`, b.id, now, now, b.owner)
		require.NoError(t, err)
	}

	clock := newClock()
	db = openTest(t, path, Options{Now: clock.Now})
	for _, id := range []string{"ghost", "zombie"} {
		b, err := db.Build(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, StatusInterrupted, b.Status, id)
		assert.Equal(t, "2026-01-02T03:04:06Z", b.FinishedAt.Format(time.RFC3339), id)
	}
	var n int
	require.NoError(t, raw.QueryRowContext(ctx, `SELECT count(*) FROM instances WHERE id = 'dead'`).Scan(&n))
	assert.Zero(t, n, "the dead instance is forgotten")
}
