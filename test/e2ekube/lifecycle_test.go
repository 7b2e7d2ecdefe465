package e2ekube

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/runtime"
)

// Issue #5's "Done when": a cluster file whose target is a Kubernetes namespace goes
// STARTING → RUNNING → scaled → STOPPED against the real API server. RUNNING is the
// JobManager's REST API answering through the service proxy with every TaskManager
// registered; scaling down removes idle TaskManagers first (pod-deletion cost) and keeps the
// one a job runs on; a stop is refused while the job runs, then forced, and leaves nothing.
func TestSessionClusterOnAKubernetesTargetStartsScalesAndStops(t *testing.T) {
	t.Parallel()
	e := kube(t)
	ns := e.cp.Namespace(t)
	d := startDaemon(t, configYAML(kubeTarget{"kube", e.cp.Kubeconfig, ns}))
	fl := e.flink(t, ns, "c1")
	began := time.Now()

	// STARTING → RUNNING with 2 TaskManagers.
	d.write("c1.yaml", clusterYAML("c1", "kube", "RUNNING", 2))
	d.waitStatus("c1", "STARTING or later", time.Minute, func(s api.ClusterStatus) bool { return s.Phase != "" })
	st := d.waitRunning("c1", 2)
	t.Logf("RUNNING with 2 TaskManagers %s after the file was written", time.Since(began).Round(time.Millisecond))
	if st.DeploymentTarget != "kube" || st.Namespace != "default" {
		t.Errorf("status: target %q namespace %q, want kube and default", st.DeploymentTarget, st.Namespace)
	}
	if want := fmt.Sprintf("kubectl -n %s port-forward svc/c1-default-jobmanager 8081", ns); st.RESTURL != want {
		t.Errorf("status restURL = %q, want %q", st.RESTURL, want)
	}
	checkRegistered(t, e, fl, ns, 2)
	for _, p := range e.pods(t, ns, "c1", "") {
		if p.Spec.NodeName != e.runner.NodeName() || p.Status.PodIP == "" {
			t.Errorf("pod %s on node %q with IP %q, want the pod runner's node %s and an IP", p.Name, p.Spec.NodeName,
				p.Status.PodIP, e.runner.NodeName())
		}
	}
	// The spec's env and logging reached the containers (the ConfigMap's log4j file, copied
	// in as flinkd's init container does): the examples logger logs at DEBUG, Flink's own not.
	jm := e.pods(t, ns, "c1", runtime.ComponentJobManager)
	if len(jm) != 1 {
		t.Fatalf("jobmanager pods: %v", podNames(jm))
	}
	ins, log := e.containerOf(t, ns, jm[0].Name)
	if !slices.Contains(ins.Config.Env, "KEY=VALUE") || !slices.Contains(ins.Config.Env, "JOB_MANAGER_RPC_ADDRESS=c1-default-jobmanager") {
		t.Errorf("jobmanager container env = %q, want KEY=VALUE and JOB_MANAGER_RPC_ADDRESS=c1-default-jobmanager", ins.Config.Env)
	}
	if !logged(log, "org.apache.flink.streaming.examples.sim.Probe", "flink-sim probe at DEBUG") ||
		logged(log, "org.apache.flink.runtime.sim.Probe", "flink-sim probe at DEBUG") {
		t.Errorf("jobmanager log: want the examples probe at DEBUG and no runtime probe at DEBUG:\n%s", log)
	}
	var conf []struct{ Key, Value string }
	fl.get("/jobmanager/config", &conf)
	if !slices.Contains(conf, struct{ Key, Value string }{"jobmanager.rpc.address", "c1-default-jobmanager"}) ||
		!slices.Contains(conf, struct{ Key, Value string }{"taskmanager.numberOfTaskSlots", "1"}) {
		t.Errorf("/jobmanager/config lacks the ConfigMap's rpc address and slots: %+v", conf)
	}

	// The kube target answers.
	var targets []api.Target
	d.jsonOut(&targets, "targets", "-o", "json")
	i := slices.IndexFunc(targets, func(tg api.Target) bool { return tg.Name == "kube" })
	if i < 0 || !targets[i].OK || targets[i].Kind != "kubernetes" || !strings.Contains(targets[i].Detail, ns) {
		t.Errorf("flinkctl targets: want kube ok, kind kubernetes, naming namespace %s; got %+v", ns, targets)
	}

	// Scale up 2 → 3.
	d.write("c1.yaml", clusterYAML("c1", "kube", "RUNNING", 3))
	d.waitStatus("c1", "desired 3", time.Minute, func(s api.ClusterStatus) bool { return s.TaskManagers.Desired == 3 })
	d.waitRunning("c1", 3)
	checkRegistered(t, e, fl, ns, 3)

	// A job on one TaskManager (one slot each: the first in ID order).
	job := fl.submitJob("e2e", 1)
	var busy string
	eventually(t, time.Minute, "the job holds a slot", func() (bool, string) {
		on := fl.taskManagersOf(job)
		if len(on) == 1 {
			busy = on[0]
		}
		return len(on) == 1, fmt.Sprint(on)
	})
	tms := podNames(e.pods(t, ns, "c1", runtime.ComponentTaskManager))
	if !slices.Contains(tms, busy) {
		t.Fatalf("the job runs on %s, not one of the TaskManager pods %v", busy, tms)
	}

	// Scale down 3 → 1: the two idle TaskManagers go, the busy one stays.
	costs := e.recordDeletionCosts(t, ns, "c1")
	d.write("c1.yaml", clusterYAML("c1", "kube", "RUNNING", 1))
	d.waitStatus("c1", "desired 1", time.Minute, func(s api.ClusterStatus) bool { return s.TaskManagers.Desired == 1 })
	d.waitRunning("c1", 1)
	eventually(t, time.Minute, "only the busy TaskManager pod left", func() (bool, string) {
		left := podNames(e.pods(t, ns, "c1", runtime.ComponentTaskManager))
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
	checkRegistered(t, e, fl, ns, 1)
	if state, restarts := fl.job(job); state != "RUNNING" || restarts != 0 {
		t.Errorf("job after the scale-down: %s with %d restarts, want RUNNING with none", state, restarts)
	}

	// A stop is refused while the job runs...
	res := d.flinkctl("stop", "c1", "--wait")
	if res.code == 0 || !strings.Contains(res.stderr, "refused") || !strings.Contains(res.stderr, job) {
		t.Errorf("flinkctl stop with a running job: want a refusal naming job %s; got %s", job, res)
	}
	if st, _ := d.status("c1"); st.Phase != "RUNNING" {
		t.Errorf("phase after a refused stop = %s, want RUNNING", st.Phase)
	}
	// ...and forced: the job is cancelled, then everything goes.
	res = d.flinkctl("stop", "c1", "--force", "--wait", "--timeout", "3m")
	if res.code != 0 || !strings.Contains(res.stderr, "cancelled 1 job") {
		t.Fatalf("flinkctl stop --force --wait: %s", res)
	}
	if st, _ := d.status("c1"); st.Phase != "STOPPED" {
		t.Errorf("phase after stop --wait = %s, want STOPPED", st.Phase)
	}
	if !strings.Contains(d.read("c1.yaml"), "state: STOPPED") {
		t.Errorf("c1.yaml does not say state: STOPPED:\n%s", d.read("c1.yaml"))
	}
	eventually(t, time.Minute, "nothing of c1 left in namespace "+ns, func() (bool, string) {
		left := e.leftovers(t, ns, "c1")
		return len(left) == 0, fmt.Sprint(left)
	})

	// The phases it went through, in order.
	var phases []string
	for _, ev := range d.events("c1") {
		switch ev.Reason {
		case "Starting", "Running", "Scaling", "Stopping", "Stopped", "Failed":
			phases = append(phases, ev.Reason)
		}
	}
	want := []string{"Starting", "Running", "Scaling", "Running", "Scaling", "Running", "Stopping", "Stopped"}
	if diff := cmp.Diff(want, phases); diff != "" {
		t.Errorf("phase events (-want +got):\n%s", diff)
	}
	t.Logf("whole lifecycle: %s", time.Since(began).Round(time.Millisecond))
}

// A target whose API server does not answer fails only the clusters that name it: the
// cluster on the reachable namespace runs, flinkctl targets says which one is down.
func TestAnUnreachableKubernetesTargetFailsOnlyItsOwnCluster(t *testing.T) {
	t.Parallel()
	e := kube(t)
	ns := e.cp.Namespace(t)
	gone, server := unreachableKubeconfig(t)
	d := startDaemon(t, configYAML(
		kubeTarget{"kube", e.cp.Kubeconfig, ns},
		kubeTarget{"kube-down", gone, "flink"},
	))
	d.write("up.yaml", clusterYAML("up", "kube", "RUNNING", 1))
	d.write("down.yaml", clusterYAML("down", "kube-down", "RUNNING", 1))

	down := d.waitStatus("down", "FAILED", 2*time.Minute, func(s api.ClusterStatus) bool { return s.Phase == "FAILED" })
	host := strings.TrimPrefix(server, "https://")
	if !strings.Contains(down.Message, host) && !strings.Contains(down.Message, "refused") {
		t.Errorf("down's message %q says nothing of the unreachable API server %s", down.Message, server)
	}
	d.waitRunning("up", 1)
	checkRegistered(t, e, e.flink(t, ns, "up"), ns, 1)
	if st, _ := d.status("down"); st.Phase != "FAILED" {
		t.Errorf("down: phase %s, want FAILED still", st.Phase)
	}

	res := d.flinkctl("targets", "-o", "json")
	if res.code != 0 || !strings.Contains(res.stderr, "kube-down") {
		t.Errorf("flinkctl targets with one target down: want exit 0 and a warning naming kube-down; got %s", res)
	}
	var targets []api.Target
	d.jsonOut(&targets, "targets", "-o", "json")
	byName := map[string]api.Target{}
	for _, tg := range targets {
		byName[tg.Name] = tg
	}
	if tg := byName["kube"]; !tg.OK {
		t.Errorf("target kube: %+v, want ok", tg)
	}
	if tg := byName["kube-down"]; tg.OK || tg.Error == "" || tg.Kind != "kubernetes" {
		t.Errorf("target kube-down: %+v, want not ok with an error", tg)
	}

	if res := d.flinkctl("stop", "up", "--wait", "--timeout", "3m"); res.code != 0 {
		t.Fatalf("flinkctl stop up --wait: %s", res)
	}
	eventually(t, time.Minute, "nothing of up left in namespace "+ns, func() (bool, string) {
		left := e.leftovers(t, ns, "up")
		return len(left) == 0, fmt.Sprint(left)
	})
}

// checkRegistered checks, through the API server's service proxy, that the JobManager
// reports n TaskManagers and that they are the cluster's TaskManager pods (resource ID =
// pod name), each run by the pod runner.
func checkRegistered(t *testing.T, e env, fl flinkAPI, ns string, n int) {
	t.Helper()
	name := fl.cluster
	eventually(t, time.Minute, fmt.Sprintf("%d TaskManagers registered, seen through the proxy", n), func() (bool, string) {
		var ov struct {
			TaskManagers int `json:"taskmanagers"`
			SlotsTotal   int `json:"slots-total"`
		}
		if err := fl.do("GET", "/overview", "", nil, &ov); err != nil {
			return false, err.Error()
		}
		ids, err := fl.taskManagerIDs()
		if err != nil {
			return false, err.Error()
		}
		pods := podNames(e.pods(t, ns, name, runtime.ComponentTaskManager))
		return ov.TaskManagers == n && ov.SlotsTotal == n && slices.Equal(ids, pods),
			fmt.Sprintf("overview %+v, registered %v, pods %v", ov, ids, pods)
	})
	ctrs, err := e.runner.ContainerIDs(t.Context(), ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range e.pods(t, ns, name, "") {
		if p.DeletionTimestamp == nil && ctrs[ns+"/"+p.Name] == "" {
			t.Errorf("pod %s has no container on the pod runner", p.Name)
		}
	}
}
