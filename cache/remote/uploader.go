package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/musclemap/buildnet/hash"
)

// Defaults of [UploaderOptions].
const (
	DefaultWorkers  = 2
	DefaultQueue    = 1024
	DefaultAttempts = 4
	DefaultBackoff  = 500 * time.Millisecond
)

// Putter stores artifacts; [*Client] implements it.
type Putter interface {
	// PutArtifact uploads size bytes of r (seekable, from its current
	// offset) as the artifact for key, built in duration.
	PutArtifact(ctx context.Context, key hash.Digest, r io.Reader, size int64, duration time.Duration) error
}

// WriteFunc writes one artifact to w, for example with
// [cache.Cache.Export]. It is called when the upload starts, not when it
// is queued.
type WriteFunc func(ctx context.Context, w io.Writer) error

// UploaderOptions configures an [Uploader]. The zero value means the
// defaults.
type UploaderOptions struct {
	// Workers bounds the uploads in progress; 0 means [DefaultWorkers].
	Workers int
	// Queue bounds the uploads waiting; more are dropped and counted.
	// 0 means [DefaultQueue].
	Queue int
	// Attempts is how many times an upload is tried when the failure is
	// [Retryable]; 0 means [DefaultAttempts].
	Attempts int
	// Backoff is the wait before the first retry, doubled for each next
	// one, with jitter; 0 means [DefaultBackoff].
	Backoff time.Duration
	// TempDir holds each artifact while it is uploaded; "" means the
	// system's temporary directory.
	TempDir string
	// Logger receives a warning for each upload that fails for good;
	// nil discards them.
	Logger *slog.Logger
}

// UploaderStats counts an Uploader's work.
type UploaderStats struct {
	Queued   int64 `json:"queued"`   // uploads accepted by Enqueue
	Uploaded int64 `json:"uploaded"` // artifacts the server accepted
	Failed   int64 `json:"failed"`   // uploads given up, after retries or at once
	Retries  int64 `json:"retries"`  // attempts after the first
	Dropped  int64 `json:"dropped"`  // uploads not done: queue full, closed, abandoned at Close
	Pending  int64 `json:"pending"`  // uploads queued or in progress now
}

// Uploader uploads artifacts in the background with a bounded number of
// workers, so that callers never wait for the network. Failures are
// logged and counted, never returned to the caller of Enqueue. It is safe
// for concurrent use; Close it to stop its workers.
type Uploader struct {
	put      Putter
	workers  int
	attempts int
	backoff  time.Duration
	tempDir  string
	log      *slog.Logger
	queue    chan upload
	ctx      context.Context // ends when Close gives up waiting
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	queued, uploaded, failed, retries, dropped atomic.Int64

	// mu guards everything below.
	mu      sync.Mutex
	closed  bool
	pending map[hash.Digest]bool // queued or in progress
	idle    chan struct{}        // closed when pending becomes empty
}

type upload struct {
	key      hash.Digest
	duration time.Duration
	write    WriteFunc
}

// NewUploader returns an Uploader sending artifacts through p and starts
// its workers.
func NewUploader(p Putter, opts UploaderOptions) *Uploader {
	u := &Uploader{
		put: p, workers: opts.Workers, attempts: opts.Attempts, backoff: opts.Backoff,
		tempDir: opts.TempDir, log: opts.Logger, pending: map[hash.Digest]bool{},
	}
	if u.workers <= 0 {
		u.workers = DefaultWorkers
	}
	if u.attempts <= 0 {
		u.attempts = DefaultAttempts
	}
	if u.backoff <= 0 {
		u.backoff = DefaultBackoff
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	u.log = u.log.With(keyComponent, "remote-cache-upload")
	q := opts.Queue
	if q <= 0 {
		q = DefaultQueue
	}
	u.queue = make(chan upload, q)
	u.idle = make(chan struct{})
	close(u.idle)
	u.ctx, u.cancel = context.WithCancel(context.Background())
	for range u.workers {
		u.wg.Go(u.work)
	}
	return u
}

// Enqueue schedules the upload of the artifact that write produces as
// key, built in duration, and returns at once. It reports whether the
// upload was accepted: an upload of a key already waiting or in progress
// is accepted and merged with it; one that finds the queue full or the
// Uploader closed is dropped.
func (u *Uploader) Enqueue(key hash.Digest, duration time.Duration, write WriteFunc) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pending[key] {
		return true
	}
	if u.closed {
		u.dropped.Add(1)
		return false
	}
	select {
	case u.queue <- upload{key: key, duration: duration, write: write}:
	default:
		u.dropped.Add(1)
		u.log.Warn("remote cache upload queue full; dropping upload", slog.String(keyDigest, key.String()))
		return false
	}
	if len(u.pending) == 0 {
		u.idle = make(chan struct{})
	}
	u.pending[key] = true
	u.queued.Add(1)
	return true
}

// Flush waits until every upload queued so far has ended, or ctx ends.
func (u *Uploader) Flush(ctx context.Context) error {
	u.mu.Lock()
	idle := u.idle
	u.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flush uploads: %w", context.Cause(ctx))
	}
}

// Close stops accepting uploads and waits for those queued to end. When
// ctx ends first, uploads in progress are cancelled and those still
// queued are dropped; Close then returns an error saying how many. The
// workers have stopped when Close returns. Calling Close again does
// nothing.
func (u *Uploader) Close(ctx context.Context) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	u.mu.Unlock()
	err := u.Flush(ctx)
	var left int
	if err != nil {
		u.mu.Lock()
		left = len(u.pending)
		u.mu.Unlock()
	}
	u.cancel()
	// Enqueue sends under mu and checks closed first: no send can follow.
	u.mu.Lock()
	close(u.queue)
	u.mu.Unlock()
	u.wg.Wait()
	if err != nil {
		return fmt.Errorf("close uploader: %d uploads abandoned: %w", left, err)
	}
	return nil
}

// Stats returns the Uploader's counters.
func (u *Uploader) Stats() UploaderStats {
	u.mu.Lock()
	pending := int64(len(u.pending))
	u.mu.Unlock()
	return UploaderStats{
		Queued: u.queued.Load(), Uploaded: u.uploaded.Load(), Failed: u.failed.Load(),
		Retries: u.retries.Load(), Dropped: u.dropped.Load(), Pending: pending,
	}
}

func (u *Uploader) work() {
	for up := range u.queue {
		if u.ctx.Err() != nil {
			u.dropped.Add(1)
		} else {
			u.do(up)
		}
		u.mu.Lock()
		delete(u.pending, up.key)
		if len(u.pending) == 0 {
			close(u.idle)
		}
		u.mu.Unlock()
	}
}

// do performs one upload: the artifact is written aside once, then sent
// until it succeeds, fails for good or the attempts run out.
func (u *Uploader) do(up upload) {
	ctx := u.ctx
	sp := &spool{dir: u.tempDir}
	if err := up.write(ctx, sp); err != nil {
		sp.discard()
		u.giveUp(ctx, up, 0, fmt.Errorf("write artifact: %w", err))
		return
	}
	body, err := sp.reader()
	if err != nil {
		u.giveUp(ctx, up, 0, fmt.Errorf("read spooled artifact: %w", err))
		return
	}
	defer body.Close()
	wait := u.backoff
	for attempt := 1; ; attempt++ {
		if _, err = body.Seek(0, io.SeekStart); err != nil {
			u.giveUp(ctx, up, attempt, fmt.Errorf("rewind artifact: %w", err))
			return
		}
		err = u.put.PutArtifact(ctx, up.key, body, sp.Len(), up.duration)
		if err == nil {
			u.uploaded.Add(1)
			return
		}
		if ctx.Err() != nil || !Retryable(err) || attempt == u.attempts {
			u.giveUp(ctx, up, attempt, err)
			return
		}
		u.retries.Add(1)
		// Full jitter over the upper half keeps retries of many workers
		// from arriving together.
		d := wait/2 + rand.N(wait/2+1)
		select {
		case <-time.After(d):
		case <-ctx.Done():
			u.giveUp(ctx, up, attempt, err)
			return
		}
		wait *= 2
	}
}

func (u *Uploader) giveUp(ctx context.Context, up upload, attempts int, err error) {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		u.dropped.Add(1)
		return
	}
	u.failed.Add(1)
	u.log.LogAttrs(ctx, slog.LevelWarn, "remote cache upload failed",
		slog.String(keyDigest, up.key.String()), slog.Int(keyAttempt, attempts), slog.Any(keyErr, err))
}
