package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/musclemap/buildnet/state"
)

// SessionHeader carries the session id: the daemon sets it on every
// authenticated response, and a client sends it back to stay in its
// session.
const SessionHeader = "X-BuildNet-Session"

// ErrSessionLimit is returned when an actor already has as many busy
// sessions as allowed.
var ErrSessionLimit = errors.New("auth: too many sessions")

// ErrNoSession is returned for a session id that is unknown, closed or
// not the caller's.
var ErrNoSession = errors.New("auth: no such session")

// Stream is a live event stream attached to a session, such as a
// WebSocket. Its subscription moves with a handoff.
type Stream struct {
	// Export returns the stream's subscription, in a form only Import
	// understands.
	Export func() any
	// Import replaces the stream's subscription with one Export returned.
	Import func(any)
	// End closes the stream.
	End func()
}

// SessionInfo describes a session.
type SessionInfo struct {
	state.Session
	// Builds are the ids of the builds the session asked for that are
	// still in progress.
	Builds   []string `json:"builds"`
	Streams  int      `json:"streams"`
	InFlight int      `json:"in_flight"`
}

// session is a live session.
type session struct {
	rec       state.Session
	inflight  int
	streams   map[*Stream]struct{}
	builds    []string
	persisted time.Time // when last_seen was last written
}

// Sessions tracks the daemon's client sessions.
type Sessions struct {
	store  state.AuthStore
	log    *slog.Logger
	now    func() time.Time
	active func() []string    // ids of the builds in progress; may be nil
	cancel func(string) error // cancels a build; may be nil

	writes sync.WaitGroup // records of new sessions being written

	// mu guards the fields below.
	mu     sync.Mutex
	idle   time.Duration
	max    int
	m      map[string]*session
	closed map[string]bool // ids closed since start, so their tokens are refused
	// unwritten holds, for each new session whose record is being
	// written, a channel closed once it is: later writes about the
	// session wait for it, so that they land in order.
	unwritten map[string]chan struct{}
}

// touchEvery bounds how often a session's last_seen is written.
const touchEvery = time.Minute

func newSessions(store state.AuthStore, log *slog.Logger, now func() time.Time, idle time.Duration, maxPerActor int) *Sessions {
	return &Sessions{store: store, log: log, now: now, idle: idle, max: maxPerActor,
		m: map[string]*session{}, closed: map[string]bool{}, unwritten: map[string]chan struct{}{}}
}

// written waits until the record of new session id is written.
func (ss *Sessions) written(id string) {
	ss.mu.Lock()
	ch := ss.unwritten[id]
	ss.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// wait waits for the records of new sessions being written.
func (ss *Sessions) wait() { ss.writes.Wait() }

func (ss *Sessions) configure(idle time.Duration, maxPerActor int) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.idle, ss.max = idle, maxPerActor
}

// load restores the open sessions of the store; those idle too long are
// closed.
func (ss *Sessions) load(ctx context.Context) error {
	recs, err := ss.store.Sessions(ctx)
	if err != nil {
		return err
	}
	now := ss.now()
	ss.mu.Lock()
	idle := ss.idle
	ss.mu.Unlock()
	for _, r := range recs {
		if idle > 0 && now.Sub(r.LastSeen) > idle {
			if err := ss.store.CloseSession(ctx, r.ID, now); err != nil && !errors.Is(err, state.ErrNotFound) {
				return err
			}
			continue
		}
		ss.mu.Lock()
		ss.m[r.ID] = &session{rec: r, streams: map[*Stream]struct{}{}, persisted: r.LastSeen}
		ss.mu.Unlock()
	}
	return nil
}

// open starts a session for p. Its record is written in the background:
// a request does not wait for it, and every later write about the
// session (its activity, its close) waits for it.
func (ss *Sessions) open(ctx context.Context, p Principal, kind, remote string) (string, []string, error) {
	id, err := newID("s_", 12)
	if err != nil {
		return "", nil, err
	}
	now := ss.now().UTC()
	actor := p.Actor()
	ss.mu.Lock()
	evicted, err := ss.makeRoomLocked(actor)
	if err != nil {
		ss.mu.Unlock()
		return "", nil, err
	}
	s := &session{rec: state.Session{ID: id, Actor: actor, Role: p.Role.String(), Kind: kind, Remote: remote,
		CreatedAt: now, LastSeen: now}, streams: map[*Stream]struct{}{}, persisted: now}
	ss.m[id] = s
	done := make(chan struct{})
	ss.unwritten[id] = done
	rec := s.rec
	ss.mu.Unlock()
	for _, old := range evicted {
		ss.written(old)
		if err := ss.store.CloseSession(ctx, old, now); err != nil && !errors.Is(err, state.ErrNotFound) {
			ss.log.Warn("close evicted session", "session", old, "err", err)
		}
	}
	wctx := context.WithoutCancel(ctx)
	ss.writes.Go(func() {
		defer func() {
			ss.mu.Lock()
			delete(ss.unwritten, id)
			ss.mu.Unlock()
			close(done)
		}()
		if err := ss.store.PutSession(wctx, rec); err != nil {
			ss.log.Error("record session", "session", id, "err", err)
		}
	})
	return id, evicted, nil
}

// makeRoomLocked makes room for one more session of actor, closing its
// least recently used idle session if it is at its limit.
func (ss *Sessions) makeRoomLocked(actor string) ([]string, error) {
	if ss.max <= 0 {
		return nil, nil
	}
	var mine []*session
	for _, s := range ss.m {
		if s.rec.Actor == actor {
			mine = append(mine, s)
		}
	}
	if len(mine) < ss.max {
		return nil, nil
	}
	active := ss.activeBuilds()
	slices.SortFunc(mine, func(a, b *session) int { return a.rec.LastSeen.Compare(b.rec.LastSeen) })
	var evicted []string
	for _, s := range mine {
		if len(mine)-len(evicted) < ss.max {
			break
		}
		if s.inflight > 0 || len(s.streams) > 0 || len(s.liveBuilds(active)) > 0 {
			continue
		}
		evicted = append(evicted, s.rec.ID)
		ss.forgetLocked(s.rec.ID)
	}
	if len(mine)-len(evicted) >= ss.max {
		return evicted, fmt.Errorf("%w: %s has %d sessions in use, the limit", ErrSessionLimit, actor, ss.max)
	}
	return evicted, nil
}

func (ss *Sessions) activeBuilds() map[string]bool {
	out := map[string]bool{}
	if ss.active != nil {
		for _, id := range ss.active() {
			out[id] = true
		}
	}
	return out
}

func (s *session) liveBuilds(active map[string]bool) []string {
	out := []string{}
	for _, b := range s.builds {
		if active[b] {
			out = append(out, b)
		}
	}
	return out
}

func (ss *Sessions) forgetLocked(id string) *session {
	s := ss.m[id]
	delete(ss.m, id)
	ss.closed[id] = true
	return s
}

// acquire marks a request of actor in session id as in flight. It
// returns false when the session is not open or not actor's.
func (ss *Sessions) acquire(ctx context.Context, id, actor string) bool {
	now := ss.now().UTC()
	ss.mu.Lock()
	s := ss.m[id]
	if s == nil || s.rec.Actor != actor {
		ss.mu.Unlock()
		return false
	}
	s.inflight++
	s.rec.LastSeen = now
	persist := now.Sub(s.persisted) >= touchEvery
	if persist {
		s.persisted = now
	}
	rec := s.rec
	ss.mu.Unlock()
	if persist {
		ss.written(id)
		if err := ss.store.PutSession(ctx, rec); err != nil {
			ss.log.Warn("record session activity", "session", id, "err", err)
		}
	}
	return true
}

// release ends what acquire began.
func (ss *Sessions) release(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s := ss.m[id]; s != nil {
		s.inflight--
		s.rec.LastSeen = ss.now().UTC()
	}
}

// isOpen reports whether session id is open and actor's.
func (ss *Sessions) isOpen(id, actor string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	return s != nil && s.rec.Actor == actor
}

// AddBuild records that session id asked for build buildID.
func (ss *Sessions) AddBuild(id, buildID string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s := ss.m[id]; s != nil {
		active := ss.activeBuilds()
		// Forget the finished ones as we go.
		s.builds = append(s.liveBuilds(active), buildID)
	}
}

// Attach attaches a stream to session id while it is open; the returned
// function detaches it. A session with a stream is never idle.
func (ss *Sessions) Attach(id string, st *Stream) (detach func()) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return func() {}
	}
	s.streams[st] = struct{}{}
	return func() {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		if s := ss.m[id]; s != nil {
			delete(s.streams, st)
			s.rec.LastSeen = ss.now().UTC()
		}
	}
}

// Info describes session id, or returns false.
func (ss *Sessions) Info(id string) (SessionInfo, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil {
		return SessionInfo{}, false
	}
	return s.info(ss.activeBuilds()), true
}

func (s *session) info(active map[string]bool) SessionInfo {
	return SessionInfo{Session: s.rec, Builds: s.liveBuilds(active), Streams: len(s.streams), InFlight: s.inflight}
}

// List describes the open sessions of actor, or all of them when actor
// is "", oldest first.
func (ss *Sessions) List(actor string) []SessionInfo {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	active := ss.activeBuilds()
	out := []SessionInfo{}
	for _, s := range ss.m {
		if actor == "" || s.rec.Actor == actor {
			out = append(out, s.info(active))
		}
	}
	slices.SortFunc(out, func(a, b SessionInfo) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmpString(a.ID, b.ID)
	})
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// BuildSession returns the session that owns build buildID, if any.
func (ss *Sessions) BuildSession(buildID string) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, s := range ss.m {
		if slices.Contains(s.builds, buildID) {
			return id, true
		}
	}
	return "", false
}

// closeSession closes session id: its streams end and, when cancelBuilds
// is set, its builds still in progress are cancelled. It returns what it
// closed.
func (ss *Sessions) closeSession(ctx context.Context, id string, cancelBuilds bool) (SessionInfo, error) {
	ss.mu.Lock()
	s := ss.m[id]
	if s == nil {
		ss.mu.Unlock()
		return SessionInfo{}, ErrNoSession
	}
	info := s.info(ss.activeBuilds())
	ss.forgetLocked(id)
	streams := make([]*Stream, 0, len(s.streams))
	for st := range s.streams {
		streams = append(streams, st)
	}
	ss.mu.Unlock()
	for _, st := range streams {
		if st.End != nil {
			st.End()
		}
	}
	if cancelBuilds && ss.cancel != nil {
		for _, b := range info.Builds {
			if err := ss.cancel(b); err != nil {
				ss.log.Debug("cancel build of closed session", "session", id, "build", b, "err", err)
			}
		}
	}
	ss.written(id)
	if err := ss.store.CloseSession(ctx, id, ss.now()); err != nil && !errors.Is(err, state.ErrNotFound) {
		return info, err
	}
	return info, nil
}

// wasClosed reports whether session id was closed while this daemon ran.
func (ss *Sessions) wasClosed(id string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.closed[id]
}

// idleSessions returns the ids of the sessions idle for longer than the
// idle timeout: no request in flight, no stream, no build in progress,
// and no activity since.
func (ss *Sessions) idleSessions() []string {
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.idle <= 0 {
		return nil
	}
	active := ss.activeBuilds()
	var out []string
	for id, s := range ss.m {
		if s.inflight == 0 && len(s.streams) == 0 && len(s.liveBuilds(active)) == 0 && now.Sub(s.rec.LastSeen) > ss.idle {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// handoff moves the builds and subscriptions of session from to session
// to, then closes from.
func (ss *Sessions) handoff(ctx context.Context, from, to string, by Principal) ([]string, error) {
	ss.mu.Lock()
	src, dst := ss.m[from], ss.m[to]
	switch {
	case src == nil || (src.rec.Actor != by.Actor() && by.Role != RoleAdmin):
		ss.mu.Unlock()
		return nil, fmt.Errorf("session %s: %w", from, ErrNoSession)
	case dst == nil || from == to:
		ss.mu.Unlock()
		return nil, fmt.Errorf("target session %s: %w", to, ErrNoSession)
	case dst.rec.Actor != src.rec.Actor && dst.rec.Role != RoleAdmin.String():
		ss.mu.Unlock()
		return nil, &Error{Status: 403, Code: CodeForbidden,
			Message: "a session can be handed only to another session of the same user or key, or to an admin's"}
	}
	active := ss.activeBuilds()
	moved := src.liveBuilds(active)
	dst.builds = append(dst.liveBuilds(active), moved...)
	src.builds = nil
	var subs []any
	for st := range src.streams {
		if st.Export != nil {
			subs = append(subs, st.Export())
		}
	}
	var targets []*Stream
	for st := range dst.streams {
		targets = append(targets, st)
	}
	ss.mu.Unlock()
	if len(subs) > 0 {
		for _, st := range targets {
			if st.Import != nil {
				st.Import(subs[0])
			}
		}
	}
	if _, err := ss.closeSession(ctx, from, false); err != nil && !errors.Is(err, ErrNoSession) {
		return moved, err
	}
	return moved, nil
}
