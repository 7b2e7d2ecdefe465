package docker

import (
	"context"
	"testing"

	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/test/runtimetest"
)

func TestDockerRuntimePassesTheConformanceSuite(t *testing.T) {
	conformance(t, false)
}

// TestDockerRuntimeWithItsEventStreamPassesTheConformanceSuite runs the suite with the
// engine's event stream consumed, as the daemon does: Observe and List then answer from
// the observation cache, which must never show what is no longer so.
func TestDockerRuntimeWithItsEventStreamPassesTheConformanceSuite(t *testing.T) {
	conformance(t, true)
}

func conformance(t *testing.T, stream bool) {
	r, cli := newRuntime(t, Config{Ownership: runtimetest.Mine})
	other, _ := newRuntime(t, Config{Ownership: runtimetest.Theirs})
	successor, _ := newRuntime(t, Config{Ownership: runtimetest.Successor})
	if stream {
		for _, rt := range []*Runtime{r, other, successor} {
			drainChanges(t, rt)
		}
	}
	runtimetest.Run(t, runtimetest.Harness{
		Runtime:   r,
		Other:     other,
		Successor: successor,
		Cluster: func(k runtime.Key, n int, hash string) runtime.Cluster {
			t.Cleanup(func() { sweep(t, cli, k) })
			return testCluster(t, k, n, hash)
		},
		Foreign: func(t *testing.T, k runtime.Key) {
			t.Cleanup(func() { sweep(t, cli, k) })
			foreignContainer(t, cli, k, containerName(k, jobManagerID))
		},
		Namespace:   "conformance",
		RESTAnswers: true,
		Logs:        true,
		Timeout:     waitTimeout,
	})
}

// drainChanges consumes r's change events until the test ends, as the daemon does.
func drainChanges(t *testing.T, r *Runtime) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := r.Changes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range ch {
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}
