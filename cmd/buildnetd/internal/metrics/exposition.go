package metrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	vm "github.com/VictoriaMetrics/metrics"
)

// ContentType is the media type [Metrics.Handler] answers with: the
// Prometheus text exposition format, version 0.0.4.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// The metric families BuildNet serves. Dashboards and alert rules name
// them: a name, a label, a HELP text or a TYPE changes only with the docs
// and the dashboard.
const (
	famBuilds          = "buildnet_builds_total"
	famBuildDuration   = "buildnet_build_duration_seconds"
	famPackages        = "buildnet_package_builds_total"
	famPackageDuration = "buildnet_package_duration_seconds"
	famEvents          = "buildnet_events_total"
	famEventsLost      = "buildnet_events_lost_total"
	famRequests        = "buildnet_http_requests_total"
	famRequestDuration = "buildnet_http_request_duration_seconds"
	famRateLimited     = "buildnet_http_rate_limited_total"
	famBuildInfo       = "buildnet_build_info"
	famActive          = "buildnet_active_builds"
	famQueue           = "buildnet_queue_depth"
	famHits            = "buildnet_cache_hits_total"
	famMisses          = "buildnet_cache_misses_total"
	famEvictions       = "buildnet_cache_evictions_total"
	famCorrupt         = "buildnet_cache_corrupt_total"
	famBytes           = "buildnet_cache_bytes"
	famEntries         = "buildnet_cache_entries"
	famMaxBytes        = "buildnet_cache_max_bytes"
	famSubs            = "buildnet_event_subscribers"
	famSubsDropped     = "buildnet_event_subscribers_dropped_total"
	famFired           = "buildnet_alerts_fired_total"
	famDeliveries      = "buildnet_alert_deliveries_total"
	famAttempts        = "buildnet_alert_delivery_attempts_total"
	famAlertQueue      = "buildnet_alert_queue_depth"
)

// family is what the # HELP and # TYPE lines say of a metric family.
type family struct {
	help string // no backslash or newline, which HELP would need escaped
	typ  string // counter, gauge or histogram
}

// families describes every family in [Metrics]' exposition. It is never
// modified.
var families = map[string]family{
	famBuilds:          {"Builds finished, by status (success, failed, cancelled) and requester.", "counter"},
	famBuildDuration:   {"Duration of finished builds, by status.", "histogram"},
	famPackages:        {"Package results, by tier (instant_skip, hash_skip, cache_restore, full_build, none) and status (success, failed, skipped, cancelled).", "counter"},
	famPackageDuration: {"Time spent bringing a package up to date, by tier; successful packages only.", "histogram"},
	famEvents:          {"Engine events seen, by type.", "counter"},
	famEventsLost:      {"Times the metrics fell behind the engine's events and lost some: build counters may then be low.", "counter"},
	famRequests:        {"HTTP requests served, by route pattern and status code.", "counter"},
	famRequestDuration: {"Latency of HTTP requests, by route pattern; event streams (SSE, WebSocket) are not included.", "histogram"},
	famRateLimited:     {`HTTP requests refused by rate limiting (429); buildnet_http_requests_total{code="429"} has them by route.`, "counter"},
	famBuildInfo:       {"Always 1; the version label names the daemon's version.", "gauge"},
	famActive:          {"Builds in progress.", "gauge"},
	famQueue:           {"Package commands waiting for a build slot.", "gauge"},
	famHits:            {"Cache lookups that found a usable entry (kept across restarts).", "counter"},
	famMisses:          {"Cache lookups that found none, corrupt entries included (kept across restarts).", "counter"},
	famEvictions:       {"Cache entries evicted (kept across restarts).", "counter"},
	famCorrupt:         {"Corrupt cache entries and blobs found (kept across restarts).", "counter"},
	famBytes:           {"Bytes held by the local cache.", "gauge"},
	famEntries:         {"Entries in the local cache.", "gauge"},
	famMaxBytes:        {"The local cache's size bound (cache.max_size).", "gauge"},
	famSubs:            {"Connected event-stream clients (SSE and WebSocket).", "gauge"},
	famSubsDropped:     {"Event-stream clients dropped for being too slow.", "counter"},
	famFired:           {"Alerts fired, by rule and rule type.", "counter"},
	famDeliveries:      {"Alert deliveries by channel and outcome (delivered, failed, dropped).", "counter"},
	famAttempts:        {"Alert delivery attempts by channel and result (ok, error); errors are retried.", "counter"},
	famAlertQueue:      {"Alerts waiting for delivery, by channel.", "gauge"},
}

// familyOf returns the family of the sample named name (without labels):
// name itself, or for a histogram's _bucket, _sum and _count samples the
// histogram's name.
func familyOf(name string) string {
	if _, ok := families[name]; ok {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && families[base].typ == "histogram" {
			return base
		}
	}
	return name
}

// series returns the series name{k1="v1",k2="v2"} of family name with
// the label pairs kv (names at even indexes, values after them), the
// values escaped as the text format requires; just name for no pairs.
func series(name string, kv ...string) string {
	if len(kv) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		writeLabelValue(&b, kv[i+1])
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// writeLabelValue writes v as the inside of a quoted label value: a
// backslash, a double quote and a newline are escaped (\\, \", \n), as
// the text exposition format says, and each run of bytes that are not
// UTF-8 becomes U+FFFD, as a scraper would otherwise reject the whole
// scrape. Values come from users (requesters are key names), so anything
// may be in them.
func writeLabelValue(b *strings.Builder, v string) {
	for _, r := range strings.ToValidUTF8(v, "\uFFFD") {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
}

// exposition gathers samples by family, then writes each family once,
// after its # HELP and # TYPE lines, in name order.
type exposition struct {
	samples map[string][]byte // family name: its sample lines
}

// addSet adds the samples of s.
func (e *exposition) addSet(s *vm.Set) {
	var buf bytes.Buffer
	s.WritePrometheus(&buf)
	for line := range bytes.Lines(buf.Bytes()) {
		// The library writes metadata lines of its own when its global
		// switch is on, with an empty HELP: ours replace them.
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		end := bytes.IndexAny(line, "{ ")
		if end < 0 {
			continue
		}
		fam := familyOf(string(line[:end]))
		e.samples[fam] = append(e.samples[fam], line...)
	}
}

// add adds the sample of family fam with the label pairs kv and value v.
func (e *exposition) add(fam string, v int64, kv ...string) {
	b := append(e.samples[fam], series(fam, kv...)...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, v, 10)
	e.samples[fam] = append(b, '\n')
}

// writeTo writes the families to buf.
func (e *exposition) writeTo(buf *bytes.Buffer) {
	for _, name := range slices.Sorted(maps.Keys(e.samples)) {
		if f, ok := families[name]; ok {
			buf.WriteString("# HELP " + name + " " + f.help + "\n")
			buf.WriteString("# TYPE " + name + " " + f.typ + "\n")
		}
		buf.Write(e.samples[name])
	}
}

// Handler serves the metrics in the Prometheus text exposition format
// ([ContentType]), gzip-compressed when the request accepts it: BuildNet's
// own families, then the Go runtime and process metrics. A source failing
// (the cache unreadable) is logged, and the other metrics are still
// served.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(m.serveHTTP)
}

func (m *Metrics) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body := m.render(r.Context())
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Add("Vary", "Accept-Encoding")
	var err error
	if acceptsGzip(r.Header) {
		h.Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		_, err = zw.Write(body)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
	} else {
		_, err = w.Write(body)
	}
	if err != nil {
		// The scraper went away; nothing is wrong with the daemon.
		m.log.Debug("write metrics", "err", err)
	}
}

// render returns every metric in the text exposition format.
func (m *Metrics) render(ctx context.Context) []byte {
	e := exposition{samples: map[string][]byte{}}
	e.addSet(m.set)
	m.collect(ctx, &e)
	var buf bytes.Buffer
	e.writeTo(&buf)
	vm.WriteProcessMetrics(&buf)
	vm.WriteFDMetrics(&buf)
	return buf.Bytes()
}

// acceptsGzip reports whether h's Accept-Encoding lists gzip, with a
// weight other than zero.
func acceptsGzip(h http.Header) bool {
	for _, v := range h.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
			if !ok {
				return true
			}
			w, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
			return err == nil && w > 0
		}
	}
	return false
}
