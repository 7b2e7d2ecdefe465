package daemon

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/client"
	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/test/fake"
)

// serve serves the daemon's API on a unix socket in a temp folder and returns a client.
func (h *harness) serve() *client.Client {
	h.t.Helper()
	sock := filepath.Join(h.t.TempDir(), "flinkd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		h.t.Fatal(err)
	}
	srv := &http.Server{Handler: h.d.Handler()}
	go srv.Serve(ln)
	h.t.Cleanup(func() { srv.Close() })
	return &client.Client{Socket: sock}
}

func TestStopRefusedWhileJobsRunThenForced(t *testing.T) {
	h := newHarness(t)
	p := h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	c := h.serve()
	rest := h.observe("wc").REST.URL
	job := submitJob(t, rest, "wordcount", 1)
	waitJobState(t, rest, job, "RUNNING")

	_, err := c.Stop(t.Context(), "default", "wc", false)
	if !client.IsRefused(err) {
		t.Fatalf("stop with a running job: err = %v, want a refusal", err)
	}
	var ae *client.APIError
	if !errorsAs(err, &ae) || len(ae.Jobs) != 1 || ae.Jobs[0].ID != job || !strings.Contains(ae.Message, job) {
		t.Fatalf("refusal %v should list job %s", err, job)
	}
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), "state: RUNNING") {
		t.Fatal("a refused stop edited the file")
	}

	res, err := c.Stop(t.Context(), "default", "wc", true)
	if err != nil {
		t.Fatalf("stop --force: %v", err)
	}
	if !res.Changed || len(res.Cancelled) != 1 || res.Cancelled[0].ID != job {
		t.Errorf("stop --force answer: %+v", res)
	}
	b, _ := os.ReadFile(p)
	if !strings.Contains(string(b), "state: STOPPED   # desired state") || !strings.HasPrefix(string(b), "# test cluster wc\n") {
		t.Errorf("stop did not keep the file's comments and layout:\n%s", b)
	}
	h.waitPhase("wc", "STOPPED")
	h.waitEvent("wc", "JobsCancelled", job)

	res, err = c.Start(t.Context(), "default", "wc")
	if err != nil || !res.Changed || res.DesiredState != "RUNNING" {
		t.Fatalf("start: %+v, %v", res, err)
	}
	h.waitRunning("wc", 1)
	if res, err := c.Start(t.Context(), "default", "wc"); err != nil || res.Changed {
		t.Errorf("second start: %+v, %v; want unchanged", res, err)
	}
}

func TestAPIUnknownClusterIsNotFound(t *testing.T) {
	h := newHarness(t)
	c := h.serve()
	if _, err := c.Cluster(t.Context(), "default", "nope"); !client.IsNotFound(err) {
		t.Errorf("status of an unknown cluster: %v", err)
	}
	if _, err := c.Stop(t.Context(), "default", "nope", false); !client.IsNotFound(err) {
		t.Errorf("stop of an unknown cluster: %v", err)
	}
}

func TestAPIWatchWakesOnChange(t *testing.T) {
	h := newHarness(t)
	c := h.serve()
	_, v, err := c.Clusters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() {
		list, _, err := c.WatchClusters(t.Context(), v)
		if err != nil {
			got <- -1
			return
		}
		got <- len(list)
	}()
	h.write("wc.yaml", clusterYAML("wc", "STOPPED", 1, ""))
	select {
	case n := <-got:
		if n != 1 {
			t.Errorf("watch returned %d clusters", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not return after a change")
	}
}

func TestAPIEventsAndTargetsAndLogs(t *testing.T) {
	h := newHarness(t)
	c := h.serve()
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	evs, err := c.Events(t.Context(), "default", "wc", 0)
	if err != nil || len(evs) == 0 || evs[0].Reason != "SpecAdded" {
		t.Fatalf("events: %+v, %v", evs, err)
	}
	h.rt.SetPingError(context.DeadlineExceeded)
	ts, err := c.Targets(t.Context())
	if err != nil || len(ts) != 1 || ts[0].OK || ts[0].Error == "" {
		t.Fatalf("targets with a failing ping: %+v, %v", ts, err)
	}
	rc, err := c.Logs(t.Context(), "default", "wc", "jobmanager", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := rc.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	if !strings.Contains(b.String(), "INFO") {
		t.Errorf("jobmanager logs: %q", b.String())
	}
	if _, err := c.Logs(t.Context(), "default", "wc", "taskmanager-9", false, 0); !client.IsNotFound(err) {
		t.Errorf("logs of a missing instance: %v", err)
	}
}

// After a refused change of target, the cluster still runs where it ran: logs come from that
// target, not from the one the file now names (one function, targetOf, answers for every
// caller).
func TestLogsComeFromTheTargetThatRunsTheCluster(t *testing.T) {
	other := fake.New()
	t.Cleanup(other.Close)
	h := newHarness(t, func(c *Config) {
		c.Targets = append(c.Targets, Target{Name: "other", Kind: "memory", Detail: "in-memory", Runtime: other})
	})
	c := h.serve()
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, "  deploymentTargetName: other\n"))
	h.waitCluster("wc", "the target change refused", func(c db.Cluster) bool {
		return strings.Contains(c.Refused, "deploymentTargetName")
	})
	if obs, err := other.Observe(t.Context(), key("wc")); err != nil || obs.Exists {
		t.Fatalf("the refused target runs the cluster: %+v, %v", obs, err)
	}
	rc, err := c.Logs(t.Context(), "default", "wc", "jobmanager", false, 0)
	if err != nil {
		t.Fatalf("logs after a refused target change: %v", err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	if !strings.Contains(string(b), "INFO") {
		t.Errorf("jobmanager logs: %q", b)
	}
}
