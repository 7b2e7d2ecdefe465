package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/flinkd/flinkd/internal/api"
)

// A TaskManager killed from outside flinkd (docker kill) is replaced: the cluster is
// RUNNING again with the same number of TaskManagers, and an event says so.
func TestTaskManagerKilledFromOutsideIsReplaced(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("kill")
	f.write("kill.yaml", clusterYAML(name, "RUNNING", 2, ""))
	f.waitRunning(name, 2)
	before := containerIDs(f.clusterContainers(name))

	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	err := f.docker.ContainerKill(ctx, before["taskmanager-2"], "SIGKILL")
	cancel()
	if err != nil {
		t.Fatalf("docker kill taskmanager-2: %v", err)
	}
	// The event says which TaskManager was replaced and why: SIGKILL is exit code 137.
	f.waitEvent(name, "Replaced", "taskmanager-2 replaced (restart 1): exited with code 137")
	f.waitCluster(name, "RUNNING with a new taskmanager-2", func(cs api.ClusterStatus) bool {
		return cs.Phase == "RUNNING" && cs.TaskManagers.Ready == 2 && cs.TaskManagers.Desired == 2
	})
	after := containerIDs(f.clusterContainers(name))
	if after["taskmanager-2"] == "" || after["taskmanager-2"] == before["taskmanager-2"] {
		t.Errorf("taskmanager-2 was not replaced: %.12s → %.12s", before["taskmanager-2"], after["taskmanager-2"])
	}
	for _, id := range []string{"jobmanager", "taskmanager-1"} {
		if after[id] != before[id] {
			t.Errorf("%s was replaced too (container %.12s → %.12s)", id, before[id], after[id])
		}
	}
	if len(after) != 3 {
		t.Errorf("containers after the replacement: %v", sortedKeys(after))
	}
	var ov struct {
		TaskManagers int `json:"taskmanagers"`
	}
	cs, _ := f.status(name)
	getJSON(t, cs.RESTURL+"/overview", &ov)
	if ov.TaskManagers != 2 {
		t.Errorf("the JobManager reports %d TaskManagers, want 2", ov.TaskManagers)
	}
}

// A spec whose image exists nowhere (pull policy IfNotPresent: not present, and no registry
// has it) makes the cluster FAILED with a message naming the image.
func TestMissingImageFailsNamingTheImage(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("noimage")
	spec := replaceOnce(t, clusterYAML(name, "RUNNING", 1, "  flinkImagePullPolicy: IfNotPresent\n"),
		`flinkImageTag: "1.20"`, `flinkImageTag: does-not-exist`)
	f.write("noimage.yaml", spec)
	const image = "localhost/flink-sim:does-not-exist"
	cs := f.waitPhase(name, "FAILED")
	if !strings.Contains(cs.Message, image) {
		t.Errorf("FAILED message %q does not name %s", cs.Message, image)
	}
	res := f.flinkctl("status", name)
	if res.Code != 0 || !strings.Contains(res.Stdout, "FAILED") || !strings.Contains(res.Stdout, image) {
		t.Errorf("flinkctl status %s should show FAILED and the image:\n%s", name, res)
	}
	f.waitEvent(name, "ApplyFailed", image)
	if ctrs := f.clusterContainers(name); len(ctrs) != 0 {
		t.Errorf("containers were created without their image: %v", sortedKeys(ctrs))
	}
}
