-- 0005: a build in which every package was an instant_skip keeps its
-- package results as one JSON document on the build row, instead of a
-- row per package (and an entry in each of their indexes): a daemon
-- answering no-op builds writes a few pages per build, not hundreds.
ALTER TABLE builds ADD COLUMN skips BLOB;
