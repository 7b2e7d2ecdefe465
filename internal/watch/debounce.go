package watch

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// item is one input of debounce: a Change that may have happened, and whether it is to be
// delivered without waiting for the end of a burst.
type item struct {
	change Change
	now    bool
}

// debounce turns a stream of items into Changes on out. Every item for a key (a Change is
// its own key) resets that key's quiet period, and the key is sent once, delay after its
// last item: a burst of events gives one Change. An item with now set skips the quiet
// period. A key that is due but not yet taken by a slow reader goes back to waiting when a
// new item for it arrives, so the reader never gets a Change from the middle of a burst.
// Keys are sent in the order they became due (ties by path).
//
// debounce always accepts from in, even while out is not read, and returns when ctx ends.
// It never closes out.
func debounce(ctx context.Context, delay time.Duration, in <-chan item, out chan<- Change) {
	due := make(map[Change]time.Time)
	var ready []Change
	timer := time.NewTimer(delay)
	timer.Stop()
	defer timer.Stop()

	rearm := func() {
		if len(due) == 0 {
			timer.Stop()
			return
		}
		var first time.Time
		for _, t := range due {
			if first.IsZero() || t.Before(first) {
				first = t
			}
		}
		timer.Reset(time.Until(first))
	}

	for {
		var send chan<- Change
		var next Change
		if len(ready) > 0 {
			send, next = out, ready[0]
		}
		select {
		case <-ctx.Done():
			return
		case it := <-in:
			ready = slices.DeleteFunc(ready, func(c Change) bool { return c == it.change })
			if it.now {
				ready = append(ready, it.change)
				continue
			}
			due[it.change] = time.Now().Add(delay)
			rearm()
		case now := <-timer.C:
			var fired []Change
			for c, t := range due {
				if !t.After(now) {
					fired = append(fired, c)
				}
			}
			slices.SortFunc(fired, func(a, b Change) int {
				return cmp.Or(due[a].Compare(due[b]), cmp.Compare(a.Path, b.Path))
			})
			for _, c := range fired {
				delete(due, c)
			}
			ready = append(ready, fired...)
			rearm()
		case send <- next:
			ready = ready[1:]
		}
	}
}
