package daemon

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/flink"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

func mustSpec(t *testing.T, state string, tms int, tag string) *spec.SessionCluster {
	t.Helper()
	sc, _, err := spec.Decode([]byte(strings.Replace(clusterYAML("wc", state, tms, ""), `flinkImageTag: "1.20"`, `flinkImageTag: "`+tag+`"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func up(hash string, tms ...string) runtime.Observed {
	obs := runtime.Observed{Exists: true, Hash: hash,
		JobManager: &runtime.Instance{ID: "jobmanager", Hash: hash, State: runtime.StateRunning, Ready: true},
		REST:       runtime.Endpoint{URL: "http://jm", Display: "http://jm"}}
	for _, id := range tms {
		obs.TaskManagers = append(obs.TaskManagers, runtime.Instance{ID: id, Hash: hash, State: runtime.StateRunning, Ready: true})
	}
	return obs
}

// answered is a JobManager's answer with registered TaskManagers of one slot each that
// have reported their slots, and tms when the pass asked for them.
func answered(registered int, tms []flink.TaskManager, jobs ...flink.Job) flinkView {
	return flinkView{Asked: true, Overview: flink.Overview{TaskManagers: registered, SlotsTotal: registered}, TaskManagers: tms, Jobs: jobs}
}

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	run2 := mustSpec(t, "RUNNING", 2, "1.20")
	run1 := mustSpec(t, "RUNNING", 1, "1.20")
	stop2 := mustSpec(t, "STOPPED", 2, "1.20")
	newTag := mustSpec(t, "RUNNING", 2, "1.21")
	newTagStopped := mustSpec(t, "STOPPED", 2, "1.21")
	h := run2.Hash()
	idle := func(id string) flink.TaskManager { return flink.TaskManager{ID: id, SlotsNumber: 1, FreeSlots: 1} }
	busy := func(id string) flink.TaskManager { return flink.TaskManager{ID: id, SlotsNumber: 1, FreeSlots: 0} }
	job := flink.Job{ID: "j1", Name: "wordcount", State: "RUNNING"}

	for _, tc := range []struct {
		name string
		in   input
		// want renders as "action phase [removeFirst] | events"
		want    string
		message string
	}{
		{name: "new cluster is created", in: input{Desired: run2, Recorded: db.Status{Phase: "STOPPED"}},
			want: "apply STARTING [] | Starting"},
		// A database lost under a running cluster: the runtime finds it, nothing is recorded.
		{name: "found running without a record: adopted as it is",
			in:   input{Desired: run2, Recorded: db.Status{Phase: "STOPPED"}, Obs: up(h, "taskmanager-1", "taskmanager-2"), Flink: answered(2, nil)},
			want: "none RUNNING [] | Adopted Running"},
		{name: "found running with fewer TaskManagers than the file: adopted, then scaled",
			in:   input{Desired: run2, Recorded: db.Status{Phase: "STOPPED"}, Obs: up(h, "taskmanager-1"), Flink: answered(1, nil)},
			want: "apply STARTING [] | Adopted Starting"},
		{name: "found running from another spec than the file's: kept, the change refused",
			in:   input{Desired: newTag, Recorded: db.Status{Phase: "STOPPED"}, Obs: up(h, "taskmanager-1", "taskmanager-2"), Flink: answered(2, nil)},
			want: "none RUNNING [] | ChangeRefused Running", message: "adopted as found"},
		{name: "found running from another spec, file now says STOPPED: stopped as usual",
			in:   input{Desired: newTagStopped, Recorded: db.Status{Phase: "STOPPED"}, Obs: up(h, "taskmanager-1"), Flink: answered(1, nil)},
			want: "delete STOPPING [] | Stopping"},
		{name: "starting until the REST API reports all TaskManagers",
			in:   input{Desired: run2, Running: run2, Recorded: db.Status{Phase: "STARTING"}, Obs: up(h, "taskmanager-0", "taskmanager-1"), Flink: answered(1, nil)},
			want: "none STARTING [] |", message: "1/2 TaskManagers registered"},
		{name: "running when every TaskManager registered",
			in:   input{Desired: run2, Running: run2, Recorded: db.Status{Phase: "STARTING"}, Obs: up(h, "taskmanager-0", "taskmanager-1"), Flink: answered(2, nil)},
			want: "none RUNNING [] | Running"},
		{name: "starting while a registered TaskManager has not reported its slots (from /taskmanagers)",
			in: input{Desired: run2, Running: run2, Recorded: db.Status{Phase: "STARTING"}, Obs: up(h, "taskmanager-0", "taskmanager-1"),
				Flink: answered(2, []flink.TaskManager{idle("taskmanager-0"), {ID: "taskmanager-1"}})},
			want: "none STARTING [] |", message: "2/2 TaskManagers registered, 1 of them yet to report their slots"},
		{name: "starting while a registered TaskManager has not reported its slots (from /overview)",
			in: input{Desired: run2, Running: run2, Recorded: db.Status{Phase: "STARTING"}, Obs: up(h, "taskmanager-0", "taskmanager-1"),
				Flink: flinkView{Asked: true, Overview: flink.Overview{TaskManagers: 2, SlotsTotal: 1, SlotsAvailable: 1}}},
			want: "none STARTING [] |", message: "2/2 TaskManagers registered, 1 of them yet to report their slots"},
		{name: "running once every TaskManager reported its slots",
			in: input{Desired: run2, Running: run2, Recorded: db.Status{Phase: "STARTING"}, Obs: up(h, "taskmanager-0", "taskmanager-1"),
				Flink: answered(2, []flink.TaskManager{idle("taskmanager-0"), idle("taskmanager-1")})},
			want: "none RUNNING [] | Running"},
		{name: "REST silent: not running yet",
			in:   input{Desired: run2, Running: run2, Recorded: db.Status{Phase: "STARTING"}, Obs: up(h, "taskmanager-0", "taskmanager-1"), Flink: flinkView{Asked: true, Err: errors.New("refused")}},
			want: "none STARTING [] |", message: "waiting for the JobManager's REST API (refused)"},
		{name: "scale down removes idle first (unregistered, then idle, highest first)",
			in: input{Desired: run1, Running: run2, Recorded: db.Status{Phase: "RUNNING", TMDesired: 2},
				Obs:   up(h, "taskmanager-0", "taskmanager-1", "taskmanager-2", "taskmanager-10"),
				Flink: answered(3, []flink.TaskManager{busy("taskmanager-0"), idle("taskmanager-1"), idle("taskmanager-10")})},
			want: "apply SCALING [taskmanager-2 taskmanager-10 taskmanager-1] | ScalingDown Scaling"},
		{name: "scale down removes a dead TaskManager before any other",
			in: input{Desired: run1, Running: run2, Recorded: db.Status{Phase: "RUNNING", TMDesired: 2},
				Obs: func() runtime.Observed {
					o := up(h, "taskmanager-1", "taskmanager-2", "taskmanager-3")
					o.TaskManagers[0].State, o.TaskManagers[0].Ready = runtime.StateExited, false
					return o
				}(),
				Flink: answered(2, []flink.TaskManager{idle("taskmanager-1"), idle("taskmanager-2"), busy("taskmanager-3")})},
			want: "apply SCALING [taskmanager-1 taskmanager-2] | ScalingDown Scaling"},
		{name: "scale down waits for slot use while the REST API is silent",
			in: input{Desired: run1, Running: run2, Recorded: db.Status{Phase: "RUNNING", TMDesired: 2},
				Obs: up(h, "taskmanager-0", "taskmanager-1"), Flink: flinkView{Asked: true, Err: errors.New("timeout")}},
			want: "none SCALING [] | Scaling"},
		{name: "refused change keeps the running spec but applies the count",
			in: input{Desired: mustSpec(t, "RUNNING", 3, "1.21"), Running: run2, Recorded: db.Status{Phase: "RUNNING", TMDesired: 2},
				Obs: up(h, "taskmanager-0", "taskmanager-1"), Flink: answered(2, nil)},
			want: "apply SCALING [] | ChangeRefused ScalingUp Scaling", message: "2 TaskManagers, want 3"},
		{name: "refused change is reported once",
			in: input{Desired: newTag, Running: run2, Recorded: db.Status{Phase: "RUNNING", TMDesired: 2,
				Refused: spec.CheckChange(run2, newTag, spec.PhaseRunning).String()},
				Obs: up(h, "taskmanager-0", "taskmanager-1"), Flink: answered(2, nil)},
			want: "none RUNNING [] |"},
		{name: "stop held while a job runs",
			in:   input{Desired: stop2, Running: run2, Recorded: db.Status{Phase: "RUNNING"}, Obs: up(h, "taskmanager-0", "taskmanager-1"), Flink: answered(2, nil, job)},
			want: "none STOPPING [] | StopHeld Stopping", message: "stop held: 1 job running: wordcount (j1, RUNNING)"},
		{name: "stop without jobs removes everything",
			in:   input{Desired: stop2, Running: run2, Recorded: db.Status{Phase: "RUNNING"}, Obs: up(h, "taskmanager-0", "taskmanager-1"), Flink: answered(2, nil)},
			want: "delete STOPPING [] | Stopping"},
		{name: "stop is held while the REST API is silent: not knowing is not 'no job runs'",
			in: input{Desired: stop2, Running: run2, Recorded: db.Status{Phase: "STOPPING"}, PhaseSince: now.Add(-time.Hour),
				Obs: up(h, "taskmanager-0"), Flink: flinkView{Asked: true, Err: errors.New("timeout")}},
			want: "none STOPPING [] | StopHeld", message: "stop held: cannot tell whether jobs run: the JobManager runs, but its REST API does not answer (timeout)"},
		{name: "stop is held while the JobManager is paused",
			in: input{Desired: stop2, Running: run2, Recorded: db.Status{Phase: "RUNNING"},
				Obs: func() runtime.Observed {
					o := up(h, "taskmanager-0")
					o.JobManager.State, o.JobManager.Ready, o.JobManager.Message = runtime.StateUnknown, false, "container is paused"
					o.REST = runtime.Endpoint{}
					return o
				}()},
			want: "none STOPPING [] | StopHeld Stopping", message: "container is paused"},
		{name: "the held stop says how to force it",
			in: input{Desired: stop2, Running: run2, Recorded: db.Status{Phase: "RUNNING"},
				Obs: up(h, "taskmanager-0"), Flink: flinkView{Asked: true, Err: errors.New("timeout")}},
			want: "none STOPPING [] | StopHeld Stopping", message: "run `flinkctl stop --force wc`"},
		{name: "a forced stop tears down past a silent REST API, with a warning",
			in: input{Desired: stop2, Running: run2, Recorded: db.Status{Phase: "STOPPING"},
				Stop: &db.StopRequest{ID: 1, Force: true, Outcome: db.StopAccepted, DecidedAt: now},
				Obs:  up(h, "taskmanager-0"), Flink: flinkView{Asked: true, Err: errors.New("timeout")}},
			want: "delete STOPPING [] | StopForced"},
		{name: "a refused (hence unforced) request does not force the stop",
			in: input{Desired: stop2, Running: run2, Recorded: db.Status{Phase: "STOPPING"},
				Stop: &db.StopRequest{ID: 1, Outcome: db.StopRefused},
				Obs:  up(h, "taskmanager-0"), Flink: flinkView{Asked: true, Err: errors.New("timeout")}},
			want: "none STOPPING [] | StopHeld"},
		{name: "an exited JobManager runs no job: the stop goes ahead",
			in: input{Desired: stop2, Running: run2, Recorded: db.Status{Phase: "RUNNING"},
				Obs: func() runtime.Observed {
					o := up(h, "taskmanager-0")
					o.JobManager.State, o.JobManager.Ready, o.JobManager.ExitCode = runtime.StateExited, false, 137
					o.REST = runtime.Endpoint{}
					return o
				}()},
			want: "delete STOPPING [] | Stopping"},
		{name: "a JobManager that is gone holds nothing",
			in: input{Desired: stop2, Running: run2, Recorded: db.Status{Phase: "RUNNING"},
				Obs: func() runtime.Observed {
					o := up(h, "taskmanager-0")
					o.JobManager, o.REST = nil, runtime.Endpoint{}
					return o
				}()},
			want: "delete STOPPING [] | Stopping"},
		{name: "a forced stop with a job running cancels it first",
			in: input{Desired: stop2, Running: run2, Recorded: db.Status{Phase: "RUNNING"},
				Stop: &db.StopRequest{ID: 1, Force: true, Outcome: db.StopAccepted, DecidedAt: now},
				Obs:  up(h, "taskmanager-0"), Flink: answered(1, nil, job)},
			want: "none STOPPING [] cancel=1 | JobsCancelled Stopping", message: "cancelling 1 job running"},
		{name: "stopped when nothing runs", in: input{Desired: stop2, Running: run2, Recorded: db.Status{Phase: "STOPPING"}},
			want: "none STOPPED [] | Stopped"},
		{name: "terminal: a stopped cluster takes any change",
			in:   input{Desired: newTagStopped, Recorded: db.Status{Phase: "STOPPED"}},
			want: "none STOPPED [] |"},
		{name: "deleted and gone is forgotten", in: input{Desired: run2, Deleted: true, Recorded: db.Status{Phase: "DELETING"}},
			want: "none DELETING [] forget | Deleted"},
		{name: "deleted with a job running is held",
			in:   input{Desired: run2, Running: run2, Deleted: true, Recorded: db.Status{Phase: "RUNNING"}, Obs: up(h, "taskmanager-0"), Flink: answered(1, nil, job)},
			want: "none DELETING [] | StopHeld Deleting"},
		{name: "exited TaskManager is replaced",
			in: input{Desired: run2, Running: run2, Recorded: db.Status{Phase: "RUNNING", TMDesired: 2}, Flink: answered(1, nil),
				Obs: func() runtime.Observed {
					o := up(h, "taskmanager-0", "taskmanager-1")
					o.TaskManagers[1].State, o.TaskManagers[1].Ready, o.TaskManagers[1].ExitCode = runtime.StateExited, false, 137
					return o
				}()},
			want: "apply SCALING [] | Scaling", message: "taskmanager-1 exited (code 137)"},
		{name: "created but never started TaskManager (flinkd crashed mid-apply) is started",
			in: input{Desired: run2, Running: run2, Recorded: db.Status{Phase: "STARTING", TMDesired: 2}, Flink: answered(1, nil),
				Obs: func() runtime.Observed {
					o := up(h, "taskmanager-1", "taskmanager-2")
					o.TaskManagers[1].State, o.TaskManagers[1].Ready, o.TaskManagers[1].Message = runtime.StatePending, false, "created, not started"
					return o
				}()},
			want: "apply STARTING [] |", message: "1/2 TaskManagers registered"},
		{name: "crash loop is FAILED with the instance's last lines",
			in: input{Desired: run2, Running: run2, Recorded: db.Status{Phase: "RUNNING", TMDesired: 2}, Flink: answered(1, nil),
				Obs: func() runtime.Observed {
					o := up(h, "taskmanager-0", "taskmanager-1")
					o.TaskManagers[0].State, o.TaskManagers[0].Ready, o.TaskManagers[0].Restarts = runtime.StateRestarting, false, 4
					o.TaskManagers[0].Message = "OutOfMemoryError"
					return o
				}()},
			want: "none FAILED [] | Failed", message: "taskmanager-0 keeps dying (4 restarts): OutOfMemoryError"},
		{name: "image pull back-off is FAILED",
			in: input{Desired: run2, Running: run2, Recorded: db.Status{Phase: "STARTING"},
				Obs: func() runtime.Observed {
					o := up(h)
					o.JobManager.State, o.JobManager.Ready, o.JobManager.Message = runtime.StatePending, false, "ImagePullBackOff: pull access denied"
					return o
				}()},
			want: "apply FAILED [] | Failed", message: "jobmanager: ImagePullBackOff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Key = key("wc")
			tc.in.Now = now
			d := decide(tc.in)
			got := render(d)
			if got != tc.want {
				t.Errorf("decide:\n got  %s\n want %s\n message %q", got, tc.want, d.Status.Message)
			}
			if !strings.Contains(d.Status.Message, tc.message) {
				t.Errorf("message %q does not contain %q", d.Status.Message, tc.message)
			}
		})
	}
}

func render(d decision) string {
	var reasons []string
	for _, e := range d.Events {
		reasons = append(reasons, e.Reason)
	}
	s := fmt.Sprintf("%s %s %v", d.Action, d.Status.Phase, d.Cluster.RemoveFirst)
	if len(d.CancelJobs) > 0 {
		s += fmt.Sprintf(" cancel=%d", len(d.CancelJobs))
	}
	if d.Forget {
		s += " forget"
	}
	return strings.TrimSpace(s + " | " + strings.Join(reasons, " "))
}
