package sched_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/internal/sched"
)

// order acquires one slot per ticket (after a held slot blocks them all)
// and returns the labels in the order they were granted.
func order(t *testing.T, tickets []sched.Ticket) []string {
	t.Helper()
	s := sched.New(1)
	hold, err := s.Acquire(context.Background(), sched.Ticket{Requester: "setup"})
	require.NoError(t, err)
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for _, tk := range tickets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rel, err := s.Acquire(context.Background(), tk)
			if !assert.NoError(t, err) {
				return
			}
			mu.Lock()
			got = append(got, tk.Label)
			mu.Unlock()
			rel()
		}()
		// enqueue in a known order
		require.Eventually(t, func() bool { return containsLabel(s.Queue(), tk.Label) }, time.Second, time.Millisecond)
	}
	hold()
	wg.Wait()
	return got
}

func containsLabel(q []sched.Ticket, l string) bool {
	for _, t := range q {
		if t.Label == l {
			return true
		}
	}
	return false
}

func TestRoundRobinAcrossRequesters(t *testing.T) {
	var tickets []sched.Ticket
	for i := range 20 {
		tickets = append(tickets, sched.Ticket{Requester: "alice", Label: fmt.Sprintf("a%d", i)})
	}
	tickets = append(tickets, sched.Ticket{Requester: "bob", Label: "b0"})
	got := order(t, tickets)
	require.Len(t, got, 21)
	pos := 0
	for i, l := range got {
		if l == "b0" {
			pos = i
		}
	}
	assert.LessOrEqual(t, pos, 1, "bob waits for at most one of alice's jobs: %v", got)
	assert.Equal(t, "a0", got[0])
}

func TestPriorities(t *testing.T) {
	got := order(t, []sched.Ticket{
		{Requester: "a", Priority: 0, Label: "n1"},
		{Requester: "a", Priority: -1, Label: "low"},
		{Requester: "b", Priority: 1, Label: "high"},
		{Requester: "a", Priority: 0, Label: "n2"},
	})
	assert.Equal(t, []string{"high", "n1", "n2", "low"}, got)
}

func TestAbandonedWaiter(t *testing.T) {
	s := sched.New(1)
	rel, err := s.Acquire(context.Background(), sched.Ticket{Requester: "a"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := s.Acquire(ctx, sched.Ticket{Requester: "b", Label: "gone"})
		done <- err
	}()
	require.Eventually(t, func() bool { return len(s.Queue()) == 1 }, time.Second, time.Millisecond)
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Empty(t, s.Queue())
	rel()
	rel() // twice is harmless
	assert.Zero(t, s.Running())
	rel2, err := s.Acquire(context.Background(), sched.Ticket{Requester: "c"})
	require.NoError(t, err)
	rel2()
}

func TestResize(t *testing.T) {
	s := sched.New(1)
	r1, _ := s.Acquire(context.Background(), sched.Ticket{})
	got := make(chan struct{})
	go func() {
		r2, _ := s.Acquire(context.Background(), sched.Ticket{})
		close(got)
		r2()
	}()
	require.Eventually(t, func() bool { return len(s.Queue()) == 1 }, time.Second, time.Millisecond)
	s.Resize(2)
	<-got
	r1()
}
