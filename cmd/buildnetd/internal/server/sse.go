package server

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// maxBatch bounds how many queued events an SSE client gets per flush.
const maxBatch = 256

// events serves GET /events, the server-sent event stream.
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	if s.shuttingDown() {
		return errorf(http.StatusServiceUnavailable, codeShuttingDown, "buildnetd is shutting down")
	}
	v := r.URL.Query()
	f := (&filter{off: true}).subscribe(parseList(v["types"]), parseList(v["packages"]))
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = v.Get("last_event_id")
	}
	var after uint64
	if last != "" {
		var err error
		if after, err = strconv.ParseUint(last, 10, 64); err != nil {
			return errorf(http.StatusBadRequest, codeBadRequest, "Last-Event-ID %q: want an event seq", last)
		}
	}
	rc := http.NewResponseController(w)
	k := &kicker{rc: rc, live: true}
	defer k.stop()
	c, missed, err := s.hub.subscribe("sse", r.RemoteAddr, f, last != "", after, k.kick)
	if err != nil {
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "event stream closed: %s", err)
	}
	defer s.hub.remove(c)
	s.log.Debug("event client connected", "client", c.id, "kind", "sse", "remote", r.RemoteAddr, "resumed", last != "")

	// The first comment tells the client it is subscribed.
	preamble := ": connected\nretry: 2000\n\n"
	if missed > 0 {
		preamble += fmt.Sprintf(": missed %d events no longer buffered\n\n", missed)
	}
	if !openStream(w, rc, preamble) {
		return nil
	}
	ping := time.NewTicker(s.opts.PingInterval)
	defer ping.Stop()
	buf := make([]*hubEvent, 0, maxBatch)
	var out []byte
	for {
		var err error
		evs, wake := s.hub.next(c, buf[:0], maxBatch)
		if len(evs) > 0 {
			out = appendFrames(out[:0], evs)
			_, err = w.Write(out)
		} else {
			select {
			case <-wake:
				continue
			case <-ping.C:
				_, err = fmt.Fprint(w, ": ping\n\n")
			case <-c.done:
				return nil // dropped (the hub logged why) or the engine closed
			case <-r.Context().Done():
				return nil
			case <-s.stopping:
				// What arrived is sent (the last builds' ends); then stop.
				if _, err := w.Write(appendFrames(out[:0], s.hub.rest(c))); err == nil {
					_ = rc.Flush()
				}
				return nil
			}
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			s.log.Debug("event client gone", "client", c.id, "kind", "sse", "remote", r.RemoteAddr, "err", err)
			return nil
		}
	}
}

// openStream answers 200 with an event stream's headers and preamble (SSE
// comments), flushed; it reports false if the client is gone. Over
// HTTP/1.1 the stream is the rest of the connection (Transfer-Encoding
// identity, as the SSE specification recommends) rather than chunked:
// net/http writes a chunk larger than its 4 KB buffer in three system
// calls (size line, data, CRLF), while an unframed batch goes out in one,
// so that fanning a whole build out to many subscribers costs one write
// per subscriber and batch. HTTP/2 ignores the header.
func openStream(w http.ResponseWriter, rc *http.ResponseController, preamble string) bool {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("Transfer-Encoding", "identity")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, preamble); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// kicker aborts a write blocked on a client that stopped reading, so
// that the hub's dropping it takes effect at once. It must not touch the
// connection once the handler has returned and the connection may serve
// another request: the handler calls stop before it returns.
type kicker struct {
	rc   *http.ResponseController
	mu   sync.Mutex
	live bool
}

func (k *kicker) kick() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.live {
		_ = k.rc.SetWriteDeadline(time.Now())
	}
}

func (k *kicker) stop() {
	k.mu.Lock()
	k.live = false
	k.mu.Unlock()
}

// appendFrames appends the SSE messages of evs to b (nothing for an
// event that cannot be encoded). A batch goes out in one write: one
// system call per client and batch rather than several per event is what
// lets hundreds of streams follow a build.
func appendFrames(b []byte, evs []*hubEvent) []byte {
	for _, he := range evs {
		b = append(b, he.sseFrame()...)
	}
	return b
}
