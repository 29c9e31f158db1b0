package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/auth"
)

// buildStream follows one build for POST /build?stream=true: the build's
// events, as server-sent events, in the response to the request that
// started it. One request does what a subscription to /events and a
// build request do, so a client learns of every event of its build with
// no second connection and no race between the two.
type buildStream struct {
	c *client
	k *kicker
}

// openBuildStream subscribes to the events of the types the request's
// "types" parameter lists (every type when none), before the build
// starts so that none of its events is missed.
func (s *Server) openBuildStream(w http.ResponseWriter, r *http.Request) (*buildStream, error) {
	f := (&filter{off: true}).subscribe(parseList(r.URL.Query()["types"]), nil)
	k := &kicker{rc: http.NewResponseController(w), live: true}
	c, _, err := s.hub.subscribe("sse", r.RemoteAddr, f, false, 0, k.kick)
	if err != nil {
		return nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "event stream closed: %s", err)
	}
	return &buildStream{c: c, k: k}, nil
}

// close ends the subscription; the handler calls it before it returns.
func (s *Server) closeBuildStream(bs *buildStream) {
	bs.k.stop()
	s.hub.remove(bs.c)
}

// follow answers with the events of run until its build:complete, which
// waits for audited: the answer ends only once the trigger is recorded.
// The build's id is in the X-Build-ID header. A stream that falls behind is
// dropped by the hub like any other; the answer then ends with the
// build's result as one build:complete event, after a comment that says
// events were missed. The client leaving ends the answer, not the build.
func (s *Server) followBuild(w http.ResponseWriter, r *http.Request, run buildnet.Run, bs *buildStream, audited <-chan struct{}) error {
	id := run.ID()
	f := bs.c.filter.Load().clone()
	f.build = id
	bs.c.filter.Store(f)

	w.Header().Set("X-Build-ID", id)
	rc := http.NewResponseController(w)
	if !openStream(w, rc, ": build "+id+"\n\n") {
		return nil
	}
	ping := time.NewTicker(s.opts.PingInterval)
	defer ping.Stop()
	buf := make([]*hubEvent, 0, maxBatch)
	var out []byte
	for {
		var (
			err  error
			last bool
		)
		evs, wake := s.hub.next(bs.c, buf[:0], maxBatch)
		out = out[:0]
		for _, he := range evs {
			if he.ev.BuildID != id { // one read before the filter narrowed
				continue
			}
			if last = he.ev.Type == buildnet.EventBuildComplete; last {
				<-audited
			}
			out = append(out, he.sseFrame()...)
			if last {
				break
			}
		}
		if len(out) > 0 {
			_, err = w.Write(out)
		}
		if len(evs) > 0 {
			if err == nil {
				err = rc.Flush()
			}
			if err != nil || last {
				return nil
			}
			continue
		}
		select {
		case <-wake:
			continue
		case <-ping.C:
			_, err = fmt.Fprint(w, ": ping\n\n")
		case <-bs.c.done:
			// Dropped as too slow, or the hub closed: the result still
			// comes from the build itself.
			res, werr := run.Wait(r.Context())
			if werr != nil {
				return nil
			}
			<-audited
			data, _ := json.Marshal(buildnet.Event{
				Type: buildnet.EventBuildComplete, BuildID: id, Status: res.Status, Result: res, Requester: res.Requester,
			})
			_, _ = fmt.Fprintf(w, ": missed events: the stream fell behind\n\nevent: %s\ndata: %s\n\n", buildnet.EventBuildComplete, data)
			_ = rc.Flush()
			return nil
		case <-r.Context().Done():
			return nil
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil || last {
			return nil
		}
	}
}

// streamBuild is the rest of POST /build?stream=true once run started:
// the trigger is audited while the build runs, and the build followed.
func (s *Server) streamBuild(w http.ResponseWriter, r *http.Request, run buildnet.Run, bs *buildStream) error {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	return s.followBuild(w, r, run, bs, auth.CommitAudit(r.Context(), http.StatusOK))
}
