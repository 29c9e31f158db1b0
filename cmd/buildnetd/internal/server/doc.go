// Package server is buildnetd's HTTP API: the JSON endpoints, the
// server-sent event stream and the WebSocket of the contract in api.md,
// with the embedded web panel mounted at /.
//
// One engine subscription feeds every event consumer through a bounded
// ring buffer (for Last-Event-ID replay) and a bounded queue per client; a
// client whose queue fills is dropped and logged, and never slows a build
// or another client.
//
// [New] returns the [Server], a [net/http.Handler]; [Server.Serve] runs
// it on a listener until its context ends, then shuts down gracefully:
// it stops accepting, lets running builds finish within a grace period,
// then cancels them.
package server
