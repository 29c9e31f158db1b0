package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/hash"
	"github.com/musclemap/buildnet/state"
)

// errSlowClient is why a client whose queue filled was dropped.
var errSlowClient = errors.New("server: event client too slow")

// engineBuffer is the engine subscription's buffer. The hub only copies
// events, so it stays far below it.
const engineBuffer = 1 << 16

// maxLiveLog bounds the output the hub keeps per running build, for
// GET /builds/{id}/log before the build is recorded.
const maxLiveLog = 4 << 20

// hubEvent is an event with its encodings, made when a client first
// needs them and then shared by every client: an event nobody streams
// (most of a no-op build's, when no panel is open) is never encoded.
type hubEvent struct {
	ev   buildnet.Event
	log  *slog.Logger
	once sync.Once
	// ws is the event as one WebSocket message, {"op":"event","event":JSON};
	// nil if it could not be encoded.
	ws []byte
	// frame is the event as one SSE message.
	frame []byte
}

// wsPrefix starts an event's WebSocket message.
const wsPrefix = `{"op":"event","event":`

func (he *hubEvent) encode() {
	he.once.Do(func() {
		msg, err := appendEventJSON(append(make([]byte, 0, 512), wsPrefix...), &he.ev)
		if err != nil {
			he.log.Error("encode event", "seq", he.ev.Seq, "type", string(he.ev.Type), "err", err)
			return
		}
		data := msg[len(wsPrefix):]
		he.ws = append(msg, '}')
		he.frame = fmt.Appendf(make([]byte, 0, len(msg)+64), "id: %d\nevent: %s\ndata: %s\n\n", he.ev.Seq, he.ev.Type, data)
	})
}

// wsMessage returns the event as a WebSocket message, or nil if it cannot
// be encoded.
func (he *hubEvent) wsMessage() []byte {
	he.encode()
	return he.ws
}

// sseFrame returns the event as one SSE message, or nil if it cannot be
// encoded.
func (he *hubEvent) sseFrame() []byte {
	he.encode()
	return he.frame
}

// client is one SSE or WebSocket consumer. It reads the hub's ring from
// its own position: the hub never waits for it and never copies an event
// to it, and a client that is busy writing takes every event that arrived
// meanwhile in one go.
type client struct {
	id     uint64
	kind   string // sse or ws
	remote string
	filter atomic.Pointer[filter]
	pos    uint64        // position of the next event to read; guarded by hub.mu
	done   chan struct{} // closed when the client is removed or dropped
	kick   func()        // aborts a write blocked on the client; may be nil
	reason error         // why it was dropped; written before done closes
}

// liveBuild is what the hub has seen of a build in progress.
type liveBuild struct {
	id        string
	requester string
	started   time.Time
	packages  []string // the selection, in topological order
	running   []string
	results   []buildnet.PackageResult
	logs      map[string][]byte
	logBytes  int
}

// hub fans the engine's events out to clients without ever waiting for
// one: it holds the newest events in a ring, which clients read from their
// own positions (and replay from), wakes the waiting clients once per
// burst of events, and drops a client that falls more than its queue
// behind.
type hub struct {
	log    *slog.Logger
	queue  int
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards everything below.
	mu      sync.Mutex
	ring    []*hubEvent // circular; head is the oldest of n events
	head, n int
	total   uint64        // events dispatched so far: the position of the next one
	notify  chan struct{} // closed, and replaced, when events arrive
	last    uint64        // seq of the newest event
	nextID  uint64
	clients map[*client]struct{}
	ended   error  // why the hub stopped; nil while it runs
	dropped uint64 // clients dropped for being slow
	gen     uint64 // bumped by events that change what /status reports
	builds  map[string]*liveBuild
}

func newHub(e *buildnet.Engine, log *slog.Logger, size, queue int) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	h := &hub{
		log: log, queue: queue, cancel: cancel,
		ring: make([]*hubEvent, size), clients: map[*client]struct{}{}, builds: map[string]*liveBuild{},
		notify: make(chan struct{}),
	}
	if h.queue <= 0 || h.queue > size {
		h.queue = size // a client cannot lag more than the ring holds
	}
	// Subscribe before returning so that no event published after New
	// is missed.
	sub := e.Subscribe(ctx, engineBuffer)
	h.wg.Go(func() { h.run(ctx, e, sub) })
	return h
}

func (h *hub) run(ctx context.Context, e *buildnet.Engine, sub *buildnet.Subscription) {
	batch := make([]buildnet.Event, 0, maxBatch)
	for {
		for ev := range sub.Events() {
			// Take the burst that is already queued, and wake the clients
			// once for all of it.
			batch = append(batch[:0], ev)
		more:
			for len(batch) < maxBatch {
				select {
				case ev, ok := <-sub.Events():
					if !ok {
						break more
					}
					batch = append(batch, ev)
				default:
					break more
				}
			}
			h.dispatch(batch)
		}
		err := sub.Err()
		if ctx.Err() != nil || err == nil || errors.Is(err, buildnet.ErrClosed) {
			if err == nil || ctx.Err() != nil {
				err = errHubClosed
			}
			h.end(err)
			return
		}
		// The hub itself fell behind: live views of running builds may
		// have missed events, so start them afresh.
		h.log.Warn("engine event subscription dropped; resubscribing", "reason", err)
		h.mu.Lock()
		clear(h.builds)
		h.mu.Unlock()
		sub = e.Subscribe(ctx, engineBuffer)
	}
}

var errHubClosed = errors.New("server: closed")

// close stops the hub and ends every client.
func (h *hub) close() {
	h.cancel()
	h.wg.Wait()
}

func (h *hub) end(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended = err
	for c := range h.clients {
		h.removeLocked(c, err)
	}
}

// dispatch adds evs to the ring, drops the clients now too far behind,
// and wakes the others.
func (h *hub) dispatch(evs []buildnet.Event) {
	var dropped []*client
	h.mu.Lock()
	for _, ev := range evs {
		he := &hubEvent{ev: ev, log: h.log}
		h.track(&he.ev)
		h.ring[(h.head+h.n)%len(h.ring)] = he
		if h.n < len(h.ring) {
			h.n++
		} else {
			h.head = (h.head + 1) % len(h.ring)
		}
		h.total++
		h.last = ev.Seq
	}
	for c := range h.clients {
		if h.total-c.pos > uint64(h.queue) {
			h.dropped++
			h.removeLocked(c, fmt.Errorf("%w: %d events queued unread", errSlowClient, h.total-c.pos))
			dropped = append(dropped, c)
		}
	}
	wake := h.notify
	h.notify = make(chan struct{})
	h.mu.Unlock()
	close(wake)
	for _, c := range dropped {
		h.log.Warn("event client dropped", "client", c.id, "kind", c.kind, "remote", c.remote, "reason", c.reason)
		if c.kick != nil {
			c.kick()
		}
	}
}

// subscribe registers a client, which reads the events dispatched from
// now on with next. With replay, it reads first the events after seq
// after that the ring still holds (all of them when after is newer than
// the newest event: the daemon restarted); missed is how many newer
// events the ring no longer holds.
func (h *hub) subscribe(kind, remote string, f *filter, replay bool, after uint64, kick func()) (c *client, missed uint64, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended != nil {
		return nil, 0, h.ended
	}
	h.nextID++
	c = &client{id: h.nextID, kind: kind, remote: remote, pos: h.total, done: make(chan struct{}), kick: kick}
	c.filter.Store(f)
	if replay {
		if after > h.last {
			after = 0
		}
		for i := range h.n {
			he := h.ring[(h.head+i)%len(h.ring)]
			if he.ev.Seq <= after {
				continue
			}
			if he.ev.Seq > after+1 {
				missed = he.ev.Seq - after - 1
			}
			c.pos = h.total - uint64(h.n-i)
			break
		}
	}
	h.clients[c] = struct{}{}
	return c, missed, nil
}

// rest returns all the events c has not read yet that pass its filter:
// what a client sends before it stops.
func (h *hub) rest(c *client) []*hubEvent {
	var all []*hubEvent
	for {
		more, _ := h.next(c, all, maxBatch)
		if len(more) == len(all) {
			return all
		}
		all = more
	}
}

// next returns up to limit of c's next events that pass its filter,
// appended to buf. When there is none yet it returns a channel closed
// when more arrive; for a removed client it returns neither.
func (h *hub) next(c *client, buf []*hubEvent, limit int) ([]*hubEvent, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; !ok {
		return buf, nil
	}
	f := c.filter.Load()
	oldest := h.total - uint64(h.n)
	c.pos = max(c.pos, oldest)
	start := len(buf)
	for c.pos < h.total && len(buf)-start < limit {
		he := h.ring[(h.head+int(c.pos-oldest))%len(h.ring)]
		c.pos++
		if f.match(&he.ev) {
			buf = append(buf, he)
		}
	}
	if len(buf) == start {
		return buf, h.notify
	}
	return buf, nil
}

// remove ends c; it is a no-op for a client already removed.
func (h *hub) remove(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removeLocked(c, nil)
}

func (h *hub) removeLocked(c *client, reason error) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	c.reason = reason
	close(c.done)
}

// counts returns the number of clients, of clients dropped so far and
// the newest event's seq.
func (h *hub) counts() (clients int, dropped, last uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients), h.dropped, h.last
}

func (h *hub) generation() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen
}

// track updates the live views of running builds; h.mu is held.
func (h *hub) track(ev *buildnet.Event) {
	switch ev.Type {
	case buildnet.EventBuildStart:
		h.builds[ev.BuildID] = &liveBuild{
			id: ev.BuildID, requester: ev.Requester, started: ev.Time,
			packages: slices.Clone(ev.Packages), logs: map[string][]byte{},
		}
	case buildnet.EventPackageStart:
		if b := h.builds[ev.BuildID]; b != nil {
			b.running = append(b.running, ev.Package)
		}
	case buildnet.EventPackageOutput:
		if b := h.builds[ev.BuildID]; b != nil && b.logBytes+len(ev.Line)+1 <= maxLiveLog {
			b.logs[ev.Package] = append(append(b.logs[ev.Package], ev.Line...), '\n')
			b.logBytes += len(ev.Line) + 1
		}
	case buildnet.EventPackageComplete:
		h.gen++
		if b := h.builds[ev.BuildID]; b != nil {
			b.running = slices.DeleteFunc(b.running, func(s string) bool { return s == ev.Package })
			var d int64
			if ev.DurationMs != nil {
				d = *ev.DurationMs
			}
			b.results = append(b.results, buildnet.PackageResult{
				Name: ev.Package, Tier: ev.Tier, Status: ev.Status, DurationMs: d,
				Digest: ev.Digest, Error: ev.Error, Reason: ev.Reason,
			})
		}
	case buildnet.EventBuildComplete:
		h.gen++
		delete(h.builds, ev.BuildID)
	case buildnet.EventCacheCleared, buildnet.EventConfigReloaded:
		h.gen++
	}
}

// waitBuildsSeen waits, up to timeout, until the hub has dispatched the
// build:complete of every build it saw start.
func (h *hub) waitBuildsSeen(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		h.mu.Lock()
		n := len(h.builds)
		h.mu.Unlock()
		if n == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// activeBuild is one entry of /status "active_builds".
type activeBuild struct {
	ID        string    `json:"id"`
	Requester string    `json:"requester"`
	StartedAt time.Time `json:"started_at"`
	Total     int       `json:"total"`
	Done      int       `json:"done"`
	Running   []string  `json:"running"`
}

// active describes the build id from the hub's live view.
func (h *hub) active(id string) (activeBuild, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.builds[id]
	if b == nil {
		return activeBuild{ID: id, Running: []string{}}, false
	}
	return activeBuild{
		ID: id, Requester: b.requester, StartedAt: b.started, Total: len(b.packages),
		Done: len(b.results), Running: append([]string{}, b.running...),
	}, true
}

// liveResults returns the package results seen so far of a running build,
// in the store's shape.
func (h *hub) liveResults(id string) ([]state.PackageResult, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.builds[id]
	if b == nil {
		return nil, false
	}
	out := make([]state.PackageResult, 0, len(b.results))
	for _, p := range b.results {
		r := state.PackageResult{
			Package: p.Name, Tier: string(p.Tier), Status: string(p.Status), DurationMs: p.DurationMs,
			Error: p.Error, CacheSource: p.CacheSource, StartedAt: b.started,
		}
		if d, err := hash.ParseDigest(p.Digest); err == nil {
			r.Digest = d
		}
		if p.Reason != nil {
			r.Reason = string(p.Reason.Kind)
		}
		out = append(out, r)
	}
	return out, true
}

// liveLogs returns the output seen so far of a running build, package by
// package in build order.
func (h *hub) liveLogs(id string) (pkgs []string, logs map[string][]byte, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.builds[id]
	if b == nil {
		return nil, nil, false
	}
	logs = make(map[string][]byte, len(b.logs))
	for _, p := range b.packages {
		if l, ok := b.logs[p]; ok {
			pkgs = append(pkgs, p)
			logs[p] = slices.Clone(l)
		}
	}
	return pkgs, logs, true
}
