package cache

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"
)

// storeLock is a readers-writer lock over a cache directory. Within the
// process it is a sync.RWMutex; across processes it is an flock on file,
// taken shared while any goroutine of this process holds a read lock, and
// exclusively by a writer.
type storeLock struct {
	rw     sync.RWMutex
	closed bool // guarded by rw
	file   *os.File

	// mu guards readers, the number of read locks behind the shared flock.
	mu      sync.Mutex
	readers int
}

// rlock takes a read lock, failing if the cache is closed.
func (l *storeLock) rlock() error {
	l.rw.RLock()
	if l.closed {
		l.rw.RUnlock()
		return errClosed
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.readers == 0 {
		if err := flock(l.file, lockShared); err != nil {
			l.rw.RUnlock()
			return fmt.Errorf("lock cache: %w", err)
		}
	}
	l.readers++
	return nil
}

func (l *storeLock) runlock() {
	l.mu.Lock()
	if l.readers--; l.readers == 0 {
		flock(l.file, lockUnlock)
	}
	l.mu.Unlock()
	l.rw.RUnlock()
}

// lock takes the write lock, waiting for other processes' readers until ctx
// ends.
func (l *storeLock) lock(ctx context.Context) error {
	l.rw.Lock()
	if l.closed {
		l.rw.Unlock()
		return errClosed
	}
	for {
		err := flock(l.file, lockExclusive|lockNonBlock)
		if err == nil {
			return nil
		}
		if !isWouldBlock(err) {
			l.rw.Unlock()
			return fmt.Errorf("lock cache: %w", err)
		}
		select {
		case <-ctx.Done():
			l.rw.Unlock()
			return context.Cause(ctx)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (l *storeLock) unlock() {
	flock(l.file, lockUnlock)
	l.rw.Unlock()
}

// close marks the lock closed and returns true with the in-process write
// lock held, or false if it was already closed.
func (l *storeLock) close() bool {
	l.rw.Lock()
	if l.closed {
		l.rw.Unlock()
		return false
	}
	l.closed = true
	return true
}

// isClosed reports whether close has been called.
func (l *storeLock) isClosed() bool {
	l.rw.RLock()
	defer l.rw.RUnlock()
	return l.closed
}
