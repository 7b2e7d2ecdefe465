package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/api"
)

// Fail closed, on the real engine: with its JobManager container paused (`docker pause`),
// nothing can say whether jobs run, so a stop is refused (flinkctl stop) or held (the file
// says STOPPED) for as long as that lasts, with a message that says why; `flinkctl stop
// --force` tears it down.
func TestStopIsHeldWhileTheJobManagerIsPaused(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("pause")
	spec := clusterYAML(name, "RUNNING", 1, "")
	file := f.write("pause.yaml", spec)
	f.waitRunning(name, 1)
	jm := f.clusterContainers(name)["jobmanager"].ID
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	err := f.docker.ContainerPause(ctx, jm)
	cancel()
	if err != nil {
		t.Fatalf("docker pause: %v", err)
	}

	res := f.flinkctl("stop", name)
	if res.Code != 1 || !strings.Contains(res.Stderr, "cannot tell whether jobs run") || !strings.Contains(res.Stderr, "--force") {
		t.Fatalf("flinkctl stop with a paused JobManager: want exit 1 saying why and pointing to --force, got %s", res)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != spec {
		t.Fatalf("a refused stop changed the file (err %v):\n%s", err, b)
	}

	// Stopped by hand in the file: held, however long it takes (the old grace was 30 s).
	f.write("pause.yaml", replaceOnce(t, spec, "state: RUNNING", "state: STOPPED"))
	held := f.waitCluster(name, "stop held", func(cs api.ClusterStatus) bool {
		return cs.Phase == "STOPPING" && strings.Contains(cs.Message, "stop held")
	})
	for _, want := range []string{"cannot tell whether jobs run", "paused", "flinkctl stop --force " + name} {
		if !strings.Contains(held.Message, want) {
			t.Errorf("held stop's message %q lacks %q", held.Message, want)
		}
	}
	for start := time.Now(); time.Since(start) < 45*time.Second; time.Sleep(time.Second) { // poll interval
		ctrs := f.clusterContainers(name)
		cs, err := f.status(name)
		if err != nil || cs.Phase != "STOPPING" || ctrs["jobmanager"].ID != jm || ctrs["jobmanager"].State != "paused" {
			t.Fatalf("after %s the held stop went on: phase %s (err %v), jobmanager %+v", time.Since(start).Round(time.Second), cs.Phase, err, ctrs["jobmanager"])
		}
	}
	f.waitEvent(name, "StopHeld", "paused")

	res = f.flinkctl("stop", name, "--force", "--wait")
	if res.Code != 0 || !strings.Contains(res.Stderr, "is STOPPED") {
		t.Fatalf("flinkctl stop --force --wait: %s", res)
	}
	f.waitEvent(name, "StopForced", "paused")
	if ctrs := f.clusterContainers(name); len(ctrs) != 0 {
		t.Errorf("containers left after the forced stop: %v", sortedKeys(ctrs))
	}
}
