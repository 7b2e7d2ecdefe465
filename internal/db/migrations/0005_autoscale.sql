-- The autoscaler's state of a cluster whose spec carries flinkd.io/autoscale-max-taskmanagers,
-- as JSON written by the daemon: the bounds, the TaskManager count it set (kept across
-- restarts of flinkd), its last up and down, the idle clock of each TaskManager and the
-- over-maximum message. NULL while the cluster is not autoscaled.
ALTER TABLE clusters ADD COLUMN autoscale TEXT;
