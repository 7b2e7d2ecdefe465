package sim

import (
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
	c, err := parseStandardYAML(data)
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

func TestJobOnJava17WithoutJavaUtilOpenFailsWithInaccessibleObjectException(t *testing.T) {
	conf := testConf(map[string]string{"restart-strategy.type": ""})
	delete(conf, "restart-strategy.type") // Flink's default without checkpointing: no restart
	c := startJobManager(t, conf)
	tm, err := StartTaskManager(t.Context(), TaskManagerConfig{
		JobManagerRPC: c.jm.RPCAddr(), ResourceID: "tm-17", Slots: 1, Config: conf,
		JavaVersion: 17, JVMOptions: []string{"-XX:+IgnoreUnrecognizedVMOptions", "-Dfoo=bar"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tm.Kill)
	c.waitTaskManagers(t, 1)
	id := runJob(t, c, 1)
	waitJobState(t, c, id, StateFailed)
	ex := obj(t, getJSON(t, c.rest+"/jobs/"+id+"/exceptions", 200))
	entries := arr(t, obj(t, ex["exceptionHistory"])["entries"])
	if len(entries) != 1 {
		t.Fatalf("exception history = %v, want one entry", entries)
	}
	e := obj(t, entries[0])
	if e["exceptionName"] != "java.lang.reflect.InaccessibleObjectException" || e["taskManagerId"] != "tm-17" ||
		!strings.Contains(e["stacktrace"].(string), `module java.base does not "opens java.util" to unnamed module`) ||
		!strings.HasPrefix(ex["root-exception"].(string), "java.lang.reflect.InaccessibleObjectException: Unable to make field") {
		t.Errorf("exceptions = %v", ex)
	}
}

func TestJobOnJava17WithJavaUtilOpenRuns(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	tm, err := StartTaskManager(t.Context(), TaskManagerConfig{
		JobManagerRPC: c.jm.RPCAddr(), ResourceID: "tm-17", Slots: 1, Config: testConf(nil),
		JavaVersion: 17, JVMOptions: javaOptions(imageConf(t, "2.2"), false, Version{2, 2}, nil, false, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tm.Kill)
	c.waitTaskManagers(t, 1)
	id := runJob(t, c, 1)
	waitJobState(t, c, id, StateRunning)
	if n := len(arr(t, obj(t, obj(t, getJSON(t, c.rest+"/jobs/"+id+"/exceptions", 200))["exceptionHistory"])["entries"])); n != 0 {
		t.Errorf("%d exceptions, want none", n)
	}
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
