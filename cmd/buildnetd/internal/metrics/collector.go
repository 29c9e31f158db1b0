package metrics

import (
	"context"
	"time"

	"github.com/musclemap/buildnet/buildnet"
)

// scrapeTimeout bounds reading the cache's statistics during a scrape.
const scrapeTimeout = 10 * time.Second

// collect adds to e the gauges and counters kept elsewhere (engine,
// cache, event hub, alerter), read now. A source that fails is logged and
// left out; the others are still added.
func (m *Metrics) collect(ctx context.Context, e *exposition) {
	o := m.opts
	if eng := o.Engine; eng != nil {
		e.add(famActive, int64(len(eng.ActiveBuilds())))
		e.add(famQueue, int64(len(eng.Queue())))
		if eng.Cache() != nil {
			ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
			st, err := eng.CacheStats(ctx)
			cancel()
			if err != nil {
				m.log.Warn("read cache statistics for metrics", "err", err)
			} else {
				e.add(famHits, st.Hits)
				e.add(famMisses, st.Misses)
				e.add(famEvictions, st.Evictions)
				e.add(famCorrupt, st.Corrupt)
				e.add(famBytes, st.Bytes)
				e.add(famEntries, st.Entries)
			}
			limit := int64(eng.Workspace().Cache.MaxSize)
			if limit <= 0 {
				limit = buildnet.DefaultMaxCacheSize
			}
			e.add(famMaxBytes, limit)
		}
	}
	if o.Subscribers != nil {
		e.add(famSubs, int64(o.Subscribers()))
	}
	if o.Dropped != nil {
		e.add(famSubsDropped, int64(o.Dropped()))
	}
	if o.Alerts != nil {
		st := o.Alerts()
		for _, r := range st.Rules {
			e.add(famFired, r.Fired, "rule", r.Name, "type", string(r.Type))
		}
		for _, cs := range st.Channels {
			e.add(famDeliveries, cs.Delivered, "channel", cs.Name, "result", "delivered")
			e.add(famDeliveries, cs.Dropped, "channel", cs.Name, "result", "dropped")
			e.add(famDeliveries, cs.Failed, "channel", cs.Name, "result", "failed")
			e.add(famAttempts, cs.AttemptErrors, "channel", cs.Name, "result", "error")
			e.add(famAttempts, cs.Attempts-cs.AttemptErrors, "channel", cs.Name, "result", "ok")
			e.add(famAlertQueue, int64(cs.Queued), "channel", cs.Name)
		}
	}
}
