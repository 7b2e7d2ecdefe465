package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/autoscale"
	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/flink"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

// The daemon's side of autoscaling (package autoscale decides): what a pass asks the
// JobManager of an autoscaled cluster, how the decision becomes the TaskManager count of the
// pass, and the state kept in SQLite (clusters.autoscale).

// requeueAutoscale is how often a running autoscaled cluster is looked at: a job that waits
// for slots is seen within this long of its submission. Clusters without the annotation keep
// the periodic resync.
const requeueAutoscale = 2 * time.Second

// autoscaleRecord is the JSON kept in clusters.autoscale: the bounds in force (status shows
// them without reading the spec) and the autoscaler's state, the count it set included.
type autoscaleRecord struct {
	Min         int    `json:"min"`
	Max         int    `json:"max"`
	IdleTimeout string `json:"idleTimeout"`
	autoscale.State
}

func decodeAutoscale(b []byte) (autoscaleRecord, bool) {
	var r autoscaleRecord
	if len(b) == 0 || json.Unmarshal(b, &r) != nil {
		return autoscaleRecord{}, false
	}
	return r, true
}

// autoscaleStatus is the status API's view of a cluster's autoscaling; nil when it has none.
func autoscaleStatus(b []byte) *api.Autoscale {
	r, ok := decodeAutoscale(b)
	if !ok {
		return nil
	}
	return &api.Autoscale{Min: r.Min, Max: r.Max, IdleTimeout: r.IdleTimeout, Limited: r.Limited}
}

// autoscaleView is what the JobManager said about an autoscaled cluster's jobs and slots.
type autoscaleView struct {
	Jobs []autoscale.Job
	// Err says why the view is incomplete; the pass then decides nothing.
	Err error
}

// askAutoscale reads what the autoscaler needs beyond the overview, the unfinished jobs and
// the TaskManagers (already in fv). When a job may wait for slots (or under the adaptive
// scheduler, where a running job may want more), it reads the details of every job, with its
// resource requirements under the adaptive scheduler: the count covers what all of them need.
// When none may wait, no job's slots matter (a down only removes TaskManagers with no slot in
// use), and the pass costs no more calls. It runs inside the key's pass, like every REST call
// of the key.
func askAutoscale(ctx context.Context, c *flink.Client, fv *flinkView, adaptive bool) *autoscaleView {
	v := &autoscaleView{}
	if !adaptive && !slices.ContainsFunc(fv.Jobs, autoscale.MayWait) {
		for _, j := range fv.Jobs {
			v.Jobs = append(v.Jobs, autoscale.Job{ID: j.ID, Name: j.Name})
		}
		return v
	}
	for _, j := range fv.Jobs {
		detail, err := c.JobDetail(ctx, j.ID)
		if flink.IsNotFound(err) {
			continue // finished and gone since the overview
		}
		if err != nil {
			v.Err = fmt.Errorf("read job %s: %w", j.ID, err)
			return v
		}
		var req map[string]flink.Parallelism
		if adaptive {
			if req, err = c.ResourceRequirements(ctx, j.ID); err != nil && !flink.IsNotFound(err) {
				v.Err = fmt.Errorf("read resource requirements of job %s: %w", j.ID, err)
				return v
			}
		}
		v.Jobs = append(v.Jobs, autoscale.FromFlink(j, detail, req))
	}
	return v
}

// adaptiveScheduler reports whether the spec runs Flink's adaptive scheduler.
func adaptiveScheduler(sc *spec.SessionCluster) bool {
	return strings.EqualFold(strings.TrimSpace(sc.Spec.FlinkConfiguration["jobmanager.scheduler"]), "adaptive")
}

// slotsPerTaskManager is what the registered TaskManagers offer, or, with none registered,
// taskmanager.numberOfTaskSlots (Flink's default: 1).
func slotsPerTaskManager(sc *spec.SessionCluster, tms []flink.TaskManager) int {
	n := 0
	for _, tm := range tms {
		n = max(n, tm.SlotsNumber)
	}
	if n > 0 {
		return n
	}
	if v, err := strconv.Atoi(strings.TrimSpace(sc.Spec.FlinkConfiguration["taskmanager.numberOfTaskSlots"])); err == nil && v > 0 {
		return v
	}
	return 1
}

// autoscaleOutcome is what autoscaling makes of one pass.
type autoscaleOutcome struct {
	// On is true when the spec asks for autoscaling.
	On bool
	// Count is the TaskManager count of the pass; RemoveFirst the TaskManagers a down chose.
	Count       int
	RemoveFirst []string
	Direction   autoscale.Direction
	Limited     string
	Events      []db.Event
	// Record is the state to keep (nil when autoscaling is off).
	Record []byte
}

// decideAutoscale runs the autoscaler for a cluster that is to run (pure). Without a
// complete answer from the JobManager it decides nothing: the recorded count stays (within
// the bounds), so a restart of flinkd, or a JobManager slow to answer, never scales a
// cluster back to its floor.
func decideAutoscale(in input) autoscaleOutcome {
	a := in.Desired.Autoscale()
	if !a.Enabled {
		return autoscaleOutcome{}
	}
	prev, _ := decodeAutoscale(in.Autoscale)
	out := autoscaleOutcome{On: true}
	st := prev.State
	jmUp := in.Obs.JobManager != nil && in.Obs.JobManager.State == runtime.StateRunning
	if !jmUp || !in.Flink.answered() || in.Flink.Autoscale == nil || in.Flink.Autoscale.Err != nil {
		count := st.Count
		if count == 0 {
			count = a.Min
		}
		st.Count = min(max(count, a.Min), a.Max)
		out.Count, out.Limited = st.Count, st.Limited
	} else {
		dec := autoscale.Decide(autoscale.Input{
			Min: a.Min, Max: a.Max, IdleTimeout: a.IdleTimeout,
			SlotsPerTaskManager: slotsPerTaskManager(in.Desired, in.Flink.TaskManagers),
			Jobs:                in.Flink.Autoscale.Jobs,
			TaskManagers:        autoscaleTaskManagers(in.Obs, in.Flink.TaskManagers),
			FreeSlots:           in.Flink.Overview.SlotsAvailable,
			State:               st,
			Now:                 in.Now,
		})
		st = dec.State
		out.Count, out.RemoveFirst, out.Direction, out.Limited = dec.Count, dec.Remove, dec.Direction, dec.Limited
		switch dec.Direction {
		case autoscale.Up:
			out.Events = append(out.Events, normal("AutoscaledUp", dec.Reason))
		case autoscale.Down:
			out.Events = append(out.Events, normal("AutoscaledDown", dec.Reason))
		}
		if dec.Limited != "" && dec.Limited != prev.Limited {
			out.Events = append(out.Events, warning("AutoscaleLimited", dec.Limited))
		}
	}
	rec := autoscaleRecord{Min: a.Min, Max: a.Max, IdleTimeout: a.IdleTimeout.String(), State: st}
	b, err := json.Marshal(rec)
	if err != nil {
		panic("daemon: marshal autoscaler state: " + err.Error()) // plain fields: cannot happen
	}
	out.Record = b
	return out
}

// autoscaleTaskManagers are the TaskManagers registered with the JobManager that the runtime
// runs, highest ID first: the order in which equally idle ones go.
func autoscaleTaskManagers(obs runtime.Observed, registered []flink.TaskManager) []autoscale.TaskManager {
	observed := map[string]bool{}
	for _, inst := range obs.TaskManagers {
		observed[inst.ID] = inst.State == runtime.StateRunning
	}
	var out []autoscale.TaskManager
	for _, tm := range registered {
		if observed[tm.ID] {
			out = append(out, autoscale.TaskManager{ID: tm.ID, Busy: !tm.Idle()})
		}
	}
	slices.SortFunc(out, func(a, b autoscale.TaskManager) int { return runtime.CompareInstanceIDs(b.ID, a.ID) })
	return out
}

// autoscaleChanged reports whether the recorded state differs from the one to record.
func autoscaleChanged(recorded, next []byte) bool { return !bytes.Equal(recorded, next) }
