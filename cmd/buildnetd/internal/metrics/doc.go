// Package metrics is buildnetd's Prometheus instrumentation: counters and
// histograms fed by the engine's events (builds, packages, tiers,
// durations), gauges read at scrape time (cache, queue, active builds,
// event subscribers, alert deliveries), HTTP request metrics, and the Go
// runtime and process collectors.
//
// Each [Metrics] owns its own [prometheus.Registry]: nothing is
// registered globally, so two daemons (or tests) in one process do not
// share counters. [Metrics.Handler] serves the registry in the Prometheus
// text format; [Metrics.Run] feeds it the engine's events.
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
//	process_*, go_*                                    the standard collectors
package metrics
