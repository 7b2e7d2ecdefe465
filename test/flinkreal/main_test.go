package flinkreal

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

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
	if out, err := docker(t, "info", "--format", "{{.ServerVersion}}"); err != nil {
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

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// docker runs the docker CLI and returns its combined output.
func docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// scope labels what one test creates; testcontainers removes it when the test ends.
type scope struct {
	id     string
	image  string
	labels map[string]string
	nw     *testcontainers.DockerNetwork
}

// newScope makes a user-defined bridge network for the test's containers, as flinkd's
// Docker runtime does per cluster.
func newScope(t *testing.T, image string) *scope {
	t.Helper()
	s := &scope{id: randomHex(4), image: image}
	s.labels = map[string]string{testLabel: s.id}
	nw, err := tcnetwork.New(t.Context(), tcnetwork.WithLabels(s.labels))
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	s.nw = nw
	return s
}

// node is one container of the image.
type node struct {
	alias string            // its name on the network
	cmd   []string          // jobmanager, taskmanager, ...
	env   map[string]string // FLINK_PROPERTIES, ...
	binds []string          // host:container[:ro]
	rest  bool              // publish 8081 and wait until GET /overview answers 200
}

func (s *scope) start(t *testing.T, n node) *testcontainers.DockerContainer {
	t.Helper()
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithName("flinkreal-" + s.id + "-" + n.alias),
		testcontainers.WithLabels(s.labels),
		tcnetwork.WithNetwork([]string{n.alias}, s.nw),
		testcontainers.WithEnv(n.env),
		testcontainers.WithCmd(n.cmd...),
	}
	if len(n.binds) > 0 {
		opts = append(opts, testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.Binds = append(hc.Binds, n.binds...)
		}))
	}
	if n.rest {
		opts = append(opts, testcontainers.WithExposedPorts("8081/tcp"),
			testcontainers.WithWaitStrategyAndDeadline(startTimeout,
				wait.ForHTTP("/overview").WithPort("8081/tcp").WithPollInterval(500*time.Millisecond)))
	}
	c, err := testcontainers.Run(t.Context(), s.image, opts...)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		logs := ""
		if c != nil {
			logs = containerLogs(t, c)
		}
		t.Fatalf("run %s (%s): %v\nlogs:\n%s", n.alias, strings.Join(n.cmd, " "), err, logs)
	}
	return c
}

func containerLogs(t *testing.T, c *testcontainers.DockerContainer) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
	defer cancel()
	r, err := c.Logs(ctx)
	if err != nil {
		return fmt.Sprintf("(logs unavailable: %v)", err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Sprintf("(logs unavailable: %v)", err)
	}
	return string(data)
}

// waitExit waits for the container to stop and returns its exit code and logs.
func waitExit(t *testing.T, c *testcontainers.DockerContainer) (int, string) {
	t.Helper()
	var code int
	waitFor(t, startTimeout, "the container to exit", func() bool {
		st, err := c.State(t.Context())
		if err != nil {
			t.Fatalf("inspect container: %v", err)
		}
		code = st.ExitCode
		return !st.Running && st.Status != "created"
	})
	return code, containerLogs(t, c)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(500 * time.Millisecond) // poll interval, not a wait for an outcome
	}
}

func restURL(t *testing.T, c *testcontainers.DockerContainer) string {
	t.Helper()
	ep, err := c.PortEndpoint(t.Context(), "8081/tcp", "http")
	if err != nil {
		t.Fatalf("REST endpoint: %v", err)
	}
	return ep
}

// call makes one REST request and returns the status and the body.
func call(t *testing.T, method, url, contentType string, body io.Reader) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, data
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
	waitFor(t, startTimeout, fmt.Sprintf("%d TaskManagers with %d slots in %s/overview", n, n*slotsEach, rest), func() bool {
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

// fileFromImage reads a file of the running container.
func fileFromContainer(t *testing.T, c *testcontainers.DockerContainer, path string) string {
	t.Helper()
	r, err := c.CopyFileFromContainer(t.Context(), path)
	if err != nil {
		t.Fatalf("copy %s out of the container: %v", path, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(data)
}

// confCopy copies the image's /opt/flink/conf into a new host folder owned by the image's
// user flink (9999), to be mounted over /opt/flink/conf; edit changes config.yaml first.
func confCopy(t *testing.T, image string, edit func(string) string) string {
	t.Helper()
	name := "flinkreal-conf-" + randomHex(4)
	if out, err := docker(t, "create", "--name", name, "--label", testLabel+"=conf", image); err != nil {
		t.Fatalf("docker create %s: %v\n%s", image, err, out)
	}
	defer docker(t, "rm", "-f", name) //nolint:errcheck // best effort; the label finds leftovers
	out, err := exec.CommandContext(t.Context(), "docker", "cp", name+":/opt/flink/conf", "-").Output()
	if err != nil {
		t.Fatalf("docker cp %s:/opt/flink/conf: %v", name, err)
	}
	dir := filepath.Join(t.TempDir(), "conf")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read the conf archive: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(h.Name) == "config.yaml" && edit != nil {
			data = []byte(edit(string(data)))
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(h.Name)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, 9999, 9999)
	}); err != nil {
		t.Fatalf("give the conf copy to uid 9999 (the tests run as root, as CI does): %v", err)
	}
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
	jar := fileFromContainer(t, jm, "/opt/flink/examples/streaming/"+name)
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, err := w.CreateFormFile("jarfile", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(part, jar); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	status, data := call(t, http.MethodPost, rest+"/jars/upload", w.FormDataContentType(), &body)
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
	status, data := call(t, http.MethodPost, rest+"/jars/"+jarID+"/run", "application/json", bytes.NewReader(payload))
	t.Logf("POST /jars/%s/run %s -> %d %.600s", jarID, payload, status, data)
	return status, data
}
