package flinkconf

import (
	"fmt"
	"regexp"
	"slices"
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

// ShellEvaluation says what Flink's start script does to a JVM option value beyond splitting
// it into words at white space. bin/flink-console.sh (apache/flink flink-dist, since
// FLINK-23057 in 1.14) runs FLINK_ENV_JAVA_OPTS, which bin/config.sh, jobmanager.sh and
// taskmanager.sh build from the env.java.* keys, through the shell before it starts the JVM:
//
//	# Evaluate user options for local variable expansion
//	FLINK_ENV_JAVA_OPTS=$(eval echo ${FLINK_ENV_JAVA_OPTS})
//
// so that "-Xlog:gc*:file=${FLINK_LOG_PREFIX}.gc.log" works (Flink's documented use). vars are
// the variables that evaluation replaces with the process's environment (unset ones with
// nothing): $NAME and ${NAME...}, in order, once each. problem is the first construct the
// evaluation would change in any other way, or "" when there is none: special parameters
// ($$ is the shell's process ID, $1 an argument), quotes and backslashes (removed; a quoted
// space splits the option all the same, as the result is split at white space again), command
// substitution and shell operators (a command runs, output is redirected, or the evaluation
// fails and every option is lost), brace expansion (one word becomes several), a word
// starting with '#' (a comment: the words after it are lost) or '~' (a home folder). The
// message never quotes the value, which may hold a secret. Pathname expansion is left out:
// it changes only a word that matches a file in Flink's working folder, which no JVM option
// does.
func ShellEvaluation(value string) (problem string, vars []string) {
	isNameStart := func(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isName := func(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' }
	addVar := func(name string) {
		if !slices.Contains(vars, name) {
			vars = append(vars, name)
		}
	}
	wordStart := true
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c == ' ' || c == '\t' || c == '\n' {
			wordStart = true
			continue
		}
		atStart := wordStart
		wordStart = false
		switch {
		case atStart && c == '#':
			return "has a word starting with '#', where the shell's evaluation sees a comment and drops the rest of the options", vars
		case atStart && c == '~':
			return "has a word starting with '~', which the shell's evaluation replaces with a home folder", vars
		case c == '\'' || c == '"':
			return "contains quotes, which the shell's evaluation removes (and a quoted space splits the option all the same)", vars
		case c == '\\':
			return "contains a backslash, which the shell's evaluation removes", vars
		case c == '`':
			return "contains '`', with which the shell's evaluation runs a command", vars
		case strings.IndexByte(";&|<>()", c) >= 0:
			return fmt.Sprintf("contains '%c', a shell operator: the shell's evaluation runs or redirects a command there, or fails and loses every option", c), vars
		case c == '{':
			if end := strings.IndexByte(value[i:], '}'); end > 0 {
				inner := value[i+1 : i+end]
				if !strings.ContainsAny(inner, " \t\n") && (strings.Contains(inner, ",") || strings.Contains(inner, "..")) {
					return "contains {a,b} or {a..b}, which the shell's evaluation expands into several words", vars
				}
			}
		case c == '$' && i+1 < len(value):
			next := value[i+1]
			switch {
			case next == '(':
				return "contains '$(', with which the shell's evaluation runs a command", vars
			case next == '{':
				end := strings.IndexByte(value[i+2:], '}')
				if end < 0 || end == 0 || !isNameStart(value[i+2]) {
					return "contains a '${' that names no variable, on which the shell's evaluation fails and loses every option", vars
				}
				j := i + 2
				for j < len(value) && isName(value[j]) {
					j++
				}
				addVar(value[i+2 : j])
				i += 2 + end
			case isNameStart(next):
				j := i + 1
				for j < len(value) && isName(value[j]) {
					j++
				}
				addVar(value[i+1 : j])
				i = j - 1
			case next >= '0' && next <= '9' || strings.IndexByte("$@*#?-!", next) >= 0:
				return fmt.Sprintf("contains '$%c', a special parameter of the shell, which its evaluation replaces (with its process ID, an argument, ...)", next), vars
			}
		}
	}
	return "", vars
}
