package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
	"github.com/flinkd/flinkd/test/fake"
)

// harness runs a real Daemon (real SQLite file, real watcher on a temp folder) against the
// in-memory runtime, whose Flink processes are the stand-in's in-process ones.
type harness struct {
	t       *testing.T
	specs   string
	dbPath  string
	rt      *fake.Runtime
	store   *db.Store
	d       *Daemon
	cancel  context.CancelFunc
	done    chan error
	targets []Target
}

type harnessOption func(*Config)

// wrapRuntimes puts wrap around every target's runtime.
func wrapRuntimes(wrap func(runtime.Runtime) runtime.Runtime) harnessOption {
	return func(c *Config) {
		for i := range c.Targets {
			c.Targets[i].Runtime = wrap(c.Targets[i].Runtime)
		}
	}
}

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	h := &harness{t: t, specs: filepath.Join(t.TempDir(), "specs"), dbPath: filepath.Join(t.TempDir(), "flinkd.db"), rt: fake.New()}
	if err := os.MkdirAll(h.specs, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.rt.Close)
	h.targets = []Target{{Name: "default", Kind: "memory", Detail: "in-memory", Runtime: h.rt}}
	h.start(opts...)
	return h
}

// start starts a daemon over the harness's folder, database and runtime.
func (h *harness) start(opts ...harnessOption) {
	h.t.Helper()
	store, err := db.Open(h.t.Context(), h.dbPath, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	cfg := Config{
		SpecsDir: h.specs, Store: store, Targets: slices.Clone(h.targets),
		Logger: slog.New(slog.NewTextHandler(testWriter{h.t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Resync: 300 * time.Millisecond, Debounce: 20 * time.Millisecond,
		RetryBase: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, ReconcileTimeout: 20 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	d, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.store, h.d, h.cancel, h.done = store, d, cancel, make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

// stop stops the daemon (as SIGTERM would) and closes its database; clusters stay.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("daemon.Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		h.t.Error("daemon did not stop within 30s")
	}
	h.store.Close()
	h.cancel = nil
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// clusterYAML renders a SessionCluster for the stand-in, with fast heartbeats.
func clusterYAML(name, state string, tms int, extra string) string {
	return fmt.Sprintf(`# test cluster %[1]s
kind: SessionCluster
apiVersion: v1
metadata:
  name: %[1]s
spec:
  state: %[2]s   # desired state
  flinkVersion: "1.20"
  flinkImageRegistry: localhost
  flinkImageRepository: flink-sim
  flinkImageTag: "1.20"
  numberOfTaskManagers: %[3]d
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 1
    heartbeat.interval: 100
    heartbeat.timeout: 1000
%[4]s`, name, state, tms, extra)
}

func (h *harness) write(file, content string) string {
	h.t.Helper()
	p := filepath.Join(h.specs, file)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func key(name string) runtime.Key { return runtime.Key{Namespace: "default", Name: name} }

// waitCluster polls the database until cond holds.
func (h *harness) waitCluster(name, what string, cond func(db.Cluster) bool) db.Cluster {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last db.Cluster
	var lastErr error
	for {
		c, err := h.store.Cluster(h.t.Context(), "default", name)
		if err == nil && cond(c) {
			return c
		}
		last, lastErr = c, err
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: %s not within 30s; last: phase=%s message=%q refused=%q tm=%d/%d err=%v",
				name, what, last.Phase, last.Message, last.Refused, last.TMReady, last.TMDesired, lastErr)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

func (h *harness) waitPhase(name string, phase spec.Phase) db.Cluster {
	h.t.Helper()
	return h.waitCluster(name, "phase "+string(phase), func(c db.Cluster) bool { return c.Phase == phase })
}

func (h *harness) waitRunning(name string, tms int) db.Cluster {
	h.t.Helper()
	return h.waitCluster(name, fmt.Sprintf("RUNNING with %d TaskManagers", tms), func(c db.Cluster) bool {
		return c.Phase == "RUNNING" && c.TMReady == tms && c.TMDesired == tms
	})
}

func (h *harness) waitGone(name string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := h.store.Cluster(h.t.Context(), "default", name)
		if err != nil {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s still recorded after 30s", name)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

func (h *harness) observe(name string) runtime.Observed {
	h.t.Helper()
	obs, err := h.rt.Observe(h.t.Context(), key(name))
	if err != nil {
		h.t.Fatal(err)
	}
	return obs
}

func (h *harness) events(name string) []db.Event {
	h.t.Helper()
	evs, err := h.store.Events(h.t.Context(), "default", name, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func hasEvent(evs []db.Event, reason, contains string) bool {
	for _, e := range evs {
		if e.Reason == reason && strings.Contains(e.Message, contains) {
			return true
		}
	}
	return false
}

func (h *harness) waitEvent(name, reason, contains string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !hasEvent(h.events(name), reason, contains) {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: no %s event containing %q; events: %+v", name, reason, contains, h.events(name))
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// submitJob uploads a jar and runs it with the given parallelism through the REST API.
func submitJob(t *testing.T, restURL, name string, parallelism int) string {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("jarfile", name+".jar")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write([]byte("PK fake jar"))
	mw.Close()
	resp, err := http.Post(restURL+"/jars/upload", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	var up struct{ Filename string }
	decode(t, resp, &up)
	jarID := filepath.Base(up.Filename)
	req, _ := json.Marshal(map[string]any{"parallelism": parallelism})
	resp, err = http.Post(restURL+"/jars/"+jarID+"/run", "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	var run struct {
		JobID string `json:"jobid"`
	}
	decode(t, resp, &run)
	if run.JobID == "" {
		t.Fatal("no job id")
	}
	return run.JobID
}

func decode(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s: %s", resp.Request.Method, resp.Request.URL, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	decode(t, resp, v)
}

func jobState(t *testing.T, restURL, id string) string {
	t.Helper()
	var j struct{ State string }
	getJSON(t, restURL+"/jobs/"+id, &j)
	return j.State
}

func waitJobState(t *testing.T, restURL, id, state string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for jobState(t, restURL, id) != state {
		if time.Now().After(deadline) {
			t.Fatalf("job %s not %s within 20s (is %s)", id, state, jobState(t, restURL, id))
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}

// jobRestarts counts the job's restarts in its exception history.
func jobRestarts(t *testing.T, restURL, id string) int {
	t.Helper()
	var ex struct {
		ExceptionHistory struct {
			Entries []json.RawMessage `json:"entries"`
		} `json:"exceptionHistory"`
	}
	getJSON(t, restURL+"/jobs/"+id+"/exceptions", &ex)
	return len(ex.ExceptionHistory.Entries)
}

// taskManagersOf returns the TaskManager IDs holding a job's slots.
func taskManagersOf(t *testing.T, restURL, jobID string) []string {
	t.Helper()
	var list struct {
		TaskManagers []struct{ ID string } `json:"taskmanagers"`
	}
	getJSON(t, restURL+"/taskmanagers", &list)
	var out []string
	for _, tm := range list.TaskManagers {
		var detail struct {
			AllocatedSlots []struct {
				JobID string `json:"jobId"`
			} `json:"allocatedSlots"`
		}
		getJSON(t, restURL+"/taskmanagers/"+tm.ID, &detail)
		for _, s := range detail.AllocatedSlots {
			if s.JobID == jobID {
				out = append(out, tm.ID)
				break
			}
		}
	}
	return out
}

// waitABit is the poll interval of wait-for-condition loops.
func waitABit() { time.Sleep(20 * time.Millisecond) }
