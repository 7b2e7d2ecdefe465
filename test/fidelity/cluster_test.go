package fidelity

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/flinkd/flinkd/test/flinkbox"
)

// clusterProperties are the FLINK_PROPERTIES of the session cluster scenario, as Flink's
// Docker docs configure one (the JobManager's address by name on the network), with two
// TaskManager slots and a JobManager JVM option line with spaces (which the entrypoint
// removes).
func clusterProperties() string {
	return strings.Join([]string{
		"jobmanager.rpc.address: jobmanager",
		"jobmanager.memory.process.size: 1g",
		"taskmanager.memory.process.size: 1200m",
		"taskmanager.numberOfTaskSlots: 2",
		"env.java.opts.jobmanager: -Dfidelity.a=one -Dfidelity.b=two",
	}, "\n")
}

const savepointDir = "file:///tmp/fidelity-savepoints"

// slotsPerTaskManager is taskmanager.numberOfTaskSlots of clusterProperties.
const slotsPerTaskManager = 2

// A session cluster as flinkd runs one, and a real example job (WindowJoin.jar of
// flink-examples-streaming) through its life, compared call by call: the REST fields
// flinkd reads (/overview, /taskmanagers, /jobs/overview with tasks, /jobs/:id,
// /jobmanager/config), the JVM options of a FLINK_PROPERTIES line with spaces, the jar
// upload and run answers, a job with parallelism above the free slots, stop-with-savepoint
// while it waits and once it runs, cancel, and the error answers for unknown jobs, bad ids
// and unknown paths.
func TestSessionClusterAndAJobThroughItsLife(t *testing.T) {
	judge(t, func(t *testing.T, f flavor, r *record) {
		s := newScope(t, f)
		props := map[string]string{"FLINK_PROPERTIES": clusterProperties()}
		jm := s.Start(t, flinkbox.Node{Alias: "jobmanager", Cmd: []string{"jobmanager"}, Env: props, REST: true})
		rest := flinkbox.RESTURL(t, jm)

		r.see("overview, no TaskManager", overviewOf(get(t, rest+"/overview")))
		r.see("JobManager JVM options from FLINK_PROPERTIES", linesWith(containerLogs(t, jm), "-Dfidelity."))
		r.see("/jobmanager/config", configOf(get(t, rest+"/jobmanager/config")))

		s.Start(t, flinkbox.Node{Alias: "taskmanager-1", Cmd: []string{"taskmanager"}, Env: props})
		waitTaskManagers(t, rest, 1)
		r.see("overview, one TaskManager", overviewOf(get(t, rest+"/overview")))
		r.see("/taskmanagers", taskManagersOf(get(t, rest+"/taskmanagers")))

		up := uploadJar(t, f.line, rest, "WindowJoin.jar")
		r.see("upload WindowJoin.jar", answer(up, "status", "filename"))
		jar := up.body.(map[string]any)["filename"].(string)
		jar = jar[strings.LastIndex(jar, "/")+1:]
		r.see("/jars", answer(get(t, rest+"/jars"), "address", "files.0.name", "files.0.entry"))

		// Parallelism 3 with 2 free slots: the job waits for slots.
		run := postJSON(t, rest+"/jars/"+jar+"/run", map[string]any{"parallelism": 3})
		r.see("run at parallelism 3 on 2 free slots", answer(run, "jobid"))
		job := str(field(run.body, "jobid"))
		if job == "" {
			t.Fatalf("POST /jars/:id/run gave no jobid: %d %s", run.status, run.raw)
		}
		r.see("/jobs/overview, waiting for slots", settledJobs(t, f.line, rest, func(j map[string]any) bool { return j["state"] == "RUNNING" }))
		r.see("/jobs/:id, waiting for slots", jobOf(get(t, rest+"/jobs/"+job)))
		r.see("/jobs/:id/resource-requirements (default scheduler)", errorsOf(get(t, rest+"/jobs/"+job+"/resource-requirements")))
		r.see("overview, job waiting", overviewOf(get(t, rest+"/overview")))

		r.see("stop without a savepoint directory", errorsOf(postJSON(t, rest+"/jobs/"+job+"/stop", map[string]any{})))
		stop := postJSON(t, rest+"/jobs/"+job+"/stop", map[string]any{"targetDirectory": savepointDir, "drain": false})
		r.see("stop while waiting for slots", answer(stop, "request-id"))
		r.see("stop while waiting for slots: outcome", savepointOf(t, rest, job, str(field(stop.body, "request-id"))))
		r.see("/jobs/overview after that stop", settledJobs(t, f.line, rest, func(map[string]any) bool { return true }))

		s.Start(t, flinkbox.Node{Alias: "taskmanager-2", Cmd: []string{"taskmanager"}, Env: props})
		waitTaskManagers(t, rest, 2)
		r.see("/jobs/overview, running", settledJobs(t, f.line, rest, allTasks(job, "running")))
		r.see("overview, job running", overviewOf(get(t, rest+"/overview")))
		r.see("/jobs/:id, running", jobOf(get(t, rest+"/jobs/"+job)))

		stop = postJSON(t, rest+"/jobs/"+job+"/stop", map[string]any{"targetDirectory": savepointDir, "drain": false})
		r.see("stop while running", answer(stop, "request-id"))
		r.see("stop while running: outcome", savepointOf(t, rest, job, str(field(stop.body, "request-id"))))
		r.see("/jobs/overview, stopped", settledJobs(t, f.line, rest, func(j map[string]any) bool { return j["state"] == "FINISHED" }))
		r.see("cancel a stopped job", answerOrErrors(call(t, http.MethodPatch, rest+"/jobs/"+job+"?mode=cancel", "", nil)))

		run = postJSON(t, rest+"/jars/"+jar+"/run", map[string]any{"parallelism": 2})
		r.see("run at parallelism 2", answer(run, "jobid"))
		second := str(field(run.body, "jobid"))
		r.see("/jobs/overview, second job running", settledJobs(t, f.line, rest, allTasks(second, "running")))
		r.see("cancel", answerOrErrors(call(t, http.MethodPatch, rest+"/jobs/"+second+"?mode=cancel", "", nil)))
		r.see("/jobs/overview, cancelled", settledJobs(t, f.line, rest, func(j map[string]any) bool { return j["jid"] != second || j["state"] == "CANCELED" }))
		r.see("cancel a cancelled job", answerOrErrors(call(t, http.MethodPatch, rest+"/jobs/"+second+"?mode=cancel", "", nil)))
		r.see("overview, both jobs ended", overviewOf(get(t, rest+"/overview")))

		const unknown = "0123456789abcdef0123456789abcdef"
		r.see("cancel an unknown job", answerOrErrors(call(t, http.MethodPatch, rest+"/jobs/"+unknown+"?mode=cancel", "", nil)))
		stop = postJSON(t, rest+"/jobs/"+unknown+"/stop", map[string]any{"targetDirectory": savepointDir})
		r.see("stop an unknown job", answerOrErrors(stop))
		if id := str(field(stop.body, "request-id")); id != "" {
			r.see("stop an unknown job: outcome", savepointOf(t, rest, unknown, id))
		}
		r.see("GET an unknown job", errorsOf(get(t, rest+"/jobs/"+unknown)))
		r.see("cancel with a bad job id", errorsOf(call(t, http.MethodPatch, rest+"/jobs/xyz?mode=cancel", "", nil)))
		r.see("GET an unknown path", errorsOf(get(t, rest+"/no-such-path")))
		r.see("a known path with another method", errorsOf(call(t, http.MethodDelete, rest+"/overview", "", nil)))
	})
}

// waitTaskManagers waits until n TaskManagers are registered and have reported their
// slots: Flink counts a TaskManager a moment before its slot report arrives (taskmanagers 1,
// slots-total 0), which the stand-in does not model (see doc.go).
func waitTaskManagers(t *testing.T, rest string, n int) {
	t.Helper()
	flinkbox.WaitFor(t, startTimeout, fmt.Sprintf("%d TaskManagers with their slots in %s/overview", n, rest), func() bool {
		o := get(t, rest+"/overview").body
		return field(o, "taskmanagers") == float64(n) && field(o, "slots-total") == float64(n*slotsPerTaskManager)
	})
}

// answer is a REST answer as compared: its status, its shape, and the named values
// (dotted paths, array indexes as numbers), normalised.
func answer(r reply, values ...string) map[string]any {
	out := map[string]any{"status": r.status, "shape": shape(r.body)}
	for _, p := range values {
		out[p] = normValue(field(r.body, dotted(p)...))
	}
	return out
}

// answerOrErrors is answer for a success, errorsOf for a Flink error body.
func answerOrErrors(r reply) map[string]any {
	if _, ok := field(r.body, "errors").([]any); ok {
		return errorsOf(r)
	}
	return answer(r)
}

func dotted(p string) []any {
	var out []any
	for _, s := range strings.Split(p, ".") {
		var n int
		if _, err := fmt.Sscanf(s, "%d", &n); err == nil && fmt.Sprint(n) == s {
			out = append(out, n)
		} else {
			out = append(out, s)
		}
	}
	return out
}

func overviewOf(r reply) map[string]any {
	out := answer(r, "taskmanagers", "slots-total", "slots-available", "jobs-running", "jobs-finished", "jobs-cancelled", "jobs-failed")
	out["flink-version"] = version(field(r.body, "flink-version"))
	return out
}

// configOf is /jobmanager/config as compared: every "key: value", normalised, unordered.
func configOf(r reply) map[string]any {
	var entries []string
	list, _ := r.body.([]any)
	for _, e := range list {
		entries = append(entries, normText(str(field(e, "key")))+": "+configValue(str(field(e, "value"))))
	}
	return map[string]any{"status": r.status, "entries": unordered(entries)}
}

func taskManagersOf(r reply) map[string]any {
	var tms []string
	list, _ := field(r.body, "taskmanagers").([]any)
	for _, tm := range list {
		m := map[string]any{"shape": shape(tm)}
		for _, k := range []string{"id", "path", "slotsNumber", "freeSlots", "jmxPort", "totalResource", "freeResource", "memoryConfiguration"} {
			m[k] = normValue(field(tm, k))
		}
		m["hardware.cpuCores"] = field(tm, "hardware", "cpuCores")
		m["timeSinceLastHeartbeat"] = lastHeartbeat(field(tm, "timeSinceLastHeartbeat"))
		tms = append(tms, fmt.Sprint(m))
	}
	return map[string]any{"status": r.status, "taskmanagers": unordered(tms)}
}

// jobEntry is one /jobs/overview entry as compared.
func jobEntry(j any) map[string]any {
	out := map[string]any{"shape": shape(j)}
	for _, k := range []string{"jid", "name", "state", "tasks", "pending-operators"} {
		out[k] = normValue(field(j, k))
	}
	for _, k := range []string{"start-time", "end-time", "last-modification"} {
		out[k] = epoch(field(j, k))
	}
	return out
}

// settledJobs waits until every job of /jobs/overview satisfies ready and the answer has
// settled, and returns it as compared.
func settledJobs(t *testing.T, line, rest string, ready func(map[string]any) bool) map[string]any {
	t.Helper()
	return settled(t, "/jobs/overview", func() (map[string]any, bool) {
		r := get(t, rest+"/jobs/overview")
		list, _ := field(r.body, "jobs").([]any)
		ok := r.status == http.StatusOK && len(list) > 0
		var jobs []any
		for _, j := range list {
			m, _ := j.(map[string]any)
			ok = ok && ready(m)
			jobs = append(jobs, jobEntry(j))
		}
		return map[string]any{"status": r.status, "jobs": jobsInOrder(line, jobs)}, ok
	})
}

// allTasks is ready when every task of the job is in state (other jobs do not matter).
func allTasks(job, state string) func(map[string]any) bool {
	return func(j map[string]any) bool {
		if j["jid"] != job {
			return true
		}
		total, _ := field(j, "tasks", "total").(float64)
		n, _ := field(j, "tasks", state).(float64)
		return total > 0 && n == total
	}
}

// jobOf is GET /jobs/:id as compared: its shape, the job's values, and each vertex.
func jobOf(r reply) map[string]any {
	out := answer(r, "jid", "name", "isStoppable", "state", "job-type", "maxParallelism", "status-counts", "pending-operators")
	ts, _ := field(r.body, "timestamps").(map[string]any)
	stamps := map[string]any{}
	for k, v := range ts {
		stamps[k] = epoch(v)
	}
	out["timestamps"] = stamps
	var vertices []any
	list, _ := field(r.body, "vertices").([]any)
	for _, v := range list {
		m := map[string]any{}
		for _, k := range []string{"id", "slotSharingGroupId", "name", "maxParallelism", "parallelism", "status", "tasks"} {
			m[k] = normValue(field(v, k))
		}
		vertices = append(vertices, m)
	}
	out["vertices"] = vertices
	return out
}

// savepointOf waits for a savepoint operation to complete and returns its outcome as
// compared: the status, the location, or the failure's class and exception chain.
func savepointOf(t *testing.T, rest, job, trigger string) map[string]any {
	t.Helper()
	if trigger == "" {
		t.Fatalf("no request-id to follow")
	}
	return settled(t, "the savepoint operation", func() (map[string]any, bool) {
		r := get(t, rest+"/jobs/"+job+"/savepoints/"+trigger)
		out := answer(r, "status.id", "operation.location", "operation.failure-cause.class")
		out["failure"] = causes(str(field(r.body, "operation", "failure-cause", "stack-trace")))
		return out, field(r.body, "status", "id") == "COMPLETED"
	})
}
