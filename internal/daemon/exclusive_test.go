package daemon

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/client"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/test/runtimetest"
)

// Everything that acts on a cluster goes through its worker: stops (forced ones included, with
// their job cancellations), starts, scale edits, file removals, orphan sweeps and engine
// events all hit one key at once, and the runtime never sees two of Apply, Observe and Delete
// for that key at the same time (runtimetest.Exclusive fails the test on any overlap). Logs
// are read beside the worker, as the Runtime contract allows. Run it with -race.
func TestOneKeyIsActedOnByOneWorkerAtATime(t *testing.T) {
	var ex *runtimetest.Exclusive
	h := newHarness(t, wrapRuntimes(func(r runtime.Runtime) runtime.Runtime {
		ex = runtimetest.NewExclusive(t, r)
		return ex
	}), func(c *Config) { c.Resync = 100 * time.Millisecond })
	// A slow engine: every step of the fake takes a moment, so that calls would overlap if
	// anything but the worker made them.
	h.rt.Hook = func(ctx context.Context, _ string, _ runtime.Key) error {
		select {
		case <-time.After(5 * time.Millisecond): // the engine's latency, not a wait
		case <-ctx.Done():
		}
		return nil
	}
	c := h.serve()
	k := key("wc")
	path := filepath.Join(h.specs, "wc.yaml")
	var fileMu sync.Mutex // the test's own edits of the file, one at a time

	const rounds = 30
	var wg sync.WaitGroup
	actor := func(seed uint64, act func(r *rand.Rand)) {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, 10))
			for range rounds {
				act(r)
				select {
				case <-time.After(time.Duration(50+r.IntN(250)) * time.Millisecond): // pace, not a wait
				case <-t.Context().Done():
					return
				}
			}
		})
	}
	var decided atomic.Int32      // stops the worker decided (accepted or refused)
	actor(1, func(r *rand.Rand) { // the API: stop (sometimes forced) and start
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if r.IntN(3) > 0 {
			if _, err := c.Stop(ctx, k.Namespace, k.Name, r.IntN(2) == 0); err == nil || client.IsRefused(err) {
				decided.Add(1)
			}
		} else {
			_, _ = c.Start(ctx, k.Namespace, k.Name)
		}
	})
	actor(2, func(r *rand.Rand) { // the file: scale, stop by hand, remove, write again
		fileMu.Lock()
		defer fileMu.Unlock()
		switch r.IntN(5) {
		case 0, 1:
			_ = os.Remove(path)
		case 2:
			h.write("wc.yaml", clusterYAML("wc", "STOPPED", 1+r.IntN(3), ""))
		default:
			h.write("wc.yaml", clusterYAML("wc", "RUNNING", 1+r.IntN(3), ""))
		}
	})
	actor(3, func(r *rand.Rand) { // orphans: resources made behind flinkd's back while no file declares the key
		fileMu.Lock()
		_, err := os.Stat(path)
		fileMu.Unlock()
		if err == nil {
			return
		}
		orphan := runtime.Cluster{Key: k, Image: "x", Hash: fmt.Sprint("orphan-", r.IntN(3)), TaskManagers: 1, FlinkVersion: "1.20",
			FlinkConfig: map[string]string{"taskmanager.memory.process.size": "2000000000b"}}
		_ = h.rt.Apply(t.Context(), orphan, nil) // the inner runtime: not the daemon's call
	})
	actor(4, func(r *rand.Rand) { // engine events: a TaskManager dies
		_ = h.rt.Kill(k, fmt.Sprintf("taskmanager-%d", 1+r.IntN(3)))
	})
	actor(5, func(*rand.Rand) { // logs, read beside the worker
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if rc, err := c.Logs(ctx, k.Namespace, k.Name, "jobmanager", false, 10); err == nil {
			_, _ = io.Copy(io.Discard, rc)
			rc.Close()
		}
	})
	wg.Wait()

	// It all converges to what the file says in the end.
	fileMu.Lock()
	h.write("wc.yaml", clusterYAML("wc", "RUNNING", 2, ""))
	fileMu.Unlock()
	h.waitRunning("wc", 2)
	if ex.Overlaps() != 0 {
		t.Errorf("%d of %d runtime calls for %s overlapped another", ex.Overlaps(), ex.Calls(), k)
	}
	// The run did what it says: stops decided, orphans swept, clusters torn down.
	deletes := 0
	for _, call := range h.rt.Calls() {
		if call.Op == "delete" && call.Key == k {
			deletes++
		}
	}
	orphans := 0
	for _, ev := range h.events("wc") {
		if ev.Reason == "OrphanRemoved" || ev.Reason == "OrphanHeld" {
			orphans++
		}
	}
	t.Logf("%d runtime calls for one key: %d stops decided, %d deletes, %d orphan sweeps",
		ex.Calls(), decided.Load(), deletes, orphans)
	if decided.Load() == 0 || deletes == 0 || orphans == 0 {
		t.Errorf("the run missed a path: %d stops decided, %d deletes, %d orphan sweeps", decided.Load(), deletes, orphans)
	}
}
