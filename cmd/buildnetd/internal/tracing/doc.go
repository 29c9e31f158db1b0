// Package tracing turns a BuildNet engine's events into OpenTelemetry
// spans: one "build" span per build, from build:start to build:complete,
// with a child span per package, from package:start to package:complete,
// carrying its tier, digest, status and duration. Spans are made from the
// events' own timestamps, so the engine needs no tracing hook and pays
// nothing for it.
//
// Tracing is off unless an OTLP endpoint is configured ([Config]):
// without one the daemon makes no [Tracer] and subscribes to nothing.
// [NewProvider] makes a provider exporting through an [Exporter], which
// posts OTLP/HTTP in the JSON encoding.
package tracing
