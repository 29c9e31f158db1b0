//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package cache

import "os"

// Without flock, processes sharing a cache directory do not coordinate:
// a concurrent Open may sweep another process's temporary files and Evict
// may race a Store in another process. A single process is still safe.

const (
	lockShared    = 1
	lockExclusive = 2
	lockNonBlock  = 4
	lockUnlock    = 8
)

func flock(*os.File, int) error { return nil }

func isWouldBlock(error) bool { return false }
