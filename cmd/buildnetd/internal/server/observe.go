package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/musclemap/buildnet/alert"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/httpstatus"
	"github.com/musclemap/buildnet/cmd/buildnetd/internal/metrics"
)

// observability is the server's Prometheus metrics, fed by its own
// subscription to the engine's events, and the alerter whose history it
// serves.
type observability struct {
	metrics *metrics.Metrics
	alerts  *alert.Alerter // nil: no alerts configured
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
}

// setupObservability makes the metrics (with a registry of the server's
// own) and starts counting the engine's events.
func (s *Server) setupObservability() {
	o := &observability{alerts: s.opts.Alerts, done: make(chan struct{})}
	mo := metrics.Options{
		Engine:      s.e,
		Version:     s.opts.Version,
		Logger:      s.log.With("component", "metrics"),
		Subscribers: func() int { n, _, _ := s.hub.counts(); return n },
		Dropped:     func() uint64 { _, d, _ := s.hub.counts(); return d },
	}
	if o.alerts != nil {
		mo.Alerts = o.alerts.Stats
	}
	o.metrics = metrics.New(mo)
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	go func() {
		defer close(o.done)
		_ = o.metrics.Run(ctx)
	}()
	s.obs = o
}

// closeObservability stops counting events.
func (s *Server) closeObservability() {
	s.obs.once.Do(func() {
		s.obs.cancel()
		<-s.obs.done
	})
}

// observeRequest counts a request in the HTTP metrics, under the pattern
// that served it (the mux records it in r).
func (s *Server) observeRequest(r *http.Request, sw *httpstatus.Recorder, start time.Time) {
	code := sw.Status
	upgrade := r.Header.Get("Upgrade") != ""
	if code == 0 && upgrade {
		code = http.StatusSwitchingProtocols // a hijacked WebSocket writes no status we see
	}
	stream := upgrade || metrics.IsEventStream(sw.Header())
	s.obs.metrics.ObserveRequest(r.Pattern, code, time.Since(start), stream)
}

// metrics serves GET /metrics: the Prometheus exposition format.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	s.obs.metrics.Handler().ServeHTTP(w, r)
	return nil
}

// alertsResponse is the body of GET /alerts.
type alertsResponse struct {
	// Alerts are the alerts kept, newest first, with their deliveries.
	Alerts []alert.Record `json:"alerts"`
	// Rules and Channels count alerts and deliveries since the start.
	Rules    []alert.RuleStats    `json:"rules"`
	Channels []alert.ChannelStats `json:"channels"`
}

// listAlerts serves GET /alerts.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	resp := alertsResponse{Alerts: []alert.Record{}, Rules: []alert.RuleStats{}, Channels: []alert.ChannelStats{}}
	if a := s.obs.alerts; a != nil {
		resp.Alerts = a.History()
		st := a.Stats()
		if st.Rules != nil {
			resp.Rules = st.Rules
		}
		if st.Channels != nil {
			resp.Channels = st.Channels
		}
	}
	return writeJSON(w, http.StatusOK, resp)
}
