package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/runtime"
)

// deadJM is a cluster whose JobManager died at finished after running since started, with
// restarts restarts in a row behind it.
func deadJM(hash string, restarts int, started, finished time.Time) runtime.Observed {
	o := up(hash, "taskmanager-1", "taskmanager-2")
	o.JobManager.State, o.JobManager.Ready, o.JobManager.ExitCode = runtime.StateExited, false, 1
	o.JobManager.Restarts, o.JobManager.StartedAt, o.JobManager.FinishedAt = restarts, started, finished
	o.JobManager.Message = "exited with code 1; last log lines:\nIllegalConfigurationException"
	o.REST = runtime.Endpoint{}
	return o
}

// The crash-loop back-off is decided by decide from facts alone (restart count, start and exit
// times, the time of the last edit), so it is checked here under fake time.
func TestCrashLoopBackOff(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	run2 := mustSpec(t, "RUNNING", 2, "1.20")
	h := run2.Hash()
	rec := db.Status{Phase: "STARTING", TMDesired: 2}
	for _, tc := range []struct {
		name     string
		restarts int
		ran      time.Duration // how long it ran before it died at t0
		now      time.Duration // after t0
		edited   time.Duration // the file was last edited at t0+edited
		// replace is the restart count of the replacement started now (0: none is started).
		replace int
		requeue time.Duration
		phase   string
		message string
	}{
		{name: "the first death restarts at once", restarts: 0, ran: time.Second, now: time.Second,
			replace: 1, phase: "STARTING", message: "the JobManager exited (code 1); restarting it now"},
		{name: "the second waits 10s after the death", restarts: 1, ran: time.Second, now: 4 * time.Second,
			requeue: 6 * time.Second, phase: "STARTING", message: "next restart at 2026-11-24T12:00:10Z (back-off 10s)"},
		{name: "and starts once they are over", restarts: 1, ran: time.Second, now: 10 * time.Second,
			replace: 2, phase: "STARTING"},
		{name: "the back-off doubles", restarts: 2, ran: time.Second, now: 19 * time.Second,
			requeue: time.Second, phase: "STARTING", message: "back-off 20s"},
		{name: "three in a row is a crash loop: FAILED, saying when the next try is", restarts: 3, ran: time.Second, now: 30 * time.Second,
			requeue: 10 * time.Second, phase: "FAILED",
			message: "jobmanager keeps dying (3 restarts, exit code 1); next restart at 2026-11-24T12:00:40Z (back-off 40s): exited with code 1"},
		{name: "capped at 5 minutes", restarts: 12, ran: time.Second, now: 4 * time.Minute,
			requeue: time.Minute, phase: "FAILED", message: "back-off 5m0s"},
		{name: "ten minutes of running resets the back-off", restarts: 12, ran: 10 * time.Minute, now: time.Second,
			replace: 1, phase: "FAILED", message: "restarting it now"},
		{name: "an edit of the file after the death retries at once", restarts: 12, ran: time.Second, now: 3 * time.Second, edited: 2 * time.Second,
			replace: 1, phase: "FAILED", message: "restarting it now"},
		{name: "an edit before the death does not", restarts: 4, ran: time.Second, now: 3 * time.Second, edited: -time.Second,
			requeue: 77 * time.Second, phase: "FAILED", message: "back-off 1m20s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input{Key: key("wc"), Desired: run2, Running: run2, Recorded: rec, Now: t0.Add(tc.now),
				Obs: deadJM(h, tc.restarts, t0.Add(-tc.ran), t0), SpecChangedAt: t0.Add(-time.Hour)}
			if tc.edited != 0 {
				in.SpecChangedAt = t0.Add(tc.edited)
			}
			d := decide(in)
			var replace map[string]int
			if tc.replace > 0 {
				replace = map[string]int{"jobmanager": tc.replace}
			}
			if diff := cmp.Diff(replace, d.Cluster.Replace); diff != "" {
				t.Errorf("replaced now (-want +got):\n%s", diff)
			}
			if tc.replace > 0 && d.Action != actApply {
				t.Errorf("action %s, want apply", d.Action)
			}
			if tc.replace == 0 && d.Action != actNone {
				t.Errorf("action %s while backing off, want none (Replace %v)", d.Action, d.Cluster.Replace)
			}
			if tc.requeue > 0 && d.RequeueAfter != tc.requeue {
				t.Errorf("requeue after %s, want %s (when the back-off is over)", d.RequeueAfter, tc.requeue)
			}
			if string(d.Status.Phase) != tc.phase || !strings.Contains(d.Status.Message, tc.message) {
				t.Errorf("status %s %q, want %s containing %q", d.Status.Phase, d.Status.Message, tc.phase, tc.message)
			}
			if d.Backoff {
				t.Error("a crash loop asked for the worker's failure back-off: engine events would requeue it around that")
			}
		})
	}
}

// The measure, under fake time: a JobManager that dies a second after every start is
// started at most 7 times in 150 s, whatever else requeues it (engine events, resyncs): the
// next start follows from the facts, not from how often the cluster is looked at.
func TestCrashLoopStartsAtMostSevenTimesIn150s(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	run2 := mustSpec(t, "RUNNING", 2, "1.20")
	h := run2.Hash()
	jm := runtime.Instance{ID: "jobmanager", Hash: h, State: runtime.StateRunning, StartedAt: t0}
	starts := []time.Duration{0}
	// Look at the cluster every 100 ms, as a storm of engine events and resyncs would.
	for now := t0; now.Before(t0.Add(150 * time.Second)); now = now.Add(100 * time.Millisecond) {
		if jm.State == runtime.StateRunning && now.Sub(jm.StartedAt) >= time.Second {
			jm.State, jm.FinishedAt, jm.ExitCode = runtime.StateExited, now, 1
		}
		obs := up(h, "taskmanager-1", "taskmanager-2")
		obs.JobManager = &jm
		d := decide(input{Key: key("wc"), Desired: run2, Running: run2, Recorded: db.Status{Phase: "STARTING", TMDesired: 2},
			Obs: obs, Now: now, SpecChangedAt: t0})
		if n, ok := d.Cluster.Replace["jobmanager"]; ok && d.Action == actApply {
			jm = runtime.Instance{ID: "jobmanager", Hash: h, State: runtime.StateRunning, StartedAt: now, Restarts: n}
			starts = append(starts, now.Sub(t0))
		}
	}
	t.Logf("starts at %v", starts)
	if len(starts) > 7 {
		t.Errorf("%d starts in 150s, want at most 7: %v", len(starts), starts)
	}
	if len(starts) < 5 {
		t.Errorf("%d starts in 150s, want the kubelet's schedule (0, 1, 12, 33, 74 s): %v", len(starts), starts)
	}
}
