// Package kube runs session clusters in one Kubernetes namespace: per cluster a ConfigMap
// with the Flink configuration, a JobManager Deployment and Service, and a TaskManager
// Deployment, applied with server-side apply (field manager "flinkd") and found again by
// flinkd's labels. The JobManager's REST API is reached through the API server's service
// proxy, so flinkd needs no route into the cluster.
package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flinkd/flinkd/internal/runtime"
)

// FieldManager is the server-side apply field manager of every object flinkd applies.
const FieldManager = "flinkd"

// AnnotationSpecHash holds the full Cluster.Hash on every object (the label of the same key
// holds the shortened one).
const AnnotationSpecHash = runtime.LabelSpecHash

// AnnotationDeletionCost is the pod annotation the ReplicaSet controller reads to choose which
// pods to remove first when scaling down (lower first).
const AnnotationDeletionCost = "controller.kubernetes.io/pod-deletion-cost"

const defaultCallTimeout = 30 * time.Second

// Config says which cluster and namespace the runtime works in.
type Config struct {
	// Kubeconfig is a kubeconfig path; "" means the default loading rules ($KUBECONFIG,
	// ~/.kube/config).
	Kubeconfig string
	// Context is the kubeconfig context; "" means the current one.
	Context string
	// Namespace is the target namespace; "" means the context's namespace, or "default".
	Namespace string
	// InCluster uses the in-cluster configuration (flinkd running in a pod).
	InCluster bool
	// REST is used as is when set (tests).
	REST *rest.Config
	// CallTimeout bounds every API call (30 s when zero).
	CallTimeout time.Duration
	// Ownership is the flinkd using this runtime (runtime.LabelOwner, its former identities,
	// its specs folder, which goes into an annotation): it labels what it creates and sees
	// only what it owns. The zero value sees everything flinkd made.
	Ownership runtime.Ownership
	// ClientTLS gives the REST client configuration of a secure cluster (nil: its endpoint
	// has no client, and calls fail the handshake).
	ClientTLS runtime.ClientTLS
	Logger    *slog.Logger
}

// Runtime is the Kubernetes runtime. It implements runtime.Runtime, runtime.LogSource and
// runtime.ChangeSource. It is safe for concurrent use.
type Runtime struct {
	cs        kubernetes.Interface
	rest      *rest.Config
	http      *http.Client
	baseURL   string // API server URL, no trailing slash
	ns        string
	timeout   time.Duration
	own       runtime.Ownership
	clientTLS runtime.ClientTLS
	inCluster bool
	fwd       forwards // port-forwards to secure clusters (portforward.go)
	log       *slog.Logger
}

var (
	_ runtime.Runtime      = (*Runtime)(nil)
	_ runtime.LogSource    = (*Runtime)(nil)
	_ runtime.ChangeSource = (*Runtime)(nil)
	_ runtime.Census       = (*Runtime)(nil)
)

// New returns a runtime for the namespace cfg names. It does not contact the API server
// (see Ping).
func New(cfg Config) (*Runtime, error) {
	restCfg, ns, err := loadConfig(cfg)
	if err != nil {
		return nil, err
	}
	if ns == "" {
		ns = "default"
	}
	restCfg = rest.CopyConfig(restCfg)
	if restCfg.UserAgent == "" {
		restCfg.UserAgent = "flinkd"
	}
	if restCfg.QPS == 0 {
		restCfg.QPS = 50
		restCfg.Burst = 100
	}
	cs, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("create kubernetes client: %w", err)
	}
	httpClient, err := rest.HTTPClientFor(restCfg)
	if err != nil {
		return nil, fmt.Errorf("create http client for the api server: %w", err)
	}
	base, _, err := rest.DefaultServerUrlFor(restCfg)
	if err != nil {
		return nil, fmt.Errorf("api server url: %w", err)
	}
	timeout := cfg.CallTimeout
	if timeout <= 0 {
		timeout = defaultCallTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runtime{
		cs:        cs,
		rest:      restCfg,
		http:      httpClient,
		baseURL:   strings.TrimSuffix(base.String(), "/"),
		ns:        ns,
		timeout:   timeout,
		own:       cfg.Ownership,
		clientTLS: cfg.ClientTLS,
		inCluster: cfg.InCluster,
		log:       log.With("runtime", "kube", "namespace", ns),
	}, nil
}

// Close ends the runtime's port-forwards. The runtime is not used after.
func (r *Runtime) Close() error {
	r.fwd.endAll()
	return nil
}

func loadConfig(cfg Config) (*rest.Config, string, error) {
	switch {
	case cfg.REST != nil:
		return cfg.REST, cfg.Namespace, nil
	case cfg.InCluster:
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", fmt.Errorf("load in-cluster config: %w", err)
		}
		ns := cfg.Namespace
		if ns == "" {
			data, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
			if err == nil {
				ns = strings.TrimSpace(string(data))
			}
		}
		return rc, ns, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cfg.Kubeconfig != "" {
		rules.ExplicitPath = cfg.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cfg.Context})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("load kubeconfig: %w", err)
	}
	ns := cfg.Namespace
	if ns == "" {
		ns, _, err = cc.Namespace()
		if err != nil {
			return nil, "", fmt.Errorf("read the kubeconfig context's namespace: %w", err)
		}
	}
	return rc, ns, nil
}

// Namespace returns the namespace the runtime works in.
func (r *Runtime) Namespace() string { return r.ns }

// call returns a context bounded by the runtime's per-call timeout.
func (r *Runtime) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.timeout)
}

// names are the names of one cluster's objects in the target namespace.
type names struct {
	configMap, secret, service, jobManager, taskManager string
}

// Name parts: the object suffixes, the hash's length and the room they leave in a Service
// name, which must be a DNS-1035 label (at most 63 characters, starting with a letter).
const (
	suffixConfig      = "-flink-config"
	suffixTLS         = "-flink-tls"
	suffixJobManager  = "-jobmanager"
	suffixTaskManager = "-taskmanager"
	keyHashLen        = 6
	maxBaseLen        = 63 - len(suffixConfig)
)

// namesFor returns cluster k's object names: deterministic, within Kubernetes' limits, and
// apart for any two keys. The base is "<name>-<namespace>" ("etl-prod-jobmanager"): the name
// comes first because it starts with a letter, as a Service name must. That reads back
// unambiguously only when neither part has a "-" and it fits; otherwise a short hash of the key
// follows, so that "a-b"/"c" and "a"/"b-c", or two keys cut to the same length, stay apart:
// team-a/etl is "etl-team-a-1b2c3d-jobmanager". (Bases without a hash hold exactly one "-",
// bases with one at least two, so the two kinds never meet.)
func namesFor(k runtime.Key) names {
	readable := k.Name + "-" + k.Namespace
	if strings.Count(readable, "-") == 1 && len(readable) <= maxBaseLen {
		return namesFrom(readable)
	}
	sum := sha256.Sum256([]byte(k.Namespace + "/" + k.Name))
	hash := hex.EncodeToString(sum[:])[:keyHashLen]
	if room := maxBaseLen - 1 - keyHashLen; len(readable) > room {
		readable = strings.TrimRight(readable[:room], "-")
	}
	return namesFrom(readable + "-" + hash)
}

// legacyNames are the names flinkd gave every cluster before the namespace was part of them:
// "<name>-jobmanager" and so on. A cluster made under them is adopted under them (get), and
// takes namesFor's once it is deleted and created again.
func legacyNames(k runtime.Key) names { return namesFrom(k.Name) }

func namesFrom(base string) names {
	return names{
		configMap:   base + suffixConfig,
		secret:      base + suffixTLS,
		service:     base + suffixJobManager,
		jobManager:  base + suffixJobManager,
		taskManager: base + suffixTaskManager,
	}
}

// selectorLabels select the pods of one component of k (never the hash: selectors are
// immutable and pods of every hash belong to the Deployment).
func selectorLabels(o runtime.Ownership, k runtime.Key, component string) map[string]string {
	s := o.MatchLabels()
	s[runtime.LabelInstance] = k.Name
	s[runtime.LabelNamespace] = k.Namespace
	s[runtime.LabelComponent] = component
	return s
}

// clusterSelector selects every object and pod of k.
func clusterSelector(o runtime.Ownership, k runtime.Key) string {
	s := o.Selector()
	s[runtime.LabelInstance] = k.Name
	s[runtime.LabelNamespace] = k.Namespace
	return labels.SelectorFromSet(s).String()
}

// managedSelector selects everything flinkd manages.
func managedSelector(o runtime.Ownership) string {
	return labels.SelectorFromSet(o.Selector()).String()
}

// belongsTo reports whether an object's labels make it k's.
func belongsTo(o runtime.Ownership, lbls map[string]string, k runtime.Key) bool {
	got, ok := o.KeyOf(lbls)
	return ok && got == k
}

// Ping checks that the API server answers and that the namespace can be read.
func (r *Runtime) Ping(ctx context.Context) error {
	cctx, cancel := r.call(ctx)
	defer cancel()
	if err := r.cs.Discovery().RESTClient().Get().AbsPath("/version").Do(cctx).Error(); err != nil {
		return fmt.Errorf("get api server version: %w", err)
	}
	if _, err := r.cs.CoreV1().ConfigMaps(r.ns).List(cctx, metav1.ListOptions{Limit: 1, LabelSelector: managedSelector(r.own)}); err != nil {
		return fmt.Errorf("list configmaps in namespace %s: %w", r.ns, err)
	}
	return nil
}

// Foreign returns every flinkd-labelled cluster in the namespace that this runtime does not
// own, with its owner and specs folder as its labels and annotations record them.
func (r *Runtime) Foreign(ctx context.Context) ([]runtime.Claim, error) {
	var claims []runtime.Claim
	err := r.eachManaged(ctx, managedSelector(runtime.Ownership{}), func(m metav1.ObjectMeta) {
		if cl, ok := r.own.ForeignClaim(m.Labels, m.Annotations); ok {
			claims = append(claims, cl)
		}
	})
	if err != nil {
		return nil, err
	}
	return runtime.SortClaims(claims), nil
}

// List returns the keys of every cluster with a labelled ConfigMap, Service or Deployment in
// the namespace, sorted.
func (r *Runtime) List(ctx context.Context) ([]runtime.Key, error) {
	seen := map[runtime.Key]bool{}
	err := r.eachManaged(ctx, managedSelector(r.own), func(m metav1.ObjectMeta) {
		if k, ok := r.own.KeyOf(m.Labels); ok {
			seen[k] = true
		}
	})
	if err != nil {
		return nil, err
	}
	keys := make([]runtime.Key, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b runtime.Key) int { return strings.Compare(a.String(), b.String()) })
	return keys, nil
}

// eachManaged calls fn with the metadata of every ConfigMap, Service and Deployment in the
// namespace that selector selects: the objects every cluster has.
func (r *Runtime) eachManaged(ctx context.Context, selector string, fn func(metav1.ObjectMeta)) error {
	opts := metav1.ListOptions{LabelSelector: selector}
	cctx, cancel := r.call(ctx)
	defer cancel()
	cms, err := r.cs.CoreV1().ConfigMaps(r.ns).List(cctx, opts)
	if err != nil {
		return fmt.Errorf("list configmaps: %w", err)
	}
	for _, o := range cms.Items {
		fn(o.ObjectMeta)
	}
	svcs, err := r.cs.CoreV1().Services(r.ns).List(cctx, opts)
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}
	for _, o := range svcs.Items {
		fn(o.ObjectMeta)
	}
	deps, err := r.cs.AppsV1().Deployments(r.ns).List(cctx, opts)
	if err != nil {
		return fmt.Errorf("list deployments: %w", err)
	}
	for _, o := range deps.Items {
		fn(o.ObjectMeta)
	}
	return nil
}
