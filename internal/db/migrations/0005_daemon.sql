-- "Hash" meant two things: here it was always the sha256 of a spec file's bytes (the file
-- hash); the spec hash (spec.Hash, on every container and object) is not stored here.
ALTER TABLE clusters RENAME COLUMN spec_hash TO file_hash;
ALTER TABLE files RENAME COLUMN hash TO file_hash;

-- When a save of its file last changed the cluster's desired spec: an edit retries a
-- crash-looping instance at once.
ALTER TABLE clusters ADD COLUMN spec_changed_at INTEGER NOT NULL DEFAULT 0;
UPDATE clusters SET spec_changed_at = updated_at;

-- The latest stop asked for through the API (flinkctl stop [--force]), per cluster key; the
-- key may also be an orphan (labelled resources that no file declares). The API records it
-- and waits; the cluster's worker, which alone talks to its runtime and JobManager, decides
-- the outcome (and cancels jobs when forced).
CREATE TABLE stop_requests (
	namespace    TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	id           INTEGER NOT NULL,              -- numbers the requests of a key, from 1
	force        INTEGER NOT NULL DEFAULT 0,    -- cancel running jobs; tear down even when the JobManager cannot say whether jobs run
	outcome      TEXT    NOT NULL DEFAULT '',   -- '' (pending) | accepted | refused | done
	message      TEXT    NOT NULL DEFAULT '',
	jobs         TEXT    NOT NULL DEFAULT '[]', -- JSON: the jobs that refused the stop, or that it cancelled
	cancelled_at INTEGER NOT NULL DEFAULT 0,    -- when the worker first cancelled jobs (Unix ms; 0: never)
	created_at   INTEGER NOT NULL,
	decided_at   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (namespace, name)
) WITHOUT ROWID;
