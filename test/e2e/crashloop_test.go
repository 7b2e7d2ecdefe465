package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/runtime"
)

// startWatch records, from the engine's event stream, when each container of cluster
// default/name with the given component starts.
type startWatch struct {
	mu     sync.Mutex
	starts []time.Time
}

func (f *flinkd) watchStarts(name, component string) *startWatch {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f.t.Cleanup(cancel)
	msgs, errs := f.docker.Events(ctx, events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("event", string(events.ActionStart)),
		filters.Arg("label", runtime.LabelInstance+"="+name),
		filters.Arg("label", runtime.LabelComponent+"="+component),
	)})
	w := &startWatch{}
	go func() {
		for {
			select {
			case m := <-msgs:
				w.mu.Lock()
				w.starts = append(w.starts, time.Unix(0, m.TimeNano))
				w.mu.Unlock()
			case err := <-errs:
				if ctx.Err() == nil {
					f.t.Errorf("engine event stream: %v", err)
				}
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return w
}

func (w *startWatch) all() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Time(nil), w.starts...)
}

// waitStarts waits until at least n starts were seen.
func (w *startWatch) waitStarts(t *testing.T, n int, within time.Duration) []time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if s := w.all(); len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d starts within %s, want %d: %v", len(w.all()), within, n, w.all())
		}
		time.Sleep(pollInterval) // poll interval
	}
}

// A JobManager that exits at once (a configuration its memory model rejects) is restarted
// with the kubelet's growing back-off, not at every engine event: at most 7 starts in 150 s.
// Status says it keeps dying and when the next start is; an edit of the file retries at once.
func TestCrashLoopingJobManagerBacksOff(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("crash")
	starts := f.watchStarts(name, runtime.ComponentJobManager)
	// A REST port outside 0-65535 passes flinkd's validation (it does not own rest.bind-port)
	// but the JobManager cannot start its REST server with it and exits with code 1 at once.
	// (A memory size Flink refuses no longer reaches a container: flinkd's validation runs
	// Flink's memory model and refuses the file.)
	spec := clusterYAML(name, "RUNNING", 1, "    rest.bind-port: \"70000\"\n")
	f.write("crash.yaml", spec)

	first := starts.waitStarts(t, 1, waitLong)[0]
	const window = 150 * time.Second
	var failed api.ClusterStatus
	for time.Since(first) < window {
		if cs, err := f.status(name); err == nil && cs.Phase == "FAILED" && strings.Contains(cs.Message, "next restart at") {
			failed = cs
		}
		if !f.running() {
			t.Fatalf("flinkd exited (%v)", f.exitErr)
		}
		time.Sleep(time.Second) // poll interval
	}
	var in []time.Duration
	for _, s := range starts.all() {
		if d := s.Sub(first); d <= window {
			in = append(in, d.Round(100*time.Millisecond))
		}
	}
	t.Logf("JobManager starts in the first %s: %d, at %v", window, len(in), in)
	if len(in) > 7 {
		t.Errorf("%d JobManager starts in %s, want at most 7 (a growing back-off): %v", len(in), window, in)
	}
	if len(in) < 4 {
		t.Errorf("%d JobManager starts in %s, want it retried on the kubelet's schedule (0, 1, 11, 31, 71 s): %v", len(in), window, in)
	}
	for _, want := range []string{"jobmanager keeps dying", "exit code 1", "next restart at", "Could not start cluster entrypoint"} {
		if !strings.Contains(failed.Message, want) {
			t.Errorf("FAILED status %q lacks %q", failed.Message, want)
		}
	}

	// Wait for the back-off to be minutes long (the start due around now has happened and
	// died again); then an edit of the file retries at once.
	var due time.Time
	f.waitCluster(name, "backing off for over a minute", func(cs api.ClusterStatus) bool {
		due = nextRestart(cs.Message)
		return cs.Phase == "FAILED" && time.Until(due) > time.Minute
	})
	before := len(starts.all())
	edited := time.Now()
	f.write("crash.yaml", "# edited: retry now\n"+spec)
	got := starts.waitStarts(t, before+1, 30*time.Second)
	if took := got[before].Sub(edited); took > 15*time.Second || got[before].After(due) {
		t.Errorf("the edit was followed by a start after %s (the back-off would have waited until %s), want at once", took, due)
	}
	f.waitEvent(name, "SpecChanged", "crash.yaml changed")
}

// nextRestart reads the time of the next restart from a status message ("next restart at
// 2026-11-24T12:00:40Z (back-off 40s)"); zero when there is none.
func nextRestart(msg string) time.Time {
	_, after, ok := strings.Cut(msg, "next restart at ")
	if !ok {
		return time.Time{}
	}
	ts, _, _ := strings.Cut(after, " ")
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return time.Time{}
	}
	return t
}
