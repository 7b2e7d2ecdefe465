package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/flink"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

// flinkTimeout bounds the REST calls of one pass.
const flinkTimeout = 3 * time.Second

// reconcile runs one pass over one cluster key: read desired state, observe, decide, record,
// act. It never trusts an earlier pass: everything is re-read and re-observed. It is the only
// place that talks to a key's runtime and JobManager (see Daemon.processNext): the API and
// the orphan sweep only record intent and enqueue the key.
func (d *Daemon) reconcile(ctx context.Context, k runtime.Key) (result, error) {
	var (
		rec     db.Cluster
		stop    *db.StopRequest
		recErr  error
		stopErr error
	)
	err := d.store.View(ctx, func(tx *db.Tx) error {
		rec, recErr = tx.Cluster(k.Namespace, k.Name)
		var r db.StopRequest
		if r, stopErr = tx.StopRequest(k.Namespace, k.Name); stopErr == nil {
			stop = &r
		}
		return nil
	})
	switch {
	case err != nil:
		return result{}, fmt.Errorf("load cluster: %w", err)
	case stopErr != nil && !errors.Is(stopErr, db.ErrNotFound):
		return result{}, fmt.Errorf("load stop request: %w", stopErr)
	case errors.Is(recErr, db.ErrNotFound):
		return d.reconcileOrphan(ctx, k, stop) // no file declares it (any more)
	case recErr != nil:
		return result{}, fmt.Errorf("load cluster: %w", recErr)
	}
	desired, err := decodeSpec(rec.Desired)
	if err != nil {
		return result{}, fmt.Errorf("decode recorded spec: %w", err)
	}
	var running *spec.SessionCluster
	if rec.Running != nil {
		if running, err = decodeSpec(rec.Running); err != nil {
			return result{}, fmt.Errorf("decode running spec: %w", err)
		}
	}
	t, err := d.targetOf(rec)
	if err != nil {
		if rec.Deleted {
			// Nothing can run on a target that does not exist: forget the cluster.
			return result{}, d.record(ctx, rec, decision{Forget: true, EndStop: true, Events: []db.Event{
				normal("Deleted", "spec file removed; cluster forgotten")}})
		}
		st := db.Status{Phase: spec.PhaseFailed, TMDesired: desired.TaskManagers(), Message: err.Error()}
		dec := decision{Status: st, Events: failedEvent(rec, st)}
		if stop != nil && stop.Outcome == db.StopPending {
			// Nothing runs on an unknown target: nothing stands in the way.
			accepted := *stop
			accepted.Outcome, accepted.DecidedAt = db.StopAccepted, d.now()
			dec.Stop = &accepted
		}
		return result{}, d.record(ctx, rec, dec)
	}

	obs, err := t.Runtime.Observe(ctx, k)
	if err != nil {
		err = fmt.Errorf("observe on target %s: %w", t.Name, err)
		st := rec.Status
		st.Phase, st.Message = spec.PhaseFailed, err.Error()
		if rerr := d.record(ctx, rec, decision{Status: st, Events: failedEvent(rec, st)}); rerr != nil {
			return result{}, rerr
		}
		return result{}, err
	}
	// Ask the JobManager only what this pass can use: its overview always; slot use only
	// when TaskManagers may have to go; jobs only when the cluster is to stop. A cluster at
	// rest costs one REST call per resync.
	// An autoscaled cluster that is to run also costs its jobs and TaskManagers (and the
	// details of jobs that may wait): see askAutoscale.
	autoscaled := desired.Autoscale().Enabled && !rec.Deleted && desired.Spec.State == spec.StateRunning
	need := flinkNeeds{
		// Until it is RUNNING, also whether each TaskManager has reported its slots
		// (slotsReported).
		TaskManagers: len(obs.TaskManagers) > desired.TaskManagers() || autoscaled || rec.Status.Phase != spec.PhaseRunning,
		Jobs:         rec.Deleted || desired.Spec.State == spec.StateStopped || (stop != nil && stop.Live()) || autoscaled,
		Autoscale:    autoscaled,
		Adaptive:     adaptiveScheduler(desired),
	}
	dec := decide(input{
		Key: k, Desired: desired, Running: running, Deleted: rec.Deleted,
		Recorded: rec.Status, PhaseSince: rec.PhaseSince, SpecChangedAt: rec.SpecChangedAt, Stop: stop,
		Obs: obs, Flink: d.askFlink(ctx, obs, need), Now: d.now(), Autoscale: rec.Autoscale,
	})
	return d.execute(ctx, rec, t, obs, dec)
}

// targetOf answers which target runs cluster rec: the one its running spec names while
// something runs (a change of target is refused until the cluster is STOPPED), else the one
// its file names. Every caller (reconcile, logs, stop) asks it.
func (d *Daemon) targetOf(rec db.Cluster) (Target, error) {
	name := rec.Target
	if rec.Running != nil {
		running, err := decodeSpec(rec.Running)
		if err != nil {
			return Target{}, fmt.Errorf("decode running spec of %s/%s: %w", rec.Namespace, rec.Name, err)
		}
		name = running.Spec.DeploymentTargetName
	}
	t, ok := d.targets[name]
	if !ok {
		return Target{}, fmt.Errorf("unknown deployment target %q (configured: %s)", name, d.targetNames())
	}
	return t, nil
}

func decodeSpec(b []byte) (*spec.SessionCluster, error) {
	var sc spec.SessionCluster
	if err := json.Unmarshal(b, &sc); err != nil {
		return nil, err
	}
	return &sc, nil
}

func failedEvent(rec db.Cluster, st db.Status) []db.Event {
	if rec.Phase == st.Phase && rec.Message == st.Message {
		return nil
	}
	return []db.Event{warning("Failed", st.Message)}
}

// flinkNeeds says what a pass needs from the JobManager beyond its overview.
type flinkNeeds struct {
	TaskManagers bool // slot use per TaskManager (scale-down)
	Jobs         bool // the jobs that are not finished (stop)
	Autoscale    bool // what the autoscaler needs (askAutoscale)
	Adaptive     bool // the cluster runs Flink's adaptive scheduler
}

// askFlink asks a running JobManager for its overview and, as needed, its TaskManagers and
// jobs.
func (d *Daemon) askFlink(ctx context.Context, obs runtime.Observed, need flinkNeeds) flinkView {
	if obs.JobManager == nil || obs.JobManager.State != runtime.StateRunning {
		return flinkView{}
	}
	if obs.REST.URL == "" {
		if obs.REST.Err != nil {
			return flinkView{Asked: true, Err: obs.REST.Err}
		}
		return flinkView{}
	}
	ctx, cancel := context.WithTimeout(ctx, flinkTimeout)
	defer cancel()
	c := d.flinkClient(obs.REST)
	fv := flinkView{Asked: true}
	if fv.Overview, fv.Err = c.Overview(ctx); fv.Err != nil {
		return fv
	}
	if need.TaskManagers {
		if fv.TaskManagers, fv.Err = c.TaskManagers(ctx); fv.Err != nil {
			return fv
		}
	}
	if need.Jobs {
		if fv.Jobs, fv.Err = c.ActiveJobs(ctx); fv.Err != nil {
			return fv
		}
	}
	if need.Autoscale {
		fv.Autoscale = askAutoscale(ctx, c, &fv, need.Adaptive)
	}
	return fv
}

func (d *Daemon) flinkClient(ep runtime.Endpoint) *flink.Client {
	hc := ep.Client
	if hc == nil {
		hc = d.flinkHTTP
	}
	return &flink.Client{BaseURL: ep.URL, HTTP: hc}
}

// cancelJobs cancels jobs through the JobManager at ep; a job that is gone already is fine.
func (d *Daemon) cancelJobs(ctx context.Context, ep runtime.Endpoint, jobs []flink.Job) error {
	ctx, cancel := context.WithTimeout(ctx, flinkTimeout)
	defer cancel()
	fc := d.flinkClient(ep)
	for _, j := range jobs {
		if err := fc.CancelJob(ctx, j.ID); err != nil && !flink.IsNotFound(err) {
			return fmt.Errorf("cancel job %s (%s): %w", j.Name, j.ID, err)
		}
	}
	return nil
}

// execute records the decision and carries out its action. The status is recorded before
// the action (so users see STARTING or STOPPING while it runs); for an apply, the spec about
// to run is recorded first (write-ahead), so a crash mid-apply leaves a record of what may
// exist, and the next pass observes and converges.
func (d *Daemon) execute(ctx context.Context, rec db.Cluster, t Target, obs runtime.Observed, dec decision) (result, error) {
	k := runtime.Key{Namespace: rec.Namespace, Name: rec.Name}
	res := result{RequeueAfter: dec.RequeueAfter, Backoff: dec.Backoff}
	if len(dec.CancelJobs) > 0 {
		// A forced stop: the jobs go first, and a later pass tears down once they are gone.
		if err := d.record(ctx, rec, decision{Status: dec.Status, Events: dec.Events, Stop: dec.Stop}); err != nil {
			return result{}, err
		}
		if err := d.cancelJobs(ctx, obs.REST, dec.CancelJobs); err != nil {
			return result{}, fmt.Errorf("forced stop: %w", err)
		}
		return result{RequeueAfter: requeueCancel}, nil
	}
	switch dec.Action {
	case actApply:
		if err := d.record(ctx, rec, dec); err != nil {
			return result{}, err
		}
		progress := d.progress(ctx, k)
		err := d.provisionTLS(&dec.Cluster, t, dec.Want, rec.Running == nil, progress)
		if err == nil {
			err = t.Runtime.Apply(ctx, dec.Cluster, progress)
		}
		if err != nil {
			if ctx.Err() != nil {
				return result{}, ctx.Err()
			}
			err = fmt.Errorf("apply on target %s: %w", t.Name, err)
			st := dec.Status
			st.Phase, st.Message = spec.PhaseFailed, err.Error()
			if rerr := d.recordStatus(ctx, k, st, warning("ApplyFailed", err.Error()), rec.Status); rerr != nil {
				return result{}, rerr
			}
			return result{}, err
		}
		if dec.Status.Phase != spec.PhaseRunning && res.RequeueAfter == 0 && !res.Backoff {
			res.RequeueAfter = progressPollMin
		}
		return res, nil

	case actDelete:
		if err := d.record(ctx, rec, decision{Status: dec.Status, Events: dec.Events, Stop: dec.Stop}); err != nil {
			return result{}, err
		}
		if err := t.Runtime.Delete(ctx, k); err != nil {
			if ctx.Err() != nil {
				return result{}, ctx.Err()
			}
			err = fmt.Errorf("remove on target %s: %w", t.Name, err)
			st := dec.Status
			st.Message = err.Error()
			if rerr := d.recordStatus(ctx, k, st, warning("RemoveFailed", err.Error()), dec.Status); rerr != nil {
				return result{}, rerr
			}
			return result{}, err
		}
		// Refresh: record compares with what is stored now.
		cur, err := d.store.Cluster(ctx, k.Namespace, k.Name)
		if err != nil {
			return result{}, fmt.Errorf("reload cluster: %w", err)
		}
		done := decision{Status: dec.Done, Events: dec.DoneEvents, Forget: dec.Forget, EndStop: true, clearRunning: true,
			setAutoscale: cur.Autoscale != nil} // a stopped cluster starts again from its floor
		return result{}, d.record(ctx, cur, done)

	default:
		if dec.Forget || (dec.Status.Phase == spec.PhaseStopped && rec.Running != nil) {
			dec.clearRunning = true
		}
		return res, d.record(ctx, rec, dec)
	}
}

func (d *Daemon) record(ctx context.Context, rec db.Cluster, dec decision) error {
	k := runtime.Key{Namespace: rec.Namespace, Name: rec.Name}
	var running []byte
	setRunning := false
	switch {
	case dec.clearRunning:
		setRunning = rec.Running != nil
	case dec.Want != nil:
		b, err := json.Marshal(dec.Want)
		if err != nil {
			return err
		}
		running, setRunning = b, !bytes.Equal(b, rec.Running)
	}
	statusChanged := !dec.Forget && dec.Status != rec.Status
	setAutoscale := !dec.Forget && dec.setAutoscale && autoscaleChanged(rec.Autoscale, dec.Autoscale)
	if !dec.Forget && !statusChanged && !setRunning && !setAutoscale && len(dec.Events) == 0 && dec.Stop == nil && !dec.EndStop {
		return nil
	}
	err := d.store.Update(ctx, func(tx *db.Tx) error {
		for _, ev := range dec.Events {
			if err := tx.AddEvent(k.Namespace, k.Name, ev); err != nil {
				return err
			}
		}
		if dec.Stop != nil {
			if err := tx.UpdateStopRequest(*dec.Stop); err != nil && !errors.Is(err, db.ErrNotFound) {
				return err // ErrNotFound: a newer request came meanwhile; it gets its own pass
			}
		}
		if dec.EndStop {
			if err := tx.EndStopRequest(k.Namespace, k.Name); err != nil {
				return err
			}
		}
		if dec.Forget {
			return tx.Forget(k.Namespace, k.Name)
		}
		if setRunning {
			if err := tx.SetRunning(k.Namespace, k.Name, running); err != nil {
				return err
			}
		}
		if setAutoscale {
			if err := tx.SetAutoscale(k.Namespace, k.Name, dec.Autoscale); err != nil {
				return err
			}
		}
		if statusChanged {
			return tx.SetStatus(k.Namespace, k.Name, dec.Status)
		}
		return nil
	})
	if dec.Forget && errors.Is(err, db.ErrNotFound) {
		// A file declared the cluster again since this pass read it: nothing is forgotten,
		// and the next pass works from the new spec.
		d.log.Debug("cluster declared again before it was forgotten", "cluster", k.String())
		d.queue.Add(k)
		return nil
	}
	if err != nil {
		return fmt.Errorf("record status: %w", err)
	}
	if dec.Forget {
		d.forgetTLS(k)
	}
	d.logTransition(k, rec.Status, dec)
	d.changed()
	return nil
}

// recordStatus records a failure status and its event (when the message is new).
func (d *Daemon) recordStatus(ctx context.Context, k runtime.Key, st db.Status, ev db.Event, prev db.Status) error {
	err := d.store.Update(ctx, func(tx *db.Tx) error {
		if st.Message != prev.Message || st.Phase != prev.Phase {
			if err := tx.AddEvent(k.Namespace, k.Name, ev); err != nil {
				return err
			}
		}
		return tx.SetStatus(k.Namespace, k.Name, st)
	})
	if err != nil {
		return fmt.Errorf("record status: %w", err)
	}
	d.changed()
	return nil
}

func (d *Daemon) logTransition(k runtime.Key, prev db.Status, dec decision) {
	switch {
	case dec.Forget:
		d.log.Info("cluster forgotten", "cluster", k.String())
	case dec.Status.Phase != prev.Phase:
		lvl := d.log.Info
		if dec.Status.Phase == spec.PhaseFailed {
			lvl = d.log.Warn
		}
		lvl("cluster phase", "cluster", k.String(), "phase", dec.Status.Phase, "message", dec.Status.Message)
	}
	for _, ev := range dec.Events {
		if ev.Type == db.Warning && ev.Reason != "Failed" {
			d.log.Warn("cluster event", "cluster", k.String(), "reason", ev.Reason, "message", ev.Message)
		}
	}
}

// progress returns the Progress callback of one apply: each report becomes an event (and a
// log line), so long work such as an image pull shows in `flinkctl events`.
func (d *Daemon) progress(ctx context.Context, k runtime.Key) runtime.Progress {
	return func(reason, message string) {
		d.log.Info("runtime progress", "cluster", k.String(), "reason", reason, "message", message)
		err := d.store.Update(ctx, func(tx *db.Tx) error {
			return tx.AddEvent(k.Namespace, k.Name, normal(reason, message))
		})
		if err != nil && ctx.Err() == nil {
			d.log.Warn("record progress", "cluster", k.String(), "err", err)
		}
		d.changed()
	}
}
