-- The autoscaler's state of each cluster whose spec carries flinkd.io/autoscale-max-taskmanagers,
-- as JSON written by the daemon: the bounds, the TaskManager count it set (kept across restarts
-- of flinkd), its last up and down, the idle clock of each TaskManager and the over-maximum
-- message. No row: the cluster is not autoscaled. Goes with its cluster.
CREATE TABLE IF NOT EXISTS autoscale (
	namespace TEXT NOT NULL,
	name      TEXT NOT NULL,
	state     TEXT NOT NULL,
	PRIMARY KEY (namespace, name),
	FOREIGN KEY (namespace, name) REFERENCES clusters (namespace, name) ON DELETE CASCADE
) WITHOUT ROWID;
