package main

import (
	"sync"

	"github.com/musclemap/buildnet/buildnet"
)

// handleTable maps the handles given to C to the Go values they name.
// Handles come from a counter starting at 1 and are never reused.
type handleTable struct {
	// mu guards next and m.
	mu   sync.Mutex
	next uint64
	m    map[uint64]any
}

// handles is the process's handle table.
var handles = &handleTable{m: map[uint64]any{}}

// add stores the value that newValue makes for a fresh handle and
// returns the handle.
func (t *handleTable) add(newValue func(h uint64) any) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next++
	t.m[t.next] = newValue(t.next)
	return t.next
}

// lookup returns the T that h names.
func lookup[T any](t *handleTable, h uint64) (T, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[h].(T)
	return v, ok
}

// take removes h and returns what it named, if that is a T; a handle
// naming something else is left alone.
func take[T any](t *handleTable, h uint64) (T, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[h].(T)
	if ok {
		delete(t.m, h)
	}
	return v, ok
}

// remove removes h if it still names v.
func (t *handleTable) remove(h uint64, v any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[h] == v {
		delete(t.m, h)
	}
}

// count returns how many handles are live.
func (t *handleTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// engine is what an engine handle names.
type engine struct {
	h uint64
	e *buildnet.Engine

	// mu guards closed, and orders callbacks.Add before callbacks.Wait.
	mu     sync.Mutex
	closed bool
	// callbacks counts the goroutines that may still call C for this
	// engine: subscription dispatchers and build completions.
	callbacks sync.WaitGroup
}

// track runs start under e.mu and, when it succeeds, its returned
// function in a goroutine that Close waits for. It fails with
// [buildnet.ErrClosed] once the engine is closing.
func (e *engine) track(start func() (func(), error)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return buildnet.ErrClosed
	}
	fn, err := start()
	if err != nil {
		return err
	}
	e.callbacks.Go(fn)
	return nil
}

// subscription is what a subscription handle names.
type subscription struct {
	sub *buildnet.Subscription
}
