package daemon

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/autoscale"
	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/flink"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

// autoscaleYAML is a cluster of floor tms, 2 slots per TaskManager, autoscaled up to max with
// the given idle timeout.
func autoscaleYAML(name string, tms, max int, idle string) string {
	return fmt.Sprintf(`kind: SessionCluster
apiVersion: v1
metadata:
  name: %[1]s
  annotations:
    flinkd.io/autoscale-max-taskmanagers: "%[3]d"
    flinkd.io/autoscale-idle-timeout: %[4]s
spec:
  state: RUNNING
  flinkVersion: "1.20"
  flinkImageRegistry: localhost
  flinkImageRepository: flink-sim
  flinkImageTag: "1.20"
  numberOfTaskManagers: %[2]d
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 2
    heartbeat.interval: 100
    heartbeat.timeout: 1000
`, name, tms, max, idle)
}

// jobTasks returns the job's task counts of /jobs/overview.
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

func waitAllTasksRunning(t *testing.T, restURL, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		tasks := jobTasks(t, restURL, id)
		if tasks["total"] > 0 && tasks["running"] == tasks["total"] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: not every task RUNNING within 30s: %v", id, tasks)
		}
		waitABit()
	}
}

func countEvents(evs []db.Event, reason string) int {
	n := 0
	for _, e := range evs {
		if e.Reason == reason {
			n++
		}
	}
	return n
}

func TestAutoscaleAddsTaskManagersForAWaitingJobAndRemovesIdleOnesAfterTheIdleTimeout(t *testing.T) {
	h := newHarness(t)
	h.write("a.yaml", autoscaleYAML("a", 1, 4, "3s"))
	c := h.waitRunning("a", 1)
	rest := c.RESTURL

	job := submitJob(t, rest, "wide", 6)
	h.waitRunning("a", 3)
	waitAllTasksRunning(t, rest, job)
	h.waitEvent("a", "AutoscaledUp", "from 1 to 3 TaskManagers: job Flink Streaming Job ("+job+") waits for slots")
	st := autoscaleStatus(h.waitRunning("a", 3).Autoscale)
	if st == nil || st.Min != 1 || st.Max != 4 || st.IdleTimeout != "3s" {
		t.Errorf("status autoscale = %+v, want 1 to 4, idle timeout 3s", st)
	}

	cancelJob(t, rest, job)
	waitJobState(t, rest, job, "CANCELED")
	if obs := h.observe("a"); len(obs.TaskManagers) != 3 {
		t.Fatalf("right after the cancel %d TaskManagers run, want 3 until the idle timeout", len(obs.TaskManagers))
	}
	h.waitRunning("a", 1)
	h.waitEvent("a", "AutoscaledDown", "from 3 to 1 TaskManagers: taskmanager-3, taskmanager-2 had no slot in use for 3s")
	if ids := instanceIDsOf(h.observe("a")); ids != "taskmanager-1" {
		t.Errorf("after the down %s run, want taskmanager-1", ids)
	}
	if evs := h.events("a"); countEvents(evs, "ScalingUp")+countEvents(evs, "ScalingDown") != 0 {
		t.Errorf("the autoscaler's moves also made ScalingUp/ScalingDown events: %+v", evs)
	}
}

func TestAutoscaleStopsAtTheMaximumAndSaysSoOnce(t *testing.T) {
	h := newHarness(t)
	h.write("b.yaml", autoscaleYAML("b", 1, 3, "1m"))
	rest := h.waitRunning("b", 1).RESTURL
	job := submitJob(t, rest, "huge", 20)
	want := "job Flink Streaming Job (" + job + ") wants 20 slots; 6 at the maximum of 3 TaskManagers"
	c := h.waitCluster("b", "RUNNING at the maximum, saying so", func(c db.Cluster) bool {
		return c.Phase == "RUNNING" && c.TMReady == 3 && strings.Contains(c.Message, want)
	})
	if st := autoscaleStatus(c.Autoscale); st == nil || st.Limited != want {
		t.Errorf("status autoscale = %+v, want limited %q", st, want)
	}
	h.waitEvent("b", "AutoscaleLimited", want)
	// Many passes later, still one event.
	for range 3 {
		before := h.passes("b")
		h.waitCluster("b", "another pass", func(db.Cluster) bool { return h.passes("b") > before })
	}
	if n := countEvents(h.events("b"), "AutoscaleLimited"); n != 1 {
		t.Errorf("%d AutoscaleLimited events, want 1", n)
	}
}

func TestAutoscaleDownKeepsTheTaskManagerOfARunningJob(t *testing.T) {
	h := newHarness(t)
	h.write("c.yaml", autoscaleYAML("c", 1, 4, "2s"))
	rest := h.waitRunning("c", 1).RESTURL
	wide := submitJob(t, rest, "wide", 6)
	h.waitRunning("c", 3)
	waitAllTasksRunning(t, rest, wide)
	cancelJob(t, rest, wide)
	waitJobState(t, rest, wide, "CANCELED")
	// Slots go one per TaskManager in turn, in ID order: a small job takes taskmanager-1.
	small := submitJob(t, rest, "small", 1)
	waitAllTasksRunning(t, rest, small)
	if on := taskManagersOf(t, rest, small); len(on) != 1 || on[0] != "taskmanager-1" {
		t.Fatalf("the small job runs on %v; the test needs taskmanager-1", on)
	}
	h.waitRunning("c", 1)
	if ids := instanceIDsOf(h.observe("c")); ids != "taskmanager-1" {
		t.Errorf("after the down %s run, want taskmanager-1", ids)
	}
	if n := jobRestarts(t, rest, small); n != 0 {
		t.Errorf("the small job restarted %d times", n)
	}
}

func TestAutoscaledCountSurvivesARestartOfFlinkd(t *testing.T) {
	h := newHarness(t)
	h.write("d.yaml", autoscaleYAML("d", 1, 4, "1s"))
	rest := h.waitRunning("d", 1).RESTURL
	job := submitJob(t, rest, "wide", 6)
	h.waitRunning("d", 3)
	waitAllTasksRunning(t, rest, job)

	h.stop()
	h.start()
	for range 3 {
		before := h.passes("d")
		h.waitCluster("d", "another pass", func(db.Cluster) bool { return h.passes("d") > before })
		if obs := h.observe("d"); len(obs.TaskManagers) != 3 {
			t.Fatalf("after the restart %d TaskManagers run, want 3", len(obs.TaskManagers))
		}
	}
	if n := jobRestarts(t, rest, job); n != 0 {
		t.Errorf("the job restarted %d times across the restart of flinkd", n)
	}
}

func TestAutoscaleBoundsFollowTheFile(t *testing.T) {
	h := newHarness(t)
	h.write("e.yaml", autoscaleYAML("e", 1, 4, "1h"))
	rest := h.waitRunning("e", 1).RESTURL
	job := submitJob(t, rest, "wide", 6)
	h.waitRunning("e", 3)
	waitAllTasksRunning(t, rest, job)

	// A raised floor applies at once.
	h.write("e.yaml", autoscaleYAML("e", 4, 4, "1h"))
	h.waitRunning("e", 4)
	// A lowered floor leaves the count to the autoscaler (the idle timeout is an hour).
	h.write("e.yaml", autoscaleYAML("e", 1, 4, "1h"))
	c := h.waitCluster("e", "the new floor recorded", func(c db.Cluster) bool {
		st := autoscaleStatus(c.Autoscale)
		return st != nil && st.Min == 1
	})
	if c.TMDesired != 4 {
		t.Errorf("lowering the floor changed the count to %d, want 4 until the idle timeout", c.TMDesired)
	}
	// Without the annotations the cluster runs its numberOfTaskManagers; idle ones go.
	plain := autoscaleYAML("e", 3, 4, "1h")
	plain = strings.Replace(plain, "  annotations:\n    flinkd.io/autoscale-max-taskmanagers: \"4\"\n    flinkd.io/autoscale-idle-timeout: 1h\n", "", 1)
	h.write("e.yaml", plain)
	c = h.waitRunning("e", 3)
	if c.Autoscale != nil {
		t.Errorf("autoscaler state kept after the annotations went: %s", c.Autoscale)
	}
}

func TestStoppedAutoscaledClusterStartsAgainAtItsFloor(t *testing.T) {
	h := newHarness(t)
	h.write("f.yaml", autoscaleYAML("f", 1, 4, "1h"))
	rest := h.waitRunning("f", 1).RESTURL
	job := submitJob(t, rest, "wide", 4)
	h.waitRunning("f", 2)
	waitAllTasksRunning(t, rest, job)
	cancelJob(t, rest, job)
	waitJobState(t, rest, job, "CANCELED")

	h.write("f.yaml", strings.Replace(autoscaleYAML("f", 1, 4, "1h"), "state: RUNNING", "state: STOPPED", 1))
	c := h.waitPhase("f", "STOPPED")
	if c.Autoscale != nil {
		t.Errorf("a stopped cluster keeps autoscaler state %s", c.Autoscale)
	}
	h.write("f.yaml", autoscaleYAML("f", 1, 4, "1h"))
	h.waitRunning("f", 1)
}

// instanceIDsOf lists the TaskManagers the runtime runs, sorted, comma-separated.
func instanceIDsOf(obs runtime.Observed) string {
	var ids []string
	for _, tm := range obs.TaskManagers {
		ids = append(ids, tm.ID)
	}
	slices.SortFunc(ids, runtime.CompareInstanceIDs)
	return strings.Join(ids, ",")
}

// passes counts the daemon's passes over a cluster so far (one Observe each).
func (h *harness) passes(name string) int {
	n := 0
	for _, c := range h.rt.Calls() {
		if c.Op == "observe" && c.Key == key(name) {
			n++
		}
	}
	return n
}

func cancelJob(t *testing.T, restURL, id string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, restURL+"/jobs/"+id+"?mode=cancel", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel job %s: %s", id, resp.Status)
	}
}

func TestDecideWithAutoscale(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	auto, _, err := spec.Decode([]byte(autoscaleYAML("wc", 1, 4, "2m")))
	if err != nil {
		t.Fatal(err)
	}
	h := auto.Hash()
	state := func(count int) []byte {
		return []byte(fmt.Sprintf(`{"min":1,"max":4,"idleTimeout":"2m0s","count":%d}`, count))
	}
	tm := func(id string, free int) flink.TaskManager {
		return flink.TaskManager{ID: id, SlotsNumber: 2, FreeSlots: free}
	}
	waiting := flink.Job{ID: "j1", Name: "wordcount", State: "RUNNING", Tasks: flink.Tasks{Total: 6, Scheduled: 6}}
	view := func(registered int, tms []flink.TaskManager, jobs ...autoscale.Job) flinkView {
		fv := answered(registered, tms)
		fv.Autoscale = &autoscaleView{Jobs: jobs}
		return fv
	}
	for _, tc := range []struct {
		name    string
		in      input
		want    string // "action phase [removeFirst] | events"
		count   int    // TaskManagers of the decision
		message string
	}{
		{name: "a new autoscaled cluster starts at its floor",
			in:   input{Desired: auto, Recorded: db.Status{Phase: "STOPPED"}},
			want: "apply STARTING [] | Starting", count: 1},
		{name: "a waiting job scales up",
			in: input{Desired: auto, Running: auto, Recorded: db.Status{Phase: "RUNNING", TMDesired: 1}, Autoscale: state(1),
				Obs:   up(h, "taskmanager-1"),
				Flink: view(1, []flink.TaskManager{tm("taskmanager-1", 0)}, autoscale.FromFlink(waiting, flink.JobDetail{Vertices: []flink.Vertex{{ID: "v", Parallelism: 6}}}, nil))},
			want: "apply SCALING [] | AutoscaledUp Scaling", count: 3},
		{name: "without the JobManager's answer the recorded count stays (a restart of flinkd)",
			in: input{Desired: auto, Running: auto, Recorded: db.Status{Phase: "RUNNING", TMDesired: 3}, Autoscale: state(3),
				Obs: up(h, "taskmanager-1", "taskmanager-2", "taskmanager-3"), Flink: flinkView{Asked: true, Err: errors.New("refused")}},
			want: "none SCALING [] | Scaling", count: 3},
		{name: "an incomplete autoscaler view decides nothing",
			in: input{Desired: auto, Running: auto, Recorded: db.Status{Phase: "RUNNING", TMDesired: 3}, Autoscale: state(3),
				Obs: up(h, "taskmanager-1", "taskmanager-2", "taskmanager-3"),
				Flink: func() flinkView {
					fv := view(3, []flink.TaskManager{tm("taskmanager-1", 2), tm("taskmanager-2", 2), tm("taskmanager-3", 2)})
					fv.Autoscale.Err = errors.New("read job j1: HTTP 500")
					return fv
				}()},
			want: "none RUNNING [] |", count: 3},
		{name: "idle TaskManagers go after the idle timeout, the chosen ones first",
			in: input{Desired: auto, Running: auto, Recorded: db.Status{Phase: "RUNNING", TMDesired: 3}, Now: now,
				Autoscale: []byte(`{"min":1,"max":4,"idleTimeout":"2m0s","count":3,"idleSince":{"taskmanager-2":"2026-11-24T11:50:00Z","taskmanager-3":"2026-11-24T11:50:00Z"}}`),
				Obs:       up(h, "taskmanager-1", "taskmanager-2", "taskmanager-3"),
				Flink:     view(3, []flink.TaskManager{tm("taskmanager-1", 1), tm("taskmanager-2", 2), tm("taskmanager-3", 2)}, autoscale.Job{ID: "j2", Name: "small"})},
			want: "apply SCALING [taskmanager-3 taskmanager-2] | AutoscaledDown Scaling", count: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Key = key("wc")
			if tc.in.Now.IsZero() {
				tc.in.Now = now
			}
			d := decide(tc.in)
			if got := render(d); got != tc.want {
				t.Errorf("decide:\n got  %s\n want %s\n message %q", got, tc.want, d.Status.Message)
			}
			if d.Status.TMDesired != tc.count {
				t.Errorf("TaskManagers = %d, want %d", d.Status.TMDesired, tc.count)
			}
			if d.Action == actApply && d.Cluster.TaskManagers != tc.count {
				t.Errorf("applied TaskManagers = %d, want %d", d.Cluster.TaskManagers, tc.count)
			}
			if !strings.Contains(d.Status.Message, tc.message) {
				t.Errorf("message %q does not contain %q", d.Status.Message, tc.message)
			}
		})
	}
}

func TestAStoppingAutoscaledClusterKeepsItsStateUntilStopped(t *testing.T) {
	auto, _, err := spec.Decode([]byte(strings.Replace(autoscaleYAML("wc", 1, 4, "2m"), "state: RUNNING", "state: STOPPED", 1)))
	if err != nil {
		t.Fatal(err)
	}
	rec := []byte(`{"min":1,"max":4,"idleTimeout":"2m0s","count":3}`)
	in := input{Key: key("wc"), Desired: auto, Running: auto, Recorded: db.Status{Phase: "RUNNING", TMDesired: 3}, Autoscale: rec,
		Obs: up(auto.Hash(), "taskmanager-1"), Flink: answered(1, nil)}
	if d := decide(in); d.Action != actDelete || d.setAutoscale {
		t.Errorf("stopping: action %s, setAutoscale %v; want a delete that keeps the state", d.Action, d.setAutoscale)
	}
	in.Obs = runtime.Observed{}
	if d := decide(in); d.Status.Phase != spec.PhaseStopped || !d.setAutoscale || d.Autoscale != nil {
		t.Errorf("stopped: phase %s, setAutoscale %v, state %s; want the state cleared", d.Status.Phase, d.setAutoscale, d.Autoscale)
	}
}

// Under the adaptive scheduler a job runs with the slots it gets and wants its upper bound
// (/jobs/:jobid/resource-requirements): the autoscaler adds TaskManagers until the job runs
// at its full parallelism.
func TestAutoscaleServesAnAdaptiveJobUpToItsUpperBound(t *testing.T) {
	h := newHarness(t)
	yaml := strings.Replace(autoscaleYAML("g", 1, 4, "1h"), "    taskmanager.numberOfTaskSlots: 2\n",
		"    taskmanager.numberOfTaskSlots: 2\n    jobmanager.scheduler: adaptive\n"+
			"    jobmanager.adaptive-scheduler.resource-stabilization-timeout: 200 ms\n"+
			"    jobmanager.adaptive-scheduler.scaling-interval.min: 500 ms\n", 1)
	h.write("g.yaml", yaml)
	rest := h.waitRunning("g", 1).RESTURL
	job := submitJob(t, rest, "adaptive", 6)
	h.waitRunning("g", 3)
	deadline := time.Now().Add(30 * time.Second)
	for jobTasks(t, rest, job)["running"] != 6 {
		if time.Now().After(deadline) {
			t.Fatalf("the adaptive job does not run at parallelism 6: %v", jobTasks(t, rest, job))
		}
		waitABit()
	}
	h.waitEvent("g", "AutoscaledUp", "job Flink Streaming Job ("+job+")")
	c := h.waitRunning("g", 3)
	if strings.Contains(c.Message, "maximum") {
		t.Errorf("status says the maximum holds the job back: %q", c.Message)
	}
}
