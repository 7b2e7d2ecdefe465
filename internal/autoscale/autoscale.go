// Package autoscale decides how many TaskManagers a session cluster with autoscaling runs
// (the annotations spec.AnnotationAutoscaleMax and spec.AnnotationAutoscaleIdleTimeout): enough
// for the slots its jobs need, between a floor (spec.numberOfTaskManagers) and a maximum.
// Decide is a pure function: no I/O and no clock; the daemon gathers its input from the
// JobManager's REST API and records the State it returns in SQLite.
//
// # Up
//
// A job waits when some of its tasks have no slot: tasks SCHEDULED or CREATED under Flink's
// default scheduler, or, under the adaptive scheduler, a job that runs below the upper bound of
// its vertices' parallelism (or not yet at all). A job needs, for each slot sharing group, the
// largest parallelism of the group's vertices, summed over the groups (SlotsNeeded). When a job
// waits and no free slot is left for it to take, the count rises to what all unfinished jobs
// need together, ceil(slots needed / slots per TaskManager), never beyond the maximum; demand
// beyond it is reported in Decision.Limited.
//
// # Down
//
// A TaskManager with no slot in use for the idle timeout is removed, down to the floor and
// never below what the jobs need. A TaskManager with a slot in use is never chosen.
//
// # No oscillation
//
// This is how the rule "an up and a down never follow each other inside the idle timeout" is
// read and enforced:
//
//   - Up, then down: every idle clock restarts at an up, and no down is decided within the
//     idle timeout of the last up. So a TaskManager added for a job, and every other one, gets
//     the whole idle timeout before the autoscaler may remove it, even if the job is cancelled
//     at once.
//   - Down, then up: no down is decided while any job waits, and a down keeps what the jobs
//     need. So an up inside the idle timeout of a down can only come from demand that did not
//     exist at the down: a job submitted (or restarted) after it. That demand is served at
//     once: holding it back would let the job fail after slot.request.timeout, which is 5
//     minutes like the default idle timeout. Such an up is new demand, not oscillation.
//
// It follows that a TaskManager added for a job is never removed while that job still waits.
package autoscale

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Job is an unfinished job as the autoscaler sees it.
type Job struct {
	ID, Name string
	// Slots is how many slots the job needs (SlotsNeeded).
	Slots int
	// Waiting is true while some of its tasks have no slot (see the package comment).
	Waiting bool
}

// TaskManager is a TaskManager registered with the JobManager.
type TaskManager struct {
	ID string
	// Busy is true when any of its slots is in use (allocated to a job, running or not).
	Busy bool
}

// State is what the autoscaler keeps between passes (the daemon records it in SQLite).
type State struct {
	// Count is the TaskManager count the autoscaler set; 0 before its first decision.
	Count    int       `json:"count"`
	LastUp   time.Time `json:"lastUp,omitzero"`
	LastDown time.Time `json:"lastDown,omitzero"`
	// IdleSince is when each registered TaskManager with no slot in use was first seen so.
	IdleSince map[string]time.Time `json:"idleSince,omitempty"`
	// Limited is the over-maximum message of the last decision ("" when demand fitted).
	Limited string `json:"limited,omitempty"`
}

// Input is everything Decide looks at.
type Input struct {
	// Min is the floor (spec.numberOfTaskManagers), Max the maximum.
	Min, Max    int
	IdleTimeout time.Duration
	// SlotsPerTaskManager is taskmanager.numberOfTaskSlots (values below 1 count as 1).
	SlotsPerTaskManager int
	// Jobs are the jobs that are not finished.
	Jobs []Job
	// TaskManagers are those registered with the JobManager, in the order to remove them
	// among equally idle ones; FreeSlots is their free slots.
	TaskManagers []TaskManager
	FreeSlots    int
	State        State
	Now          time.Time
}

// Direction says whether a decision changes the count on the autoscaler's own account.
type Direction int

const (
	// None: the count stays, or follows a change of the bounds (the floor raised at once, the
	// maximum lowered at once), which is the user's change, not the autoscaler's.
	None Direction = iota
	Up
	Down
)

func (d Direction) String() string { return [...]string{"none", "up", "down"}[d] }

// Decision is what the autoscaler wants.
type Decision struct {
	// Count is the number of TaskManagers to run.
	Count     int
	Direction Direction
	// Reason says why the count moves, naming the jobs (up) or the idle TaskManagers (down).
	Reason string
	// Remove lists the idle TaskManagers a down removes, to be removed first.
	Remove []string
	// Limited says which demand the maximum holds back ("" when none).
	Limited string
	// State is the state to record.
	State State
}

// Decide computes the TaskManager count (see the package comment for the rules).
func Decide(in Input) Decision {
	spt := max(in.SlotsPerTaskManager, 1)
	st := in.State
	st.IdleSince = maps.Clone(in.State.IdleSince)
	if st.IdleSince == nil {
		st.IdleSince = map[string]time.Time{}
	}
	count := st.Count
	if count == 0 {
		count = in.Min
	}
	// The bounds are the user's: they apply at once.
	count = min(max(count, in.Min), max(in.Max, in.Min))

	need, anyWaiting := 0, false
	for _, j := range in.Jobs {
		need += j.Slots
		anyWaiting = anyWaiting || j.Waiting
	}
	needTMs := (need + spt - 1) / spt

	d := Decision{Count: count}
	trackIdle(&st, in.TaskManagers, in.Now)

	// Demand beyond the maximum is reported while a job waits (free slots or not, so that a
	// moment with a free slot does not make the report come and go).
	if anyWaiting && needTMs > in.Max {
		d.Limited = limitedMessage(in.Jobs, need, in.Max, spt)
	}
	// Up: a job waits and no free slot is left for it to take.
	if anyWaiting && in.FreeSlots <= 0 && needTMs > count {
		if target := min(needTMs, in.Max); target > count {
			d.Direction = Up
			d.Reason = fmt.Sprintf("from %d to %d TaskManagers: %s for slots; the jobs need %d slots, %d per TaskManager",
				count, target, describeWaiting(in.Jobs), need, spt)
			d.Count = target
			st.LastUp = in.Now
			clear(st.IdleSince) // every idle clock restarts at an up
		}
	}

	// Down: no job waits, and the last up is at least an idle timeout ago.
	if d.Direction == None && !anyWaiting && (st.LastUp.IsZero() || in.Now.Sub(st.LastUp) >= in.IdleTimeout) {
		keep := max(in.Min, needTMs)
		var idle []string
		for _, tm := range in.TaskManagers {
			if since, ok := st.IdleSince[tm.ID]; ok && in.Now.Sub(since) >= in.IdleTimeout {
				idle = append(idle, tm.ID)
			}
		}
		// Longest idle first; among equals, in the order of Input.TaskManagers.
		slices.SortStableFunc(idle, func(a, b string) int { return st.IdleSince[a].Compare(st.IdleSince[b]) })
		if n := min(len(idle), count-keep); n > 0 {
			d.Direction = Down
			d.Remove = idle[:n]
			d.Count = count - n
			d.Reason = fmt.Sprintf("from %d to %d TaskManagers: %s had no slot in use for %s",
				count, d.Count, strings.Join(d.Remove, ", "), in.IdleTimeout)
			st.LastDown = in.Now
			for _, id := range d.Remove {
				delete(st.IdleSince, id)
			}
		}
	}

	st.Count = d.Count
	st.Limited = d.Limited
	if len(st.IdleSince) == 0 {
		st.IdleSince = nil
	}
	d.State = st
	return d
}

// trackIdle starts the idle clock of each TaskManager seen with no slot in use, stops the
// clock of each busy one, and forgets those no longer registered.
func trackIdle(st *State, tms []TaskManager, now time.Time) {
	seen := make(map[string]bool, len(tms))
	for _, tm := range tms {
		seen[tm.ID] = true
		if tm.Busy {
			delete(st.IdleSince, tm.ID)
		} else if _, ok := st.IdleSince[tm.ID]; !ok {
			st.IdleSince[tm.ID] = now
		}
	}
	maps.DeleteFunc(st.IdleSince, func(id string, _ time.Time) bool { return !seen[id] })
}

// limitedMessage says what the maximum holds back: "job X wants 12 slots; 8 at the maximum
// of 4 TaskManagers".
func limitedMessage(jobs []Job, need, maxTMs, spt int) string {
	waiting := 0
	for _, j := range jobs {
		if j.Waiting {
			waiting += j.Slots
		}
	}
	verb := "wants"
	if countWaiting(jobs) > 1 {
		verb = "want"
	}
	msg := fmt.Sprintf("%s %s %d slots", describeJobs(jobs, true), verb, waiting)
	if other := need - waiting; other > 0 {
		msg += fmt.Sprintf(" (other jobs use %d)", other)
	}
	return msg + fmt.Sprintf("; %d at the maximum of %d TaskManagers", maxTMs*spt, maxTMs)
}

func describeWaiting(jobs []Job) string {
	verb := "waits"
	if countWaiting(jobs) > 1 {
		verb = "wait"
	}
	return describeJobs(jobs, true) + " " + verb
}

func countWaiting(jobs []Job) int {
	n := 0
	for _, j := range jobs {
		if j.Waiting {
			n++
		}
	}
	return n
}

// describeJobs names the (waiting) jobs: `job wordcount (a1b2...)`, `jobs a (..) and b (..)`.
func describeJobs(jobs []Job, waitingOnly bool) string {
	var names []string
	for _, j := range jobs {
		if waitingOnly && !j.Waiting {
			continue
		}
		names = append(names, fmt.Sprintf("%s (%s)", j.Name, j.ID))
	}
	switch len(names) {
	case 0:
		return "no job"
	case 1:
		return "job " + names[0]
	}
	return "jobs " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
