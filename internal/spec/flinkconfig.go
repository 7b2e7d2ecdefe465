package spec

import (
	"strconv"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/flinkmem"
)

// FlinkConfig is the one home of the Flink configuration a spec asks for, before a runtime
// adds its own options and the image's defaults: what the daemon hands to the runtimes and
// what validation runs Flink's memory model on.
//
//   - spec.flinkConfiguration, each "${NAME}" replaced by the value of the env var NAME of
//     spec.kubernetes.pods.envVars where there is one (Ververica's rule; every other '$' is
//     kept as written, flinkconf.Expand);
//   - legacy keys under their successors where the Flink version's entrypoint rewrites the
//     file as nested YAML (flinkconf.RenameLegacy); renamed lists them;
//   - jobmanager.memory.process.size and taskmanager.memory.process.size from
//     spec.resources unless set: the exact bytes of the container limits ("1000000000b"),
//     so that the process and its container agree to the byte.
func (s *Spec) FlinkConfig() (conf map[string]string, renamed []flinkconf.Rename) {
	vars := make(map[string]string, len(s.Kubernetes.Pods.EnvVars))
	for _, e := range s.Kubernetes.Pods.EnvVars {
		vars[e.Name] = e.Value
	}
	expanded := make(map[string]string, len(s.FlinkConfiguration)+2)
	for k, v := range s.FlinkConfiguration {
		expanded[k] = flinkconf.Expand(v, vars)
	}
	conf, renamed, _ = flinkconf.RenameLegacy(flinkconf.VersionOf(s.FlinkVersion), expanded)
	for key, r := range map[string]ResourceSpec{
		flinkmem.KeyJobManagerProcessSize:  s.Resources.JobManager,
		flinkmem.KeyTaskManagerProcessSize: s.Resources.TaskManager,
	} {
		if _, set := conf[key]; !set {
			conf[key] = strconv.FormatInt(r.MemoryBytes(), 10) + "b"
		}
	}
	return conf, renamed
}
