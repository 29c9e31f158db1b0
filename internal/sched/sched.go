// Package sched hands out a bounded number of execution slots fairly:
// higher priorities first, and among waiters of the same priority, the
// requesters take turns, so one requester with many waiting jobs cannot
// starve another with one.
package sched

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"
)

// Ticket describes a waiter.
type Ticket struct {
	Requester string    `json:"requester"`
	Priority  int       `json:"priority"` // higher goes first
	Label     string    `json:"label"`    // what waits, e.g. "build-id/package"
	Since     time.Time `json:"since"`
}

type waiter struct {
	t     Ticket
	ready chan struct{}
	done  bool // granted or abandoned; guarded by Scheduler.mu
}

// level holds the waiters of one priority: a FIFO per requester, and the
// requesters in the order they take turns.
type level struct {
	order  []string // requesters with waiters, in arrival order
	fifo   map[string][]*waiter
	served map[string]uint64 // when each requester was last served
}

// Scheduler is safe for concurrent use.
type Scheduler struct {
	// mu guards everything below.
	mu     sync.Mutex
	cap    int
	used   int
	levels map[int]*level
	clock  uint64 // counts grants
}

// New returns a scheduler with n slots (at least 1).
func New(n int) *Scheduler {
	return &Scheduler{cap: max(n, 1), levels: map[int]*level{}}
}

// Acquire waits for a slot and returns the function that gives it back.
// It returns ctx's error if ctx ends first.
func (s *Scheduler) Acquire(ctx context.Context, t Ticket) (release func(), err error) {
	if t.Since.IsZero() {
		t.Since = time.Now()
	}
	w := &waiter{t: t, ready: make(chan struct{})}
	s.mu.Lock()
	lv := s.levels[t.Priority]
	if lv == nil {
		lv = &level{fifo: map[string][]*waiter{}, served: map[string]uint64{}}
		s.levels[t.Priority] = lv
	}
	if len(lv.fifo[t.Requester]) == 0 {
		lv.order = append(lv.order, t.Requester)
	}
	lv.fifo[t.Requester] = append(lv.fifo[t.Requester], w)
	s.dispatch()
	s.mu.Unlock()

	select {
	case <-w.ready:
		return s.releaser(), nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if w.done { // granted just now: hand the slot on
			s.used--
			s.dispatch()
			return nil, context.Cause(ctx)
		}
		w.done = true
		s.remove(w)
		return nil, context.Cause(ctx)
	}
}

func (s *Scheduler) releaser() func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.used--
			s.dispatch()
			s.mu.Unlock()
		})
	}
}

// dispatch grants free slots; s.mu must be held.
func (s *Scheduler) dispatch() {
	for s.used < s.cap {
		w := s.next()
		if w == nil {
			return
		}
		w.done = true
		s.used++
		close(w.ready)
	}
}

// next pops the waiter whose turn it is; s.mu must be held.
func (s *Scheduler) next() *waiter {
	prios := make([]int, 0, len(s.levels))
	for p, lv := range s.levels {
		if len(lv.order) > 0 {
			prios = append(prios, p)
		}
	}
	if len(prios) == 0 {
		return nil
	}
	lv := s.levels[slices.Max(prios)]
	// The requester served longest ago (or never) goes next; among
	// equals, the one that arrived first.
	best := 0
	for i, r := range lv.order {
		if lv.served[r] < lv.served[lv.order[best]] {
			best = i
		}
	}
	r := lv.order[best]
	q := lv.fifo[r]
	w := q[0]
	s.clock++
	lv.served[r] = s.clock
	if len(q) > 1 {
		lv.fifo[r] = q[1:]
	} else {
		delete(lv.fifo, r)
		lv.order = slices.Delete(lv.order, best, best+1)
	}
	return w
}

// remove drops an abandoned waiter; s.mu must be held.
func (s *Scheduler) remove(w *waiter) {
	lv := s.levels[w.t.Priority]
	q := slices.DeleteFunc(lv.fifo[w.t.Requester], func(x *waiter) bool { return x == w })
	if len(q) == 0 {
		delete(lv.fifo, w.t.Requester)
		lv.order = slices.DeleteFunc(lv.order, func(r string) bool { return r == w.t.Requester })
	} else {
		lv.fifo[w.t.Requester] = q
	}
}

// Resize changes the number of slots; jobs holding slots keep them.
func (s *Scheduler) Resize(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cap = max(n, 1)
	s.dispatch()
}

// Queue returns the waiters in the order they would be served.
func (s *Scheduler) Queue() []Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	prios := make([]int, 0, len(s.levels))
	for p := range s.levels {
		prios = append(prios, p)
	}
	slices.Sort(prios)
	slices.Reverse(prios)
	var out []Ticket
	for _, p := range prios {
		lv := s.levels[p]
		// Simulate the turns without changing anything.
		served := maps.Clone(lv.served)
		idx := map[string]int{}
		clock := s.clock
		for {
			best, found := "", false
			for _, r := range lv.order {
				if idx[r] < len(lv.fifo[r]) && (!found || served[r] < served[best]) {
					best, found = r, true
				}
			}
			if !found {
				break
			}
			out = append(out, lv.fifo[best][idx[best]].t)
			idx[best]++
			clock++
			served[best] = clock
		}
	}
	return out
}

// Running returns how many slots are held.
func (s *Scheduler) Running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}
