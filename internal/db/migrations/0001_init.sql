-- flinkd's state. Desired state comes from the specs folder; observed state from the runtimes.

-- One row per SessionCluster (namespace/name), created when a valid file first declares it,
-- removed ("forgotten") once a deleted cluster is torn down. Events outlive it.
CREATE TABLE clusters (
	namespace     TEXT    NOT NULL,
	name          TEXT    NOT NULL,
	file          TEXT    NOT NULL,              -- the spec file that declares it
	spec_yaml     BLOB    NOT NULL,              -- that file as read (last valid version)
	spec_hash     TEXT    NOT NULL,              -- sha256 of spec_yaml
	desired       TEXT    NOT NULL,              -- the decoded, defaulted spec (JSON)
	running       TEXT,                          -- the spec that actually runs (JSON); NULL: nothing runs
	desired_state TEXT    NOT NULL,              -- RUNNING | STOPPED (spec.state of desired)
	target        TEXT    NOT NULL,              -- deploymentTargetName of desired
	deleted       INTEGER NOT NULL DEFAULT 0,    -- 1: the file is gone; tear down, then forget
	phase         TEXT    NOT NULL,              -- observed phase shown to users
	message       TEXT    NOT NULL DEFAULT '',
	refused       TEXT    NOT NULL DEFAULT '',   -- why the latest spec was not applied ('' when it was)
	warnings      TEXT    NOT NULL DEFAULT '[]', -- JSON list of validation warnings
	tm_desired    INTEGER NOT NULL DEFAULT 0,
	tm_ready      INTEGER NOT NULL DEFAULT 0,
	rest_url      TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,              -- Unix milliseconds
	updated_at    INTEGER NOT NULL,
	phase_since   INTEGER NOT NULL,
	PRIMARY KEY (namespace, name)
) WITHOUT ROWID;

-- One row per spec file in the folder, valid or not.
CREATE TABLE files (
	path       TEXT    NOT NULL PRIMARY KEY,
	namespace  TEXT    NOT NULL DEFAULT '',      -- the cluster it declares, when a name could be read
	name       TEXT    NOT NULL DEFAULT '',
	hash       TEXT    NOT NULL DEFAULT '',      -- sha256 of the content read
	status     TEXT    NOT NULL,                 -- ok | invalid | duplicate
	errors     TEXT    NOT NULL DEFAULT '[]',    -- JSON list of error lines (invalid, duplicate)
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX files_by_cluster ON files (namespace, name);

-- Append-only event log per cluster, bounded per cluster; kept after a cluster is forgotten.
CREATE TABLE events (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	namespace TEXT    NOT NULL,
	name      TEXT    NOT NULL,
	time      INTEGER NOT NULL,
	type      TEXT    NOT NULL,                  -- Normal | Warning
	reason    TEXT    NOT NULL,
	message   TEXT    NOT NULL
);
CREATE INDEX events_by_cluster ON events (namespace, name, id);
