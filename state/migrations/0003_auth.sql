-- 0003: multi-user support: API keys, user accounts, client sessions, the
-- audit log and the versions of files saved through the daemon.

-- api_keys holds API keys by the SHA-256 of the key; the key itself is shown
-- once, when it is created, and never stored.
CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	name         TEXT NOT NULL,
	role         TEXT NOT NULL,
	hash         BLOB NOT NULL UNIQUE,
	prefix       TEXT NOT NULL,            -- the first characters, to recognise a key
	created_at   INTEGER NOT NULL,
	created_by   TEXT NOT NULL DEFAULT '',
	last_used_at INTEGER NOT NULL DEFAULT 0,
	revoked_at   INTEGER NOT NULL DEFAULT 0 -- 0: valid
);

-- users holds the accounts that log in with a password. token_version is
-- bumped by a password change, which ends every token issued before it.
CREATE TABLE users (
	name          TEXT PRIMARY KEY,
	role          TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL,
	token_version INTEGER NOT NULL DEFAULT 1
);

-- sessions are the daemon's client sessions, kept so that a client can
-- resume its session after a restart.
CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,
	actor      TEXT NOT NULL,
	role       TEXT NOT NULL,
	kind       TEXT NOT NULL DEFAULT '',
	remote     TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	closed_at  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_by_actor ON sessions (actor, closed_at);

-- audit is the append-only record of every action and every refusal.
CREATE TABLE audit (
	seq       INTEGER PRIMARY KEY,
	time      INTEGER NOT NULL,
	actor     TEXT NOT NULL,
	role      TEXT NOT NULL DEFAULT '',
	session   TEXT NOT NULL DEFAULT '',
	source_ip TEXT NOT NULL DEFAULT '',
	action    TEXT NOT NULL,
	target    TEXT NOT NULL DEFAULT '',
	outcome   TEXT NOT NULL,               -- allowed or denied
	details   TEXT NOT NULL DEFAULT '{}'   -- JSON object
);
CREATE INDEX audit_by_time ON audit (time, seq);
CREATE INDEX audit_by_actor ON audit (actor, time, seq);
CREATE INDEX audit_by_action ON audit (action, time, seq);
CREATE INDEX audit_by_outcome ON audit (outcome, time, seq);

-- file_versions keeps the content of each file as saved through the daemon,
-- so that two saved versions can be compared.
CREATE TABLE file_versions (
	seq        INTEGER PRIMARY KEY,
	path       TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	actor      TEXT NOT NULL DEFAULT '',
	sha256     TEXT NOT NULL,
	data       BLOB NOT NULL
);
CREATE INDEX file_versions_by_path ON file_versions (path, seq);
