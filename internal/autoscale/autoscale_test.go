package autoscale

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return t0.Add(-d) }

// tms lists registered TaskManagers, highest ID first (the daemon's order); "busy:" marks one
// with a slot in use.
func tms(ids ...string) []TaskManager {
	out := make([]TaskManager, 0, len(ids))
	for _, id := range ids {
		busy := strings.HasPrefix(id, "busy:")
		out = append(out, TaskManager{ID: strings.TrimPrefix(id, "busy:"), Busy: busy})
	}
	return out
}

func waiting(id, name string, slots int) Job {
	return Job{ID: id, Name: name, Slots: slots, Waiting: true}
}
func running(id, name string, slots int) Job { return Job{ID: id, Name: name, Slots: slots} }

// render prints a decision as "count direction [remove] | reason | limited".
func render(d Decision) string {
	s := fmt.Sprintf("%d %s %v", d.Count, d.Direction, d.Remove)
	if d.Reason != "" {
		s += " | " + d.Reason
	}
	if d.Limited != "" {
		s += " | limited: " + d.Limited
	}
	return s
}

func TestDecide(t *testing.T) {
	const idle = 2 * time.Minute
	base := func(in Input) Input {
		if in.Max == 0 {
			in.Max = 4
		}
		if in.SlotsPerTaskManager == 0 {
			in.SlotsPerTaskManager = 2
		}
		in.IdleTimeout, in.Now = idle, t0
		return in
	}
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"a new cluster starts at the floor",
			Input{Min: 1}, "1 none []"},
		{"a cluster without jobs stays",
			Input{Min: 1, State: State{Count: 1}, TaskManagers: tms("taskmanager-1"), FreeSlots: 2}, "1 none []"},
		{"a job waiting for 6 slots at 2 per TaskManager gets 3 TaskManagers",
			Input{Min: 1, State: State{Count: 1}, Jobs: []Job{waiting("j1", "wordcount", 6)}, TaskManagers: tms("busy:taskmanager-1")},
			"3 up [] | from 1 to 3 TaskManagers: job wordcount (j1) waits for slots; the jobs need 6 slots, 2 per TaskManager"},
		{"an odd slot count rounds up",
			Input{Min: 1, State: State{Count: 1}, Jobs: []Job{waiting("j1", "wordcount", 5)}, TaskManagers: tms("busy:taskmanager-1")},
			"3 up [] | from 1 to 3 TaskManagers: job wordcount (j1) waits for slots; the jobs need 5 slots, 2 per TaskManager"},
		{"a waiting job with free slots left takes those first",
			Input{Min: 1, State: State{Count: 1}, Jobs: []Job{waiting("j1", "wordcount", 6)}, TaskManagers: tms("taskmanager-1"), FreeSlots: 2},
			"1 none []"},
		{"demand beyond the maximum stops at it and says so",
			Input{Min: 1, State: State{Count: 1}, Jobs: []Job{waiting("j1", "big", 20)}, TaskManagers: tms("busy:taskmanager-1")},
			"4 up [] | from 1 to 4 TaskManagers: job big (j1) waits for slots; the jobs need 20 slots, 2 per TaskManager | limited: job big (j1) wants 20 slots; 8 at the maximum of 4 TaskManagers"},
		{"at the maximum a waiting job stays limited",
			Input{Min: 1, State: State{Count: 4, Limited: "x"}, Jobs: []Job{waiting("j1", "big", 20)}, TaskManagers: tms("busy:taskmanager-4", "busy:taskmanager-3", "busy:taskmanager-2", "busy:taskmanager-1")},
			"4 none [] | limited: job big (j1) wants 20 slots; 8 at the maximum of 4 TaskManagers"},
		{"a free slot for a moment does not clear the report",
			Input{Min: 1, State: State{Count: 4, Limited: "x"}, Jobs: []Job{waiting("j1", "big", 20)}, FreeSlots: 1,
				TaskManagers: tms("busy:taskmanager-4", "busy:taskmanager-3", "busy:taskmanager-2", "busy:taskmanager-1")},
			"4 none [] | limited: job big (j1) wants 20 slots; 8 at the maximum of 4 TaskManagers"},
		{"running jobs count towards the need, and the message names only the waiting one",
			Input{Min: 1, State: State{Count: 2}, Jobs: []Job{running("j1", "small", 2), waiting("j2", "big", 8)}, TaskManagers: tms("busy:taskmanager-2", "busy:taskmanager-1")},
			"4 up [] | from 2 to 4 TaskManagers: job big (j2) waits for slots; the jobs need 10 slots, 2 per TaskManager | limited: job big (j2) wants 8 slots (other jobs use 2); 8 at the maximum of 4 TaskManagers"},
		{"two waiting jobs",
			Input{Min: 1, Max: 6, State: State{Count: 1}, Jobs: []Job{waiting("j1", "a", 3), waiting("j2", "b", 3)}, TaskManagers: tms("busy:taskmanager-1")},
			"3 up [] | from 1 to 3 TaskManagers: jobs a (j1) and b (j2) wait for slots; the jobs need 6 slots, 2 per TaskManager"},
		{"TaskManagers still starting already cover the need",
			Input{Min: 1, State: State{Count: 3}, Jobs: []Job{waiting("j1", "wordcount", 6)}, TaskManagers: tms("busy:taskmanager-1")},
			"3 none []"},
		{"slots per TaskManager below 1 count as 1",
			Input{Min: 1, SlotsPerTaskManager: -1, State: State{Count: 1}, Jobs: []Job{waiting("j1", "wordcount", 3)}, TaskManagers: tms("busy:taskmanager-1")},
			"3 up [] | from 1 to 3 TaskManagers: job wordcount (j1) waits for slots; the jobs need 3 slots, 1 per TaskManager"},
		{"a raised floor applies at once",
			Input{Min: 3, State: State{Count: 1}, TaskManagers: tms("taskmanager-1")}, "3 none []"},
		{"a lowered maximum applies at once",
			Input{Min: 1, Max: 2, State: State{Count: 4}}, "2 none []"},
		{"a lowered floor leaves the count to the idle timeout",
			Input{Min: 1, State: State{Count: 3}, TaskManagers: tms("taskmanager-3", "taskmanager-2", "taskmanager-1")}, "3 none []"},

		{"TaskManagers idle for the idle timeout go, down to the floor, newest first",
			Input{Min: 1, State: State{Count: 3, LastUp: ago(10 * time.Minute), IdleSince: map[string]time.Time{
				"taskmanager-1": ago(idle), "taskmanager-2": ago(idle), "taskmanager-3": ago(idle)}},
				TaskManagers: tms("taskmanager-3", "taskmanager-2", "taskmanager-1"), FreeSlots: 6},
			"1 down [taskmanager-3 taskmanager-2] | from 3 to 1 TaskManagers: taskmanager-3, taskmanager-2 had no slot in use for 2m0s"},
		{"the longest idle goes first",
			Input{Min: 1, State: State{Count: 3, IdleSince: map[string]time.Time{
				"taskmanager-1": ago(idle + 2*time.Second), "taskmanager-2": ago(idle), "taskmanager-3": ago(idle + time.Second)}},
				TaskManagers: tms("taskmanager-3", "taskmanager-2", "taskmanager-1"), FreeSlots: 6},
			"1 down [taskmanager-1 taskmanager-3] | from 3 to 1 TaskManagers: taskmanager-1, taskmanager-3 had no slot in use for 2m0s"},
		{"a TaskManager with a slot in use never goes",
			Input{Min: 1, State: State{Count: 3, IdleSince: map[string]time.Time{
				"taskmanager-1": ago(time.Hour), "taskmanager-2": ago(idle), "taskmanager-3": ago(idle)}},
				Jobs:         []Job{running("j2", "small", 1)},
				TaskManagers: tms("taskmanager-3", "taskmanager-2", "busy:taskmanager-1"), FreeSlots: 5},
			"1 down [taskmanager-3 taskmanager-2] | from 3 to 1 TaskManagers: taskmanager-3, taskmanager-2 had no slot in use for 2m0s"},
		{"idle for less than the idle timeout stays",
			Input{Min: 1, State: State{Count: 2, IdleSince: map[string]time.Time{"taskmanager-2": ago(idle - time.Second)}},
				TaskManagers: tms("taskmanager-2", "busy:taskmanager-1")},
			"2 none []"},
		{"never below the floor",
			Input{Min: 2, State: State{Count: 3, IdleSince: map[string]time.Time{
				"taskmanager-1": ago(idle), "taskmanager-2": ago(idle), "taskmanager-3": ago(idle)}},
				TaskManagers: tms("taskmanager-3", "taskmanager-2", "taskmanager-1"), FreeSlots: 6},
			"2 down [taskmanager-3] | from 3 to 2 TaskManagers: taskmanager-3 had no slot in use for 2m0s"},
		{"a floor of 0 lets the last one go",
			Input{Min: 0, State: State{Count: 1, IdleSince: map[string]time.Time{"taskmanager-1": ago(idle)}},
				TaskManagers: tms("taskmanager-1"), FreeSlots: 2},
			"0 down [taskmanager-1] | from 1 to 0 TaskManagers: taskmanager-1 had no slot in use for 2m0s"},
		{"never below what the jobs need",
			Input{Min: 1, State: State{Count: 3, IdleSince: map[string]time.Time{"taskmanager-2": ago(idle), "taskmanager-3": ago(idle)}},
				Jobs:         []Job{running("j1", "wide", 4)},
				TaskManagers: tms("taskmanager-3", "taskmanager-2", "busy:taskmanager-1"), FreeSlots: 4},
			"2 down [taskmanager-3] | from 3 to 2 TaskManagers: taskmanager-3 had no slot in use for 2m0s"},
		{"no down while a job waits",
			Input{Min: 1, State: State{Count: 3, IdleSince: map[string]time.Time{"taskmanager-3": ago(time.Hour)}},
				Jobs:         []Job{waiting("j1", "wordcount", 4)},
				TaskManagers: tms("taskmanager-3", "busy:taskmanager-2", "busy:taskmanager-1"), FreeSlots: 2},
			"3 none []"},
		{"no down within the idle timeout of an up",
			Input{Min: 1, State: State{Count: 3, LastUp: ago(idle - time.Second), IdleSince: map[string]time.Time{
				"taskmanager-2": ago(time.Hour), "taskmanager-3": ago(time.Hour)}},
				TaskManagers: tms("taskmanager-3", "taskmanager-2", "taskmanager-1"), FreeSlots: 6},
			"3 none []"},
		{"an up inside the idle timeout of a down serves a new job",
			Input{Min: 1, State: State{Count: 1, LastDown: ago(time.Second)}, Jobs: []Job{waiting("j3", "late", 4)},
				TaskManagers: tms("busy:taskmanager-1")},
			"2 up [] | from 1 to 2 TaskManagers: job late (j3) waits for slots; the jobs need 4 slots, 2 per TaskManager"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, render(Decide(base(tt.in)))); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideKeepsItsState(t *testing.T) {
	const idle = time.Minute
	in := Input{Min: 1, Max: 4, IdleTimeout: idle, SlotsPerTaskManager: 2, Now: t0,
		State:        State{Count: 2, Limited: "old", IdleSince: map[string]time.Time{"taskmanager-9": ago(time.Hour), "taskmanager-2": ago(time.Second)}},
		TaskManagers: tms("taskmanager-3", "taskmanager-2", "busy:taskmanager-1")}
	d := Decide(in)
	want := State{Count: 2, IdleSince: map[string]time.Time{
		"taskmanager-2": ago(time.Second), // its clock runs on
		"taskmanager-3": t0,               // newly idle
		// taskmanager-1 is busy and taskmanager-9 no longer registered: no clock.
	}}
	if diff := cmp.Diff(want, d.State); diff != "" {
		t.Errorf("state (-want +got):\n%s", diff)
	}
	if in.State.IdleSince["taskmanager-9"].IsZero() {
		t.Error("Decide changed its input's state")
	}

	// An up records when it happened and restarts every idle clock.
	in.State = d.State
	in.Jobs = []Job{waiting("j1", "wordcount", 6)}
	in.TaskManagers, in.FreeSlots = tms("busy:taskmanager-3", "busy:taskmanager-2", "busy:taskmanager-1"), 0
	d = Decide(in)
	if diff := cmp.Diff(State{Count: 3, LastUp: t0}, d.State); diff != "" {
		t.Errorf("state after the up (-want +got):\n%s", diff)
	}

	// A down records when it happened and forgets the removed TaskManagers' clocks.
	in.State = State{Count: 3, LastUp: ago(time.Hour), IdleSince: map[string]time.Time{"taskmanager-3": ago(idle), "taskmanager-2": ago(time.Second)}}
	in.Jobs = nil
	in.TaskManagers, in.FreeSlots = tms("taskmanager-3", "taskmanager-2", "busy:taskmanager-1"), 4
	d = Decide(in)
	want = State{Count: 2, LastUp: ago(time.Hour), LastDown: t0, IdleSince: map[string]time.Time{"taskmanager-2": ago(time.Second)}}
	if diff := cmp.Diff(want, d.State); diff != "" {
		t.Errorf("state after the down (-want +got):\n%s", diff)
	}
}

// The cycle the issue describes, pass by pass: a job of parallelism 6 on a cluster of floor
// 1, 2 slots per TaskManager and a maximum of 4 gets 3 TaskManagers; cancelled, the cluster
// goes back to 1 only after the idle timeout, counted from the up.
func TestDecideUpThenBackToTheFloorAfterTheIdleTimeout(t *testing.T) {
	const idle = 2 * time.Minute
	in := Input{Min: 1, Max: 4, IdleTimeout: idle, SlotsPerTaskManager: 2, Now: t0}
	step := func(now time.Time, jobs []Job, registered []TaskManager, free int) Decision {
		t.Helper()
		in.Now, in.Jobs, in.TaskManagers, in.FreeSlots = now, jobs, registered, free
		d := Decide(in)
		in.State = d.State
		return d
	}
	if d := step(t0, nil, tms("taskmanager-1"), 2); d.Count != 1 {
		t.Fatalf("idle cluster: %s", render(d))
	}
	job := waiting("j1", "wordcount", 6)
	if d := step(t0.Add(time.Second), []Job{job}, tms("busy:taskmanager-1"), 0); d.Count != 3 || d.Direction != Up {
		t.Fatalf("job submitted: %s", render(d))
	}
	// The new TaskManagers register; until the job has all 6 slots it still waits.
	if d := step(t0.Add(3*time.Second), []Job{job}, tms("busy:taskmanager-3", "busy:taskmanager-2", "busy:taskmanager-1"), 0); d.Count != 3 || d.Direction != None {
		t.Fatalf("TaskManagers registered: %s", render(d))
	}
	// The job runs, then is cancelled right away: all three are idle.
	all := tms("taskmanager-3", "taskmanager-2", "taskmanager-1")
	cancelled := t0.Add(5 * time.Second)
	for now := cancelled; now.Before(t0.Add(time.Second + idle)); now = now.Add(10 * time.Second) {
		if d := step(now, nil, all, 6); d.Count != 3 {
			t.Fatalf("at %s, within the idle timeout of the up: %s", now.Sub(t0), render(d))
		}
	}
	d := step(cancelled.Add(idle), nil, all, 6)
	if d.Count != 1 || d.Direction != Down {
		t.Fatalf("after the idle timeout: %s", render(d))
	}
	if diff := cmp.Diff([]string{"taskmanager-3", "taskmanager-2"}, d.Remove); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
}
