package docker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Changes sends the key of every cluster one of whose containers died, started, was
// killed, OOM-killed or removed, from the engine's event stream filtered by flinkd's
// label. A broken stream is reopened with capped backoff, from the time of the last event
// seen. The channel is closed when ctx ends. Events only nudge: the daemon re-observes.
func (r *Runtime) Changes(ctx context.Context) (<-chan runtime.Key, error) {
	out := make(chan runtime.Key, 64)
	go r.watchEvents(ctx, out)
	return out, nil
}

func newEventBackoff() wait.Backoff {
	return wait.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: math.MaxInt32, Cap: 30 * time.Second}
}

func (r *Runtime) watchEvents(ctx context.Context, out chan<- runtime.Key) {
	defer close(out)
	backoff := newEventBackoff()
	// The first stream replays from a second ago (the engine's clock may lag ours a
	// little): no change between asking for the stream and the engine sending it is lost,
	// which the observation cache relies on.
	since := time.Now().Add(-time.Second)
	for {
		r.cache.streamUp()
		received, err := r.streamEvents(ctx, since, out)
		r.cache.streamDown()
		if !received.IsZero() {
			since = received
			backoff = newEventBackoff()
		}
		if ctx.Err() != nil {
			return
		}
		d := backoff.Step()
		r.log.Warn("engine event stream broke, reconnecting", "err", err, "retry_in", d)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// streamEvents forwards events until the stream breaks or ctx ends, and returns the time of
// the last event it saw (zero if none).
func (r *Runtime) streamEvents(ctx context.Context, since time.Time, out chan<- runtime.Key) (time.Time, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := events.ListOptions{Filters: r.changeFilter()}
	// Resume just after the last event seen.
	next := since.Add(time.Nanosecond)
	opts.Since = fmt.Sprintf("%d.%09d", next.Unix(), next.Nanosecond())
	msgs, errs := r.cli.Events(ctx, opts)
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case err := <-errs:
			if err == nil {
				err = errors.New("event stream ended")
			}
			return last, err
		case m := <-msgs:
			if m.TimeNano != 0 {
				last = time.Unix(0, m.TimeNano)
			}
			k, ok := r.own.KeyOf(m.Actor.Attributes)
			if !ok {
				continue
			}
			r.cache.change(k) // before the daemon hears of it: its pass observes afresh
			r.log.Debug("engine event", "cluster", k.String(), "action", string(m.Action),
				"container", m.Actor.Attributes["name"])
			select {
			case out <- k:
			case <-ctx.Done():
				return last, ctx.Err()
			}
		}
	}
}

// changeFilter selects the events of flinkd's containers that may change a cluster's
// observed state (all that the observation cache must hear of).
func (r *Runtime) changeFilter() filters.Args {
	f := ownedFilter(r.own)
	f.Add("type", string(events.ContainerEventType))
	for _, a := range []events.Action{
		events.ActionCreate, events.ActionDie, events.ActionStart, events.ActionDestroy, events.ActionOOM,
		events.ActionKill, events.ActionPause, events.ActionUnPause, events.ActionRename, events.ActionUpdate,
	} {
		f.Add("event", string(a))
	}
	return f
}
