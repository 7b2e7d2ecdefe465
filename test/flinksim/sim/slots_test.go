package sim

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runJobWith submits a job with the given program arguments and parallelism.
func runJobWith(t *testing.T, c *testCluster, parallelism int, args ...string) string {
	t.Helper()
	jar := uploadJar(t, c)
	list, _ := json.Marshal(append([]string{"--name", "shaped"}, args...))
	body := `{"parallelism":` + strconv.Itoa(parallelism) + `,"programArgsList":` + string(list) + `}`
	return obj(t, doJSON(t, http.MethodPost, c.rest+"/jars/"+jar+"/run", body, 200))["jobid"].(string)
}

// jobTasks is the job's "tasks" in /jobs/overview.
func jobTasks(t *testing.T, c *testCluster, id string) map[string]any {
	t.Helper()
	for _, j := range arr(t, obj(t, getJSON(t, c.rest+"/jobs/overview", 200))["jobs"]) {
		if obj(t, j)["jid"] == id {
			return obj(t, obj(t, j)["tasks"])
		}
	}
	t.Fatalf("job %s is not in /jobs/overview", id)
	return nil
}

// waitTasks waits until n tasks of the job are in state (lower case, as /jobs/overview).
func waitTasks(t *testing.T, c *testCluster, id, state string, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, strconv.Itoa(n)+" tasks of job "+id+" "+state, func() bool {
		return jobTasks(t, c, id)[state] == float64(n)
	})
}

func startJobManagerVersion(t *testing.T, version string, conf map[string]string) *testCluster {
	t.Helper()
	log := &syncBuffer{}
	jm, err := StartJobManager(t.Context(), JobManagerConfig{
		Config: conf, RPCAddr: "127.0.0.1:0", RESTAddr: "127.0.0.1:0", Log: log, Version: version,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = jm.Close() })
	return &testCluster{jm: jm, log: log, conf: conf, rest: jm.RESTURL()}
}

func heldSlots(t *testing.T, c *testCluster, tmID, jobID string) int {
	t.Helper()
	n := 0
	for _, s := range arr(t, obj(t, getJSON(t, c.rest+"/taskmanagers/"+tmID, 200))["allocatedSlots"]) {
		if obj(t, s)["jobId"] == jobID {
			n++
		}
	}
	return n
}

func TestJobWithoutEnoughSlotsRunsWithItsTasksScheduledAndHoldsTheSlotsItGot(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	c.addTaskManager(t, "tm-a", 2, nil)
	c.waitTaskManagers(t, 1)
	id := runJob(t, c, 3)

	// The default scheduler: the ExecutionGraph is RUNNING, every task SCHEDULED, and the
	// two free slots are the job's already.
	waitJobState(t, c, id, StateRunning)
	waitTasks(t, c, id, "scheduled", 3)
	if tasks := jobTasks(t, c, id); tasks["total"] != float64(3) || tasks["running"] != float64(0) {
		t.Errorf("tasks = %v, want 3 in total, none running", tasks)
	}
	if o := c.overview(t); o["slots-available"] != float64(0) {
		t.Errorf("slots-available = %v: the waiting job should hold the 2 slots it got", o["slots-available"])
	}
	if n := heldSlots(t, c, "tm-a", id); n != 2 {
		t.Errorf("tm-a holds %d slots of the job, want 2", n)
	}
	v := obj(t, arr(t, obj(t, getJSON(t, c.rest+"/jobs/"+id, 200))["vertices"])[0])
	if v["parallelism"] != float64(3) || v["status"] != "CREATED" || obj(t, v["tasks"])["SCHEDULED"] != float64(3) {
		t.Errorf("vertex = %v, want parallelism 3, status CREATED, 3 tasks SCHEDULED", v)
	}

	// A TaskManager registers: the waiting tasks are deployed.
	c.addTaskManager(t, "tm-b", 1, nil)
	waitTasks(t, c, id, "running", 3)
	if n := heldSlots(t, c, "tm-b", id); n != 1 {
		t.Errorf("tm-b holds %d slots of the job, want 1", n)
	}
}

func TestADeployedVertexRunsWithAStartTime(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	c.addTaskManager(t, "tm-a", 1, nil)
	c.waitTaskManagers(t, 1)
	id := runJob(t, c, 1)
	waitTasks(t, c, id, "running", 1)
	detail := obj(t, getJSON(t, c.rest+"/jobs/"+id, 200))
	v := obj(t, arr(t, detail["vertices"])[0])
	if v["status"] != "RUNNING" || v["start-time"] == float64(-1) {
		t.Errorf("vertex = %v, want RUNNING with a start time", v)
	}
	for _, want := range []string{"switched from state CREATED to RUNNING"} {
		if !strings.Contains(c.log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestAJobNeedsItsLargestParallelismPerSlotSharingGroup(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	c.addTaskManager(t, "tm-a", 5, nil)
	c.waitTaskManagers(t, 1)
	// source 1 and map 4 share the default group (4 slots); the sink has a group of its own (2).
	id := runJobWith(t, c, 4, "--vertex", "source=1", "--vertex", "map", "--vertex", "sink=2@sinks")
	waitTasks(t, c, id, "scheduled", 7)
	if o := c.overview(t); o["slots-available"] != float64(0) {
		t.Errorf("slots-available = %v, want the job to hold all 5", o["slots-available"])
	}
	c.addTaskManager(t, "tm-b", 1, nil)
	waitTasks(t, c, id, "running", 7)

	detail := obj(t, getJSON(t, c.rest+"/jobs/"+id, 200))
	var got []string
	groups := map[string][]string{}
	for _, v := range arr(t, detail["vertices"]) {
		vm := obj(t, v)
		got = append(got, vm["name"].(string)+"="+strconv.Itoa(int(vm["parallelism"].(float64)))+" "+vm["status"].(string))
		g, _ := vm["slotSharingGroupId"].(string)
		if !hex32.MatchString(g) {
			t.Errorf("vertex %v: slotSharingGroupId %q is not 32 hex", vm["name"], g)
		}
		groups[g] = append(groups[g], vm["name"].(string))
	}
	if diff := cmp.Diff([]string{"source=1 RUNNING", "map=4 RUNNING", "sink=2 RUNNING"}, got); diff != "" {
		t.Errorf("vertices (-want +got):\n%s", diff)
	}
	var shapes [][]string
	for _, names := range groups {
		shapes = append(shapes, names)
	}
	slices.SortFunc(shapes, func(a, b []string) int { return len(b) - len(a) })
	if diff := cmp.Diff([][]string{{"source", "map"}, {"sink"}}, shapes); diff != "" {
		t.Errorf("vertices by slot sharing group (-want +got):\n%s", diff)
	}
	if counts := obj(t, detail["status-counts"]); counts["RUNNING"] != float64(3) {
		t.Errorf("status-counts = %v, want the 3 vertices RUNNING", counts)
	}
}

func TestFlink118ReportsNoSlotSharingGroup(t *testing.T) {
	c := startJobManagerVersion(t, "1.18", testConf(nil))
	id := runJob(t, c, 2)
	waitTasks(t, c, id, "scheduled", 2)
	v := obj(t, arr(t, obj(t, getJSON(t, c.rest+"/jobs/"+id, 200))["vertices"])[0])
	if _, ok := v["slotSharingGroupId"]; ok {
		t.Errorf("a 1.18 vertex reports slotSharingGroupId: %v", v)
	}
}

func TestSlotRequestTimeoutFailsTheTasksAndTheRestartStrategyApplies(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{"slot.request.timeout": "300 ms", "restart-strategy.fixed-delay.attempts": "1000"}))
	id := runJob(t, c, 2) // no TaskManager at all
	waitFor(t, 10*time.Second, "an exception history entry", func() bool {
		h := obj(t, obj(t, getJSON(t, c.rest+"/jobs/"+id+"/exceptions", 200))["exceptionHistory"])
		return len(arr(t, h["entries"])) >= 1
	})
	ex := obj(t, getJSON(t, c.rest+"/jobs/"+id+"/exceptions", 200))
	entries := arr(t, obj(t, ex["exceptionHistory"])["entries"])
	e := obj(t, entries[len(entries)-1])
	if e["exceptionName"] != "org.apache.flink.runtime.jobmanager.scheduler.NoResourceAvailableException" ||
		!strings.Contains(e["stacktrace"].(string), "Slot request bulk is not fulfillable! Could not allocate the required slot within slot request timeout") ||
		e["taskManagerId"] != nil || e["location"] != nil {
		t.Errorf("exception entry = %v", e)
	}
	if obj(t, obj(t, getJSON(t, c.rest+"/jobs/"+id, 200))["timestamps"])["RESTARTING"] == float64(0) {
		t.Error("the job never went RESTARTING")
	}
	// Restarted, it waits again; a TaskManager lets it run.
	waitTasks(t, c, id, "scheduled", 2)
	c.addTaskManager(t, "tm-a", 2, nil)
	waitTasks(t, c, id, "running", 2)
}

func TestSlotRequestTimeoutFailsTheJobWhenRestartsAreOff(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{"slot.request.timeout": "200 ms", "restart-strategy.type": "none"}))
	id := runJob(t, c, 1)
	waitJobState(t, c, id, StateFailed)
}

func TestAWaitingJobTakesTheSlotsACancelledJobFrees(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	c.addTaskManager(t, "tm-a", 2, nil)
	c.waitTaskManagers(t, 1)
	first := runJob(t, c, 2)
	waitTasks(t, c, first, "running", 2)
	second := runJob(t, c, 2)
	waitTasks(t, c, second, "scheduled", 2)
	doJSON(t, http.MethodPatch, c.rest+"/jobs/"+first+"?mode=cancel", "", http.StatusAccepted)
	waitTasks(t, c, second, "running", 2)
}

func TestResourceRequirementsAnswerOnlyUnderTheAdaptiveScheduler(t *testing.T) {
	def := startJobManager(t, testConf(nil))
	id := runJob(t, def, 3)
	e := obj(t, doJSON(t, http.MethodGet, def.rest+"/jobs/"+id+"/resource-requirements", "", http.StatusInternalServerError))
	errs := arr(t, e["errors"])
	if len(errs) != 2 || errs[0] != "Internal server error." || !strings.Contains(errs[1].(string), "UnsupportedOperationException: The DefaultScheduler does not support changing the parallelism") {
		t.Errorf("errors = %v", errs)
	}

	ad := startJobManager(t, testConf(map[string]string{"jobmanager.scheduler": "adaptive"}))
	id = runJob(t, ad, 3)
	req := obj(t, getJSON(t, ad.rest+"/jobs/"+id+"/resource-requirements", 200))
	vid := obj(t, arr(t, obj(t, getJSON(t, ad.rest+"/jobs/"+id, 200))["vertices"])[0])["id"].(string)
	want := map[string]any{vid: map[string]any{"parallelism": map[string]any{"lowerBound": float64(1), "upperBound": float64(3)}}}
	if diff := cmp.Diff(want, req); diff != "" {
		t.Errorf("resource requirements (-want +got):\n%s", diff)
	}

	old := startJobManagerVersion(t, "1.17", testConf(nil))
	id = runJob(t, old, 1)
	doJSON(t, http.MethodGet, old.rest+"/jobs/"+id+"/resource-requirements", "", http.StatusNotFound)
}

func TestAdaptiveJobWaitsWithoutTasksThenRunsWithWhatItGetsAndRescales(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{
		"jobmanager.scheduler": "adaptive",
		"jobmanager.adaptive-scheduler.resource-stabilization-timeout": "200 ms",
		"jobmanager.adaptive-scheduler.scaling-interval.min":           "500 ms",
	}))
	id := runJob(t, c, 6)
	// No TaskManager: CREATED, its vertex reported with no tasks.
	waitJobState(t, c, id, StateCreated)
	if tasks := jobTasks(t, c, id); tasks["total"] != float64(0) {
		t.Errorf("tasks = %v, want none while waiting for resources", tasks)
	}
	v := obj(t, arr(t, obj(t, getJSON(t, c.rest+"/jobs/"+id, 200))["vertices"])[0])
	if v["parallelism"] != float64(6) || v["status"] != "CREATED" {
		t.Errorf("vertex = %v, want parallelism 6, CREATED", v)
	}

	// Two slots are enough to start: after the stabilization timeout it runs with 2.
	c.addTaskManager(t, "tm-a", 2, nil)
	waitTasks(t, c, id, "running", 2)
	v = obj(t, arr(t, obj(t, getJSON(t, c.rest+"/jobs/"+id, 200))["vertices"])[0])
	if v["parallelism"] != float64(2) {
		t.Errorf("vertex parallelism = %v, want 2", v["parallelism"])
	}

	// More slots: after the cooldown it restarts wider.
	c.addTaskManager(t, "tm-b", 4, nil)
	waitTasks(t, c, id, "running", 6)
	if obj(t, obj(t, getJSON(t, c.rest+"/jobs/"+id, 200))["timestamps"])["RESTARTING"] == float64(0) {
		t.Error("the rescale did not go through RESTARTING")
	}
}

func TestAdaptiveJobWithAllItWantsRunsAtOnce(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{"jobmanager.scheduler": "adaptive"}))
	c.addTaskManager(t, "tm-a", 3, nil)
	c.waitTaskManagers(t, 1)
	start := time.Now()
	id := runJob(t, c, 3)
	waitTasks(t, c, id, "running", 3)
	// The default stabilization timeout is 10 s: having every slot it wants, the job did not wait for it.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the job took %s to run with all its slots there", took)
	}
}

func TestAdaptiveJobWithoutAnySlotFailsAfterTheResourceWaitTimeout(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{
		"jobmanager.scheduler":                                "adaptive",
		"jobmanager.adaptive-scheduler.resource-wait-timeout": "300 ms",
	}))
	id := runJob(t, c, 2)
	waitJobState(t, c, id, StateFailed)
}

func TestInvalidVertexArgumentIsAProgramError(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	jar := uploadJar(t, c)
	e := obj(t, doJSON(t, http.MethodPost, c.rest+"/jars/"+jar+"/run", `{"programArgsList":["--vertex","map=x"]}`, http.StatusBadRequest))
	if errs := arr(t, e["errors"]); len(errs) != 1 || !strings.Contains(errs[0].(string), "The main method caused an error") {
		t.Errorf("errors = %v", errs)
	}
}
