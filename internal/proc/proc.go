// Package proc runs a shell command in its own process group, streams its
// output line by line, and kills the whole group on cancellation.
package proc

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Stream names the output stream a line came from.
type Stream string

// The two output streams.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Spec describes one command run.
type Spec struct {
	Command string   // run as sh -c Command
	Dir     string   // working directory
	Env     []string // nil means the current process's environment
	// OnLine receives each output line without its newline, ANSI escapes
	// preserved. It is called from two goroutines (one per stream), never
	// concurrently for the same stream. It must not block for long.
	OnLine func(s Stream, line string)
	// GracePeriod is how long the group has between SIGTERM and SIGKILL
	// on cancellation; 0 means 3s.
	GracePeriod time.Duration
}

// ExitError reports a command that ran and exited unsuccessfully.
type ExitError struct {
	Code   int    // exit status, or -1 when killed by a signal
	Signal string // the signal's name when killed by one
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return "command killed by signal " + e.Signal
	}
	return "command exited with status " + itoa(e.Code)
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// Run runs spec to completion. When ctx ends first, the command's whole
// process group (grandchildren included) gets SIGTERM, then SIGKILL after
// the grace period, and Run returns an error wrapping context.Cause(ctx).
func Run(ctx context.Context, spec Spec) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", spec.Command)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	grace := spec.GracePeriod
	if grace <= 0 {
		grace = 3 * time.Second
	}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	// WaitDelay bounds both the wait after cancellation and the wait for
	// the output pipes of background grandchildren after the shell exits.
	cmd.WaitDelay = grace
	out := &lineWriter{stream: Stdout, fn: spec.OnLine}
	errw := &lineWriter{stream: Stderr, fn: spec.OnLine}
	cmd.Stdout = out
	cmd.Stderr = errw
	if err := cmd.Start(); err != nil {
		return err
	}
	pgid := cmd.Process.Pid
	// A group member that ignored SIGTERM is killed once the grace period
	// has passed after cancellation.
	stop := context.AfterFunc(ctx, func() {
		time.AfterFunc(grace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
	})
	err := cmd.Wait()
	stop()
	out.flush()
	errw.flush()
	// Whatever is left of the group (daemonised grandchildren) goes too:
	// a finished package leaves no process behind.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if err == nil || errors.Is(err, exec.ErrWaitDelay) {
		if cmd.ProcessState != nil && cmd.ProcessState.Success() {
			return nil
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return &ExitError{Code: -1, Signal: ws.Signal().String()}
		}
		return &ExitError{Code: ee.ExitCode()}
	}
	return err
}

// lineWriter splits what it is given into lines.
type lineWriter struct {
	stream Stream
	fn     func(Stream, string)
	mu     sync.Mutex
	buf    []byte
}

// maxLine bounds a line held back waiting for its newline.
const maxLine = 64 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) >= maxLine {
				w.emit(w.buf)
				w.buf = w.buf[:0]
			}
			break
		}
		if len(w.buf) > 0 {
			w.buf = append(w.buf, p[:i]...)
			w.emit(w.buf)
			w.buf = w.buf[:0]
		} else {
			w.emit(p[:i])
		}
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) emit(b []byte) {
	b = bytes.TrimSuffix(b, []byte{'\r'})
	if w.fn != nil {
		w.fn(w.stream, string(b))
	}
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
}
