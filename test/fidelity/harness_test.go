package fidelity

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

	"github.com/google/go-cmp/cmp"
	"github.com/testcontainers/testcontainers-go"

	"github.com/flinkd/flinkd/test/flinkbox"
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
	*flinkbox.Scope
	f flavor
}

// newScope makes a user-defined bridge network for the run's containers (flinkbox.Scope):
// they run the flavor's image with its env, and each one's host name is its alias.
func newScope(t *testing.T, f flavor) *scope {
	t.Helper()
	return &scope{f: f, Scope: flinkbox.NewScope(t, flinkbox.Config{
		Label:        testLabel,
		Name:         "fidelity-" + f.kind,
		Image:        f.image,
		Env:          f.env,
		Hostname:     true,
		StartTimeout: startTimeout,
		What:         f.String(),
	})}
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
	code := flinkbox.WaitExit(t, c, startTimeout)
	return code, outputOf(t, c)
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
	status, data := flinkbox.Call(t, method, url, contentType, body)
	r := reply{status: status, raw: string(data)}
	if err := json.Unmarshal(data, &r.body); err != nil {
		t.Fatalf("%s %s: %d with a body that is not JSON (%v): %.500s", method, url, status, err, data)
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
	files := flinkbox.ImageFiles(t, image, path, "fidelity-files-"+flinkbox.RandomHex(4), testLabel+"=files")
	for _, f := range files {
		if fromRealImage.files[image] == nil {
			fromRealImage.files[image] = map[string][]byte{}
		}
		fromRealImage.files[image][f.Path] = f.Data
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
	flinkbox.ChownFlink(t, dir)
	return dir
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
	body, contentType := flinkbox.JarForm(t, name, jar)
	return call(t, http.MethodPost, rest+"/jars/upload", contentType, body)
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
