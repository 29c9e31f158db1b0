package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/musclemap/buildnet/buildnet"
)

// scrapeTimeout bounds reading the cache's statistics during a scrape.
const scrapeTimeout = 10 * time.Second

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
}

var (
	descActive    = desc("active_builds", "Builds in progress.")
	descQueue     = desc("queue_depth", "Package commands waiting for a build slot.")
	descHits      = desc("cache_hits_total", "Cache lookups that found a usable entry (kept across restarts).")
	descMisses    = desc("cache_misses_total", "Cache lookups that found none, corrupt entries included (kept across restarts).")
	descEvictions = desc("cache_evictions_total", "Cache entries evicted (kept across restarts).")
	descCorrupt   = desc("cache_corrupt_total", "Corrupt cache entries and blobs found (kept across restarts).")
	descBytes     = desc("cache_bytes", "Bytes held by the local cache.")
	descEntries   = desc("cache_entries", "Entries in the local cache.")
	descMaxBytes  = desc("cache_max_bytes", "The local cache's size bound (cache.max_size).")
	descSubs      = desc("event_subscribers", "Connected event-stream clients (SSE and WebSocket).")
	descSubsDrop  = desc("event_subscribers_dropped_total", "Event-stream clients dropped for being too slow.")
	descFired     = desc("alerts_fired_total", "Alerts fired, by rule and rule type.", "rule", "type")
	descDeliver   = desc("alert_deliveries_total", "Alert deliveries by channel and outcome (delivered, failed, dropped).", "channel", "result")
	descAttempts  = desc("alert_delivery_attempts_total", "Alert delivery attempts by channel and result (ok, error); errors are retried.", "channel", "result")
	descAlertQ    = desc("alert_queue_depth", "Alerts waiting for delivery, by channel.", "channel")
)

// sourceCollector reads the gauges and counters kept elsewhere (engine,
// cache, event hub, alerter) at scrape time.
type sourceCollector struct{ m *Metrics }

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descActive, descQueue, descHits, descMisses, descEvictions, descCorrupt,
		descBytes, descEntries, descMaxBytes, descSubs, descSubsDrop, descFired, descDeliver, descAttempts, descAlertQ} {
		ch <- d
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	o := c.m.opts
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	if e := o.Engine; e != nil {
		gauge(descActive, float64(len(e.ActiveBuilds())))
		gauge(descQueue, float64(len(e.Queue())))
		if e.Cache() != nil {
			ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
			st, err := e.CacheStats(ctx)
			cancel()
			if err != nil {
				c.m.log.Warn("read cache statistics for metrics", "err", err)
				ch <- prometheus.NewInvalidMetric(descBytes, err)
			} else {
				counter(descHits, float64(st.Hits))
				counter(descMisses, float64(st.Misses))
				counter(descEvictions, float64(st.Evictions))
				counter(descCorrupt, float64(st.Corrupt))
				gauge(descBytes, float64(st.Bytes))
				gauge(descEntries, float64(st.Entries))
			}
			limit := int64(e.Workspace().Cache.MaxSize)
			if limit <= 0 {
				limit = buildnet.DefaultMaxCacheSize
			}
			gauge(descMaxBytes, float64(limit))
		}
	}
	if o.Subscribers != nil {
		gauge(descSubs, float64(o.Subscribers()))
	}
	if o.Dropped != nil {
		counter(descSubsDrop, float64(o.Dropped()))
	}
	if o.Alerts != nil {
		st := o.Alerts()
		for _, r := range st.Rules {
			counter(descFired, float64(r.Fired), r.Name, string(r.Type))
		}
		for _, cs := range st.Channels {
			counter(descDeliver, float64(cs.Delivered), cs.Name, "delivered")
			counter(descDeliver, float64(cs.Failed), cs.Name, "failed")
			counter(descDeliver, float64(cs.Dropped), cs.Name, "dropped")
			counter(descAttempts, float64(cs.Attempts-cs.AttemptErrors), cs.Name, "ok")
			counter(descAttempts, float64(cs.AttemptErrors), cs.Name, "error")
			gauge(descAlertQ, float64(cs.Queued), cs.Name)
		}
	}
}
