package e2ekube

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/flinkd/flinkd/internal/runtime"
)

// kubeTarget is one Kubernetes target of a flinkd configuration file.
type kubeTarget struct {
	Name, Kubeconfig, Namespace string
}

// configYAML renders flinkd's configuration file with these Kubernetes targets (flinkd adds
// "default", the local Docker engine).
func configYAML(targets ...kubeTarget) string {
	var b strings.Builder
	b.WriteString("targets:\n")
	for _, t := range targets {
		fmt.Fprintf(&b, "  %s:\n    kubernetes:\n      kubeconfig: %s\n      namespace: %s\n", t.Name, t.Kubeconfig, t.Namespace)
	}
	return b.String()
}

// clusterYAML renders a SessionCluster of the stand-in image on target, with one slot per
// TaskManager and fast heartbeats.
func clusterYAML(name, target, state string, taskManagers int) string {
	return fmt.Sprintf(`# e2e cluster %[1]s
kind: SessionCluster
apiVersion: v1
metadata:
  name: %[1]s
  labels:
    env: e2e
spec:
  state: %[3]s
  deploymentTargetName: %[2]s
  flinkVersion: "1.20"
  flinkImageRegistry: localhost
  flinkImageRepository: flink-sim
  flinkImageTag: "1.20"
  numberOfTaskManagers: %[4]d
  resources:
    jobmanager:
      cpu: 0.5
      memory: 1g
    taskmanager:
      cpu: 0.5
      memory: 2g
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 1
    heartbeat.interval: 200
    heartbeat.timeout: 2000
  logging:
    log4jLoggers:
      "": INFO
      org.apache.flink.streaming.examples: DEBUG
  kubernetes:
    pods:
      envVars:
        - name: KEY
          value: VALUE
`, name, target, state, taskManagers)
}

// unreachableKubeconfig writes a kubeconfig whose API server is a closed local port.
func unreachableKubeconfig(t *testing.T) (path, server string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server = "https://" + l.Addr().String()
	l.Close()
	path = filepath.Join(t.TempDir(), "unreachable.kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: gone
  user:
    token: not-a-token
contexts:
- name: gone
  context:
    cluster: gone
    user: gone
current-context: gone
`, server)
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, server
}

// pods lists the pods of cluster name's component ("" for all) in ns, sorted by name.
func (e env) pods(t *testing.T, ns, name, component string) []corev1.Pod {
	t.Helper()
	sel := labels.Set{runtime.LabelInstance: name}
	if component != "" {
		sel[runtime.LabelComponent] = component
	}
	list, err := e.cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	pods := list.Items
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods
}

func podNames(pods []corev1.Pod) []string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	return names
}

// leftovers lists what of cluster name is still in namespace ns, as "kind/name": its
// objects, pods, the Service's EndpointSlices, and the pod runner's containers.
func (e env) leftovers(t *testing.T, ns, name string) []string {
	t.Helper()
	ctx := t.Context()
	opts := metav1.ListOptions{LabelSelector: labels.Set{runtime.LabelInstance: name}.String()}
	var left []string
	add := func(kind string, names []string) {
		for _, n := range names {
			left = append(left, kind+"/"+n)
		}
	}
	check := func(kind string, err error) {
		if err != nil {
			t.Fatalf("list %ss in %s: %v", kind, ns, err)
		}
	}
	cms, err := e.cs.CoreV1().ConfigMaps(ns).List(ctx, opts)
	check("configmap", err)
	add("configmap", metaNames(cms.Items))
	svcs, err := e.cs.CoreV1().Services(ns).List(ctx, opts)
	check("service", err)
	add("service", metaNames(svcs.Items))
	deps, err := e.cs.AppsV1().Deployments(ns).List(ctx, opts)
	check("deployment", err)
	add("deployment", metaNames(deps.Items))
	rss, err := e.cs.AppsV1().ReplicaSets(ns).List(ctx, opts)
	check("replicaset", err)
	add("replicaset", metaNames(rss.Items))
	pods, err := e.cs.CoreV1().Pods(ns).List(ctx, opts)
	check("pod", err)
	add("pod", metaNames(pods.Items))
	// EndpointSlices carry the Service's name, not the cluster's labels.
	eps, err := e.cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{
		LabelSelector: "kubernetes.io/service-name=" + name + "-default-jobmanager"})
	check("endpointslice", err)
	add("endpointslice", metaNames(eps.Items))
	ctrs, err := e.runner.ContainerIDs(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	for pod := range ctrs {
		if strings.HasPrefix(pod, ns+"/"+name+"-") {
			left = append(left, "container-of-pod/"+pod)
		}
	}
	slices.Sort(left)
	return left
}

func metaNames[T any, P interface {
	*T
	GetName() string
}](items []T) []string {
	out := make([]string, len(items))
	for i := range items {
		out[i] = P(&items[i]).GetName()
	}
	return out
}

// containerOf returns the Docker container the pod runner runs pod in, and its log.
func (e env) containerOf(t *testing.T, ns, pod string) (container.InspectResponse, string) {
	t.Helper()
	ids, err := e.runner.ContainerIDs(t.Context(), ns)
	if err != nil {
		t.Fatal(err)
	}
	id := ids[ns+"/"+pod]
	if id == "" {
		t.Fatalf("pod %s/%s has no container on the pod runner (it has %v)", ns, pod, ids)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ins, err := e.docker.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatalf("inspect the container of pod %s: %v", pod, err)
	}
	rc, err := e.docker.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatalf("logs of the container of pod %s: %v", pod, err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		t.Fatalf("read the logs of the container of pod %s: %v", pod, err)
	}
	return ins, out.String()
}

// logged reports whether a line of log names logger and contains message.
func logged(log, logger, message string) bool {
	for line := range strings.Lines(log) {
		if strings.Contains(line, " "+logger+" ") && strings.Contains(line, message) {
			return true
		}
	}
	return false
}

// costRecorder remembers the last pod-deletion-cost annotation each of a cluster's
// TaskManager pods had, up to and including its deletion.
type costRecorder struct {
	mu    sync.Mutex
	costs map[string]string // pod → annotation ("" when absent)
}

func (e env) recordDeletionCosts(t *testing.T, ns, name string) *costRecorder {
	t.Helper()
	rec := &costRecorder{costs: map[string]string{}}
	sel := labels.Set{runtime.LabelInstance: name, runtime.LabelComponent: runtime.ComponentTaskManager}.String()
	factory := informers.NewSharedInformerFactoryWithOptions(e.cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
	inf := factory.Core().V1().Pods().Informer()
	record := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if p, ok := obj.(*corev1.Pod); ok {
			rec.mu.Lock()
			rec.costs[p.Name] = p.Annotations["controller.kubernetes.io/pod-deletion-cost"]
			rec.mu.Unlock()
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: record, UpdateFunc: func(_, obj any) { record(obj) }, DeleteFunc: record,
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(t.Context().Done(), inf.HasSynced) {
		t.Fatal("pod informer did not sync")
	}
	return rec
}

func (r *costRecorder) get() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.costs))
	for k, v := range r.costs {
		out[k] = v
	}
	return out
}

// flinkAPI reaches a cluster's JobManager REST API through the API server's service proxy,
// as flinkd does.
type flinkAPI struct {
	t       *testing.T
	cluster string
	base    string
	hc      *http.Client
}

func (e env) flink(t *testing.T, ns, name string) flinkAPI {
	t.Helper()
	hc, err := rest.HTTPClientFor(e.cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := rest.DefaultServerUrlFor(e.cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("%s/api/v1/namespaces/%s/services/%s-default-jobmanager:rest/proxy", strings.TrimSuffix(u.String(), "/"), ns, name)
	return flinkAPI{t: t, cluster: name, base: base, hc: hc}
}

func (f flinkAPI) do(method, path, contentType string, body io.Reader, out any) error {
	ctx, cancel := context.WithTimeout(f.t.Context(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, f.base+path, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode %s %s: %v: %s", method, path, err, data)
	}
	return nil
}

func (f flinkAPI) get(path string, out any) {
	f.t.Helper()
	if err := f.do(http.MethodGet, path, "", nil, out); err != nil {
		f.t.Fatal(err)
	}
}

// taskManagerIDs returns the IDs of the registered TaskManagers, sorted.
func (f flinkAPI) taskManagerIDs() ([]string, error) {
	var list struct {
		TaskManagers []struct {
			ID string `json:"id"`
		} `json:"taskmanagers"`
	}
	if err := f.do(http.MethodGet, "/taskmanagers", "", nil, &list); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list.TaskManagers))
	for _, tm := range list.TaskManagers {
		ids = append(ids, tm.ID)
	}
	slices.Sort(ids)
	return ids, nil
}

// submitJob uploads a jar and runs it with the given parallelism.
func (f flinkAPI) submitJob(name string, parallelism int) string {
	f.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("jarfile", name+".jar")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := fw.Write([]byte("PK fake jar")); err != nil {
		f.t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		f.t.Fatal(err)
	}
	var up struct {
		Filename string `json:"filename"`
	}
	if err := f.do(http.MethodPost, "/jars/upload", mw.FormDataContentType(), &body, &up); err != nil {
		f.t.Fatal(err)
	}
	run, _ := json.Marshal(map[string]any{"parallelism": parallelism})
	var started struct {
		JobID string `json:"jobid"`
	}
	if err := f.do(http.MethodPost, "/jars/"+filepath.Base(up.Filename)+"/run", "application/json", bytes.NewReader(run), &started); err != nil {
		f.t.Fatal(err)
	}
	if started.JobID == "" {
		f.t.Fatal("run jar: no job id")
	}
	return started.JobID
}

// job returns a job's state and how often it restarted (its exception history).
func (f flinkAPI) job(id string) (state string, restarts int) {
	f.t.Helper()
	var j struct {
		State string `json:"state"`
	}
	f.get("/jobs/"+id, &j)
	var ex struct {
		ExceptionHistory struct {
			Entries []json.RawMessage `json:"entries"`
		} `json:"exceptionHistory"`
	}
	f.get("/jobs/"+id+"/exceptions", &ex)
	return j.State, len(ex.ExceptionHistory.Entries)
}

// taskManagersOf returns the TaskManagers holding a job's slots.
func (f flinkAPI) taskManagersOf(jobID string) []string {
	f.t.Helper()
	ids, err := f.taskManagerIDs()
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, id := range ids {
		var detail struct {
			AllocatedSlots []struct {
				JobID string `json:"jobId"`
			} `json:"allocatedSlots"`
		}
		f.get("/taskmanagers/"+id, &detail)
		for _, s := range detail.AllocatedSlots {
			if s.JobID == jobID {
				out = append(out, id)
				break
			}
		}
	}
	return out
}
