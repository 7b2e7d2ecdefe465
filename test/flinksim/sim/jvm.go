package sim

import (
	"regexp"
	"strconv"
	"strings"
)

// The JVM a real image starts, as far as a test can see it: its Java version and the
// options on its command line.

// JavaMajor is the Java feature version of the image's JVM, read from $JAVA_VERSION as the
// eclipse-temurin base images set it ("jdk-17.0.13+11", "jdk8u432-b06"); 0 when unknown.
// The stand-in images set it like their real tags: Java 11 for 1.18 and 1.20 (flink:1.20
// is scala_2.12-java11), Java 17 for 2.x (flink:2.2 is scala_2.12-java17).
func JavaMajor(env map[string]string) int {
	v := strings.TrimPrefix(strings.TrimSpace(env["JAVA_VERSION"]), "jdk")
	v = strings.TrimPrefix(v, "-")
	if rest, ok := strings.CutPrefix(v, "1."); ok { // 1.8.0_432
		v = rest
	}
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(v[:end])
	if err != nil {
		return 0
	}
	return n
}

// javaOptions returns the JVM options bin/jobmanager.sh (jm) or bin/taskmanager.sh puts on
// the java command line of flink-console.sh, beyond the classpath and Log4j settings:
//
//	exec java $JVM_ARGS $(eval echo $FLINK_ENV_JAVA_OPTS) ...
//
// JVM_ARGS is the container's $JVM_ARGS and the memory flags BashJavaUtils computed
// (memFlags). FLINK_ENV_JAVA_OPTS is, as bin/config.sh computes it from the flattened
// configuration file (BashJavaUtils UPDATE_AND_GET_FLINK_CONFIGURATION -flatten, read with
// its readFromConfig: the last "key: value" line, value as the flat dump writes it):
// $FLINK_ENV_JAVA_OPTS when the container sets it, else "-XX:+IgnoreUnrecognizedVMOptions"
// and env.java.default-opts.all (1.19 on) and env.java.opts.all (or the deprecated
// env.java.opts when .all is empty), one leading and one trailing double quote removed,
// with "-Djava.security.manager=allow" on Java 18 and later; then (jobmanager.sh,
// taskmanager.sh) $FLINK_ENV_JAVA_OPTS_JM/_TM or env.java.default-opts.jobmanager/
// taskmanager (1.19 on) and env.java.opts.jobmanager/taskmanager. The eval splits words as
// the shell does (quotes removed, $VAR expanded from env).
//
// $JDK_JAVA_OPTIONS, which the java launcher itself reads, comes first.
func javaOptions(file *conf, legacy bool, v Version, env map[string]string, jm bool, memFlags []string) []string {
	flat := renderFlat(file, legacy)
	read := func(key string) string {
		// readFromConfig: grep "^[ ]*key[ ]*:" | cut -d ':' -f2- | trim | tail -n 1
		re := regexp.MustCompile(`(?m)^[ ]*` + strings.ReplaceAll(regexp.QuoteMeta(key), `\.`, `.`) + `[ ]*:(.*)$`)
		val := ""
		for _, m := range re.FindAllSubmatch(flat, -1) {
			val = strings.Trim(string(m[1]), " ")
		}
		return val
	}
	stripQuotes := func(s string) string {
		s = strings.TrimPrefix(s, `"`)
		return strings.TrimSuffix(s, `"`)
	}
	defaults := v.AtLeast(1, 19)

	all, ok := nonEmpty(env, "FLINK_ENV_JAVA_OPTS")
	if !ok {
		opts := read("env.java.opts.all")
		if opts == "" {
			opts = read("env.java.opts")
		}
		if defaults {
			opts = read("env.java.default-opts.all") + " " + opts
		}
		all = "-XX:+IgnoreUnrecognizedVMOptions " + stripQuotes(opts)
		if JavaMajor(env) > 17 {
			all += " -Djava.security.manager=allow"
		}
	}
	role, envKey, key := "taskmanager", "FLINK_ENV_JAVA_OPTS_TM", "env.java.opts.taskmanager"
	if jm {
		role, envKey, key = "jobmanager", "FLINK_ENV_JAVA_OPTS_JM", "env.java.opts.jobmanager"
	}
	part, ok := nonEmpty(env, envKey)
	if !ok {
		part = read(key)
		if defaults {
			part = read("env.java.default-opts."+role) + " " + part
		}
		part = stripQuotes(part)
	}
	var out []string
	out = append(out, shellWords(env["JDK_JAVA_OPTIONS"], env)...)
	out = append(out, strings.Fields(env["JVM_ARGS"])...)
	out = append(out, memFlags...)
	return append(out, shellWords(all+" "+part, env)...)
}

func nonEmpty(env map[string]string, key string) (string, bool) {
	v := env[key]
	return v, v != ""
}

// shellWords splits s into words as `eval echo $s` leaves them: whitespace separates
// words, single and double quotes group and are removed, $NAME and ${NAME} expand from env
// outside single quotes, a backslash escapes the next character.
func shellWords(s string, env map[string]string) []string {
	var out []string
	var cur strings.Builder
	inWord := false
	quote := rune(0)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			inWord = true
		case r == '$' && quote != '\'':
			name, n := shellVar(rs[i+1:])
			if n == 0 {
				cur.WriteRune(r)
			} else {
				cur.WriteString(env[name])
				i += n
			}
			inWord = true
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote = r
			inWord = true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// shellVar reads a variable name after '$': NAME or {NAME}; n is the runes consumed.
func shellVar(rs []rune) (name string, n int) {
	isName := func(r rune, first bool) bool {
		return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || !first && r >= '0' && r <= '9'
	}
	if len(rs) > 0 && rs[0] == '{' {
		for j := 1; j < len(rs); j++ {
			if rs[j] == '}' {
				return string(rs[1:j]), j + 1
			}
			if !isName(rs[j], j == 1) {
				return "", 0
			}
		}
		return "", 0
	}
	j := 0
	for j < len(rs) && isName(rs[j], j == 0) {
		j++
	}
	return string(rs[:j]), j
}

// OpensJavaUtil reports whether JVM options open java.base/java.util to unnamed modules
// ("--add-opens=java.base/java.util=ALL-UNNAMED", or "--add-opens" and the value as the
// next option), which Flink's own reflection into java.util needs on Java 17 (Flink's
// config.yaml ships it in env.java.opts.all, "required for Java 17 support"; see
// JobManager.postJarRun).
func OpensJavaUtil(opts []string) bool {
	const want = "java.base/java.util=ALL-UNNAMED"
	for i, o := range opts {
		if o == "--add-opens="+want || o == "--add-opens" && i+1 < len(opts) && opts[i+1] == want {
			return true
		}
	}
	return false
}

// jvmMemoryFlags are the flags BashJavaUtils prints for the JVM
// (ProcessMemoryUtils.generateJvmParametersStr; JobManagerProcessUtils.generateJvmParametersStr
// leaves out -XX:MaxDirectMemorySize unless jobmanager.memory.enable-jvm-direct-memory-limit).
func jvmMemoryFlags(heap, direct, metaspace int64, withDirect bool) []string {
	out := []string{"-Xmx" + strconv.FormatInt(heap, 10), "-Xms" + strconv.FormatInt(heap, 10)}
	if withDirect {
		out = append(out, "-XX:MaxDirectMemorySize="+strconv.FormatInt(direct, 10))
	}
	return append(out, "-XX:MaxMetaspaceSize="+strconv.FormatInt(metaspace, 10))
}
