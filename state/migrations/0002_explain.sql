-- 0002: input manifests behind digests, time saved by the cache, and a
-- small key-value table.

-- manifests holds, for each input digest a package was built or restored
-- with, the full list of what went into it (engine-encoded JSON).
CREATE TABLE manifests (
	digest     BLOB PRIMARY KEY,
	package    TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	data       BLOB NOT NULL
);
CREATE INDEX manifests_by_package ON manifests (package, created_at);

-- saved_ms is how long the original build of a restored package took.
ALTER TABLE package_results ADD COLUMN saved_ms INTEGER NOT NULL DEFAULT 0;

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
