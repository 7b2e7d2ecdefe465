package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
)

// PodRunnerConfig configures a PodRunner.
type PodRunnerConfig struct {
	// REST reaches the API server (an admin configuration, such as ControlPlane.Config).
	REST *rest.Config
	// Docker is the engine the pods' containers run on; the API server must reach the
	// containers' IPs (the engine runs on the same host).
	Docker *client.Client
	// NodeName is the runner's Node ("docker-node-0" when empty).
	NodeName string
	// Exclusive cordons every other Node when the runner starts, so that the scheduler puts
	// every new pod on the runner's Node (kwok's NodeName included).
	Exclusive bool
	// Logger receives what the runner does (discarded when nil).
	Logger *slog.Logger
}

// PodRunner plays the kubelet of one Node for tests: it registers the Node, keeps it Ready
// (Lease and status heartbeats), and runs each pod bound to it as a Docker container,
// reporting the pod's status as a kubelet would.
//
// For each pod it creates one container from the pod's first container: its image (which
// must be on the engine already: nothing is pulled), command and args with $(VAR) expanded,
// its env (values, fieldRefs such as metadata.name and status.podIP, ConfigMap and Secret
// keys, envFrom), user and group from the security contexts, fsGroup as a supplementary
// group, no-new-privileges and capabilities, and its CPU and memory limits. The container
// joins a Docker network of the pod's namespace (a fixed /24 subnet) with an IP the runner
// picks before creating it, so that status.podIP and the env agree from the start, and it
// gets as network aliases the names of the namespace's Services that select the pod, so
// that other pods resolve a Service to it (like a headless Service's DNS). Volumes: the
// files of ConfigMap and Secret volumes are copied into the container (owned by the
// container's user and the fsGroup) before it starts, at their mount paths or, when only an
// init container mounts them, into the emptyDir that init container shares with the
// container: init containers are not run, they are assumed to copy their configuration
// into that emptyDir (flinkd's do exactly that). An emptyDir is the image's own folder.
//
// Then it reports Running with the pod IP, Ready and ContainersReady, the init containers
// Completed, and the container running. A container that exits is restarted under
// restartPolicy Always (OnFailure: after a failure) with a doubling back-off (1 s to 16 s,
// shorter than the kubelet's), reported meanwhile as CrashLoopBackOff with the last
// termination; otherwise the pod ends Succeeded or Failed. A pod being deleted has its
// container stopped (SIGTERM, then SIGKILL after its grace period, at most 30 s) and
// removed, and is then deleted with grace period 0, as a kubelet finalizes a pod.
//
// Not emulated: probes (a running container is Ready), pulling images, more than one
// container per pod, init containers' own commands, volume kinds other than emptyDir,
// ConfigMap and Secret, readOnlyRootFilesystem, Services created after a pod started (no
// alias for them), ClusterIPs (nothing routes them), service environment variables, and the
// kubelet's API except port-forward (no pod logs, exec, attach, node proxy or metrics).
//
// Port-forward is served as the kubelet serves it, so that kubectl port-forward and
// client-go's tools/portforward reach a pod's port through the API server's
// pods/portforward subresource: the runner serves HTTPS (a self-signed certificate made at
// start, not verified by the API server) on the Node's InternalIP 127.0.0.1 at a free
// port, reports that port as the Node's kubelet endpoint, and forwards each connection to
// the pod's current IP with k8s.io/cri-streaming's portforward (SPDY, and websockets; the
// API server translates kubectl's SPDY-over-websockets to SPDY). The API server must prefer
// the InternalIP to reach it, as Start's control plane does
// (--kubelet-preferred-address-types): the Node's Hostname address does not resolve.
// Callers are not authenticated. See portforward.go.
type PodRunner struct {
	cs     kubernetes.Interface
	docker *client.Client
	node   string
	id     string // labelRunner value of everything this runner creates
	log    *slog.Logger

	pods    cache.SharedIndexInformer
	queue   workqueue.TypedRateLimitingInterface[string]
	kubelet *kubeletServer // the kubelet API (port-forward); nil once stopped

	mu       sync.Mutex
	networks map[string]*podNetwork // by namespace
	restarts map[types.UID]*restartState

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// podNetwork is the Docker network of one namespace's pods.
type podNetwork struct {
	id     string
	name   string
	prefix netip.Prefix
	used   map[netip.Addr]bool
}

// restartState is what the runner remembers of a pod's container restarts.
type restartState struct {
	count        int32
	last         *corev1.ContainerStateTerminated
	lastFinished string // Docker's FinishedAt of the exit counted last
	notBefore    time.Time
}

// Tunables of the runner.
const (
	defaultRunnerNode  = "docker-node-0"
	nodeLeaseNamespace = "kube-node-lease"
	heartbeatPeriod    = 10 * time.Second
	leaseSeconds       = 40
	podResync          = 5 * time.Second
	runnerWorkers      = 2
	runnerCallTimeout  = 30 * time.Second
	maxStopGrace       = 30
	backoffBase        = time.Second
	backoffMax         = 16 * time.Second
	retryCreate        = 2 * time.Second
	// subnetBase is where pod networks get their /24s (10.213.X.0/24).
	subnetBase = "10.213.0.0/16"
	// hostIP is the Node's InternalIP and every pod's hostIP.
	hostIP = "127.0.0.1"
)

// StartPodRunner registers the runner's Node, waits until the control plane sees it Ready
// and schedulable, and starts running the pods bound to it. Stop it with Stop.
func StartPodRunner(ctx context.Context, cfg PodRunnerConfig) (*PodRunner, error) {
	if cfg.REST == nil || cfg.Docker == nil {
		return nil, errors.New("start pod runner: REST and Docker are required")
	}
	cs, err := kubernetes.NewForConfig(cfg.REST)
	if err != nil {
		return nil, fmt.Errorf("client for the pod runner: %w", err)
	}
	node := cfg.NodeName
	if node == "" {
		node = defaultRunnerNode
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var idb [4]byte
	_, _ = rand.Read(idb[:])
	r := &PodRunner{
		cs: cs, docker: cfg.Docker, node: node, id: hex.EncodeToString(idb[:]),
		log:      log.With("node", node),
		networks: map[string]*podNetwork{},
		restarts: map[types.UID]*restartState{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 5*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "podrunner"}),
	}
	r.sweepLeftovers(ctx)
	if cfg.Exclusive {
		if err := r.cordonOthers(ctx); err != nil {
			return nil, err
		}
	}
	// The kubelet API first: the Node's status reports its port from the start.
	if r.kubelet, err = r.startKubeletServer(); err != nil {
		return nil, err
	}
	if err := r.registerNode(ctx); err != nil {
		_ = r.stopKubeletServer(context.Background())
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	factory := informers.NewSharedInformerFactoryWithOptions(cs, podResync,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "spec.nodeName=" + node }))
	r.pods = factory.Core().V1().Pods().Informer()
	enqueue := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			r.queue.Add(d.Key)
			return
		}
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			r.queue.Add(key)
		}
	}
	if _, err := r.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		cancel()
		_ = r.stopKubeletServer(context.Background())
		return nil, fmt.Errorf("watch the pods of node %s: %w", node, err)
	}
	factory.Start(runCtx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), r.pods.HasSynced) {
		cancel()
		factory.Shutdown()
		_ = r.stopKubeletServer(context.Background())
		return nil, fmt.Errorf("list the pods of node %s: %w", node, ctx.Err())
	}
	r.wg.Add(runnerWorkers + 3)
	for range runnerWorkers {
		go func() {
			defer r.wg.Done()
			for r.work(runCtx) {
			}
		}()
	}
	go func() {
		defer r.wg.Done()
		r.heartbeat(runCtx)
	}()
	go func() {
		defer r.wg.Done()
		r.watchContainers(runCtx)
	}()
	go func() {
		defer r.wg.Done()
		<-runCtx.Done()
		r.queue.ShutDown()
		factory.Shutdown()
	}()

	if err := r.waitSchedulable(ctx); err != nil {
		_ = r.Stop(context.Background())
		return nil, err
	}
	return r, nil
}

// NodeName returns the runner's Node.
func (r *PodRunner) NodeName() string { return r.node }

// ContainerIDs returns the IDs of the containers that run the pods of namespace ns (all
// namespaces when ns is ""), by "namespace/pod".
func (r *PodRunner) ContainerIDs(ctx context.Context, ns string) (map[string]string, error) {
	f := filters.NewArgs(filters.Arg("label", labelRunner+"="+r.id))
	if ns != "" {
		f.Add("label", labelPodNamespace+"="+ns)
	}
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	list, err := r.docker.ContainerList(cctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list the pod runner's containers: %w", err)
	}
	out := make(map[string]string, len(list))
	for _, c := range list {
		out[c.Labels[labelPodNamespace]+"/"+c.Labels[labelPodName]] = c.ID
	}
	return out, nil
}

// Stop stops running pods: it stops its loops and its kubelet API (ending port-forwards in
// progress), removes every container and network it created, and deletes its Node and Lease
// (pods still bound to the Node stay in the API).
func (r *PodRunner) Stop(ctx context.Context) error {
	if r.cancel != nil {
		r.cancel()
		r.wg.Wait()
		r.cancel = nil
	}
	var errs []error
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := r.stopKubeletServer(ctx); err != nil {
		errs = append(errs, err)
	}
	f := filters.NewArgs(filters.Arg("label", labelRunner+"="+r.id))
	ctrs, err := r.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list the pod runner's containers: %w", err))
	}
	for _, c := range ctrs {
		if err := r.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", strings.TrimPrefix(c.Names[0], "/"), err))
		}
	}
	nets, err := r.docker.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list the pod runner's networks: %w", err))
	}
	for _, n := range nets {
		if err := r.docker.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
		}
	}
	if err := r.cs.CoordinationV1().Leases(nodeLeaseNamespace).Delete(ctx, r.node, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete lease of node %s: %w", r.node, err))
	}
	if err := r.cs.CoreV1().Nodes().Delete(ctx, r.node, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete node %s: %w", r.node, err))
	}
	return errors.Join(errs...)
}

// sweepLeftovers removes containers and networks of runners of earlier test runs that were
// killed before they could clean up (more than an hour old).
func (r *PodRunner) sweepLeftovers(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", labelRunner))
	old := time.Now().Add(-time.Hour)
	if ctrs, err := r.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: f}); err == nil {
		for _, c := range ctrs {
			if time.Unix(c.Created, 0).Before(old) {
				_ = r.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			}
		}
	}
	if nets, err := r.docker.NetworkList(ctx, network.ListOptions{Filters: f}); err == nil {
		for _, n := range nets {
			if n.Created.Before(old) {
				_ = r.docker.NetworkRemove(ctx, n.ID)
			}
		}
	}
}

// cordonOthers marks every other Node unschedulable.
func (r *PodRunner) cordonOthers(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	nodes, err := r.cs.CoreV1().Nodes().List(cctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	for _, n := range nodes.Items {
		if n.Name == r.node || n.Spec.Unschedulable {
			continue
		}
		patch := []byte(`{"spec":{"unschedulable":true}}`)
		if _, err := r.cs.CoreV1().Nodes().Patch(cctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("cordon node %s: %w", n.Name, err)
		}
	}
	return nil
}

// registerNode creates (or takes over) the runner's Node, Ready, and its Lease.
func (r *PodRunner) registerNode(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: r.node,
		Labels: map[string]string{
			"kubernetes.io/hostname": r.node,
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     "amd64",
			"type":                   "podrunner",
		},
	}}
	created, err := r.cs.CoreV1().Nodes().Create(cctx, node, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		created, err = r.cs.CoreV1().Nodes().Get(cctx, r.node, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("get node %s: %w", r.node, err)
		}
	case err != nil:
		return fmt.Errorf("create node %s: %w", r.node, err)
	}
	if err := r.updateNodeStatus(ctx); err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nodeLeaseNamespace}}
	if _, err := r.cs.CoreV1().Namespaces().Create(cctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", nodeLeaseNamespace, err)
	}
	holder, dur, now := r.node, int32(leaseSeconds), metav1.NewMicroTime(time.Now())
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: r.node, Namespace: nodeLeaseNamespace,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: r.node, UID: created.UID}}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &now},
	}
	if _, err := r.cs.CoordinationV1().Leases(nodeLeaseNamespace).Create(cctx, lease, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create lease of node %s: %w", r.node, err)
	}
	return r.renewLease(ctx)
}

// updateNodeStatus reports the Node Ready with fresh heartbeats (retrying when the
// controllers changed the Node meanwhile).
func (r *PodRunner) updateNodeStatus(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error { return r.tryUpdateNodeStatus(cctx) })
}

func (r *PodRunner) tryUpdateNodeStatus(cctx context.Context) error {
	n, err := r.cs.CoreV1().Nodes().Get(cctx, r.node, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get node %s: %w", r.node, err)
	}
	now := metav1.Now()
	since := n.CreationTimestamp
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: since}
		for _, old := range n.Status.Conditions {
			if old.Type == t && old.Status == s {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		return c
	}
	n.Status.Conditions = []corev1.NodeCondition{
		cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "the pod runner is running pods on Docker"),
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", ""),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", ""),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", ""),
		cond(corev1.NodeNetworkUnavailable, corev1.ConditionFalse, "RouteCreated", ""),
	}
	n.Status.Capacity = nodeResources()
	n.Status.Allocatable = nodeResources()
	n.Status.Phase = corev1.NodeRunning
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: hostIP}, {Type: corev1.NodeHostName, Address: r.node}}
	if r.kubelet != nil {
		// Where the API server connects for pods/portforward (at the address it prefers).
		n.Status.DaemonEndpoints.KubeletEndpoint.Port = r.kubelet.port
	}
	n.Status.NodeInfo = corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "amd64",
		KubeletVersion: "podrunner", ContainerRuntimeVersion: "docker://" + r.docker.ClientVersion()}
	if _, err := r.cs.CoreV1().Nodes().UpdateStatus(cctx, n, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update status of node %s: %w", r.node, err)
	}
	return nil
}

func (r *PodRunner) renewLease(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error { return r.tryRenewLease(cctx) })
}

func (r *PodRunner) tryRenewLease(cctx context.Context) error {
	l, err := r.cs.CoordinationV1().Leases(nodeLeaseNamespace).Get(cctx, r.node, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get lease of node %s: %w", r.node, err)
	}
	now := metav1.NewMicroTime(time.Now())
	l.Spec.RenewTime = &now
	if _, err := r.cs.CoordinationV1().Leases(nodeLeaseNamespace).Update(cctx, l, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("renew lease of node %s: %w", r.node, err)
	}
	return nil
}

// heartbeat keeps the Node's Lease and Ready condition fresh until ctx ends.
func (r *PodRunner) heartbeat(ctx context.Context) {
	t := time.NewTicker(heartbeatPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.renewLease(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("node heartbeat", "err", err)
		}
		if err := r.updateNodeStatus(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("node heartbeat", "err", err)
		}
	}
}

// waitSchedulable waits until the Node is Ready and has no not-ready taint (the
// node-lifecycle controller lifts the one every new Node gets).
func (r *PodRunner) waitSchedulable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last string
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		n, err := r.cs.CoreV1().Nodes().Get(ctx, r.node, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, t := range n.Spec.Taints {
			if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
				last = "taint " + t.Key
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("wait for node %s to be schedulable (%s; is the node-lifecycle controller running?): %w", r.node, last, err)
	}
	return nil
}

// watchContainers queues the pod of every container of this runner that dies, so that its
// status follows at once (the informer's resync is the safety net).
func (r *PodRunner) watchContainers(ctx context.Context) {
	for ctx.Err() == nil {
		f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("label", labelRunner+"="+r.id))
		msgs, errs := r.docker.Events(ctx, events.ListOptions{Filters: f})
	read:
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-errs:
				if ctx.Err() == nil {
					r.log.Debug("docker events interrupted; resubscribing", "err", err)
				}
				break read
			case m := <-msgs:
				switch m.Action {
				case events.ActionDie, events.ActionOOM, events.ActionStart:
					a := m.Actor.Attributes
					r.queue.Add(a[labelPodNamespace] + "/" + a[labelPodName])
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// work handles one queued pod; false when the queue is shut down.
func (r *PodRunner) work(ctx context.Context) bool {
	key, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(key)
	after, err := r.sync(ctx, key)
	switch {
	case err != nil && ctx.Err() == nil:
		r.log.Info("sync pod; retrying", "pod", key, "err", err)
		r.queue.AddRateLimited(key)
	case err != nil:
	default:
		r.queue.Forget(key)
		if after > 0 {
			r.queue.AddAfter(key, after)
		}
	}
	return true
}

// sync converges one pod's container with the pod and reports the pod's status; after > 0
// asks for another pass then.
func (r *PodRunner) sync(ctx context.Context, key string) (after time.Duration, err error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	ctrs, err := r.containersOf(ctx, ns, name)
	if err != nil {
		return 0, err
	}
	obj, exists, err := r.pods.GetIndexer().GetByKey(key)
	if err != nil {
		return 0, fmt.Errorf("read pod %s from the cache: %w", key, err)
	}
	if !exists {
		return 0, r.removeContainers(ctx, ctrs, 0)
	}
	pod := obj.(*corev1.Pod)
	var cur *container.Summary
	var stale []container.Summary
	for i, c := range ctrs {
		if c.Labels[labelPodUID] == string(pod.UID) && cur == nil {
			cur = &ctrs[i]
		} else {
			stale = append(stale, c)
		}
	}
	if err := r.removeContainers(ctx, stale, 0); err != nil {
		return 0, err
	}

	if pod.DeletionTimestamp != nil {
		return 0, r.finalize(ctx, pod, cur)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0, nil // terminal: a kubelet leaves it as it is
	}

	now := metav1.NewTime(time.Now().Truncate(time.Second))
	in := statusInput{HostIP: hostIP, Now: now}
	if cur == nil {
		id, ip, err := r.create(ctx, pod)
		var we *waitingError
		switch {
		case errors.As(err, &we):
			in.Main = corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: we.Reason, Message: we.Message}}}
			after = retryCreate
			return after, r.updateStatus(ctx, pod, podStatus(pod, in))
		case err != nil:
			return 0, err
		}
		in.IP = ip
		cur = &container.Summary{ID: id}
	}
	ins, err := r.inspect(ctx, cur.ID)
	if err != nil {
		return 0, err
	}
	if in.IP == "" {
		in.IP = ins.Config.Labels[labelPodIP]
	}
	in.Created = dockerTime(ins.Created)
	in.Main, after, err = r.observeContainer(ctx, pod, ins)
	if err != nil {
		return 0, err
	}
	return after, r.updateStatus(ctx, pod, podStatus(pod, in))
}

// observeContainer reports the container's status, restarting it when the pod's restart
// policy says so and its back-off has passed.
func (r *PodRunner) observeContainer(ctx context.Context, pod *corev1.Pod, ins container.InspectResponse) (corev1.ContainerStatus, time.Duration, error) {
	cs := corev1.ContainerStatus{ContainerID: "docker://" + ins.ID, ImageID: ins.Image}
	r.mu.Lock()
	rs := r.restarts[pod.UID]
	r.mu.Unlock()
	fill := func() {
		if rs != nil {
			cs.RestartCount = rs.count
			if rs.last != nil {
				cs.LastTerminationState.Terminated = rs.last
			}
		}
	}
	st := ins.State
	if st == nil || st.Running || st.Status == container.StateCreated {
		if st != nil && st.Status == container.StateCreated {
			if err := r.start(ctx, ins.ID); err != nil {
				return cs, 0, err
			}
			var err error
			if ins, err = r.inspect(ctx, ins.ID); err != nil {
				return cs, 0, err
			}
		}
		cs.State = containerState(ins.ID, ins.State)
		fill()
		return cs, 0, nil
	}

	// The container exited.
	term := terminated(ins.ID, st)
	policy := pod.Spec.RestartPolicy
	if policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && st.ExitCode == 0) {
		cs.State.Terminated = term
		fill()
		return cs, 0, nil
	}
	r.mu.Lock()
	if rs == nil {
		rs = &restartState{}
		r.restarts[pod.UID] = rs
	}
	if rs.lastFinished != st.FinishedAt {
		rs.count++
		rs.last = term
		rs.lastFinished = st.FinishedAt
		rs.notBefore = time.Now().Add(backoff(rs.count))
	}
	wait := time.Until(rs.notBefore)
	r.mu.Unlock()
	if wait > 0 {
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reasonCrashLoopBackOff,
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
				backoff(rs.count), pod.Spec.Containers[0].Name, pod.Name, pod.Namespace, pod.UID)}
		fill()
		return cs, wait, nil
	}
	r.log.Info("restarting container", "pod", pod.Namespace+"/"+pod.Name, "exitCode", st.ExitCode, "restarts", rs.count)
	if err := r.start(ctx, ins.ID); err != nil {
		return cs, 0, err
	}
	ins, err := r.inspect(ctx, ins.ID)
	if err != nil {
		return cs, 0, err
	}
	cs.State = containerState(ins.ID, ins.State)
	fill()
	return cs, 0, nil
}

// backoff is the wait before the n-th restart.
func backoff(n int32) time.Duration {
	d := backoffBase
	for i := int32(1); i < n && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

// create creates and starts the container of pod and returns its ID and IP. A
// *waitingError says why it cannot be created yet.
func (r *PodRunner) create(ctx context.Context, pod *corev1.Pod) (id, ip string, err error) {
	in, err := r.inputs(ctx, pod)
	if err != nil {
		return "", "", err
	}
	if len(pod.Spec.Containers) == 0 {
		return "", "", &waitingError{reasonConfigError, "pod has no containers"}
	}
	main := pod.Spec.Containers[0]
	if err := r.checkImage(ctx, main); err != nil {
		return "", "", err
	}
	aliases, err := r.serviceAliases(ctx, pod)
	if err != nil {
		return "", "", err
	}
	net, err := r.network(ctx, pod.Namespace)
	if err != nil {
		return "", "", err
	}
	addr, err := r.allocate(net)
	if err != nil {
		return "", "", err
	}
	ip = addr.String()
	release := func() { r.release(pod.Namespace, ip) }
	spec, err := buildRun(r.id, pod, ip, hostIP, in)
	if err != nil {
		release()
		return "", "", err
	}
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		net.name: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip}, Aliases: aliases},
	}}
	spec.Host.NetworkMode = container.NetworkMode(net.name)
	created, err := r.docker.ContainerCreate(cctx, &spec.Config, &spec.Host, netCfg, nil, spec.Name)
	if err != nil {
		release()
		if cerrdefs.IsConflict(err) {
			// A container of this pod exists already (an earlier pass); the next pass finds it.
			return "", "", fmt.Errorf("create container %s: %w", spec.Name, err)
		}
		return "", "", &waitingError{"CreateContainerError", err.Error()}
	}
	uid, gid := fileOwner(pod, main)
	for dir, files := range spec.Files {
		archive, err := tarFiles(files, uid, gid)
		if err != nil {
			return "", "", fmt.Errorf("archive files for %s: %w", dir, err)
		}
		if err := r.docker.CopyToContainer(cctx, created.ID, dir, bytes.NewReader(archive), container.CopyToContainerOptions{}); err != nil {
			_ = r.docker.ContainerRemove(cctx, created.ID, container.RemoveOptions{Force: true})
			release()
			return "", "", &waitingError{"CreateContainerError", fmt.Sprintf("copy files into %s: %v", dir, err)}
		}
	}
	if err := r.start(ctx, created.ID); err != nil {
		return "", "", err
	}
	r.log.Info("started pod", "pod", pod.Namespace+"/"+pod.Name, "container", spec.Name, "ip", ip, "aliases", aliases)
	return created.ID, ip, nil
}

func (r *PodRunner) start(ctx context.Context, id string) error {
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	if err := r.docker.ContainerStart(cctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	return nil
}

func (r *PodRunner) inspect(ctx context.Context, id string) (container.InspectResponse, error) {
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	ins, err := r.docker.ContainerInspect(cctx, id)
	if err != nil {
		return ins, fmt.Errorf("inspect container %s: %w", id, err)
	}
	return ins, nil
}

// checkImage returns a *waitingError when the container's image is not on the engine: the
// runner pulls nothing.
func (r *PodRunner) checkImage(ctx context.Context, c corev1.Container) error {
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	_, err := r.docker.ImageInspect(cctx, c.Image)
	switch {
	case err == nil:
		return nil
	case !cerrdefs.IsNotFound(err):
		return fmt.Errorf("inspect image %s: %w", c.Image, err)
	case c.ImagePullPolicy == corev1.PullNever:
		return &waitingError{reasonErrImageNeverPull, fmt.Sprintf("container image %q is not present with pull policy of Never", c.Image)}
	}
	return &waitingError{reasonErrImagePull, fmt.Sprintf("image %q is not on the pod runner's Docker engine, which pulls nothing", c.Image)}
}

// inputs fetches the ConfigMaps and Secrets pod refers to (absent ones stay nil).
func (r *PodRunner) inputs(ctx context.Context, pod *corev1.Pod) (podInputs, error) {
	in := podInputs{ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{}}
	cms, secs := referencedObjects(pod)
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	for _, n := range cms {
		cm, err := r.cs.CoreV1().ConfigMaps(pod.Namespace).Get(cctx, n, metav1.GetOptions{})
		switch {
		case err == nil:
			in.ConfigMaps[n] = cm
		case !apierrors.IsNotFound(err):
			return in, fmt.Errorf("get configmap %s/%s: %w", pod.Namespace, n, err)
		}
	}
	for _, n := range secs {
		s, err := r.cs.CoreV1().Secrets(pod.Namespace).Get(cctx, n, metav1.GetOptions{})
		switch {
		case err == nil:
			in.Secrets[n] = s
		case !apierrors.IsNotFound(err):
			return in, fmt.Errorf("get secret %s/%s: %w", pod.Namespace, n, err)
		}
	}
	return in, nil
}

// serviceAliases names the Services of the pod's namespace whose selector matches the pod.
func (r *PodRunner) serviceAliases(ctx context.Context, pod *corev1.Pod) ([]string, error) {
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	svcs, err := r.cs.CoreV1().Services(pod.Namespace).List(cctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list services of namespace %s: %w", pod.Namespace, err)
	}
	var names []string
	for _, s := range svcs.Items {
		if len(s.Spec.Selector) == 0 {
			continue
		}
		match := true
		for k, v := range s.Spec.Selector {
			if pod.Labels[k] != v {
				match = false
				break
			}
		}
		if match {
			names = append(names, s.Name)
		}
	}
	return names, nil
}

// network returns the Docker network of namespace ns, creating it on first use with a free
// /24 of subnetBase.
func (r *PodRunner) network(ctx context.Context, ns string) (*podNetwork, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.networks[ns]; n != nil {
		return n, nil
	}
	base := netip.MustParsePrefix(subnetBase).Addr().As4()
	name := "podrunner-" + r.id + "-" + ns
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	var lastErr error
	for range 32 {
		third, err := rand.Int(rand.Reader, big.NewInt(256))
		if err != nil {
			return nil, fmt.Errorf("pick a subnet: %w", err)
		}
		prefix := netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], byte(third.Int64()), 0}), 24)
		gw := prefix.Addr().Next()
		resp, err := r.docker.NetworkCreate(cctx, name, network.CreateOptions{
			Driver: "bridge",
			IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: prefix.String(), Gateway: gw.String()}}},
			Labels: map[string]string{labelRunner: r.id, labelPodNamespace: ns},
		})
		if err != nil {
			lastErr = err // most likely a subnet in use: try another
			continue
		}
		n := &podNetwork{id: resp.ID, name: name, prefix: prefix, used: map[netip.Addr]bool{gw: true}}
		r.networks[ns] = n
		r.log.Info("created pod network", "namespace", ns, "network", name, "subnet", prefix)
		return n, nil
	}
	return nil, fmt.Errorf("create network %s: %w", name, lastErr)
}

// allocate picks a free IP of n.
func (r *PodRunner) allocate(n *podNetwork) (netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for a := n.prefix.Addr().Next(); n.prefix.Contains(a); a = a.Next() {
		if a.As4()[3] == 255 || n.used[a] {
			continue
		}
		n.used[a] = true
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("network %s has no free IP", n.name)
}

// release frees ip in namespace ns's network.
func (r *PodRunner) release(ns, ip string) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.networks[ns]; n != nil {
		delete(n.used, a)
	}
}

// containersOf lists this runner's containers of pod ns/name (any UID).
func (r *PodRunner) containersOf(ctx context.Context, ns, name string) ([]container.Summary, error) {
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", labelRunner+"="+r.id),
		filters.Arg("label", labelPodNamespace+"="+ns), filters.Arg("label", labelPodName+"="+name))
	list, err := r.docker.ContainerList(cctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers of pod %s/%s: %w", ns, name, err)
	}
	return list, nil
}

// removeContainers stops (with grace seconds before SIGKILL) and removes containers, and
// frees their IPs.
func (r *PodRunner) removeContainers(ctx context.Context, ctrs []container.Summary, grace int) error {
	var errs []error
	for _, c := range ctrs {
		if err := r.removeContainer(ctx, c.ID, grace); err != nil {
			errs = append(errs, err)
			continue
		}
		r.release(c.Labels[labelPodNamespace], c.Labels[labelPodIP])
		r.mu.Lock()
		delete(r.restarts, types.UID(c.Labels[labelPodUID]))
		r.mu.Unlock()
	}
	return errors.Join(errs...)
}

func (r *PodRunner) removeContainer(ctx context.Context, id string, grace int) error {
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout+time.Duration(grace)*time.Second)
	defer cancel()
	if err := r.docker.ContainerStop(cctx, id, container.StopOptions{Timeout: &grace}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	if err := r.docker.ContainerRemove(cctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// finalize stops and removes a deleted pod's container, then deletes the pod for good
// (grace period 0, guarded by its UID), as a kubelet does once a pod's containers are gone.
func (r *PodRunner) finalize(ctx context.Context, pod *corev1.Pod, cur *container.Summary) error {
	grace := maxStopGrace
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		grace = int(*pod.DeletionGracePeriodSeconds)
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		grace = int(*pod.Spec.TerminationGracePeriodSeconds)
	}
	grace = max(min(grace, maxStopGrace), 0)
	if cur != nil {
		if err := r.removeContainers(ctx, []container.Summary{*cur}, grace); err != nil {
			return err
		}
		r.log.Info("removed pod's container", "pod", pod.Namespace+"/"+pod.Name)
	}
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	zero := int64(0)
	err := r.cs.CoreV1().Pods(pod.Namespace).Delete(cctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: metav1.NewUIDPreconditions(string(pod.UID))})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("finalize pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// updateStatus writes st as the pod's status unless it already is.
func (r *PodRunner) updateStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error {
	if equality.Semantic.DeepEqual(pod.Status, st) {
		return nil
	}
	p := pod.DeepCopy()
	p.Status = st
	cctx, cancel := context.WithTimeout(ctx, runnerCallTimeout)
	defer cancel()
	// A conflict means the cache is behind: the retry sees the newer pod.
	if _, err := r.cs.CoreV1().Pods(p.Namespace).UpdateStatus(cctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("update status of pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	r.log.Debug("pod status", "pod", p.Namespace+"/"+p.Name, "phase", st.Phase, "ip", st.PodIP)
	return nil
}
