package sim

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func sortedKeys(m map[string]any) []string {
	k := keys(m)
	slices.Sort(k)
	return k
}

func wantKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	slices.Sort(want)
	if diff := cmp.Diff(want, sortedKeys(m)); diff != "" {
		t.Errorf("%s keys (-want +got):\n%s", what, diff)
	}
}

func TestOverviewAndConfigUseFlinksWireNames(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{"web.cancel.enable": "false"}))
	o := c.overview(t)
	wantKeys(t, "/overview", o, "taskmanagers", "slots-total", "slots-available", "jobs-running",
		"jobs-finished", "jobs-cancelled", "jobs-failed", "flink-version", "flink-commit")
	if o["flink-version"] != "1.20.0" {
		t.Errorf("flink-version = %v, want 1.20.0", o["flink-version"])
	}
	cfg := obj(t, getJSON(t, c.rest+"/config", 200))
	wantKeys(t, "/config", cfg, "refresh-interval", "timezone-name", "timezone-offset", "flink-version", "flink-revision", "features")
	if f := obj(t, cfg["features"]); f["web-submit"] != true || f["web-cancel"] != false {
		t.Errorf("features = %v, want web-submit true and web-cancel false", f)
	}
}

func TestJobManagerConfigReportsTheEffectiveConfigurationWithSecretsHidden(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{"s3.secret-key": "hush", "fs.s3a.access.key": "AKIA", "pipeline.name": "x",
		"metrics.reporter.x.http-headers": "a", "custom.api-key": "k", "fs.azure.account.key.acct.blob.core.windows.net": "z",
		"s3.access.token": "t", "security.ssl.keystore-password": "p", "datadog.apikey": "d"}))
	got := map[string]string{}
	for _, e := range arr(t, getJSON(t, c.rest+"/jobmanager/config", 200)) {
		kv := obj(t, e)
		wantKeys(t, "config entry", kv, "key", "value")
		got[kv["key"].(string)] = kv["value"].(string)
	}
	for k, want := range map[string]string{
		// GlobalConfiguration.SENSITIVE_KEYS of 1.20: "key" alone is not one (api-key is 2.x's).
		"jobmanager.rpc.address": "jm.test", "pipeline.name": "x", "s3.secret-key": "******", "fs.s3a.access.key": "AKIA",
		"metrics.reporter.x.http-headers": "******", "custom.api-key": "k", "fs.azure.account.key.acct.blob.core.windows.net": "******",
		"s3.access.token": "******", "security.ssl.keystore-password": "******", "datadog.apikey": "******",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if !strings.HasPrefix(got["web.tmpdir"], "/tmp/flink-web-") {
		t.Errorf("web.tmpdir = %q, want the JobManager's default", got["web.tmpdir"])
	}
}

func TestSensitiveKeysFollowTheVersion(t *testing.T) {
	for _, tc := range []struct {
		v    Version
		key  string
		want bool
	}{
		{Version{1, 18}, "metrics.reporter.x.http-headers", false},
		{Version{1, 20}, "metrics.reporter.x.http-headers", true},
		{Version{1, 20}, "custom.api-key", false},
		{Version{2, 2}, "custom.api-key", true},
		{Version{2, 2}, "fs.s3a.access.key", false},
		{Version{2, 2}, "S3.SECRET-KEY", true},
		{Version{1, 18}, "security.kerberos.login.jaas.config", true},
		{Version{1, 18}, "rest.basic-auth.x", true},
		{Version{1, 18}, "gcs.service-key", true},
		{Version{1, 18}, "pulsar.auth-params", true},
	} {
		if got := Sensitive(tc.v, tc.key); got != tc.want {
			t.Errorf("Sensitive(%s, %q) = %v, want %v", tc.v, tc.key, got, tc.want)
		}
	}
}

func TestTaskManagersReportSlotsResourcesAndAllocations(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	c.addTaskManager(t, "tm-a", 2, nil)
	c.waitTaskManagers(t, 1)
	tm := obj(t, arr(t, obj(t, getJSON(t, c.rest+"/taskmanagers", 200))["taskmanagers"])[0])
	wantKeys(t, "taskmanager", tm, "id", "path", "dataPort", "jmxPort", "timeSinceLastHeartbeat", "slotsNumber",
		"freeSlots", "totalResource", "freeResource", "hardware", "memoryConfiguration")
	if tm["slotsNumber"] != float64(2) || tm["freeSlots"] != float64(2) || !strings.HasPrefix(tm["path"].(string), "pekko.tcp://flink@127.0.0.1:") {
		t.Errorf("taskmanager = %v", tm)
	}
	wantKeys(t, "totalResource", obj(t, tm["totalResource"]), "cpuCores", "taskHeapMemory", "taskOffHeapMemory", "managedMemory", "networkMemory", "extendedResources")
	wantKeys(t, "hardware", obj(t, tm["hardware"]), "cpuCores", "physicalMemory", "freeMemory", "managedMemory")
	wantKeys(t, "memoryConfiguration", obj(t, tm["memoryConfiguration"]), "frameworkHeap", "taskHeap", "frameworkOffHeap",
		"taskOffHeap", "networkMemory", "managedMemory", "jvmMetaspace", "jvmOverhead", "totalFlinkMemory", "totalProcessMemory")
	// The epoch millis of the last heartbeat: 0 before the first one (flink-dist 1.20.5 and
	// 2.2.1 show 0 right after the registration), then a moment ago.
	waitFor(t, 10*time.Second, "a heartbeat", func() bool {
		tm = obj(t, arr(t, obj(t, getJSON(t, c.rest+"/taskmanagers", 200))["taskmanagers"])[0])
		return tm["timeSinceLastHeartbeat"].(float64) != 0
	})
	if hb := int64(tm["timeSinceLastHeartbeat"].(float64)); time.Since(time.UnixMilli(hb)) > time.Minute {
		t.Errorf("timeSinceLastHeartbeat = %d is not the time of a recent heartbeat", hb)
	}

	jobID := runJob(t, c, 1)
	waitJobState(t, c, jobID, StateRunning)
	detail := obj(t, getJSON(t, c.rest+"/taskmanagers/tm-a", 200))
	slots := arr(t, detail["allocatedSlots"])
	if len(slots) != 1 || obj(t, slots[0])["jobId"] != jobID || detail["freeSlots"] != float64(1) {
		t.Errorf("detail allocatedSlots = %v, freeSlots = %v; want one slot of %s", slots, detail["freeSlots"], jobID)
	}
	if _, ok := detail["metrics"]; !ok {
		t.Error("detail lacks metrics")
	}
	e := obj(t, getJSON(t, c.rest+"/taskmanagers/nope", 404))
	if diff := cmp.Diff([]any{"Could not find TaskExecutor nope."}, e["errors"]); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestUnknownPathsWrongMethodsAndUnknownJobsGetFlinksStatusCodes(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	for _, tc := range []struct {
		method, path string
		code         int
		errs         []any
	}{
		// A GET no REST route takes goes to the web UI's file handler (flink-dist 1.20.5 and
		// 2.2.1: "Unable to load requested file /no-such-path.").
		{"GET", "/x", 404, []any{"Unable to load requested file /x."}},
		{"GET", "/x?y=1", 404, []any{"Unable to load requested file /x."}},
		// Flink's router has no 405: a known path with another method is not found either.
		{"POST", "/overview", 404, []any{"Not found: /overview"}},
		{"DELETE", "/jobs/overview", 404, []any{"Not found: /jobs/overview"}},
		{"GET", "/jobs/0123456789abcdef0123456789abcdef", 404, []any{"org.apache.flink.runtime.rest.NotFoundException: Job 0123456789abcdef0123456789abcdef not found"}},
		{"PATCH", "/jobs/0123456789abcdef0123456789abcdef?mode=cancel", 404, nil},
		{"GET", "/jobs/nothex", 400, []any{`org.apache.flink.runtime.rest.handler.RestHandlerException: Bad request, could not parse parameters: Cannot resolve path parameter (jobid) from value "nothex".`}},
		{"POST", "/jars/0000_x.jar/run", 400, nil},
	} {
		v := doJSON(t, tc.method, c.rest+tc.path, "", tc.code)
		if tc.errs == nil {
			if _, ok := obj(t, v)["errors"]; !ok {
				t.Errorf("%s %s: no errors field in %v", tc.method, tc.path, v)
			}
			continue
		}
		// The first line of each error: a RestHandlerException's frames follow it.
		var heads []any
		for _, e := range obj(t, v)["errors"].([]any) {
			head, _, _ := strings.Cut(e.(string), "\n")
			heads = append(heads, head)
		}
		if diff := cmp.Diff(tc.errs, heads); diff != "" {
			t.Errorf("%s %s errors (-want +got):\n%s", tc.method, tc.path, diff)
		}
	}
	// The /v1 prefix selects the same API.
	wantKeys(t, "/v1/overview", obj(t, getJSON(t, c.rest+"/v1/overview", 200)), "taskmanagers", "slots-total", "slots-available",
		"jobs-running", "jobs-finished", "jobs-cancelled", "jobs-failed", "flink-version", "flink-commit")
}

// upload posts a multipart jar upload and returns the status and decoded body.
func upload(t *testing.T, c *testCluster, files map[string]string) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for field, name := range files {
		fw, err := mw.CreateFormFile(field, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write([]byte("PK\x03\x04 not really a jar")); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	code, data := call(t, http.MethodPost, c.rest+"/jars/upload", &body, mw.FormDataContentType())
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("upload answer %s: %v", data, err)
	}
	return code, m
}

func uploadJar(t *testing.T, c *testCluster) string {
	t.Helper()
	code, m := upload(t, c, map[string]string{"jarfile": "wordcount.jar"})
	if code != 200 || m["status"] != "success" {
		t.Fatalf("upload: %d %v", code, m)
	}
	name := m["filename"].(string)
	return name[strings.LastIndex(name, "/")+1:]
}

func runJob(t *testing.T, c *testCluster, parallelism int) string {
	t.Helper()
	jar := uploadJar(t, c)
	body := `{"entryClass":"org.example.WordCount","programArgs":"--name wordcount","parallelism":` + strconv.Itoa(parallelism) + `}`
	m := obj(t, doJSON(t, http.MethodPost, c.rest+"/jars/"+jar+"/run", body, 200))
	id, _ := m["jobid"].(string)
	if !hex32.MatchString(id) {
		t.Fatalf("jobid %q is not 32 hex", id)
	}
	return id
}

func jobState(t *testing.T, c *testCluster, id string) string {
	t.Helper()
	s, _ := obj(t, getJSON(t, c.rest+"/jobs/"+id, 200))["state"].(string)
	return s
}

func waitJobState(t *testing.T, c *testCluster, id, state string) {
	t.Helper()
	waitFor(t, 10*time.Second, "job "+id+" "+state, func() bool { return jobState(t, c, id) == state })
}

func TestUploadedJarRunsAsAJobOnTaskManagerSlots(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	c.addTaskManager(t, "tm-a", 2, nil)
	c.addTaskManager(t, "tm-b", 2, nil)
	c.waitTaskManagers(t, 2)

	code, m := upload(t, c, map[string]string{"jarfile": "wordcount.jar"})
	if code != 200 || !regexpMatch(`^/tmp/flink-web-[0-9a-f-]{36}/flink-web-upload/[0-9a-f-]{36}_wordcount\.jar$`, m["filename"].(string)) || m["status"] != "success" {
		t.Fatalf("upload = %d %v", code, m)
	}
	jars := obj(t, getJSON(t, c.rest+"/jars", 200))
	files := arr(t, jars["files"])
	if len(files) != 1 || obj(t, files[0])["name"] != "wordcount.jar" {
		t.Errorf("/jars files = %v", files)
	}
	jarID := obj(t, files[0])["id"].(string)

	run := obj(t, doJSON(t, http.MethodPost, c.rest+"/jars/"+jarID+"/run", `{"parallelism":3,"programArgsList":["--name","wc"]}`, 200))
	id := run["jobid"].(string)
	waitJobState(t, c, id, StateRunning)
	waitTasks(t, c, id, "running", 3)

	if o := c.overview(t); o["slots-available"] != float64(1) || o["jobs-running"] != float64(1) {
		t.Errorf("overview = %v, want 1 slot available and 1 job running", o)
	}
	jobs := arr(t, obj(t, getJSON(t, c.rest+"/jobs", 200))["jobs"])
	if diff := cmp.Diff([]any{map[string]any{"id": id, "status": "RUNNING"}}, jobs); diff != "" {
		t.Errorf("/jobs (-want +got):\n%s", diff)
	}
	ov := obj(t, arr(t, obj(t, getJSON(t, c.rest+"/jobs/overview", 200))["jobs"])[0])
	wantKeys(t, "/jobs/overview job", ov, "jid", "name", "state", "start-time", "end-time", "duration", "last-modification", "tasks")
	if ov["jid"] != id || ov["name"] != "wc" || ov["end-time"] != float64(-1) {
		t.Errorf("job overview = %v", ov)
	}
	tasks := obj(t, ov["tasks"])
	if tasks["total"] != float64(3) || tasks["running"] != float64(3) {
		t.Errorf("tasks = %v, want 3 total and running", tasks)
	}
	detail := obj(t, getJSON(t, c.rest+"/jobs/"+id, 200))
	for _, k := range []string{"jid", "name", "isStoppable", "state", "start-time", "end-time", "duration", "now", "timestamps", "vertices", "status-counts", "plan"} {
		if _, ok := detail[k]; !ok {
			t.Errorf("/jobs/:id lacks %s", k)
		}
	}
	if obj(t, detail["timestamps"])["RUNNING"] == float64(0) {
		t.Error("timestamps.RUNNING not set")
	}
	// Slots are spread over the TaskManagers.
	for _, tmv := range arr(t, obj(t, getJSON(t, c.rest+"/taskmanagers", 200))["taskmanagers"]) {
		if free := obj(t, tmv)["freeSlots"]; free == float64(2) {
			t.Errorf("TaskManager %v holds no slot of the job", obj(t, tmv)["id"])
		}
	}
	if status := obj(t, getJSON(t, c.rest+"/jobs/"+id+"/status", 200)); status["status"] != "RUNNING" {
		t.Errorf("/jobs/:id/status = %v", status)
	}
}

func TestJobRestartsOnAnotherTaskManagerWhenItsTaskManagerVanishes(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{"heartbeat.timeout": "2 s"}))
	tmA, _ := c.addTaskManager(t, "tm-a", 1, nil)
	c.waitTaskManagers(t, 1)
	id := runJob(t, c, 1)
	waitJobState(t, c, id, StateRunning)
	c.addTaskManager(t, "tm-b", 1, nil)
	c.waitTaskManagers(t, 2)

	tmA.Kill()
	waitFor(t, 10*time.Second, "an exception history entry", func() bool {
		h := obj(t, obj(t, getJSON(t, c.rest+"/jobs/"+id+"/exceptions", 200))["exceptionHistory"])
		return len(arr(t, h["entries"])) >= 1
	})
	waitJobState(t, c, id, StateRunning)
	ex := obj(t, getJSON(t, c.rest+"/jobs/"+id+"/exceptions", 200))
	entries := arr(t, obj(t, ex["exceptionHistory"])["entries"])
	entry := obj(t, entries[len(entries)-1]) // newest first: the last is the first failure
	if entry["exceptionName"] != "java.util.concurrent.TimeoutException" || entry["taskManagerId"] != "tm-a" ||
		!strings.Contains(entry["stacktrace"].(string), "The heartbeat of TaskManager with id tm-a timed out.") {
		t.Errorf("exception entry = %v", entry)
	}
	detail := obj(t, getJSON(t, c.rest+"/jobs/"+id, 200))
	if obj(t, detail["timestamps"])["RESTARTING"] == float64(0) {
		t.Error("the job never went RESTARTING")
	}
	tmb := obj(t, getJSON(t, c.rest+"/taskmanagers/tm-b", 200))
	if slots := arr(t, tmb["allocatedSlots"]); len(slots) != 1 {
		t.Errorf("tm-b allocatedSlots = %v, want the restarted job's slot", slots)
	}
}

func TestJobFailsWhenRestartsAreOff(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{"restart-strategy.type": "none"}))
	tmA, _ := c.addTaskManager(t, "tm-a", 1, nil)
	c.waitTaskManagers(t, 1)
	id := runJob(t, c, 1)
	waitJobState(t, c, id, StateRunning)
	if err := tmA.Close(); err != nil {
		t.Fatal(err)
	}
	waitJobState(t, c, id, StateFailed)
	if o := c.overview(t); o["jobs-failed"] != float64(1) || o["jobs-running"] != float64(0) {
		t.Errorf("overview = %v", o)
	}
}

func TestCancelAnswers202AndTheJobGoesCancellingThenCanceled(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	c.addTaskManager(t, "tm-a", 1, nil)
	c.waitTaskManagers(t, 1)
	id := runJob(t, c, 1)
	waitJobState(t, c, id, StateRunning)
	code, body := call(t, http.MethodPatch, c.rest+"/jobs/"+id+"?mode=cancel", nil, "")
	if code != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", code, body)
	}
	if s := jobState(t, c, id); s != StateCancelling && s != StateCanceled {
		t.Errorf("state right after cancel = %s", s)
	}
	waitJobState(t, c, id, StateCanceled)
	if o := c.overview(t); o["slots-available"] != float64(1) || o["jobs-cancelled"] != float64(1) {
		t.Errorf("overview after cancel = %v", o)
	}
	// Cancelling a job that ended CANCELED is acknowledged again (Dispatcher.cancelJob);
	// the removed mode "stop" is a permanent redirect (flink-dist 1.20.5 and 2.2.1).
	doJSON(t, http.MethodPatch, c.rest+"/jobs/"+id+"?mode=cancel", "", http.StatusAccepted)
	doJSON(t, http.MethodPatch, c.rest+"/jobs/"+id+"?mode=stop", "", http.StatusPermanentRedirect)
}

func TestStopWithSavepointAnswers202AndIsPollableUntilTheJobFinishes(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	c.addTaskManager(t, "tm-a", 1, nil)
	c.waitTaskManagers(t, 1)
	id := runJob(t, c, 1)
	waitJobState(t, c, id, StateRunning)

	// Without a target directory and without a configured default Flink refuses.
	e := obj(t, doJSON(t, http.MethodPost, c.rest+"/jobs/"+id+"/stop", `{"drain":false}`, http.StatusBadRequest))
	if errs, _ := e["errors"].([]any); len(errs) != 1 || !strings.HasPrefix(errs[0].(string),
		"org.apache.flink.runtime.rest.handler.RestHandlerException: Config key [execution.checkpointing.savepoint-dir] is not set. Property [targetDirectory] must be provided.\n") {
		t.Errorf("errors = %q, want the RestHandlerException", e["errors"])
	}

	r := obj(t, doJSON(t, http.MethodPost, c.rest+"/jobs/"+id+"/stop", `{"targetDirectory":"/savepoints","drain":false}`, http.StatusAccepted))
	trigger, _ := r["request-id"].(string)
	if !hex32.MatchString(trigger) {
		t.Fatalf("request-id %q is not 32 hex", trigger)
	}
	first := obj(t, getJSON(t, c.rest+"/jobs/"+id+"/savepoints/"+trigger, 200))
	if obj(t, first["status"])["id"] != "IN_PROGRESS" {
		t.Errorf("first poll = %v, want IN_PROGRESS", first)
	}
	var done map[string]any
	waitFor(t, 10*time.Second, "savepoint COMPLETED", func() bool {
		done = obj(t, getJSON(t, c.rest+"/jobs/"+id+"/savepoints/"+trigger, 200))
		return obj(t, done["status"])["id"] == "COMPLETED"
	})
	loc, _ := obj(t, done["operation"])["location"].(string)
	if !regexpMatch(`^file:/savepoints/savepoint-`+id[:6]+`-[0-9a-f]{12}$`, loc) {
		t.Errorf("location = %q", loc)
	}
	waitJobState(t, c, id, StateFinished)
	if free := c.overview(t)["slots-available"]; free != float64(1) {
		t.Errorf("slots-available after stop = %v, want 1", free)
	}
	doJSON(t, http.MethodGet, c.rest+"/jobs/"+id+"/savepoints/"+strings.Repeat("0", 32), "", http.StatusNotFound)
}

func TestSavepointOfAJobThatIsNotRunningFails(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{"state.savepoints.dir": "s3://b/sp"}))
	id := runJob(t, c, 1) // no TaskManager: its task waits in SCHEDULED
	waitTasks(t, c, id, "scheduled", 1)
	r := obj(t, doJSON(t, http.MethodPost, c.rest+"/jobs/"+id+"/savepoints", `{"cancel-job":false}`, http.StatusAccepted))
	trigger := r["request-id"].(string)
	var done map[string]any
	waitFor(t, 10*time.Second, "savepoint COMPLETED", func() bool {
		done = obj(t, getJSON(t, c.rest+"/jobs/"+id+"/savepoints/"+trigger, 200))
		return obj(t, done["status"])["id"] == "COMPLETED"
	})
	cause := obj(t, obj(t, done["operation"])["failure-cause"])
	if trace, _ := cause["stack-trace"].(string); cause["class"] != "java.util.concurrent.CompletionException" ||
		!strings.Contains(trace, "\nCaused by: org.apache.flink.runtime.checkpoint.CheckpointException: Checkpoint triggering task ") {
		t.Errorf("failure-cause = %v", cause)
	}
}

func TestJarUploadAcceptsExactlyOneJarFile(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	if code, m := upload(t, c, map[string]string{"jarfile": "notes.txt"}); code != 400 || !strings.Contains(m["errors"].([]any)[0].(string), "Only Jar files are allowed.") {
		t.Errorf("non-jar upload = %d %v", code, m)
	}
	if code, m := upload(t, c, map[string]string{"a": "a.jar", "b": "b.jar"}); code != 400 || !strings.Contains(m["errors"].([]any)[0].(string), "Exactly 1 file must be sent, received 2.") {
		t.Errorf("two-file upload = %d %v", code, m)
	}
	doJSON(t, http.MethodPost, c.rest+"/jars/upload", `{}`, http.StatusBadRequest)
}

func TestJarEndpointsDoNotExistWhenWebSubmitIsDisabled(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{"web.submit.enable": "false"}))
	code, m := upload(t, c, map[string]string{"jarfile": "a.jar"})
	if code != 404 || m["errors"].([]any)[0] != "Not found: /jars/upload" {
		t.Errorf("upload with web.submit.enable false = %d %v", code, m)
	}
}

func TestDeleteClusterShutsTheJobManagerDown(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	doJSON(t, http.MethodDelete, c.rest+"/cluster", "", 200)
	select {
	case <-c.jm.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("JobManager still running after DELETE /cluster")
	}
}

func TestClosingAClusterLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		log := &syncBuffer{}
		jm, err := StartJobManager(t.Context(), JobManagerConfig{Config: testConf(nil), RPCAddr: "127.0.0.1:0", RESTAddr: "127.0.0.1:0", Log: log})
		if err != nil {
			t.Fatal(err)
		}
		c := &testCluster{jm: jm, log: log, conf: testConf(nil), rest: jm.RESTURL()}
		var tms []*TaskManager
		for _, id := range []string{"a", "b"} {
			tm, err := StartTaskManager(t.Context(), TaskManagerConfig{JobManagerRPC: jm.RPCAddr(), ResourceID: id, Config: testConf(nil)})
			if err != nil {
				t.Fatal(err)
			}
			tms = append(tms, tm)
		}
		c.waitTaskManagers(t, 2)
		id := runJob(t, c, 2)
		waitJobState(t, c, id, StateRunning)
		tms[0].Kill()
		if err := tms[1].Close(); err != nil {
			t.Fatal(err)
		}
		if err := jm.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	waitFor(t, 10*time.Second, "goroutines back to the count before the cluster", func() bool {
		return runtime.NumGoroutine() <= before
	})
}
