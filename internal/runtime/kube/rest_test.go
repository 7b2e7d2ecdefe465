package kube

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flinkd/flinkd/test/testenv"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/test/kubetest"
)

// simImage is the stand-in Flink image built by hack/sim-image.sh.
const simImage = "localhost/flink-sim:1.20"

// dockerTestLabel marks the containers and networks these tests run, for cleanup.
const dockerTestLabel = "flinkd-test.kube"

// TestRESTReachesAStandInJobManagerThroughTheServiceProxy runs the JobManager and one
// TaskManager exactly as the runtime's Deployments describe them (image, args, env with
// Kubernetes' $(VAR) expansion, user, the ConfigMap's files in the conf folder), as
// stand-in containers on a Docker network, playing the kubelet. In the API server, the
// JobManager pod carries the container's IP and a selector-less Service with an
// EndpointSlice points at it. Observed.REST must then reach the JobManager's REST API through
// the API server's service proxy and show the TaskManager registered under its pod name.
func TestRESTReachesAStandInJobManagerThroughTheServiceProxy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cli := dockerEngine(t)
	ensureSimImage(t, cli)
	ctx := ctxFor(t, 3*time.Minute)

	c := testCluster(t, "c1", 1)
	want, err := desiredObjects(runtime.Ownership{}, c, e.ns, namesFor(c.Key))
	if err != nil {
		t.Fatal(err)
	}
	netID := dockerNetwork(t, cli, "flinkd-kubetest-"+e.ns)
	jmPod, tmPod := "c1-jobmanager-6d5f8c9b7-x2x4z", "c1-taskmanager-7c9d6b8f5-k8q2p"
	files := want.configMap.Data
	jmIP := runPod(t, cli, netID, e.ns, jmPod, want.jobManager.Spec.Template, files, namesFor(c.Key).service)
	runPod(t, cli, netID, e.ns, tmPod, want.taskManager.Spec.Template, files)

	// The API server proxies only to endpoints that are pods with that IP.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: jmPod, Labels: runtime.OwnerLabels(c.Key, runtime.ComponentJobManager, c.Hash),
			Annotations: map[string]string{AnnotationSpecHash: c.Hash}},
		Spec: corev1.PodSpec{SchedulerName: "not-scheduled-stand-in",
			Containers: []corev1.Container{{Name: runtime.ComponentJobManager, Image: simImage}}},
	}
	pod, err = e.cs.CoreV1().Pods(e.ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create jobmanager pod: %v", err)
	}
	now := metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIP:      jmIP,
		PodIPs:     []corev1.PodIP{{IP: jmIP}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: runtime.ComponentJobManager, Image: simImage, ImageID: simImage,
			Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
	}
	if _, err := e.cs.CoreV1().Pods(e.ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("set jobmanager pod status: %v", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: namesFor(c.Key).service, Labels: want.service.Labels},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "rpc", Port: 6123, Protocol: corev1.ProtocolTCP},
			{Name: "rest", Port: 8081, Protocol: corev1.ProtocolTCP},
		}},
	}
	if _, err := e.cs.CoreV1().Services(e.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create selector-less service: %v", err)
	}
	ready, restName, restPort, tcp := true, "rest", int32(8081), corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: namesFor(c.Key).service + "-stand-in", Labels: map[string]string{
			discoveryv1.LabelServiceName: namesFor(c.Key).service,
			discoveryv1.LabelManagedBy:   "flinkd-test",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{jmIP},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: e.ns, Name: jmPod, UID: pod.UID},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: &restName, Port: &restPort, Protocol: &tcp}},
	}
	if _, err := e.cs.DiscoveryV1().EndpointSlices(e.ns).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create endpointslice: %v", err)
	}

	obs, err := e.r.Observe(ctx, c.Key)
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	if obs.REST.URL == "" || obs.REST.Client == nil {
		t.Fatalf("Observed.REST = %+v, want the service proxy", obs.REST)
	}
	if obs.JobManager == nil || obs.JobManager.ID != jmPod || !obs.JobManager.Ready {
		t.Errorf("JobManager = %+v, want the ready stand-in pod %s", obs.JobManager, jmPod)
	}

	var tms struct {
		TaskManagers []struct {
			ID          string `json:"id"`
			SlotsNumber int    `json:"slotsNumber"`
		} `json:"taskmanagers"`
	}
	// Its slots come in a slot report after the registration.
	eventually(t, 90*time.Second, "the taskmanager registered with its slots, seen through the proxy", func() (bool, string) {
		body, err := get(ctx, obs.REST, "/taskmanagers")
		if err != nil {
			return false, err.Error()
		}
		if err := json.Unmarshal(body, &tms); err != nil {
			return false, fmt.Sprintf("%v: %s", err, body)
		}
		return len(tms.TaskManagers) == 1 && tms.TaskManagers[0].ID == tmPod && tms.TaskManagers[0].SlotsNumber > 0, string(body)
	})
	body, err := get(ctx, obs.REST, "/overview")
	if err != nil {
		t.Fatalf("GET /overview through the proxy: %v", err)
	}
	var ov struct {
		TaskManagers int    `json:"taskmanagers"`
		SlotsTotal   int    `json:"slots-total"`
		FlinkVersion string `json:"flink-version"`
	}
	if err := json.Unmarshal(body, &ov); err != nil {
		t.Fatalf("decode /overview %s: %v", body, err)
	}
	// taskmanager.numberOfTaskSlots: 2 comes from the ConfigMap the runtime rendered.
	if ov.TaskManagers != 1 || ov.SlotsTotal != 2 || !strings.HasPrefix(ov.FlinkVersion, "1.20") {
		t.Errorf("/overview = %s; want 1 taskmanager with 2 slots, Flink 1.20", body)
	}
}

func get(ctx context.Context, ep runtime.Endpoint, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.URL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := ep.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body, nil
}

// runPod runs the main container of a pod template as a Docker container named after the
// pod, with the ConfigMap's files in the conf folder (what the init container does), and
// returns its IP on the network.
func runPod(t *testing.T, cli *client.Client, netID, ns, podName string, tpl *applycorev1.PodTemplateSpecApplyConfiguration,
	files map[string]string, aliases ...string,
) string {
	t.Helper()
	ctx := t.Context()
	spec := tpl.Spec
	ctr := spec.Containers[0]
	name := podName + "-" + ns
	env := map[string]string{}
	var envList []string
	for _, ev := range ctr.Env {
		var v string
		switch {
		case ev.Value != nil:
			v = kubetest.ExpandVars(*ev.Value, env)
		case ev.ValueFrom != nil && *ev.ValueFrom.FieldRef.FieldPath == "metadata.name":
			v = podName
		case ev.ValueFrom != nil && *ev.ValueFrom.FieldRef.FieldPath == "status.podIP":
			v = name // the container's DNS name stands in for the pod IP
		default:
			t.Fatalf("env %s of %s: no stand-in for %+v", *ev.Name, podName, ev)
		}
		env[*ev.Name] = v
		envList = append(envList, *ev.Name+"="+v)
	}
	var args []string
	for _, a := range ctr.Args {
		args = append(args, kubetest.ExpandVars(a, env))
	}
	sc := spec.SecurityContext
	user := fmt.Sprintf("%d:%d", *sc.RunAsUser, *sc.RunAsGroup)
	created, err := cli.ContainerCreate(ctx,
		&container.Config{Image: *ctr.Image, Cmd: args, Env: envList, User: user, Hostname: podName,
			Labels: map[string]string{dockerTestLabel: ns}},
		&container.HostConfig{},
		&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netID: {Aliases: aliases}}},
		nil, name)
	if err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if t.Failed() {
			if rc, err := cli.ContainerLogs(ctx, created.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: "40"}); err == nil {
				var out bytes.Buffer
				_, _ = stdcopy.StdCopy(&out, &out, rc)
				rc.Close()
				t.Logf("last lines of %s (args %q, env %q):\n%s", name, args, envList, out.String())
			}
		}
		if err := cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: remove container %s: %v", name, err)
		}
	})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, fn := range slices.Sorted(maps.Keys(files)) {
		data := files[fn]
		hdr := &tar.Header{Name: fn, Mode: 0o644, Size: int64(len(data)), Uid: flinkconf.ImageUID, Gid: flinkconf.ImageUID,
			ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cli.CopyToContainer(ctx, created.ID, flinkconf.Dir, &buf, container.CopyToContainerOptions{}); err != nil {
		t.Fatalf("copy config into %s: %v", name, err)
	}
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start container %s: %v", name, err)
	}
	info, err := cli.ContainerInspect(ctx, created.ID)
	if err != nil {
		t.Fatalf("inspect container %s: %v", name, err)
	}
	for _, n := range info.NetworkSettings.Networks {
		if n.NetworkID == netID && n.IPAddress != "" {
			return n.IPAddress
		}
	}
	t.Fatalf("container %s has no IP on network %s", name, netID)
	return ""
}

// dockerNetwork creates a user-defined network (service-name DNS between the stand-ins)
// and removes it when the test ends.
func dockerNetwork(t *testing.T, cli *client.Client, name string) string {
	t.Helper()
	resp, err := cli.NetworkCreate(t.Context(), name, network.CreateOptions{Labels: map[string]string{dockerTestLabel: name}})
	if err != nil {
		t.Fatalf("create network %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// Containers are removed by their own cleanups, which run first (registered later).
		if err := cli.NetworkRemove(ctx, resp.ID); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: remove network %s: %v", name, err)
		}
	})
	return resp.ID
}

// dockerEngine returns a client of the test engine and fails the test when none answers; it
// also removes leftovers of an earlier run that was killed before its cleanups.
func dockerEngine(t *testing.T) *client.Client {
	t.Helper()
	cli := testenv.Engine(t)
	f := filters.NewArgs(filters.Arg("label", dockerTestLabel))
	if ctrs, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: f}); err == nil {
		for _, c := range ctrs {
			if time.Since(time.Unix(c.Created, 0)) > time.Hour {
				_ = cli.ContainerRemove(t.Context(), c.ID, container.RemoveOptions{Force: true})
			}
		}
	}
	return cli
}

// ensureSimImage builds the stand-in image with hack/sim-image.sh when it is missing.
func ensureSimImage(t *testing.T, cli *client.Client) {
	t.Helper()
	testenv.SimImageFor(t, cli, "1.20")
}
