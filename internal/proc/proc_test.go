package proc_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/internal/proc"
)

func TestLines(t *testing.T) {
	var mu sync.Mutex
	got := map[proc.Stream][]string{}
	err := proc.Run(context.Background(), proc.Spec{
		Command: `printf 'one\ntwo\r\nno newline'; echo err >&2`,
		Dir:     t.TempDir(),
		OnLine: func(s proc.Stream, l string) {
			mu.Lock()
			got[s] = append(got[s], l)
			mu.Unlock()
		},
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"one", "two", "no newline"}, got[proc.Stdout])
	assert.Equal(t, []string{"err"}, got[proc.Stderr])
}

func TestExitStatus(t *testing.T) {
	err := proc.Run(context.Background(), proc.Spec{Command: "exit 7", Dir: t.TempDir()})
	var ee *proc.ExitError
	require.True(t, errors.As(err, &ee))
	assert.Equal(t, 7, ee.Code)
	assert.Equal(t, "command exited with status 7", err.Error())
}

func TestCancelKillsGroup(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	var pids []string
	var mu sync.Mutex
	done := make(chan error)
	go func() {
		done <- proc.Run(ctx, proc.Spec{
			Command:     `trap '' TERM; sleep 60 & echo $!; sleep 60`,
			Dir:         t.TempDir(),
			GracePeriod: 200 * time.Millisecond,
			OnLine: func(_ proc.Stream, l string) {
				mu.Lock()
				pids = append(pids, strings.TrimSpace(l))
				mu.Unlock()
			},
		})
	}()
	time.Sleep(200 * time.Millisecond)
	stopErr := errors.New("stop now")
	cancel(stopErr)
	select {
	case err := <-done:
		assert.ErrorIs(t, err, stopErr)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
}

func TestBackgroundGrandchildDoesNotHang(t *testing.T) {
	start := time.Now()
	err := proc.Run(context.Background(), proc.Spec{Command: "sleep 60 & echo started", Dir: t.TempDir(), GracePeriod: 300 * time.Millisecond})
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 30*time.Second)
}
