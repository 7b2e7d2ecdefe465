package sim

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func imageConf(t *testing.T, v string) *conf {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "image", "conf", v, ConfigYAML))
	if err != nil {
		t.Fatal(err)
	}
	c, err := parseStandardYAML(data, mustVersion(v))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTheImagesConfigOpensJavaUtilForJava17(t *testing.T) {
	for _, v := range []string{"1.20", "2.2"} {
		opts := javaOptions(imageConf(t, v), false, mustVersion(v), nil, false, nil)
		if opts[0] != "-XX:+IgnoreUnrecognizedVMOptions" || !OpensJavaUtil(opts) {
			t.Errorf("%s: JVM options of the image's config.yaml = %q, want java.util opened", v, opts)
		}
	}
}

func mustVersion(s string) Version {
	v, _ := ParseVersion(s)
	return v
}

func TestJavaOptionsFollowConfigSh(t *testing.T) {
	c := newConf()
	c.set("env.java.opts.all", "-Dfoo=bar -Dbaz=qux")
	c.set("env.java.default-opts.all", "--add-opens=java.base/java.util=ALL-UNNAMED")
	c.set("env.java.opts.taskmanager", `-Dtm=1 "-Dq=a b"`)
	c.set("env.java.opts.jobmanager", "-Djm=$HOME")
	env := map[string]string{"HOME": "/opt/flink", "JVM_ARGS": "-Dextra=1"}

	tm := javaOptions(c, false, Version{2, 2}, env, false, []string{"-Xmx1"})
	want := []string{"-Dextra=1", "-Xmx1", "-XX:+IgnoreUnrecognizedVMOptions", "--add-opens=java.base/java.util=ALL-UNNAMED",
		"-Dfoo=bar", "-Dbaz=qux", "-Dtm=1", "-Dq=a b"}
	if diff := cmp.Diff(want, tm); diff != "" {
		t.Errorf("taskmanager options (-want +got):\n%s", diff)
	}
	jm := javaOptions(c, false, Version{2, 2}, env, true, nil)
	if !strings.Contains(strings.Join(jm, " "), "-Djm=/opt/flink") || strings.Contains(strings.Join(jm, " "), "-Dtm=1") {
		t.Errorf("jobmanager options = %q", jm)
	}
	// 1.18's config.sh knows no env.java.default-opts.
	if OpensJavaUtil(javaOptions(c, false, Version{1, 18}, env, false, nil)) {
		t.Error("1.18 used env.java.default-opts.all")
	}
	// The deprecated env.java.opts is read only when env.java.opts.all is empty.
	d := newConf()
	d.set("env.java.opts", "--add-opens java.base/java.util=ALL-UNNAMED")
	if !OpensJavaUtil(javaOptions(d, false, Version{2, 2}, nil, false, nil)) {
		t.Error("env.java.opts was not read")
	}
	// $FLINK_ENV_JAVA_OPTS replaces the configuration's options.
	if OpensJavaUtil(javaOptions(imageConf(t, "2.2"), false, Version{2, 2}, map[string]string{"FLINK_ENV_JAVA_OPTS": "-Dx=1"}, false, nil)) {
		t.Error("FLINK_ENV_JAVA_OPTS did not replace env.java.opts.all")
	}
	// The java launcher reads $JDK_JAVA_OPTIONS itself.
	if !OpensJavaUtil(javaOptions(newConf(), false, Version{2, 2}, map[string]string{"JDK_JAVA_OPTIONS": "--add-opens=java.base/java.util=ALL-UNNAMED"}, false, nil)) {
		t.Error("JDK_JAVA_OPTIONS ignored")
	}
}

func TestJavaMajorReadsTemurinsJavaVersion(t *testing.T) {
	for in, want := range map[string]int{"jdk-17.0.13+11": 17, "jdk-11.0.25+9": 11, "jdk8u432-b06": 8, "jdk-21.0.5+11": 21, "": 0} {
		if got := JavaMajor(map[string]string{"JAVA_VERSION": in}); got != want {
			t.Errorf("JavaMajor(%q) = %d, want %d", in, got, want)
		}
	}
}

func startJava17JobManager(t *testing.T, jvm []string) *testCluster {
	t.Helper()
	conf := testConf(nil)
	jm, err := StartJobManager(t.Context(), JobManagerConfig{Config: conf, RPCAddr: "127.0.0.1:0", RESTAddr: "127.0.0.1:0",
		Version: "2.2", JavaVersion: 17, JVMOptions: jvm})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = jm.Close() })
	return &testCluster{jm: jm, log: &syncBuffer{}, conf: conf, rest: jm.RESTURL()}
}

func TestJarRunOnJava17WithoutJavaUtilOpenFailsWithInaccessibleObjectException(t *testing.T) {
	c := startJava17JobManager(t, []string{"-XX:+IgnoreUnrecognizedVMOptions", "-Dfoo=bar"})
	c.addTaskManager(t, "tm-1", 1, nil)
	c.waitTaskManagers(t, 1)
	jar := uploadJar(t, c)
	for attempt, want := range []string{
		`Caused by: java.lang.reflect.InaccessibleObjectException: Unable to make field private final java.util.Map java.util.Collections$UnmodifiableMap.m accessible: module java.base does not "opens java.util" to unnamed module`,
		"Caused by: java.lang.NoClassDefFoundError: Could not initialize class org.apache.flink.datastream.impl.ExecutionContextEnvironment",
	} {
		errs := obj(t, doJSON(t, http.MethodPost, c.rest+"/jars/"+jar+"/run", `{"parallelism":1}`, 400))["errors"]
		msg := arr(t, errs)[0].(string)
		if !strings.HasPrefix(msg, "org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application.") || !strings.Contains(msg, want) {
			t.Errorf("attempt %d: error %q, want %q", attempt+1, msg, want)
		}
		if attempt == 1 && strings.Contains(msg, "InaccessibleObjectException") {
			t.Error("the second attempt named the first cause again")
		}
	}
	if jobs := arr(t, obj(t, getJSON(t, c.rest+"/jobs", 200))["jobs"]); len(jobs) != 0 {
		t.Errorf("jobs = %v, want none", jobs)
	}
}

// A JobManager whose options open java.util runs the jar; the TaskManagers' options do not
// matter (seen on flink-dist 2.2.1: env.java.opts.jobmanager alone is enough).
func TestJarRunOnJava17WithJavaUtilOpenRuns(t *testing.T) {
	c := startJava17JobManager(t, javaOptions(imageConf(t, "2.2"), false, Version{2, 2}, nil, true, nil))
	c.addTaskManager(t, "tm-1", 1, nil)
	c.waitTaskManagers(t, 1)
	id := runJob(t, c, 1)
	waitJobState(t, c, id, StateRunning)
}

// Flink 2.x's JobExceptionsInfoWithHistory has only exceptionHistory (the deprecated
// root-exception, timestamp, all-exceptions and truncated, and each entry's location, are
// gone).
func TestExceptionsOfFlink2HaveOnlyTheHistory(t *testing.T) {
	conf := testConf(map[string]string{"restart-strategy.type": "none"})
	jm, err := StartJobManager(t.Context(), JobManagerConfig{Config: conf, RPCAddr: "127.0.0.1:0", RESTAddr: "127.0.0.1:0", Version: "2.2"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = jm.Close() })
	c := &testCluster{jm: jm, log: &syncBuffer{}, conf: conf, rest: jm.RESTURL()}
	tm, _ := c.addTaskManager(t, "tm-1", 1, nil)
	c.waitTaskManagers(t, 1)
	id := runJob(t, c, 1)
	waitJobState(t, c, id, StateRunning)
	_ = tm.Close()
	waitJobState(t, c, id, StateFailed)
	ex := obj(t, getJSON(t, c.rest+"/jobs/"+id+"/exceptions", 200))
	if diff := cmp.Diff([]string{"exceptionHistory"}, sortedKeys(ex)); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	entry := obj(t, arr(t, obj(t, ex["exceptionHistory"])["entries"])[0])
	wantKeys(t, "entry", entry, "exceptionName", "stacktrace", "timestamp", "taskName", "endpoint", "taskManagerId", "failureLabels", "concurrentExceptions")
}

func TestRestartStrategyDefaultsAsFlink(t *testing.T) {
	now := time.Now()
	one := []time.Time{now}
	two := []time.Time{now.Add(-time.Second), now}
	for _, tc := range []struct {
		name  string
		conf  map[string]string
		fails []time.Time
		ok    bool
		delay time.Duration
	}{
		{"unset without checkpointing: none", map[string]string{}, one, false, 0},
		{"unset with checkpointing: exponential-delay", map[string]string{"execution.checkpointing.interval": "10 s"}, two, true, 1500 * time.Millisecond},
		{"deprecated key", map[string]string{"restart-strategy": "fixed-delay"}, one, true, time.Second},
		{"fixed-delay gives up after its attempts", map[string]string{"restart-strategy.type": "fixed-delay"}, two, false, time.Second},
		{"fixed-delay attempts", map[string]string{"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "3"}, two, true, time.Second},
		{"failure-rate", map[string]string{"restart-strategy.type": "failure-rate"}, two, false, time.Second},
	} {
		delay, ok := restartPolicyOf(tc.conf).next(tc.fails)
		if ok != tc.ok || ok && delay != tc.delay {
			t.Errorf("%s: restart %v after %s, want %v after %s", tc.name, ok, delay, tc.ok, tc.delay)
		}
	}
}
