package auth

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/musclemap/buildnet/state"
)

// Audit actions. Requests name theirs when they are wrapped; these are
// the ones the package itself records.
const (
	ActionLogin         = "auth.login"
	ActionRefresh       = "auth.refresh"
	ActionLogout        = "auth.logout"
	ActionSessionExpire = "session.expire"
	ActionSessionClose  = "session.close"
	ActionHandoff       = "session.handoff"
	ActionKeyCreate     = "key.create"
	ActionKeyRevoke     = "key.revoke"
	ActionUserAdd       = "user.add"
	ActionUserUpdate    = "user.update"
	ActionUserRemove    = "user.remove"
	ActionAuditPrune    = "audit.prune"
)

// auditBatch bounds how many entries one transaction appends.
const auditBatch = 256

// auditSubBuffer is how many entries may wait for one live subscriber
// before it is dropped.
const auditSubBuffer = 256

// ErrAuditorClosed is returned by [Auditor.Record] after [Auditor.Close].
var ErrAuditorClosed = errors.New("auth: audit log closed")

// Auditor appends entries to the audit log, committing the entries of
// concurrent callers together (group commit), and fans them out to live
// subscribers. Record returns once its entry is committed.
type Auditor struct {
	store   state.AuditStore
	log     *slog.Logger
	now     func() time.Time
	reqs    chan auditReq
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when run has returned
	wg      sync.WaitGroup

	// mu guards subs and closed.
	mu     sync.Mutex
	subs   map[*AuditSubscription]struct{}
	closed bool
}

type auditReq struct {
	e   state.AuditEntry
	res chan error
}

// NewAuditor returns an auditor writing to store. nil logger discards;
// nil now means time.Now. Close stops it.
func NewAuditor(store state.AuditStore, logger *slog.Logger, now func() time.Time) *Auditor {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	a := &Auditor{store: store, log: logger, now: now, reqs: make(chan auditReq, auditBatch),
		done: make(chan struct{}), stopped: make(chan struct{}), subs: map[*AuditSubscription]struct{}{}}
	a.wg.Go(func() {
		defer close(a.stopped)
		a.run()
	})
	return a
}

// Record appends e, setting its time when zero, and waits until it is
// committed or ctx ends.
func (a *Auditor) Record(ctx context.Context, e state.AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = a.now().UTC()
	}
	if e.Actor == "" {
		e.Actor = "anonymous"
	}
	req := auditReq{e: e, res: make(chan error, 1)}
	select {
	case a.reqs <- req:
	case <-a.done:
		return ErrAuditorClosed
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	select {
	case err := <-req.res:
		return err
	case <-a.stopped:
		// Sent as the auditor closed: it may not have been written.
		select {
		case err := <-req.res:
			return err
		default:
			return ErrAuditorClosed
		}
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (a *Auditor) run() {
	for {
		var batch []auditReq
		select {
		case r := <-a.reqs:
			batch = append(batch, r)
		case <-a.done:
			// Commit what was sent before Close.
			select {
			case r := <-a.reqs:
				batch = append(batch, r)
			default:
				return
			}
		}
	fill:
		for len(batch) < auditBatch {
			select {
			case r := <-a.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		entries := make([]state.AuditEntry, len(batch))
		for i, r := range batch {
			entries[i] = r.e
		}
		// The entries must land even if a caller gave up waiting.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := a.store.AppendAudit(ctx, entries)
		cancel()
		if err != nil {
			a.log.Error("audit log write failed", "entries", len(entries), "err", err)
		}
		for _, r := range batch {
			r.res <- err
		}
		if err == nil {
			a.publish(entries) // with the seqs the store set
		}
	}
}

// Close stops the auditor and ends every subscription. Entries recorded
// before Close are committed.
func (a *Auditor) Close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	for s := range a.subs {
		close(s.c)
	}
	clear(a.subs)
	a.mu.Unlock()
	close(a.done)
	a.wg.Wait()
}

// AuditSubscription receives entries as they are committed.
type AuditSubscription struct {
	a *Auditor
	c chan state.AuditEntry
}

// Entries delivers the entries; it is closed when the subscription ends
// (by Close, by the auditor closing, or because the subscriber fell
// behind).
func (s *AuditSubscription) Entries() <-chan state.AuditEntry { return s.c }

// Close ends the subscription.
func (s *AuditSubscription) Close() {
	s.a.mu.Lock()
	defer s.a.mu.Unlock()
	if _, ok := s.a.subs[s]; ok {
		delete(s.a.subs, s)
		close(s.c)
	}
}

// Subscribe returns a subscription to the entries committed from now on.
func (a *Auditor) Subscribe() *AuditSubscription {
	s := &AuditSubscription{a: a, c: make(chan state.AuditEntry, auditSubBuffer)}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		close(s.c)
		return s
	}
	a.subs[s] = struct{}{}
	return s
}

func (a *Auditor) publish(entries []state.AuditEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for s := range a.subs {
		for _, e := range entries {
			select {
			case s.c <- e:
			default:
				// Never wait for a subscriber: drop the slow one.
				delete(a.subs, s)
				close(s.c)
				a.log.Warn("audit subscriber too slow; dropped")
			}
			if _, ok := a.subs[s]; !ok {
				break
			}
		}
	}
}

// Prune deletes the entries older than the retention period and records
// that it did.
func (a *Auditor) Prune(ctx context.Context, retention time.Duration) (int, error) {
	if retention <= 0 {
		return 0, nil
	}
	before := a.now().Add(-retention)
	n, err := a.store.PruneAudit(ctx, before)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		a.log.Info("pruned audit log", "entries", n, "before", before)
		_ = a.Record(ctx, state.AuditEntry{Actor: "buildnetd", Role: "system", Action: ActionAuditPrune,
			Outcome: state.OutcomeAllowed, Details: map[string]any{"deleted": n, "before": before.UTC().Format(time.RFC3339)}})
	}
	return n, nil
}
