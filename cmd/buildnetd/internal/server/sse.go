package server

import (
	"fmt"
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
	// A client that stops reading blocks a write until the hub drops it:
	// the kick makes that write fail at once. It must not touch the
	// connection once this handler has returned and the connection may
	// serve another request.
	var (
		kickMu sync.Mutex
		live   = true
	)
	kick := func() {
		kickMu.Lock()
		defer kickMu.Unlock()
		if live {
			_ = rc.SetWriteDeadline(time.Now())
		}
	}
	defer func() {
		kickMu.Lock()
		live = false
		kickMu.Unlock()
	}()
	c, backlog, missed, err := s.hub.subscribe("sse", r.RemoteAddr, f, last != "", after, kick)
	if err != nil {
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "event stream closed: %s", err)
	}
	defer s.hub.remove(c)
	s.log.Debug("event client connected", "client", c.id, "kind", "sse", "remote", r.RemoteAddr, "replayed", len(backlog))

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// The first comment tells the client it is subscribed.
	if _, err := fmt.Fprint(w, ": connected\nretry: 2000\n\n"); err != nil {
		return nil
	}
	if missed > 0 {
		if _, err := fmt.Fprintf(w, ": missed %d events no longer buffered\n\n", missed); err != nil {
			return nil
		}
	}
	for _, he := range backlog {
		if err := writeSSE(w, he); err != nil {
			return nil
		}
	}
	if err := rc.Flush(); err != nil {
		return nil
	}
	ping := time.NewTicker(s.opts.PingInterval)
	defer ping.Stop()
	for {
		var err error
		select {
		case he := <-c.ch:
			err = writeSSE(w, he)
			for i := 0; err == nil && i < maxBatch; i++ {
				select {
				case he = <-c.ch:
					err = writeSSE(w, he)
				default:
					i = maxBatch
				}
			}
		case <-ping.C:
			_, err = fmt.Fprint(w, ": ping\n\n")
		case <-c.done:
			return nil // dropped (the hub logged why) or the engine closed
		case <-r.Context().Done():
			return nil
		case <-s.stopping:
			// Send what is queued (the last builds' ends), then stop.
			for {
				select {
				case he := <-c.ch:
					if err := writeSSE(w, he); err != nil {
						return nil
					}
				default:
					_ = rc.Flush()
					return nil
				}
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

func writeSSE(w http.ResponseWriter, he *hubEvent) error {
	_, err := w.Write(he.sseFrame()) // nothing for an event that cannot be encoded
	return err
}
