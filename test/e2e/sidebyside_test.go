package e2e

import (
	"regexp"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tmEndpoint is the line a TaskManager logs with its RPC address, which its JobManager
// reports as the TaskManager's path.
var tmEndpoint = regexp.MustCompile(`Starting RPC endpoint for org\.apache\.flink\.runtime\.taskexecutor\.TaskExecutor at (\S+)`)

// Two clusters of one daemon run side by side, each on its own network with its own
// TaskManagers and the user's pod labels; stopping one leaves the other running untouched.
func TestTwoClustersRunIsolatedAndStopIndependently(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	a, b := uniqueName("left"), uniqueName("right")
	podLabels := func(team string) string {
		return "  kubernetes:\n    pods:\n      labels:\n        team: " + team + "\n"
	}
	f.write("a.yaml", clusterYAML(a, "RUNNING", 1, podLabels("left")))
	f.write("b.yaml", clusterYAML(b, "RUNNING", 2, podLabels("right")))
	csA := f.waitRunning(a, 1)
	csB := f.waitRunning(b, 2)
	if csA.RESTURL == csB.RESTURL {
		t.Fatalf("both clusters report REST URL %s", csA.RESTURL)
	}

	var nets []string
	for _, n := range f.networks() {
		nets = append(nets, n.Name)
	}
	slices.Sort(nets)
	if diff := cmp.Diff([]string{"flinkd_default_" + a, "flinkd_default_" + b}, nets); diff != "" {
		t.Errorf("networks (-want +got):\n%s", diff)
	}

	check := func(name, team, restURL string, tms int) {
		t.Helper()
		ctrs := f.clusterContainers(name)
		if diff := cmp.Diff(instanceIDs(seq(1, tms)...), sortedKeys(ctrs)); diff != "" {
			t.Errorf("%s: containers by instance (-want +got):\n%s", name, diff)
		}
		var ownPaths []string
		for id, c := range ctrs {
			if c.Labels["team"] != team {
				t.Errorf("%s %s: pod label team = %q, want %q", name, id, c.Labels["team"], team)
			}
			var attached []string
			for n := range c.NetworkSettings.Networks {
				attached = append(attached, n)
			}
			if !cmp.Equal(attached, []string{"flinkd_default_" + name}) {
				t.Errorf("%s %s: attached to %v, want only its own network", name, id, attached)
			}
			if id == "jobmanager" {
				continue
			}
			m := tmEndpoint.FindStringSubmatch(f.containerLogs(c.ID))
			if m == nil {
				t.Fatalf("%s %s: no RPC endpoint line in its log", name, id)
			}
			ownPaths = append(ownPaths, m[1])
		}
		var reported []string
		for _, tm := range taskManagers(t, restURL) {
			reported = append(reported, tm.Path)
		}
		slices.Sort(ownPaths)
		slices.Sort(reported)
		if diff := cmp.Diff(ownPaths, reported); diff != "" {
			t.Errorf("%s: the JobManager's /taskmanagers are not exactly its own TaskManagers (-own +reported):\n%s", name, diff)
		}
	}
	check(a, "left", csA.RESTURL, 1)
	check(b, "right", csB.RESTURL, 2)

	beforeB := containerIDs(f.clusterContainers(b))
	res := f.flinkctl("stop", a, "--wait")
	if res.Code != 0 {
		t.Fatalf("flinkctl stop %s --wait: %s", a, res)
	}
	if ctrs := f.clusterContainers(a); len(ctrs) != 0 {
		t.Errorf("%s still has containers after its stop: %v", a, sortedKeys(ctrs))
	}
	nets = nets[:0]
	for _, n := range f.networks() {
		nets = append(nets, n.Name)
	}
	if !cmp.Equal(nets, []string{"flinkd_default_" + b}) {
		t.Errorf("networks after stopping %s: %v, want only %s's", a, nets, b)
	}
	cs, err := f.status(b)
	if err != nil || cs.Phase != "RUNNING" || cs.TaskManagers.Ready != 2 {
		t.Errorf("%s after stopping %s: phase %s, %d ready (err %v); want RUNNING 2", b, a, cs.Phase, cs.TaskManagers.Ready, err)
	}
	if diff := cmp.Diff(beforeB, containerIDs(f.clusterContainers(b))); diff != "" {
		t.Errorf("stopping %s touched %s's containers (-before +after):\n%s", a, b, diff)
	}
	var ov struct {
		TaskManagers int `json:"taskmanagers"`
	}
	getJSON(t, csB.RESTURL+"/overview", &ov)
	if ov.TaskManagers != 2 {
		t.Errorf("%s's JobManager reports %d TaskManagers after %s stopped, want 2", b, ov.TaskManagers, a)
	}
}
