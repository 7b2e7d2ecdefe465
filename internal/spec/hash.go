package spec

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
)

// hashInput is everything that defines the running processes, in normalised form: sizes as
// numbers, log levels in upper case, environment variables sorted. It leaves out spec.state
// and spec.numberOfTaskManagers (scaling must not recreate anything) and metadata.labels and
// metadata.annotations (recorded only, except AnnotationTLS). CheckChange compares the same normalised values, so
// that a change it allows on a running cluster never changes the hash.
type hashInput struct {
	Namespace            string            `json:"namespace"`
	Name                 string            `json:"name"`
	DeploymentTargetName string            `json:"deploymentTargetName"`
	FlinkVersion         string            `json:"flinkVersion"`
	Image                string            `json:"image"`
	PullPolicy           string            `json:"pullPolicy"`
	JobManager           hashResources     `json:"jobmanager"`
	TaskManager          hashResources     `json:"taskmanager"`
	FlinkConfiguration   map[string]string `json:"flinkConfiguration"`
	LoggingProfile       string            `json:"loggingProfile"`
	Log4jLoggers         map[string]string `json:"log4jLoggers"`
	KubernetesLabels     map[string]string `json:"kubernetesLabels"`
	PodLabels            map[string]string `json:"podLabels"`
	PodAnnotations       map[string]string `json:"podAnnotations"`
	EnvVars              []EnvVar          `json:"envVars"`
	// TLS is left out when off, so that the hashes of clusters without it stay as they were.
	TLS bool `json:"tls,omitempty"`
}

type hashResources struct {
	CPUMillis   int64 `json:"cpuMillis"`
	MemoryBytes int64 `json:"memoryBytes"`
}

// Hash returns the sha256 (hex) of the canonical JSON of everything that defines the running
// processes except spec.state, spec.numberOfTaskManagers, metadata.labels and
// metadata.annotations. Missing fields count as their defaults, so a spec hashes the same
// before and after Default.
func (c *SessionCluster) Hash() string {
	d := c.DeepCopy()
	Default(d)
	s := &d.Spec
	loggers := make(map[string]string, len(s.Logging.Log4jLoggers))
	for k, v := range s.Logging.Log4jLoggers {
		loggers[k] = strings.ToUpper(v)
	}
	env := slices.Clone(s.Kubernetes.Pods.EnvVars)
	slices.SortStableFunc(env, func(a, b EnvVar) int { return cmp.Compare(a.Name, b.Name) })
	in := hashInput{
		Namespace:            d.Metadata.Namespace,
		Name:                 d.Metadata.Name,
		DeploymentTargetName: s.DeploymentTargetName,
		FlinkVersion:         s.FlinkVersion,
		Image:                d.Image(),
		PullPolicy:           s.FlinkImagePullPolicy,
		JobManager:           hashResources{s.Resources.JobManager.CPUMillis(), s.Resources.JobManager.MemoryBytes()},
		TaskManager:          hashResources{s.Resources.TaskManager.CPUMillis(), s.Resources.TaskManager.MemoryBytes()},
		FlinkConfiguration:   s.FlinkConfiguration,
		LoggingProfile:       s.Logging.LoggingProfile,
		Log4jLoggers:         loggers,
		KubernetesLabels:     s.Kubernetes.Labels,
		PodLabels:            s.Kubernetes.Pods.Labels,
		PodAnnotations:       s.Kubernetes.Pods.Annotations,
		EnvVars:              env,
		TLS:                  d.TLS(),
	}
	// encoding/json writes struct fields in order and map keys sorted: canonical.
	b, err := json.Marshal(in)
	if err != nil {
		panic("spec: marshal hash input: " + err.Error()) // strings and ints only: cannot happen
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
