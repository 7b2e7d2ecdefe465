package kubetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flinkd/flinkd/test/testenv"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

const runnerTestImage = "localhost/flink-sim:1.20"

// The runner plays the kubelet: a pod bound to its Node runs as a Docker container with the
// pod's env, args, user and ConfigMap files, reaches Running and Ready with its IP, the API
// server's service proxy reaches it, a container that dies is restarted and reported, pods
// that end are Succeeded or Failed, a missing image is reported, and a deleted pod's
// container is removed before the pod is finalized.
func TestPodRunnerRunsPodsAsDockerContainersLikeAKubelet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a control plane and containers on the Docker engine (not with -short)")
	}
	docker, cp, r, stopped := startExclusiveRunner(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	kwok, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil || !kwok.Spec.Unschedulable {
		t.Errorf("kwok's node %s: %v, unschedulable %v; want it cordoned by an exclusive runner", NodeName, err, kwok.Spec.Unschedulable)
	}
	ns := cp.Namespace(t)

	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, jobManagerConfig("web-conf", "web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "web"},
		Ports:    []corev1.ServicePort{{Name: "rest", Port: 8081, TargetPort: intstr.FromInt32(8081)}},
	}}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web := jobManagerPod("web", "web-conf")
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*corev1.Pod{
		onePod("done", runnerTestImage, corev1.RestartPolicyNever, "help"),
		onePod("bad", runnerTestImage, corev1.RestartPolicyNever, "no-such-command"),
		onePod("nopull", "localhost/not-on-this-engine:1", corev1.RestartPolicyAlways, "help"),
	} {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	pod := waitPod(t, cs, ns, "web", "Running and Ready", func(p *corev1.Pod) bool { return podReady(p) && p.Status.PodIP != "" })
	if pod.Spec.NodeName != r.NodeName() {
		t.Errorf("web runs on node %q, want %s", pod.Spec.NodeName, r.NodeName())
	}
	ids, err := r.ContainerIDs(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := docker.ContainerInspect(ctx, ids[ns+"/web"])
	if err != nil {
		t.Fatalf("inspect web's container: %v", err)
	}
	if ins.Config.User != "9999:9999" || !slices.Contains(ins.Config.Env, "POD_IP="+pod.Status.PodIP) ||
		!slices.Equal(ins.Config.Cmd, []string{"jobmanager", "-Dweb.pod=web"}) || ins.Config.Hostname != "web" {
		t.Errorf("web's container: user %q, env %q, cmd %q, hostname %q", ins.Config.User, ins.Config.Env, ins.Config.Cmd, ins.Config.Hostname)
	}
	var aliases []string
	for _, n := range ins.NetworkSettings.Networks {
		if n.IPAddress == pod.Status.PodIP {
			aliases = n.Aliases
		}
	}
	if !slices.Contains(aliases, "web") {
		t.Errorf("web's container has aliases %q on the pod's network, want the Service's name web", aliases)
	}

	// The API server reaches the container through the Service (the endpointslice controller
	// picked up the Ready pod), and the container read the ConfigMap's file.
	proxy := serviceProxy(t, cp.Config, ns, "web", "rest")
	var config []struct{ Key, Value string }
	eventuallyOK(t, time.Minute, "the JobManager's REST API answers through the service proxy", func() (bool, string) {
		err := proxy("/jobmanager/config", &config)
		return err == nil, fmt.Sprint(err)
	})
	if !slices.Contains(config, struct{ Key, Value string }{"test.marker", "from-the-configmap"}) {
		t.Errorf("/jobmanager/config = %+v; want the ConfigMap's test.marker", config)
	}

	// A container that dies is restarted; the pod says so.
	if err := docker.ContainerKill(ctx, ids[ns+"/web"], "KILL"); err != nil {
		t.Fatal(err)
	}
	pod = waitPod(t, cs, ns, "web", "restarted once and Ready again", func(p *corev1.Pod) bool {
		s := p.Status.ContainerStatuses
		return podReady(p) && len(s) == 1 && s[0].RestartCount == 1 && s[0].LastTerminationState.Terminated != nil
	})
	if last := pod.Status.ContainerStatuses[0].LastTerminationState.Terminated; last.ExitCode != 137 {
		t.Errorf("last termination = %+v, want exit code 137", last)
	}

	waitPod(t, cs, ns, "done", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	bad := waitPod(t, cs, ns, "bad", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if s := bad.Status.ContainerStatuses; len(s) != 1 || s[0].State.Terminated == nil || s[0].State.Terminated.ExitCode != 127 {
		t.Errorf("bad's container status = %+v, want terminated with exit code 127", s)
	}
	nopull := waitPod(t, cs, ns, "nopull", "waiting for its image", func(p *corev1.Pod) bool {
		s := p.Status.ContainerStatuses
		return len(s) == 1 && s[0].State.Waiting != nil && s[0].State.Waiting.Reason == reasonErrImagePull
	})
	if nopull.Status.Phase != corev1.PodPending {
		t.Errorf("nopull's phase = %s, want Pending", nopull.Status.Phase)
	}

	// A deleted pod: container removed, then the pod finalized.
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventuallyOK(t, time.Minute, "web's container removed and the pod finalized", func() (bool, string) {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		ids, lerr := r.ContainerIDs(ctx, ns)
		if lerr != nil {
			return false, lerr.Error()
		}
		return apierrors.IsNotFound(err) && ids[ns+"/web"] == "", fmt.Sprintf("get: %v; containers %v", err, ids)
	})

	// Stop removes everything the runner made, and its Node.
	*stopped = true
	if err := r.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	f := filters.NewArgs(filters.Arg("label", labelRunner+"="+r.id))
	ctrs, err := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil || len(ctrs) > 0 {
		t.Errorf("containers left after Stop: %d (%v)", len(ctrs), err)
	}
	nets, err := docker.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil || len(nets) > 0 {
		t.Errorf("networks left after Stop: %d (%v)", len(nets), err)
	}
	if _, err := cs.CoreV1().Nodes().Get(ctx, r.NodeName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node %s after Stop: %v, want it deleted", r.NodeName(), err)
	}
}

// jobManagerConfig is the Flink configuration of a stand-in JobManager whose REST API
// listens on 0.0.0.0:8081, with test.marker from-the-configmap.
func jobManagerConfig(name, jobManager string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{
		"config.yaml": "jobmanager.rpc.address: " + jobManager + "\njobmanager.bind-host: 0.0.0.0\nrest.bind-address: 0.0.0.0\n" +
			"rest.port: 8081\njobmanager.memory.process.size: 1600m\ntest.marker: from-the-configmap\n",
		"log4j-console.properties": "rootLogger.level = INFO\nrootLogger.appenderRef.console.ref = ConsoleAppender\n" +
			"appender.console.name = ConsoleAppender\nappender.console.type = CONSOLE\n",
	}}
}

// jobManagerPod is a stand-in JobManager pod shaped like flinkd's: the ConfigMap reaches the
// conf folder through an init container and an emptyDir, the args refer to the env.
func jobManagerPod(name, configMap string) *corev1.Pod {
	uid := int64(9999)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: configMap}}}},
				{Name: "conf", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			InitContainers: []corev1.Container{{Name: "copy-config", Image: runnerTestImage,
				Command:      []string{"/bin/sh", "-c", "cp /config/* /opt/flink/conf/"},
				VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/config"}, {Name: "conf", MountPath: "/opt/flink/conf"}}}},
			Containers: []corev1.Container{{
				Name:  "jobmanager",
				Image: runnerTestImage,
				Args:  []string{"jobmanager", "-Dweb.pod=$(POD_NAME)"},
				Env: []corev1.EnvVar{
					{Name: "JOB_MANAGER_RPC_ADDRESS", Value: name},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "conf", MountPath: "/opt/flink/conf"}},
			}},
		},
	}
}

// onePod runs the stand-in image with one argument.
func onePod(name, image string, restart corev1.RestartPolicy, arg string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{RestartPolicy: restart, Containers: []corev1.Container{
			{Name: "main", Image: image, Args: []string{arg}, ImagePullPolicy: corev1.PullIfNotPresent},
		}},
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return p.Status.Phase == corev1.PodRunning
		}
	}
	return false
}

func waitPod(t *testing.T, cs kubernetes.Interface, ns, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventuallyOK(t, 2*time.Minute, "pod "+name+" "+what, func() (bool, string) {
		p, err := cs.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		status, _ := json.Marshal(p.Status)
		return cond(p), string(status)
	})
	return pod
}

// serviceProxy returns a GET through the API server's proxy of service name's port.
func serviceProxy(t *testing.T, cfg *rest.Config, ns, name, port string) func(path string, out any) error {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("%s/api/v1/namespaces/%s/services/%s:%s/proxy", strings.TrimSuffix(u.String(), "/"), ns, name, port)
	return func(path string, out any) error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
		}
		return json.Unmarshal(body, out)
	}
}

func eventuallyOK(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s; last seen: %s", what, timeout, seen)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: test ended", what)
		case <-time.After(200 * time.Millisecond): // poll interval
		}
	}
}

// startControlPlane starts a control plane for one test: skipped loudly without the
// binaries (failed under CI or FLINKD_REQUIRE_KUBE=1).
// startExclusiveRunner starts a control plane with nodes (kwok's own cordoned) and an
// exclusive pod runner on it; the runner is stopped when the test ends unless the test set
// *stopped after stopping it itself.
func startExclusiveRunner(t *testing.T) (*client.Client, *ControlPlane, *PodRunner, *bool) {
	t.Helper()
	docker := runnerDocker(t)
	cp := startControlPlane(t, Options{Nodes: true, KwokOwnNodeOnly: true})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	r, err := StartPodRunner(ctx, PodRunnerConfig{REST: cp.Config, Docker: docker, Exclusive: true,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatalf("StartPodRunner: %v", err)
	}
	stopped := new(bool)
	t.Cleanup(func() {
		if !*stopped {
			_ = r.Stop(context.Background())
		}
	})
	return docker, cp, r, stopped
}

func startControlPlane(t *testing.T, opts Options) *ControlPlane {
	t.Helper()
	// envtest logs through controller-runtime's logger; without one it prints a stack trace.
	ctrllog.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cp, err := Start(ctx, opts)
	if errors.Is(err, ErrNoBinaries) && !Required() {
		t.Skipf("\n\n!!! SKIPPING: no real Kubernetes API server for this test: %v\n"+
			"!!! Run `bash hack/kube-test-bins.sh` once (or set KUBEBUILDER_ASSETS); under CI=true or "+
			"FLINKD_REQUIRE_KUBE=1 this is a failure.\n\n", err)
	}
	if err != nil {
		t.Fatalf("start a real Kubernetes control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stop the control plane: %v", err)
		}
	})
	return cp
}

// runnerDocker returns a Docker client and makes sure the stand-in image exists; no engine
// fails the test.
func runnerDocker(t *testing.T) *client.Client {
	t.Helper()
	cli := testenv.Engine(t)
	testenv.SimImageFor(t, cli, "1.20")
	return cli
}
