package flinkreal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/flinkd/flinkd/test/flinkbox"
	"github.com/flinkd/flinkd/test/testenv"
)

// These tests run localhost/flink-real:<line> through testcontainers-go (networks, wait
// strategies, cleanup) with its reaper off (testenv.Testcontainers: Ryuk is an image that
// cannot be pulled here); every test removes what it created. JVMs are slow on the shared
// 2-core machines: heaps are small, clusters have at most three TaskManagers, the lines run
// one after the other, and every wait is for a condition with a generous deadline.

const testLabel = "flinkd.test/flinkreal"

// The sizes every test cluster uses: small heaps, above Flink's minimums.
const (
	jobManagerMemory  = "1g"
	taskManagerMemory = "1200m"
)

// startTimeout bounds a JVM's start (to its REST API, or to its exit) on a loaded machine.
const startTimeout = 3 * time.Minute

func TestMain(m *testing.M) {
	// testcontainers must not guess the engine or where its ports are (see testenv).
	if _, err := testenv.Testcontainers(); err != nil {
		fmt.Fprintln(os.Stderr, "prepare testcontainers:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// imageBuild builds one line's image once per test binary.
type imageBuild struct {
	once sync.Once
	err  error
}

var builds = map[string]*imageBuild{"1.20": {}, "2.2": {}}

// realImage returns localhost/flink-real:<line>, built (or found up to date) by
// hack/flink-image.sh. When it cannot be had the test fails with the reason: never a skip.
func realImage(t *testing.T, line string) string {
	t.Helper()
	if out, err := flinkbox.Docker(t, "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Fatalf("no Docker engine answers (%v: %s); run: bash hack/ensure-docker.sh", err, out)
	}
	b, ok := builds[line]
	if !ok {
		t.Fatalf("no real-Flink image for line %q", line)
	}
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "hack", "flink-image.sh"), line)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("bash hack/flink-image.sh %s: %w\n%s", line, err, out)
		}
	})
	if b.err != nil {
		t.Fatalf("the real-Flink image %s cannot be built, so this test cannot run (CI=%q): %v", line, os.Getenv("CI"), b.err)
	}
	return "localhost/flink-real:" + line
}

// newScope makes the test's network; its containers run image (flinkbox.Scope).
func newScope(t *testing.T, image string) *flinkbox.Scope {
	t.Helper()
	return flinkbox.NewScope(t, flinkbox.Config{Label: testLabel, Name: "flinkreal", Image: image, StartTimeout: startTimeout})
}

// waitExit waits for the container to stop and returns its exit code and logs.
func waitExit(t *testing.T, c *testcontainers.DockerContainer) (int, string) {
	t.Helper()
	code := flinkbox.WaitExit(t, c, startTimeout)
	return code, flinkbox.Logs(t, c)
}

// getJSON GETs url into out; false when it does not answer 200 with JSON (yet).
func getJSON(t *testing.T, url string, out any) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return false
	}
	return json.Unmarshal(data, out) == nil
}

// overview is GET /overview, as flinkd reads it.
type overview struct {
	TaskManagers   int    `json:"taskmanagers"`
	SlotsTotal     int    `json:"slots-total"`
	SlotsAvailable int    `json:"slots-available"`
	JobsRunning    int    `json:"jobs-running"`
	FlinkVersion   string `json:"flink-version"`
}

// waitTaskManagers waits until the JobManager counts n TaskManagers and the slots they
// offer (slotsEach each). A TaskManager is counted once it registers with the
// ResourceManager; its slot report follows in a second RPC (TaskExecutor's
// establishResourceManagerConnection, then sendSlotReport), so in between /overview shows it
// with no slot.
func waitTaskManagers(t *testing.T, rest string, n, slotsEach int) overview {
	t.Helper()
	var o overview
	flinkbox.WaitFor(t, startTimeout, fmt.Sprintf("%d TaskManagers with %d slots in %s/overview", n, n*slotsEach, rest), func() bool {
		return getJSON(t, rest+"/overview", &o) && o.TaskManagers == n && o.SlotsTotal == n*slotsEach
	})
	return o
}

// jobManagerConfig is GET /jobmanager/config as a map.
func jobManagerConfig(t *testing.T, rest string) map[string]string {
	t.Helper()
	var entries []struct{ Key, Value string }
	if !getJSON(t, rest+"/jobmanager/config", &entries) {
		t.Fatalf("GET %s/jobmanager/config did not answer 200 with JSON", rest)
	}
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		m[e.Key] = e.Value
	}
	return m
}

// jobsOverview is GET /jobs/overview with the task counts flinkd reads.
type jobsOverview struct {
	Jobs []struct {
		ID    string         `json:"jid"`
		Name  string         `json:"name"`
		State string         `json:"state"`
		Tasks map[string]int `json:"tasks"`
	} `json:"jobs"`
}

// confCopy copies the image's /opt/flink/conf into a new host folder owned by the image's
// user flink (9999), to be mounted over /opt/flink/conf; edit changes config.yaml first.
func confCopy(t *testing.T, image string, edit func(string) string) string {
	t.Helper()
	files := flinkbox.ImageFiles(t, image, "/opt/flink/conf", "flinkreal-conf-"+flinkbox.RandomHex(4), testLabel+"=conf")
	dir := filepath.Join(t.TempDir(), "conf")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data := f.Data
		if filepath.Base(f.Path) == "config.yaml" && edit != nil {
			data = []byte(edit(string(data)))
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f.Path)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flinkbox.ChownFlink(t, dir)
	return dir
}

// properties joins FLINK_PROPERTIES lines.
func properties(lines ...string) string { return strings.Join(lines, "\n") }

// clusterProperties are the FLINK_PROPERTIES of every test cluster, as Flink's Docker docs
// configure one (the JobManager's address by name on the network).
func clusterProperties(extra ...string) string {
	return properties(append([]string{
		"jobmanager.rpc.address: jobmanager",
		"jobmanager.memory.process.size: " + jobManagerMemory,
		"taskmanager.memory.process.size: " + taskManagerMemory,
		"taskmanager.numberOfTaskSlots: 1",
	}, extra...)...)
}

// uploadJar copies an example jar out of the JobManager's image and POSTs it to
// /jars/upload; it returns the jar's id.
func uploadJar(t *testing.T, jm *testcontainers.DockerContainer, rest, name string) string {
	t.Helper()
	jar := flinkbox.ContainerFile(t, jm, "/opt/flink/examples/streaming/"+name)
	body, contentType := flinkbox.JarForm(t, name, []byte(jar))
	status, data := flinkbox.Call(t, http.MethodPost, rest+"/jars/upload", contentType, body)
	t.Logf("POST /jars/upload %s -> %d %s", name, status, data)
	var up struct{ Filename, Status string }
	if status != http.StatusOK || json.Unmarshal(data, &up) != nil || up.Status != "success" {
		t.Fatalf("POST /jars/upload = %d %s, want 200 with status success", status, data)
	}
	return filepath.Base(up.Filename)
}

// runJar POSTs /jars/:id/run with a JSON body and returns the status and body.
func runJar(t *testing.T, rest, jarID string, request map[string]any) (int, []byte) {
	t.Helper()
	payload, err := json.Marshal(request)
	if err != nil {
		t.Fatal(err)
	}
	status, data := flinkbox.Call(t, http.MethodPost, rest+"/jars/"+jarID+"/run", "application/json", bytes.NewReader(payload))
	t.Logf("POST /jars/%s/run %s -> %d %.600s", jarID, payload, status, data)
	return status, data
}
