package daemon

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/db"
	"github.com/flinkd/flinkd/internal/flink"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

// An orphan is a key that has resources under flinkd's labels on a target but no cluster
// recorded: no spec file declares it (a file removed while flinkd was down, a database lost).
// The sweep finds orphans; the key's worker removes them (reconcileOrphan), under the seed's
// rule: what may run jobs is not torn down unless the JobManager says none runs, or
// `flinkctl stop --force` asks.
type orphan struct {
	// seen counts, per target, the sweeps in a row that saw the key there without a cluster.
	seen map[string]int
	// held says, per target, why the removal is held ("" or absent: it is not).
	held map[string]string
}

// orphanGrace is how many sweeps in a row must see an orphan before it is removed: a grace
// period against races with a file that is being added.
const orphanGrace = 2

// sweep lists every target's labelled keys, counts those that no cluster is recorded for,
// and enqueues the ones seen so orphanGrace sweeps in a row. It acts on no key itself.
func (d *Daemon) sweep(ctx context.Context) {
	seen := map[runtime.Key][]string{}
	listed := map[string]bool{}
	recorded, err := d.store.ClusterNames(ctx)
	if err != nil {
		d.log.Debug("sweep: list recorded clusters", "err", err)
		return // without the records nothing can be called an orphan
	}
	for _, name := range slices.Sorted(maps.Keys(d.targets)) {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		keys, err := d.targets[name].Runtime.List(lctx)
		cancel()
		if err != nil {
			d.log.Debug("sweep: list clusters of target", "target", name, "err", err)
			continue // its counts are kept: an unreachable target says nothing
		}
		listed[name] = true
		for _, k := range keys {
			if !recorded[db.Name{Namespace: k.Namespace, Name: k.Name}] {
				seen[k] = append(seen[k], name)
			}
		}
	}
	var due []runtime.Key
	d.orphanMu.Lock()
	for k, o := range d.orphans {
		for t := range o.seen {
			if listed[t] && !slices.Contains(seen[k], t) {
				delete(o.seen, t)
				delete(o.held, t)
			}
		}
		if len(o.seen) == 0 {
			delete(d.orphans, k)
		}
	}
	for k, targets := range seen {
		o := d.orphans[k]
		if o == nil {
			o = &orphan{seen: map[string]int{}, held: map[string]string{}}
			d.orphans[k] = o
		}
		for _, t := range targets {
			o.seen[t]++
		}
		if len(o.due()) > 0 {
			due = append(due, k)
		}
	}
	d.orphanMu.Unlock()
	for _, k := range due {
		d.queue.Add(k)
	}
}

// due lists the targets o has been seen on long enough to be removed there, sorted.
func (o *orphan) due() []string {
	var out []string
	for t, n := range o.seen {
		if n >= orphanGrace {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out
}

// orphanTargets returns the targets where k is an orphan due for removal, and why its
// removal is held on each.
func (d *Daemon) orphanTargets(k runtime.Key) (targets []string, held map[string]string) {
	d.orphanMu.Lock()
	defer d.orphanMu.Unlock()
	o := d.orphans[k]
	if o == nil {
		return nil, nil
	}
	return o.due(), maps.Clone(o.held)
}

func (d *Daemon) setOrphanHeld(k runtime.Key, target, why string) {
	d.orphanMu.Lock()
	defer d.orphanMu.Unlock()
	if o := d.orphans[k]; o != nil {
		o.held[target] = why
	}
}

func (d *Daemon) forgetOrphan(k runtime.Key, target string) {
	d.orphanMu.Lock()
	defer d.orphanMu.Unlock()
	if o := d.orphans[k]; o != nil {
		delete(o.seen, target)
		delete(o.held, target)
		if len(o.seen) == 0 {
			delete(d.orphans, k)
		}
	}
}

// orphanStatuses lists the orphans whose removal is held, for `flinkctl status`.
func (d *Daemon) orphanStatuses() []api.ClusterStatus {
	d.orphanMu.Lock()
	defer d.orphanMu.Unlock()
	var out []api.ClusterStatus
	for _, k := range slices.SortedFunc(maps.Keys(d.orphans), compareKeys) {
		o := d.orphans[k]
		for _, t := range slices.Sorted(maps.Keys(o.held)) {
			if why := o.held[t]; why != "" {
				out = append(out, api.ClusterStatus{Name: k.Name, Namespace: k.Namespace, DeploymentTarget: t,
					Phase: spec.PhaseDeleting, Deleted: true, Message: why})
			}
		}
	}
	return out
}

func compareKeys(a, b runtime.Key) int {
	if a.Namespace != b.Namespace {
		if a.Namespace < b.Namespace {
			return -1
		}
		return 1
	}
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

// orphanInput is what decideOrphan looks at: one orphan on one target.
type orphanInput struct {
	Key    runtime.Key
	Target string
	Obs    runtime.Observed
	Flink  flinkView
	// Stop is the key's latest API stop request (flinkctl stop [--force] on the orphan).
	Stop *db.StopRequest
	// Held is why its removal was held on the previous pass ("" when it was not).
	Held string
	Now  time.Time
}

// orphanDecision is what one pass does to an orphan on one target.
type orphanDecision struct {
	// Gone: nothing is left there; Delete: remove what is.
	Gone, Delete bool
	// CancelJobs are jobs to cancel first (a forced stop of the orphan).
	CancelJobs []flink.Job
	// Held says why the removal waits ("" when it does not).
	Held         string
	Events       []db.Event
	Stop         *db.StopRequest
	RequeueAfter time.Duration
}

// decideOrphan decides an orphan's removal with the rule a stop follows (pure).
func decideOrphan(in orphanInput) orphanDecision {
	var od orphanDecision
	r := in.Stop
	next := func(o db.StopOutcome, msg string) {
		if r == nil || !r.Live() {
			return
		}
		n := *r
		n.Outcome, n.Message, n.DecidedAt = o, msg, in.Now
		if o == db.StopRefused {
			n.Force = false
		}
		od.Stop = &n
	}
	if !in.Obs.Exists {
		od.Gone = true
		next(db.StopDone, fmt.Sprintf("nothing of %s is left on target %s", in.Key, in.Target))
		return od
	}
	v := jobsOf(in.Obs, in.Flink)
	force := r.Forced()
	name := cliName(in.Key)
	prefix := fmt.Sprintf("no spec file declares %s, but target %s runs it; its removal is held: ", in.Key, in.Target)
	switch {
	case len(v.Jobs) > 0 && force && r.Outcome == db.StopPending && !r.CancelledAt.IsZero() && in.Now.Sub(r.CancelledAt) > cancelWait:
		od.Held = prefix + fmt.Sprintf("cancelled jobs did not end within %s: %s", cancelWait, describeJobs(v.Jobs))
		next(db.StopRefused, od.Held)
	case len(v.Jobs) > 0 && force:
		n := *r
		if n.CancelledAt.IsZero() {
			n.CancelledAt = in.Now
			od.Events = append(od.Events, warning("JobsCancelled", "flinkctl stop --force cancelled "+describeJobs(v.Jobs)))
		}
		n.Jobs = mergeJobs(n.Jobs, v.Jobs)
		od.Stop = &n
		od.CancelJobs = v.Jobs
		od.RequeueAfter = requeueCancel
		return od
	case len(v.Jobs) > 0:
		od.Held = prefix + fmt.Sprintf("%s; cancel them, or run `flinkctl stop --force %s`", describeJobs(v.Jobs), name)
		if r != nil && r.Outcome == db.StopPending {
			n := *r
			n.Jobs = dbJobs(v.Jobs)
			r = &n
		}
		next(db.StopRefused, od.Held)
	case v.Unknown != "" && !force:
		od.Held = prefix + fmt.Sprintf("cannot tell whether jobs run: %s; run `flinkctl stop --force %s` to remove it anyway", v.Unknown, name)
		next(db.StopRefused, od.Held)
	default:
		od.Delete = true
		msg := fmt.Sprintf("no spec file declares %s; removed what target %s ran for it", in.Key, in.Target)
		if v.Unknown != "" {
			od.Events = append(od.Events, warning("StopForced", fmt.Sprintf(
				"%s; removing the orphan without knowing whether jobs run, as `flinkctl stop --force` asked", v.Unknown)))
		}
		od.Events = append(od.Events, normal("OrphanRemoved", msg))
		next(db.StopDone, msg)
		return od
	}
	if od.Held != in.Held {
		od.Events = append(od.Events, warning("OrphanHeld", od.Held))
	}
	if r != nil && r.Outcome == db.StopPending && od.Stop == nil {
		od.RequeueAfter = requeueCancel
	}
	return od
}

// reconcileOrphan is the worker's pass over a key without a cluster: on every target where
// the sweep found it long enough, remove what runs for it, or hold and say why.
func (d *Daemon) reconcileOrphan(ctx context.Context, k runtime.Key, stop *db.StopRequest) (result, error) {
	targets, held := d.orphanTargets(k)
	if len(targets) == 0 {
		if stop != nil && stop.Outcome == db.StopPending {
			// Asked to stop something that is neither a cluster nor an orphan (any more).
			n := *stop
			n.Outcome, n.Message, n.DecidedAt = db.StopDone, fmt.Sprintf("no cluster %s, and nothing of it runs", k), d.now()
			return result{}, d.recordOrphan(ctx, k, nil, &n)
		}
		return result{}, nil
	}
	var res result
	for _, name := range targets {
		t := d.targets[name]
		log := d.log.With("cluster", k.String(), "target", name)
		obs, err := t.Runtime.Observe(ctx, k)
		if err != nil {
			return result{}, fmt.Errorf("observe orphan on target %s: %w", name, err)
		}
		od := decideOrphan(orphanInput{Key: k, Target: name, Obs: obs, Flink: d.askFlink(ctx, obs, flinkNeeds{Jobs: true}),
			Stop: stop, Held: held[name], Now: d.now()})
		if od.Held != held[name] && od.Held != "" {
			log.Warn("orphaned cluster not removed", "why", od.Held)
		}
		if len(od.CancelJobs) > 0 {
			if err := d.recordOrphan(ctx, k, od.Events, od.Stop); err != nil {
				return result{}, err
			}
			if err := d.cancelJobs(ctx, obs.REST, od.CancelJobs); err != nil {
				return result{}, fmt.Errorf("forced removal of an orphan: %w", err)
			}
			res.RequeueAfter = requeueCancel
			continue
		}
		if od.Delete {
			if err := t.Runtime.Delete(ctx, k); err != nil {
				return result{}, fmt.Errorf("remove orphan on target %s: %w", name, err)
			}
			log.Info("removed orphaned cluster: no spec file declares it")
		}
		if od.Delete || od.Gone {
			d.forgetOrphan(k, name)
		} else {
			d.setOrphanHeld(k, name, od.Held)
		}
		if err := d.recordOrphan(ctx, k, od.Events, od.Stop); err != nil {
			return result{}, err
		}
		if od.RequeueAfter > 0 {
			res.RequeueAfter = od.RequeueAfter
		}
		if stop != nil && od.Stop != nil {
			s := *od.Stop
			stop = &s
		}
	}
	return res, nil
}

// recordOrphan records an orphan's events and stop request in one transaction (events
// outlive clusters, so an orphan's are kept under its key).
func (d *Daemon) recordOrphan(ctx context.Context, k runtime.Key, events []db.Event, stop *db.StopRequest) error {
	if len(events) == 0 && stop == nil {
		return nil
	}
	err := d.store.Update(ctx, func(tx *db.Tx) error {
		for _, ev := range events {
			if err := tx.AddEvent(k.Namespace, k.Name, ev); err != nil {
				return err
			}
		}
		if stop != nil {
			if err := tx.UpdateStopRequest(*stop); err != nil && !errors.Is(err, db.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record orphan: %w", err)
	}
	d.changed()
	return nil
}
