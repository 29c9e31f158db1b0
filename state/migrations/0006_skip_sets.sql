-- 0006: the results of a no-op build are stored once per distinct set: a
-- daemon answering "nothing changed" builds all day writes the same
-- results again and again, so a build row names its set by digest
-- (skip_set) instead of holding a copy (skips, still read for the builds
-- recorded before). The results in a set leave out started_at, which is
-- the build's own start.
CREATE TABLE skip_sets (
	id   BLOB PRIMARY KEY,
	data BLOB NOT NULL
);
ALTER TABLE builds ADD COLUMN skip_set BLOB;
