// Package metrics is buildnetd's Prometheus instrumentation: counters and
// histograms fed by the engine's events (builds, packages, tiers,
// durations), gauges read at scrape time (cache, queue, active builds,
// event subscribers, alert deliveries), HTTP request metrics, and the Go
// runtime and process metrics.
//
// The metrics are kept with github.com/VictoriaMetrics/metrics, whose
// package initialisation costs next to nothing: buildnetd is also the
// CLI, and every command pays for the start of the whole binary.
//
// Each [Metrics] owns its own metric set: nothing is registered
// globally, so two daemons (or tests) in one process do not share
// counters. [Metrics.Handler] serves the set, the scrape-time gauges and
// the Go and process metrics in the Prometheus text exposition format,
// each BuildNet family with its # HELP and # TYPE lines; [Metrics.Run]
// feeds it the engine's events. Histograms are Prometheus histograms with
// fixed le buckets. Label values are escaped as the format requires, so
// the values users choose (requester names) cannot break a scrape.
//
// # Metrics
//
//	buildnet_builds_total{status,requester}            counter
//	buildnet_build_duration_seconds{status}            histogram
//	buildnet_package_builds_total{tier,status}         counter
//	buildnet_package_duration_seconds{tier}            histogram
//	buildnet_events_total{type}                        counter
//	buildnet_events_lost_total                         counter
//	buildnet_active_builds                             gauge
//	buildnet_queue_depth                               gauge
//	buildnet_cache_hits_total, _misses_total           counter
//	buildnet_cache_evictions_total, _corrupt_total     counter
//	buildnet_cache_bytes, buildnet_cache_entries       gauge
//	buildnet_cache_max_bytes                           gauge
//	buildnet_http_requests_total{route,code}           counter
//	buildnet_http_request_duration_seconds{route}      histogram
//	buildnet_http_rate_limited_total                   counter
//	buildnet_event_subscribers                         gauge
//	buildnet_event_subscribers_dropped_total           counter
//	buildnet_alerts_fired_total{rule,type}             counter
//	buildnet_alert_deliveries_total{channel,result}    counter
//	buildnet_alert_delivery_attempts_total{channel,result} counter
//	buildnet_alert_queue_depth{channel}                gauge
//	buildnet_build_info{version}                       gauge
//	process_*, go_*                                    Go runtime and process metrics
package metrics
