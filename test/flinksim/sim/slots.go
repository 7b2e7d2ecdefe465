package sim

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Slot allocation, as Flink's two streaming schedulers do it. Read from apache/flink
// (flink-runtime):
//
//   - scheduler/DefaultScheduler.java, scheduler/DefaultExecutionDeployer.java: the
//     ExecutionGraph goes RUNNING when scheduling starts; every task goes SCHEDULED and asks
//     for a slot; tasks are deployed (DEPLOYING, INITIALIZING, RUNNING) only once the slots
//     of the whole pipelined region (a streaming job: all of it) are there.
//   - jobmaster/slotpool/DeclarativeSlotPoolBridge.java and the ResourceManager's slot
//     manager: the job declares how many slots it needs and free slots are assigned to it as
//     they appear, so a waiting job holds the slots it got (they are not free any more).
//   - jobmaster/slotpool/PhysicalSlotRequestBulkCheckerImpl.java: a bulk that stays
//     unfulfillable for slot.request.timeout (default 5 min) is cancelled with
//     NoResourceAvailableException "Slot request bulk is not fulfillable! Could not allocate
//     the required slot within slot request timeout"; the restart strategy then applies.
//   - A slot holds one subtask of each vertex of a slot sharing group, so a job needs, per
//     group, as many slots as its largest vertex parallelism (Flink's default: one group).
//   - scheduler/adaptive/WaitingForResources.java, Executing.java (jobmanager.scheduler:
//     adaptive): the job is CREATED with no tasks while it waits for resources; with the
//     desired slots (every vertex at its parallelism) it runs at once, with fewer but enough
//     (one per group) after resource-stabilization-timeout (10 s), with none it fails after
//     resource-wait-timeout (5 min). Running below the desired parallelism it keeps asking
//     for slots and rescales (RESTARTING, then RUNNING wider) once it has more and the
//     cooldown (scaling-interval.min, 30 s) since it started executing has passed.
//   - rest/handler/job/JobResourceRequirementsHandler.java, jobgraph/
//     JobVertexResourceRequirements.java (1.18+): each vertex's {lowerBound, upperBound};
//     the default scheduler cannot answer (SchedulerNG's default throws
//     UnsupportedOperationException: HTTP 500).
//   - messages/webmonitor/JobDetails.java (tasks by state in /jobs/overview),
//     rest/handler/job/JobDetailsHandler.java and rest/messages/job/JobDetailsInfo.java
//     (vertices, their aggregate status, status-counts counting vertices; slotSharingGroupId
//     from 1.20, FLINK-20090), executiongraph/ArchivedExecutionGraph.java (a job without an
//     ExecutionGraph reports its vertices with no tasks).

// Task execution states (Flink's ExecutionState), in Flink's order.
var executionStates = []string{"CREATED", "SCHEDULED", "DEPLOYING", "RUNNING", "FINISHED", "CANCELING", "CANCELED", "FAILED", "RECONCILING", "INITIALIZING"}

// Timings of a deployment: tasks are DEPLOYING, then INITIALIZING, each for this long.
const deployStep = 100 * time.Millisecond

// A vertex of a pretend job.
type vertex struct {
	id, name string
	// parallelism is as submitted: the adaptive scheduler's upper bound.
	parallelism int
	group       string // slot sharing group name
	groupID     string // its ID (32 hex)
	// current is the parallelism the adaptive scheduler runs the vertex with (0 before).
	current int
	// inputs are the vertices this one reads from (indexes in schedule.vertices), with
	// the ship strategy of the edge, for the plan.
	inputs []int
	ship   string
}

// schedule is a job's graph and where its scheduling is.
type schedule struct {
	vertices []vertex
	adaptive bool
	// graph is true while an ExecutionGraph exists (the default scheduler: always; the
	// adaptive one: from the first execution on, not while it waits for resources).
	graph bool
	// waitSince is when the current wait for slots began (zero: not waiting).
	waitSince time.Time
	// deployed is when the tasks were deployed (zero: not deployed).
	deployed time.Time
	// stableSince (adaptive) is since when enough, if not all, slots are there.
	stableSince time.Time
	// executing (adaptive) is when the job last started executing; rescaling marks a
	// restart that only widens the job.
	executing time.Time
	rescaling bool
}

// Adaptive scheduler settings, with the key names of 1.18 and of later releases.
type adaptiveSettings struct {
	stabilization, resourceWait, cooldown time.Duration
}

func (j *JobManager) adaptiveSettings() adaptiveSettings {
	get := func(def time.Duration, keys ...string) time.Duration {
		for _, k := range keys {
			if _, ok := j.effective[k]; ok {
				return durationConf(j.effective, k, def)
			}
		}
		return def
	}
	const p = "jobmanager.adaptive-scheduler."
	return adaptiveSettings{
		stabilization: get(10*time.Second, p+"submission.resource-stabilization-timeout", p+"resource-stabilization-timeout"),
		resourceWait:  get(5*time.Minute, p+"submission.resource-wait-timeout", p+"resource-wait-timeout"),
		cooldown:      get(30*time.Second, p+"executing.cooldown-after-rescaling", p+"scaling-interval.min"),
	}
}

// adaptiveScheduler reports whether jobmanager.scheduler selects the adaptive scheduler.
func (j *JobManager) adaptiveScheduler() bool {
	return strings.EqualFold(strings.TrimSpace(j.effective["jobmanager.scheduler"]), "adaptive")
}

// newSchedule builds a job's graph: a known example program's (program, see jars.go),
// else from its program arguments: each "--vertex NAME[=PARALLELISM][@GROUP]" is a vertex
// (parallelism: the job's; group: "default"); without any, the job is one vertex
// "Source: sim -> Sink: sim".
func (j *JobManager) newSchedule(parallelism int, args []string, program *exampleProgram) (schedule, error) {
	s := schedule{adaptive: j.adaptiveScheduler(), graph: !j.adaptiveScheduler()}
	groups := map[string]string{}
	add := func(name string, p int, group string) {
		if _, ok := groups[group]; !ok {
			groups[group] = newID(16)
		}
		s.vertices = append(s.vertices, vertex{id: newID(16), name: name, parallelism: p, group: group, groupID: groups[group]})
	}
	if program != nil {
		for _, v := range program.vertices {
			p := v.parallelism
			if p == 0 {
				p = parallelism
			}
			add(v.name, p, "default")
			s.vertices[len(s.vertices)-1].inputs, s.vertices[len(s.vertices)-1].ship = v.inputs, v.ship
		}
		return s, nil
	}
	for i := 0; i < len(args); i++ {
		spec, ok := strings.CutPrefix(args[i], "--vertex=")
		if !ok {
			if args[i] != "--vertex" || i+1 >= len(args) {
				continue
			}
			i++
			spec = args[i]
		}
		rest, group, hasGroup := strings.Cut(spec, "@")
		if !hasGroup {
			group = "default"
		}
		name, ps, hasP := strings.Cut(rest, "=")
		p := parallelism
		if hasP {
			n, err := strconv.Atoi(ps)
			if err != nil || n <= 0 {
				return schedule{}, fmt.Errorf("vertex %q: parallelism %q is not a positive number", spec, ps)
			}
			p = n
		}
		if name == "" || group == "" {
			return schedule{}, fmt.Errorf("vertex %q: write NAME[=PARALLELISM][@GROUP]", spec)
		}
		add(name, p, group)
	}
	if len(s.vertices) == 0 {
		add("Source: sim -> Sink: sim", parallelism, "default")
	}
	return s, nil
}

// groupNeeds returns each slot sharing group's slots (its largest vertex parallelism), in the
// order the groups first appear.
func (s *schedule) groupNeeds() ([]string, map[string]int) {
	var order []string
	need := map[string]int{}
	for _, v := range s.vertices {
		if _, ok := need[v.group]; !ok {
			order = append(order, v.group)
		}
		need[v.group] = max(need[v.group], v.parallelism)
	}
	return order, need
}

// need is how many slots the job needs with every vertex at its parallelism.
func (s *schedule) need() int {
	_, need := s.groupNeeds()
	n := 0
	for _, v := range need {
		n += v
	}
	return n
}

// used is how many slots the running tasks take (adaptive: at their current parallelism).
func (s *schedule) used() int {
	if !s.adaptive {
		return s.need()
	}
	used := map[string]int{}
	for _, v := range s.vertices {
		used[v.group] = max(used[v.group], v.current)
	}
	n := 0
	for _, c := range used {
		n += c
	}
	return n
}

// held is how many slots are assigned to jb. j.mu is held.
func (j *JobManager) held(jb *job) int {
	n := 0
	for _, tm := range j.tms {
		n += tm.alloc[jb.id]
	}
	return n
}

// grant assigns up to n free slots to jb, one per TaskManager in turn (ordered by ID), and
// returns how many it assigned. j.mu is held.
func (j *JobManager) grant(jb *job, n int) int {
	ids := slices.Sorted(maps.Keys(j.tms))
	given := 0
	for given < n {
		progress := false
		for _, id := range ids {
			tm := j.tms[id]
			if given < n && tm.used() < tm.slots {
				tm.alloc[jb.id]++
				given++
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	return given
}

// scheduleJob advances a job that is CREATED, RUNNING or RESTARTING (after its restart
// delay) and returns when it must be looked at again (zero: at the next event). j.mu is held.
func (j *JobManager) scheduleJob(jb *job, now time.Time) time.Time {
	if jb.sched.adaptive {
		return j.scheduleAdaptive(jb, now)
	}
	s := &jb.sched
	if jb.state == StateCreated || jb.state == StateRestarting {
		// Scheduling starts: the ExecutionGraph goes RUNNING, every task SCHEDULED.
		s.waitSince, s.deployed = now, time.Time{}
		j.setState(jb, StateRunning, now)
	}
	if jb.state != StateRunning {
		return time.Time{}
	}
	if !s.deployed.IsZero() {
		return deployNext(s.deployed, now)
	}
	need := s.need()
	if held := j.held(jb); held < need && j.grant(jb, need-held)+held < need {
		if !jb.waitLogged {
			jb.waitLogged = true
			j.log.Logger(logSlotPool).Infof("Requesting new slots for job %s: %d slots needed, %d free.", jb.id, need, j.freeSlots())
		}
		deadline := s.waitSince.Add(j.slotRequestTimeout())
		if now.Before(deadline) {
			return deadline
		}
		j.slotRequestTimedOut(jb, now)
		return time.Time{}
	}
	s.waitSince, s.deployed = time.Time{}, now
	jb.waitLogged = false
	return deployNext(s.deployed, now)
}

func deployNext(deployed, now time.Time) time.Time {
	if done := deployed.Add(2 * deployStep); now.Before(done) {
		if mid := deployed.Add(deployStep); now.Before(mid) {
			return mid
		}
		return done
	}
	return time.Time{}
}

func (j *JobManager) slotRequestTimeout() time.Duration {
	return durationConf(j.effective, "slot.request.timeout", 5*time.Minute)
}

// slotRequestTimedOut fails the job's waiting tasks as PhysicalSlotRequestBulkCheckerImpl
// does; the restart strategy decides what follows. j.mu is held.
func (j *JobManager) slotRequestTimedOut(jb *job, now time.Time) {
	const ex = "org.apache.flink.runtime.jobmanager.scheduler.NoResourceAvailableException"
	const msg = "Slot request bulk is not fulfillable! Could not allocate the required slot within slot request timeout"
	v := jb.sched.vertices[0]
	j.log.Logger(logEG).Infof("%s (1/%d) (%s_%s_0_%d) switched from SCHEDULED to FAILED on [unassigned resource].", v.name, v.parallelism, jb.id, v.id, jb.attempt)
	j.log.Logger(logEG).Infof("%s: %s", ex, msg)
	j.failJob(jb, now, exceptionEntry{
		name: ex, message: msg,
		taskName: fmt.Sprintf("%s (1/%d)#%d", v.name, v.parallelism, jb.attempt),
		at:       now,
	})
}

// failJob records an exception and restarts the job after its restart strategy's delay, or
// fails it when the strategy says no more. j.mu is held.
func (j *JobManager) failJob(jb *job, now time.Time, e exceptionEntry) {
	jb.exceptions = append(jb.exceptions, e)
	j.release(jb)
	jb.sched.waitSince, jb.sched.deployed, jb.sched.rescaling = time.Time{}, time.Time{}, false
	jb.waitLogged = false
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

// scheduleAdaptive is scheduleJob for the adaptive scheduler. j.mu is held.
func (j *JobManager) scheduleAdaptive(jb *job, now time.Time) time.Time {
	s := &jb.sched
	set := j.adaptiveSettings()
	desired := s.need()
	switch jb.state {
	case StateRestarting:
		if s.rescaling {
			// A rescale restarts straight into an ExecutionGraph with the slots it has.
			s.rescaling = false
			j.execute(jb, now, j.held(jb))
			return deployNext(s.deployed, now)
		}
		// After a failure the scheduler waits for resources again.
		s.graph, s.waitSince, s.stableSince, s.deployed = false, now, time.Time{}, time.Time{}
		for i := range s.vertices {
			s.vertices[i].current = 0
		}
		j.setState(jb, StateCreated, now)
		fallthrough
	case StateCreated:
		if s.waitSince.IsZero() {
			s.waitSince = now
		}
		held := j.held(jb)
		held += j.grant(jb, desired-held)
		groups, _ := s.groupNeeds()
		sufficient := held >= len(groups) // every vertex at its lower bound, 1
		var next time.Time
		switch {
		case held >= desired:
			j.execute(jb, now, held)
			return deployNext(s.deployed, now)
		case sufficient:
			if s.stableSince.IsZero() {
				s.stableSince = now
			}
			at := s.stableSince.Add(set.stabilization)
			if !now.Before(at) {
				j.execute(jb, now, held)
				return deployNext(s.deployed, now)
			}
			next = at
		default:
			s.stableSince = time.Time{}
		}
		timeout := s.waitSince.Add(set.resourceWait)
		if now.Before(timeout) {
			return earliest(next, timeout)
		}
		if sufficient {
			j.execute(jb, now, held)
			return deployNext(s.deployed, now)
		}
		// The initial resource timeout: an ExecutionGraph without a slot cannot be made.
		const ex = "org.apache.flink.runtime.jobmanager.scheduler.NoResourceAvailableException"
		j.log.Logger(logJobMaster).Infof("Failed to go from CreatingExecutionGraph to Executing because the ExecutionGraph creation failed.")
		jb.exceptions = append(jb.exceptions, exceptionEntry{name: ex, message: "Not enough resources available for scheduling.", at: now})
		j.setState(jb, StateFailed, now)
		return time.Time{}
	case StateRunning:
		next := deployNext(s.deployed, now)
		held := j.held(jb)
		if held < desired {
			held += j.grant(jb, desired-held)
		}
		if held > s.used() {
			if at := s.executing.Add(set.cooldown); now.Before(at) {
				return earliest(next, at)
			}
			j.log.Logger(logJobMaster).Infof("Rescaling job %s: %d slots available, %d in use.", jb.id, held, s.used())
			s.rescaling = true
			jb.deadline = now.Add(cancelDuration)
			j.setState(jb, StateRestarting, now)
			return jb.deadline
		}
		return next
	}
	return time.Time{}
}

// execute creates the ExecutionGraph with the slots the job holds (adaptive): each group
// gets one slot, then the rest in order up to its need; each vertex runs at most at its
// group's share. j.mu is held.
func (j *JobManager) execute(jb *job, now time.Time, slots int) {
	s := &jb.sched
	order, need := s.groupNeeds()
	share := map[string]int{}
	left := slots
	for _, g := range order {
		if left > 0 {
			share[g], left = 1, left-1
		}
	}
	for _, g := range order {
		extra := min(need[g]-share[g], left)
		share[g] += extra
		left -= extra
	}
	for i := range s.vertices {
		s.vertices[i].current = min(s.vertices[i].parallelism, share[s.vertices[i].group])
	}
	s.graph, s.waitSince, s.stableSince, s.deployed, s.executing = true, time.Time{}, time.Time{}, now, now
	j.setState(jb, StateRunning, now)
}

// taskState is the execution state all the job's tasks are in. j.mu is held.
func taskState(jb *job, now time.Time) string {
	s := &jb.sched
	switch jb.state {
	case StateRunning:
		switch {
		case s.deployed.IsZero():
			return "SCHEDULED"
		case now.Before(s.deployed.Add(deployStep)):
			return "DEPLOYING"
		case now.Before(s.deployed.Add(2 * deployStep)):
			return "INITIALIZING"
		}
		return "RUNNING"
	case StateCancelling:
		return "CANCELING"
	case StateCanceled, StateRestarting:
		return "CANCELED"
	case StateFinished:
		return "FINISHED"
	case StateFailed, StateFailing:
		return "FAILED"
	}
	return "CREATED"
}

// tasks is how many tasks a vertex has: none while the adaptive scheduler has no
// ExecutionGraph.
func (s *schedule) tasks(v vertex) int {
	switch {
	case !s.graph:
		return 0
	case s.adaptive:
		return v.current
	}
	return v.parallelism
}

// parallelism is the vertex's parallelism as /jobs/:jobid reports it.
func (s *schedule) parallelism(v vertex) int {
	if s.adaptive && s.graph {
		return v.current
	}
	return v.parallelism
}

// tasksRunning reports whether every task of the job runs (a savepoint needs it).
func tasksRunning(jb *job, now time.Time) bool {
	return jb.state == StateRunning && taskState(jb, now) == "RUNNING"
}

// taskInfo is the "tasks" of the job's /jobs/overview entry: total and every state.
func taskInfo(jb *job, now time.Time) map[string]int {
	st := taskState(jb, now)
	out := map[string]int{"total": 0}
	for _, s := range executionStates {
		out[strings.ToLower(s)] = 0
	}
	for _, v := range jb.sched.vertices {
		n := jb.sched.tasks(v)
		out["total"] += n
		out[strings.ToLower(st)] += n
	}
	return out
}

// vertexInfos are the job's vertices as /jobs/:jobid reports them, and status-counts:
// how many vertices are in each aggregate state.
func (j *JobManager) vertexInfos(jb *job, now time.Time) ([]any, map[string]int) {
	st := taskState(jb, now)
	counts := map[string]int{}
	for _, s := range executionStates {
		counts[s] = 0
	}
	start, end, dur := int64(-1), int64(-1), int64(-1)
	if d := jb.sched.deployed; !d.IsZero() {
		start = d.UnixMilli()
		if terminal(jb.state) {
			end = jb.end.UnixMilli()
			dur = end - start
		} else {
			dur = now.Sub(d).Milliseconds()
		}
	}
	out := make([]any, 0, len(jb.sched.vertices))
	for _, v := range jb.sched.vertices {
		n := jb.sched.tasks(v)
		tasks := map[string]int{}
		for _, s := range executionStates {
			tasks[s] = 0
		}
		tasks[st] = n
		status := aggregateState(tasks, n)
		counts[status]++
		info := map[string]any{
			"id": v.id, "name": v.name, "maxParallelism": 128,
			"parallelism": jb.sched.parallelism(v), "status": status,
			"start-time": start, "end-time": end, "duration": dur,
			"tasks": tasks,
			// IOMetricsInfo, with the accumulated times (JobDetailsInfo, 1.20 and 2.2).
			"metrics": map[string]any{
				"read-bytes": 0, "read-bytes-complete": true, "write-bytes": 0, "write-bytes-complete": true,
				"read-records": 0, "read-records-complete": true, "write-records": 0, "write-records-complete": true,
				"accumulated-backpressured-time": 0, "accumulated-idle-time": 0, "accumulated-busy-time": 0.0,
			},
		}
		if j.version.AtLeast(1, 20) {
			info["slotSharingGroupId"] = v.groupID
		}
		out = append(out, info)
	}
	return out, counts
}

// planNodes are the job plan's nodes (JsonPlanGenerator over JobGraph.getVertices): in the
// order StreamingJobGraphGenerator created the vertices, each chain after the chains it
// feeds (a post-order walk from the sources), with their inputs.
func planNodes(jb *job) []any {
	vs := jb.sched.vertices
	outputs := make([][]int, len(vs))
	for i, v := range vs {
		for _, in := range v.inputs {
			outputs[in] = append(outputs[in], i)
		}
	}
	var order []int
	seen := make([]bool, len(vs))
	var visit func(i int)
	visit = func(i int) {
		seen[i] = true
		for _, o := range outputs[i] {
			if !seen[o] {
				visit(o)
			}
		}
		order = append(order, i)
	}
	for i, v := range vs {
		if len(v.inputs) == 0 && !seen[i] {
			visit(i)
		}
	}
	out := make([]any, 0, len(vs))
	for _, i := range order {
		v := vs[i]
		node := map[string]any{"id": v.id, "parallelism": v.parallelism, "operator": "", "operator_strategy": "",
			"description": strings.ReplaceAll(v.name, ">", "&gt;"), "optimizer_properties": map[string]any{}}
		if len(v.inputs) > 0 {
			var inputs []any
			for n, in := range v.inputs {
				inputs = append(inputs, map[string]any{"num": n, "id": vs[in].id, "ship_strategy": v.ship, "exchange": "pipelined_bounded"})
			}
			node["inputs"] = inputs
		}
		out = append(out, node)
	}
	return out
}

// aggregateState is ExecutionJobVertex.getAggregateJobVertexState.
func aggregateState(tasks map[string]int, parallelism int) string {
	switch {
	case tasks["FAILED"] > 0:
		return "FAILED"
	case tasks["CANCELING"] > 0:
		return "CANCELING"
	case tasks["CANCELED"] > 0:
		return "CANCELED"
	case tasks["INITIALIZING"] > 0:
		return "INITIALIZING"
	case tasks["RUNNING"] > 0:
		return "RUNNING"
	case tasks["FINISHED"] > 0:
		if tasks["FINISHED"] == parallelism {
			return "FINISHED"
		}
		return "RUNNING"
	}
	return "CREATED"
}

// getResourceRequirements is GET /jobs/:jobid/resource-requirements (1.18+).
func (j *JobManager) getResourceRequirements(w http.ResponseWriter, _ *http.Request, p map[string]string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	jb := j.lookupJob(w, p["jobid"])
	if jb == nil {
		return
	}
	if !jb.sched.adaptive {
		// SchedulerNG.requestJobResourceRequirements, thrown in the JobMaster and answered
		// by AbstractHandler as an unhandled exception (flink-dist 1.20.5 and 2.2.1).
		const cause = "java.lang.UnsupportedOperationException: The DefaultScheduler does not support changing the parallelism without a job restart. This feature is currently only expected to work with the AdaptiveScheduler."
		writeErrors(w, http.StatusInternalServerError, "Internal server error.",
			"<Exception on server side:\n"+cause+"\n\tat flink-sim (sim)\n\nEnd of exception on server side>")
		return
	}
	type bounds struct {
		LowerBound int `json:"lowerBound"`
		UpperBound int `json:"upperBound"`
	}
	out := map[string]any{}
	for _, v := range jb.sched.vertices {
		out[v.id] = map[string]bounds{"parallelism": {LowerBound: 1, UpperBound: v.parallelism}}
	}
	writeJSON(w, http.StatusOK, out)
}
