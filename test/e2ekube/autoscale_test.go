package e2ekube

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/test/testenv"
)

// autoscaleYAML renders an autoscaled cluster of the stand-in of 1.20 (testenv.SimImageOf:
// FLINK_SIM_REPOSITORY's when set) on target: floor 1, 2 slots per TaskManager, at most max,
// idle timeout idle.
func (e env) autoscaleYAML(t *testing.T, name, target string, max int, idle string) string {
	t.Helper()
	registry, repository, tag, err := testenv.SplitImage(testenv.SimImageOf(t, e.docker, "1.20"))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`kind: SessionCluster
apiVersion: v1
metadata:
  name: %[1]s
  annotations:
    flinkd.io/autoscale-max-taskmanagers: "%[3]d"
    flinkd.io/autoscale-idle-timeout: %[4]s
spec:
  state: RUNNING
  deploymentTargetName: %[2]s
  flinkVersion: "1.20"
  flinkImageRegistry: %[5]s
  flinkImageRepository: %[6]s
  flinkImageTag: "%[7]s"
  numberOfTaskManagers: 1
  resources:
    jobmanager:
      cpu: 0.5
      memory: 1g
    taskmanager:
      cpu: 0.5
      memory: 2g
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 2
    heartbeat.interval: 200
    heartbeat.timeout: 2000
`, name, target, max, idle, registry, repository, tag)
}

// replicas is spec.replicas of the cluster's TaskManager Deployment (found by its labels).
func (e env) replicas(t *testing.T, ns, name string) int {
	t.Helper()
	sel := labels.Set{runtime.LabelInstance: name, runtime.LabelComponent: runtime.ComponentTaskManager}.String()
	list, err := e.cs.AppsV1().Deployments(ns).List(t.Context(), metav1.ListOptions{LabelSelector: sel})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("TaskManager deployment of %s: %d found, err %v", name, len(list.Items), err)
	}
	if r := list.Items[0].Spec.Replicas; r != nil {
		return int(*r)
	}
	return 1
}

// allTasksRunning reports whether every task of the job is RUNNING.
func (f flinkAPI) allTasksRunning(id string) (bool, string) {
	var ov struct {
		Jobs []struct {
			ID    string         `json:"jid"`
			Tasks map[string]int `json:"tasks"`
		} `json:"jobs"`
	}
	if err := f.do(http.MethodGet, "/jobs/overview", "", nil, &ov); err != nil {
		return false, err.Error()
	}
	for _, j := range ov.Jobs {
		if j.ID == id {
			return j.Tasks["total"] > 0 && j.Tasks["running"] == j.Tasks["total"], fmt.Sprint(j.Tasks)
		}
	}
	return false, "job not listed"
}

// Autoscaling on a Kubernetes target, against the real API server: the TaskManager
// Deployment's replicas follow the autoscaler's decisions, and a down removes the idle pod
// through its pod-deletion cost while the busy one stays.
func TestAutoscaledClusterOnAKubernetesTargetFollowsItsJobs(t *testing.T) {
	t.Parallel()
	e := kube(t)
	ns := e.cp.Namespace(t)
	d := startDaemon(t, configYAML(kubeTarget{"kube", e.cp.Kubeconfig, ns}))
	fl := e.flink(t, ns, "auto")

	d.write("auto.yaml", e.autoscaleYAML(t, "auto", "kube", 3, "5s"))
	d.waitRunning("auto", 1)
	if r := e.replicas(t, ns, "auto"); r != 1 {
		t.Errorf("replicas = %d at the floor, want 1", r)
	}

	// A job of parallelism 4 at 2 slots per TaskManager: 2 TaskManagers.
	wide := fl.submitJob("wide", 4)
	eventually(t, 3*time.Minute, "every task of the wide job RUNNING", func() (bool, string) { return fl.allTasksRunning(wide) })
	st := d.waitRunning("auto", 2)
	if a := st.TaskManagers.Autoscale; a == nil || a.Min != 1 || a.Max != 3 {
		t.Errorf("status autoscale = %+v, want 1 to 3", a)
	}
	if r := e.replicas(t, ns, "auto"); r != 2 {
		t.Errorf("replicas = %d with the wide job, want 2", r)
	}
	if !slices.ContainsFunc(d.events("auto"), func(ev api.Event) bool {
		return ev.Reason == "AutoscaledUp" && strings.Contains(ev.Message, wide)
	}) {
		t.Errorf("no AutoscaledUp event naming job %s: %+v", wide, d.events("auto"))
	}

	// The wide job goes; a small one takes a slot on the first TaskManager (slots are taken in
	// ID order). After the idle timeout only the idle pod goes, by its deletion cost.
	if err := fl.do(http.MethodPatch, "/jobs/"+wide+"?mode=cancel", "", nil, nil); err != nil {
		t.Fatal(err)
	}
	small := fl.submitJob("small", 1)
	eventually(t, 3*time.Minute, "every task of the small job RUNNING", func() (bool, string) { return fl.allTasksRunning(small) })
	var busy string
	eventually(t, time.Minute, "the small job holds a slot", func() (bool, string) {
		on := fl.taskManagersOf(small)
		if len(on) == 1 {
			busy = on[0]
		}
		return len(on) == 1, fmt.Sprint(on)
	})
	tms := podNames(e.pods(t, ns, "auto", runtime.ComponentTaskManager))
	costs := e.recordDeletionCosts(t, ns, "auto")
	d.waitRunning("auto", 1)
	if r := e.replicas(t, ns, "auto"); r != 1 {
		t.Errorf("replicas = %d after the idle timeout, want 1", r)
	}
	eventually(t, time.Minute, "only the busy TaskManager pod left", func() (bool, string) {
		left := podNames(e.pods(t, ns, "auto", runtime.ComponentTaskManager))
		return slices.Equal(left, []string{busy}), fmt.Sprint(left)
	})
	seen := costs.get()
	for _, p := range tms {
		cost, err := strconv.Atoi(seen[p])
		switch {
		case p == busy && seen[p] != "":
			t.Errorf("busy pod %s got pod-deletion-cost %q; want none", p, seen[p])
		case p != busy && (err != nil || cost >= 0):
			t.Errorf("idle pod %s had pod-deletion-cost %q before it was removed; want a negative number", p, seen[p])
		}
	}
	if !slices.ContainsFunc(d.events("auto"), func(ev api.Event) bool {
		return ev.Reason == "AutoscaledDown" && !strings.Contains(ev.Message, busy)
	}) {
		t.Errorf("no AutoscaledDown event naming the idle TaskManager only: %+v", d.events("auto"))
	}
	if state, restarts := fl.job(small); state != "RUNNING" || restarts != 0 {
		t.Errorf("small job after the down: %s with %d restarts, want RUNNING with none", state, restarts)
	}
}
