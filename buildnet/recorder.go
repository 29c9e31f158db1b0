package buildnet

import (
	"context"
	"time"

	"github.com/musclemap/buildnet/hash"
	"github.com/musclemap/buildnet/state"
)

// The recorder writes build records to the store in the background, in
// order, so a build returns as soon as its packages are done. Every read
// of build records goes through [Engine.Store], which waits for the
// writes queued before it: nothing reads a stale history.

// recordTimeout bounds one queued write.
const recordTimeout = 30 * time.Second

type recordJob struct {
	fn   func(context.Context)
	done chan struct{} // closed after fn ran; nil when nobody waits
}

// recordQueue bounds the records waiting to be written. When builds end
// faster than SQLite takes their records, builds wait here rather than
// the backlog growing without bound.
const recordQueue = 64

func (e *Engine) startRecorder() {
	e.records = make(chan recordJob, recordQueue)
	e.recorderDone = make(chan struct{})
	go func() {
		defer close(e.recorderDone)
		for j := range e.records {
			if j.fn != nil {
				ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
				j.fn(ctx)
				cancel()
			}
			if j.done != nil {
				close(j.done)
			}
		}
	}()
}

// record queues fn to run on the recorder.
func (e *Engine) record(fn func(context.Context)) {
	e.records <- recordJob{fn: fn}
}

// Flush waits until every build record queued so far is written, the
// records of the builds in progress included.
func (e *Engine) Flush(ctx context.Context) error {
	if !e.discardNoops {
		e.mu.Lock()
		runs := make([]*run, 0, len(e.runs))
		for _, r := range e.runs {
			runs = append(runs, r)
		}
		e.mu.Unlock()
		for _, r := range runs {
			r.recordStart()
		}
	}
	done := make(chan struct{})
	select {
	case e.records <- recordJob{done: done}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// persistLater queues a package's new state and manifest. They are
// remembered in memory at once (later builds decide from them) and written
// in batches: one transaction for all the packages that finished while
// the recorder was busy, instead of two per package.
func (e *Engine) persistLater(st state.PackageState, m *state.ManifestRecord) {
	e.remember(st)
	e.pendMu.Lock()
	queued := len(e.pendStates) > 0
	e.pendStates = append(e.pendStates, st)
	if m != nil {
		e.pendManifests = append(e.pendManifests, *m)
	}
	e.pendMu.Unlock()
	if !queued {
		e.record(e.writePending)
	}
}

// writePending writes every state and manifest queued so far.
func (e *Engine) writePending(ctx context.Context) {
	e.pendMu.Lock()
	states, manifests := e.pendStates, e.pendManifests
	e.pendStates, e.pendManifests = nil, nil
	e.pendMu.Unlock()
	if err := e.store.PutPackageStates(ctx, states); err != nil {
		e.log.Error("record package state", "packages", len(states), "err", err)
	}
	if err := e.store.PutManifests(ctx, manifests); err != nil {
		e.log.Error("record input manifests", "manifests", len(manifests), "err", err)
	}
}

// stopRecorder drains the queue; no record may be queued afterwards.
func (e *Engine) stopRecorder() {
	close(e.records)
	<-e.recorderDone
}

// flushingStore is the store as consumers see it: reads first wait for
// the queued writes.
type flushingStore struct {
	e     *Engine
	inner state.Store
}

var _ state.Store = flushingStore{}

func (s flushingStore) flush(ctx context.Context) error { return s.e.Flush(ctx) }

func (s flushingStore) PackageStates(ctx context.Context) (map[string]state.PackageState, error) {
	if err := s.flush(ctx); err != nil {
		return nil, err
	}
	return s.inner.PackageStates(ctx)
}

func (s flushingStore) PutPackageStates(ctx context.Context, states []state.PackageState) error {
	return s.inner.PutPackageStates(ctx, states)
}

func (s flushingStore) DeletePackageStates(ctx context.Context, names []string) error {
	return s.inner.DeletePackageStates(ctx, names)
}

func (s flushingStore) CreateBuild(ctx context.Context, b state.Build) error {
	return s.inner.CreateBuild(ctx, b)
}

func (s flushingStore) StartBuild(ctx context.Context, id string, at time.Time) error {
	return s.inner.StartBuild(ctx, id, at)
}

func (s flushingStore) FinishBuild(ctx context.Context, id, status, errMsg string, at time.Time, results []state.PackageResult) error {
	return s.inner.FinishBuild(ctx, id, status, errMsg, at, results)
}

func (s flushingStore) Build(ctx context.Context, id string) (state.Build, error) {
	if err := s.flush(ctx); err != nil {
		return state.Build{}, err
	}
	return s.inner.Build(ctx, id)
}

func (s flushingStore) Builds(ctx context.Context, q state.Query) ([]state.Build, string, error) {
	if err := s.flush(ctx); err != nil {
		return nil, "", err
	}
	return s.inner.Builds(ctx, q)
}

func (s flushingStore) PutLog(ctx context.Context, buildID, pkg string, log []byte) error {
	return s.inner.PutLog(ctx, buildID, pkg, log)
}

func (s flushingStore) Log(ctx context.Context, buildID, pkg string) ([]byte, error) {
	if err := s.flush(ctx); err != nil {
		return nil, err
	}
	return s.inner.Log(ctx, buildID, pkg)
}

func (s flushingStore) PruneBuilds(ctx context.Context, keep int) (int, error) {
	return s.inner.PruneBuilds(ctx, keep)
}

func (s flushingStore) PutManifest(ctx context.Context, pkg string, digest hash.Digest, data []byte) error {
	return s.inner.PutManifest(ctx, pkg, digest, data)
}

func (s flushingStore) PutManifests(ctx context.Context, ms []state.ManifestRecord) error {
	return s.inner.PutManifests(ctx, ms)
}

func (s flushingStore) Manifest(ctx context.Context, digest hash.Digest) (string, []byte, error) {
	if err := s.flush(ctx); err != nil {
		return "", nil, err
	}
	return s.inner.Manifest(ctx, digest)
}

func (s flushingStore) PruneManifests(ctx context.Context, keep int) (int, error) {
	return s.inner.PruneManifests(ctx, keep)
}

func (s flushingStore) Secret(ctx context.Context) ([]byte, error) { return s.inner.Secret(ctx) }
