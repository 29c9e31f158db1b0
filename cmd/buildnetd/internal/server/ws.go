package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/musclemap/buildnet/buildnet"
)

// WebSocket limits.
const (
	wsReadLimit    = 64 << 10
	wsWriteTimeout = 30 * time.Second
)

// wsRequest is a client→server WebSocket message.
type wsRequest struct {
	Op        string   `json:"op"`
	ID        string   `json:"id,omitempty"`
	Types     []string `json:"types,omitempty"`
	Packages  []string `json:"packages,omitempty"`
	Force     bool     `json:"force,omitempty"`
	Priority  priority `json:"priority,omitempty"`
	Requester string   `json:"requester,omitempty"`
	BuildID   string   `json:"build_id,omitempty"`
}

// wsReply is a server→client message other than an event.
type wsReply struct {
	Op      string    `json:"op"`
	ID      string    `json:"id,omitempty"`
	BuildID string    `json:"build_id,omitempty"`
	Session string    `json:"session,omitempty"`
	Version string    `json:"version,omitempty"`
	Error   *APIError `json:"error,omitempty"`
}

// websocket serves GET /ws.
func (s *Server) websocket(w http.ResponseWriter, r *http.Request) error {
	if s.shuttingDown() {
		return errorf(http.StatusServiceUnavailable, codeShuttingDown, "buildnetd is shutting down")
	}
	// Accept refuses a cross-origin upgrade (Origin not matching Host).
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		s.log.Debug("websocket upgrade refused", "remote", r.RemoteAddr, "err", err)
		return nil // Accept wrote the response
	}
	s.streams.Add(1)
	defer s.streams.Done()
	defer conn.CloseNow()
	conn.SetReadLimit(wsReadLimit)
	// The request's context must not be used after the upgrade.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sb [8]byte
	_, _ = rand.Read(sb[:])
	session := hex.EncodeToString(sb[:])
	remote := r.RemoteAddr

	c, _, _, err := s.hub.subscribe("ws", remote, &filter{off: true}, false, 0, func() { conn.CloseNow() })
	if err != nil {
		conn.Close(websocket.StatusGoingAway, "event stream closed")
		return nil
	}
	defer s.hub.remove(c)
	s.log.Debug("event client connected", "client", c.id, "kind", "ws", "remote", remote, "session", session)

	replies := make(chan []byte, 16)
	readDone := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				readDone <- err
				return
			}
			reply, _ := json.Marshal(s.wsHandle(c, data))
			select {
			case replies <- reply:
			case <-ctx.Done():
				return
			}
		}
	})

	write := func(b []byte) error {
		wctx, cancel := context.WithTimeout(ctx, wsWriteTimeout)
		defer cancel()
		return conn.Write(wctx, websocket.MessageText, b)
	}
	hello, _ := json.Marshal(wsReply{Op: "hello", Session: session, Version: s.opts.Version})
	if err := write(hello); err != nil {
		return nil
	}
	for {
		var err error
		select {
		case he := <-c.ch:
			err = write(eventMessage(he))
		case b := <-replies:
			err = write(b)
		case <-c.done:
			if c.reason != nil {
				conn.Close(websocket.StatusPolicyViolation, "too slow: events dropped")
			} else {
				conn.Close(websocket.StatusGoingAway, "event stream closed")
			}
			return nil
		case err = <-readDone:
			s.log.Debug("event client gone", "client", c.id, "kind", "ws", "remote", remote, "err", err)
			return nil
		case <-s.stopping:
			for drained := false; !drained; {
				select {
				case he := <-c.ch:
					if write(eventMessage(he)) != nil {
						drained = true
					}
				default:
					drained = true
				}
			}
			conn.Close(websocket.StatusGoingAway, "buildnetd is shutting down")
			return nil
		}
		if err != nil {
			s.log.Debug("event client gone", "client", c.id, "kind", "ws", "remote", remote, "err", err)
			return nil
		}
	}
}

// eventMessage wraps an event for the WebSocket.
func eventMessage(he *hubEvent) []byte {
	msg := make([]byte, 0, len(he.data)+24)
	msg = append(msg, `{"op":"event","event":`...)
	return append(append(msg, he.data...), '}')
}

// wsHandle runs one client message and returns the reply.
func (s *Server) wsHandle(c *client, data []byte) wsReply {
	var m wsRequest
	if err := json.Unmarshal(data, &m); err != nil {
		return wsReply{Op: "error", Error: errorf(http.StatusBadRequest, codeInvalidJSON, "invalid JSON message: %s", jsonErrorText(err))}
	}
	fail := func(err error) wsReply { return wsReply{Op: "error", ID: m.ID, Error: toAPIError(err)} }
	switch m.Op {
	case "subscribe":
		c.filter.Store(c.filter.Load().subscribe(m.Types, m.Packages))
		return wsReply{Op: "ack", ID: m.ID}
	case "unsubscribe":
		c.filter.Store(c.filter.Load().unsubscribe(m.Types, m.Packages))
		return wsReply{Op: "ack", ID: m.ID}
	case "ping":
		return wsReply{Op: "pong", ID: m.ID}
	case "build":
		if s.shuttingDown() {
			return fail(errorf(http.StatusServiceUnavailable, codeShuttingDown, "buildnetd is shutting down"))
		}
		requester := m.Requester
		if requester == "" {
			requester = "ws"
		}
		if len(requester) > maxRequesterBytes {
			requester = requester[:maxRequesterBytes]
		}
		run, err := s.e.StartBuild(buildnet.Request{Packages: m.Packages, Force: m.Force, Requester: requester, Priority: int(m.Priority)})
		if err != nil {
			return fail(s.withSuggestions(err, m.Packages))
		}
		s.log.Info("build started", "build", run.ID(), "requester", requester, "packages", m.Packages, "force", m.Force, "remote", c.remote)
		return wsReply{Op: "ack", ID: m.ID, BuildID: run.ID()}
	case "cancel":
		if m.BuildID == "" {
			return fail(errorf(http.StatusBadRequest, codeBadRequest, "cancel: missing build_id"))
		}
		if err := s.e.Cancel(m.BuildID); err != nil {
			if !errors.Is(err, buildnet.ErrBuildNotFound) {
				return fail(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := s.build(ctx, m.BuildID); err != nil {
				return fail(err)
			}
			return fail(errorf(http.StatusConflict, codeConflict, "build %s has already finished", m.BuildID))
		}
		s.log.Info("build cancel requested", "build", m.BuildID, "remote", c.remote)
		return wsReply{Op: "ack", ID: m.ID, BuildID: m.BuildID}
	default:
		return fail(errorf(http.StatusBadRequest, codeBadRequest, "unknown op %q: want subscribe, unsubscribe, build, cancel or ping", m.Op))
	}
}
