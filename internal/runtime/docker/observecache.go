package docker

import (
	"sync"
	"time"

	"github.com/flinkd/flinkd/internal/runtime"
)

// The observation cache: what Observe and List cost.
//
// A pass over an idle cluster only needs to know that nothing changed. While the engine's
// event stream runs (Changes), every change to one of flinkd's containers arrives as an
// event, and the runtime's own Apply and Delete mark what they touched; a cluster whose
// containers nothing changed since they were last listed is observed from that list. So
// the clusters of one resync share one list of all of flinkd's networks and containers
// (two engine calls, whatever their number), a cluster that changed is listed alone (two
// calls, as without the cache), and a cluster polled while it starts costs no engine call
// between two of its events. Nothing is older than cacheMaxAge: a change no event reports
// (a network removed by hand) is seen within that time. Without a running event stream
// (before Changes is called, or while it reconnects) every Observe lists.
const cacheMaxAge = 2 * time.Second

// observeCache holds the last lists. gen counts changes: an entry is valid while no change
// of its key came after the list it is from began.
type observeCache struct {
	mu sync.Mutex
	// streaming is true while the event stream delivers; validFrom is the generation from
	// which entries are trusted (a (re)connection makes older ones untrusted).
	streaming bool
	validFrom uint64
	gen       uint64
	changed   map[runtime.Key]uint64 // generation of each key's last change
	entries   map[runtime.Key]cacheEntry
	// all is the last list of everything: a key it does not hold did not exist then.
	all     cacheEntry
	allKeys map[runtime.Key]bool
}

type cacheEntry struct {
	state observedState
	gen   uint64 // the generation when the list began
	at    time.Time
}

func newObserveCache() *observeCache {
	return &observeCache{changed: map[runtime.Key]uint64{}, entries: map[runtime.Key]cacheEntry{}}
}

func (e cacheEntry) fresh(now time.Time) bool {
	return !e.at.IsZero() && now.Sub(e.at) < cacheMaxAge
}

// begin returns the generation a list that starts now is from, and whether lists are
// trusted at all (the event stream runs).
func (c *observeCache) begin() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.streaming
}

// lookup returns k's state from a list that began after k last changed and is fresh.
func (c *observeCache) lookup(k runtime.Key, now time.Time) (observedState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.streaming {
		return observedState{}, false
	}
	valid := func(e cacheEntry) bool {
		return e.fresh(now) && e.gen >= c.validFrom && e.gen >= c.changed[k]
	}
	if e, ok := c.entries[k]; ok && valid(e) {
		return e.state, true
	}
	if valid(c.all) && !c.allKeys[k] {
		return observedState{}, true // absent from a list of everything
	}
	return observedState{}, false
}

// keys returns the keys of a fresh, trusted list of everything that nothing changed since.
func (c *observeCache) keys(now time.Time) ([]runtime.Key, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.streaming || !c.all.fresh(now) || c.all.gen < c.validFrom || c.gen != c.all.gen {
		return nil, false
	}
	out := make([]runtime.Key, 0, len(c.allKeys))
	for k := range c.allKeys {
		out = append(out, k)
	}
	return out, true
}

// allFresh says whether the list of everything can still serve lookups.
func (c *observeCache) allFresh(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streaming && c.all.fresh(now) && c.all.gen >= c.validFrom
}

// storeKey records one key's list, begun at generation gen.
func (c *observeCache) storeKey(k runtime.Key, gen uint64, at time.Time, o observedState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[k]; ok && old.gen > gen {
		return
	}
	c.entries[k] = cacheEntry{state: o, gen: gen, at: at}
}

// storeAll records a list of everything, begun at generation gen.
func (c *observeCache) storeAll(gen uint64, at time.Time, byKey map[runtime.Key]observedState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.all.gen > gen {
		return
	}
	c.all = cacheEntry{gen: gen, at: at}
	c.allKeys = make(map[runtime.Key]bool, len(byKey))
	for k, o := range byKey {
		c.allKeys[k] = true
		if old, ok := c.entries[k]; !ok || old.gen <= gen {
			c.entries[k] = cacheEntry{state: o, gen: gen, at: at}
		}
	}
	for k, e := range c.entries {
		if !c.allKeys[k] && e.gen <= gen {
			delete(c.entries, k)
		}
	}
	for k, g := range c.changed {
		if g < c.validFrom && !c.allKeys[k] {
			delete(c.changed, k) // long past, and gone: nothing left to compare with
		}
	}
}

// change records that k's resources changed (an event, or the runtime's own action).
func (c *observeCache) change(k runtime.Key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.changed[k] = c.gen
}

// streamUp says the event stream delivers every change from now on (it resumes from
// before it was opened); what was listed before is no longer trusted.
func (c *observeCache) streamUp() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.validFrom = c.gen
	c.streaming = true
}

// streamDown says changes may go unreported: every Observe lists again.
func (c *observeCache) streamDown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.streaming = false
}
