package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
	"github.com/musclemap/buildnet/state"
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
	who := caller(r)
	// Accept refuses a cross-origin upgrade (Origin not matching Host),
	// unless CORS allows the origin.
	var accept websocket.AcceptOptions
	if o := s.corsOrigin(r); o != "" {
		if u, err := url.Parse(o); err == nil {
			accept.OriginPatterns = []string{u.Host}
		}
	}
	hj := &batchHijacker{ResponseWriter: w}
	conn, err := websocket.Accept(hj, r, &accept)
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
	session := who.Session
	remote := r.RemoteAddr

	c, _, err := s.hub.subscribe("ws", remote, &filter{off: true}, false, 0, func() { conn.CloseNow() })
	if err != nil {
		conn.Close(websocket.StatusGoingAway, "event stream closed")
		return nil
	}
	defer s.hub.remove(c)
	// The session's subscriptions move with a handoff, and closing the
	// session ends the stream.
	detach := s.auth.Sessions().Attach(session, &auth.Stream{
		Export: func() any { return c.filter.Load() },
		Import: func(v any) {
			if f, ok := v.(*filter); ok && f != nil {
				c.filter.Store(f)
			}
		},
		End: func() { conn.Close(websocket.StatusNormalClosure, "session closed") },
	})
	defer detach()
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
			reply, _ := json.Marshal(s.wsHandle(who, c, data))
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
	buf := make([]*hubEvent, 0, maxBatch)
	for {
		var err error
		// Replies first, so that a busy event stream never holds them up.
		select {
		case b := <-replies:
			err = write(b)
		default:
			evs, wake := s.hub.next(c, buf[:0], maxBatch)
			if len(evs) > 0 {
				err = writeBatch(conn, hj.conn, evs)
				break
			}
			err = s.wsWait(c, conn, hj.conn, wake, replies, readDone, write)
			if errors.Is(err, errWSDone) {
				return nil
			}
		}
		if err != nil {
			s.log.Debug("event client gone", "client", c.id, "kind", "ws", "remote", remote, "err", err)
			return nil
		}
	}
}

// errWSDone ends a WebSocket handler that already closed its connection.
var errWSDone = errors.New("server: websocket done")

// wsWait waits for c's next events, or a reply to send (which it sends).
// It returns errWSDone once it closed the connection: the client ended,
// it left, or the daemon stops (after what arrived is sent).
func (s *Server) wsWait(c *client, conn *websocket.Conn, bc *batchConn, wake <-chan struct{}, replies <-chan []byte, readDone <-chan error, write func([]byte) error) error {
	select {
	case <-wake:
		return nil
	case b := <-replies:
		return write(b)
	case <-c.done:
		if c.reason != nil {
			conn.Close(websocket.StatusPolicyViolation, "too slow: events dropped")
		} else {
			conn.Close(websocket.StatusGoingAway, "event stream closed")
		}
		return errWSDone
	case err := <-readDone:
		s.log.Debug("event client gone", "client", c.id, "kind", "ws", "err", err)
		return errWSDone
	case <-s.stopping:
		// What arrived is sent (the last builds' ends); then stop.
		_ = writeBatch(conn, bc, s.hub.rest(c))
		conn.Close(websocket.StatusGoingAway, "buildnetd is shutting down")
		return errWSDone
	}
}

// writeBatch sends evs, one message each, in one write on bc.
func writeBatch(conn *websocket.Conn, bc *batchConn, evs []*hubEvent) error {
	bc.hold()
	var err error
	for _, he := range evs {
		msg := he.wsMessage()
		if msg == nil {
			continue // an event that cannot be encoded
		}
		// Held, the write only gathers the message: it cannot block, and
		// release bounds the time the batch takes. A context without a
		// deadline spares the library a timer per message.
		if err = conn.Write(context.Background(), websocket.MessageText, msg); err != nil {
			break
		}
	}
	if rerr := bc.release(wsWriteTimeout); err == nil {
		err = rerr
	}
	return err
}

// wsHandle runs one client message and returns the reply.
func (s *Server) wsHandle(who *auth.Caller, c *client, data []byte) wsReply {
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
		ctx, cancel := context.WithTimeout(auth.NewContext(context.Background(), who), 10*time.Second)
		defer cancel()
		// The same check as POST /build, rate limit included.
		if err := s.auth.Authorize(ctx, who, auth.PermBuild, actionBuildTrigger, strings.Join(m.Packages, ",")); err != nil {
			return fail(err)
		}
		requester := who.Actor()
		run, err := s.e.StartBuild(buildnet.Request{Packages: m.Packages, Force: m.Force, Requester: requester, Priority: int(m.Priority)})
		if err != nil {
			s.auth.Record(ctx, who, actionBuildTrigger, "", state.OutcomeAllowed, map[string]any{"via": "ws", "packages": m.Packages, "error": err.Error()})
			return fail(s.withSuggestions(err, m.Packages))
		}
		s.auth.Sessions().AddBuild(who.Session, run.ID())
		// Recorded in the background: the ack goes out at once.
		s.streams.Go(func() {
			s.auth.Record(context.Background(), who, actionBuildTrigger, run.ID(), state.OutcomeAllowed, map[string]any{"via": "ws",
				"packages": m.Packages, "force": m.Force, "priority": int(m.Priority)})
		})
		s.log.Info("build started", "build", run.ID(), "requester", requester, "session", who.Session, "packages", m.Packages, "force", m.Force, "remote", c.remote)
		return wsReply{Op: "ack", ID: m.ID, BuildID: run.ID()}
	case "cancel":
		if m.BuildID == "" {
			return fail(errorf(http.StatusBadRequest, codeBadRequest, "cancel: missing build_id"))
		}
		ctx, cancel := context.WithTimeout(auth.NewContext(context.Background(), who), 10*time.Second)
		defer cancel()
		if err := s.auth.Authorize(ctx, who, auth.PermBuild, actionBuildCancel, m.BuildID); err != nil {
			return fail(err)
		}
		if err := s.mayCancel(ctx, who, m.BuildID); err != nil {
			return fail(err)
		}
		if err := s.e.Cancel(m.BuildID); err != nil {
			if !errors.Is(err, buildnet.ErrBuildNotFound) {
				return fail(err)
			}
			if _, err := s.build(ctx, m.BuildID); err != nil {
				return fail(err)
			}
			return fail(errorf(http.StatusConflict, codeConflict, "build %s has already finished", m.BuildID))
		}
		s.streams.Go(func() {
			s.auth.Record(context.Background(), who, actionBuildCancel, m.BuildID, state.OutcomeAllowed, map[string]any{"via": "ws"})
		})
		s.log.Info("build cancel requested", "build", m.BuildID, "by", who.Actor(), "remote", c.remote)
		return wsReply{Op: "ack", ID: m.ID, BuildID: m.BuildID}
	default:
		return fail(errorf(http.StatusBadRequest, codeBadRequest, "unknown op %q: want subscribe, unsubscribe, build, cancel or ping", m.Op))
	}
}
