// Package state persists what BuildNet must remember across restarts: the
// state of every package (the input digest of its last successful build and
// an opaque snapshot owned by the engine), the build history with per-package
// results, and the captured output of each package.
//
// [Store] is the interface the engine consumes; [DB], returned by [Open], is
// its SQLite implementation (the pure-Go modernc.org/sqlite driver). Another
// backend, such as PostgreSQL, can take its place without touching the engine.
//
// # Connections and transactions
//
// A [DB] holds one writer connection and a small pool of read-only
// connections. Every write goes through the single writer, so writes are
// serialised inside the process without ever contending for the SQLite lock
// among themselves, and reads never wait for a write: in WAL mode readers see
// the last committed state while a writer works. Write transactions start with
// BEGIN IMMEDIATE, so a transaction takes the write lock before it reads
// anything; several processes (the daemon and a CLI, say) writing the same
// file then queue on busy_timeout (10 s) instead of failing with a deadlock
// that a read lock upgraded to a write lock would cause.
//
// # Durability
//
// The database runs with journal_mode=WAL and synchronous=NORMAL. In WAL
// mode a commit appends to the write-ahead log and needs no fsync; the log is
// synced only when it is checkpointed into the database file. A power loss or
// an operating-system crash may therefore lose the last few transactions, but
// it never corrupts the database. A crash of the process alone loses nothing,
// because committed pages are already in the operating system's cache. That is
// the right trade for build state: a lost transaction only means a package is
// rebuilt once more.
//
// # Schema
//
// The schema is created and upgraded by versioned migrations embedded in the
// binary (migrations/NNNN_name.sql), applied in order, each in its own
// transaction, and tracked with PRAGMA user_version. Opening a database
// written by a newer BuildNet fails with [ErrSchemaTooNew] rather than
// guessing at a schema it does not know.
//
// # Interrupted builds
//
// Each [DB] registers itself in the database as an instance (a random id and
// the process id) and removes itself on [DB.Close]. A build records the
// instance that created it. When [Open] finds builds still queued or running
// whose instance is gone, or whose process is no longer alive, it marks them
// interrupted: their owner crashed. Builds of another live handle, even one in
// the same process, are left alone. [DB.Close] marks the builds its own
// instance left unfinished interrupted as well. Liveness is judged by process
// id (and, on Linux, process start time, which catches pid reuse), so all
// processes sharing a database must see the same process ids: one host, or
// one container.
//
// All times are stored as UTC Unix nanoseconds and returned in UTC.
package state
