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

// A job is a pretend streaming job: its vertices and their slots are in sched (slots.go).
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
	sched           schedule
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
	j.kick() // jobs that wait may take the slots
}

func (j *JobManager) freeSlots() int {
	n := 0
	for _, tm := range j.tms {
		n += tm.slots - tm.used()
	}
	return n
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
			next = earliest(next, j.scheduleJob(jb, now))
		case StateCreated, StateRunning:
			next = earliest(next, j.scheduleJob(jb, now))
		}
	}
	return next
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
	v := jb.sched.vertices[0]
	e.taskName = fmt.Sprintf("%s (1/%d)#%d", v.name, jb.sched.parallelism(v), jb.attempt)
	e.location, e.tmID, e.at = tm.host, tm.id, now
	j.failJob(jb, now, e)
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
		if !tasksRunning(jb, now) {
			v := jb.sched.vertices[0]
			tr.failClass = "org.apache.flink.runtime.checkpoint.CheckpointException"
			tr.failMsg = fmt.Sprintf("Checkpoint triggering task %s (1/%d) of job %s is not being executed at the moment. Aborting checkpoint. Failure reason: Not all required tasks are currently running.", v.name, jb.sched.parallelism(v), jb.id)
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
