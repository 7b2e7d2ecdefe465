package flinkconf

import (
	"maps"
	"slices"
	"strings"
)

// A Successor is a key Flink reads in place of a legacy one (the legacy key is in the
// option's withDeprecatedKeys). Flink's FLINK-29372 (1.17) and FLIP-366 (1.19) gave a
// suffixed successor to every option whose key is a dotted prefix of another option's, so
// that the configuration can be written as nested YAML.
type Successor struct {
	Legacy, Key string
	// Source names the upstream option that declares it (flink-core or the Kubernetes
	// module's *Options class).
	Source string
}

// Successors is the table of renames flinkd applies, each one declared in Flink's own
// options classes. Only legacy keys that are a dotted prefix of other options are listed:
// those are the ones the 1.19+ nested rewrite breaks; other deprecated keys are left to
// Flink, which still reads them.
func Successors() []Successor {
	return []Successor{
		{"env.java.opts", "env.java.opts.all", "CoreOptions.FLINK_JVM_OPTIONS (bin/config.sh reads both)"},
		{"execution.buffer-timeout", "execution.buffer-timeout.interval", "ExecutionOptions.BUFFER_TIMEOUT"},
		{"execution.checkpointing.unaligned", "execution.checkpointing.unaligned.enabled", "CheckpointingOptions.ENABLE_UNALIGNED"},
		{"high-availability", "high-availability.type", "HighAvailabilityOptions.HA_MODE"},
		{"kubernetes.container.image", "kubernetes.container.image.ref", "KubernetesConfigOptions.CONTAINER_IMAGE"},
		{"kubernetes.jobmanager.cpu", "kubernetes.jobmanager.cpu.amount", "KubernetesConfigOptions.JOB_MANAGER_CPU"},
		{"kubernetes.pod-template-file", "kubernetes.pod-template-file.default", "KubernetesConfigOptions.KUBERNETES_POD_TEMPLATE"},
		{"kubernetes.taskmanager.cpu", "kubernetes.taskmanager.cpu.amount", "KubernetesConfigOptions.TASK_MANAGER_CPU"},
		{"restart-strategy", "restart-strategy.type", "RestartStrategyOptions.RESTART_STRATEGY"},
		{"state.backend", "state.backend.type", "StateBackendOptions.STATE_BACKEND"},
	}
}

// A Rename is one legacy key flinkd writes under its successor's name.
type Rename struct{ From, To string }

// RenameLegacy writes each legacy key of Successors under its successor, for Flink versions
// whose entrypoint rewrites the file nested (1.19 on; before, the file stays flat and Flink
// reads the legacy key as written). It returns the configuration to write, the renames done,
// and the legacy keys whose successor is set as well (both cannot be kept: Flink reads the
// successor and ignores the legacy key, and the pair breaks the rewrite), which callers
// refuse. conf is not modified.
func RenameLegacy(v Version, conf map[string]string) (out map[string]string, renamed, clashes []Rename) {
	out = maps.Clone(conf)
	if !v.StandardYAML() {
		return out, nil, nil
	}
	for _, s := range Successors() {
		val, ok := conf[s.Legacy]
		if !ok {
			continue
		}
		if _, both := conf[s.Key]; both {
			clashes = append(clashes, Rename{s.Legacy, s.Key})
			continue
		}
		delete(out, s.Legacy)
		out[s.Key] = val
		renamed = append(renamed, Rename{s.Legacy, s.Key})
	}
	return out, renamed, clashes
}

// PrefixPairs returns every pair of keys where the first is a strict dotted prefix of the
// second ("state.backend" and "state.backend.incremental"), sorted. Such a pair cannot be
// written as nested YAML: YamlParserUtils.convertAndDumpYamlFromFlatMap, which the 1.19+
// entrypoint's bin/config-parser-utils.sh uses, throws ClassCastException or drops one side.
func PrefixPairs(keys []string) [][2]string {
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	var pairs [][2]string
	for _, k := range keys {
		for i := 0; i < len(k); i++ {
			if k[i] == '.' && set[k[:i]] {
				pairs = append(pairs, [2]string{k[:i], k})
			}
		}
	}
	slices.SortFunc(pairs, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	return slices.Compact(pairs)
}

// Nestable reports whether key can be a path of nested YAML mappings: no empty segment
// ("a..b", ".a", "a." cannot be nested back by Flink's dump, which splits on '.').
func Nestable(key string) bool {
	return key != "" && !slices.Contains(strings.Split(key, "."), "")
}
