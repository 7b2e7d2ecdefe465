package flinkreal

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flinkd/flinkd/test/flinkbox"
)

// Prefix pairs in a writable conf/ (flat keys, as a user writes them): the entrypoint's
// rewrite runs Flink's nested dump (YamlParserUtils.convertAndDumpYamlFromFlatMap), which
// cannot nest a value under a key that has one. What happens depends on the order in which
// the configuration's HashMap yields the two keys, so on the whole set of keys in the file
// and the overrides (the same pair can go either way in another file); with the image's own
// config.yaml it is the same at every start:
//   - the longer key comes first and the shorter one then replaces its map: the longer key
//     is dropped without a word and the cluster starts (state.backend +
//     state.backend.incremental, restart-strategy + restart-strategy.fixed-delay.attempts);
//   - the shorter key comes first: the dump throws ClassCastException, the shell swallows
//     the failure and writes its text into config.yaml, and the start then fails on that
//     file with Flink's own errors (a legacy env.java.opts beside the env.java.opts.all the
//     image ships).

func TestPrefixPairsDropTheLongerKeySilently(t *testing.T) {
	for _, line := range []string{"1.20", "2.2"} {
		t.Run(line, func(t *testing.T) {
			image := realImage(t, line)
			s := newScope(t, image)
			for i, pair := range []struct{ short, shortValue, long, longValue, nested string }{
				{"state.backend", "hashmap", "state.backend.incremental", "true", "state:\n  backend: hashmap\n"},
				{"restart-strategy", "fixed-delay", "restart-strategy.fixed-delay.attempts", "3", "restart-strategy: fixed-delay\n"},
			} {
				conf := confCopy(t, image, func(c string) string {
					return c + pair.short + ": " + pair.shortValue + "\n" + pair.long + ": " + pair.longValue + "\n"
				})
				jm := s.Start(t, flinkbox.Node{Alias: fmt.Sprintf("jobmanager-%d", i), Cmd: []string{"jobmanager"}, REST: true,
					Env:   map[string]string{"FLINK_PROPERTIES": clusterProperties()},
					Binds: []string{conf + ":/opt/flink/conf"}})
				after, err := os.ReadFile(filepath.Join(conf, "config.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s + %s: config.yaml after the start:\n%s", pair.short, pair.long, after)
				last := pair.long[strings.LastIndex(pair.long, ".")+1:]
				if !strings.Contains(string(after), pair.nested) || strings.Contains(string(after), last+":") {
					t.Errorf("config.yaml after the start: want %s kept (%q) and %s gone", pair.short, pair.nested, pair.long)
				}
				got := jobManagerConfig(t, flinkbox.RESTURL(t, jm))
				if got[pair.short] != pair.shortValue {
					t.Errorf("/jobmanager/config %s = %q, want %q", pair.short, got[pair.short], pair.shortValue)
				}
				if v, ok := got[pair.long]; ok {
					t.Errorf("/jobmanager/config %s = %q, want it dropped by the rewrite", pair.long, v)
				}
				if err := jm.Terminate(t.Context()); err != nil {
					t.Fatalf("stop the JobManager: %v", err)
				}
			}
		})
	}
}

// The rewrite runs once for the fixed options and, when FLINK_PROPERTIES is set, a second
// time for its lines. The first one fails with ClassCastException and writes the error text
// into config.yaml; the second one then cannot parse that text as YAML and writes its own
// error over it, so with FLINK_PROPERTIES the ClassCastException is seen nowhere.
func TestLegacyEnvJavaOptsBesideTheShippedModuleFlagsFailsTheStart(t *testing.T) {
	for _, line := range []string{"1.20", "2.2"} {
		t.Run(line, func(t *testing.T) {
			image := realImage(t, line)
			s := newScope(t, image)
			for _, c := range []struct {
				name string
				env  map[string]string
				file []string // what config.yaml holds after the start
			}{{
				name: "JOB_MANAGER_RPC_ADDRESS",
				env:  map[string]string{"JOB_MANAGER_RPC_ADDRESS": "jobmanager"},
				file: []string{"java.lang.ClassCastException: class java.lang.String cannot be cast to class java.util.Map"},
			}, {
				name: "FLINK_PROPERTIES",
				env:  map[string]string{"FLINK_PROPERTIES": clusterProperties()},
				file: []string{
					"Exception in thread \"main\" java.lang.RuntimeException: Error parsing YAML configuration.",
					"org.snakeyaml.engine.v2.exceptions.YamlEngineException: expected '<document start>', but found '<scalar>'\n in reader, line 1, column 9",
				},
			}} {
				conf := confCopy(t, image, func(c string) string {
					return c + "env.java.opts: -Dflinkreal=legacy\n"
				})
				jm := s.Start(t, flinkbox.Node{Alias: "jobmanager-" + strings.ToLower(c.name[:5]), Cmd: []string{"jobmanager"},
					Env: c.env, Binds: []string{conf + ":/opt/flink/conf"}})
				code, logs := waitExit(t, jm)
				after, err := os.ReadFile(filepath.Join(conf, "config.yaml"))
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("with %s: exit code %d\n--- logs ---\n%s\n--- config.yaml after ---\n%s", c.name, code, logs, after)
				if code != 1 {
					t.Errorf("with %s: exit code %d, want 1", c.name, code)
				}
				if want := "[ERROR] Could not parse configurations properly.\n[ERROR] Raw output from BashJavaUtils:\n"; !strings.HasPrefix(string(after), want) {
					t.Errorf("with %s: config.yaml after the start does not begin with %q", c.name, want)
				}
				for _, want := range c.file {
					if !strings.Contains(string(after), want) {
						t.Errorf("with %s: config.yaml after the start does not contain %q", c.name, want)
					}
				}
				for _, want := range []string{
					"[ERROR] The execution result is empty.",
					"[ERROR] Could not get JVM parameters and dynamic configurations properly.",
					"[ERROR] Raw output from BashJavaUtils:",
					"java.lang.RuntimeException: Error parsing YAML configuration.",
				} {
					if !strings.Contains(logs, want) {
						t.Errorf("with %s: logs do not contain %q", c.name, want)
					}
				}
			}
		})
	}
}

// A read-only conf/ mount: the rewrite cannot write config.yaml, the shell says so, and the
// JobManager starts anyway with the file as it is: the entrypoint's overrides
// (jobmanager.rpc.address, the fixed ports, FLINK_PROPERTIES) are not applied.
func TestReadOnlyConfigStartsWithTheShellsError(t *testing.T) {
	for _, line := range []string{"1.20", "2.2"} {
		t.Run(line, func(t *testing.T) {
			image := realImage(t, line)
			s := newScope(t, image)
			conf := confCopy(t, image, nil)
			before, err := os.ReadFile(filepath.Join(conf, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			jm := s.Start(t, flinkbox.Node{Alias: "jobmanager", Cmd: []string{"jobmanager"},
				Env:   map[string]string{"FLINK_PROPERTIES": clusterProperties()},
				Binds: []string{conf + ":/opt/flink/conf:ro"}, REST: true})
			logs := flinkbox.Logs(t, jm)
			t.Logf("--- logs (head) ---\n%.3000s", logs)
			if want := ": /opt/flink/conf/config.yaml: Read-only file system"; !strings.Contains(logs, want) {
				t.Errorf("logs do not contain %q", want)
			}
			after, err := os.ReadFile(filepath.Join(conf, "config.yaml"))
			if err != nil || string(after) != string(before) {
				t.Errorf("config.yaml changed under a read-only mount (err %v)", err)
			}
			conf2 := jobManagerConfig(t, flinkbox.RESTURL(t, jm))
			t.Logf("/jobmanager/config under a read-only conf: jobmanager.rpc.address=%q blob.server.port=%q jobmanager.memory.process.size=%q",
				conf2["jobmanager.rpc.address"], conf2["blob.server.port"], conf2["jobmanager.memory.process.size"])
			if conf2["jobmanager.rpc.address"] == "jobmanager" || conf2["blob.server.port"] == "6124" {
				t.Errorf("/jobmanager/config shows the entrypoint's overrides although config.yaml could not be written: %v", conf2)
			}
		})
	}
}

// FLINK_PROPERTIES loses every whitespace character of a line before Flink sees it, in
// both lines: values with spaces are concatenated.
func TestFlinkPropertiesLoseTheirSpaces(t *testing.T) {
	for _, line := range []string{"1.20", "2.2"} {
		t.Run(line, func(t *testing.T) {
			s := newScope(t, realImage(t, line))
			jm := s.Start(t, flinkbox.Node{Alias: "jobmanager", Cmd: []string{"jobmanager"}, REST: true,
				Env: map[string]string{"FLINK_PROPERTIES": clusterProperties(
					"env.java.opts.jobmanager: -Dflinkreal.a=one -Dflinkreal.b=two",
					"restart-strategy.fixed-delay.delay: 10 s",
					"   flinkreal.spaced  :  a b   c  ",
				)}})
			conf := jobManagerConfig(t, flinkbox.RESTURL(t, jm))
			for key, want := range map[string]string{
				"env.java.opts.jobmanager":           "-Dflinkreal.a=one-Dflinkreal.b=two",
				"restart-strategy.fixed-delay.delay": "10s",
				"flinkreal.spaced":                   "abc",
			} {
				if conf[key] != want {
					t.Errorf("/jobmanager/config %s = %q, want %q", key, conf[key], want)
				}
			}
			logs := flinkbox.Logs(t, jm)
			if want := "-Dflinkreal.a=one-Dflinkreal.b=two"; !strings.Contains(logs, "    "+want) {
				t.Errorf("the JobManager's JVM options do not list %q", want)
			}
			t.Logf("config.yaml after the start:\n%s", flinkbox.ContainerFile(t, jm, "/opt/flink/conf/config.yaml"))
		})
	}
}

// A memory size below Flink's minimum: Flink's memory model (BashJavaUtils) refuses it
// before the JVM starts, and the container exits with Flink's message.
func TestMemoryBelowFlinksMinimumFailsWithFlinksMessage(t *testing.T) {
	for _, line := range []string{"1.20", "2.2"} {
		t.Run(line, func(t *testing.T) {
			s := newScope(t, realImage(t, line))
			cases := []struct {
				alias, cmd, props, want string
			}{{
				// 10^9 bytes, what "1g" means in a Ververica spec (issue 9, point 6).
				alias: "taskmanager", cmd: "taskmanager",
				props: "taskmanager.memory.process.size: 1000000000",
				want: "TaskManager memory configuration failed: Sum of configured Framework Heap Memory (128.000mb (134217728 bytes)), " +
					"Framework Off-Heap Memory (128.000mb (134217728 bytes)), Task Off-Heap Memory (0 bytes), " +
					"Managed Memory (202.270mb (212095183 bytes)) and Network Memory (64.000mb (67108864 bytes)) " +
					"exceed configured Total Flink Memory (505.674mb (530237952 bytes)).",
			}, {
				alias: "jobmanager", cmd: "jobmanager",
				props: "jobmanager.memory.process.size: 500m",
				// 2.2 drops 1.20's "JobManager memory configuration failed: " before it.
				want: "IllegalConfigurationException: The configured Total Flink Memory (52.000mb (54525952 bytes)) " +
					"is less than the configured Off-heap Memory (128.000mb (134217728 bytes)).",
			}}
			for _, c := range cases {
				n := s.Start(t, flinkbox.Node{Alias: c.alias, Cmd: []string{c.cmd},
					Env: map[string]string{"FLINK_PROPERTIES": properties("jobmanager.rpc.address: jobmanager", c.props)}})
				code, logs := waitExit(t, n)
				t.Logf("%s with %s: exit code %d\n--- logs ---\n%s", c.cmd, c.props, code, logs)
				if code != 1 {
					t.Errorf("%s exit code %d, want 1", c.cmd, code)
				}
				for _, want := range []string{
					"[ERROR] Could not get JVM parameters and dynamic configurations properly.",
					"org.apache.flink.configuration.IllegalConfigurationException",
					c.want,
				} {
					if !strings.Contains(logs, want) {
						t.Errorf("%s logs do not contain %q", c.cmd, want)
					}
				}
			}
		})
	}
}

// Without the Java 17 module flags the image ships in config.yaml (env.java.opts.all), the
// cluster starts, but a job whose main() builds a DataStream program cannot even be
// submitted: Flink's own code needs --add-opens=java.base/java.util.
func TestWithoutTheModuleFlagsAJobCannotBeSubmitted(t *testing.T) {
	for _, line := range []string{"1.20", "2.2"} {
		t.Run(line, func(t *testing.T) {
			image := realImage(t, line)
			s := newScope(t, image)
			conf := confCopy(t, image, dropTopLevel("env"))
			jm := s.Start(t, flinkbox.Node{Alias: "jobmanager", Cmd: []string{"jobmanager"}, REST: true,
				Env:   map[string]string{"FLINK_PROPERTIES": clusterProperties()},
				Binds: []string{conf + ":/opt/flink/conf"}})
			rest := flinkbox.RESTURL(t, jm)
			if logs := flinkbox.Logs(t, jm); strings.Contains(logs, "--add-opens") {
				t.Fatalf("the JobManager runs with module flags although config.yaml has none")
			}
			jar := uploadJar(t, jm, rest, "WindowJoin.jar")
			for attempt := 1; attempt <= 2; attempt++ {
				status, data := runJar(t, rest, jar, map[string]any{"parallelism": 1})
				t.Logf("attempt %d: %d\n%s", attempt, status, data)
				if status != http.StatusBadRequest {
					t.Errorf("attempt %d: POST /jars/:id/run = %d, want 400", attempt, status)
				}
				// Flink's DataStreamV2SinkTransformationTranslator needs java.util opened
				// in ExecutionEnvironmentImpl's static initializer: the first submission
				// names the cause, every later one in the same JVM only the failed class.
				inaccessible := "java.lang.reflect.InaccessibleObjectException: Unable to make field private final java.util.Map java.util.Collections$UnmodifiableMap.m accessible: module java.base does not \\\"opens java.util\\\" to unnamed module"
				uninitialized := "java.lang.NoClassDefFoundError: Could not initialize class org.apache.flink.datastream.impl.ExecutionContextEnvironment"
				if attempt == 1 && !strings.Contains(string(data), inaccessible) {
					t.Errorf("attempt 1: the error does not contain %s", inaccessible)
				}
				if attempt == 2 && (!strings.Contains(string(data), uninitialized) || strings.Contains(string(data), "InaccessibleObjectException")) {
					t.Errorf("attempt 2: the error does not contain %s alone", uninitialized)
				}
			}
		})
	}
}

// dropTopLevel removes a top-level key and its nested block from a YAML file.
func dropTopLevel(key string) func(string) string {
	return func(c string) string {
		var out []string
		skipping := false
		for _, l := range strings.Split(c, "\n") {
			top := l != "" && l[0] != ' ' && l[0] != '#'
			if top {
				skipping = strings.HasPrefix(l, key+":")
			}
			if !skipping {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
}
