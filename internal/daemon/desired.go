package daemon

import (
	"maps"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

// clusterFor translates a validated spec into the runtime's terms (pure). The Flink
// configuration is spec.Spec.FlinkConfig's: ${VAR} expanded from the spec's env vars only,
// legacy keys under their successors where the version needs it, and memory sizes as exact
// byte counts ("1000000000b"), the same bytes that bound the containers.
func clusterFor(sc *spec.SessionCluster, removeFirst []string) (runtime.Cluster, error) {
	ns, name := sc.Key()
	s := &sc.Spec
	env := make([]runtime.EnvVar, 0, len(s.Kubernetes.Pods.EnvVars))
	for _, e := range s.Kubernetes.Pods.EnvVars {
		env = append(env, runtime.EnvVar{Name: e.Name, Value: e.Value})
	}
	conf, _ := s.FlinkConfig()
	jm, tm := s.Resources.JobManager, s.Resources.TaskManager
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
