//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package cache

import (
	"errors"
	"os"
	"syscall"
)

const (
	lockShared    = syscall.LOCK_SH
	lockExclusive = syscall.LOCK_EX
	lockNonBlock  = syscall.LOCK_NB
	lockUnlock    = syscall.LOCK_UN
)

// flock applies an advisory whole-file lock operation to f.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// isWouldBlock reports whether err says a non-blocking lock is held by
// someone else.
func isWouldBlock(err error) bool { return errors.Is(err, syscall.EWOULDBLOCK) }
