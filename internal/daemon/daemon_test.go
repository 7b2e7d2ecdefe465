package daemon

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/runtime"
)

func TestFileDroppedInFolderRunsCluster(t *testing.T) {
	h := newHarness(t)
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 2, ""))
	c := h.waitRunning("wc", 2)
	if c.RESTURL == "" {
		t.Error("no REST URL recorded")
	}
	if c.Running == nil {
		t.Error("running spec not recorded")
	}
	obs := h.observe("wc")
	if len(obs.TaskManagers) != 2 || obs.JobManager == nil {
		t.Fatalf("runtime has %d TaskManagers, jm=%v", len(obs.TaskManagers), obs.JobManager)
	}
	// The REST API the daemon reports really has the TaskManagers.
	var ov struct {
		TaskManagers int `json:"taskmanagers"`
	}
	getJSON(t, obs.REST.URL+"/overview", &ov)
	if ov.TaskManagers != 2 {
		t.Errorf("/overview reports %d taskmanagers", ov.TaskManagers)
	}
	for _, reason := range []string{"SpecAdded", "Starting", "Running"} {
		if !hasEvent(h.events("wc"), reason, "") {
			t.Errorf("no %s event: %+v", reason, h.events("wc"))
		}
	}
}

func TestEditScalesWithoutTouchingJobManager(t *testing.T) {
	h := newHarness(t)
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 2, ""))
	h.waitRunning("wc", 2)
	jm := h.observe("wc").JobManager.RuntimeID
	before := h.observe("wc").TaskManagers

	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 4, ""))
	h.waitRunning("wc", 4)
	after := h.observe("wc")
	if after.JobManager.RuntimeID != jm {
		t.Error("scaling up replaced the JobManager")
	}
	for _, tm := range before {
		if !slices.ContainsFunc(after.TaskManagers, func(i runtime.Instance) bool { return i.RuntimeID == tm.RuntimeID }) {
			t.Errorf("scaling up replaced %s", tm.ID)
		}
	}
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	if h.observe("wc").JobManager.RuntimeID != jm {
		t.Error("scaling down replaced the JobManager")
	}
	h.waitEvent("wc", "ScalingDown", "from 4 to 1")
}

// Scaling down removes idle TaskManagers first, so a running job is not restarted while an
// idle TaskManager is left to remove (the seed: "scaling down may restart jobs").
func TestScaleDownRemovesIdleTaskManagersFirst(t *testing.T) {
	h := newHarness(t)
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 8, ""))
	h.waitRunning("wc", 8)
	rest := h.observe("wc").REST.URL
	// One slot per TaskManager, slots taken in ID order: filler takes taskmanager-1..6, the
	// job that must survive takes taskmanager-7 and -8 (those a naive "remove the highest
	// first" would pick). Then the filler ends.
	filler := submitJob(t, rest, "filler", 6)
	waitJobState(t, rest, filler, "RUNNING")
	job := submitJob(t, rest, "keep", 2)
	waitJobState(t, rest, job, "RUNNING")
	busy := taskManagersOf(t, rest, job)
	slices.Sort(busy)
	if !slices.Equal(busy, []string{"taskmanager-7", "taskmanager-8"}) {
		t.Fatalf("job runs on %v; the test expects taskmanager-7 and -8", busy)
	}
	req, _ := http.NewRequest(http.MethodPatch, rest+"/jobs/"+filler+"?mode=cancel", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("cancel filler: %v %v", resp, err)
	}
	waitJobState(t, rest, filler, "CANCELED")

	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 2, ""))
	h.waitRunning("wc", 2)
	var ids []string
	for _, tm := range h.observe("wc").TaskManagers {
		ids = append(ids, tm.ID)
	}
	if !slices.Equal(ids, []string{"taskmanager-7", "taskmanager-8"}) {
		t.Errorf("after scale-down: %v; want the busy taskmanager-7 and -8 kept", ids)
	}
	if n := jobRestarts(t, rest, job); n != 0 {
		t.Errorf("job restarted %d times during the scale-down", n)
	}
	if s := jobState(t, rest, job); s != "RUNNING" {
		t.Errorf("job is %s", s)
	}
}

// While the cluster runs, only spec.state and spec.numberOfTaskManagers may change.
func TestChangeWhileRunningIsRefusedUntilStopped(t *testing.T) {
	h := newHarness(t)
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	jm := h.observe("wc").JobManager

	edited := strings.Replace(clusterYAML("wc", "RUNNING", 2, ""), `flinkImageTag: "1.20"`, `flinkImageTag: "1.20.1"`, 1)
	h.write("wc.yaml", edited)
	c := h.waitCluster("wc", "refusal recorded", func(c db.Cluster) bool { return c.Refused != "" })
	if !strings.Contains(c.Refused, "spec.flinkImageTag") || !strings.Contains(c.Refused, "STOPPED") {
		t.Errorf("refusal %q should name spec.flinkImageTag and say to stop first", c.Refused)
	}
	h.waitEvent("wc", "ChangeRefused", "spec.flinkImageTag")
	// The allowed part of the edit (2 TaskManagers) applies; the image does not change.
	h.waitRunning("wc", 2)
	obs := h.observe("wc")
	if obs.JobManager.RuntimeID != jm.RuntimeID || obs.Hash != jm.Hash {
		t.Fatal("a refused change touched the JobManager")
	}
	for _, tm := range obs.TaskManagers {
		if tm.Hash != jm.Hash {
			t.Errorf("%s runs hash %s, want the running spec's %s", tm.ID, tm.Hash, jm.Hash)
		}
	}

	// Stop with the same edit in place, then start: the new spec is taken.
	h.write("wc.yaml", strings.Replace(edited, "state: RUNNING", "state: STOPPED", 1))
	h.waitPhase("wc", "STOPPED")
	if h.observe("wc").Exists {
		t.Fatal("stopped cluster still has processes")
	}
	h.write("wc.yaml", edited)
	h.waitRunning("wc", 2)
	c = h.waitCluster("wc", "refusal cleared", func(c db.Cluster) bool { return c.Refused == "" })
	if h.observe("wc").Hash == jm.Hash {
		t.Error("after stop and start the cluster still runs the old spec")
	}
	if sc, err := decodeSpec(c.Running); err != nil || sc.Spec.FlinkImageTag != "1.20.1" {
		t.Errorf("running spec image tag = %v (%v)", sc, err)
	}
}

func TestStopIsHeldWhileJobsRun(t *testing.T) {
	h := newHarness(t)
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	rest := h.observe("wc").REST.URL
	job := submitJob(t, rest, "wordcount", 1)
	waitJobState(t, rest, job, "RUNNING")

	h.write("wc.yaml", clusterYAML("wc", "STOPPED", 1, ""))
	c := h.waitCluster("wc", "stop held", func(c db.Cluster) bool { return strings.Contains(c.Message, "stop held") })
	if c.Phase != "STOPPING" || !strings.Contains(c.Message, job) {
		t.Errorf("held stop: phase %s, message %q; want STOPPING naming the job", c.Phase, c.Message)
	}
	h.waitEvent("wc", "StopHeld", job)
	if !h.observe("wc").Exists {
		t.Fatal("cluster torn down while a job runs")
	}
	// Once the job ends, the stop goes through.
	req, _ := http.NewRequest(http.MethodPatch, rest+"/jobs/"+job+"?mode=cancel", nil)
	if _, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	h.waitPhase("wc", "STOPPED")
	if h.observe("wc").Exists {
		t.Fatal("stopped cluster still has processes")
	}
	if c, _ := h.store.Cluster(t.Context(), "default", "wc"); c.Running != nil {
		t.Error("running spec not cleared after stop")
	}
}

func TestRemovedFileTearsDownAndForgetsButKeepsEvents(t *testing.T) {
	h := newHarness(t)
	p := h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	h.waitGone("wc")
	if h.observe("wc").Exists {
		t.Fatal("processes left after the file was removed")
	}
	evs := h.events("wc")
	if !hasEvent(evs, "FileRemoved", "wc.yaml") || !hasEvent(evs, "Deleted", "") {
		t.Errorf("events after removal: %+v", evs)
	}
}

func TestRemovedFileWithRunningJobIsHeld(t *testing.T) {
	h := newHarness(t)
	p := h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	rest := h.observe("wc").REST.URL
	job := submitJob(t, rest, "wordcount", 1)
	waitJobState(t, rest, job, "RUNNING")
	os.Remove(p)
	c := h.waitCluster("wc", "deletion held", func(c db.Cluster) bool { return strings.Contains(c.Message, "stop held") })
	if c.Phase != "DELETING" {
		t.Errorf("phase %s, want DELETING", c.Phase)
	}
	if !h.observe("wc").Exists {
		t.Fatal("torn down with a running job")
	}
}

func TestDuplicateNameIsRefusedAndSecondFileTakesOverWhenFirstGoes(t *testing.T) {
	h := newHarness(t)
	a := h.write("a.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	h.write("b.yaml", clusterYAML("wc", "RUNNING", 3, ""))
	st := waitStatus(t, h, func(rows []statusRow) bool {
		return slices.ContainsFunc(rows, func(r statusRow) bool { return strings.HasSuffix(r.File, "b.yaml") && r.Dup })
	})
	_ = st
	h.waitEvent("wc", "DuplicateSpec", "a.yaml")
	c, _ := h.store.Cluster(t.Context(), "default", "wc")
	if !strings.HasSuffix(c.File, "a.yaml") || c.TMDesired != 1 {
		t.Fatalf("cluster follows %s with %d TaskManagers; want a.yaml with 1", c.File, c.TMDesired)
	}
	// b.yaml takes over once a.yaml is gone (and the cluster is not torn down in between).
	os.Remove(a)
	h.waitRunning("wc", 3)
	c, _ = h.store.Cluster(t.Context(), "default", "wc")
	if !strings.HasSuffix(c.File, "b.yaml") || c.Deleted {
		t.Fatalf("after a.yaml is removed: file %s deleted=%v", c.File, c.Deleted)
	}
}

type statusRow struct {
	Name, File string
	Dup        bool
	Errors     []string
}

func waitStatus(t *testing.T, h *harness, cond func([]statusRow) bool) []statusRow {
	t.Helper()
	for range 1500 {
		list, err := h.d.statuses(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var rows []statusRow
		for _, s := range list {
			rows = append(rows, statusRow{Name: s.Name, File: s.File, Dup: strings.HasPrefix(s.Message, "refused"), Errors: s.FileErrors})
		}
		if cond(rows) {
			return rows
		}
		waitABit()
	}
	t.Fatal("status condition not met")
	return nil
}

func TestInvalidFileKeepsLastGoodSpecAndShowsErrors(t *testing.T) {
	h := newHarness(t)
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	jm := h.observe("wc").JobManager.RuntimeID
	bad := strings.Replace(clusterYAML("wc", "RUNNING", 1, ""), `numberOfTaskManagers: 1`, `numberOfTaskManagers: lots`, 1)
	h.write("wc.yaml", bad)
	rows := waitStatus(t, h, func(rows []statusRow) bool {
		return slices.ContainsFunc(rows, func(r statusRow) bool { return r.Name == "wc" && len(r.Errors) > 0 })
	})
	for _, r := range rows {
		if r.Name == "wc" && !strings.Contains(strings.Join(r.Errors, "\n"), "spec.numberOfTaskManagers") {
			t.Errorf("file errors %v do not name spec.numberOfTaskManagers", r.Errors)
		}
	}
	h.waitEvent("wc", "InvalidSpec", "wc.yaml")
	if obs := h.observe("wc"); obs.JobManager.RuntimeID != jm || len(obs.TaskManagers) != 1 {
		t.Fatal("an invalid file disturbed the running cluster")
	}
	// A second invalid save still keeps the cluster (ownership survives), then a fix clears it.
	h.write("wc.yaml", bad+"# still bad\n")
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 2, ""))
	h.waitRunning("wc", 2)
	waitStatus(t, h, func(rows []statusRow) bool {
		return slices.ContainsFunc(rows, func(r statusRow) bool { return r.Name == "wc" && len(r.Errors) == 0 })
	})

	// A file whose name cannot be read shows as a row for the file itself.
	h.write("broken.yaml", "kind: SessionCluster\nspec: [\n")
	waitStatus(t, h, func(rows []statusRow) bool {
		return slices.ContainsFunc(rows, func(r statusRow) bool {
			return r.Name == "" && strings.HasSuffix(r.File, "broken.yaml") && len(r.Errors) > 0
		})
	})
	// Removing the invalid file of a running cluster deletes the cluster.
	h.write("wc.yaml", bad)
	waitStatus(t, h, func(rows []statusRow) bool {
		return slices.ContainsFunc(rows, func(r statusRow) bool { return r.Name == "wc" && len(r.Errors) > 0 })
	})
	os.Remove(filepath.Join(h.specs, "wc.yaml"))
	h.waitGone("wc")
}

func TestDaemonRestartAdoptsRunningClusters(t *testing.T) {
	h := newHarness(t)
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 2, ""))
	h.waitRunning("wc", 2)
	before := h.observe("wc")
	h.stop()

	var creates atomic.Int32
	h.rt.Hook = func(_ context.Context, step string, _ runtime.Key) error {
		if strings.HasPrefix(step, "create") {
			creates.Add(1)
		}
		return nil
	}
	h.start()
	h.waitRunning("wc", 2)
	after := h.observe("wc")
	if after.JobManager.RuntimeID != before.JobManager.RuntimeID {
		t.Error("restart replaced the JobManager")
	}
	for i := range before.TaskManagers {
		if after.TaskManagers[i].RuntimeID != before.TaskManagers[i].RuntimeID {
			t.Errorf("restart replaced %s", before.TaskManagers[i].ID)
		}
	}
	if n := creates.Load(); n != 0 {
		t.Errorf("restart created %d processes", n)
	}
}

// A crash at any step of creating a cluster (simulated by cancelling the daemon's context
// right there), followed by a restart, converges with no duplicates.
func TestCrashAtEachStepThenRestartConverges(t *testing.T) {
	steps := []string{"apply", "create jobmanager", "create taskmanager-1", "create taskmanager-2", "create taskmanager-3"}
	for _, step := range steps {
		t.Run(strings.ReplaceAll(step, " ", "_"), func(t *testing.T) {
			h := newHarness(t)
			var once sync.Once
			crashed := make(chan struct{})
			h.rt.Hook = func(ctx context.Context, s string, _ runtime.Key) error {
				if s == step {
					once.Do(func() {
						h.cancel() // the daemon dies here
						close(crashed)
					})
					return context.Canceled
				}
				return nil
			}
			h.write("wc.yaml", clusterYAML("wc", "RUNNING", 3, ""))
			<-crashed
			h.stop()
			h.rt.Hook = nil
			h.start()
			h.waitRunning("wc", 3)
			obs := h.observe("wc")
			var ids []string
			for _, tm := range obs.TaskManagers {
				ids = append(ids, tm.ID)
			}
			if !slices.Equal(ids, []string{"taskmanager-1", "taskmanager-2", "taskmanager-3"}) {
				t.Errorf("after crash at %q: taskmanagers %v", step, ids)
			}
		})
	}
}

func TestUnknownTargetFailsOnlyThatCluster(t *testing.T) {
	h := newHarness(t)
	h.write("ok.yaml", clusterYAML("ok", "RUNNING", 1, ""))
	h.write("lost.yaml", strings.Replace(clusterYAML("lost", "RUNNING", 1, ""), "spec:\n", "spec:\n  deploymentTargetName: nowhere\n", 1))
	c := h.waitPhase("lost", "FAILED")
	if !strings.Contains(c.Message, `"nowhere"`) || !strings.Contains(c.Message, "default") {
		t.Errorf("message %q should name the unknown target and the configured ones", c.Message)
	}
	h.waitRunning("ok", 1)
}

func TestMissingImageFailsThenRecovers(t *testing.T) {
	h := newHarness(t)
	h.rt.SetImageMissing("localhost/flink-sim:1.20", true)
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	c := h.waitPhase("wc", "FAILED")
	if !strings.Contains(c.Message, "localhost/flink-sim:1.20") {
		t.Errorf("message %q does not name the image", c.Message)
	}
	h.waitEvent("wc", "ApplyFailed", "localhost/flink-sim:1.20")
	h.rt.SetImageMissing("localhost/flink-sim:1.20", false)
	h.waitRunning("wc", 1) // retried after backoff
}

func TestKilledTaskManagerIsReplaced(t *testing.T) {
	h := newHarness(t)
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 2, ""))
	h.waitRunning("wc", 2)
	if err := h.rt.Kill(key("wc"), "taskmanager-1"); err != nil {
		t.Fatal(err)
	}
	h.waitEvent("wc", "Restarted", "taskmanager-1")
	h.waitRunning("wc", 2)
}

func TestCrashLoopMakesClusterFailedWithLastLogLines(t *testing.T) {
	h := newHarness(t)
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	// The process dies at every start: the instance is down with restarts piling up.
	if err := h.rt.CrashLoop(key("wc"), "taskmanager-1", 5, "java.lang.OutOfMemoryError: Java heap space"); err != nil {
		t.Fatal(err)
	}
	c := h.waitPhase("wc", "FAILED")
	if !strings.Contains(c.Message, "taskmanager-1") || !strings.Contains(c.Message, "OutOfMemoryError") {
		t.Errorf("FAILED message %q should name the instance and its last lines", c.Message)
	}
}

func TestOrphanWithoutSpecIsRemoved(t *testing.T) {
	h := newHarness(t)
	c := runtime.Cluster{Key: key("stray"), Image: "x", Hash: "h", TaskManagers: 1, FlinkVersion: "1.20",
		FlinkConfig: map[string]string{"taskmanager.memory.process.size": "2000000000b"}}
	if err := h.rt.Apply(t.Context(), c, nil); err != nil {
		t.Fatal(err)
	}
	for h.observe("stray").Exists {
		waitABit()
	}
	h.waitEvent("stray", "OrphanRemoved", "no spec file")
}

func TestUnexpectedRuntimeErrorIsRetried(t *testing.T) {
	h := newHarness(t)
	var fails atomic.Int32
	h.rt.Hook = func(_ context.Context, step string, _ runtime.Key) error {
		if step == "create taskmanager-1" && fails.Add(1) <= 2 {
			return errors.New("engine hiccup")
		}
		return nil
	}
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	if fails.Load() < 3 {
		t.Errorf("create attempted %d times, want retries after failures", fails.Load())
	}
	h.waitEvent("wc", "ApplyFailed", "engine hiccup")
}
