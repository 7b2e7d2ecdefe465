-- The owner identity no longer belongs to the database: flinkd derives it from its specs
-- folder (runtime.Identity), so that it survives a lost database. The random identity that
-- 0003 made becomes a former identity: clusters labelled with it are adopted as this daemon's.
-- Rows: 'owner' = the identity flinkd last ran with; 'former:<id>' = <id>, one per former one.
INSERT OR IGNORE INTO meta (key, value) SELECT 'former:' || value, value FROM meta WHERE key = 'identity';
DELETE FROM meta WHERE key = 'identity';
