package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/runtime"
)

// While a cluster runs only spec.state and spec.numberOfTaskManagers may change: an edit of
// the image tag, and separately of the resources, is refused visibly (status, events) and
// touches no container, while the allowed part of the same edit (the TaskManager count)
// applies with the running spec.
func TestChangeWhileRunningIsRefusedAndLeavesContainersAlone(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("refuse")
	f.write("refuse.yaml", clusterYAML(name, "RUNNING", 1, ""))
	f.waitRunning(name, 1)
	before := f.clusterContainers(name)
	hash := before["jobmanager"].Labels[runtime.LabelSpecHash]
	if hash == "" {
		t.Fatal("the JobManager carries no spec hash label")
	}

	// 1. The image tag, together with an allowed scale-up to 2.
	edited := replaceOnce(t, clusterYAML(name, "RUNNING", 2, ""), `flinkImageTag: "1.20"`, `flinkImageTag: "1.20.1"`)
	f.write("refuse.yaml", edited)
	f.waitCluster(name, "refusing the image tag", func(cs api.ClusterStatus) bool { return cs.Refused != "" })
	checkRefusedInStatusJSON(t, f, name, "spec.flinkImageTag")
	f.waitRunning(name, 2)
	after := f.clusterContainers(name)
	checkUntouched(t, before, after, hash)
	checkRefusedEvent(t, f, name, "spec.flinkImageTag")

	// 2. The resources (the tag back as it runs), together with an allowed scale-down to 1.
	before = after
	f.write("refuse.yaml", clusterYAML(name, "RUNNING", 1, "  resources:\n    taskmanager:\n      memory: 3g\n"))
	f.waitCluster(name, "refusing the TaskManager memory", func(cs api.ClusterStatus) bool {
		return strings.Contains(cs.Refused, "spec.resources.taskmanager.memory") && !strings.Contains(cs.Refused, "spec.flinkImageTag")
	})
	checkRefusedInStatusJSON(t, f, name, "spec.resources.taskmanager.memory")
	f.waitRunning(name, 1)
	after = f.clusterContainers(name)
	delete(before, "taskmanager-2") // the scale-down to 1 removes the idle taskmanager-2
	checkUntouched(t, before, after, hash)
	checkRefusedEvent(t, f, name, "spec.resources.taskmanager.memory")
	ins := f.inspect(after["taskmanager-1"].ID)
	if ins.HostConfig.Memory != 2_000_000_000 {
		t.Errorf("taskmanager-1 memory limit is %d, want the running spec's 2g", ins.HostConfig.Memory)
	}
}

// checkRefusedInStatusJSON runs flinkctl status -o json and checks the cluster's refused
// field names field and says to stop first.
func checkRefusedInStatusJSON(t *testing.T, f *flinkd, name, field string) {
	t.Helper()
	res := f.flinkctl("status", "-o", "json")
	if res.Code != 0 {
		t.Fatalf("flinkctl status -o json: %s", res)
	}
	var rows []api.ClusterStatus
	if err := json.Unmarshal([]byte(res.Stdout), &rows); err != nil {
		t.Fatalf("flinkctl status -o json: %v\n%s", err, res.Stdout)
	}
	for _, cs := range rows {
		if cs.Name != name {
			continue
		}
		if !strings.Contains(cs.Refused, field) || !strings.Contains(cs.Refused, "set spec.state: STOPPED first") {
			t.Errorf("refused = %q; want it to name %s and say to set spec.state: STOPPED first", cs.Refused, field)
		}
		if cs.Phase != "RUNNING" && cs.Phase != "SCALING" {
			t.Errorf("phase %s while a change is refused; the cluster keeps running", cs.Phase)
		}
		return
	}
	t.Fatalf("flinkctl status -o json has no %s:\n%s", name, res.Stdout)
}

// checkRefusedEvent checks flinkctl events shows a ChangeRefused event naming field.
func checkRefusedEvent(t *testing.T, f *flinkd, name, field string) {
	t.Helper()
	res := f.flinkctl("events", name, "-o", "json")
	if res.Code != 0 {
		t.Fatalf("flinkctl events: %s", res)
	}
	var evs []api.Event
	if err := json.Unmarshal([]byte(res.Stdout), &evs); err != nil {
		t.Fatalf("flinkctl events -o json: %v\n%s", err, res.Stdout)
	}
	if e, ok := findEvent(evs, "ChangeRefused", field); !ok {
		t.Errorf("no ChangeRefused event naming %s:\n%s", field, formatEvents(evs))
	} else if e.Type != "Warning" {
		t.Errorf("ChangeRefused event is %s, want Warning", e.Type)
	}
}

// checkUntouched checks that every container of before is still there with the same ID and
// that every container now carries the running spec's hash.
func checkUntouched(t *testing.T, before, after map[string]container.Summary, hash string) {
	t.Helper()
	for id, c := range before {
		if after[id].ID != c.ID {
			t.Errorf("%s was replaced (container %.12s → %.12s)", id, c.ID, after[id].ID)
		}
	}
	for id, c := range after {
		if h := c.Labels[runtime.LabelSpecHash]; h != hash {
			t.Errorf("%s carries spec hash %s, want the running spec's %s", id, h, hash)
		}
	}
}
