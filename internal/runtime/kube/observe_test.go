package kube

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/flinkd/flinkd/internal/runtime"
)

func TestPodStatusMapsToInstanceFacts(t *testing.T) {
	started := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	base := func() corev1.Pod {
		return corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "c1-taskmanager-abc", UID: "uid-1",
				Annotations: map[string]string{AnnotationSpecHash: hash1}},
			Spec:   corev1.PodSpec{NodeName: "node-1"},
			Status: corev1.PodStatus{Phase: corev1.PodPending},
		}
	}
	main := func(st corev1.ContainerState, restarts int32, last *corev1.ContainerStateTerminated) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "taskmanager", State: st, RestartCount: restarts,
			LastTerminationState: corev1.ContainerState{Terminated: last}}
	}
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	want := func(f func(*runtime.Instance)) runtime.Instance {
		in := runtime.Instance{ID: "c1-taskmanager-abc", RuntimeID: "uid-1", Hash: hash1, State: runtime.StatePending}
		f(&in)
		return in
	}
	tests := []struct {
		name string
		pod  func(p *corev1.Pod)
		want runtime.Instance
	}{
		{
			name: "unschedulable",
			pod: func(p *corev1.Pod) {
				p.Spec.NodeName = ""
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
					Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient memory."}}
			},
			want: want(func(in *runtime.Instance) {
				in.Message = "Unschedulable: 0/1 nodes are available: 1 Insufficient memory."
			}),
		},
		{
			name: "image pull error in the init container",
			pod: func(p *corev1.Pod) {
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "flink-config", State: corev1.ContainerState{
					Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "flink:9"`}}}}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{main(corev1.ContainerState{
					Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}, 0, nil)}
			},
			want: want(func(in *runtime.Instance) {
				in.Message = `init container flink-config: ImagePullBackOff: Back-off pulling image "flink:9"`
			}),
		},
		{
			name: "image pull error",
			pod: func(p *corev1.Pod) {
				p.Status.ContainerStatuses = []corev1.ContainerStatus{main(corev1.ContainerState{
					Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "not found"}}, 0, nil)}
			},
			want: want(func(in *runtime.Instance) { in.Message = "ErrImagePull: not found" }),
		},
		{
			name: "crash loop after an OOM kill",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodRunning
				p.Status.ContainerStatuses = []corev1.ContainerStatus{main(corev1.ContainerState{
					Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s restarting failed container"}},
					3, &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"})}
			},
			want: want(func(in *runtime.Instance) {
				in.Message = "CrashLoopBackOff: back-off 40s restarting failed container"
				in.Restarts, in.ExitCode, in.OOMKilled = 3, 137, true
			}),
		},
		{
			name: "running and ready",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodRunning
				p.Status.Conditions = []corev1.PodCondition{ready}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{main(corev1.ContainerState{
					Running: &corev1.ContainerStateRunning{StartedAt: started}}, 1, &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"})}
			},
			want: want(func(in *runtime.Instance) {
				in.State, in.Ready, in.StartedAt, in.Restarts, in.ExitCode = runtime.StateRunning, true, started.Time, 1, 1
			}),
		},
		{
			name: "running, not ready",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodRunning
				p.Status.ContainerStatuses = []corev1.ContainerStatus{main(corev1.ContainerState{
					Running: &corev1.ContainerStateRunning{StartedAt: started}}, 0, nil)}
			},
			want: want(func(in *runtime.Instance) { in.State, in.StartedAt = runtime.StateRunning, started.Time }),
		},
		{
			name: "terminated by the OOM killer",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodRunning
				p.Status.Conditions = []corev1.PodCondition{ready} // stale: a dead container is never ready
				p.Status.ContainerStatuses = []corev1.ContainerStatus{main(corev1.ContainerState{
					Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}, 0, nil)}
			},
			want: want(func(in *runtime.Instance) {
				in.State, in.ExitCode, in.OOMKilled, in.Message = runtime.StateExited, 137, true, "OOMKilled"
			}),
		},
		{
			name: "evicted",
			pod: func(p *corev1.Pod) {
				p.Status.Phase = corev1.PodFailed
				p.Status.Reason, p.Status.Message = "Evicted", "The node was low on resource: memory."
				p.Status.ContainerStatuses = []corev1.ContainerStatus{main(corev1.ContainerState{
					Terminated: &corev1.ContainerStateTerminated{ExitCode: 143, Reason: "Error"}}, 0, nil)}
			},
			want: want(func(in *runtime.Instance) {
				in.State, in.ExitCode, in.Message = runtime.StateExited, 143, "Evicted: The node was low on resource: memory."
			}),
		},
		{
			name: "hash from the label when the annotation is missing",
			pod: func(p *corev1.Pod) {
				p.Annotations = nil
				p.Labels = map[string]string{runtime.LabelSpecHash: runtime.ShortHash(hash1)}
			},
			want: want(func(in *runtime.Instance) {
				in.Hash = runtime.ShortHash(hash1)
				in.Message = "waiting for containers to start on node node-1"
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base()
			tt.pod(&p)
			if diff := cmp.Diff(tt.want, podInstance(p, "taskmanager")); diff != "" {
				t.Errorf("podInstance (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeploymentWithoutPodsReportsAPendingJobManagerAndItsFailure(t *testing.T) {
	k := runtime.Key{Namespace: "team-a", Name: "c1"}
	jm := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "c1-jobmanager", Annotations: map[string]string{AnnotationSpecHash: hash1}},
		Status: appsv1.DeploymentStatus{Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetCreated"},
			{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate",
				Message: `pods "c1-jobmanager-5d8f" is forbidden: exceeded quota`},
		}},
	}
	got := observed(k, existing{jobManager: jm}, nil)
	msg := `FailedCreate: pods "c1-jobmanager-5d8f" is forbidden: exceeded quota`
	want := runtime.Observed{
		Exists:     true,
		Hash:       hash1,
		JobManager: &runtime.Instance{ID: "c1-jobmanager", Hash: hash1, State: runtime.StatePending, Message: msg},
		Message:    "deployment c1-jobmanager: " + msg,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
}

func TestInstanceNamesResolveToPods(t *testing.T) {
	pod := func(name, component string, created int, deleting bool) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{runtime.LabelComponent: component},
			CreationTimestamp: metav1.NewTime(time.Unix(int64(created), 0))}}
		if deleting {
			now := metav1.Now()
			p.DeletionTimestamp = &now
		}
		return p
	}
	pods := []corev1.Pod{
		pod("c1-jobmanager-new", "jobmanager", 20, false),
		pod("c1-jobmanager-old", "jobmanager", 10, false),
		pod("c1-taskmanager-a", "taskmanager", 10, false),
		pod("c1-taskmanager-b", "taskmanager", 10, true),
		pod("c1-taskmanager-c", "taskmanager", 10, false),
	}
	for _, tt := range []struct {
		instance, pod, container string
	}{
		{"jobmanager", "c1-jobmanager-new", "jobmanager"},
		{"taskmanager-1", "c1-taskmanager-a", "taskmanager"},
		{"taskmanager-2", "c1-taskmanager-c", "taskmanager"},
		{"taskmanager-3", "", ""},
		{"taskmanager-0", "", ""},
		{"taskmanager-01", "", ""},
		{"c1-taskmanager-c", "c1-taskmanager-c", "taskmanager"},
		{"c1-jobmanager-old", "c1-jobmanager-old", "jobmanager"},
		{"c1-taskmanager-b", "", ""},
		{"elsewhere", "", ""},
	} {
		p, c, ok := resolveInstance(pods, tt.instance)
		if p != tt.pod || c != tt.container || ok != (tt.pod != "") {
			t.Errorf("resolveInstance(%q) = %q, %q, %v; want %q, %q", tt.instance, p, c, ok, tt.pod, tt.container)
		}
	}
	if _, _, ok := resolveInstance(nil, "jobmanager"); ok {
		t.Errorf("resolveInstance found a jobmanager among no pods")
	}
}

func TestNewTakesNamespaceAndContextFromTheKubeconfig(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "config")
	data := `apiVersion: v1
kind: Config
current-context: one
clusters:
- name: a
  cluster: {server: "https://one.example:6443"}
- name: b
  cluster: {server: "https://two.example:6443/prefix"}
users:
- name: u
  user: {token: secret}
contexts:
- name: one
  context: {cluster: a, user: u, namespace: flink-one}
- name: two
  context: {cluster: b, user: u}
`
	if err := os.WriteFile(kc, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		cfg           Config
		ns, url, disp string
	}{
		{Config{Kubeconfig: kc}, "flink-one",
			"https://one.example:6443/api/v1/namespaces/flink-one/services/c1-jobmanager:rest/proxy",
			"kubectl -n flink-one port-forward svc/c1-jobmanager 8081"},
		{Config{Kubeconfig: kc, Context: "two"}, "default",
			"https://two.example:6443/prefix/api/v1/namespaces/default/services/c1-jobmanager:rest/proxy",
			"kubectl -n default port-forward svc/c1-jobmanager 8081"},
		{Config{Kubeconfig: kc, Context: "two", Namespace: "chosen"}, "chosen",
			"https://two.example:6443/prefix/api/v1/namespaces/chosen/services/c1-jobmanager:rest/proxy",
			"kubectl -n chosen port-forward svc/c1-jobmanager 8081"},
	} {
		r, err := New(tt.cfg)
		if err != nil {
			t.Fatalf("New(%+v): %v", tt.cfg, err)
		}
		ep := r.endpoint("c1-jobmanager")
		if r.Namespace() != tt.ns || ep.URL != tt.url || ep.Display != tt.disp || ep.Client == nil {
			t.Errorf("New(%+v): namespace %q, endpoint %+v; want %q, %q, %q", tt.cfg, r.Namespace(), ep, tt.ns, tt.url, tt.disp)
		}
	}
	if _, err := New(Config{Kubeconfig: kc, Context: "missing"}); err == nil {
		t.Errorf("New with an unknown context succeeded")
	}
}

func TestPodsOnSimulatedNodesReportRunningReadyInstances(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	c := testCluster(t, "c1", 2)
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	obs := waitReady(t, e.r, c.Key, 2, hash1)
	pods, err := e.cs.CoreV1().Pods(e.ns).List(ctx, metav1.ListOptions{LabelSelector: clusterSelector(runtime.Ownership{}, c.Key)})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	byName := map[string]corev1.Pod{}
	for _, p := range pods.Items {
		byName[p.Name] = p
	}
	for _, in := range append([]runtime.Instance{*obs.JobManager}, obs.TaskManagers...) {
		p, ok := byName[in.ID]
		if !ok || string(p.UID) != in.RuntimeID || in.StartedAt.IsZero() {
			t.Errorf("instance %+v does not match a pod of the cluster", in)
		}
	}
	if !obs.Exists || obs.Hash != hash1 || obs.Message != "" {
		t.Errorf("Observed = %+v; want Exists, hash1, no message", obs)
	}
	wantREST := strings.TrimSuffix(e.cp.Config.Host, "/") + "/api/v1/namespaces/" + e.ns + "/services/" + nm("c1").jobManager + ":rest/proxy"
	if obs.REST.URL != wantREST || obs.REST.Client == nil || obs.REST.Display != "kubectl -n "+e.ns+" port-forward svc/"+nm("c1").jobManager+" 8081" {
		t.Errorf("REST = %+v, want URL %s", obs.REST, wantREST)
	}
	waitAvailable(t, e, nm("c1").jobManager, 1)
	waitAvailable(t, e, nm("c1").taskManager, 2)
}

func TestObserveReportsPodsTheNamespaceRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	// The LimitRanger admission plugin refuses every pod of the cluster: its containers ask
	// for more memory than the namespace allows.
	limits := &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "small"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type: corev1.LimitTypeContainer,
			Max:  corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		}}},
	}
	if _, err := e.cs.CoreV1().LimitRanges(e.ns).Create(ctx, limits, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create limit range: %v", err)
	}
	c := testCluster(t, "c1", 1)
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var obs runtime.Observed
	eventually(t, 60*time.Second, "a ReplicaFailure message", func() (bool, string) {
		var err error
		obs, err = e.r.Observe(ctx, c.Key)
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(obs.Message, "deployment "+nm("c1").jobManager+": FailedCreate: ") &&
			strings.Contains(obs.Message, "deployment "+nm("c1").taskManager+": FailedCreate: "), obs.Message
	})
	if obs.JobManager == nil || obs.JobManager.State != runtime.StatePending || !strings.Contains(obs.JobManager.Message, "FailedCreate") {
		t.Errorf("JobManager = %+v, want a Pending synthetic instance explaining the failure", obs.JobManager)
	}
	if len(obs.TaskManagers) != 0 {
		t.Errorf("TaskManagers = %+v, want none", obs.TaskManagers)
	}
}

func TestDeleteReturnsOnceEverythingIsGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	c := testCluster(t, "c1", 2)
	other := testCluster(t, "c2", 1)
	for _, cl := range []runtime.Cluster{c, other} {
		if err := e.r.Apply(ctx, cl, nil); err != nil {
			t.Fatalf("Apply %s: %v", cl.Key, err)
		}
	}
	waitReady(t, e.r, c.Key, 2, hash1)

	if err := e.r.Delete(ctx, c.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	sel := metav1.ListOptions{LabelSelector: clusterSelector(runtime.Ownership{}, c.Key)}
	pods, err := e.cs.CoreV1().Pods(e.ns).List(ctx, sel)
	if err != nil || len(pods.Items) != 0 {
		t.Errorf("pods after Delete: %d, %v; want none", len(pods.Items), err)
	}
	deps, err := e.cs.AppsV1().Deployments(e.ns).List(ctx, sel)
	if err != nil || len(deps.Items) != 0 {
		t.Errorf("deployments after Delete: %d, %v; want none", len(deps.Items), err)
	}
	rss, err := e.cs.AppsV1().ReplicaSets(e.ns).List(ctx, sel)
	if err != nil || len(rss.Items) != 0 {
		t.Errorf("replicasets after Delete: %d, %v; want none", len(rss.Items), err)
	}
	cms, err := e.cs.CoreV1().ConfigMaps(e.ns).List(ctx, sel)
	if err != nil || len(cms.Items) != 0 {
		t.Errorf("configmaps after Delete: %d, %v; want none", len(cms.Items), err)
	}
	svcs, err := e.cs.CoreV1().Services(e.ns).List(ctx, sel)
	if err != nil || len(svcs.Items) != 0 {
		t.Errorf("services after Delete: %d, %v; want none", len(svcs.Items), err)
	}
	if obs, err := e.r.Observe(ctx, c.Key); err != nil || obs.Exists {
		t.Errorf("Observe after Delete = %+v, %v; want Exists false", obs, err)
	}
	if keys, err := e.r.List(ctx); err != nil || !cmp.Equal(keys, []runtime.Key{other.Key}) {
		t.Errorf("List after Delete = %v, %v; want only %s", keys, err, other.Key)
	}
	if err := e.r.Delete(ctx, c.Key); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if _, err := e.cs.AppsV1().Deployments(e.ns).Get(ctx, nm("c2").taskManager, metav1.GetOptions{}); err != nil {
		t.Errorf("the other cluster's deployment is gone: %v", err)
	}
}

func TestANewRuntimeAdoptsWhatAnEarlierOneCreated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	c := testCluster(t, "c1", 2)
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	before := waitReady(t, e.r, c.Key, 2, hash1)
	versionsBefore := versions(t, e, "c1")

	restarted := newRuntime(t, e.cp, e.ns) // as after a daemon restart: no memory of the first
	keys, err := restarted.List(ctx)
	if err != nil || !cmp.Equal(keys, []runtime.Key{c.Key}) {
		t.Fatalf("List = %v, %v; want [%s]", keys, err, c.Key)
	}
	obs, err := restarted.Observe(ctx, c.Key)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if diff := cmp.Diff(before, obs, cmpopts.IgnoreFields(runtime.Endpoint{}, "Client")); diff != "" {
		t.Errorf("Observe by the new runtime (-first +new):\n%s", diff)
	}
	var progress progressLog
	if err := restarted.Apply(ctx, c, progress.fn()); err != nil {
		t.Fatalf("Apply by the new runtime: %v", err)
	}
	if diff := cmp.Diff(versionsBefore, versions(t, e, "c1")); diff != "" || len(progress) != 0 {
		t.Errorf("adopting Apply changed objects (-before +after):\n%s\nprogress %v", diff, progress)
	}
	c.TaskManagers = 1
	c.RemoveFirst = []string{obs.TaskManagers[1].ID}
	if err := restarted.Apply(ctx, c, nil); err != nil {
		t.Fatalf("scale down by the new runtime: %v", err)
	}
	after := waitReady(t, restarted, c.Key, 1, hash1)
	if after.TaskManagers[0].ID != obs.TaskManagers[0].ID {
		t.Errorf("kept %s, want %s", after.TaskManagers[0].ID, obs.TaskManagers[0].ID)
	}
}

func TestChangesSendsTheKeyOfAPodDeletedByHand(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	c := testCluster(t, "c1", 1)
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	obs := waitReady(t, e.r, c.Key, 1, hash1)

	wctx, cancel := context.WithCancel(ctx)
	ch, err := e.r.Changes(wctx)
	if err != nil {
		t.Fatalf("Changes: %v", err)
	}
	// The initial list nudges every existing cluster once; take that first.
	expectKey(t, ch, c.Key)
	drain(ch)

	if err := e.cs.CoreV1().Pods(e.ns).Delete(ctx, obs.TaskManagers[0].ID, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	expectKey(t, ch, c.Key)

	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("Changes channel not closed after ctx ended")
		}
	}
}

func expectKey(t *testing.T, ch <-chan runtime.Key, want runtime.Key) {
	t.Helper()
	select {
	case k := <-ch:
		if k != want {
			t.Fatalf("Changes sent %s, want %s", k, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Changes sent nothing for %s", want)
	}
}

// drain takes what is queued right now.
func drain(ch <-chan runtime.Key) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func TestLogsOfAnUnknownInstanceIsErrNoInstance(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	c := testCluster(t, "c1", 1)
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	waitReady(t, e.r, c.Key, 1, hash1)
	for _, inst := range []string{"taskmanager-2", nm("c2").taskManager + "-x"} {
		rc, err := e.r.Logs(ctx, c.Key, inst, runtime.LogOptions{})
		if !errors.Is(err, runtime.ErrNoInstance) {
			if rc != nil {
				_, _ = io.Copy(io.Discard, rc)
				_ = rc.Close()
			}
			t.Errorf("Logs(%q) = %v, want ErrNoInstance", inst, err)
		}
	}
	if _, err := e.r.Logs(ctx, runtime.Key{Namespace: "team-a", Name: "absent"}, "jobmanager", runtime.LogOptions{}); !errors.Is(err, runtime.ErrNoInstance) {
		t.Errorf("Logs of an absent cluster = %v, want ErrNoInstance", err)
	}
}

func TestPingAnswersOnlyWhenTheAPIServerDoes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.r.Ping(ctxFor(t, 30*time.Second)); err != nil {
		t.Errorf("Ping: %v", err)
	}
	dead := rest.CopyConfig(e.cp.Config)
	dead.Host = "https://127.0.0.1:1"
	r, err := New(Config{REST: dead, Namespace: e.ns, CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := r.Ping(ctxFor(t, 30*time.Second)); err == nil {
		t.Errorf("Ping of a closed port succeeded")
	}
}
