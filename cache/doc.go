// Package cache is BuildNet's on-disk content-addressed build cache.
//
// A [Cache] lives in one directory:
//
//	blobs/ab/<hex>     file contents, named by their BLAKE3 digest
//	actions/ab/<hex>   one JSON [Manifest] per input digest (the "key")
//	tmp/               per-process scratch space for atomic writes
//	quarantine/        corrupt blobs and entries, kept for inspection
//	stats.json         cumulative hit/miss/eviction/corruption counters
//
// [Cache.Store] records a package's output directory under the package's
// input digest, [Cache.Lookup] finds it again and [Cache.Restore] recreates
// the files. [Cache.Export] and [Cache.Import] pack one entry into a single
// tar+gzip stream so that a [Backend], such as a remote cache, can carry it.
//
// # Guarantees
//
// Every write goes to a temporary file that is synced and then renamed into
// place, so a crash never leaves a readable partial blob or entry. Blobs are
// immutable; storing one that already exists is a no-op.
//
// Content is verified whenever it is read: a blob whose digest does not match
// is moved to quarantine, counted in [Stats].Corrupt and never served.
//
// Restore writes only inside the output directory. Paths are checked when a
// manifest is decoded, every file operation goes through an [os.Root], and a
// directory in the output tree that has been replaced by a symbolic link
// stops the restore instead of being followed.
//
// # Concurrency
//
// A Cache is safe for concurrent use by many goroutines. Several processes
// may share one directory: they coordinate with advisory file locks, so that
// [Cache.Evict] and [Cache.Clear] never delete a blob that a concurrent
// [Cache.Store] is about to reference.
package cache
