package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/runtime"
)

// seedSpec returns specs/session.yaml (Ververica's full example) pointed at the stand-in
// image, under the given name, with a flinkConfiguration value that holds spaces. Everything
// else stays: 5 TaskManagers, cpu 2/16, memory 1g/32g, loggers, env var, metadata labels.
//
// flinkVersion goes from 1.17 to 1.20: the version picks the configuration file flinkd writes
// (flink-conf.yaml up to 1.18, config.yaml from 1.19), and the 1.20 stand-in, like a real
// 1.20 image, reads config.yaml; a 1.17 spec on a 1.20 image would have its configuration
// ignored. The name gets a random suffix because container names are global to the engine.
func seedSpec(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bin.root, "specs", "session.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	s = replaceOnce(t, s, "  name: session\n", "  name: "+name+"\n")
	s = replaceOnce(t, s, `flinkVersion: "1.17"`, `flinkVersion: "1.20"`)
	s = setKey(t, s, "flinkImageRegistry", "localhost")
	s = setKey(t, s, "flinkImageRepository", "flink-sim")
	s = setKey(t, s, "flinkImageTag", `"1.20"`)
	s = replaceOnce(t, s, "    taskmanager.numberOfTaskSlots: 32\n",
		"    taskmanager.numberOfTaskSlots: 32\n    env.java.opts.all: -Dfoo=bar -Dbaz=qux\n")
	return s
}

// setKey replaces the value of the one line "  key: ..." of s.
func setKey(t *testing.T, s, key, value string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^(\s+` + regexp.QuoteMeta(key) + `:) .*$`)
	if n := len(re.FindAllString(s, -1)); n != 1 {
		t.Fatalf("%s occurs %d times, want once in:\n%s", key, n, s)
	}
	return re.ReplaceAllString(s, "${1} "+value)
}

// The seed's full example runs as written: 1 JobManager and 5 TaskManagers with the exact
// CPU and memory limits, the env var, flinkd's labels, the configuration (a value with
// spaces intact, slots, memory sizes) and the loggers' levels.
func TestSeedFullExampleRunsWithExactLimitsConfigAndLoggers(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("session")
	f.write("session.yaml", seedSpec(t, name))
	cs := f.waitRunning(name, 5)

	ctrs := f.clusterContainers(name)
	if diff := cmp.Diff(instanceIDs(seq(1, 5)...), sortedKeys(ctrs)); diff != "" {
		t.Fatalf("containers by instance (-want +got):\n%s", diff)
	}
	if n := len(f.containers()); n != 6 {
		t.Errorf("daemon has %d containers, want 1 + 5", n)
	}

	hashes := map[string]bool{}
	for id, c := range ctrs {
		ins := f.inspect(c.ID)
		if ins.Name != "/"+containerName(name, id) {
			t.Errorf("%s: container name %s, want %s", id, ins.Name, containerName(name, id))
		}
		component, cores, memory := "taskmanager", int64(16), int64(32_000_000_000)
		if id == "jobmanager" {
			component, cores, memory = "jobmanager", 2, 1_000_000_000
		}
		hc := ins.HostConfig
		if hc.CPUPeriod == 0 || hc.CPUQuota != cores*hc.CPUPeriod {
			t.Errorf("%s: CPUQuota/CPUPeriod = %d/%d, want %d cores", id, hc.CPUQuota, hc.CPUPeriod, cores)
		}
		if hc.Memory != memory {
			t.Errorf("%s: memory limit %d bytes, want %d", id, hc.Memory, memory)
		}
		if !slices.Contains(ins.Config.Env, "KEY=VALUE") {
			t.Errorf("%s: env %v lacks KEY=VALUE", id, ins.Config.Env)
		}
		l := ins.Config.Labels
		want := map[string]string{
			runtime.LabelManagedBy:  "flinkd",
			runtime.LabelName:       "flink",
			runtime.LabelInstance:   name,
			runtime.LabelNamespace:  "default",
			runtime.LabelComponent:  component,
			runtime.LabelInstanceID: id,
			runtime.LabelOwner:      f.owner,
		}
		for k, v := range want {
			if l[k] != v {
				t.Errorf("%s: label %s = %q, want %q", id, k, l[k], v)
			}
		}
		if len(l[runtime.LabelSpecHash]) != runtime.HashLabelLen {
			t.Errorf("%s: label %s = %q, want a %d-character hash", id, runtime.LabelSpecHash, l[runtime.LabelSpecHash], runtime.HashLabelLen)
		}
		hashes[l[runtime.LabelSpecHash]] = true
		// metadata.labels describe the resource; only spec.kubernetes.pods.labels reach the
		// processes (the example has none).
		if v, ok := l["env"]; ok {
			t.Errorf("%s: metadata label env=%s reached the container", id, v)
		}
	}
	if len(hashes) != 1 {
		t.Errorf("containers carry %d different spec hashes: %v", len(hashes), hashes)
	}

	conf := jobManagerConfig(t, cs.RESTURL)
	// The user's JVM options come after the image's own (the module flags its config.yaml ships).
	if !strings.HasSuffix(conf["env.java.opts.all"], "-Dfoo=bar -Dbaz=qux") {
		t.Errorf("/jobmanager/config env.java.opts.all = %q, want it to end with the spec's -Dfoo=bar -Dbaz=qux", conf["env.java.opts.all"])
	}
	for k, v := range map[string]string{
		"taskmanager.numberOfTaskSlots":   "32",
		"jobmanager.memory.process.size":  "1000000000b",
		"taskmanager.memory.process.size": "32000000000b",
	} {
		if conf[k] != v {
			t.Errorf("/jobmanager/config %s = %q, want %q", k, conf[k], v)
		}
	}
	var ov struct {
		TaskManagers int `json:"taskmanagers"`
		SlotsTotal   int `json:"slots-total"`
	}
	getJSON(t, cs.RESTURL+"/overview", &ov)
	if ov.TaskManagers != 5 || ov.SlotsTotal != 5*32 {
		t.Errorf("/overview: %d TaskManagers with %d slots, want 5 with 160", ov.TaskManagers, ov.SlotsTotal)
	}

	// Loggers: org.apache.flink.streaming.examples is at DEBUG, the root at INFO. The
	// stand-in logs one probe line per level for an examples logger and a runtime logger.
	examplesDebug := []string{"DEBUG", "org.apache.flink.streaming.examples.sim.Probe", "flink-sim probe at DEBUG"}
	runtimeDebug := []string{"org.apache.flink.runtime.sim.Probe", "flink-sim probe at DEBUG"}
	runtimeInfo := []string{"INFO", "org.apache.flink.runtime.sim.Probe", "flink-sim probe at INFO"}
	res := f.flinkctl("logs", name)
	if res.Code != 0 {
		t.Fatalf("flinkctl logs %s: %s", name, res)
	}
	checkLoggers := func(what, logs string) {
		t.Helper()
		if len(linesWith(logs, examplesDebug...)) == 0 {
			t.Errorf("%s: no DEBUG line of org.apache.flink.streaming.examples:\n%s", what, logs)
		}
		if len(linesWith(logs, runtimeInfo...)) == 0 {
			t.Errorf("%s: no INFO line of org.apache.flink.runtime (the probe did not run?):\n%s", what, logs)
		}
		if l := linesWith(logs, runtimeDebug...); len(l) > 0 {
			t.Errorf("%s: a DEBUG line of an INFO-level logger: %q", what, l)
		}
	}
	checkLoggers("flinkctl logs (JobManager)", res.Stdout)
	checkLoggers("container logs of taskmanager-3", f.containerLogs(ctrs["taskmanager-3"].ID))
	// The TaskManagers read the same configuration: the value with spaces is intact there too.
	tmLogs := f.flinkctl("logs", name, "--component", "taskmanager-5")
	if len(linesWith(tmLogs.Stdout, "Loading configuration property: env.java.opts.all, ", "-Dfoo=bar -Dbaz=qux")) == 0 {
		t.Errorf("taskmanager-5 did not load env.java.opts.all intact:\n%s", tmLogs)
	}
	if strings.Contains(res.Stdout, "-Dfoo=bar-Dbaz=qux") || strings.Contains(tmLogs.Stdout, "-Dfoo=bar-Dbaz=qux") {
		t.Error("a process read env.java.opts.all with its spaces stripped (FLINK_PROPERTIES quirk)")
	}
}
