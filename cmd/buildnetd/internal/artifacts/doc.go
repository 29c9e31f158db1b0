// Package artifacts is the remote cache buildnetd serves: the server side
// of the Turborepo remote cache protocol (v8), for turbo and for other
// BuildNet instances.
//
// A [Store] keeps each artifact body as a blob named by its BLAKE3
// digest, in its own directory (<state dir>/artifacts, apart from the
// build cache):
//
//	blobs/ab/<hex>   artifact bodies, shared by identical artifacts
//	tmp/             uploads being received
//
// and an index in the state database (see [state.ArtifactStore]) that maps
// each team's artifact keys to a blob, with the size, the
// x-artifact-duration and the x-artifact-tag the client sent. Keys are the
// clients' names for artifacts (turbo's 16-hex task hashes, BuildNet's
// input digests), not content hashes, so they live in their own key space,
// one per team; the blob digest is the store's own business.
//
// # Verification
//
// Every body is hashed as it is served. A blob that is missing, has the
// wrong size or the wrong digest is never handed out whole: the
// artifacts using it are dropped and counted in [Stats].Corrupt, and the
// request answers 404 (bodies up to 1 MiB are checked before the answer
// begins; a larger one is cut short before its last bytes, so the client
// sees a failed download, never a complete wrong one).
//
// # Bounds
//
// An upload larger than [Options.MaxArtifactSize] is refused with 413.
// After each upload, the least recently used artifacts are evicted until
// the total size is within [Options.MaxSize], and those unused for longer
// than [Options.MaxAge] go too.
//
// # HTTP
//
// The Serve methods answer the protocol's requests; buildnetd's server
// routes them and checks permissions (read for GET and HEAD, build for
// PUT). A failed write answers 4xx (412 when storage fails), never 5xx,
// because turbo retries 5xx.
package artifacts
