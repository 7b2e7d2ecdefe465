package daemon

import (
	"errors"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/runtime"
)

func TestProgressRequeue(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	started := func(ago ...time.Duration) runtime.Observed {
		obs := runtime.Observed{Exists: true}
		for i, a := range ago {
			inst := runtime.Instance{ID: "taskmanager-" + string(rune('1'+i)), State: runtime.StateRunning, StartedAt: now.Add(-a)}
			if i == 0 {
				inst.ID = "jobmanager"
				obs.JobManager = &inst
				continue
			}
			obs.TaskManagers = append(obs.TaskManagers, inst)
		}
		return obs
	}
	for _, tc := range []struct {
		name string
		in   input
		want time.Duration
	}{
		{"a phase that begins now: the shortest", input{Recorded: db.Status{Phase: "STOPPED"}, PhaseSince: now.Add(-time.Hour)}, progressPollMin},
		{"STARTING for 500 ms, nothing started since", input{Recorded: db.Status{Phase: "STARTING"}, PhaseSince: now.Add(-500 * time.Millisecond)}, 50 * time.Millisecond},
		{"STARTING for a minute: capped", input{Recorded: db.Status{Phase: "STARTING"}, PhaseSince: now.Add(-time.Minute)}, progressPollMax},
		{"a TaskManager started 100 ms ago resets the wait", input{Recorded: db.Status{Phase: "STARTING"}, PhaseSince: now.Add(-time.Minute),
			Obs: started(time.Minute, 30*time.Second, 100*time.Millisecond)}, progressPollMin},
		{"the latest start counts", input{Recorded: db.Status{Phase: "SCALING"}, PhaseSince: now.Add(-time.Minute),
			Obs: started(time.Minute, 3*time.Second)}, 300 * time.Millisecond},
		{"a start time after now (another clock) is not used", input{Recorded: db.Status{Phase: "STARTING"}, PhaseSince: now.Add(-time.Minute),
			Obs: started(-time.Hour)}, progressPollMax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Now = now
			same := tc.in.Recorded.Phase == "STARTING" || tc.in.Recorded.Phase == "SCALING"
			if got := progressRequeue(tc.in, same); got != tc.want {
				t.Errorf("progressRequeue = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestProgressRequeueBoundsRESTLoad follows the passes decide asks for while a JobManager
// runs but its REST API never answers: one REST call per pass, a bounded number of them.
func TestProgressRequeueBoundsRESTLoad(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	run := mustSpec(t, "RUNNING", 1, "1.20")
	h := run.Hash()
	obs := up(h, "taskmanager-1")
	obs.JobManager.StartedAt = t0
	obs.TaskManagers[0].StartedAt = t0
	rec := db.Status{Phase: "STOPPED"}
	since := t0
	now := t0
	var passes []time.Time
	for now.Before(t0.Add(60 * time.Second)) {
		d := decide(input{Desired: run, Running: run, Recorded: rec, PhaseSince: since, Obs: obs, Now: now,
			Flink: flinkView{Asked: true, Err: errors.New("connection refused")}})
		if d.Status.Phase != "STARTING" || d.RequeueAfter <= 0 {
			t.Fatalf("pass at %v: phase %s, requeue %v; want STARTING and a requeue", now.Sub(t0), d.Status.Phase, d.RequeueAfter)
		}
		if d.Status.Phase != rec.Phase {
			since = now
		}
		rec = d.Status
		passes = append(passes, now)
		now = now.Add(d.RequeueAfter)
	}
	count := func(from, to time.Duration) int {
		n := 0
		for _, p := range passes {
			if at := p.Sub(t0); at >= from && at < to {
				n++
			}
		}
		return n
	}
	if first := passes[1].Sub(passes[0]); first != progressPollMin {
		t.Errorf("first requeue after %v, want %v", first, progressPollMin)
	}
	if n := count(0, 10*time.Second); n < 20 || n > 60 {
		t.Errorf("%d passes in the first 10 s, want 20 to 60 (short polls that back off)", n)
	}
	if n := count(10*time.Second, 60*time.Second); n > 50 {
		t.Errorf("%d passes from 10 s to 60 s, want at most 50 (one a second)", n)
	}
	t.Logf("%d passes in the first 10 s, %d from 10 s to 60 s", count(0, 10*time.Second), count(10*time.Second, 60*time.Second))
}
