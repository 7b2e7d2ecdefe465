package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/runtime"
)

// seedSize is what the seed's example asks for, as seedSpec runs it.
type seedSize struct {
	taskManagers       int
	jobManagerCores    int64
	jobManagerBytes    int64 // always the example's 1g
	taskManagerCores   int64
	taskManagerBytes   int64
	taskManagerSetting string // the spec's spelling of taskManagerBytes
}

// seedSizes are the example's own sizes on the stand-in (5 TaskManagers of 16 cores and
// 32g, a JobManager of 2 cores and 1g: limits that no stand-in process comes near), and on
// real Flink sizes that fit a 2-core machine shared with others: 2 TaskManagers of 1 core
// and 1.5g, a JobManager of 1 core and the example's 1g. Real Flink sizes each JVM's heap
// from these, and its JVMs start one after the other on 2 cores.
func seedSizes(k flinkImages) seedSize {
	if k == realFlink {
		return seedSize{taskManagers: 2, jobManagerCores: 1, jobManagerBytes: 1_000_000_000,
			taskManagerCores: 1, taskManagerBytes: 1_500_000_000, taskManagerSetting: "1.5g"}
	}
	return seedSize{taskManagers: 5, jobManagerCores: 2, jobManagerBytes: 1_000_000_000,
		taskManagerCores: 16, taskManagerBytes: 32_000_000_000, taskManagerSetting: "32g"}
}

// seedSpec returns specs/session.yaml (Ververica's full example) on image (Flink 1.20),
// under the given name, with a flinkConfiguration value that holds spaces and the sizes of
// size. Everything else stays: 32 slots, loggers, env var, metadata labels.
//
// flinkVersion goes from 1.17 to 1.20: the version picks the configuration file flinkd writes
// (flink-conf.yaml up to 1.18, config.yaml from 1.19), and a 1.20 image reads config.yaml; a
// 1.17 spec on a 1.20 image would have its configuration ignored. The name gets a random
// suffix because container names are global to the engine.
func seedSpec(t *testing.T, name, image string, size seedSize) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bin.root, "specs", "session.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	reg, repo, tag := splitImage(t, image)
	s := string(b)
	s = replaceOnce(t, s, "  name: session\n", "  name: "+name+"\n")
	s = replaceOnce(t, s, `flinkVersion: "1.17"`, `flinkVersion: "1.20"`)
	s = setKey(t, s, "flinkImageRegistry", reg)
	s = setKey(t, s, "flinkImageRepository", repo)
	s = setKey(t, s, "flinkImageTag", `"`+tag+`"`)
	s = setKey(t, s, "numberOfTaskManagers", fmt.Sprint(size.taskManagers))
	s = replaceOnce(t, s, "    jobmanager:\n      cpu: 2\n      memory: 1g\n",
		fmt.Sprintf("    jobmanager:\n      cpu: %d\n      memory: 1g\n", size.jobManagerCores))
	s = replaceOnce(t, s, "    taskmanager:\n      cpu: 16\n      memory: 32g\n",
		fmt.Sprintf("    taskmanager:\n      cpu: %d\n      memory: %s\n", size.taskManagerCores, size.taskManagerSetting))
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

// The seed's full example runs as written (sizes aside, see seedSizes), on the stand-in and
// on real Flink 1.20: 1 JobManager and its TaskManagers with the exact CPU and memory limits,
// the env var, flinkd's labels, the configuration (a value with spaces intact, slots, memory
// sizes) and the loggers' levels.
func TestSeedFullExampleRunsWithExactLimitsConfigAndLoggers(t *testing.T) {
	t.Parallel()
	onEachImage(t, func(t *testing.T, k flinkImages) {
		size := seedSizes(k)
		image := k.image(t, "1.20")
		f := k.newFlinkd(t)
		name := uniqueName("session")
		f.write("session.yaml", seedSpec(t, name, image, size))
		cs := f.waitRunning(name, size.taskManagers)

		ctrs := f.clusterContainers(name)
		if diff := cmp.Diff(instanceIDs(seq(1, size.taskManagers)...), sortedKeys(ctrs)); diff != "" {
			t.Fatalf("containers by instance (-want +got):\n%s", diff)
		}
		if n := len(f.containers()); n != 1+size.taskManagers {
			t.Errorf("daemon has %d containers, want 1 + %d", n, size.taskManagers)
		}

		hashes := map[string]bool{}
		for id, c := range ctrs {
			ins := f.inspect(c.ID)
			if ins.Name != "/"+containerName(name, id) {
				t.Errorf("%s: container name %s, want %s", id, ins.Name, containerName(name, id))
			}
			component, cores, memory := "taskmanager", size.taskManagerCores, size.taskManagerBytes
			if id == "jobmanager" {
				component, cores, memory = "jobmanager", size.jobManagerCores, size.jobManagerBytes
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
			"jobmanager.memory.process.size":  fmt.Sprintf("%db", size.jobManagerBytes),
			"taskmanager.memory.process.size": fmt.Sprintf("%db", size.taskManagerBytes),
		} {
			if conf[k] != v {
				t.Errorf("/jobmanager/config %s = %q, want %q", k, conf[k], v)
			}
		}
		ov := waitSlotsTotal(t, k, cs.RESTURL, size.taskManagers*32)
		if ov.TaskManagers != size.taskManagers {
			t.Errorf("/overview: %d TaskManagers with %d slots, want %d with %d", ov.TaskManagers, ov.SlotsTotal, size.taskManagers, size.taskManagers*32)
		}

		res := f.flinkctl("logs", name)
		if res.Code != 0 {
			t.Fatalf("flinkctl logs %s: %s", name, res)
		}
		last := fmt.Sprintf("taskmanager-%d", size.taskManagers)
		tmLogs := f.flinkctl("logs", name, "--component", last)
		if tmLogs.Code != 0 {
			t.Fatalf("flinkctl logs %s --component %s: %s", name, last, tmLogs)
		}
		// The TaskManagers read the same configuration: the value with spaces is intact there too.
		if len(linesWith(tmLogs.Stdout, "Loading configuration property: env.java.opts.all, ", "-Dfoo=bar -Dbaz=qux")) == 0 {
			t.Errorf("%s did not load env.java.opts.all intact:\n%s", last, tmLogs)
		}
		if strings.Contains(res.Stdout, "-Dfoo=bar-Dbaz=qux") || strings.Contains(tmLogs.Stdout, "-Dfoo=bar-Dbaz=qux") {
			t.Error("a process read env.java.opts.all with its spaces stripped (FLINK_PROPERTIES quirk)")
		}
		if k == realFlink {
			checkRealLoggers(t, "flinkctl logs (JobManager)", res.Stdout)
			checkRealLoggers(t, "flinkctl logs --component "+last, tmLogs.Stdout)
			return
		}
		// Loggers: org.apache.flink.streaming.examples is at DEBUG, the root at INFO. The
		// stand-in logs one probe line per level for an examples logger and a runtime logger.
		examplesDebug := []string{"DEBUG", "org.apache.flink.streaming.examples.sim.Probe", "flink-sim probe at DEBUG"}
		runtimeDebug := []string{"org.apache.flink.runtime.sim.Probe", "flink-sim probe at DEBUG"}
		runtimeInfo := []string{"INFO", "org.apache.flink.runtime.sim.Probe", "flink-sim probe at INFO"}
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
	})
}

// checkRealLoggers checks a real Flink process's log against the example's loggers (root at
// INFO, org.apache.flink.streaming.examples at DEBUG): Flink's own classes log at INFO, and
// no line is DEBUG or TRACE unless its logger is under org.apache.flink.streaming.examples.
// (No class a session cluster runs before a job is submitted is in that package, so its
// DEBUG level shows in no line here; the stand-in's probe shows it.)
func checkRealLoggers(t *testing.T, what, logs string) {
	t.Helper()
	// Flink's console layout: "%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n".
	line := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (TRACE|DEBUG|INFO |WARN |ERROR) (\S+)`)
	levels := map[string]int{}
	for _, m := range line.FindAllStringSubmatch(logs, -1) {
		level, logger := strings.TrimSpace(m[1]), m[2]
		levels[level]++
		if (level == "DEBUG" || level == "TRACE") && !strings.HasPrefix(logger, "org.apache.flink.streaming.examples") {
			t.Errorf("%s: a %s line of %s, whose level is INFO (the root's)", what, level, logger)
		}
	}
	if len(linesWith(logs, " INFO ", "org.apache.flink.runtime.")) == 0 {
		t.Errorf("%s: no INFO line of org.apache.flink.runtime (levels seen: %v):\n%.3000s", what, levels, logs)
	}
}
