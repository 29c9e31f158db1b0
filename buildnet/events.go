package buildnet

import (
	"context"
	"errors"
	"sync"
	"time"
)

// EventType names an event. The values are the wire names of DESIGN.md.
type EventType string

// Event types.
const (
	EventBuildQueued  EventType = "build:queued"
	EventBuildStart   EventType = "build:start"
	EventPackageStart EventType = "package:start"
	// EventPackageRunning: the package's command got a slot and runs.
	EventPackageRunning  EventType = "package:running"
	EventPackageOutput   EventType = "package:output"
	EventPackageComplete EventType = "package:complete"
	EventBuildComplete   EventType = "build:complete"
	EventCacheCleared    EventType = "cache:cleared"
	EventConfigReloaded  EventType = "config:reloaded"
)

// Event is the one event shape every consumer sees (Go channel, SSE,
// WebSocket, C callback, Node emitter). Fields that do not apply to a type
// are left empty and omitted from JSON.
type Event struct {
	// Seq numbers the engine's events from 1, without gaps; consumers use
	// it to resume a stream.
	Seq     uint64    `json:"seq"`
	Type    EventType `json:"type"`
	Time    time.Time `json:"time"`
	BuildID string    `json:"build_id,omitempty"`
	Package string    `json:"package,omitempty"`

	// package:output
	Stream string `json:"stream,omitempty"` // stdout or stderr
	Line   string `json:"line,omitempty"`   // one line, ANSI escapes preserved

	// package:complete
	Tier       Tier    `json:"tier,omitempty"`
	Status     Status  `json:"status,omitempty"`
	DurationMs *int64  `json:"duration_ms,omitempty"`
	Digest     string  `json:"digest,omitempty"`
	Error      string  `json:"error,omitempty"`
	Reason     *Reason `json:"reason,omitempty"`

	// build:queued, build:start
	Packages  []string `json:"packages,omitempty"`
	Requester string   `json:"requester,omitempty"`

	// build:complete
	Result *BuildResult `json:"result,omitempty"`

	// config:reloaded
	Change *ConfigChange `json:"change,omitempty"`
}

// ErrSlowSubscriber ends a subscription whose buffer stayed full: the
// engine never waits for a subscriber.
var ErrSlowSubscriber = errors.New("buildnet: subscriber too slow, events dropped")

// Subscription receives events until it is closed.
type Subscription struct {
	c      chan Event
	bus    *bus
	mu     sync.Mutex // guards err, closed
	err    error
	closed bool
	stop   func() bool
}

// Events returns the channel of events. It is closed when the
// subscription ends; [Subscription.Err] then says why.
func (s *Subscription) Events() <-chan Event { return s.c }

// Err returns why the subscription ended: the context's error,
// [ErrSlowSubscriber], [ErrClosed], or nil while it is live or after Close.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription.
func (s *Subscription) Close() { s.bus.remove(s, nil) }

// bus fans events out to subscribers without ever blocking the publisher.
type bus struct {
	mu   sync.Mutex // guards seq, subs, done
	seq  uint64
	subs map[*Subscription]struct{}
	done bool
	// onDrop is told about a subscriber dropped for being slow.
	onDrop func()
}

func newBus() *bus { return &bus{subs: map[*Subscription]struct{}{}} }

func (b *bus) subscribe(ctx context.Context, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = 1024
	}
	s := &Subscription{c: make(chan Event, buffer), bus: b}
	b.mu.Lock()
	if b.done {
		b.mu.Unlock()
		s.err = ErrClosed
		s.closed = true
		close(s.c)
		return s
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { b.remove(s, context.Cause(ctx)) })
	s.mu.Lock()
	if s.closed {
		// Ended (engine closed, or dropped) before stop was set.
		s.mu.Unlock()
		stop()
		return s
	}
	s.stop = stop
	s.mu.Unlock()
	return s
}

// remove ends s with err; b.mu must not be held.
func (b *bus) remove(s *Subscription, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.removeLocked(s, err)
}

func (b *bus) removeLocked(s *Subscription, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.err = err
	delete(b.subs, s)
	close(s.c)
	if s.stop != nil {
		s.stop()
	}
}

// publish stamps ev with its sequence number and time and hands it to
// every subscriber that has room; one without room is dropped.
func (b *bus) publish(ev Event) Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	ev.Seq = b.seq
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	for s := range b.subs {
		select {
		case s.c <- ev:
		default:
			b.removeLocked(s, ErrSlowSubscriber)
			if b.onDrop != nil {
				b.onDrop()
			}
		}
	}
	return ev
}

func (b *bus) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	for s := range b.subs {
		b.removeLocked(s, ErrClosed)
	}
}
