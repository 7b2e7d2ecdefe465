package fidelity

import (
	"archive/tar"
	"bytes"
	"context"
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

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// The containers of the suite run through testcontainers-go (networks, wait strategies,
// cleanup) with its reaper off (testenv.Testcontainers: Ryuk is an image that cannot be
// pulled here); every test removes what it created. JVMs are slow on the shared 2-core
// machines: the flavors and the lines run one after the other, clusters are one
// JobManager and at most two TaskManagers, and every wait is for a condition.

const testLabel = "flinkd.test/fidelity"

// startTimeout bounds a JVM's start (to its REST API, or to its exit) on a loaded machine.
const startTimeout = 4 * time.Minute

// record is what a client saw of one flavor in one scenario: named observations, each
// already normalised (normalize_test.go), in the order they were made.
type record struct {
	obs   map[string]any
	order []string
}

func (r *record) see(name string, v any) {
	if _, dup := r.obs[name]; dup {
		panic("observation " + name + " made twice")
	}
	r.obs[name] = v
	r.order = append(r.order, name)
}

// judge runs a scenario on the real image and on the stand-in of every line and fails on
// any difference between what the two records hold. Records are compared as JSON would
// carry them (numbers are numbers, whatever Go type made them).
//
// FIDELITY_REAL_RECORDS=<dir>, for whoever works on the stand-in, keeps each real record in
// dir after a run and, when one is there, reuses it instead of running the real image
// again (a JVM cluster takes minutes). It is never set by make test or CI: delete the
// folder when the real images change.
func judge(t *testing.T, scenario func(t *testing.T, f flavor, r *record)) {
	for _, line := range lines {
		t.Run(line, func(t *testing.T) {
			real, sim := flavors(t, line)
			records := map[string]any{}
			for _, f := range []flavor{real, sim} {
				cache := ""
				if dir := os.Getenv("FIDELITY_REAL_RECORDS"); dir != "" && f.kind == "real" {
					cache = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".json")
					if data, err := os.ReadFile(cache); err == nil {
						var v any
						if err := json.Unmarshal(data, &v); err != nil {
							t.Fatalf("%s: %v", cache, err)
						}
						t.Logf("%s: the record of an earlier run, %s (FIDELITY_REAL_RECORDS)", f, cache)
						records[f.kind] = v
						continue
					}
				}
				r := &record{obs: map[string]any{}}
				start := time.Now()
				ok := t.Run(f.kind, func(t *testing.T) { scenario(t, f, r) })
				t.Logf("%s: %d observations in %s", f, len(r.order), time.Since(start).Round(time.Second))
				if !ok {
					continue
				}
				data, err := json.Marshal(r.obs)
				if err != nil {
					t.Fatalf("%s: record: %v", f, err)
				}
				var v any
				if err := json.Unmarshal(data, &v); err != nil {
					t.Fatal(err)
				}
				records[f.kind] = v
				if dir := os.Getenv("FIDELITY_REAL_RECORDS"); dir != "" && f.kind == "sim" {
					// The stand-in's record beside it, to read the two side by side.
					_ = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".sim.json"), data, 0o644)
				}
				if cache != "" {
					if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(cache, data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			if len(records) != 2 {
				t.Fatalf("a flavor failed before its record was complete; nothing to compare")
			}
			if d := cmp.Diff(records["real"], records["sim"]); d != "" {
				t.Errorf("the stand-in differs from real Flink %s (-real +sim):\n%s", line, d)
			}
		})
	}
}

// scope labels what one flavor's run creates; testcontainers removes it when the run ends.
type scope struct {
	id     string
	f      flavor
	labels map[string]string
	nw     *testcontainers.DockerNetwork
}

// newScope makes a user-defined bridge network for the run's containers, as flinkd's
// Docker runtime does per cluster.
func newScope(t *testing.T, f flavor) *scope {
	t.Helper()
	s := &scope{id: randomHex(4), f: f}
	s.labels = map[string]string{testLabel: s.id}
	nw, err := tcnetwork.New(t.Context(), tcnetwork.WithLabels(s.labels))
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	s.nw = nw
	return s
}

// node is one container of the flavor's image.
type node struct {
	alias string            // its name on the network (and its host name)
	cmd   []string          // jobmanager, taskmanager, help
	env   map[string]string // FLINK_PROPERTIES, ...
	binds []string          // host:container[:ro]
	rest  bool              // publish 8081 and wait until GET /overview answers 200
}

func (s *scope) start(t *testing.T, n node) *testcontainers.DockerContainer {
	t.Helper()
	env := map[string]string{}
	for k, v := range s.f.env {
		env[k] = v
	}
	for k, v := range n.env {
		env[k] = v
	}
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithName("fidelity-" + s.f.kind + "-" + s.id + "-" + n.alias),
		testcontainers.WithLabels(s.labels),
		tcnetwork.WithNetwork([]string{n.alias}, s.nw),
		testcontainers.WithEnv(env),
		testcontainers.WithCmd(n.cmd...),
		testcontainers.WithConfigModifier(func(c *container.Config) { c.Hostname = n.alias }),
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
	c, err := testcontainers.Run(t.Context(), s.f.image, opts...)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		logs := ""
		if c != nil {
			logs = containerLogs(t, c)
		}
		t.Fatalf("%s: run %s (%s): %v\nlogs:\n%s", s.f, n.alias, strings.Join(n.cmd, " "), err, logs)
	}
	return c
}

// streams are a container's stdout and stderr, apart: the order in which lines of the
// two reach the engine's log is not defined, so each is compared on its own.
type streams struct{ stdout, stderr string }

func outputOf(t *testing.T, c *testcontainers.DockerContainer) streams {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", "logs", c.GetContainerID())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("docker logs %s: %v\n%s", c.GetContainerID(), err, stderr.String())
	}
	return streams{stdout.String(), stderr.String()}
}

// containerLogs is stdout, then stderr.
func containerLogs(t *testing.T, c *testcontainers.DockerContainer) string {
	t.Helper()
	o := outputOf(t, c)
	return o.stdout + "\n" + o.stderr
}

// observed is how an exited container is compared: its exit code and the message lines
// of each stream.
func (o streams) observed(code int) map[string]any {
	return map[string]any{"exit": code, "stdout": messages(o.stdout), "stderr": messages(o.stderr)}
}

// waitExit waits for the container to stop and returns its exit code and output.
func waitExit(t *testing.T, c *testcontainers.DockerContainer) (int, streams) {
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
	return code, outputOf(t, c)
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

// settled polls observe until it gives the same value twice in a row, a second apart,
// with ready true, and returns that value. A value that stays the same for quiet without
// becoming ready is returned too: the flavor has settled elsewhere, and the comparison says
// where. What a flavor shows once it has settled is compared, not how fast it got there (the
// stand-in is up in milliseconds, a JVM in tens of seconds).
func settled[T any](t *testing.T, what string, observe func() (T, bool)) T {
	t.Helper()
	const quiet = 20 * time.Second
	var last T
	have := false
	var since time.Time
	deadline := time.Now().Add(startTimeout)
	for {
		v, ready := observe()
		same := have && cmp.Equal(v, last, cmp.AllowUnexported(reply{}))
		if !same {
			since = time.Now()
		}
		if same && (ready || time.Since(since) >= quiet) {
			return v
		}
		last, have = v, true
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s to settle; last seen: %v", startTimeout, what, v)
		}
		time.Sleep(time.Second) // poll interval, not a wait for an outcome
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

// reply is one REST answer: the status and the decoded JSON body.
type reply struct {
	status int
	body   any
	raw    string
}

// call makes one REST request. A body that is not JSON fails the test: every answer of
// Flink's REST API, errors included, is JSON.
func call(t *testing.T, method, url, contentType string, body io.Reader) reply {
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
	r := reply{status: resp.StatusCode, raw: string(data)}
	if err := json.Unmarshal(data, &r.body); err != nil {
		t.Fatalf("%s %s: %d with a body that is not JSON (%v): %.500s", method, url, resp.StatusCode, err, data)
	}
	return r
}

func get(t *testing.T, url string) reply { t.Helper(); return call(t, http.MethodGet, url, "", nil) }

func postJSON(t *testing.T, url string, v any) reply {
	t.Helper()
	payload, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return call(t, http.MethodPost, url, "application/json", bytes.NewReader(payload))
}

// fileOf reads a file of a container (running or stopped).
func fileOf(t *testing.T, c *testcontainers.DockerContainer, path string) string {
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

func docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// fromRealImage reads files of the real image of a line, once per test binary: its
// /opt/flink/conf (the input of every configuration scenario, the same bytes for both
// flavors) and the example jars of /opt/flink/examples/streaming (flink-examples-streaming
// from Maven: the stand-in runs the same jar).
var fromRealImage = struct {
	sync.Mutex
	files map[string]map[string][]byte // image -> path -> content
}{files: map[string]map[string][]byte{}}

func realImageFile(t *testing.T, line, path string) []byte {
	t.Helper()
	image := images.get(t, "real", line)
	fromRealImage.Lock()
	defer fromRealImage.Unlock()
	if m, ok := fromRealImage.files[image]; ok {
		if data, ok := m[path]; ok {
			return data
		}
	}
	name := "fidelity-files-" + randomHex(4)
	if out, err := docker(t, "create", "--name", name, "--label", testLabel+"=files", image); err != nil {
		t.Fatalf("docker create %s: %v\n%s", image, err, out)
	}
	defer docker(t, "rm", "-f", name) //nolint:errcheck // best effort; the label finds leftovers
	out, err := exec.CommandContext(t.Context(), "docker", "cp", name+":"+path, "-").Output()
	if err != nil {
		t.Fatalf("docker cp %s:%s: %v", image, path, err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read the archive of %s: %v", path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if fromRealImage.files[image] == nil {
			fromRealImage.files[image] = map[string][]byte{}
		}
		// docker cp names entries after the last element of path.
		full := filepath.Join(filepath.Dir(path), h.Name)
		fromRealImage.files[image][full] = data
	}
	data, ok := fromRealImage.files[image][path]
	if !ok {
		t.Fatalf("%s has no file %s", image, path)
	}
	return data
}

// confDir writes a conf/ folder for a mount over /opt/flink/conf: the real image's
// config.yaml (changed by edit, when not nil) and log4j-console.properties, owned by the
// images' user flink (9999).
func confDir(t *testing.T, line string, edit func(string) string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "conf")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"config.yaml", "log4j-console.properties"} {
		data := realImageFile(t, line, "/opt/flink/conf/"+name)
		if name == "config.yaml" && edit != nil {
			data = []byte(edit(string(data)))
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	chownFlink(t, dir)
	return dir
}

// chownFlink gives a folder to uid 9999 (the tests run as root, as CI does).
func chownFlink(t *testing.T, dir string) {
	t.Helper()
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, 9999, 9999)
	}); err != nil {
		t.Fatalf("give %s to uid 9999: %v", dir, err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// uploadJar POSTs an example jar of the real image to /jars/upload.
func uploadJar(t *testing.T, line, rest, name string) reply {
	t.Helper()
	jar := realImageFile(t, line, "/opt/flink/examples/streaming/"+name)
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, err := w.CreateFormFile("jarfile", name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := part.Write(jar); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return call(t, http.MethodPost, rest+"/jars/upload", w.FormDataContentType(), &body)
}

// field digs into a decoded JSON value: field(v, "jobs", 0, "tasks").
func field(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return nil
			}
			v = a[k]
		default:
			panic(fmt.Sprintf("field: path element %v", p))
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
