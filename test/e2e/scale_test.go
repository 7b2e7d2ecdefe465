package e2e

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Scaling 5 → 8 → 2 with a job running: the JobManager and every surviving TaskManager keep
// their containers, and the scale-down removes idle TaskManagers, not the ones the job runs
// on, so the job never restarts.
func TestScaleUpThenDownKeepsJobManagerAndBusyTaskManagers(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("scale")
	f.write("scale.yaml", clusterYAML(name, "RUNNING", 5, ""))
	f.waitRunning(name, 5)
	first := containerIDs(f.clusterContainers(name))

	f.write("scale.yaml", clusterYAML(name, "RUNNING", 8, ""))
	cs := f.waitRunning(name, 8)
	up := containerIDs(f.clusterContainers(name))
	if diff := cmp.Diff(instanceIDs(seq(1, 8)...), sortedKeys(up)); diff != "" {
		t.Fatalf("after scaling up, containers by instance (-want +got):\n%s", diff)
	}
	for id, cid := range first {
		if up[id] != cid {
			t.Errorf("scaling up replaced %s (container %.12s → %.12s)", id, cid, up[id])
		}
	}
	f.waitEvent(name, "ScalingUp", "from 5 to 8")

	// One slot per TaskManager, taken in ID order: the filler takes taskmanager-1..6, the job
	// that must survive takes taskmanager-7 and -8 (what a naive "remove the highest first"
	// would pick). Then the filler ends, leaving 1..6 idle.
	rest := cs.RESTURL
	filler := submitJob(t, rest, "filler", 6)
	waitJobState(t, rest, filler, "RUNNING")
	job := submitJob(t, rest, "keep", 2)
	waitJobState(t, rest, job, "RUNNING")
	if busy := taskManagersOf(t, rest, job); !cmp.Equal(busy, []string{"taskmanager-7", "taskmanager-8"}) {
		t.Fatalf("job runs on %v; the test needs taskmanager-7 and -8", busy)
	}
	cancelJob(t, rest, filler)
	waitJobState(t, rest, filler, "CANCELED")

	f.write("scale.yaml", clusterYAML(name, "RUNNING", 2, ""))
	f.waitRunning(name, 2)
	down := containerIDs(f.clusterContainers(name))
	if diff := cmp.Diff(instanceIDs(7, 8), sortedKeys(down)); diff != "" {
		t.Errorf("after scaling down, containers by instance (-want +got):\n%s", diff)
	}
	for id, cid := range down {
		if up[id] != cid {
			t.Errorf("scaling down replaced %s (container %.12s → %.12s)", id, up[id], cid)
		}
	}
	if down["jobmanager"] != first["jobmanager"] {
		t.Error("the JobManager container changed across the scalings")
	}
	if n := jobRestarts(t, rest, job); n != 0 {
		t.Errorf("job restarted %d times during the scale-down", n)
	}
	if s := jobState(t, rest, job); s != "RUNNING" {
		t.Errorf("job is %s after the scale-down, want RUNNING", s)
	}
	if busy := taskManagersOf(t, rest, job); !cmp.Equal(busy, []string{"taskmanager-7", "taskmanager-8"}) {
		t.Errorf("after the scale-down the job runs on %v, want taskmanager-7 and -8", busy)
	}
	f.waitEvent(name, "ScalingDown", "from 8 to 2")
}
