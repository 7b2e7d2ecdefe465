package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Job states (Flink's JobStatus).
const (
	StateInitializing = "INITIALIZING"
	StateCreated      = "CREATED"
	StateRunning      = "RUNNING"
	StateFailing      = "FAILING"
	StateFailed       = "FAILED"
	StateCancelling   = "CANCELLING"
	StateCanceled     = "CANCELED"
	StateFinished     = "FINISHED"
	StateRestarting   = "RESTARTING"
	StateSuspended    = "SUSPENDED"
	StateReconciling  = "RECONCILING"
)

var allJobStates = []string{
	StateInitializing, StateCreated, StateRunning, StateFailing, StateFailed, StateCancelling,
	StateCanceled, StateFinished, StateRestarting, StateSuspended, StateReconciling,
}

func terminal(state string) bool {
	return state == StateFailed || state == StateCanceled || state == StateFinished
}

// A job is a pretend streaming job: one vertex of parallelism p that needs p slots.
type job struct {
	id, name, jarID string
	entryClass      string
	parallelism     int
	state           string
	start, end      time.Time
	modified        time.Time
	stateTimes      map[string]time.Time
	deadline        time.Time // end of CANCELLING, end of the restart delay
	attempt         int
	failures        []time.Time
	waitLogged      bool
	exceptions      []exceptionEntry // oldest first
}

type exceptionEntry struct {
	name, message, taskName, location, tmID string
	at                                      time.Time
}

type jarFile struct {
	id, name, path string
	uploaded       time.Time
	size           int64
	entries        []string // the manifest's entry classes (jarEntryClasses)
}

type trigger struct {
	id, jobID string
	stop      bool // stop-with-savepoint (else a plain savepoint)
	cancelJob bool
	target    string
	deadline  time.Time
	done      bool
	location  string
	failClass string
	failMsg   string
}

func (j *JobManager) setState(jb *job, state string, now time.Time) {
	if jb.state == state {
		return
	}
	j.log.Logger(logEG).Infof("Job %s (%s) switched from state %s to %s.", jb.name, jb.id, jb.state, state)
	jb.state = state
	jb.modified = now
	if _, seen := jb.stateTimes[state]; !seen {
		jb.stateTimes[state] = now
	}
	if terminal(state) {
		jb.end = now
		j.release(jb)
	}
}

func (j *JobManager) release(jb *job) {
	for _, tm := range j.tms {
		delete(tm.alloc, jb.id)
	}
}

func (j *JobManager) freeSlots() int {
	n := 0
	for _, tm := range j.tms {
		n += tm.slots - tm.used()
	}
	return n
}

// allocate gives jb its slots, one per TaskManager in turn (ordered by ID), when enough are
// free; it reports whether it did.
func (j *JobManager) allocate(jb *job) bool {
	if j.freeSlots() < jb.parallelism {
		return false
	}
	ids := slices.Sorted(maps.Keys(j.tms))
	need := jb.parallelism
	for need > 0 {
		for _, id := range ids {
			tm := j.tms[id]
			if need > 0 && tm.used() < tm.slots {
				tm.alloc[jb.id]++
				need--
			}
		}
	}
	return true
}

// stepJobs advances jobs in submission order. j.mu is held.
func (j *JobManager) stepJobs(now time.Time) time.Time {
	var next time.Time
	for _, id := range j.jobOrder {
		jb := j.jobs[id]
		switch jb.state {
		case StateCancelling:
			if now.Before(jb.deadline) {
				next = earliest(next, jb.deadline)
				continue
			}
			j.setState(jb, StateCanceled, now)
		case StateRestarting:
			if now.Before(jb.deadline) {
				next = earliest(next, jb.deadline)
				continue
			}
			if j.allocate(jb) {
				j.deploy(jb, now)
			}
		case StateCreated:
			if j.allocate(jb) {
				j.deploy(jb, now)
			} else if !jb.waitLogged {
				jb.waitLogged = true
				j.log.Logger(logSlotPool).Infof("Requesting new slots for job %s: %d slots needed, %d free.", jb.id, jb.parallelism, j.freeSlots())
			}
		}
	}
	return next
}

// deploy runs jb on the slots it was given. j.mu is held.
func (j *JobManager) deploy(jb *job, now time.Time) {
	j.setState(jb, StateRunning, now)
}

// failover restarts jb after losing tm. j.mu is held.
func (j *JobManager) failover(jb *job, now time.Time, exName, msg string, tm *tmEntry) {
	j.failTask(jb, now, exceptionEntry{name: exName, message: msg}, tm)
}

// failTask records a task failure of jb on tm in its exception history and restarts the
// job or fails it, as its restart strategy says. j.mu is held.
func (j *JobManager) failTask(jb *job, now time.Time, e exceptionEntry, tm *tmEntry) {
	if terminal(jb.state) {
		return
	}
	task := "Source: sim -> Sink: sim"
	e.taskName = fmt.Sprintf("%s (1/%d)#%d", task, jb.parallelism, jb.attempt)
	e.location, e.tmID, e.at = tm.host, tm.id, now
	jb.exceptions = append(jb.exceptions, e)
	j.release(jb)
	if jb.state == StateCancelling {
		return
	}
	jb.failures = append(jb.failures, now)
	delay, ok := j.restart.next(jb.failures)
	if !ok {
		if j.restart.kind == "none" {
			j.log.Logger(logJobMaster).Infof("Recovery is suppressed by NoRestartBackoffTimeStrategy")
		}
		j.setState(jb, StateFailing, now)
		j.setState(jb, StateFailed, now)
		return
	}
	jb.attempt++
	jb.deadline = now.Add(delay)
	j.setState(jb, StateRestarting, now)
}

// stepTriggers completes savepoints that are due. j.mu is held.
func (j *JobManager) stepTriggers(now time.Time) time.Time {
	var next time.Time
	for _, key := range slices.Sorted(maps.Keys(j.triggers)) {
		tr := j.triggers[key]
		if tr.done {
			continue
		}
		if now.Before(tr.deadline) {
			next = earliest(next, tr.deadline)
			continue
		}
		tr.done = true
		jb := j.jobs[tr.jobID]
		if jb == nil || terminal(jb.state) {
			// Dispatcher.triggerSavepoint/stopWithSavepoint reach only a running JobMaster.
			tr.failClass = "org.apache.flink.runtime.messages.FlinkJobNotFoundException"
			tr.failMsg = fmt.Sprintf("Could not find Flink job (%s)", tr.jobID)
			continue
		}
		if jb.state != StateRunning {
			tr.failClass = "org.apache.flink.runtime.checkpoint.CheckpointException"
			tr.failMsg = fmt.Sprintf("Checkpoint triggering task Source: sim -> Sink: sim (1/%d) of job %s is not being executed at the moment. Aborting checkpoint. Failure reason: Not all required tasks are currently running.", jb.parallelism, jb.id)
			j.log.Logger(logCheckpoint).Warnf("Failed to trigger savepoint for job %s: %s", jb.id, tr.failMsg)
			continue
		}
		tr.location = savepointLocation(tr.target, jb.id)
		j.log.Logger(logCheckpoint).Infof("Completed checkpoint 1 for job %s (%d bytes, checkpointDuration=%d ms, finalizationTime=0 ms).", jb.id, 4096, savepointDuration.Milliseconds())
		switch {
		case tr.stop:
			j.setState(jb, StateFinished, now)
		case tr.cancelJob:
			j.setState(jb, StateCancelling, now)
			j.setState(jb, StateCanceled, now)
		}
	}
	return next
}

// savepointLocation is the external pointer of a completed savepoint: the target as
// Flink's Path prints it (a path without a scheme, and file:// with no authority, become
// "file:/..."), then savepoint-<6 hex of the job>-<12 random hex>.
func savepointLocation(target, jobID string) string {
	target = strings.TrimRight(target, "/")
	if rest, ok := strings.CutPrefix(target, "file://"); ok && strings.HasPrefix(rest, "/") {
		target = "file:" + rest
	}
	if strings.HasPrefix(target, "/") {
		target = "file:" + target
	}
	return fmt.Sprintf("%s/savepoint-%s-%s", target, jobID[:6], newID(6))
}

// stacktrace is the exception as ErrorInfo.getExceptionAsString prints it.
func (e exceptionEntry) stacktrace() string {
	return e.name + ": " + e.message + "\n\tat flink-sim (sim)\n"
}
