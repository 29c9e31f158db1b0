//go:build unix

package cli_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/state"
)

func TestStartShutsDownGracefullyOnSIGTERM(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		grace   string
		release bool // let the build finish during the grace period
		want    string
		logged  string
	}{
		{name: "build cancelled after the grace period", grace: "200ms", want: state.StatusCancelled, logged: "cancelling build at shutdown"},
		{name: "build finishes within the grace period", grace: "30s", release: true, want: state.StatusSuccess, logged: "waiting for running builds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			root := newWorkspace(t)
			p, addr, logs := startProcess(t, root, "--grace", tt.grace)
			waitForKey(t, root)
			resp, err := adminDo(t, root, http.MethodPost, "http://"+addr+"/build/gate")
			require.NoError(t, err)
			var started struct{ ID string }
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&started))
			resp.Body.Close()
			require.Equal(t, http.StatusAccepted, resp.StatusCode)
			deadline := time.Now().Add(waitTimeout)
			for runs(t, root, "gate") == 0 {
				require.True(t, time.Now().Before(deadline), "the build never ran")
				time.Sleep(10 * time.Millisecond)
			}

			require.NoError(t, p.Signal(syscall.SIGTERM))
			if tt.release {
				// Shutdown has begun once the daemon refuses new builds.
				for {
					resp, err := adminDo(t, root, http.MethodPost, "http://"+addr+"/build/core")
					if err != nil {
						break
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusServiceUnavailable {
						break
					}
					require.True(t, time.Now().Before(deadline), "shutdown never began")
					time.Sleep(10 * time.Millisecond)
				}
				write(t, filepath.Join(root, ".release"), "")
			}
			exited := make(chan *os.ProcessState, 1)
			go func() {
				st, _ := p.Wait()
				exited <- st
			}()
			select {
			case st := <-exited:
				require.NotNil(t, st)
				assert.Equal(t, 0, st.ExitCode())
			case <-time.After(waitTimeout):
				t.Fatal("the daemon did not exit")
			}
			assert.Contains(t, logs.msgs(), tt.logged)

			// The state is consistent: the build recorded, none left running.
			db, err := state.Open(context.Background(), filepath.Join(root, ".buildnet", "state.db"), state.Options{})
			require.NoError(t, err)
			defer db.Close()
			b, err := db.Build(context.Background(), started.ID)
			require.NoError(t, err)
			assert.Equal(t, tt.want, b.Status)
			require.Len(t, b.Packages, 1)
			assert.Equal(t, tt.want, b.Packages[0].Status)
			running, _, err := db.Builds(context.Background(), state.Query{Status: state.StatusRunning})
			require.NoError(t, err)
			assert.Empty(t, running)
			// The port is released.
			ln, err := net.Listen("tcp", addr)
			require.NoError(t, err)
			ln.Close()
		})
	}
}

// waitForKey waits for the daemon to write its admin key.
func waitForKey(t *testing.T, root string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if _, err := auth.ReadAdminKey(filepath.Join(root, ".buildnet")); err == nil {
			return
		}
		require.True(t, time.Now().Before(deadline), "no admin key written")
		time.Sleep(10 * time.Millisecond)
	}
}
