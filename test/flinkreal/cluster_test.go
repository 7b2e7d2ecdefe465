package flinkreal

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/flinkd/flinkd/test/flinkbox"
)

// help prints the official usage and exits 0; any other command runs as given (pass-through)
// after the configuration was prepared, as the user flink: 2.2's image runs as USER flink,
// 1.20's starts as root and its entrypoint steps down with gosu.
func TestHelpAndPassThroughRunAsFlink(t *testing.T) {
	for _, line := range []string{"1.20", "2.2"} {
		t.Run(line, func(t *testing.T) {
			s := newScope(t, realImage(t, line))
			code, logs := waitExit(t, s.Start(t, flinkbox.Node{Alias: "help", Cmd: []string{"help"}}))
			if code != 0 || !strings.Contains(logs, "Usage: docker-entrypoint.sh (jobmanager|standalone-job|taskmanager|history-server)") {
				t.Errorf("help: exit code %d, logs:\n%s", code, logs)
			}
			code, logs = waitExit(t, s.Start(t, flinkbox.Node{Alias: "id", Cmd: []string{"id"}}))
			if want := "uid=9999(flink) gid=9999(flink) groups=9999(flink)"; code != 0 || !strings.Contains(logs, want) {
				t.Errorf("pass-through id: exit code %d, logs %q, want %q", code, logs, want)
			}
			code, logs = waitExit(t, s.Start(t, flinkbox.Node{Alias: "conf", Cmd: []string{"cat", "/opt/flink/conf/config.yaml"}}))
			for _, want := range []string{"  rpc:\n    address: ", "blob:\n  server:\n    port: '6124'\n", "query:\n  server:\n    port: '6125'\n"} {
				if code != 0 || !strings.Contains(logs, want) {
					t.Errorf("config.yaml after a pass-through start does not contain %q (exit code %d):\n%s", want, code, logs)
				}
			}
		})
	}
}

// A session cluster of the real image on a user-defined network: the JobManager and two
// TaskManagers find each other by name, a real example job (WindowJoin.jar of
// flink-examples-streaming, uploaded through the REST API) asked for more parallelism than
// there are free slots waits with its tasks SCHEDULED, runs once a third TaskManager brings
// the slots, and a cancel ends it CANCELED.
func TestJobWaitsForSlotsRunsWhenATaskManagerJoinsAndIsCancelled(t *testing.T) {
	for _, line := range []string{"1.20", "2.2"} {
		t.Run(line, func(t *testing.T) {
			s := newScope(t, realImage(t, line))
			props := map[string]string{"FLINK_PROPERTIES": clusterProperties()}
			jm := s.Start(t, flinkbox.Node{Alias: "jobmanager", Cmd: []string{"jobmanager"}, Env: props, REST: true})
			rest := flinkbox.RESTURL(t, jm)
			for _, alias := range []string{"taskmanager-1", "taskmanager-2"} {
				s.Start(t, flinkbox.Node{Alias: alias, Cmd: []string{"taskmanager"}, Env: props})
			}

			if logs := flinkbox.Logs(t, jm); !strings.Contains(logs, " OS current user: flink") {
				t.Errorf("the JobManager does not run as user flink:\n%.2000s", logs)
			}
			o := waitTaskManagers(t, rest, 2, 1)
			if o.SlotsTotal != 2 || o.SlotsAvailable != 2 || o.FlinkVersion == "" {
				t.Errorf("/overview = %+v, want 2 slots, 2 free and a flink-version", o)
			}
			var tms struct {
				TaskManagers []struct {
					ID          string `json:"id"`
					SlotsNumber int    `json:"slotsNumber"`
					FreeSlots   int    `json:"freeSlots"`
				} `json:"taskmanagers"`
			}
			if !getJSON(t, rest+"/taskmanagers", &tms) || len(tms.TaskManagers) != 2 {
				t.Fatalf("/taskmanagers = %+v, want 2", tms)
			}
			for _, tm := range tms.TaskManagers {
				if tm.ID == "" || tm.SlotsNumber != 1 || tm.FreeSlots != 1 {
					t.Errorf("/taskmanagers entry %+v, want an id, 1 slot, 1 free", tm)
				}
			}
			conf := jobManagerConfig(t, rest)
			for key, want := range map[string]string{
				"jobmanager.rpc.address":          "jobmanager",
				"blob.server.port":                "6124",
				"query.server.port":               "6125",
				"jobmanager.memory.process.size":  jobManagerMemory,
				"taskmanager.memory.process.size": taskManagerMemory,
				"jobmanager.bind-host":            "0.0.0.0",
				"rest.address":                    "0.0.0.0",
			} {
				if conf[key] != want {
					t.Errorf("/jobmanager/config %s = %q, want %q", key, conf[key], want)
				}
			}
			if _, ok := conf["taskmanager.host"]; ok {
				t.Errorf("/jobmanager/config has taskmanager.host = %q; the image's build removes it", conf["taskmanager.host"])
			}

			jar := uploadJar(t, jm, rest, "WindowJoin.jar")
			status, data := runJar(t, rest, jar, map[string]any{"parallelism": 3})
			var run struct {
				JobID string `json:"jobid"`
			}
			if status != http.StatusOK || json.Unmarshal(data, &run) != nil || run.JobID == "" {
				t.Fatalf("POST /jars/%s/run = %d %s, want 200 with a jobid", jar, status, data)
			}

			// Parallelism 3 on 2 free slots: the job is RUNNING with no task running, all
			// of them waiting for slots.
			job := func() (state string, tasks map[string]int) {
				var jobs jobsOverview
				if !getJSON(t, rest+"/jobs/overview", &jobs) {
					return "", nil
				}
				for _, j := range jobs.Jobs {
					if j.ID == run.JobID {
						return j.State, j.Tasks
					}
				}
				return "", nil
			}
			var state string
			var tasks map[string]int
			flinkbox.WaitFor(t, startTimeout, "the job's tasks to wait for slots", func() bool {
				state, tasks = job()
				return tasks["total"] > 0 && tasks["scheduled"]+tasks["created"] == tasks["total"]
			})
			t.Logf("waiting for slots: state %s, tasks %v", state, tasks)
			if tasks["running"] != 0 || state != "RUNNING" {
				t.Errorf("job waiting for slots: state %s, tasks %v; want RUNNING with no task running", state, tasks)
			}

			s.Start(t, flinkbox.Node{Alias: "taskmanager-3", Cmd: []string{"taskmanager"}, Env: props})
			waitTaskManagers(t, rest, 3, 1)
			flinkbox.WaitFor(t, startTimeout, "every task to run once the third slot is there", func() bool {
				state, tasks = job()
				return tasks["total"] > 0 && tasks["running"] == tasks["total"]
			})
			t.Logf("running: state %s, tasks %v", state, tasks)

			status, data = flinkbox.Call(t, http.MethodPatch, rest+"/jobs/"+run.JobID+"?mode=cancel", "", nil)
			t.Logf("PATCH /jobs/%s?mode=cancel -> %d %q", run.JobID, status, data)
			if status != http.StatusAccepted {
				t.Fatalf("PATCH /jobs/%s?mode=cancel = %d %s, want 202", run.JobID, status, data)
			}
			flinkbox.WaitFor(t, startTimeout, "the job to end CANCELED", func() bool {
				state, tasks = job()
				return state == "CANCELED"
			})
			if tasks["canceled"] != tasks["total"] {
				t.Errorf("cancelled job's tasks %v, want all canceled", tasks)
			}
			var detail struct {
				State string `json:"state"`
			}
			if !getJSON(t, rest+"/jobs/"+run.JobID, &detail) || detail.State != "CANCELED" {
				t.Errorf("GET /jobs/%s state = %q, want CANCELED", run.JobID, detail.State)
			}
		})
	}
}
