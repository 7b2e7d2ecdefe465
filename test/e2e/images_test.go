package e2e

import (
	"slices"
	"testing"
	"time"

	"github.com/flinkd/flinkd/test/testenv"
)

// flinkImages is the kind of Flink image a test's clusters run: the stand-in (test/flinksim,
// a static Go program that starts in milliseconds) or real Flink (the images
// hack/flink-image.sh builds from Flink's own jars, one JVM per process, slow on 2 shared
// cores). A test written once runs on both with onEachImage: that is the one switch, and its
// subtests are named after it (go test -run 'TestFidelity/real' runs only real Flink).
type flinkImages int

const (
	standIn flinkImages = iota
	realFlink
)

func (k flinkImages) String() string {
	if k == realFlink {
		return "real"
	}
	return "stand-in"
}

// image returns the image of Flink line version: the stand-in's (honouring
// FLINK_SIM_REPOSITORY, see testenv.SimImageOf), or real Flink's, built when it is missing
// or out of date. A real image that cannot be built fails the test with the reason.
func (k flinkImages) image(t *testing.T, version string) string {
	t.Helper()
	if k == realFlink {
		if !slices.Contains(testenv.RealLines(), version) {
			t.Fatalf("no real-Flink image of Flink %s (hack/flink-image.sh builds %v)", version, testenv.RealLines())
		}
		return bin.real.Image(t, version)
	}
	return testenv.SimImageOf(t, dockerClient(t), version)
}

// realWait bounds a wait on real Flink: a JobManager or TaskManager runs Flink's
// BashJavaUtils three times before its own JVM starts, which takes up to minutes on a loaded
// 2-core machine.
const realWait = 6 * time.Minute

// patience is how long a cluster of these images may take to converge.
func (k flinkImages) patience() time.Duration {
	if k == realFlink {
		return realWait
	}
	return waitLong
}

// newFlinkd is the package's newFlinkd with waits fitted to these images.
func (k flinkImages) newFlinkd(t *testing.T, args ...string) *flinkd {
	t.Helper()
	f := newFlinkd(t, args...)
	f.patience = k.patience()
	return f
}

// heartbeats are the heartbeat options of a test cluster, as flinkConfiguration lines
// (four-space indented). The stand-in gets fast ones, so a removed TaskManager is noticed
// at once. Real Flink keeps its defaults (10 s, timeout 50 s): a TaskManager that stops
// deregisters itself, and a shorter timeout makes JVMs that a loaded machine starves of CPU
// for two seconds look dead, which restarts jobs the tests watch.
func (k flinkImages) heartbeats() string {
	if k == realFlink {
		return ""
	}
	return "    heartbeat.interval: 200\n    heartbeat.timeout: 2000\n"
}

// onEachImage runs body once on the stand-in and once on real Flink, as parallel subtests
// named after the kind.
func onEachImage(t *testing.T, body func(t *testing.T, k flinkImages)) {
	t.Helper()
	for _, k := range []flinkImages{standIn, realFlink} {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel()
			body(t, k)
		})
	}
}

// splitImage splits "registry/repository:tag" into a SessionCluster's three image fields.
func splitImage(t *testing.T, image string) (registry, repository, tag string) {
	t.Helper()
	registry, repository, tag, err := testenv.SplitImage(image)
	if err != nil {
		t.Fatal(err)
	}
	return registry, repository, tag
}

// flinkOverview is the part of GET /overview the tests compare.
type flinkOverview struct {
	TaskManagers int `json:"taskmanagers"`
	SlotsTotal   int `json:"slots-total"`
}

// waitSlotsTotal waits until the JobManager counts want slots and returns its overview. Real
// Flink counts a TaskManager in /overview once it registered, and its slots once its slot
// report followed: right after RUNNING, localhost/flink-real:1.20 answered 2 TaskManagers with
// 32 slots where each has 32. The stand-in registers both at once.
func waitSlotsTotal(t *testing.T, k flinkImages, rest string, want int) flinkOverview {
	t.Helper()
	var ov flinkOverview
	deadline := time.Now().Add(k.patience())
	for {
		getJSON(t, rest+"/overview", &ov)
		if ov.SlotsTotal == want {
			return ov
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/overview: %d slots after %s, want %d (%d TaskManagers)", rest, ov.SlotsTotal, k.patience(), want, ov.TaskManagers)
		}
		time.Sleep(pollInterval) // poll interval
	}
}
