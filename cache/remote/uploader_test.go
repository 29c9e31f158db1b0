package remote_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/cache/remote"
	"github.com/musclemap/buildnet/hash"
)

func writeString(s string) remote.WriteFunc {
	return func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

func newUploader(t *testing.T, c *remote.Client, opts remote.UploaderOptions) *remote.Uploader {
	t.Helper()
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	u := remote.NewUploader(c, opts)
	t.Cleanup(func() { u.Close(context.Background()) })
	return u
}

func TestUploaderRetries(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		code     int
		stored   bool
		puts     int
		want     remote.UploaderStats
	}{
		{"5xx then success", 2, http.StatusServiceUnavailable, true, 3, remote.UploaderStats{Queued: 1, Uploaded: 1, Retries: 2}},
		{"5xx beyond attempts", 5, http.StatusBadGateway, false, 3, remote.UploaderStats{Queued: 1, Failed: 1, Retries: 2}},
		{"4xx is final", 1, http.StatusPreconditionFailed, false, 1, remote.UploaderStats{Queued: 1, Failed: 1}},
		{"429 is retried", 1, http.StatusTooManyRequests, true, 2, remote.UploaderStats{Queued: 1, Uploaded: 1, Retries: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t)
			srv.FailNext(tt.failures, tt.code)
			c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken})
			u := newUploader(t, c, remote.UploaderOptions{Attempts: 3})
			key := hash.Sum([]byte(tt.name))
			require.True(t, u.Enqueue(key, 2*time.Second, writeString("artifact body")))
			require.NoError(t, u.Flush(t.Context()))
			a, ok := srv.Artifact(testTeam, key.String())
			assert.Equal(t, tt.stored, ok)
			if tt.stored {
				assert.Equal(t, "artifact body", string(a.Body), "every attempt sends the whole artifact")
				assert.Equal(t, "2000", a.Duration)
			}
			assert.Equal(t, tt.puts, srv.Requests(http.MethodPut))
			assert.Equal(t, tt.want, u.Stats())
		})
	}
}

func TestUploaderWriteFailure(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken})
	u := newUploader(t, c, remote.UploaderOptions{})
	evicted := func(context.Context, io.Writer) error { return cache.ErrNotFound }
	require.True(t, u.Enqueue(hash.Sum([]byte("gone")), 0, evicted))
	require.NoError(t, u.Flush(t.Context()))
	assert.Zero(t, srv.Requests(""), "nothing to send, nothing sent")
	assert.Equal(t, int64(1), u.Stats().Failed)
}

func TestUploaderQueue(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken})
	u := newUploader(t, c, remote.UploaderOptions{Workers: 1, Queue: 1})
	started, release := make(chan struct{}), make(chan struct{})
	blocked := func(ctx context.Context, w io.Writer) error {
		close(started)
		<-release
		_, err := io.WriteString(w, "first")
		return err
	}
	k1, k2, k3 := hash.Sum([]byte("1")), hash.Sum([]byte("2")), hash.Sum([]byte("3"))
	require.True(t, u.Enqueue(k1, 0, blocked))
	<-started // k1 is in progress: the queue is empty again
	require.True(t, u.Enqueue(k2, 0, writeString("second")))
	assert.False(t, u.Enqueue(k3, 0, writeString("third")), "queue full")
	assert.True(t, u.Enqueue(k2, 0, writeString("again")), "merged with the queued upload")
	assert.True(t, u.Enqueue(k1, 0, writeString("again")), "merged with the upload in progress")
	assert.Equal(t, int64(2), u.Stats().Pending)
	close(release)
	require.NoError(t, u.Flush(t.Context()))
	assert.Equal(t, remote.UploaderStats{Queued: 2, Uploaded: 2, Dropped: 1}, u.Stats())
	a, _ := srv.Artifact(testTeam, k2.String())
	assert.Equal(t, "second", string(a.Body))
	_, ok := srv.Artifact(testTeam, k3.String())
	assert.False(t, ok)
}

func TestUploaderCloseGivesUp(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken})
	u := remote.NewUploader(c, remote.UploaderOptions{Workers: 1})
	stuck := func(ctx context.Context, w io.Writer) error {
		<-ctx.Done()
		return ctx.Err()
	}
	require.True(t, u.Enqueue(hash.Sum([]byte("stuck")), 0, stuck))
	require.True(t, u.Enqueue(hash.Sum([]byte("behind")), 0, writeString("x")))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := u.Close(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "2 uploads abandoned")
	assert.False(t, u.Enqueue(hash.Sum([]byte("late")), 0, writeString("x")), "closed")
	st := u.Stats()
	assert.Equal(t, int64(3), st.Dropped)
	assert.Zero(t, st.Pending)
	assert.Zero(t, srv.Requests(""))
	require.NoError(t, u.Close(t.Context()), "second Close does nothing")
}

func TestUploaderCloseFlushes(t *testing.T) {
	srv := newServer(t)
	c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken})
	u := remote.NewUploader(c, remote.UploaderOptions{})
	for i := range 5 {
		require.True(t, u.Enqueue(hash.Sum([]byte{byte(i)}), 0, writeString("artifact")))
	}
	require.NoError(t, u.Close(t.Context()))
	assert.Len(t, srv.Hashes(testTeam), 5)
	assert.Equal(t, int64(5), u.Stats().Uploaded)
}

func TestUploaderStopsOnUnavailable(t *testing.T) {
	srv := newServer(t)
	srv.FailNext(100, http.StatusInternalServerError)
	c := newClient(t, remote.Options{URL: srv.URL, Team: testTeam, Token: testToken, MaxFailures: 1, Cooldown: time.Hour})
	u := newUploader(t, c, remote.UploaderOptions{Attempts: 5})
	require.True(t, u.Enqueue(hash.Sum([]byte("k")), 0, writeString("x")))
	require.NoError(t, u.Flush(t.Context()))
	assert.Equal(t, 1, srv.Requests(http.MethodPut), "a resting client is not retried")
	assert.Equal(t, int64(1), u.Stats().Failed)
}

// putFunc adapts a function to remote.Putter.
type putFunc func(ctx context.Context, key hash.Digest, r io.Reader, size int64, d time.Duration) error

func (f putFunc) PutArtifact(ctx context.Context, key hash.Digest, r io.Reader, size int64, d time.Duration) error {
	return f(ctx, key, r, size, d)
}

func TestUploaderSpoolsLargeArtifacts(t *testing.T) {
	const size = 9 << 20 // beyond what is kept in memory
	var got int64
	dir := t.TempDir()
	u := remote.NewUploader(putFunc(func(_ context.Context, _ hash.Digest, r io.Reader, n int64, _ time.Duration) error {
		if n != size {
			return errors.New("wrong size")
		}
		var err error
		got, err = io.Copy(io.Discard, r)
		return err
	}), remote.UploaderOptions{TempDir: dir})
	big := func(_ context.Context, w io.Writer) error {
		_, err := io.CopyN(w, zeros{}, size)
		return err
	}
	require.True(t, u.Enqueue(hash.Sum([]byte("big")), 0, big))
	require.NoError(t, u.Close(t.Context()))
	assert.Equal(t, int64(size), got)
	assert.Equal(t, int64(1), u.Stats().Uploaded)
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, left, "the spooled copy is gone")
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
