package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

// Handler returns the HTTP API (internal/api). flinkd serves it on a unix socket.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathClusters, d.handleClusters)
	mux.HandleFunc("GET "+api.PathCluster, d.handleCluster)
	mux.HandleFunc("GET "+api.PathEvents, d.handleEvents)
	mux.HandleFunc("POST "+api.PathStop, d.handleStop)
	mux.HandleFunc("POST "+api.PathStart, d.handleStart)
	mux.HandleFunc("GET "+api.PathLogs, d.handleLogs)
	mux.HandleFunc("GET "+api.PathCerts, d.handleCerts)
	mux.HandleFunc("GET "+api.PathTargets, d.handleTargets)
	mux.HandleFunc("GET "+api.PathVersion, d.handleVersion)
	mux.HandleFunc("GET "+api.PathOthers, d.handleOthers)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such API path: %s %s", r.Method, r.URL.Path), nil)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string, jobs []api.Job) {
	writeJSON(w, code, api.Error{Error: msg, Jobs: jobs})
}

// longPollMax bounds one ?watch= request.
const longPollMax = 30 * time.Second

func (d *Daemon) handleClusters(w http.ResponseWriter, r *http.Request) {
	if v := r.URL.Query().Get("watch"); v != "" {
		since, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "watch: not a version: "+v, nil)
			return
		}
		timer := time.NewTimer(longPollMax)
		defer timer.Stop()
		for {
			cur, ch := d.stateVersion()
			if cur != since {
				break
			}
			select {
			case <-ch:
				continue
			case <-timer.C:
			case <-r.Context().Done():
				return
			}
			break
		}
	}
	version, _ := d.stateVersion()
	list, err := d.statuses(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	w.Header().Set(api.HeaderVersion, strconv.FormatUint(version, 10))
	writeJSON(w, http.StatusOK, list)
}

// statuses lists every cluster, then every file that declares none (invalid without a
// readable name, or refused as a duplicate).
func (d *Daemon) statuses(ctx context.Context) ([]api.ClusterStatus, error) {
	var clusters []db.Cluster
	var files []db.File
	err := d.store.View(ctx, func(tx *db.Tx) error {
		var err error
		if clusters, err = tx.ClusterStatuses(); err != nil {
			return err
		}
		files, err = tx.Files()
		return err
	})
	if err != nil {
		return nil, err
	}
	byPath := make(map[string]db.File, len(files))
	for _, f := range files {
		byPath[f.Path] = f
	}
	out := make([]api.ClusterStatus, 0, len(clusters))
	owners := make(map[string]bool, len(clusters))
	for _, c := range clusters {
		owners[c.File] = true
		out = append(out, d.withTLSWarning(clusterStatus(c, byPath[c.File])))
	}
	for _, f := range files {
		if f.Status == db.FileOK || owners[f.Path] {
			continue
		}
		out = append(out, fileStatus(f))
	}
	return append(out, d.orphanStatuses()...), nil
}

func clusterStatus(c db.Cluster, f db.File) api.ClusterStatus {
	st := api.ClusterStatus{
		Name: c.Name, Namespace: c.Namespace, DeploymentTarget: c.Target, DesiredState: c.DesiredState,
		Phase: c.Phase, TaskManagers: api.TaskManagers{Desired: c.TMDesired, Ready: c.TMReady, Autoscale: autoscaleStatus(c.Autoscale)},
		RESTURL: c.RESTURL, Message: c.Message, File: c.File, Refused: c.Refused, Warnings: c.Warnings,
		Deleted: c.Deleted, CreatedAt: c.CreatedAt, PhaseSince: c.PhaseSince, Image: c.Image,
	}
	if f.Status == db.FileInvalid {
		st.FileErrors = f.Errors
	}
	return st
}

func fileStatus(f db.File) api.ClusterStatus {
	st := api.ClusterStatus{Name: f.Name, Namespace: f.Namespace, File: f.Path, FileErrors: f.Errors}
	switch f.Status {
	case db.FileDuplicate:
		st.Message = "refused: another file declares this cluster"
	default:
		st.Message = "invalid spec file: " + firstErrors(f.Errors)
	}
	return st
}

func (d *Daemon) lookup(w http.ResponseWriter, r *http.Request) (db.Cluster, bool) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	c, err := d.store.Cluster(r.Context(), ns, name)
	if errors.Is(err, db.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no cluster %s/%s (see flinkctl status)", ns, name), nil)
		return db.Cluster{}, false
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return db.Cluster{}, false
	}
	return c, true
}

func (d *Daemon) handleCluster(w http.ResponseWriter, r *http.Request) {
	c, ok := d.lookup(w, r)
	if !ok {
		return
	}
	var f db.File
	_ = d.store.View(r.Context(), func(tx *db.Tx) error {
		var err error
		f, err = tx.File(c.File)
		return err
	})
	writeJSON(w, http.StatusOK, d.withTLSWarning(clusterStatus(c, f)))
}

func (d *Daemon) handleEvents(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	evs, err := d.store.Events(r.Context(), ns, name, limit)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	if len(evs) == 0 {
		if _, ok := d.lookup(w, r); !ok {
			return
		}
	}
	out := make([]api.Event, 0, len(evs))
	for _, e := range evs {
		out = append(out, api.Event{Time: e.Time, Type: e.Type, Reason: e.Reason, Message: e.Message})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleStart sets spec.state: RUNNING in the cluster's file; a stop asked for earlier no
// longer applies.
func (d *Daemon) handleStart(w http.ResponseWriter, r *http.Request) {
	c, ok := d.lookup(w, r)
	if !ok {
		return
	}
	if err := d.store.Update(r.Context(), func(tx *db.Tx) error { return tx.EndStopRequest(c.Namespace, c.Name) }); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	d.writeState(w, r, c, spec.StateRunning, nil, "")
}

// stopDecideWait bounds how long a stop waits for the cluster's worker to decide it (a forced
// stop includes the wait for cancelled jobs to end).
const stopDecideWait = cancelWait + 30*time.Second

// handleStop records a stop request and waits for the cluster's worker to decide it: the
// worker alone talks to the cluster's runtime and JobManager. Accepted (no job runs, or a
// forced stop cancelled them, or was forced past a JobManager that cannot say), it sets
// spec.state: STOPPED in the cluster's file; refused, it leaves the file as it is. A cluster
// whose file is gone, or an orphan (no file declares it), is stopped without a file.
func (d *Daemon) handleStop(w http.ResponseWriter, r *http.Request) {
	var req api.StopRequest
	if r.ContentLength != 0 {
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "stop: "+err.Error(), nil)
			return
		}
	}
	k := runtime.Key{Namespace: r.PathValue("ns"), Name: r.PathValue("name")}
	c, err := d.store.Cluster(r.Context(), k.Namespace, k.Name)
	orphan := errors.Is(err, db.ErrNotFound)
	switch {
	case orphan && !d.isOrphan(k):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no cluster %s (see flinkctl status)", k), nil)
		return
	case err != nil && !orphan:
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	var sr db.StopRequest
	if err := d.store.Update(r.Context(), func(tx *db.Tx) (err error) {
		sr, err = tx.NewStopRequest(k.Namespace, k.Name, req.Force)
		return err
	}); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	d.queue.Add(k)
	sr, err = d.waitStopDecided(r.Context(), k, sr.ID)
	if err != nil {
		writeError(w, http.StatusGatewayTimeout, err.Error(), nil)
		return
	}
	if sr.Outcome == db.StopRefused {
		writeError(w, http.StatusConflict, "refused: "+sr.Message, stopJobs(sr.Jobs))
		return
	}
	var cancelled []api.Job
	if !sr.CancelledAt.IsZero() {
		cancelled = stopJobs(sr.Jobs)
	}
	if orphan || c.Deleted {
		writeJSON(w, http.StatusOK, api.StateChange{File: c.File, DesiredState: string(spec.StateStopped),
			Cancelled: cancelled, Orphan: orphan, Message: sr.Message})
		return
	}
	d.writeState(w, r, c, spec.StateStopped, cancelled, sr.Message)
}

// waitStopDecided waits until stop request id of k is decided.
func (d *Daemon) waitStopDecided(ctx context.Context, k runtime.Key, id int64) (db.StopRequest, error) {
	ctx, cancel := context.WithTimeout(ctx, stopDecideWait)
	defer cancel()
	for {
		_, changed := d.stateVersion()
		sr, err := d.store.StopRequest(ctx, k.Namespace, k.Name)
		switch {
		case err != nil && ctx.Err() == nil:
			return db.StopRequest{}, fmt.Errorf("read the stop request of %s: %w", k, err)
		case err == nil && sr.ID != id:
			return db.StopRequest{}, fmt.Errorf("a newer stop of %s was asked for meanwhile", k)
		case err == nil && sr.Outcome != db.StopPending:
			return sr, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return db.StopRequest{}, fmt.Errorf("the stop of %s was not decided within %s (flinkd goes on; ask again to see)", k, stopDecideWait)
		}
	}
}

// isOrphan reports whether k is a key the sweep found resources for without a cluster.
func (d *Daemon) isOrphan(k runtime.Key) bool {
	targets, _ := d.orphanTargets(k)
	return len(targets) > 0
}

func stopJobs(jobs []db.Job) []api.Job {
	out := make([]api.Job, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, api.Job{ID: j.ID, Name: j.Name, State: j.State})
	}
	return out
}

// writeState sets spec.state in the cluster's own file (the folder stays the single source
// of truth), then syncs the file at once rather than waiting for the watcher.
func (d *Daemon) writeState(w http.ResponseWriter, r *http.Request, c db.Cluster, state spec.State, cancelled []api.Job, msg string) {
	d.fileMu.Lock()
	data, err := os.ReadFile(c.File)
	if err != nil {
		d.fileMu.Unlock()
		writeError(w, http.StatusConflict, fmt.Sprintf("read %s: %v", c.File, err), nil)
		return
	}
	if _, _, err := spec.Decode(data); err != nil {
		d.fileMu.Unlock()
		writeError(w, http.StatusConflict, fmt.Sprintf("%s is invalid; fix it first: %v", c.File, err), nil)
		return
	}
	out, changed, err := setState(data, string(state))
	if err == nil && changed {
		err = writeFileAtomic(c.File, out)
	}
	d.fileMu.Unlock()
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("set spec.state in %s: %v", c.File, err), nil)
		return
	}
	if err := d.syncFile(r.Context(), c.File); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error(), nil)
		return
	}
	writeJSON(w, http.StatusOK, api.StateChange{File: c.File, DesiredState: string(state), Changed: changed, Cancelled: cancelled, Message: msg})
}

func (d *Daemon) handleLogs(w http.ResponseWriter, r *http.Request) {
	c, ok := d.lookup(w, r)
	if !ok {
		return
	}
	// Logs are read beside the cluster's worker: runtime.LogSource only reads.
	t, err := d.targetOf(c)
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error(), nil)
		return
	}
	src, ok := t.Runtime.(runtime.LogSource)
	if !ok {
		writeError(w, http.StatusNotImplemented, fmt.Sprintf("target %s cannot show logs", t.Name), nil)
		return
	}
	q := r.URL.Query()
	instance := q.Get("instance")
	if instance == "" {
		instance = "jobmanager"
	}
	tail, _ := strconv.Atoi(q.Get("tail"))
	rc, err := src.Logs(r.Context(), runtime.Key{Namespace: c.Namespace, Name: c.Name}, instance,
		runtime.LogOptions{Follow: q.Get("follow") == "1", Tail: tail})
	if errors.Is(err, runtime.ErrNoInstance) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s/%s has no instance %q", c.Namespace, c.Name, instance), nil)
		return
	}
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error(), nil)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

func (d *Daemon) handleTargets(w http.ResponseWriter, r *http.Request) {
	out := make([]api.Target, 0, len(d.targets))
	for _, t := range d.cfg.Targets {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		err := t.Runtime.Ping(ctx)
		cancel()
		at := api.Target{Name: t.Name, Kind: t.Kind, Detail: t.Detail, OK: err == nil}
		if err != nil {
			at.Error = err.Error()
		}
		out = append(out, at)
	}
	writeJSON(w, http.StatusOK, out)
}

func (d *Daemon) handleVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, api.Version{Version: d.cfg.Version, Owner: d.cfg.Owner, FormerOwners: d.cfg.FormerOwners, Specs: d.cfg.SpecsDir, Data: d.cfg.DataDir})
}
