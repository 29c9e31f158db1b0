package state

import (
	"os"
	"strconv"
	"strings"
)

// processStart returns the start time of process pid in clock ticks since
// boot (field 22 of /proc/pid/stat), or 0 if it cannot be read. Together with
// the pid it identifies a process across pid reuse.
func processStart(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) is in parentheses and may contain spaces
	// and parentheses itself; the fields after the last ')' are plain.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(s[i+1:])
	const startField = 22 - 3 // fields[0] is field 3, the state
	if len(fields) <= startField {
		return 0
	}
	v, err := strconv.ParseInt(fields[startField], 10, 64)
	if err != nil {
		return 0
	}
	return v
}
