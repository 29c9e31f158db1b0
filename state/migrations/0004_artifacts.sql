-- 0004: the remote cache buildnetd serves (Turborepo v8 protocol). Each row
-- is one artifact a client stored under its team and key (turbo's task hash,
-- BuildNet's input digest); the body is a blob named by its BLAKE3 digest in
-- <state dir>/artifacts/blobs, which identical bodies share.
CREATE TABLE artifacts (
	team        TEXT NOT NULL,
	key         TEXT NOT NULL,
	blob        BLOB NOT NULL,              -- BLAKE3 digest of the body, 32 bytes
	size        INTEGER NOT NULL,
	duration_ms INTEGER NOT NULL DEFAULT 0, -- x-artifact-duration of the upload
	tag         TEXT NOT NULL DEFAULT '',   -- x-artifact-tag of the upload, verbatim
	created_at  INTEGER NOT NULL,
	last_used   INTEGER NOT NULL,
	PRIMARY KEY (team, key)
) WITHOUT ROWID;
CREATE INDEX artifacts_by_last_used ON artifacts (last_used);
CREATE INDEX artifacts_by_blob ON artifacts (blob);
