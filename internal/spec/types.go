// Package spec is the home of the SessionCluster resource: its types, strict decoding from
// YAML, defaulting (defaults.go), validation, the spec hash and the change rule. The daemon,
// flinkctl and both runtimes use it. It does no I/O except LoadFile, which reads one file.
//
// A SessionCluster follows Ververica Platform's resource of the same name (kind SessionCluster,
// apiVersion v1). Every key of Ververica's documented example is understood; Ververica keys
// that flinkd cannot honour on a container runtime are rejected as "not supported by flinkd"
// instead of being dropped silently.
package spec

import (
	"maps"
	"slices"
)

// State is the desired state of a session cluster (spec.state).
type State string

const (
	StateRunning State = "RUNNING"
	StateStopped State = "STOPPED"
)

// Phase is where a cluster is in its lifecycle, as the daemon observes it.
type Phase string

const (
	PhaseStarting Phase = "STARTING"
	PhaseRunning  Phase = "RUNNING"
	PhaseScaling  Phase = "SCALING"
	PhaseStopping Phase = "STOPPING"
	PhaseStopped  Phase = "STOPPED"
	PhaseFailed   Phase = "FAILED"
	PhaseDeleting Phase = "DELETING"
)

// Terminal reports whether a cluster in phase p is in Ververica's terminal state: desired
// STOPPED and no operation in progress. Only then may fields other than spec.state and
// spec.numberOfTaskManagers change. Only PhaseStopped is terminal; a FAILED cluster still
// wants to run and must be set to STOPPED first.
func (p Phase) Terminal() bool { return p == PhaseStopped }

// SessionCluster is one session cluster resource. JSON tags are the YAML keys, so
// json.Marshal of a decoded value decodes again to the same value.
type SessionCluster struct {
	Kind       string   `json:"kind"`
	APIVersion string   `json:"apiVersion"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
}

// Metadata names the cluster. Labels and annotations are recorded only; they do not reach the
// Flink processes (spec.kubernetes.pods has those).
type Metadata struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Spec is the desired cluster.
type Spec struct {
	State                State  `json:"state"`
	DeploymentTargetName string `json:"deploymentTargetName,omitempty"`
	FlinkVersion         string `json:"flinkVersion"`
	FlinkImageRegistry   string `json:"flinkImageRegistry,omitempty"`
	FlinkImageRepository string `json:"flinkImageRepository,omitempty"`
	FlinkImageTag        string `json:"flinkImageTag,omitempty"`
	// FlinkImagePullPolicy is IfNotPresent, Always or Never.
	FlinkImagePullPolicy string `json:"flinkImagePullPolicy,omitempty"`
	// NumberOfTaskManagers is nil only before Default; 0 runs a JobManager alone.
	NumberOfTaskManagers *int      `json:"numberOfTaskManagers,omitempty"`
	Resources            Resources `json:"resources,omitzero"`
	// FlinkConfiguration is flat: key to value, as Flink reads it. YAML numbers and booleans
	// are kept as written (32 becomes "32").
	FlinkConfiguration map[string]string `json:"flinkConfiguration,omitempty"`
	Logging            Logging           `json:"logging,omitzero"`
	Kubernetes         Kubernetes        `json:"kubernetes,omitzero"`
}

// Resources are per instance: each TaskManager gets TaskManager.
type Resources struct {
	JobManager  ResourceSpec `json:"jobmanager,omitzero"`
	TaskManager ResourceSpec `json:"taskmanager,omitzero"`
}

// ResourceSpec holds cpu and memory as written; CPUMillis and MemoryBytes read them.
type ResourceSpec struct {
	// CPU is a decimal number of cores ("2", "0.5") or Kubernetes millicores ("500m").
	CPU string `json:"cpu,omitempty"`
	// Memory is Ververica's size: a decimal number with an optional k, m, g or t suffix in
	// powers of ten ("2g" = 2,000,000,000 bytes), or a Kubernetes binary size ("512Mi").
	Memory string `json:"memory,omitempty"`
}

// CPUMillis returns the CPU in thousandths of a core, 0 when CPU is not valid (it is after Decode).
func (r ResourceSpec) CPUMillis() int64 {
	m, err := ParseCPU(r.CPU)
	if err != nil {
		return 0
	}
	return m
}

// MemoryBytes returns the memory in bytes, 0 when Memory is not valid (it is after Decode).
func (r ResourceSpec) MemoryBytes() int64 {
	b, err := ParseMemory(r.Memory)
	if err != nil {
		return 0
	}
	return b
}

// Logging configures Log4j in the Flink processes.
type Logging struct {
	// LoggingProfile names a profile of flinkconf.Profiles().
	LoggingProfile string `json:"loggingProfile,omitempty"`
	// Log4jLoggers maps a logger name to a Log4j level; "" is the root logger.
	Log4jLoggers map[string]string `json:"log4jLoggers,omitempty"`
}

// Kubernetes holds the Kubernetes-flavoured options; the Docker runtime applies the labels,
// annotations and environment to its containers too.
type Kubernetes struct {
	// Labels go on every object flinkd creates for the cluster (ownership labels win).
	Labels map[string]string `json:"labels,omitempty"`
	Pods   Pods              `json:"pods,omitzero"`
}

// Pods applies to the JobManager and every TaskManager alike.
type Pods struct {
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	EnvVars     []EnvVar          `json:"envVars,omitempty"`
}

// EnvVar is one environment variable of the Flink processes.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Key returns the cluster's identity: its namespace and name.
func (c *SessionCluster) Key() (namespace, name string) {
	return c.Metadata.Namespace, c.Metadata.Name
}

// Image returns the image reference "registry/repository:tag", or "repository:tag" when the
// registry is empty (the engine's default registry).
func (c *SessionCluster) Image() string {
	s := &c.Spec
	ref := s.FlinkImageRepository + ":" + s.FlinkImageTag
	if s.FlinkImageRegistry == "" {
		return ref
	}
	return s.FlinkImageRegistry + "/" + ref
}

// TaskManagers returns the number of TaskManagers to run (the default when unset).
func (c *SessionCluster) TaskManagers() int {
	if c.Spec.NumberOfTaskManagers == nil {
		return DefaultNumberOfTaskManagers
	}
	return *c.Spec.NumberOfTaskManagers
}

// DeepCopy returns a copy that shares no maps, slices or pointers with c.
func (c *SessionCluster) DeepCopy() *SessionCluster {
	if c == nil {
		return nil
	}
	out := *c
	out.Metadata.Labels = maps.Clone(c.Metadata.Labels)
	out.Metadata.Annotations = maps.Clone(c.Metadata.Annotations)
	if n := c.Spec.NumberOfTaskManagers; n != nil {
		v := *n
		out.Spec.NumberOfTaskManagers = &v
	}
	out.Spec.FlinkConfiguration = maps.Clone(c.Spec.FlinkConfiguration)
	out.Spec.Logging.Log4jLoggers = maps.Clone(c.Spec.Logging.Log4jLoggers)
	out.Spec.Kubernetes.Labels = maps.Clone(c.Spec.Kubernetes.Labels)
	out.Spec.Kubernetes.Pods.Labels = maps.Clone(c.Spec.Kubernetes.Pods.Labels)
	out.Spec.Kubernetes.Pods.Annotations = maps.Clone(c.Spec.Kubernetes.Pods.Annotations)
	out.Spec.Kubernetes.Pods.EnvVars = slices.Clone(c.Spec.Kubernetes.Pods.EnvVars)
	return &out
}
