package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/test/testenv"
)

// autoscaleYAML renders an autoscaled cluster on the stand-in image of 1.20
// (testenv.SimImageOf: FLINK_SIM_REPOSITORY's when set): floor 1, 2 slots per TaskManager,
// at most max, with the given idle timeout.
func autoscaleYAML(t *testing.T, name string, max int, idle string) string {
	t.Helper()
	registry, repository, tag, err := testenv.SplitImage(testenv.SimImageOf(t, dockerClient(t), "1.20"))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`# e2e autoscaled cluster %[1]s
kind: SessionCluster
apiVersion: v1
metadata:
  name: %[1]s
  annotations:
    flinkd.io/autoscale-max-taskmanagers: "%[2]d"
    flinkd.io/autoscale-idle-timeout: %[3]s
spec:
  state: RUNNING
  flinkVersion: "1.20"
  flinkImageRegistry: %[4]s
  flinkImageRepository: %[5]s
  flinkImageTag: "%[6]s"
  numberOfTaskManagers: 1
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 2
    heartbeat.interval: 200
    heartbeat.timeout: 2000
`, name, max, idle, registry, repository, tag)
}

// jobTasks returns a job's task counts from /jobs/overview.
func jobTasks(t *testing.T, restURL, id string) map[string]int {
	t.Helper()
	var ov struct {
		Jobs []struct {
			ID    string         `json:"jid"`
			Tasks map[string]int `json:"tasks"`
		} `json:"jobs"`
	}
	getJSON(t, restURL+"/jobs/overview", &ov)
	for _, j := range ov.Jobs {
		if j.ID == id {
			return j.Tasks
		}
	}
	t.Fatalf("job %s is not in /jobs/overview", id)
	return nil
}

// waitTasksRunning waits until every task of the job is RUNNING.
func waitTasksRunning(t *testing.T, restURL, id string) {
	t.Helper()
	deadline := time.Now().Add(waitLong)
	for {
		tasks := jobTasks(t, restURL, id)
		if tasks["total"] > 0 && tasks["running"] == tasks["total"] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: not every task RUNNING within %s: %v", id, waitLong, tasks)
		}
		time.Sleep(pollInterval) // poll interval
	}
}

// taskManagersCell is the TASKMANAGERS cell of `flinkctl status` for the cluster.
func (f *flinkd) taskManagersCell(name string) string {
	f.t.Helper()
	res := f.flinkctl("status")
	for _, line := range strings.Split(res.Stdout, "\n") {
		cells := strings.Split(line, "\t")
		if len(cells) > 5 && cells[0] == name {
			return cells[5]
		}
	}
	f.t.Fatalf("flinkctl status has no row for %s:\n%s", name, res)
	return ""
}

// passesSince counts the daemon's passes over a cluster logged since start number start.
func (f *flinkd) passesSince(start int, name string) int {
	return len(linesWith(f.logOfStart(start), `"msg":"reconciled"`, `"cluster":"default/`+name+`"`))
}

// waitPasses waits until the daemon has made n more passes over the cluster.
func (f *flinkd) waitPasses(name string, n int) {
	f.t.Helper()
	start := f.starts
	want := f.passesSince(start, name) + n
	deadline := time.Now().Add(waitLong)
	for f.passesSince(start, name) < want {
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: fewer than %d passes within %s", name, n, waitLong)
		}
		time.Sleep(pollInterval) // poll interval
	}
}

func countReason(evs []api.Event, reason string) int {
	n := 0
	for _, e := range evs {
		if e.Reason == reason {
			n++
		}
	}
	return n
}

// The cycle on the real engine: floor 1, 2 slots per TaskManager, maximum 4. A job
// of parallelism 6 gets 3 TaskManagers and every task RUNNING; cancelled, the cluster goes
// back to 1 after the idle timeout. Then, with a small job on taskmanager-1 while the others
// idle, only the idle ones go and the small job never restarts.
func TestAutoscaleFollowsTheJobsOnTheEngine(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("auto")
	f.write("auto.yaml", autoscaleYAML(t, name, 4, "5s"))
	cs := f.waitRunning(name, 1)
	rest := cs.RESTURL
	if cell := f.taskManagersCell(name); cell != "1/1 (1–4 auto)" {
		t.Errorf("status TASKMANAGERS = %q, want 1/1 (1–4 auto)", cell)
	}

	wide := submitJob(t, rest, "wide", 6)
	waitTasksRunning(t, rest, wide)
	cs = f.waitRunning(name, 3)
	f.waitEvent(name, "AutoscaledUp", "from 1 to 3 TaskManagers: job Flink Streaming Job ("+wide+") waits for slots")
	if cell := f.taskManagersCell(name); cell != "3/3 (1–4 auto)" {
		t.Errorf("status TASKMANAGERS = %q, want 3/3 (1–4 auto)", cell)
	}
	var st api.ClusterStatus
	if res := f.flinkctl("status", name, "-o", "json"); res.Code != 0 || json.Unmarshal([]byte(res.Stdout), &st) != nil {
		t.Fatalf("status -o json: %s", res)
	}
	want := api.TaskManagers{Desired: 3, Ready: 3, Autoscale: &api.Autoscale{Min: 1, Max: 4, IdleTimeout: "5s"}}
	if diff := cmp.Diff(want, st.TaskManagers); diff != "" {
		t.Errorf("status -o json taskManagers (-want +got):\n%s", diff)
	}

	cancelJob(t, rest, wide)
	waitJobState(t, rest, wide, "CANCELED")
	if n := len(f.clusterContainers(name)); n != 4 {
		t.Errorf("right after the cancel %d containers run, want 4 until the idle timeout", n)
	}
	f.waitRunning(name, 1)
	f.waitEvent(name, "AutoscaledDown", "from 3 to 1 TaskManagers: taskmanager-3, taskmanager-2 had no slot in use for 5s")
	if diff := cmp.Diff(instanceIDs(1), sortedKeys(f.clusterContainers(name))); diff != "" {
		t.Errorf("after the down, containers (-want +got):\n%s", diff)
	}

	// Again, but a small job takes a slot on taskmanager-1 before the idle timeout.
	wide = submitJob(t, rest, "wide", 6)
	waitTasksRunning(t, rest, wide)
	f.waitRunning(name, 3)
	before := containerIDs(f.clusterContainers(name))
	cancelJob(t, rest, wide)
	waitJobState(t, rest, wide, "CANCELED")
	small := submitJob(t, rest, "small", 1)
	waitTasksRunning(t, rest, small)
	if on := taskManagersOf(t, rest, small); !cmp.Equal(on, []string{"taskmanager-1"}) {
		t.Fatalf("the small job runs on %v; the test needs taskmanager-1", on)
	}
	f.waitRunning(name, 1)
	after := containerIDs(f.clusterContainers(name))
	if diff := cmp.Diff(instanceIDs(1), sortedKeys(after)); diff != "" {
		t.Errorf("after the second down, containers (-want +got):\n%s", diff)
	}
	if after["taskmanager-1"] != before["taskmanager-1"] {
		t.Error("taskmanager-1, which runs the small job, was replaced")
	}
	if n := jobRestarts(t, rest, small); n != 0 {
		t.Errorf("the small job restarted %d times", n)
	}
}

// A job of parallelism 20 on a maximum of 4 TaskManagers of 2 slots: the cluster stops at 4,
// and status and one event say what the maximum holds back.
func TestAutoscaleStopsAtTheMaximumOnTheEngine(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("automax")
	f.write("automax.yaml", autoscaleYAML(t, name, 4, "1m"))
	rest := f.waitRunning(name, 1).RESTURL
	job := submitJob(t, rest, "huge", 20)
	limited := "job Flink Streaming Job (" + job + ") wants 20 slots; 8 at the maximum of 4 TaskManagers"
	cs := f.waitCluster(name, "RUNNING with 4 TaskManagers, saying what the maximum holds back", func(cs api.ClusterStatus) bool {
		return cs.Phase == "RUNNING" && cs.TaskManagers.Ready == 4 && strings.Contains(cs.Message, limited)
	})
	if a := cs.TaskManagers.Autoscale; a == nil || a.Limited != limited {
		t.Errorf("status taskManagers.autoscale = %+v, want limited %q", a, limited)
	}
	f.waitEvent(name, "AutoscaleLimited", limited)
	f.waitPasses(name, 3)
	if n := countReason(f.events(name), "AutoscaleLimited"); n != 1 {
		t.Errorf("%d AutoscaleLimited events, want 1:\n%s", n, formatEvents(f.events(name)))
	}
	if tasks := jobTasks(t, rest, job); tasks["scheduled"] != 20 {
		t.Errorf("job tasks = %v, want all 20 SCHEDULED (waiting for slots)", tasks)
	}
}

// SIGKILL flinkd while autoscaled to 3 with a job: after the restart the cluster still runs 3
// TaskManagers, the same containers, and the job never restarted.
func TestAutoscaledCountSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("autokill")
	f.write("autokill.yaml", autoscaleYAML(t, name, 4, "5s"))
	rest := f.waitRunning(name, 1).RESTURL
	job := submitJob(t, rest, "wide", 6)
	waitTasksRunning(t, rest, job)
	f.waitRunning(name, 3)
	before := containerIDs(f.clusterContainers(name))

	f.kill()
	f.start()
	f.waitPasses(name, 3)
	after := containerIDs(f.clusterContainers(name))
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("containers across the restart (-before +after):\n%s", diff)
	}
	if cell := f.taskManagersCell(name); cell != "3/3 (1–4 auto)" {
		t.Errorf("status TASKMANAGERS = %q, want 3/3 (1–4 auto)", cell)
	}
	if n := jobRestarts(t, rest, job); n != 0 {
		t.Errorf("the job restarted %d times", n)
	}
	waitTasksRunning(t, rest, job)
}
