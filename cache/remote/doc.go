// Package remote is a client for remote build caches that speak the
// Turborepo remote cache protocol (v8), such as Vercel's and the
// self-hosted turborepo-remote-cache server.
//
// A [Client] is a [cache.Backend]: it stores and fetches whole artifacts,
// the streams written by [cache.Cache.Export], under BuildNet's input
// digests (hex), with
//
//	HEAD /v8/artifacts/{hash}?slug=team   (or teamId=team_… for Vercel ids)
//	GET  /v8/artifacts/{hash}?slug=team   404 is a miss
//	PUT  /v8/artifacts/{hash}?slug=team   x-artifact-duration: build time in ms
//
// and an "Authorization: Bearer" token. Keys are BuildNet input digests,
// a key space of their own: turbo's artifacts and BuildNet's never collide
// and are not interchangeable.
//
// # Signatures
//
// With [Options.SignatureKey] set, every upload carries an x-artifact-tag
// header, the base64 HMAC-SHA256 of the artifact keyed by the shared
// secret, computed as turbo does (see [Sign]). Downloads are verified
// before a single byte is handed out: an artifact whose tag is missing or
// wrong is refused with an error wrapping [ErrSignature]. The server only
// stores and echoes the tag, so signing protects against a compromised or
// shared server, not against a leaked key.
//
// # Failures
//
// The client never retries a download: a failed lookup is a cache miss
// and the caller builds. Every failure is returned, counted in [Stats]
// and never contains the token. After [Options.MaxFailures] consecutive
// failures (network errors, timeouts, 5xx) the client stops sending
// requests for [Options.Cooldown] and fails fast with [ErrUnavailable], so
// that a dead server costs one timeout, not one per package.
//
// An [Uploader] sends artifacts in the background with a few workers,
// retrying network errors and 5xx answers with exponential backoff, so
// that a build never waits for an upload.
package remote
