package daemon

import (
	"maps"
	"os"
	"strconv"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

// Flink options the daemon derives from spec.resources unless the user set them.
const (
	keyJobManagerProcessSize  = "jobmanager.memory.process.size"
	keyTaskManagerProcessSize = "taskmanager.memory.process.size"
)

// clusterFor translates a validated spec into the runtime's terms (pure). Memory sizes reach
// Flink as exact byte counts ("1000000000b"), the same bytes that bound the containers.
// ${VAR} references in flinkConfiguration values are expanded from the spec's env vars, as
// Ververica does for secrets injected into the pods (the image itself only expands
// FLINK_PROPERTIES); unknown variables are left as written.
func clusterFor(sc *spec.SessionCluster, removeFirst []string) (runtime.Cluster, error) {
	ns, name := sc.Key()
	s := &sc.Spec
	env := make([]runtime.EnvVar, 0, len(s.Kubernetes.Pods.EnvVars))
	vars := make(map[string]string, len(s.Kubernetes.Pods.EnvVars))
	for _, e := range s.Kubernetes.Pods.EnvVars {
		env = append(env, runtime.EnvVar{Name: e.Name, Value: e.Value})
		vars[e.Name] = e.Value
	}
	conf := make(map[string]string, len(s.FlinkConfiguration)+2)
	for k, v := range s.FlinkConfiguration {
		conf[k] = os.Expand(v, func(name string) string {
			if val, ok := vars[name]; ok {
				return val
			}
			return "${" + name + "}"
		})
	}
	jm, tm := s.Resources.JobManager, s.Resources.TaskManager
	if _, ok := conf[keyJobManagerProcessSize]; !ok {
		conf[keyJobManagerProcessSize] = strconv.FormatInt(jm.MemoryBytes(), 10) + "b"
	}
	if _, ok := conf[keyTaskManagerProcessSize]; !ok {
		conf[keyTaskManagerProcessSize] = strconv.FormatInt(tm.MemoryBytes(), 10) + "b"
	}
	log4j, err := flinkconf.Log4jProperties(s.Logging.LoggingProfile, s.Logging.Log4jLoggers)
	if err != nil {
		return runtime.Cluster{}, err
	}
	if sc.TLS() {
		// The material itself is attached by the worker (provisionTLS): it is file I/O.
		conf = flinkconf.WithTLS(conf)
	}
	labels := map[string]string{}
	maps.Copy(labels, s.Kubernetes.Labels)
	maps.Copy(labels, s.Kubernetes.Pods.Labels)
	return runtime.Cluster{
		Key:             runtime.Key{Namespace: ns, Name: name},
		Image:           sc.Image(),
		PullPolicy:      s.FlinkImagePullPolicy,
		FlinkVersion:    s.FlinkVersion,
		Hash:            sc.Hash(),
		JobManager:      runtime.Process{CPUMillis: jm.CPUMillis(), MemoryBytes: jm.MemoryBytes(), Env: env},
		TaskManager:     runtime.Process{CPUMillis: tm.CPUMillis(), MemoryBytes: tm.MemoryBytes(), Env: env},
		TaskManagers:    sc.TaskManagers(),
		RemoveFirst:     removeFirst,
		FlinkConfig:     conf,
		Log4jProperties: log4j,
		Labels:          labels,
		Annotations:     maps.Clone(s.Kubernetes.Pods.Annotations),
	}, nil
}
