package kube

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
)

func TestApplyCreatesObjectsTheAPIServerAccepts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	c := testCluster(t, "c1", 2)
	var progress progressLog
	if err := e.r.Apply(ctx, c, progress.fn()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	wantProgress := []string{
		"Created configmap " + nm("c1").configMap,
		"Created service " + nm("c1").jobManager,
		"Created deployment " + nm("c1").jobManager,
		"Created deployment " + nm("c1").taskManager + " with 2 taskmanagers",
	}
	if diff := cmp.Diff(wantProgress, []string(progress)); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}

	owner := func(component string) map[string]string { return runtime.OwnerLabels(c.Key, component, c.Hash) }
	hashAnn := map[string]string{AnnotationSpecHash: hash1}

	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(ctx, nm("c1").configMap, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get configmap: %v", err)
	}
	checkMeta(t, "configmap", cm.ObjectMeta, owner(""), hashAnn)
	conf := configMapConf(t, cm.Data)
	for k, v := range map[string]string{
		"jobmanager.rpc.address":        nm("c1").service,
		"jobmanager.rpc.port":           "6123",
		"blob.server.port":              "6124",
		"rest.port":                     "8081",
		"taskmanager.rpc.port":          "6122",
		"jobmanager.bind-host":          "0.0.0.0",
		"taskmanager.bind-host":         "0.0.0.0",
		"taskmanager.numberOfTaskSlots": "2",
	} {
		if conf[k] != v {
			t.Errorf("config.yaml %s = %q, want %q:\n%s", k, conf[k], v, cm.Data[flinkconf.ConfigYAML])
		}
	}
	if cm.Data[flinkconf.Log4jConsoleFile] != c.Log4jProperties {
		t.Errorf("log4j-console.properties = %q, want the cluster's", cm.Data[flinkconf.Log4jConsoleFile])
	}

	svc, err := e.cs.CoreV1().Services(e.ns).Get(ctx, nm("c1").jobManager, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get service: %v", err)
	}
	checkMeta(t, "service", svc.ObjectMeta, owner(runtime.ComponentJobManager), hashAnn)
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.ClusterIP == "" {
		t.Errorf("service type %s, cluster IP %q; want ClusterIP with an allocated IP", svc.Spec.Type, svc.Spec.ClusterIP)
	}
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.Name+"="+p.TargetPort.String())
	}
	if diff := cmp.Diff([]string{"rpc=6123", "blob=6124", "rest=8081"}, ports); diff != "" {
		t.Errorf("service ports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(selectorLabels(runtime.Ownership{}, c.Key, runtime.ComponentJobManager), svc.Spec.Selector); diff != "" {
		t.Errorf("service selector (-want +got):\n%s", diff)
	}

	jm := getDeployment(t, e, nm("c1").jobManager)
	checkMeta(t, "jobmanager deployment", jm.ObjectMeta, owner(runtime.ComponentJobManager), hashAnn)
	checkPodTemplate(t, jm, c, runtime.ComponentJobManager, c.JobManager)
	if *jm.Spec.Replicas != 1 || jm.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("jobmanager replicas %d strategy %s, want 1 Recreate", *jm.Spec.Replicas, jm.Spec.Strategy.Type)
	}
	jmc := jm.Spec.Template.Spec.Containers[0]
	if diff := cmp.Diff([]string{"jobmanager"}, jmc.Args); diff != "" {
		t.Errorf("jobmanager args (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"KEY=VALUE", "LITERAL=$$(NOT_EXPANDED)", "JOB_MANAGER_RPC_ADDRESS=" + nm("c1").jobManager}, envStrings(jmc.Env)); diff != "" {
		t.Errorf("jobmanager env (-want +got):\n%s", diff)
	}
	if p := jmc.LivenessProbe; p == nil || p.TCPSocket == nil || p.TCPSocket.Port.IntValue() != 6123 {
		t.Errorf("jobmanager liveness probe = %+v, want tcpSocket 6123", p)
	}

	tm := getDeployment(t, e, nm("c1").taskManager)
	checkMeta(t, "taskmanager deployment", tm.ObjectMeta, owner(runtime.ComponentTaskManager), hashAnn)
	checkPodTemplate(t, tm, c, runtime.ComponentTaskManager, c.TaskManager)
	if *tm.Spec.Replicas != 2 {
		t.Errorf("taskmanager replicas = %d, want 2", *tm.Spec.Replicas)
	}
	tmc := tm.Spec.Template.Spec.Containers[0]
	wantArgs := []string{"taskmanager", "-Dtaskmanager.resource-id=$(POD_NAME)", "-Dtaskmanager.host=$(POD_IP)"}
	if diff := cmp.Diff(wantArgs, tmc.Args); diff != "" {
		t.Errorf("taskmanager args (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"KEY=VALUE", "JOB_MANAGER_RPC_ADDRESS=" + nm("c1").jobManager, "POD_NAME=<metadata.name>", "POD_IP=<status.podIP>"}, envStrings(tmc.Env)); diff != "" {
		t.Errorf("taskmanager env (-want +got):\n%s", diff)
	}
	if p := tmc.LivenessProbe; p == nil || p.TCPSocket == nil || p.TCPSocket.Port.IntValue() != 6122 {
		t.Errorf("taskmanager liveness probe = %+v, want tcpSocket 6122", p)
	}

	for _, d := range []*appsv1.Deployment{jm, tm} {
		var managers []string
		for _, mf := range d.ManagedFields {
			managers = append(managers, mf.Manager+"/"+string(mf.Operation))
		}
		if !slices.Contains(managers, "flinkd/Apply") {
			t.Errorf("deployment %s managed fields %v, want an Apply entry of field manager flinkd", d.Name, managers)
		}
	}
}

func checkMeta(t *testing.T, what string, m metav1.ObjectMeta, wantLabels, wantAnn map[string]string) {
	t.Helper()
	if diff := cmp.Diff(wantLabels, m.Labels); diff != "" {
		t.Errorf("%s labels (-want +got):\n%s", what, diff)
	}
	// Controllers add their own annotations (deployment.kubernetes.io/revision).
	got := map[string]string{}
	for k := range wantAnn {
		if v, ok := m.Annotations[k]; ok {
			got[k] = v
		}
	}
	if diff := cmp.Diff(wantAnn, got); diff != "" {
		t.Errorf("%s annotations (-want +got):\n%s", what, diff)
	}
}

func checkPodTemplate(t *testing.T, d *appsv1.Deployment, c runtime.Cluster, component string, proc runtime.Process) {
	t.Helper()
	tpl := d.Spec.Template
	wantLabels := map[string]string{"env": "testing"}
	maps.Copy(wantLabels, runtime.OwnerLabels(c.Key, component, c.Hash)) // ours win over the user's managed-by
	if diff := cmp.Diff(wantLabels, tpl.Labels); diff != "" {
		t.Errorf("%s pod labels (-want +got):\n%s", d.Name, diff)
	}
	if diff := cmp.Diff(map[string]string{"example.com/team": "a", AnnotationSpecHash: c.Hash}, tpl.Annotations); diff != "" {
		t.Errorf("%s pod annotations (-want +got):\n%s", d.Name, diff)
	}
	if diff := cmp.Diff(selectorLabels(runtime.Ownership{}, c.Key, component), d.Spec.Selector.MatchLabels); diff != "" {
		t.Errorf("%s selector (-want +got):\n%s", d.Name, diff)
	}
	sc := tpl.Spec.SecurityContext
	if sc == nil || *sc.RunAsUser != 9999 || *sc.RunAsGroup != 9999 || *sc.FSGroup != 9999 {
		t.Errorf("%s pod security context = %+v, want uid/gid/fsGroup 9999", d.Name, sc)
	}
	if len(tpl.Spec.InitContainers) != 1 || len(tpl.Spec.Containers) != 1 {
		t.Fatalf("%s has %d init containers and %d containers, want 1 and 1", d.Name, len(tpl.Spec.InitContainers), len(tpl.Spec.Containers))
	}
	init, main := tpl.Spec.InitContainers[0], tpl.Spec.Containers[0]
	if diff := cmp.Diff([]string{"/bin/sh", "-c", initScript(flinkconf.VersionOf(c.FlinkVersion))}, init.Command); diff != "" {
		t.Errorf("%s init command (-want +got):\n%s", d.Name, diff)
	}
	mounts := func(c corev1.Container) []string {
		var out []string
		for _, m := range c.VolumeMounts {
			out = append(out, m.Name+":"+m.MountPath)
		}
		return out
	}
	if diff := cmp.Diff([]string{"flink-config:/flinkd/config", "flink-conf:/flinkd/conf"}, mounts(init)); diff != "" {
		t.Errorf("%s init mounts (-want +got):\n%s", d.Name, diff)
	}
	if diff := cmp.Diff([]string{"flink-conf:/opt/flink/conf"}, mounts(main)); diff != "" {
		t.Errorf("%s main mounts (-want +got):\n%s", d.Name, diff)
	}
	var cmVol, emptyDir bool
	for _, v := range tpl.Spec.Volumes {
		cmVol = cmVol || (v.ConfigMap != nil && v.ConfigMap.Name == nm(c.Key.Name).configMap)
		emptyDir = emptyDir || v.EmptyDir != nil
	}
	if !cmVol || !emptyDir {
		t.Errorf("%s volumes %+v, want the configmap and an emptyDir", d.Name, tpl.Spec.Volumes)
	}
	for _, ctr := range []corev1.Container{init, main} {
		if ctr.Image != c.Image || ctr.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("%s container %s image %s pull %s", d.Name, ctr.Name, ctr.Image, ctr.ImagePullPolicy)
		}
		wantRes := corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(proc.CPUMillis, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(proc.MemoryBytes, resource.BinarySI),
		}
		for name, list := range map[string]corev1.ResourceList{"requests": ctr.Resources.Requests, "limits": ctr.Resources.Limits} {
			for r, q := range wantRes {
				if got := list[r]; got.Cmp(q) != 0 {
					t.Errorf("%s container %s %s %s = %s, want %s", d.Name, ctr.Name, name, r, got.String(), q.String())
				}
			}
		}
	}
}

func envStrings(env []corev1.EnvVar) []string {
	var out []string
	for _, e := range env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			out = append(out, e.Name+"=<"+e.ValueFrom.FieldRef.FieldPath+">")
			continue
		}
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}

func getDeployment(t *testing.T, e env, name string) *appsv1.Deployment {
	t.Helper()
	d, err := e.cs.AppsV1().Deployments(e.ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment %s: %v", name, err)
	}
	return d
}

// versions captures what changes when an object is written: resourceVersion for the
// ConfigMap and Service (nothing else writes them), generation for the Deployments (their
// status changes all the time).
func versions(t *testing.T, e env, name string) map[string]string {
	t.Helper()
	return versionsOf(t, e, nm(name))
}

func versionsOf(t *testing.T, e env, n names) map[string]string {
	t.Helper()
	ctx := t.Context()
	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(ctx, n.configMap, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get configmap: %v", err)
	}
	svc, err := e.cs.CoreV1().Services(e.ns).Get(ctx, n.service, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get service: %v", err)
	}
	jm := getDeployment(t, e, n.jobManager)
	tm := getDeployment(t, e, n.taskManager)
	return map[string]string{
		"configmap":  cm.ResourceVersion + " " + cm.Annotations[AnnotationSpecHash],
		"service":    svc.ResourceVersion,
		"jobmanager": strings.Join([]string{itoa(jm.Generation), jm.Annotations[AnnotationSpecHash]}, " "),
		"taskmanager": strings.Join([]string{itoa(tm.Generation), itoa(int64(*tm.Spec.Replicas)),
			tm.Annotations[AnnotationSpecHash]}, " "),
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func TestApplyAgainWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	c := testCluster(t, "c1", 2)
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	before := versions(t, e, "c1")
	var progress progressLog
	if err := e.r.Apply(ctx, c, progress.fn()); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if diff := cmp.Diff(before, versions(t, e, "c1")); diff != "" {
		t.Errorf("second Apply changed objects (-before +after):\n%s", diff)
	}
	if len(progress) != 0 {
		t.Errorf("second Apply reported %v, want nothing", progress)
	}
}

func TestApplyRefusesANameTakenByAForeignObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	foreign := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: nm("c1").jobManager, Labels: map[string]string{"app": "someone-elses"}},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}
	foreign, err := e.cs.CoreV1().Services(e.ns).Create(ctx, foreign, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create foreign service: %v", err)
	}

	err = e.r.Apply(ctx, testCluster(t, "c1", 1), nil)
	if !errors.Is(err, runtime.ErrNotOwned) {
		t.Fatalf("Apply = %v, want an error wrapping ErrNotOwned", err)
	}
	if !strings.Contains(err.Error(), "service "+nm("c1").jobManager) {
		t.Errorf("error %q does not name the object", err)
	}
	after, err := e.cs.CoreV1().Services(e.ns).Get(ctx, nm("c1").jobManager, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get foreign service: %v", err)
	}
	if after.ResourceVersion != foreign.ResourceVersion {
		t.Errorf("foreign service was written (resourceVersion %s → %s)", foreign.ResourceVersion, after.ResourceVersion)
	}
	if _, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(ctx, nm("c1").configMap, metav1.GetOptions{}); err == nil {
		t.Errorf("the configmap was created although the cluster was refused")
	}
	if _, err := e.cs.AppsV1().Deployments(e.ns).Get(ctx, nm("c1").taskManager, metav1.GetOptions{}); err == nil {
		t.Errorf("the taskmanager deployment was created although the cluster was refused")
	}

	// Nothing about the foreign object is reported or removed.
	obs, err := e.r.Observe(ctx, runtime.Key{Namespace: "team-a", Name: "c1"})
	if err != nil || obs.Exists {
		t.Errorf("Observe = %+v, %v; want Exists false", obs, err)
	}
	if keys, err := e.r.List(ctx); err != nil || len(keys) != 0 {
		t.Errorf("List = %v, %v; want none", keys, err)
	}
	if err := e.r.Delete(ctx, runtime.Key{Namespace: "team-a", Name: "c1"}); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if _, err := e.cs.CoreV1().Services(e.ns).Get(ctx, nm("c1").jobManager, metav1.GetOptions{}); err != nil {
		t.Errorf("foreign service gone after Delete: %v", err)
	}
}

// Objects an older flinkd made for team-a/c1, under the names without the namespace
// ("c1-..."), are not team-b/c1's: team-b/c1 runs beside them under its own names, and
// neither its Apply nor its Delete adopts or changes them.
func TestLegacyObjectsOfAnotherNamespaceAreLeftAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	a := testCluster(t, "c1", 1)
	old := legacyNames(a.Key)
	legacy, err := desiredObjects(e.r.own, a, e.ns, old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.applyAll(ctx, legacy, false); err != nil {
		t.Fatalf("apply team-a/c1 under legacy names: %v", err)
	}
	before := versionsOf(t, e, old)

	b := testCluster(t, "c1", 3)
	b.Key.Namespace = "team-b"
	b.Hash = hash2
	if err := e.r.Apply(ctx, b, nil); err != nil {
		t.Fatalf("Apply team-b/c1 beside team-a/c1's legacy objects: %v", err)
	}
	if diff := cmp.Diff(before, versionsOf(t, e, old)); diff != "" {
		t.Errorf("Apply of team-b/c1 changed team-a's objects (-before +after):\n%s", diff)
	}
	if obs, err := e.r.Observe(ctx, b.Key); err != nil || !obs.Exists || strings.Contains(obs.REST.URL, old.service+":") {
		t.Errorf("Observe team-b/c1 = %+v, %v; want its own objects", obs, err)
	}
	if err := e.r.Delete(ctx, b.Key); err != nil {
		t.Errorf("Delete team-b/c1: %v", err)
	}
	if diff := cmp.Diff(before, versionsOf(t, e, old)); diff != "" {
		t.Errorf("Delete of team-b/c1 changed team-a's objects (-before +after):\n%s", diff)
	}
}

func TestRefusedChangeLeavesEveryObjectUntouched(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	c := testCluster(t, "c1", 1)
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	before := versions(t, e, "c1")

	// A new hash would rewrite the ConfigMap first; the invalid pod label only fails on the
	// Deployments, so without the dry run the ConfigMap would already be changed.
	bad := c
	bad.Hash = hash2
	bad.TaskManagers = 3
	bad.Labels = map[string]string{"env": "not a valid label value!"}
	err := e.r.Apply(ctx, bad, nil)
	if err == nil || errors.Is(err, runtime.ErrNotOwned) {
		t.Fatalf("Apply with an invalid pod label = %v, want a validation error", err)
	}
	if !strings.Contains(err.Error(), "deployment "+nm("c1").jobManager) {
		t.Errorf("error %q does not name the refused object", err)
	}
	if diff := cmp.Diff(before, versions(t, e, "c1")); diff != "" {
		t.Errorf("refused Apply changed objects (-before +after):\n%s", diff)
	}
}

func TestListReportsEveryLabelledClusterOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, time.Minute)
	for _, name := range []string{"c2", "c1"} {
		if err := e.r.Apply(ctx, testCluster(t, name, 0), nil); err != nil {
			t.Fatalf("Apply %s: %v", name, err)
		}
	}
	foreign := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x-flink-config"}}
	if _, err := e.cs.CoreV1().ConfigMaps(e.ns).Create(ctx, foreign, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create foreign configmap: %v", err)
	}
	keys, err := e.r.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := []runtime.Key{{Namespace: "team-a", Name: "c1"}, {Namespace: "team-a", Name: "c2"}}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}

func TestScaleUpAddsPodsAndKeepsTheRunningOnes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	c := testCluster(t, "c1", 1)
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	before := waitReady(t, e.r, c.Key, 1, hash1)

	c.TaskManagers = 3
	var progress progressLog
	if err := e.r.Apply(ctx, c, progress.fn()); err != nil {
		t.Fatalf("Apply 3: %v", err)
	}
	if diff := cmp.Diff([]string{"Scaled deployment " + nm("c1").taskManager + " from 1 to 3 taskmanagers"}, []string(progress)); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	after := waitReady(t, e.r, c.Key, 3, hash1)
	if !slices.ContainsFunc(after.TaskManagers, func(in runtime.Instance) bool { return in.RuntimeID == before.TaskManagers[0].RuntimeID }) {
		t.Errorf("the first taskmanager pod %s was replaced while scaling up: %+v", before.TaskManagers[0].ID, after.TaskManagers)
	}
	if after.JobManager.RuntimeID != before.JobManager.RuntimeID {
		t.Errorf("the jobmanager pod was replaced while scaling up")
	}
	waitAvailable(t, e, nm("c1").taskManager, 3)
}

func TestScaleDownRemovesThePodsNamedInRemoveFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	c := testCluster(t, "c1", 4)
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	obs := waitReady(t, e.r, c.Key, 4, hash1)
	// Left alone, the ReplicaSet controller removes the youngest pods; name two of the
	// oldest (and an unknown ID, which must not matter).
	tms := slices.Clone(obs.TaskManagers)
	slices.SortStableFunc(tms, func(a, b runtime.Instance) int { return a.StartedAt.Compare(b.StartedAt) })
	removeFirst := []string{tms[1].ID, "no-such-pod", tms[0].ID}
	wantLeft := []string{tms[2].ID, tms[3].ID}
	slices.Sort(wantLeft)

	w, err := e.cs.CoreV1().Pods(e.ns).Watch(ctx, metav1.ListOptions{ResourceVersion: podListVersion(t, e)})
	if err != nil {
		t.Fatalf("watch pods: %v", err)
	}
	defer w.Stop()

	c.TaskManagers = 2
	c.RemoveFirst = removeFirst
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply 2: %v", err)
	}
	after := waitReady(t, e.r, c.Key, 2, hash1)
	var left []string
	for _, tm := range after.TaskManagers {
		left = append(left, tm.ID)
	}
	if diff := cmp.Diff(wantLeft, left); diff != "" {
		t.Errorf("taskmanagers left (-want +got):\n%s", diff)
	}

	// The removed pods carried the deletion costs when they went: the first entry lowest.
	costs := map[string]string{}
	deadline := time.After(30 * time.Second)
	for len(costs) < 2 {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("pod watch closed")
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && ev.Type == watch.Deleted {
				costs[p.Name] = p.Annotations[AnnotationDeletionCost]
			}
		case <-deadline:
			t.Fatalf("saw only these pods deleted: %v", costs)
		}
	}
	want := map[string]string{tms[1].ID: "-1002", tms[0].ID: "-1000"}
	if diff := cmp.Diff(want, costs); diff != "" {
		t.Errorf("deletion costs of the removed pods (-want +got):\n%s", diff)
	}
	for _, id := range left {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, id, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get pod %s: %v", id, err)
		}
		if v, ok := p.Annotations[AnnotationDeletionCost]; ok {
			t.Errorf("kept pod %s has deletion cost %q", id, v)
		}
	}
}

// waitAvailable waits until a Deployment reports n available replicas of its current spec.
func waitAvailable(t *testing.T, e env, name string, n int32) {
	t.Helper()
	eventually(t, 60*time.Second, "deployment "+name+" available", func() (bool, string) {
		d := getDeployment(t, e, name)
		s := d.Status
		return s.ObservedGeneration == d.Generation && s.AvailableReplicas == n && s.UpdatedReplicas == n && s.Replicas == n,
			fmt.Sprintf("%+v", s)
	})
}

func podListVersion(t *testing.T, e env) string {
	t.Helper()
	l, err := e.cs.CoreV1().Pods(e.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	return l.ResourceVersion
}

func TestHashChangeRollsEveryPod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	c := testCluster(t, "c1", 2)
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	waitReady(t, e.r, c.Key, 2, hash1)

	c.Hash = hash2
	c.FlinkConfig = map[string]string{"taskmanager.numberOfTaskSlots": "4"}
	var progress progressLog
	if err := e.r.Apply(ctx, c, progress.fn()); err != nil {
		t.Fatalf("Apply new hash: %v", err)
	}
	want := []string{
		"Updated configmap " + nm("c1").configMap,
		"Updated service " + nm("c1").jobManager,
		"Updated deployment " + nm("c1").jobManager,
		"Updated deployment " + nm("c1").taskManager,
	}
	if diff := cmp.Diff(want, []string(progress)); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	obs := waitReady(t, e.r, c.Key, 2, hash2)
	if obs.Hash != hash2 {
		t.Errorf("Observed.Hash = %q, want %q", obs.Hash, hash2)
	}
	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(ctx, nm("c1").configMap, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get configmap: %v", err)
	}
	if configMapConf(t, cm.Data)["taskmanager.numberOfTaskSlots"] != "4" {
		t.Errorf("configmap not updated:\n%s", cm.Data[flinkconf.ConfigYAML])
	}
}

func TestPodsPassTheRestrictedPodSecurityStandard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	ns, err := e.cs.CoreV1().Namespaces().Get(ctx, e.ns, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get namespace: %v", err)
	}
	ns.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	if _, err := e.cs.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("label namespace: %v", err)
	}
	// The admission plugin is really enforcing: a plain pod is refused.
	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "localhost/flink-sim:1.20"}}}}
	if _, err := e.cs.CoreV1().Pods(e.ns).Create(ctx, plain, metav1.CreateOptions{}); err == nil ||
		!strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("creating a plain pod in a restricted namespace = %v, want a PodSecurity violation", err)
	}

	c := testCluster(t, "c1", 1)
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	obs := waitReady(t, e.r, c.Key, 1, hash1)
	if obs.Message != "" {
		t.Errorf("Observed.Message = %q, want none", obs.Message)
	}
}
