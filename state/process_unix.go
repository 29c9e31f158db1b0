//go:build unix

package state

import (
	"errors"
	"syscall"
)

// processAlive reports whether process pid still runs. start, when not 0, is
// the start time [processStart] returned when the instance registered; a
// different start time means the pid was reused by another process.
func processAlive(pid int, start int64) bool {
	if pid <= 0 {
		return false
	}
	// Signal 0 checks for existence only. EPERM means the process exists but
	// belongs to another user.
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	if start != 0 {
		if now := processStart(pid); now != 0 && now != start {
			return false
		}
	}
	return true
}
