package sim

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FlinkCommit is what the REST API reports as the build's commit.
const FlinkCommit = "f1a2b3c"

type restHandler func(w http.ResponseWriter, r *http.Request, p map[string]string)

type route struct {
	method string
	parts  []string
	h      restHandler
}

func (j *JobManager) routes() []route {
	rs := []struct {
		method, pattern string
		h               restHandler
	}{
		{http.MethodGet, "/config", j.getConfig},
		{http.MethodGet, "/overview", j.getOverview},
		{http.MethodGet, "/jobmanager/config", j.getJobManagerConfig},
		{http.MethodGet, "/taskmanagers", j.getTaskManagers},
		{http.MethodGet, "/taskmanagers/:taskmanagerid", j.getTaskManager},
		{http.MethodGet, "/jobs", j.getJobs},
		{http.MethodGet, "/jobs/overview", j.getJobsOverview},
		{http.MethodGet, "/jobs/:jobid", j.getJob},
		{http.MethodGet, "/jobs/:jobid/status", j.getJobStatus},
		{http.MethodGet, "/jobs/:jobid/exceptions", j.getJobExceptions},
		{http.MethodPatch, "/jobs/:jobid", j.patchJob},
		{http.MethodPost, "/jobs/:jobid/stop", j.postStop},
		{http.MethodPost, "/jobs/:jobid/savepoints", j.postSavepoint},
		{http.MethodGet, "/jobs/:jobid/savepoints/:triggerid", j.getSavepoint},
		{http.MethodDelete, "/cluster", j.deleteCluster},
	}
	if j.version.AtLeast(1, 18) {
		rs = append(rs, struct {
			method, pattern string
			h               restHandler
		}{http.MethodGet, "/jobs/:jobid/resource-requirements", j.getResourceRequirements})
	}
	if j.webSubmit {
		rs = append(rs, []struct {
			method, pattern string
			h               restHandler
		}{
			{http.MethodGet, "/jars", j.getJars},
			{http.MethodPost, "/jars/upload", j.postJarUpload},
			{http.MethodPost, "/jars/:jarid/run", j.postJarRun},
			{http.MethodDelete, "/jars/:jarid", j.deleteJar},
		}...)
	}
	out := make([]route, 0, len(rs))
	for _, r := range rs {
		out = append(out, route{method: r.method, parts: strings.Split(strings.Trim(r.pattern, "/"), "/"), h: r.h})
	}
	return out
}

// serveREST routes like Flink's RouterHandler: an unknown path, and a known path with
// another method, are both 404 {"errors":["Not found: <uri>"]}. An optional /v1 prefix
// is accepted.
func (j *JobManager) serveREST(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, "/v1/"); ok {
		p = "/" + rest
	}
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for _, rt := range j.routeTable {
		if rt.method != r.Method || len(rt.parts) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for i, part := range rt.parts {
			if strings.HasPrefix(part, ":") {
				params[part[1:]] = segs[i]
				continue
			}
			if part != segs[i] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if !j.checkParams(w, params) {
			return
		}
		rt.h(w, r, params)
		return
	}
	// No REST route: the router passes a GET to flink-runtime-web's StaticFileServerHandler
	// (the web UI, part of flink-dist), which has no such file; any other method is the
	// router's own 404.
	if r.Method == http.MethodGet {
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("Unable to load requested file %s.", r.URL.Path))
		return
	}
	writeErrors(w, http.StatusNotFound, "Not found: "+r.RequestURI)
}

var hex32 = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)

func (j *JobManager) checkParams(w http.ResponseWriter, params map[string]string) bool {
	for _, name := range []string{"jobid", "triggerid"} {
		v, ok := params[name]
		if ok && !hex32.MatchString(v) {
			writeHandlerError(w, http.StatusBadRequest, fmt.Sprintf("Bad request, could not parse parameters: Cannot resolve path parameter (%s) from value \"%s\".", name, v))
			return false
		}
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"errors":["Internal server error."]}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeErrors(w http.ResponseWriter, status int, errs ...string) {
	writeJSON(w, status, map[string][]string{"errors": errs})
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return -1
	}
	return t.UnixMilli()
}

func (j *JobManager) flinkVersion() string { return j.version.String() + ".0" }

// ---- cluster ----

func (j *JobManager) getConfig(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	name, offset := time.Now().Zone()
	if name == "UTC" {
		name = "Coordinated Universal Time"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"refresh-interval": 3000,
		"timezone-name":    name,
		"timezone-offset":  offset * 1000,
		"flink-version":    j.flinkVersion(),
		"flink-revision":   FlinkCommit + " @ 1970-01-01T00:00:00+00:00",
		"features": map[string]bool{
			"web-submit":  j.webSubmit,
			"web-cancel":  j.webCancel,
			"web-rescale": false,
			"web-history": false,
		},
	})
}

type overview struct {
	TaskManagers   int    `json:"taskmanagers"`
	SlotsTotal     int    `json:"slots-total"`
	SlotsAvailable int    `json:"slots-available"`
	JobsRunning    int    `json:"jobs-running"`
	JobsFinished   int    `json:"jobs-finished"`
	JobsCancelled  int    `json:"jobs-cancelled"`
	JobsFailed     int    `json:"jobs-failed"`
	FlinkVersion   string `json:"flink-version"`
	FlinkCommit    string `json:"flink-commit"`
}

func (j *JobManager) getOverview(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	j.mu.Lock()
	o := overview{TaskManagers: len(j.tms), FlinkVersion: j.flinkVersion(), FlinkCommit: FlinkCommit}
	for _, tm := range j.tms {
		o.SlotsTotal += tm.slots
		o.SlotsAvailable += tm.slots - tm.used()
	}
	for _, jb := range j.jobs {
		switch jb.state {
		case StateFinished:
			o.JobsFinished++
		case StateCanceled:
			o.JobsCancelled++
		case StateFailed:
			o.JobsFailed++
		default:
			o.JobsRunning++
		}
	}
	j.mu.Unlock()
	writeJSON(w, http.StatusOK, o)
}

// sensitiveKeys is GlobalConfiguration.SENSITIVE_KEYS of Flink version v (flink-core):
// 1.18 has the first nine, 1.19 and 1.20 add http-headers, 2.x adds api-key.
func sensitiveKeys(v Version) []string {
	keys := []string{"password", "secret", "fs.azure.account.key", "apikey", "auth-params", "service-key", "token", "basic-auth", "jaas.config"}
	if v.AtLeast(1, 19) {
		keys = append(keys, "http-headers")
	}
	if v.AtLeast(2, 0) {
		keys = append(keys, "api-key")
	}
	return keys
}

// Sensitive reports whether Flink version v hides the value of key in its logs and in
// /jobmanager/config (GlobalConfiguration.isSensitive: the lower-cased key contains one of
// the sensitive words).
func Sensitive(v Version, key string) bool {
	k := strings.ToLower(key)
	for _, s := range sensitiveKeys(v) {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

func masked(v Version, k, val string) string {
	if Sensitive(v, k) {
		return HiddenContent
	}
	return val
}

// HiddenContent replaces sensitive values in logs and /jobmanager/config.
const HiddenContent = "******"

func (j *JobManager) getJobManagerConfig(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	type entry struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	out := []entry{}
	for _, k := range slices.Sorted(maps.Keys(j.effective)) {
		// ClusterConfigHandler: ConfigurationInfo.from, ConfigurationUtils.hideSensitiveValues.
		out = append(out, entry{k, masked(j.version, k, j.effective[k])})
	}
	writeJSON(w, http.StatusOK, out)
}

func (j *JobManager) deleteCluster(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	j.log.Logger(logEntrypoint).Infof("Shutting down cluster because someone retrieved the shut down request.")
	writeJSON(w, http.StatusOK, struct{}{})
	select {
	case j.shutdown <- struct{}{}:
	default:
	}
}

// ---- taskmanagers ----

type resourceProfile struct {
	CPUCores          float64        `json:"cpuCores"`
	TaskHeapMemory    int64          `json:"taskHeapMemory"`
	TaskOffHeapMemory int64          `json:"taskOffHeapMemory"`
	ManagedMemory     int64          `json:"managedMemory"`
	NetworkMemory     int64          `json:"networkMemory"`
	ExtendedResources map[string]any `json:"extendedResources"`
}

type taskManagerInfo struct {
	ID                     string            `json:"id"`
	Path                   string            `json:"path"`
	DataPort               int               `json:"dataPort"`
	JMXPort                int               `json:"jmxPort"`
	TimeSinceLastHeartbeat int64             `json:"timeSinceLastHeartbeat"`
	SlotsNumber            int               `json:"slotsNumber"`
	FreeSlots              int               `json:"freeSlots"`
	TotalResource          resourceProfile   `json:"totalResource"`
	FreeResource           resourceProfile   `json:"freeResource"`
	Hardware               hardwareInfo      `json:"hardware"`
	MemoryConfiguration    TaskManagerMemory `json:"memoryConfiguration"`
}

func profile(tm *tmEntry, slots int) resourceProfile {
	p := resourceProfile{ExtendedResources: map[string]any{}}
	if tm.slots <= 0 {
		return p
	}
	f := float64(slots) / float64(tm.slots)
	p.CPUCores = tm.cpuCores * f
	p.TaskHeapMemory = int64(float64(tm.mem.TaskHeap/mib) * f)
	p.TaskOffHeapMemory = int64(float64(tm.mem.TaskOffHeap/mib) * f)
	p.ManagedMemory = int64(float64(tm.mem.ManagedMemory/mib) * f)
	p.NetworkMemory = int64(float64(tm.mem.NetworkMemory/mib) * f)
	return p
}

func tmInfo(tm *tmEntry) taskManagerInfo {
	free := tm.slots - tm.used()
	return taskManagerInfo{
		ID: tm.id, Path: tm.path, DataPort: tm.dataPort, JMXPort: tm.jmxPort,
		TimeSinceLastHeartbeat: max(ms(tm.heartbeatAt), 0),
		SlotsNumber:            tm.slots, FreeSlots: free,
		TotalResource: profile(tm, tm.slots), FreeResource: profile(tm, free),
		Hardware: tm.hw, MemoryConfiguration: tm.mem,
	}
}

func (j *JobManager) getTaskManagers(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	j.mu.Lock()
	out := []taskManagerInfo{}
	for _, id := range slices.Sorted(maps.Keys(j.tms)) {
		out = append(out, tmInfo(j.tms[id]))
	}
	j.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"taskmanagers": out})
}

func (j *JobManager) getTaskManager(w http.ResponseWriter, _ *http.Request, p map[string]string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	tm, ok := j.tms[p["taskmanagerid"]]
	if !ok {
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("Could not find TaskExecutor %s.", p["taskmanagerid"]))
		return
	}
	type allocated struct {
		JobID    string          `json:"jobId"`
		Resource resourceProfile `json:"resource"`
	}
	slots := []allocated{}
	for _, jobID := range slices.Sorted(maps.Keys(tm.alloc)) {
		for range tm.alloc[jobID] {
			slots = append(slots, allocated{JobID: jobID, Resource: profile(tm, 1)})
		}
	}
	heap := tm.mem.FrameworkHeap + tm.mem.TaskHeap
	writeJSON(w, http.StatusOK, struct {
		taskManagerInfo
		AllocatedSlots []allocated    `json:"allocatedSlots"`
		Metrics        map[string]any `json:"metrics"`
	}{tmInfo(tm), slots, map[string]any{
		"heapUsed": heap / 4, "heapCommitted": heap / 2, "heapMax": heap,
		"nonHeapUsed": tm.mem.JVMMetaspace / 4, "nonHeapCommitted": tm.mem.JVMMetaspace / 2, "nonHeapMax": tm.mem.JVMMetaspace,
		"directCount": 0, "directUsed": 0, "directMax": 0, "mappedCount": 0, "mappedUsed": 0, "mappedMax": 0,
		"memorySegmentsAvailable":             tm.mem.NetworkMemory / (32 * kib),
		"memorySegmentsTotal":                 tm.mem.NetworkMemory / (32 * kib),
		"nettyShuffleMemorySegmentsAvailable": tm.mem.NetworkMemory / (32 * kib),
		"nettyShuffleMemorySegmentsUsed":      0,
		"nettyShuffleMemorySegmentsTotal":     tm.mem.NetworkMemory / (32 * kib),
		"nettyShuffleMemoryAvailable":         tm.mem.NetworkMemory,
		"nettyShuffleMemoryUsed":              0,
		"nettyShuffleMemoryTotal":             tm.mem.NetworkMemory,
		"garbageCollectors":                   []any{},
	}})
}

// ---- jobs ----

func (j *JobManager) jobOverview(jb *job, now time.Time) map[string]any {
	out := map[string]any{
		"jid":               jb.id,
		"name":              jb.name,
		"start-time":        ms(jb.start),
		"end-time":          ms(jb.end),
		"duration":          duration(jb, now),
		"state":             jb.state,
		"last-modification": ms(jb.modified),
		"tasks":             taskInfo(jb, now),
	}
	j.addPendingOperators(out)
	return out
}

// addPendingOperators adds 2.x's pending-operators to a job's details (JobDetails,
// JobDetailsInfo): the operators the adaptive batch scheduler has yet to build, 0 for a
// streaming job (NonAdaptiveExecutionPlanSchedulingContext).
func (j *JobManager) addPendingOperators(details map[string]any) {
	if j.version.AtLeast(2, 0) {
		details["pending-operators"] = 0
	}
}

func duration(jb *job, now time.Time) int64 {
	if !jb.end.IsZero() {
		return jb.end.Sub(jb.start).Milliseconds()
	}
	return now.Sub(jb.start).Milliseconds()
}

func (j *JobManager) getJobs(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	j.mu.Lock()
	out := []map[string]string{}
	for _, id := range j.jobOrder {
		out = append(out, map[string]string{"id": id, "status": j.jobs[id].state})
	}
	j.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"jobs": out})
}

func (j *JobManager) getJobsOverview(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	now := time.Now()
	j.mu.Lock()
	out := []map[string]any{}
	for _, id := range j.jobsNewestFirst() {
		out = append(out, j.jobOverview(j.jobs[id], now))
	}
	j.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"jobs": out})
}

// jobsNewestFirst is the order of Dispatcher.requestMultipleJobDetails from 2.0 on: by
// start time, newest first, then by job ID. 1.x returns a HashSet of JobDetails, whose
// hashes include an enum's identity hash: an order no client can rely on, so the
// stand-in gives 1.x the same one. j.mu is held.
func (j *JobManager) jobsNewestFirst() []string {
	ids := slices.Clone(j.jobOrder)
	slices.SortStableFunc(ids, func(a, b string) int {
		if c := cmp.Compare(ms(j.jobs[b].start), ms(j.jobs[a].start)); c != 0 {
			return c
		}
		return compareJobIDs(a, b)
	})
	return ids
}

// compareJobIDs is AbstractID.compareTo: the upper, then the lower 64 bits, as signed longs.
func compareJobIDs(a, b string) int {
	half := func(id string, i int) int64 {
		u, _ := strconv.ParseUint(id[i*16:(i+1)*16], 16, 64)
		return int64(u)
	}
	if c := cmp.Compare(half(a, 0), half(b, 0)); c != 0 {
		return c
	}
	return cmp.Compare(half(a, 1), half(b, 1))
}

// lookupJob finds a job or writes Flink's 404. j.mu is held.
func (j *JobManager) lookupJob(w http.ResponseWriter, id string) *job {
	jb, ok := j.jobs[strings.ToLower(id)]
	if !ok {
		writeErrors(w, http.StatusNotFound, "org.apache.flink.runtime.rest.NotFoundException: Job "+strings.ToLower(id)+" not found")
		return nil
	}
	return jb
}

func (j *JobManager) getJob(w http.ResponseWriter, _ *http.Request, p map[string]string) {
	now := time.Now()
	j.mu.Lock()
	defer j.mu.Unlock()
	jb := j.lookupJob(w, p["jobid"])
	if jb == nil {
		return
	}
	timestamps := map[string]int64{}
	for _, s := range allJobStates {
		timestamps[s] = 0
		if t, ok := jb.stateTimes[s]; ok {
			timestamps[s] = t.UnixMilli()
		}
	}
	vertices, counts := j.vertexInfos(jb, now)
	details := map[string]any{
		"jid": jb.id, "name": jb.name, "isStoppable": false, "state": jb.state, "job-type": "STREAMING",
		"start-time": ms(jb.start), "end-time": ms(jb.end), "duration": duration(jb, now),
		"maxParallelism": -1, "now": now.UnixMilli(), "timestamps": timestamps,
		"vertices": vertices, "status-counts": counts,
		"plan": map[string]any{"jid": jb.id, "name": jb.name, "type": "STREAMING", "nodes": planNodes(jb)},
	}
	j.addPendingOperators(details)
	writeJSON(w, http.StatusOK, details)
}

func (j *JobManager) getJobStatus(w http.ResponseWriter, _ *http.Request, p map[string]string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if jb := j.lookupJob(w, p["jobid"]); jb != nil {
		writeJSON(w, http.StatusOK, map[string]string{"status": jb.state})
	}
}

// getJobExceptions is JobExceptionsHandler: JobExceptionsInfoWithHistory, newest first. 1.x
// also fills the deprecated root-exception (the root failure's stack trace), timestamp,
// all-exceptions, truncated and each entry's location; 2.x has only exceptionHistory.
func (j *JobManager) getJobExceptions(w http.ResponseWriter, _ *http.Request, p map[string]string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	jb := j.lookupJob(w, p["jobid"])
	if jb == nil {
		return
	}
	legacy := j.version.Major < 2
	entries := []map[string]any{}
	for i := len(jb.exceptions) - 1; i >= 0; i-- {
		e := jb.exceptions[i]
		entry := map[string]any{
			"exceptionName":        e.name,
			"stacktrace":           e.stacktrace(),
			"timestamp":            e.at.UnixMilli(),
			"taskName":             e.taskName,
			"endpoint":             nullable(e.location),
			"taskManagerId":        nullable(e.tmID),
			"failureLabels":        map[string]string{},
			"concurrentExceptions": []any{},
		}
		if legacy {
			entry["location"] = nullable(e.location)
		}
		entries = append(entries, entry)
	}
	body := map[string]any{"exceptionHistory": map[string]any{"entries": entries, "truncated": false}}
	if legacy {
		body["root-exception"], body["timestamp"], body["all-exceptions"], body["truncated"] = nil, nil, []any{}, false
		if n := len(jb.exceptions); n > 0 {
			last := jb.exceptions[n-1]
			body["root-exception"] = last.stacktrace()
			body["timestamp"] = last.at.UnixMilli()
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// nullable is s, or JSON null when s is empty (an exception on no TaskManager).
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (j *JobManager) patchJob(w http.ResponseWriter, r *http.Request, p map[string]string) {
	mode := r.URL.Query().Get("mode")
	switch mode {
	case "", "cancel":
	case "stop":
		writeHandlerError(w, http.StatusPermanentRedirect, `The termination mode "stop" has been removed. For an ungraceful shutdown, please use "cancel" instead. For a graceful shutdown, please use "jobs/:jobId/stop" instead.`)
		return
	default:
		writeHandlerError(w, http.StatusBadRequest, fmt.Sprintf("Bad request, could not parse parameters: Cannot resolve query parameter (mode) from value \"%s\".", mode))
		return
	}
	now := time.Now()
	j.mu.Lock()
	// JobCancellationHandler over Dispatcher.cancelJob: an unknown job is 404, a job that
	// ended CANCELED is acknowledged again, one that ended otherwise is 409.
	jb, ok := j.jobs[strings.ToLower(p["jobid"])]
	if !ok {
		j.mu.Unlock()
		writeHandlerError(w, http.StatusNotFound, "Job could not be found.",
			fmt.Sprintf("org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (%s)", strings.ToLower(p["jobid"])))
		return
	}
	if jb.state == StateCanceled {
		j.mu.Unlock()
		writeJSON(w, http.StatusAccepted, struct{}{})
		return
	}
	if terminal(jb.state) {
		j.mu.Unlock()
		writeHandlerError(w, http.StatusConflict, fmt.Sprintf("Job cancellation failed because the job has already reached another terminal state (%s).", jb.state))
		return
	}
	if jb.state != StateCancelling {
		jb.deadline = now.Add(cancelDuration)
		j.setState(jb, StateCancelling, now)
	}
	j.mu.Unlock()
	j.kick()
	writeJSON(w, http.StatusAccepted, struct{}{})
}

// savepointDir is the configured default savepoint directory and the key Flink names when
// it is missing.
func (j *JobManager) savepointDir() (dir, key string) {
	key = "state.savepoints.dir"
	if j.version.AtLeast(1, 20) {
		key = "execution.checkpointing.savepoint-dir"
	}
	for _, k := range []string{"execution.checkpointing.savepoint-dir", "state.savepoints.dir"} {
		if v := strings.TrimSpace(j.effective[k]); v != "" {
			return v, key
		}
	}
	return "", key
}

func (j *JobManager) postStop(w http.ResponseWriter, r *http.Request, p map[string]string) {
	var body struct {
		TargetDirectory *string `json:"targetDirectory"`
		Drain           bool    `json:"drain"`
		TriggerID       *string `json:"triggerId"`
		FormatType      *string `json:"formatType"`
	}
	if !decodeBody(w, r, &body, "StopWithSavepointRequestBody") {
		return
	}
	target := ""
	if body.TargetDirectory != nil {
		target = *body.TargetDirectory
	}
	j.triggerSavepoint(w, p["jobid"], target, "targetDirectory", body.TriggerID, true, false)
}

func (j *JobManager) postSavepoint(w http.ResponseWriter, r *http.Request, p map[string]string) {
	var body struct {
		TargetDirectory *string `json:"target-directory"`
		CancelJob       bool    `json:"cancel-job"`
		TriggerID       *string `json:"triggerId"`
		FormatType      *string `json:"formatType"`
	}
	if !decodeBody(w, r, &body, "SavepointTriggerRequestBody") {
		return
	}
	target := ""
	if body.TargetDirectory != nil {
		target = *body.TargetDirectory
	}
	j.triggerSavepoint(w, p["jobid"], target, "target-directory", body.TriggerID, false, body.CancelJob)
}

// triggerSavepoint is SavepointHandlers' trigger (SavepointTriggerHandler,
// StopWithSavepointHandler): the target directory is checked first; the operation is
// registered under (trigger, job) whether or not the job exists, and the Dispatcher's
// answer (FlinkJobNotFoundException for a job that does not run) is its outcome.
func (j *JobManager) triggerSavepoint(w http.ResponseWriter, jobID, target, targetField string, triggerID *string, stop, cancelJob bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if target == "" {
		dir, key := j.savepointDir()
		if dir == "" {
			writeHandlerError(w, http.StatusBadRequest, fmt.Sprintf("Config key [%s] is not set. Property [%s] must be provided.", key, targetField))
			return
		}
		target = dir
	}
	jobID = strings.ToLower(jobID)
	id := newID(16)
	if triggerID != nil && hex32.MatchString(*triggerID) {
		id = strings.ToLower(*triggerID)
	}
	key := jobID + "/" + id
	if _, exists := j.triggers[key]; !exists {
		deadline := time.Now().Add(savepointDuration)
		if jb, ok := j.jobs[jobID]; !ok || terminal(jb.state) {
			deadline = time.Now() // the Dispatcher fails it at once (stepTriggers)
		}
		j.triggers[key] = &trigger{id: id, jobID: jobID, stop: stop, cancelJob: cancelJob, target: target, deadline: deadline}
		j.log.Logger(logCheckpoint).Infof("Triggering %s for job %s.", map[bool]string{true: "stop-with-savepoint", false: "savepoint"}[stop], jobID)
	}
	j.kick()
	writeJSON(w, http.StatusAccepted, map[string]string{"request-id": id})
}

// getSavepoint is SavepointHandlers.SavepointStatusHandler: the operation of (trigger,
// job), known or 404; a failure is its SerializedThrowable, the Dispatcher's exception
// wrapped in the CompletionException its future completed with.
func (j *JobManager) getSavepoint(w http.ResponseWriter, _ *http.Request, p map[string]string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	jobID, triggerID := strings.ToLower(p["jobid"]), strings.ToLower(p["triggerid"])
	tr, ok := j.triggers[jobID+"/"+triggerID]
	if !ok {
		writeHandlerError(w, http.StatusNotFound, fmt.Sprintf("There is no savepoint operation with triggerId=%s for job %s.", triggerID, jobID))
		return
	}
	if !tr.done {
		writeJSON(w, http.StatusOK, map[string]any{"status": map[string]string{"id": "IN_PROGRESS"}, "operation": nil})
		return
	}
	op := map[string]any{}
	if tr.failClass != "" {
		cause := tr.failClass + ": " + tr.failMsg
		op["failure-cause"] = map[string]string{
			"class":                "java.util.concurrent.CompletionException",
			"stack-trace":          "java.util.concurrent.CompletionException: " + cause + "\n\tat flink-sim (sim)\nCaused by: " + cause + "\n\tat flink-sim (sim)\n",
			"serialized-throwable": "",
		}
	} else {
		op["location"] = tr.location
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": map[string]string{"id": "COMPLETED"}, "operation": op})
}

func decodeBody(w http.ResponseWriter, r *http.Request, out any, name string) bool {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeHandlerError(w, http.StatusBadRequest, "Bad request received.")
		return false
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return true
	}
	if err := json.Unmarshal(data, out); err != nil {
		writeHandlerError(w, http.StatusBadRequest, "Request did not match expected format "+name+".")
		return false
	}
	return true
}

// ---- jars ----

func (j *JobManager) getJars(w http.ResponseWriter, _ *http.Request, _ map[string]string) {
	j.mu.Lock()
	files := []map[string]any{}
	for _, id := range j.jarOrder {
		jf := j.jars[id]
		// JarListHandler: each entry class of the manifest, without a description (the
		// examples implement no ProgramDescription).
		entry := []any{}
		for _, c := range jf.entries {
			entry = append(entry, map[string]any{"name": c, "description": nil})
		}
		files = append(files, map[string]any{"id": jf.id, "name": jf.name, "uploaded": jf.uploaded.UnixMilli(), "entry": entry})
	}
	j.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"address": "http://" + j.restAdvertised(), "files": files})
}

func (j *JobManager) postJarUpload(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	var names []string
	var sizes []int64
	var entries [][]string
	if err := r.ParseMultipartForm(64 << 20); err == nil {
		defer r.MultipartForm.RemoveAll()
		for _, fhs := range r.MultipartForm.File {
			for _, fh := range fhs {
				names = append(names, path.Base(fh.Filename))
				sizes = append(sizes, fh.Size)
				var classes []string
				if f, err := fh.Open(); err == nil {
					classes = jarEntryClasses(f, fh.Size)
					_ = f.Close()
				}
				entries = append(entries, classes)
			}
		}
	} else if !errors.Is(err, http.ErrNotMultipart) {
		writeErrors(w, http.StatusBadRequest, "Bad request received: "+err.Error())
		return
	}
	if len(names) != 1 {
		writeErrors(w, http.StatusBadRequest, fmt.Sprintf("Exactly 1 file must be sent, received %d.", len(names)))
		return
	}
	if !strings.HasSuffix(names[0], ".jar") {
		writeErrors(w, http.StatusBadRequest, "Only Jar files are allowed.")
		return
	}
	id := newUUID() + "_" + names[0]
	jf := &jarFile{id: id, name: names[0], path: j.uploadDir + "/" + id, uploaded: time.Now(), size: sizes[0], entries: entries[0]}
	j.mu.Lock()
	j.jars[id] = jf
	j.jarOrder = append(j.jarOrder, id)
	j.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"filename": jf.path, "status": "success"})
}

func (j *JobManager) deleteJar(w http.ResponseWriter, _ *http.Request, p map[string]string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	id := p["jarid"]
	if _, ok := j.jars[id]; !ok {
		writeErrors(w, http.StatusBadRequest, fmt.Sprintf("File %s does not exist in %s.", id, j.uploadDir))
		return
	}
	delete(j.jars, id)
	j.jarOrder = slices.DeleteFunc(j.jarOrder, func(s string) bool { return s == id })
	writeJSON(w, http.StatusOK, struct{}{})
}

func (j *JobManager) postJarRun(w http.ResponseWriter, r *http.Request, p map[string]string) {
	var body struct {
		EntryClass      string   `json:"entryClass"`
		ProgramArgs     string   `json:"programArgs"`
		ProgramArgsList []string `json:"programArgsList"`
		Parallelism     *int     `json:"parallelism"`
		JobID           string   `json:"jobId"`
	}
	if !decodeBody(w, r, &body, "JarRunRequestBody") {
		return
	}
	q := r.URL.Query()
	if body.EntryClass == "" {
		body.EntryClass = q.Get("entry-class")
	}
	if body.Parallelism == nil && q.Get("parallelism") != "" {
		n, err := strconv.Atoi(q.Get("parallelism"))
		if err != nil {
			writeHandlerError(w, http.StatusBadRequest, fmt.Sprintf("Bad request, could not parse parameters: Cannot resolve query parameter (parallelism) from value \"%s\".", q.Get("parallelism")))
			return
		}
		body.Parallelism = &n
	}
	args := body.ProgramArgsList
	if len(args) == 0 {
		args = strings.Fields(body.ProgramArgs)
		if pa := q.Get("program-args"); len(args) == 0 && pa != "" {
			args = strings.Fields(pa)
		}
	}
	parallelism, err := intConf(j.effective, "parallelism.default", 1)
	if err != nil {
		writeErrors(w, http.StatusInternalServerError, err.Error())
		return
	}
	if body.Parallelism != nil && *body.Parallelism > 0 {
		parallelism = *body.Parallelism
	}
	if parallelism <= 0 {
		parallelism = 1
	}

	now := time.Now()
	j.mu.Lock()
	jf, ok := j.jars[p["jarid"]]
	if !ok {
		j.mu.Unlock()
		writeErrors(w, http.StatusBadRequest, fmt.Sprintf("Jar file %s/%s does not exist", j.uploadDir, p["jarid"]))
		return
	}
	if j.utilClosed {
		// The job's main() runs in the JobManager (JarRunHandler, DetachedApplicationRunner,
		// ClientUtils.executeProgram). On Java 17 without java.util opened, the static
		// initializer of the DataStream V2 ExecutionEnvironmentImpl fails
		// (DataStreamV2SinkTransformationTranslator reflects into
		// Collections$UnmodifiableMap): the first run answers that, every later one in the
		// same JVM the class that could not be initialized. No job is created. Seen with
		// the WindowJoin example on flink-dist 2.2.1 (and 1.20.5) on Java 17; a JobManager
		// whose options open java.util runs it, whatever the TaskManagers' options.
		trace := jarRunInaccessible
		if j.clinitFailed {
			trace = jarRunNoClassDef
		}
		j.clinitFailed = true
		j.mu.Unlock()
		j.log.Logger(logJarRun).Warnf("Could not execute application.\n%s", trace)
		writeErrors(w, http.StatusBadRequest, trace)
		return
	}
	id := newID(16)
	if body.JobID != "" {
		if !hex32.MatchString(body.JobID) {
			j.mu.Unlock()
			writeErrors(w, http.StatusBadRequest, "Request did not match expected format JarRunRequestBody.")
			return
		}
		id = strings.ToLower(body.JobID)
		if _, dup := j.jobs[id]; dup {
			j.mu.Unlock()
			writeErrors(w, http.StatusInternalServerError, "org.apache.flink.runtime.client.DuplicateJobSubmissionException: Job has already been submitted.")
			return
		}
	}
	// The program: the requested entry class, else the manifest's (PackagedProgram); a
	// known example is named as its main() names it.
	entryClass := body.EntryClass
	if entryClass == "" && len(jf.entries) > 0 {
		entryClass = jf.entries[0]
	}
	name := jobName(args)
	var program *exampleProgram
	if p, ok := exampleProgramOf(entryClass); ok {
		name, program = p.name, &p
	}
	sched, err := j.newSchedule(parallelism, args, program)
	if err != nil {
		j.mu.Unlock()
		writeErrors(w, http.StatusBadRequest, "org.apache.flink.client.program.ProgramInvocationException: The main method caused an error: "+err.Error())
		return
	}
	jb := &job{
		id: id, name: name, jarID: jf.id, entryClass: body.EntryClass,
		parallelism: parallelism, state: StateInitializing, start: now, modified: now,
		stateTimes: map[string]time.Time{StateInitializing: now}, sched: sched,
	}
	j.jobs[id] = jb
	j.jobOrder = append(j.jobOrder, id)
	j.log.Logger(logDispatcher).Infof("Received JobGraph submission '%s' (%s).", jb.name, jb.id)
	j.log.Logger(logDispatcher).Infof("Submitting job '%s' (%s).", jb.name, jb.id)
	j.setState(jb, StateCreated, now)
	j.mu.Unlock()
	j.kick()
	writeJSON(w, http.StatusOK, map[string]string{"jobid": id})
}

const logJarRun = "org.apache.flink.runtime.webmonitor.handlers.JarRunHandler"

// The errors of POST /jars/:jarid/run on a Java 17 JobManager that does not open java.util
// (frames shortened), as flink-dist 2.2.1 answers them.
const (
	jarRunHead = "org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application.\n" +
		"\tat org.apache.flink.runtime.webmonitor.handlers.JarRunHandler.lambda$handleRequest$1(JarRunHandler.java:114)\n" +
		"\tat java.base/java.lang.Thread.run(Thread.java:840)\n"
	jarRunRunner = "\tat org.apache.flink.client.ClientUtils.executeProgram(ClientUtils.java:101)\n" +
		"\tat org.apache.flink.client.deployment.application.DetachedApplicationRunner.run(DetachedApplicationRunner.java:70)\n" +
		"\t... 1 more\n"
	jarRunInaccessible = jarRunHead +
		"Caused by: java.util.concurrent.CompletionException: java.lang.ExceptionInInitializerError\n\t... 1 more\n" +
		"Caused by: java.lang.ExceptionInInitializerError\n" + jarRunRunner +
		"Caused by: java.lang.RuntimeException: Can not register process function transformation translator.\n" +
		"\tat org.apache.flink.datastream.impl.ExecutionEnvironmentImpl.<clinit>(ExecutionEnvironmentImpl.java:98)\n\t... 6 more\n" +
		"Caused by: java.lang.reflect.InaccessibleObjectException: Unable to make field private final java.util.Map java.util.Collections$UnmodifiableMap.m accessible: " +
		"module java.base does not \"opens java.util\" to unnamed module @7056917e\n" +
		"\tat java.base/java.lang.reflect.AccessibleObject.checkCanSetAccessible(AccessibleObject.java:354)\n" +
		"\tat java.base/java.lang.reflect.Field.setAccessible(Field.java:172)\n" +
		"\tat org.apache.flink.streaming.runtime.translators.DataStreamV2SinkTransformationTranslator.registerSinkTransformationTranslator(DataStreamV2SinkTransformationTranslator.java:106)\n" +
		"\tat org.apache.flink.datastream.impl.ExecutionEnvironmentImpl.<clinit>(ExecutionEnvironmentImpl.java:96)\n\t... 6 more\n"
	jarRunNoClassDef = jarRunHead +
		"Caused by: java.util.concurrent.CompletionException: java.lang.NoClassDefFoundError: Could not initialize class org.apache.flink.datastream.impl.ExecutionContextEnvironment\n\t... 1 more\n" +
		"Caused by: java.lang.NoClassDefFoundError: Could not initialize class org.apache.flink.datastream.impl.ExecutionContextEnvironment\n" + jarRunRunner +
		"Caused by: java.lang.ExceptionInInitializerError: Exception java.lang.ExceptionInInitializerError [in thread \"flink-jar-runner-thread-1\"]\n\t... 6 more\n"
)

// jobName is the name a job gets: the value of a --name or --job-name program argument,
// else Flink's default for StreamExecutionEnvironment.execute().
func jobName(args []string) string {
	for i, a := range args {
		for _, flag := range []string{"--name", "--job-name"} {
			if v, ok := strings.CutPrefix(a, flag+"="); ok {
				return v
			}
			if a == flag && i+1 < len(args) {
				return args[i+1]
			}
		}
	}
	return "Flink Streaming Job"
}

// writeHandlerError answers with a RestHandlerException as AbstractHandler.handleException
// does: one error, the exception stringified (ExceptionUtils.stringifyException: its class
// and message, frames, and each cause). The stand-in's frames are one line.
func writeHandlerError(w http.ResponseWriter, status int, msg string, causes ...string) {
	var b strings.Builder
	b.WriteString("org.apache.flink.runtime.rest.handler.RestHandlerException: " + msg + "\n\tat flink-sim (sim)\n")
	for _, c := range causes {
		b.WriteString("Caused by: " + c + "\n\tat flink-sim (sim)\n")
	}
	writeErrors(w, status, b.String())
}
