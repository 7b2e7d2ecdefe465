package flinkconf

import (
	"regexp"
	"strings"
)

// Expand replaces each "${NAME}" in value with vars[NAME], where NAME is one of vars (the
// spec's environment variables: Ververica's way of putting secrets into flinkConfiguration).
// Every other '$' stays exactly as written: "pa$$word", "cost $5", "$HOME" and "${UNSET}"
// are kept, and a replacement is not expanded again.
func Expand(value string, vars map[string]string) string {
	if !strings.Contains(value, "${") {
		return value
	}
	var b strings.Builder
	for {
		i := strings.Index(value, "${")
		if i < 0 {
			b.WriteString(value)
			return b.String()
		}
		end := strings.IndexByte(value[i+2:], '}')
		if end < 0 {
			b.WriteString(value)
			return b.String()
		}
		name := value[i+2 : i+2+end]
		if v, ok := vars[name]; ok {
			b.WriteString(value[:i])
			b.WriteString(v)
		} else {
			b.WriteString(value[:i+3+end])
		}
		value = value[i+3+end:]
	}
}

// envsubstRef matches what GNU envsubst (without a SHELL-FORMAT) replaces: $NAME and ${NAME}.
var envsubstRef = regexp.MustCompile(`\$(\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_])`)

// LegacyProblem says why value would not reach Flink as written through a flink-conf.yaml,
// or "" when it would. Flink's legacy reader (GlobalConfiguration.loadYAMLResource) cuts a
// line at the first '#', trims key and value, and skips a line whose value is empty; it has
// no quoting, so none of these can be escaped. envsubst adds the image entrypoint's pass over
// the whole file before 1.19 (docker-entrypoint.sh prepare_configuration), which replaces
// every $NAME and ${NAME} (unset ones with nothing).
func LegacyProblem(value string, envsubst bool) string {
	switch {
	case strings.Contains(value, "#"):
		return "contains '#', where Flink's flink-conf.yaml reader cuts the value off (it has no quoting)"
	case envsubst && envsubstRef.MatchString(value):
		// The message does not quote the value: it may be a secret, expanded from an env var.
		return "contains a $NAME or ${NAME}, which the image's entrypoint replaces with an environment variable's value (or nothing) before Flink reads flink-conf.yaml"
	case value == "":
		return "is empty, and Flink's flink-conf.yaml reader skips a key without a value"
	case strings.TrimSpace(value) != value:
		return "starts or ends with white space, which Flink's flink-conf.yaml reader trims"
	case strings.ContainsAny(value, "\n\r"):
		return "spans lines, which flink-conf.yaml cannot hold"
	}
	return ""
}

// JVM option keys: bin/config.sh joins env.java.default-opts.all and env.java.opts.all (or
// its legacy name env.java.opts) into every process's JVM options, and the component keys
// into that component's.
func jvmOptionKeys() []string {
	return []string{
		"env.java.default-opts.all", "env.java.default-opts.jobmanager", "env.java.default-opts.taskmanager",
		"env.java.opts", "env.java.opts.all", "env.java.opts.client", "env.java.opts.historyserver",
		"env.java.opts.jobmanager", "env.java.opts.sql-gateway", "env.java.opts.taskmanager",
	}
}

// IsJVMOptions reports whether key holds JVM options (see MergeValue).
func IsJVMOptions(key string) bool {
	for _, k := range jvmOptionKeys() {
		if k == key {
			return true
		}
	}
	return false
}

// MergeValue is the one rule for a key set both by the image's own configuration (base) and
// by the cluster (over). For JVM options both apply: the image's come first (the module
// flags Flink 2.x images ship for Java 17, "--add-opens=java.base/java.util=ALL-UNNAMED" and
// the like, without which jobs fail with InaccessibleObjectException), then the cluster's,
// so that where the two disagree the cluster's wins (the JVM takes the last -D, -X or -XX of
// a kind). Every other key takes the cluster's value.
func MergeValue(key, base, over string) string {
	if !IsJVMOptions(key) {
		return over
	}
	base, over = strings.TrimSpace(base), strings.TrimSpace(over)
	switch {
	case base == "":
		return over
	case over == "":
		return base
	}
	return base + " " + over
}
