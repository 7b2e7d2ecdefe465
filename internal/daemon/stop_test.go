package daemon

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/client"
	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/flink"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

func paused(o runtime.Observed) runtime.Observed {
	o.JobManager.State, o.JobManager.Ready, o.JobManager.Message = runtime.StateUnknown, false, "container is paused"
	o.REST = runtime.Endpoint{}
	return o
}

// An API stop request is decided by the cluster's worker: accepted when no job stands in the
// way, refused (nothing changes) when jobs run or it cannot be known whether they do, unless
// forced; a forced stop cancels the jobs and waits for them to end.
func TestDecideStopRequest(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	run2 := mustSpec(t, "RUNNING", 2, "1.20")
	h := run2.Hash()
	job := flink.Job{ID: "j1", Name: "wordcount", State: "RUNNING"}
	pending := func(force bool) *db.StopRequest { return &db.StopRequest{ID: 3, Force: force, CreatedAt: now} }
	cancelling := &db.StopRequest{ID: 3, Force: true, CancelledAt: now.Add(-time.Second), Jobs: []db.Job{{ID: "j1", Name: "wordcount", State: "RUNNING"}}}
	for _, tc := range []struct {
		name    string
		stop    *db.StopRequest
		obs     runtime.Observed
		fv      flinkView
		outcome db.StopOutcome // "" with pending: still undecided
		message string
		cancel  int
		force   bool
	}{
		{name: "no job runs: accepted", stop: pending(false), obs: up(h, "taskmanager-1"), fv: answered(1, nil),
			outcome: db.StopAccepted},
		{name: "nothing runs: accepted", stop: pending(false), outcome: db.StopAccepted},
		{name: "a job runs: refused, naming it", stop: pending(false), obs: up(h, "taskmanager-1"), fv: answered(1, nil, job),
			outcome: db.StopRefused, message: "1 job running: wordcount (j1, RUNNING) on default/wc; use --force"},
		{name: "a silent JobManager: refused, saying why", stop: pending(false), obs: up(h), fv: flinkView{Asked: true, Err: errors.New("timeout")},
			outcome: db.StopRefused, message: "cannot tell whether jobs run on default/wc: the JobManager runs, but its REST API does not answer (timeout); nothing was changed; run `flinkctl stop --force wc`"},
		{name: "a paused JobManager: refused", stop: pending(false), obs: paused(up(h)),
			outcome: db.StopRefused, message: "container is paused"},
		{name: "forced past a paused JobManager: accepted, and the force stays", stop: pending(true), obs: paused(up(h)),
			outcome: db.StopAccepted, message: "stopping it anyway, as --force asks", force: true},
		{name: "forced with a job: cancels it and waits", stop: pending(true), obs: up(h, "taskmanager-1"), fv: answered(1, nil, job),
			outcome: db.StopPending, cancel: 1, force: true},
		{name: "the cancelled job is gone: accepted, listing it", stop: cancelling, obs: up(h, "taskmanager-1"), fv: answered(1, nil),
			outcome: db.StopAccepted, message: "cancelled 1 job running: wordcount", force: true},
		{name: "the cancelled job does not end: refused after the wait", stop: &db.StopRequest{ID: 3, Force: true, CancelledAt: now.Add(-2 * cancelWait)},
			obs: up(h, "taskmanager-1"), fv: answered(1, nil, job), outcome: db.StopRefused, message: "cancelled jobs did not end within 1m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(input{Key: key("wc"), Desired: run2, Running: run2, Recorded: db.Status{Phase: "RUNNING", TMDesired: 2},
				Stop: tc.stop, Obs: tc.obs, Flink: tc.fv, Now: now})
			if d.Stop == nil {
				t.Fatal("the request was not updated")
			}
			if d.Stop.Outcome != tc.outcome || !strings.Contains(d.Stop.Message, tc.message) {
				t.Errorf("request %q %q, want %q containing %q", d.Stop.Outcome, d.Stop.Message, tc.outcome, tc.message)
			}
			if len(d.CancelJobs) != tc.cancel {
				t.Errorf("cancels %v, want %d jobs", d.CancelJobs, tc.cancel)
			}
			if d.Stop.Forced() != tc.force {
				t.Errorf("forced = %v, want %v", d.Stop.Forced(), tc.force)
			}
			if d.Stop.ID != tc.stop.ID {
				t.Errorf("request ID %d, want %d", d.Stop.ID, tc.stop.ID)
			}
		})
	}
}

// An orphan's removal follows the stop's rule: held while jobs run or may run, forced through
// by `flinkctl stop --force`.
func TestDecideOrphan(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	h := "h"
	job := flink.Job{ID: "j1", Name: "wordcount", State: "RUNNING"}
	for _, tc := range []struct {
		name    string
		in      orphanInput
		want    string // delete | gone | held | cancel
		outcome db.StopOutcome
		events  string
		held    string
	}{
		{name: "idle: removed", in: orphanInput{Obs: up(h, "taskmanager-1"), Flink: answered(1, nil)},
			want: "delete", events: "OrphanRemoved"},
		{name: "its JobManager exited: removed", in: orphanInput{Obs: func() runtime.Observed {
			o := up(h)
			o.JobManager.State, o.REST = runtime.StateExited, runtime.Endpoint{}
			return o
		}()}, want: "delete", events: "OrphanRemoved"},
		{name: "a job runs: held, saying so once", in: orphanInput{Obs: up(h), Flink: answered(0, nil, job)},
			want: "held", events: "OrphanHeld", held: "1 job running: wordcount"},
		{name: "held again: no new event", in: orphanInput{Obs: up(h), Flink: answered(0, nil, job),
			Held: "no spec file declares default/wc, but target default runs it; its removal is held: 1 job running: wordcount (j1, RUNNING); cancel them, or run `flinkctl stop --force wc`"},
			want: "held", held: "1 job running"},
		{name: "a silent JobManager: held (fail closed)", in: orphanInput{Obs: up(h), Flink: flinkView{Asked: true, Err: errors.New("refused")}},
			want: "held", events: "OrphanHeld", held: "cannot tell whether jobs run"},
		{name: "paused: held", in: orphanInput{Obs: paused(up(h))}, want: "held", events: "OrphanHeld", held: "container is paused"},
		{name: "paused, stop refused without --force", in: orphanInput{Obs: paused(up(h)), Stop: &db.StopRequest{ID: 1}},
			want: "held", outcome: db.StopRefused, events: "OrphanHeld", held: "--force"},
		{name: "paused, forced: removed with a warning", in: orphanInput{Obs: paused(up(h)), Stop: &db.StopRequest{ID: 1, Force: true}},
			want: "delete", outcome: db.StopDone, events: "StopForced OrphanRemoved"},
		{name: "a job, forced: cancelled first", in: orphanInput{Obs: up(h), Flink: answered(0, nil, job), Stop: &db.StopRequest{ID: 1, Force: true}},
			want: "cancel", outcome: db.StopPending, events: "JobsCancelled"},
		{name: "gone", in: orphanInput{Stop: &db.StopRequest{ID: 1}}, want: "gone", outcome: db.StopDone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Key, tc.in.Target, tc.in.Now = key("wc"), "default", now
			od := decideOrphan(tc.in)
			got := "held"
			switch {
			case od.Delete:
				got = "delete"
			case od.Gone:
				got = "gone"
			case len(od.CancelJobs) > 0:
				got = "cancel"
			}
			var reasons []string
			for _, e := range od.Events {
				reasons = append(reasons, e.Reason)
			}
			if got != tc.want || strings.Join(reasons, " ") != tc.events || !strings.Contains(od.Held, tc.held) {
				t.Errorf("got %s, events %v, held %q; want %s, events %q, held containing %q", got, reasons, od.Held, tc.want, tc.events, tc.held)
			}
			if tc.in.Stop != nil && (od.Stop == nil || od.Stop.Outcome != tc.outcome) {
				t.Errorf("stop request %+v, want outcome %q", od.Stop, tc.outcome)
			}
			if got == "held" && od.Delete {
				t.Error("held and deleted")
			}
		})
	}
}

// observesAfter waits until the daemon has observed k n more times, so that a test can say
// "and it still holds" without a sleep.
func (h *harness) observesAfter(k runtime.Key, n int) {
	h.t.Helper()
	count := func() int {
		c := 0
		for _, call := range h.rt.Calls() {
			if call.Op == "observe" && call.Key == k {
				c++
			}
		}
		return c
	}
	want := count() + n
	deadline := time.Now().Add(60 * time.Second)
	for count() < want {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s observed %d times within 60s, want %d more", k, count(), n)
		}
		waitABit()
	}
}

// Fail closed: a stop is held for as long as the JobManager is there but cannot say whether
// jobs run (here it is paused), with a message that says why and how to force it; a stop
// without --force is refused and changes nothing; `stop --force` goes through.
func TestStopIsHeldWhileTheJobManagerCannotAnswer(t *testing.T) {
	h := newHarness(t)
	c := h.serve()
	p := h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1, ""))
	h.waitRunning("wc", 1)
	if err := h.rt.Pause(key("wc"), "jobmanager"); err != nil {
		t.Fatal(err)
	}
	h.write("wc.yaml", clusterYAML("wc", "STOPPED", 1, ""))
	held := h.waitCluster("wc", "stop held", func(c db.Cluster) bool { return c.Phase == spec.PhaseStopping && c.Message != "" })
	for _, want := range []string{"stop held: cannot tell whether jobs run", "container is paused", "flinkctl stop --force wc"} {
		if !strings.Contains(held.Message, want) {
			t.Errorf("held stop's message %q lacks %q", held.Message, want)
		}
	}
	h.waitEvent("wc", "StopHeld", "container is paused")
	h.observesAfter(key("wc"), 10) // several seconds of passes: no grace period runs out
	if c := h.waitPhase("wc", spec.PhaseStopping); !h.observe("wc").Exists {
		t.Fatalf("the cluster was torn down without knowing whether jobs run (status %s %q)", c.Phase, c.Message)
	}

	_, err := c.Stop(t.Context(), "default", "wc", false)
	if !client.IsRefused(err) || !strings.Contains(err.Error(), "cannot tell whether jobs run") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("stop of a paused JobManager without --force: %v; want a refusal that says why", err)
	}
	if !h.observe("wc").Exists {
		t.Fatal("a refused stop tore the cluster down")
	}
	res, err := c.Stop(t.Context(), "default", "wc", true)
	if err != nil || !strings.Contains(res.Message, "anyway") {
		t.Fatalf("stop --force: %+v, %v", res, err)
	}
	h.waitPhase("wc", spec.PhaseStopped)
	h.waitEvent("wc", "StopForced", "container is paused")
	if h.observe("wc").Exists {
		t.Error("forced stop left the cluster")
	}
	if b, _ := os.ReadFile(p); !strings.Contains(string(b), "state: STOPPED") {
		t.Errorf("file after the forced stop:\n%s", b)
	}
	// The force ended with the stop: a later hold is not forced.
	if sr, err := h.store.StopRequest(t.Context(), "default", "wc"); err != nil || sr.Forced() {
		t.Errorf("stop request after the stop: %+v, %v; its force must not apply any more", sr, err)
	}
}

// An orphan follows the same rule: its removal is held (and shown by status) while its
// JobManager cannot answer, and `stop --force` on its name removes it.
func TestOrphanIsHeldWhileItsJobManagerCannotAnswerUntilForced(t *testing.T) {
	h := newHarness(t)
	c := h.serve()
	k := key("stray")
	orphan := runtime.Cluster{Key: k, Image: "x", Hash: "h", TaskManagers: 1, FlinkVersion: "1.20",
		FlinkConfig: map[string]string{"taskmanager.memory.process.size": "2000000000b"}}
	if err := h.rt.Apply(t.Context(), orphan, nil); err != nil {
		t.Fatal(err)
	}
	if err := h.rt.Pause(k, "jobmanager"); err != nil {
		t.Fatal(err)
	}
	h.waitEvent("stray", "OrphanHeld", "container is paused")
	h.observesAfter(k, 5)
	if !h.observe("stray").Exists {
		t.Fatal("an orphan was removed without knowing whether jobs run on it")
	}
	list, _, err := c.Clusters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(list, func(cs api.ClusterStatus) bool { return cs.Name == "stray" }); i < 0 ||
		!list[i].Deleted || !strings.Contains(list[i].Message, "--force") {
		t.Errorf("status does not show the held orphan: %+v", list)
	}
	if _, err := c.Stop(t.Context(), "default", "stray", false); !client.IsRefused(err) {
		t.Fatalf("stop of a held orphan without --force: %v, want a refusal", err)
	}
	res, err := c.Stop(t.Context(), "default", "stray", true)
	if err != nil || !res.Orphan {
		t.Fatalf("stop --force of an orphan: %+v, %v", res, err)
	}
	if h.observe("stray").Exists {
		t.Error("forced removal left the orphan")
	}
	h.waitEvent("stray", "OrphanRemoved", "no spec file declares default/stray")
	h.waitEvent("stray", "StopForced", "container is paused")
}
