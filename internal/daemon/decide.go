package daemon

import (
	"fmt"
	"slices"
	"strings"
	"time"

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
	Obs        runtime.Observed
	Flink      flinkView
	Now        time.Time
	// StopProbeGrace is how long a stop waits for a running JobManager's REST API to say
	// whether jobs run before it goes ahead anyway.
	StopProbeGrace time.Duration
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

// decision is what one pass does: record Status and Events, act, requeue.
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
	// RequeueAfter asks for another pass (0: the periodic resync is enough).
	RequeueAfter time.Duration
	// Backoff asks for another pass after the worker's per-cluster exponential backoff
	// (a FAILED cluster is retried, ever more slowly).
	Backoff bool

	// clearRunning records that nothing runs (set by execute, not by decide).
	clearRunning bool
}

// Tunables of decide.
const (
	// crashLoopRestarts is how many restarts make an instance that is down "keeps dying".
	crashLoopRestarts = 3
	requeueHeld       = 5 * time.Second
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
		if chk := spec.CheckChange(running, in.Desired, spec.Phase(in.Recorded.Phase)); !chk.Allowed {
			want = running.DeepCopy()
			want.Spec.State = in.Desired.Spec.State
			n := in.Desired.TaskManagers()
			want.Spec.NumberOfTaskManagers = &n
			refused = chk.String()
		}
	}
	var d decision
	d.Status.Refused = refused
	d.Status.TMDesired = want.TaskManagers()
	d.Status.RESTURL = obs.REST.Display
	if refused != "" && refused != in.Recorded.Refused {
		d.Events = append(d.Events, warning("ChangeRefused", refused))
	}

	if in.Deleted || want.Spec.State == spec.StateStopped {
		decideStop(in, &d)
	} else {
		decideRun(in, want, &d)
	}
	if d.Status.Phase != in.Recorded.Phase {
		d.Events = append(d.Events, phaseEvent(d.Status))
	}
	return d
}

func decideStop(in input, d *decision) {
	obs := in.Obs
	stopping := spec.PhaseStopping
	if in.Deleted {
		stopping = spec.PhaseDeleting
	}
	if !obs.Exists {
		// Nothing runs: done.
		if in.Deleted {
			d.Forget = true
			d.Status.Phase = string(spec.PhaseDeleting)
			d.Events = append(d.Events, normal("Deleted", "spec file removed and nothing left running; cluster forgotten"))
			return
		}
		d.Status = db.Status{Phase: string(spec.PhaseStopped), Refused: d.Status.Refused, TMDesired: d.Status.TMDesired}
		d.clearRunning = true
		return
	}
	d.Status.Phase = string(stopping)
	d.Status.TMReady = readyTaskManagers(obs)
	jmUp := obs.JobManager != nil && obs.JobManager.State == runtime.StateRunning

	if jmUp && in.Flink.answered() && len(in.Flink.Jobs) > 0 {
		// The seed: all jobs must be terminated before the cluster can be stopped.
		d.Status.Message = fmt.Sprintf("stop held: %s; cancel them, or run `flinkctl stop --force %s`",
			describeJobs(in.Flink.Jobs), in.Key.Name)
		if d.Status.Message != in.Recorded.Message {
			d.Events = append(d.Events, warning("StopHeld", d.Status.Message))
		}
		d.RequeueAfter = requeueHeld
		return
	}
	if jmUp && !in.Flink.answered() {
		since := in.Now
		if in.Recorded.Phase == string(stopping) {
			since = in.PhaseSince
		}
		if waited := in.Now.Sub(since); waited < in.StopProbeGrace {
			d.Status.Message = fmt.Sprintf("waiting for the JobManager's REST API to tell whether jobs run (%s)", errText(in.Flink.Err))
			d.RequeueAfter = progressRequeue(in, d.Status.Phase == in.Recorded.Phase)
			return
		}
		d.Events = append(d.Events, warning("StopUnchecked", fmt.Sprintf(
			"the JobManager's REST API did not answer for %s (%s); stopping without knowing whether jobs run",
			in.StopProbeGrace, errText(in.Flink.Err))))
	}
	d.Action = actDelete
	d.Status.Message = "removing the JobManager and TaskManagers"
	if in.Deleted {
		d.Forget = true
		d.DoneEvents = []db.Event{normal("Deleted", "spec file removed; cluster torn down and forgotten")}
		return
	}
	d.Done = db.Status{Phase: string(spec.PhaseStopped), Refused: d.Status.Refused, TMDesired: d.Status.TMDesired}
	d.DoneEvents = []db.Event{normal(phaseReason(spec.PhaseStopped), "JobManager and TaskManagers removed")}
}

func decideRun(in input, want *spec.SessionCluster, d *decision) {
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

	needApply := !obs.Exists || obs.JobManager == nil || obs.Hash != hash || len(obs.TaskManagers) != n
	for _, inst := range allInstances(obs) {
		// Pending covers a container created but never started (an apply cut short by a
		// crash of flinkd): nothing but an apply starts it.
		if inst.Hash != hash || inst.State == runtime.StateExited || inst.State == runtime.StatePending {
			needApply = true
		}
	}
	var removeFirst []string
	if len(obs.TaskManagers) > n {
		jmUp := obs.JobManager != nil && obs.JobManager.State == runtime.StateRunning
		if jmUp && !in.Flink.answered() {
			// Scaling down blindly could pick TaskManagers that run jobs: wait for slot use.
			d.Status.Phase = string(spec.PhaseScaling)
			d.Status.Message = fmt.Sprintf("scale-down to %d waits for the JobManager's REST API to tell which TaskManagers are idle (%s)",
				n, errText(in.Flink.Err))
			d.RequeueAfter = progressRequeue(in, d.Status.Phase == in.Recorded.Phase)
			return
		}
		var busy []string
		removeFirst, busy = removalOrder(obs, in.Flink)
		excess := len(obs.TaskManagers) - n
		msg := fmt.Sprintf("scaling down from %d to %d TaskManagers", len(obs.TaskManagers), n)
		if excess > len(removeFirst) {
			msg += fmt.Sprintf("; only %d idle, so %d busy TaskManager(s) go too and their jobs restart (busy: %s)",
				len(removeFirst), excess-len(removeFirst), strings.Join(busy, ", "))
		} else {
			msg += fmt.Sprintf("; removing idle ones: %s", strings.Join(removeFirst[:excess], ", "))
		}
		if in.Recorded.Phase != string(spec.PhaseScaling) || in.Recorded.TMDesired != n {
			d.Events = append(d.Events, normal("ScalingDown", msg))
		}
	} else if obs.Exists && len(obs.TaskManagers) < n && in.Recorded.TMDesired != n && wasUp(in.Recorded.Phase) {
		d.Events = append(d.Events, normal("ScalingUp", fmt.Sprintf("scaling up from %d to %d TaskManagers", len(obs.TaskManagers), n)))
	}
	if needApply {
		c, err := clusterFor(want, removeFirst)
		if err != nil {
			d.Status.Phase = string(spec.PhaseFailed)
			d.Status.Message = err.Error()
			return
		}
		d.Action = actApply
		d.Cluster = c
	}

	// Instances that will not get healthy without a change make the cluster FAILED; the
	// apply above still runs (level-triggered), but retries follow the worker's backoff.
	if msg, failed := failingInstance(obs); failed {
		d.Status.Phase = string(spec.PhaseFailed)
		d.Status.Message = msg
		d.Backoff = true
		return
	}
	registered := -1
	if in.Flink.answered() {
		registered = in.Flink.Overview.TaskManagers
	}
	switch {
	case !needApply && registered == n && allReady(obs):
		d.Status.Phase = string(spec.PhaseRunning)
		d.Status.Message = fmt.Sprintf("%d/%d TaskManagers registered, %d/%d slots free", registered, n,
			in.Flink.Overview.SlotsAvailable, in.Flink.Overview.SlotsTotal)
	default:
		if wasUp(in.Recorded.Phase) && obs.Exists && obs.Hash == hash {
			d.Status.Phase = string(spec.PhaseScaling)
		} else {
			d.Status.Phase = string(spec.PhaseStarting)
		}
		d.Status.Message = progressMessage(obs, in.Flink, n, needApply)
		d.RequeueAfter = progressRequeue(in, d.Status.Phase == in.Recorded.Phase)
	}
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
	if in.Flink.answered() && in.Flink.Overview.TaskManagers == len(obs.TaskManagers) && allReady(obs) {
		d.Status.Phase = string(spec.PhaseRunning)
		d.Status.Message = fmt.Sprintf("%d/%d TaskManagers registered, %d/%d slots free (adopted as found; see refused)",
			in.Flink.Overview.TaskManagers, len(obs.TaskManagers), in.Flink.Overview.SlotsAvailable, in.Flink.Overview.SlotsTotal)
		return
	}
	d.Status.Phase = string(spec.PhaseStarting)
	d.Status.Message = progressMessage(obs, in.Flink, len(obs.TaskManagers), false) + " (adopted as found; see refused)"
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
// in use), highest ID first in each group; busy ones are returned apart and never listed, so
// a runtime removes them only when nothing else is left.
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
	byIDDesc := func(a, b string) int { return compareIDs(b, a) }
	slices.SortFunc(dead, byIDDesc)
	slices.SortFunc(unregistered, byIDDesc)
	slices.SortFunc(idle, byIDDesc)
	return slices.Concat(dead, unregistered, idle), busy
}

// compareIDs orders instance IDs naturally ("taskmanager-2" before "taskmanager-10").
func compareIDs(a, b string) int {
	pa, na := splitNumber(a)
	pb, nb := splitNumber(b)
	if pa != pb {
		return strings.Compare(pa, pb)
	}
	if na != nb {
		if na < nb {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func splitNumber(s string) (string, int) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == len(s) || len(s)-i > 9 {
		return s, -1
	}
	n := 0
	for _, c := range s[i:] {
		n = n*10 + int(c-'0')
	}
	return s[:i], n
}

func failingInstance(obs runtime.Observed) (string, bool) {
	for _, inst := range allInstances(obs) {
		if inst.Ready {
			continue
		}
		for _, r := range fatalReasons {
			if strings.HasPrefix(inst.Message, r) {
				return fmt.Sprintf("%s: %s", inst.ID, inst.Message), true
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
			if inst.Message != "" {
				msg += ": " + inst.Message
			}
			return msg, true
		}
	}
	if obs.Message != "" && strings.Contains(obs.Message, "ProgressDeadlineExceeded") {
		return obs.Message, true
	}
	return "", false
}

func progressMessage(obs runtime.Observed, fv flinkView, n int, applying bool) string {
	switch {
	case !obs.Exists:
		return "creating the JobManager and TaskManagers"
	case obs.JobManager == nil || obs.JobManager.State != runtime.StateRunning:
		if obs.JobManager != nil && obs.JobManager.Message != "" {
			return "waiting for the JobManager: " + obs.JobManager.Message
		}
		return "waiting for the JobManager to start"
	case !fv.answered():
		return fmt.Sprintf("waiting for the JobManager's REST API (%s)", errText(fv.Err))
	case len(obs.TaskManagers) != n && applying:
		return fmt.Sprintf("%d TaskManagers, want %d", len(obs.TaskManagers), n)
	default:
		msg := fmt.Sprintf("%d/%d TaskManagers registered", fv.Overview.TaskManagers, n)
		for _, tm := range obs.TaskManagers {
			if tm.State == runtime.StateExited {
				msg += fmt.Sprintf("; %s exited (code %d), replacing it", tm.ID, tm.ExitCode)
			}
		}
		return msg
	}
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

func wasUp(phase string) bool {
	return phase == string(spec.PhaseRunning) || phase == string(spec.PhaseScaling)
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
	ev := normal(phaseReason(spec.Phase(st.Phase)), st.Message)
	if st.Phase == string(spec.PhaseFailed) {
		ev.Type = db.Warning
	}
	if ev.Message == "" {
		ev.Message = "phase " + st.Phase
	}
	return ev
}
