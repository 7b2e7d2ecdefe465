package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	dockerclient "github.com/docker/docker/client"
	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/runtime"
)

// A user's streaming job on a 2-TaskManager cluster of Flink 2.2: one of Flink's own example
// jobs (WindowJoin of flink-examples-streaming, on real Flink; the stand-in runs any jar),
// uploaded through the JobManager's REST API, runs on one TaskManager. Scaling down to one
// removes the other, idle one: the job's TaskManager and the JobManager keep their
// containers, and the job is not restarted (same job, same start, no exception, every task
// still running where it ran). Then a stop is held while the job runs: flinkctl stop refuses
// naming the job, and a spec edit to STOPPED leaves everything running with status saying
// why. flinkctl stop --force cancels the job, and the cluster goes with nothing labelled
// left.
func TestAnExampleJobSurvivesAScaleDownHoldsAStopAndIsCancelledByForce(t *testing.T) {
	t.Parallel()
	onEachImage(t, func(t *testing.T, k flinkImages) {
		image := k.image(t, "2.2")
		f := k.newFlinkd(t)
		name := uniqueName("job")
		spec := func(state string, tms int) string {
			s := fidelitySpec(t, k, name, "2.2", image, tms, map[string]string{"taskmanager.numberOfTaskSlots": "1"}, "")
			return replaceOnce(t, s, "  state: RUNNING\n", "  state: "+state+"\n")
		}
		file := f.write(name+".yaml", spec("RUNNING", 2))
		cs := f.waitRunning(name, 2)
		rest := cs.RESTURL
		before := containerIDs(f.clusterContainers(name))

		jar := exampleJar(t, k, f, before["jobmanager"], "WindowJoin.jar")
		job := runJar(t, rest, "WindowJoin.jar", jar, 1)
		waitTasksRunning(t, rest, job)
		tasks := jobTasks(t, rest, job)
		busy := taskManagersOf(t, rest, job)
		if len(busy) != 1 {
			t.Fatalf("the job (parallelism 1, one slot per TaskManager) holds slots on %v, want one TaskManager", busy)
		}
		idle := "taskmanager-1"
		if busy[0] == idle {
			idle = "taskmanager-2"
		}
		start := jobDetail(t, rest, job).StartTime
		t.Logf("job %s runs on %s (tasks %v); %s is idle", job, busy[0], tasks, idle)

		// Scale down: the idle TaskManager goes, the job stays where it is.
		f.write(name+".yaml", spec("RUNNING", 1))
		f.waitRunning(name, 1)
		after := containerIDs(f.clusterContainers(name))
		want := map[string]string{"jobmanager": before["jobmanager"], busy[0]: before[busy[0]]}
		if diff := cmp.Diff(want, after); diff != "" {
			t.Errorf("containers after the scale-down (-want +got):\n%s", diff)
		}
		if evs := f.events(name); !hasEvent(evs, "ScalingDown", "removing idle ones: "+idle) {
			t.Errorf("no ScalingDown event naming %s as the idle one to remove; events:\n%s", idle, formatEvents(evs))
		}
		d := jobDetail(t, rest, job)
		if d.State != "RUNNING" || d.StartTime != start {
			t.Errorf("after the scale-down the job is %s, started at %d; want RUNNING, started at %d", d.State, d.StartTime, start)
		}
		if n := jobRestarts(t, rest, job); n != 0 {
			t.Errorf("the job has %d exception(s) after the scale-down; want none (not restarted)", n)
		}
		if got := jobTasks(t, rest, job); got["running"] != got["total"] || got["total"] != tasks["total"] {
			t.Errorf("after the scale-down the job's tasks are %v, want all %d running", got, tasks["total"])
		}
		if got := taskManagersOf(t, rest, job); !cmp.Equal(got, busy) {
			t.Errorf("after the scale-down the job runs on %v, want %v", got, busy)
		}

		// A stop is held while the job runs: flinkctl refuses, naming the job ...
		running := spec("RUNNING", 1)
		res := f.flinkctl("stop", name)
		if res.Code != 1 || !strings.Contains(res.Stderr, "refused: 1 job(s) running") ||
			!strings.Contains(res.Stderr, job) || !strings.Contains(res.Stderr, "--force") {
			t.Errorf("flinkctl stop with the job running: want exit 1 naming job %s and --force, got %s", job, res)
		}
		if b, err := os.ReadFile(file); err != nil || string(b) != running {
			t.Errorf("the refused stop changed the file (err %v):\n%s", err, b)
		}
		// ... and a spec edit to STOPPED is held, with the reason in status.
		f.write(name+".yaml", spec("STOPPED", 1))
		held := f.waitCluster(name, "holding the stop for the job", func(cs api.ClusterStatus) bool {
			return cs.DesiredState == "STOPPED" && strings.HasPrefix(cs.Message, "stop held: ") && strings.Contains(cs.Message, job)
		})
		t.Logf("status while the stop is held: phase %s, %s", held.Phase, held.Message)
		f.waitEvent(name, "StopHeld", job)
		if got := containerIDs(f.clusterContainers(name)); !cmp.Equal(got, after) {
			t.Errorf("containers while the stop is held: %v, want %v", got, after)
		}
		if s := jobState(t, rest, job); s != "RUNNING" {
			t.Errorf("the job is %s while the stop is held, want RUNNING", s)
		}

		// stop --force cancels the job, and the cluster goes.
		res = f.flinkctl("stop", name, "--force", "--wait")
		if res.Code != 0 || !strings.Contains(res.Stderr, "cancelled 1 job(s)") || !strings.Contains(res.Stderr, job) ||
			!strings.Contains(res.Stderr, "is STOPPED") {
			t.Fatalf("flinkctl stop --force --wait: want it to cancel %s and end STOPPED, got %s", job, res)
		}
		f.waitEvent(name, "JobsCancelled", job)
		if cs, err := f.status(name); err != nil || cs.Phase != "STOPPED" {
			t.Errorf("status after stop --force --wait: phase %s (err %v), want STOPPED", cs.Phase, err)
		}
		if left := labelledLeft(t, f.docker, name); len(left) > 0 {
			t.Errorf("left after the stop, labelled for %s: %v", name, left)
		}
	})
}

func hasEvent(evs []api.Event, reason, contains string) bool {
	_, ok := findEvent(evs, reason, contains)
	return ok
}

// jobInfo is the part of GET /jobs/:id a test compares.
type jobInfo struct {
	State     string `json:"state"`
	StartTime int64  `json:"start-time"`
}

func jobDetail(t *testing.T, rest, job string) jobInfo {
	t.Helper()
	var j jobInfo
	getJSON(t, rest+"/jobs/"+job, &j)
	return j
}

// labelledLeft lists the containers and networks on the engine that carry flinkd's labels
// for cluster default/name, whoever owns them.
func labelledLeft(t *testing.T, cli *dockerclient.Client, name string) []string {
	t.Helper()
	flt := filters.NewArgs(
		filters.Arg("label", runtime.LabelManagedBy+"="+runtime.ManagedByValue),
		filters.Arg("label", runtime.LabelInstance+"="+name),
	)
	ctrs, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: flt})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	nets, err := cli.NetworkList(t.Context(), network.ListOptions{Filters: flt})
	if err != nil {
		t.Fatalf("list networks: %v", err)
	}
	var left []string
	for _, c := range ctrs {
		left = append(left, fmt.Sprintf("container %v (%s)", c.Names, c.State))
	}
	for _, n := range nets {
		left = append(left, "network "+n.Name)
	}
	return left
}
