// Package runtime is the seam between flinkd's daemon and the places Flink processes run
// (a Docker engine, a Kubernetes namespace, or memory in tests).
//
// Runtimes report facts and converge resources; only the daemon turns facts into phases and
// decides what a spec means. A runtime never reads YAML.
package runtime

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"time"
)

// Key names one session cluster. It is unique per daemon.
type Key struct {
	Namespace string
	Name      string
}

func (k Key) String() string { return k.Namespace + "/" + k.Name }

// Cluster is one cluster's desired state in runtime-neutral terms, built by the daemon from a
// validated spec.
type Cluster struct {
	Key Key
	// Image is the full image reference (registry/repository:tag).
	Image string
	// PullPolicy is "IfNotPresent" (the default when empty), "Always" or "Never".
	PullPolicy string
	// FlinkVersion is major.minor ("1.20", "2.1"); it picks the configuration file name.
	FlinkVersion string
	// Hash identifies everything about the cluster except the number of TaskManagers, so that
	// scaling never recreates anything. Stamped on every resource (label or annotation).
	Hash string

	JobManager  Process
	TaskManager Process // template for every TaskManager

	// TaskManagers is the number of TaskManagers to run.
	TaskManagers int
	// RemoveFirst lists TaskManager instance IDs (Instance.ID) to remove first when there are
	// more TaskManagers than wanted, most preferred first: the daemon lists idle ones here so
	// that running jobs restart only when no idle TaskManager is left. A runtime that cannot
	// choose exactly (Kubernetes) uses it as a strong preference. ScaleDownVictims is the rule.
	RemoveFirst []string
	// Replace lists the dead instances (State Exited) to start again now, by Instance.ID, each
	// with the number of restarts in a row its replacement records (Instance.Restarts). A dead
	// instance that is not listed is left as it is: the daemon backs off crash loops and
	// decides when the next start is due. A runtime whose platform restarts processes itself
	// (Kubernetes' kubelet, with its own CrashLoopBackOff) ignores it.
	Replace map[string]int

	// FlinkConfig holds the final, runtime-neutral Flink configuration (the spec's
	// flinkConfiguration plus the memory sizes from resources). The runtime adds what only it
	// knows (jobmanager.rpc.address, bind hosts, taskmanager.resource-id, ports) and writes the
	// file with flinkconf.Render; FLINK_PROPERTIES is never used for these values.
	FlinkConfig map[string]string
	// Log4jProperties is the rendered log4j-console.properties file.
	Log4jProperties string

	// TLS is the key material of a secure cluster (metadata.annotations
	// flink.security.ssl.enabled: "true"); nil for a cluster without it. FlinkConfig then
	// holds flinkconf.TLSOptions already; the runtime places TLS.Files and passes TLS.Secret.
	TLS *TLS

	// Labels and Annotations are the user's (spec.kubernetes.pods.*, metadata.labels). The
	// runtime adds its ownership labels (see labels.go); ownership labels always win.
	Labels      map[string]string
	Annotations map[string]string
}

// TLS is what a secure cluster's processes need beyond their plain configuration. Nothing
// of it may reach a log, an event, the database, a Kubernetes ConfigMap or a container's
// arguments or environment in plain form.
type TLS struct {
	// Files go into the conf folder (flinkconf.Dir) of every process, JobManagerFiles only
	// into the JobManager's (the REST stores), readable only by the Flink user.
	Files, JobManagerFiles map[string][]byte
	// Secret holds the password options of every process, JobManagerSecret those of the
	// JobManager (flinkconf.TLSSecretOptions): Flink reads them as configuration.
	Secret, JobManagerSecret map[string]string
	// Fingerprint identifies the material (not secret).
	Fingerprint string
}

// ClientTLS returns the TLS configuration of flinkd's REST client for secure cluster k (its
// client certificate and the roots that verify the server). Runtimes get it in their
// configuration and put it into the Endpoint of a secure cluster.
type ClientTLS func(k Key) (*tls.Config, error)

// RESTHosts is an optional capability: the DNS names and IP addresses by which users and
// flinkd reach the REST API of cluster k, for the SANs of its server certificate. Without
// it: 127.0.0.1 and localhost.
type RESTHosts interface {
	RESTHosts(k Key) []string
}

// Process is what a JobManager or a TaskManager gets.
type Process struct {
	// CPUMillis is the CPU limit in thousandths of a core (2 cores = 2000).
	CPUMillis int64
	// MemoryBytes is the memory limit in bytes, exact.
	MemoryBytes int64
	// Env is the container environment, in order.
	Env []EnvVar
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name  string
	Value string
}

// Observed is what exists now for one cluster: facts only.
type Observed struct {
	// Exists is false when no labelled resource exists at all (not an error).
	Exists bool
	// Hash is the Cluster.Hash the JobManager was created from ("" when there is none).
	Hash string
	// JobManager is nil when absent.
	JobManager *Instance
	// TaskManagers are sorted by ID.
	TaskManagers []Instance
	// REST says how flinkd reaches the JobManager's REST API; zero until it is reachable.
	REST Endpoint
	// Message is a runtime-level fact worth showing (a Deployment's failure condition, say).
	Message string
}

// Endpoint is a way to reach the JobManager's REST API.
type Endpoint struct {
	// URL is the base URL flinkd uses (no trailing slash), e.g. http://127.0.0.1:32768 or an
	// API server's service-proxy path.
	URL string
	// Client is the HTTP client to use with URL; nil means a plain client.
	Client *http.Client
	// Display is what users are told: a URL they can open, or how to reach it
	// (a kubectl port-forward command).
	Display string
	// TLS says the REST API is https with client authentication (a secure cluster): the
	// daemon's client must present the cluster's client certificate. ServerName is then the
	// name to check the server's certificate against when URL's host is not among its SANs.
	TLS        bool
	ServerName string
	// Err says why the REST API cannot be reached now although the JobManager runs (URL is
	// then empty), e.g. a port-forward the API server refused.
	Err error
}

// InstanceState is a coarse container or pod state.
type InstanceState string

const (
	StatePending    InstanceState = "Pending"    // created, not started, or image being pulled
	StateRunning    InstanceState = "Running"    // process running
	StateRestarting InstanceState = "Restarting" // being restarted by the engine/kubelet
	StateExited     InstanceState = "Exited"     // process ended (see ExitCode, OOMKilled)
	StateUnknown    InstanceState = "Unknown"
)

// Instance is one JobManager or TaskManager container (or pod).
type Instance struct {
	// ID is the stable identity used by the daemon and by logs: "jobmanager",
	// "taskmanager-3" (Docker) or a pod name (Kubernetes). It is also the Flink
	// taskmanager.resource-id, so Flink's /taskmanagers IDs map to instances.
	ID string
	// RuntimeID is the container ID or pod UID.
	RuntimeID string
	// Hash is the Cluster.Hash it was created from.
	Hash      string
	State     InstanceState
	Ready     bool // running and, where the runtime knows, passing its checks
	ExitCode  int
	OOMKilled bool
	// Restarts counts the restarts in a row: how often the instance was started again after
	// its process died (Docker: flinkd's count, kept in a label; Kubernetes: the kubelet's).
	Restarts  int
	StartedAt time.Time
	// FinishedAt is when the process of a dead instance ended; zero while it runs or when the
	// runtime does not know.
	FinishedAt time.Time
	// Message explains a bad state: an image pull error, a crash loop, the last log lines of
	// a dead container.
	Message string
}

// Progress receives what a runtime does while it works (image pulls, created or replaced
// containers), for the cluster's event log. Reason is one CamelCase word ("Pulling",
// "Created", "Replaced", "Removed"). It may be nil.
type Progress func(reason, message string)

// Runtime runs Flink processes for session clusters. Implementations must be safe for
// concurrent use on different keys. Apply, Observe and Delete act on one key, and the daemon
// never calls two of them for the same key at once: one worker owns a key at a time (List and
// Ping name no key; LogSource.Logs only reads, and may run beside them).
type Runtime interface {
	// Apply converges the cluster's resources toward c and returns without waiting for
	// readiness. Idempotent. Creates resources with deterministic names and ownership labels,
	// starts instances created but never started, replaces the dead instances c.Replace lists
	// (and leaves the other dead ones as they are), recreates instances whose Hash differs, and
	// removes TaskManagers beyond c.TaskManagers (RemoveFirst first). Returns ErrNotOwned
	// when a name it needs is taken by something without flinkd's labels, an
	// *OwnedElsewhereError (also ErrNotOwned) when another flinkd identity holds it (see
	// Ownership.Check), and an error
	// wrapping ErrImageUnavailable when the image is neither present nor pullable.
	Apply(ctx context.Context, c Cluster, progress Progress) error
	// Observe reports what exists for k. An absent cluster is Observed{Exists: false}, nil.
	Observe(ctx context.Context, k Key) (Observed, error)
	// Delete removes every resource labelled for k and returns once they are gone.
	// Absent is not an error.
	Delete(ctx context.Context, k Key) error
	// List returns every key that has resources here this runtime's Ownership owns
	// (adoption, orphan sweeps).
	List(ctx context.Context) ([]Key, error)
	// Ping says whether the runtime answers (flinkctl targets).
	Ping(ctx context.Context) error
}

// LogSource is an optional capability: the logs of one instance ("jobmanager",
// "taskmanager-N" for the N-th TaskManager in ID order, or an exact Instance.ID). Logs only
// reads: it is safe to call while Apply, Observe or Delete run for the same key.
type LogSource interface {
	Logs(ctx context.Context, k Key, instance string, opts LogOptions) (io.ReadCloser, error)
}

// LogOptions shape a log stream.
type LogOptions struct {
	Follow bool
	// Tail is the number of last lines to start with; 0 means all.
	Tail int
}

// ChangeSource is an optional capability: it sends the key of any cluster whose resources
// changed outside flinkd's own calls (a container died or was removed by hand). The channel
// is closed when ctx ends. Events only nudge: the daemon re-observes.
type ChangeSource interface {
	Changes(ctx context.Context) (<-chan Key, error)
}

var (
	// ErrNotOwned means a resource flinkd needs exists but does not carry flinkd's labels.
	ErrNotOwned = errors.New("exists but is not managed by flinkd")
	// ErrImageUnavailable means the image is not present and cannot be pulled.
	ErrImageUnavailable = errors.New("image not available")
	// ErrNoInstance means a log request named an instance that does not exist.
	ErrNoInstance = errors.New("no such instance")
)
