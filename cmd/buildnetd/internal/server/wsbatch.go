package server

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxHeldBuffer is the largest buffer a batching connection keeps between
// batches; a larger one (a burst of long lines) is let go.
const maxHeldBuffer = 1 << 20

// batchConn is the connection under a WebSocket. The WebSocket library
// flushes every message; while the connection is held, those writes are
// gathered, and release sends them in one write. So a client gets a
// batch of events, one message each as ever, for one system call instead
// of one per event. Outside a hold, writes go straight through.
type batchConn struct {
	net.Conn
	// mu orders every write: a frame written by another goroutine (a
	// pong, a close) goes after what is held, never into its middle.
	mu   sync.Mutex
	held bool
	buf  []byte
}

// Write gathers p while the connection is held, else writes it.
func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// hold starts gathering writes.
func (c *batchConn) hold() {
	c.mu.Lock()
	c.held = true
	c.mu.Unlock()
}

// release sends what was gathered since hold, within timeout, and ends
// the hold.
func (c *batchConn) release(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = false
	if len(c.buf) == 0 {
		return nil
	}
	var err error
	if err = c.Conn.SetWriteDeadline(time.Now().Add(timeout)); err == nil {
		_, err = c.Conn.Write(c.buf)
		if err == nil {
			err = c.Conn.SetWriteDeadline(time.Time{})
		}
	}
	if cap(c.buf) > maxHeldBuffer {
		c.buf = nil
	} else {
		c.buf = c.buf[:0]
	}
	return err
}

// batchHijacker hands the WebSocket library a batchConn when it takes the
// connection over.
type batchHijacker struct {
	http.ResponseWriter
	conn *batchConn // set by Hijack
}

// Hijack takes the connection over, wrapped in a batchConn.
func (h *batchHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := rw.Writer.Flush(); err != nil { // what is buffered goes first
		c.Close()
		return nil, nil, err
	}
	h.conn = &batchConn{Conn: c}
	rw.Writer.Reset(h.conn)
	return h.conn, rw, nil
}

// Unwrap gives http.ResponseController the writer underneath.
func (h *batchHijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }
