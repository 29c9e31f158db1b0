-- 0001: initial schema. All times are UTC Unix nanoseconds; 0 means unset.

-- package_states holds, per package, the input digest of its last successful
-- build and an opaque snapshot owned by the engine.
CREATE TABLE package_states (
	name       TEXT PRIMARY KEY,
	digest     BLOB,
	snapshot   BLOB,
	updated_at INTEGER NOT NULL
);

-- instances lists the open handles on this database, one row per DB, so that
-- Open can tell a build whose owner crashed from one whose owner is alive.
CREATE TABLE instances (
	id         TEXT PRIMARY KEY,
	pid        INTEGER NOT NULL,
	pid_start  INTEGER NOT NULL DEFAULT 0, -- process start time, to detect pid reuse
	started_at INTEGER NOT NULL,
	heartbeat  INTEGER NOT NULL
);

CREATE TABLE builds (
	id             TEXT PRIMARY KEY,
	status         TEXT NOT NULL,
	requester      TEXT NOT NULL DEFAULT '',
	priority       INTEGER NOT NULL DEFAULT 0,
	targets        TEXT NOT NULL DEFAULT '[]', -- JSON array of package names
	forced         INTEGER NOT NULL DEFAULT 0,
	created_at     INTEGER NOT NULL,
	started_at     INTEGER NOT NULL DEFAULT 0,
	finished_at    INTEGER NOT NULL DEFAULT 0,
	duration_ms    INTEGER NOT NULL DEFAULT 0,
	error          TEXT NOT NULL DEFAULT '',
	owner_pid      INTEGER NOT NULL DEFAULT 0,
	owner_instance TEXT NOT NULL DEFAULT ''
);

-- History is listed newest first, optionally filtered by status or requester.
CREATE INDEX builds_by_created ON builds (created_at, id);
CREATE INDEX builds_by_status ON builds (status, created_at, id);
CREATE INDEX builds_by_requester ON builds (requester, created_at, id);
-- Unfinished builds, looked up by owner on Open and Close.
CREATE INDEX builds_unfinished ON builds (owner_instance) WHERE status IN ('queued', 'running');

-- package_results keeps one row per package of a build; seq gives the
-- insertion order.
CREATE TABLE package_results (
	seq          INTEGER PRIMARY KEY,
	build_id     TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
	package      TEXT NOT NULL,
	tier         TEXT NOT NULL DEFAULT '',
	status       TEXT NOT NULL,
	digest       BLOB,
	duration_ms  INTEGER NOT NULL DEFAULT 0,
	error        TEXT NOT NULL DEFAULT '',
	reason       TEXT NOT NULL DEFAULT '',
	cache_source TEXT NOT NULL DEFAULT '',
	started_at   INTEGER NOT NULL DEFAULT 0,
	UNIQUE (build_id, package)
);

CREATE INDEX package_results_by_package ON package_results (package, tier, build_id);
CREATE INDEX package_results_by_tier ON package_results (tier, build_id);

-- logs holds the captured output of one package in one build.
CREATE TABLE logs (
	build_id TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
	package  TEXT NOT NULL,
	data     BLOB NOT NULL,
	PRIMARY KEY (build_id, package)
);
