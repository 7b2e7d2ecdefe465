package daemon

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/flinkd/flinkd/internal/autoscale"
	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/flink"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

// flinkView is what the JobManager's REST API said on this pass.
type flinkView struct {
	// Asked is true when the API was asked (a JobManager runs and has an endpoint).
	Asked bool
	// Err says why it did not answer; nil when it did.
	Err          error
	Overview     flink.Overview
	TaskManagers []flink.TaskManager
	// Jobs are the jobs that are not in a terminal state.
	Jobs []flink.Job
	// Autoscale is what an autoscaled cluster's pass read for the autoscaler.
	Autoscale *autoscaleView
}

func (f flinkView) answered() bool { return f.Asked && f.Err == nil }

// input is everything decide looks at: the recorded state and this pass's observation.
type input struct {
	Key     runtime.Key
	Desired *spec.SessionCluster
	// Running is the spec recorded as running; nil when nothing was started.
	Running *spec.SessionCluster
	Deleted bool
	// Recorded is the status recorded on the previous pass.
	Recorded   db.Status
	PhaseSince time.Time
	// SpecChangedAt is when a save of the file last changed the desired spec: an instance
	// that died before it is retried at once.
	SpecChangedAt time.Time
	// Stop is the key's latest API stop request; nil when there is none.
	Stop  *db.StopRequest
	Obs   runtime.Observed
	Flink flinkView
	Now   time.Time
	// Autoscale is the autoscaler's recorded state (table autoscale); nil when none.
	Autoscale []byte
}

type action int

const (
	actNone   action = iota
	actApply         // Runtime.Apply(Cluster), after recording Want as running
	actDelete        // Runtime.Delete, then record Done (or forget the cluster)
)

func (a action) String() string {
	return [...]string{"none", "apply", "delete"}[a]
}

// decision is what one pass does: record Status and Events, cancel jobs, act, requeue.
type decision struct {
	Action  action
	Cluster runtime.Cluster
	// Want is the spec to record as running before an apply.
	Want   *spec.SessionCluster
	Status db.Status
	Events []db.Event
	// Done is recorded after a successful delete (STOPPED), with DoneEvents; Forget removes the
	// cluster instead (its file is gone).
	Done       db.Status
	DoneEvents []db.Event
	Forget     bool
	// CancelJobs are jobs to cancel through the JobManager before the action (a forced stop).
	CancelJobs []flink.Job
	// Stop is the stop request as this pass leaves it, to record (nil: unchanged); EndStop
	// ends the live request (the cluster is stopped or gone, or runs again).
	Stop    *db.StopRequest
	EndStop bool
	// RequeueAfter asks for another pass (0: the periodic resync is enough).
	RequeueAfter time.Duration
	// Backoff asks for another pass after the worker's per-cluster exponential backoff (a
	// cluster whose platform reports a failure that needs a change is retried, ever more
	// slowly).
	Backoff bool

	// Autoscale is the autoscaler's state to record when setAutoscale (nil clears it).
	Autoscale    []byte
	setAutoscale bool

	// clearRunning records that nothing runs (set by execute, not by decide).
	clearRunning bool
}

// requeue asks for another pass after d at the latest.
func (dec *decision) requeue(d time.Duration) {
	if dec.RequeueAfter == 0 || d < dec.RequeueAfter {
		dec.RequeueAfter = d
	}
}

// Tunables of decide.
const (
	// crashLoopRestarts is how many restarts in a row make an instance that is down "keeps
	// dying": the cluster is FAILED.
	crashLoopRestarts = 3
	requeueHeld       = 5 * time.Second
	// requeueCancel is how soon a forced stop looks again at the jobs it cancelled.
	requeueCancel = 250 * time.Millisecond
	// cancelWait bounds how long a forced stop waits for the jobs it cancelled to end.
	cancelWait = 60 * time.Second
	// stopRequestTTL: an accepted stop request applies to the stop it asked for. When the
	// cluster is to run again this long after it was accepted, the request ends.
	stopRequestTTL = time.Minute
)

// Crash-loop back-off, as the kubelet's CrashLoopBackOff: an instance whose process died is
// started again at once the first time, then 10 s after it died, then 20 s, 40 s, ... at most
// 5 min. One that had run for 10 min before it died starts over, and so does one that died
// before the latest edit of its file (an edit retries at once).
const (
	crashBackoffInitial = 10 * time.Second
	crashBackoffMax     = 5 * time.Minute
	crashBackoffReset   = 10 * time.Minute
)

// Waiting reasons (Kubernetes) that do not clear without a change: the cluster is FAILED.
var fatalReasons = []string{"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CrashLoopBackOff",
	"CreateContainerConfigError", "CreateContainerError", "ErrImageNeverPull"}

// decide compares desired with observed and says what to do. It is pure: no I/O, no clock.
func decide(in input) decision {
	obs := in.Obs
	// What runs is what the runtime has: with nothing there, nothing runs, whatever was recorded.
	running := in.Running
	if !obs.Exists {
		running = nil
	}

	// The seed's change rule: while the cluster is not terminal only spec.state and
	// spec.numberOfTaskManagers may change; other changes wait, visibly, for a stop.
	want := in.Desired
	var refused string
	if running != nil {
		if chk := spec.CheckChange(running, in.Desired, in.Recorded.Phase); !chk.Allowed {
			want = running.DeepCopy()
			want.Spec.State = in.Desired.Spec.State
			n := in.Desired.TaskManagers()
			want.Spec.NumberOfTaskManagers = &n
			refused = chk.String()
		}
	}
	var d decision
	stopping := in.Deleted || want.Spec.State == spec.StateStopped
	var as autoscaleOutcome
	if !stopping {
		// An autoscaled cluster runs the autoscaler's count, between the floor and the maximum.
		if as = decideAutoscale(in); as.On {
			want = want.DeepCopy()
			n := as.Count
			want.Spec.NumberOfTaskManagers = &n
		}
		d.Autoscale, d.setAutoscale = as.Record, as.On || in.Autoscale != nil
	}
	d.Status.Refused = refused
	d.Status.TMDesired = want.TaskManagers()
	d.Status.RESTURL = obs.REST.Display
	if refused != "" && refused != in.Recorded.Refused {
		d.Events = append(d.Events, warning("ChangeRefused", refused))
	}

	jobs := jobsOf(obs, in.Flink)
	decideStopRequest(in, jobs, &d)
	if stopping {
		decideStop(in, jobs, &d)
		// A stopped cluster starts again from its floor.
		d.setAutoscale = d.Status.Phase == spec.PhaseStopped && in.Autoscale != nil
	} else {
		d.Events = append(d.Events, as.Events...)
		decideRun(in, want, as, &d)
	}
	if d.Status.Phase != in.Recorded.Phase {
		d.Events = append(d.Events, phaseEvent(d.Status))
	}
	return d
}

// jobsVerdict is what is known of the jobs on what runs for a cluster: a cluster is torn down
// only when nothing there can run a job, or its JobManager says that none runs.
type jobsVerdict struct {
	// Jobs run (the JobManager said so).
	Jobs []flink.Job
	// Unknown says why it cannot be known whether jobs run ("" when it is known): a JobManager
	// exists that may run them (it runs, or is paused or frozen) but its REST API does not
	// answer.
	Unknown string
}

func (v jobsVerdict) clear() bool { return v.Unknown == "" && len(v.Jobs) == 0 }

// jobsOf says what obs and fv tell of the jobs. A JobManager that is absent, never started,
// exited or restarting runs no job (a session cluster's jobs die with its JobManager).
func jobsOf(obs runtime.Observed, fv flinkView) jobsVerdict {
	jm := obs.JobManager
	if jm == nil {
		return jobsVerdict{}
	}
	switch jm.State {
	case runtime.StateRunning:
		switch {
		case fv.answered():
			return jobsVerdict{Jobs: fv.Jobs}
		case !fv.Asked:
			return jobsVerdict{Unknown: "the JobManager runs, but its REST API cannot be reached yet"}
		}
		return jobsVerdict{Unknown: fmt.Sprintf("the JobManager runs, but its REST API does not answer (%s)", errText(fv.Err))}
	case runtime.StateUnknown:
		why := jm.Message
		if why == "" {
			why = "in an unknown state"
		}
		return jobsVerdict{Unknown: fmt.Sprintf("the JobManager's process is there but cannot answer (%s)", why)}
	}
	return jobsVerdict{}
}

// decideStopRequest decides a pending API stop request: accepted when no job stands in the
// way, refused when jobs run (or it cannot be known whether they do) and the stop is not
// forced. A forced stop cancels the jobs and looks again until they are gone.
func decideStopRequest(in input, v jobsVerdict, d *decision) {
	r := in.Stop
	if r == nil || r.Outcome != db.StopPending {
		return
	}
	next := *r
	decided := func(o db.StopOutcome, msg string) {
		next.Outcome, next.Message, next.DecidedAt = o, msg, in.Now
		if o == db.StopRefused {
			next.Force = false
		}
		d.Stop = &next
	}
	name := cliName(in.Key)
	switch {
	case v.Unknown != "" && r.Force:
		decided(db.StopAccepted, fmt.Sprintf("cannot tell whether jobs run on %s (%s); stopping it anyway, as --force asks", in.Key, v.Unknown))
	case v.Unknown != "":
		decided(db.StopRefused, fmt.Sprintf("cannot tell whether jobs run on %s: %s; nothing was changed; run `flinkctl stop --force %s` to stop it anyway", in.Key, v.Unknown, name))
	case len(v.Jobs) == 0:
		msg := ""
		if !r.CancelledAt.IsZero() {
			msg = "cancelled " + describeDBJobs(r.Jobs)
		}
		decided(db.StopAccepted, msg)
	case !r.Force:
		next.Jobs = dbJobs(v.Jobs)
		decided(db.StopRefused, fmt.Sprintf("%s on %s; use --force to cancel them first", describeJobs(v.Jobs), in.Key))
	case !r.CancelledAt.IsZero() && in.Now.Sub(r.CancelledAt) > cancelWait:
		next.Jobs = dbJobs(v.Jobs)
		decided(db.StopRefused, fmt.Sprintf("cancelled jobs did not end within %s: %s", cancelWait, describeJobs(v.Jobs)))
	default:
		// Forced: cancel what runs (again, if need be: cancelling is idempotent) and look
		// again shortly.
		if next.CancelledAt.IsZero() {
			next.CancelledAt = in.Now
			d.Events = append(d.Events, warning("JobsCancelled", "flinkctl stop --force cancelled "+describeJobs(v.Jobs)))
		}
		next.Jobs = mergeJobs(next.Jobs, v.Jobs)
		d.Stop = &next
		d.CancelJobs = v.Jobs
		d.requeue(requeueCancel)
	}
}

func decideStop(in input, v jobsVerdict, d *decision) {
	obs := in.Obs
	stopping := spec.PhaseStopping
	if in.Deleted {
		stopping = spec.PhaseDeleting
	}
	force := in.Stop.Forced() || (d.Stop != nil && d.Stop.Forced())
	if !obs.Exists {
		// Nothing runs: done.
		d.EndStop = in.Stop != nil && in.Stop.Live()
		if in.Deleted {
			d.Forget = true
			d.Status.Phase = spec.PhaseDeleting
			d.Events = append(d.Events, normal("Deleted", "spec file removed and nothing left running; cluster forgotten"))
			return
		}
		d.Status = db.Status{Phase: spec.PhaseStopped, Refused: d.Status.Refused, TMDesired: d.Status.TMDesired}
		d.clearRunning = true
		return
	}
	d.Status.Phase = stopping
	d.Status.TMReady = readyTaskManagers(obs)
	name := cliName(in.Key)
	hold := func(msg string) {
		d.Status.Message = msg
		if msg != in.Recorded.Message {
			d.Events = append(d.Events, warning("StopHeld", msg))
		}
		d.requeue(requeueHeld)
	}
	switch {
	case len(v.Jobs) > 0 && force:
		d.Status.Message = fmt.Sprintf("cancelling %s, as `flinkctl stop --force` asked", describeJobs(v.Jobs))
		if d.Status.Message != in.Recorded.Message && len(d.CancelJobs) == 0 {
			d.Events = append(d.Events, warning("JobsCancelled", "flinkctl stop --force cancelled "+describeJobs(v.Jobs)))
		}
		d.CancelJobs = v.Jobs
		d.requeue(requeueCancel)
		return
	case len(v.Jobs) > 0:
		// The seed: all jobs must be terminated before the cluster can be stopped.
		hold(fmt.Sprintf("stop held: %s; cancel them, or run `flinkctl stop --force %s`", describeJobs(v.Jobs), name))
		return
	case v.Unknown != "" && !force:
		// Fail closed: not knowing is not "no job runs".
		hold(fmt.Sprintf("stop held: cannot tell whether jobs run: %s; a cluster is torn down only once its JobManager says that no job runs (or is gone); run `flinkctl stop --force %s` to tear it down anyway", v.Unknown, name))
		return
	case v.Unknown != "":
		d.Events = append(d.Events, warning("StopForced", fmt.Sprintf(
			"%s; tearing it down without knowing whether jobs run, as `flinkctl stop --force` asked", v.Unknown)))
	}
	d.Action = actDelete
	d.Status.Message = "removing the JobManager and TaskManagers"
	if in.Deleted {
		d.Forget = true
		d.DoneEvents = []db.Event{normal("Deleted", "spec file removed; cluster torn down and forgotten")}
		return
	}
	d.Done = db.Status{Phase: spec.PhaseStopped, Refused: d.Status.Refused, TMDesired: d.Status.TMDesired}
	d.DoneEvents = []db.Event{normal(phaseReason(spec.PhaseStopped), "JobManager and TaskManagers removed")}
}

func decideRun(in input, want *spec.SessionCluster, as autoscaleOutcome, d *decision) {
	obs := in.Obs
	n := want.TaskManagers()
	hash := want.Hash()
	d.Status.TMReady = readyTaskManagers(obs)
	if adopting(in) {
		if obs.Hash != hash {
			decideForeignSpec(in, hash, d)
			return
		}
		d.Events = append(d.Events, normal("Adopted", "found running, made from this spec: "+describeInstances(obs)+"; kept as it is"))
	}
	d.Want = want
	if r := in.Stop; r != nil && r.Outcome == db.StopAccepted && in.Now.Sub(r.DecidedAt) > stopRequestTTL {
		d.EndStop = true // the cluster runs again: an old forced stop no longer applies
	}

	restarts := planRestarts(obs, in.SpecChangedAt, in.Now)
	needApply := !obs.Exists || obs.JobManager == nil || obs.Hash != hash || len(obs.TaskManagers) != n ||
		len(restarts.Replace) > 0
	for _, inst := range allInstances(obs) {
		// Pending covers a container created but never started (an apply cut short by a
		// crash of flinkd): nothing but an apply starts it.
		if inst.Hash != hash || inst.State == runtime.StatePending {
			needApply = true
		}
	}
	var removeFirst []string
	if len(obs.TaskManagers) > n {
		jmUp := obs.JobManager != nil && obs.JobManager.State == runtime.StateRunning
		if jmUp && !in.Flink.answered() {
			// Scaling down blindly could pick TaskManagers that run jobs: wait for slot use.
			d.Status.Phase = spec.PhaseScaling
			d.Status.Message = fmt.Sprintf("scale-down to %d waits for the JobManager's REST API to tell which TaskManagers are idle (%s)",
				n, errText(in.Flink.Err))
			d.requeue(progressRequeue(in, d.Status.Phase == in.Recorded.Phase))
			return
		}
		var busy []string
		removeFirst, busy = removalOrder(obs, in.Flink)
		if len(as.RemoveFirst) > 0 {
			// The autoscaler chose the idle TaskManagers that go.
			removeFirst = slices.Concat(as.RemoveFirst, slices.DeleteFunc(removeFirst, func(id string) bool { return slices.Contains(as.RemoveFirst, id) }))
		}
		excess := len(obs.TaskManagers) - n
		msg := fmt.Sprintf("scaling down from %d to %d TaskManagers", len(obs.TaskManagers), n)
		if excess > len(removeFirst) {
			msg += fmt.Sprintf("; only %d idle, so %d busy TaskManager(s) go too and their jobs restart (busy: %s)",
				len(removeFirst), excess-len(removeFirst), strings.Join(busy, ", "))
		} else {
			msg += fmt.Sprintf("; removing idle ones: %s", strings.Join(removeFirst[:excess], ", "))
		}
		if (in.Recorded.Phase != spec.PhaseScaling || in.Recorded.TMDesired != n) && as.Direction == autoscale.None {
			d.Events = append(d.Events, normal("ScalingDown", msg))
		}
	} else if obs.Exists && len(obs.TaskManagers) < n && in.Recorded.TMDesired != n && wasUp(in.Recorded.Phase) && as.Direction == autoscale.None {
		d.Events = append(d.Events, normal("ScalingUp", fmt.Sprintf("scaling up from %d to %d TaskManagers", len(obs.TaskManagers), n)))
	}
	if needApply {
		c, err := clusterFor(want, removeFirst)
		if err != nil {
			d.Status.Phase = spec.PhaseFailed
			d.Status.Message = err.Error()
			return
		}
		c.Replace = restarts.Replace
		d.Action = actApply
		d.Cluster = c
	}
	if !restarts.Next.IsZero() {
		// Come back when the first held instance is due.
		d.requeue(max(restarts.Next.Sub(in.Now), requeueCancel))
	}

	// Instances that will not get healthy without a change make the cluster FAILED; the
	// apply above still runs (level-triggered).
	if msg, failed, fatal := failingInstance(obs, restarts); failed {
		d.Status.Phase = spec.PhaseFailed
		d.Status.Message = msg
		d.Backoff = fatal // a crash loop comes back when its restart is due (RequeueAfter)
		return
	}
	registered := -1
	if in.Flink.answered() {
		registered = in.Flink.Overview.TaskManagers
	}
	switch {
	case !needApply && registered == n && allReady(obs) && slotsReported(in.Flink):
		d.Status.Phase = spec.PhaseRunning
		d.Status.Message = fmt.Sprintf("%d/%d TaskManagers registered, %d/%d slots free", registered, n,
			in.Flink.Overview.SlotsAvailable, in.Flink.Overview.SlotsTotal)
		if as.Limited != "" {
			d.Status.Message += "; " + as.Limited
		}
		if as.On {
			d.requeue(requeueAutoscale)
		}
	default:
		if wasUp(in.Recorded.Phase) && obs.Exists && obs.Hash == hash {
			d.Status.Phase = spec.PhaseScaling
		} else {
			d.Status.Phase = spec.PhaseStarting
		}
		d.Status.Message = progressMessage(obs, in.Flink, n, needApply, restarts)
		if restarts.Next.IsZero() || needApply {
			// (A dead instance that waits out its back-off keeps the cluster from RUNNING
			// until it is due: the pass then comes at that time, not sooner.)
			d.requeue(progressRequeue(in, d.Status.Phase == in.Recorded.Phase))
		}
	}
}

// restarts is the crash-loop back-off's plan for the dead instances of one pass.
type restarts struct {
	// Replace: the dead instances due now, with their replacements' restart counts
	// (runtime.Cluster.Replace).
	Replace map[string]int
	// Due is when each dead instance is (or was) due, and Delay its back-off, by ID; Next is
	// the earliest due of those still waiting (zero: none waits).
	Due   map[string]time.Time
	Delay map[string]time.Duration
	Next  time.Time
	now   time.Time
}

// planRestarts applies the crash-loop back-off to obs's dead instances (pure).
func planRestarts(obs runtime.Observed, specChangedAt, now time.Time) restarts {
	p := restarts{Due: map[string]time.Time{}, Delay: map[string]time.Duration{}, now: now}
	for _, inst := range allInstances(obs) {
		if inst.State != runtime.StateExited {
			continue
		}
		streak := inst.Restarts
		if ranLong := !inst.StartedAt.IsZero() && inst.FinishedAt.Sub(inst.StartedAt) >= crashBackoffReset; ranLong {
			streak = 0
		}
		if !specChangedAt.IsZero() && inst.FinishedAt.Before(specChangedAt) {
			streak = 0 // an edit of the file retries at once
		}
		due := now
		if !inst.FinishedAt.IsZero() {
			due = inst.FinishedAt.Add(restartDelay(streak))
		}
		p.Due[inst.ID], p.Delay[inst.ID] = due, restartDelay(streak)
		if due.After(now) {
			if p.Next.IsZero() || due.Before(p.Next) {
				p.Next = due
			}
			continue
		}
		if p.Replace == nil {
			p.Replace = map[string]int{}
		}
		p.Replace[inst.ID] = streak + 1
	}
	return p
}

// restartDelay is how long after it died an instance restarted streak times in a row waits
// for its next start: none the first time, then 10 s doubling up to 5 min.
func restartDelay(streak int) time.Duration {
	if streak <= 0 {
		return 0
	}
	d := crashBackoffInitial
	for i := 1; i < streak && d < crashBackoffMax; i++ {
		d *= 2
	}
	return min(d, crashBackoffMax)
}

// nextStart says when a dead instance starts again, for messages (the same words on every
// pass of one wait, so that status is not rewritten each time).
func (p restarts) nextStart(id string) string {
	due, ok := p.Due[id]
	switch {
	case !ok:
		return ""
	case !due.After(p.now):
		return "restarting it now"
	}
	return fmt.Sprintf("next restart at %s (back-off %s)", due.UTC().Format(time.RFC3339), p.Delay[id])
}

// adopting says that a cluster runs that this database has no record of running: the
// database was lost (or is new) and the runtime found the cluster under this daemon's
// identity. The spec is recorded as running before every apply, so nothing else leads here.
func adopting(in input) bool {
	return in.Running == nil && in.Obs.Exists && in.Obs.JobManager != nil
}

// decideForeignSpec handles an adopted cluster made from another spec than its file says
// now (the file changed while flinkd had no database): that spec is unknown, so the cluster
// can be neither changed nor repaired without recreating it, and the change rule says a
// running cluster is not recreated. It is kept as it is, visibly, until a stop.
func decideForeignSpec(in input, hash string, d *decision) {
	obs := in.Obs
	d.Status.Refused = fmt.Sprintf("found running (%s) from another spec than the file's (spec hash %s, the file's %s), which this flinkd has no record of: "+
		"it is kept as it is, neither changed, scaled nor repaired; set spec.state: STOPPED, wait for STOPPED, then RUNNING to run the file's spec",
		describeInstances(obs), runtime.ShortHash(obs.Hash), runtime.ShortHash(hash))
	if d.Status.Refused != in.Recorded.Refused {
		d.Events = append(d.Events, warning("ChangeRefused", d.Status.Refused))
	}
	d.Status.TMDesired = len(obs.TaskManagers)
	if in.Flink.answered() && in.Flink.Overview.TaskManagers == len(obs.TaskManagers) && allReady(obs) && slotsReported(in.Flink) {
		d.Status.Phase = spec.PhaseRunning
		d.Status.Message = fmt.Sprintf("%d/%d TaskManagers registered, %d/%d slots free (adopted as found; see refused)",
			in.Flink.Overview.TaskManagers, len(obs.TaskManagers), in.Flink.Overview.SlotsAvailable, in.Flink.Overview.SlotsTotal)
		return
	}
	d.Status.Phase = spec.PhaseStarting
	d.Status.Message = progressMessage(obs, in.Flink, len(obs.TaskManagers), false, restarts{}) + " (adopted as found; see refused)"
	d.RequeueAfter = progressRequeue(in, d.Status.Phase == in.Recorded.Phase)
}

// describeInstances says what runs, with engine IDs: "jobmanager 3f2a1b0c9d8e and 2
// TaskManagers (taskmanager-1 5e6f7a8b9c0d, taskmanager-2 1a2b3c4d5e6f)".
func describeInstances(obs runtime.Observed) string {
	short := func(id string) string {
		if len(id) > 12 {
			return id[:12]
		}
		return id
	}
	var b strings.Builder
	if jm := obs.JobManager; jm != nil {
		fmt.Fprintf(&b, "%s %s", jm.ID, short(jm.RuntimeID))
	}
	fmt.Fprintf(&b, " and %d TaskManager(s)", len(obs.TaskManagers))
	if len(obs.TaskManagers) > 0 {
		parts := make([]string, 0, len(obs.TaskManagers))
		for _, tm := range obs.TaskManagers {
			parts = append(parts, tm.ID+" "+short(tm.RuntimeID))
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	return strings.TrimSpace(b.String())
}

// removalOrder lists the TaskManagers to remove first when scaling down: those whose process
// is not running, then those not registered with the JobManager, then the idle ones (no slot
// in use), last ID first in each group (runtime.CompareInstanceIDs); busy ones are returned
// apart and never listed, so a runtime removes them only when nothing else is left
// (runtime.ScaleDownVictims).
func removalOrder(obs runtime.Observed, fv flinkView) (removeFirst, busy []string) {
	reg := make(map[string]flink.TaskManager, len(fv.TaskManagers))
	for _, tm := range fv.TaskManagers {
		reg[tm.ID] = tm
	}
	var dead, unregistered, idle []string
	for _, inst := range obs.TaskManagers {
		ft, ok := reg[inst.ID]
		switch {
		case inst.State != runtime.StateRunning:
			dead = append(dead, inst.ID)
		case !ok:
			unregistered = append(unregistered, inst.ID)
		case ft.Idle():
			idle = append(idle, inst.ID)
		default:
			busy = append(busy, inst.ID)
		}
	}
	lastFirst := func(a, b string) int { return runtime.CompareInstanceIDs(b, a) }
	slices.SortFunc(dead, lastFirst)
	slices.SortFunc(unregistered, lastFirst)
	slices.SortFunc(idle, lastFirst)
	return slices.Concat(dead, unregistered, idle), busy
}

// failingInstance says why the cluster is FAILED, if it is: an instance its platform will not
// get healthy without a change (fatal: a Kubernetes waiting reason, an exceeded progress
// deadline), or one that keeps dying (the crash-loop back-off restarts it; the message says
// when).
func failingInstance(obs runtime.Observed, p restarts) (msg string, failed, fatal bool) {
	for _, inst := range allInstances(obs) {
		if inst.Ready {
			continue
		}
		for _, r := range fatalReasons {
			if strings.HasPrefix(inst.Message, r) {
				return fmt.Sprintf("%s: %s", inst.ID, inst.Message), true, true
			}
		}
		if inst.Restarts >= crashLoopRestarts {
			msg := fmt.Sprintf("%s keeps dying (%d restarts", inst.ID, inst.Restarts)
			if inst.OOMKilled {
				msg += ", killed for running out of memory"
			} else if inst.State == runtime.StateExited {
				msg += fmt.Sprintf(", exit code %d", inst.ExitCode)
			}
			msg += ")"
			if next := p.nextStart(inst.ID); next != "" {
				msg += "; " + next
			}
			if inst.Message != "" {
				msg += ": " + inst.Message
			}
			return msg, true, false
		}
	}
	if obs.Message != "" && strings.Contains(obs.Message, "ProgressDeadlineExceeded") {
		return obs.Message, true, true
	}
	return "", false, false
}

func progressMessage(obs runtime.Observed, fv flinkView, n int, applying bool, p restarts) string {
	switch {
	case !obs.Exists:
		return "creating the JobManager and TaskManagers"
	case obs.JobManager == nil || obs.JobManager.State != runtime.StateRunning:
		jm := obs.JobManager
		switch {
		case jm != nil && jm.State == runtime.StateExited:
			return fmt.Sprintf("the JobManager exited (code %d); %s", jm.ExitCode, p.nextStart(jm.ID))
		case jm != nil && jm.Message != "":
			return "waiting for the JobManager: " + jm.Message
		}
		return "waiting for the JobManager to start"
	case !fv.answered():
		return fmt.Sprintf("waiting for the JobManager's REST API (%s)", errText(fv.Err))
	case len(obs.TaskManagers) != n && applying:
		return fmt.Sprintf("%d TaskManagers, want %d", len(obs.TaskManagers), n)
	default:
		msg := fmt.Sprintf("%d/%d TaskManagers registered", fv.Overview.TaskManagers, n)
		if missing := slotsMissing(fv); missing > 0 && fv.Overview.TaskManagers == n {
			msg += fmt.Sprintf(", %d of them yet to report their slots", missing)
		}
		for _, tm := range obs.TaskManagers {
			if tm.State == runtime.StateExited {
				msg += fmt.Sprintf("; %s exited (code %d), %s", tm.ID, tm.ExitCode, p.nextStart(tm.ID))
			}
		}
		return msg
	}
}

// slotsReported says whether every TaskManager the JobManager counts has offered its
// slots. Flink counts a TaskManager once it registers with the ResourceManager; its slots
// follow in a second RPC (TaskExecutor.establishResourceManagerConnection sends the slot
// report after the registration succeeded), and until then /overview and /taskmanagers show
// it with no slot. A cluster is not RUNNING in between: a job submitted then finds fewer
// slots than the cluster has (seen on the real 1.20 image: 2 TaskManagers, 1 slot).
func slotsReported(fv flinkView) bool { return slotsMissing(fv) == 0 }

// slotsMissing counts the TaskManagers of fv that have not reported their slots. With the
// TaskManagers asked, it is exact; from the overview alone, every TaskManager offers at
// least one slot (taskmanager.numberOfTaskSlots is at least 1), so a total below the count
// is at least that many missing.
func slotsMissing(fv flinkView) int {
	if fv.TaskManagers != nil {
		n := 0
		for _, tm := range fv.TaskManagers {
			if tm.SlotsNumber == 0 {
				n++
			}
		}
		return n
	}
	return max(0, fv.Overview.TaskManagers-fv.Overview.SlotsTotal)
}

func allInstances(obs runtime.Observed) []runtime.Instance {
	out := make([]runtime.Instance, 0, len(obs.TaskManagers)+1)
	if obs.JobManager != nil {
		out = append(out, *obs.JobManager)
	}
	return append(out, obs.TaskManagers...)
}

func allReady(obs runtime.Observed) bool {
	for _, inst := range allInstances(obs) {
		if !inst.Ready {
			return false
		}
	}
	return obs.JobManager != nil
}

func readyTaskManagers(obs runtime.Observed) int {
	n := 0
	for _, tm := range obs.TaskManagers {
		if tm.Ready {
			n++
		}
	}
	return n
}

func wasUp(phase spec.Phase) bool {
	return phase == spec.PhaseRunning || phase == spec.PhaseScaling
}

func describeJobs(jobs []flink.Job) string {
	parts := make([]string, 0, len(jobs))
	for _, j := range jobs {
		parts = append(parts, fmt.Sprintf("%s (%s, %s)", j.Name, j.ID, j.State))
	}
	noun := "jobs"
	if len(jobs) == 1 {
		noun = "job"
	}
	return fmt.Sprintf("%d %s running: %s", len(jobs), noun, strings.Join(parts, ", "))
}

func errText(err error) string {
	if err == nil {
		return "no answer"
	}
	return err.Error()
}

func normal(reason, msg string) db.Event {
	return db.Event{Type: db.Normal, Reason: reason, Message: msg}
}
func warning(reason, msg string) db.Event {
	return db.Event{Type: db.Warning, Reason: reason, Message: msg}
}

func phaseReason(p spec.Phase) string {
	switch p {
	case spec.PhaseStarting:
		return "Starting"
	case spec.PhaseRunning:
		return "Running"
	case spec.PhaseScaling:
		return "Scaling"
	case spec.PhaseStopping:
		return "Stopping"
	case spec.PhaseStopped:
		return "Stopped"
	case spec.PhaseFailed:
		return "Failed"
	case spec.PhaseDeleting:
		return "Deleting"
	}
	return "Phase"
}

func phaseEvent(st db.Status) db.Event {
	ev := normal(phaseReason(st.Phase), st.Message)
	if st.Phase == spec.PhaseFailed {
		ev.Type = db.Warning
	}
	if ev.Message == "" {
		ev.Message = "phase " + string(st.Phase)
	}
	return ev
}

// cliName is how flinkctl names a cluster: NAME in the default namespace, NS/NAME otherwise.
func cliName(k runtime.Key) string {
	if k.Namespace == spec.DefaultNamespace {
		return k.Name
	}
	return k.String()
}

func dbJobs(jobs []flink.Job) []db.Job {
	out := make([]db.Job, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, db.Job{ID: j.ID, Name: j.Name, State: j.State})
	}
	return out
}

// mergeJobs adds the jobs of more that have is missing (by ID), and updates the states of
// those it has.
func mergeJobs(have []db.Job, more []flink.Job) []db.Job {
	out := slices.Clone(have)
	for _, j := range dbJobs(more) {
		if i := slices.IndexFunc(out, func(h db.Job) bool { return h.ID == j.ID }); i >= 0 {
			out[i] = j
			continue
		}
		out = append(out, j)
	}
	return out
}

func describeDBJobs(jobs []db.Job) string {
	fj := make([]flink.Job, 0, len(jobs))
	for _, j := range jobs {
		fj = append(fj, flink.Job{ID: j.ID, Name: j.Name, State: j.State})
	}
	return describeJobs(fj)
}
