package watch

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// startDebounce runs debounce in the synctest bubble of t and stops it at the end of the test.
func startDebounce(t *testing.T, delay time.Duration) (chan<- item, <-chan Change) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	in := make(chan item)
	out := make(chan Change)
	var wg sync.WaitGroup
	wg.Go(func() { debounce(ctx, delay, in, out) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return in, out
}

// received returns what out holds right now, once every goroutine of the bubble is blocked.
func received(t *testing.T, out <-chan Change) []Change {
	t.Helper()
	var got []Change
	for {
		synctest.Wait()
		select {
		case c := <-out:
			got = append(got, c)
		default:
			return got
		}
	}
}

func path(p string) item { return item{change: Change{Path: p}} }

func TestDebounceBurstOfEventsGivesOneChangeDelayAfterTheLast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 100 * time.Millisecond
		in, out := startDebounce(t, delay)

		start := time.Now()
		for i := range 20 {
			if i > 0 {
				time.Sleep(5 * time.Millisecond) // fake time: a burst spread over 95ms
			}
			in <- path("a.yaml")
		}
		last := time.Now()
		if got := received(t, out); len(got) != 0 {
			t.Fatalf("changes during the burst: %v", got)
		}

		time.Sleep(delay - time.Nanosecond)
		if got := received(t, out); len(got) != 0 {
			t.Fatalf("changes before the quiet period ended: %v", got)
		}
		time.Sleep(time.Nanosecond)
		got := received(t, out)
		if diff := cmp.Diff([]Change{{Path: "a.yaml"}}, got); diff != "" {
			t.Fatalf("changes (-want +got):\n%s", diff)
		}
		if took, want := time.Since(last), delay; took != want {
			t.Errorf("change came %v after the last event, want %v (burst started %v before)", took, want, last.Sub(start))
		}
	})
}

func TestDebounceKeepsPathsApartAndSendsThemInDueOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := startDebounce(t, 100*time.Millisecond)

		in <- path("b.yaml")
		in <- path("a.yaml")
		time.Sleep(10 * time.Millisecond)
		in <- path("b.yaml") // b's quiet period restarts: a is due first
		time.Sleep(time.Second)

		want := []Change{{Path: "a.yaml"}, {Path: "b.yaml"}}
		if diff := cmp.Diff(want, received(t, out)); diff != "" {
			t.Fatalf("changes (-want +got):\n%s", diff)
		}
	})
}

func TestDebounceSendsPathsDueTogetherSortedByPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := startDebounce(t, 100*time.Millisecond)

		in <- path("c.yaml")
		in <- path("a.yaml")
		in <- path("b.yaml")
		time.Sleep(time.Second)

		want := []Change{{Path: "a.yaml"}, {Path: "b.yaml"}, {Path: "c.yaml"}}
		if diff := cmp.Diff(want, received(t, out)); diff != "" {
			t.Fatalf("changes (-want +got):\n%s", diff)
		}
	})
}

func TestDebounceImmediateItemSkipsTheQuietPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := startDebounce(t, 100*time.Millisecond)

		in <- item{change: Change{Rescan: true}, now: true}
		in <- path("a.yaml")

		if diff := cmp.Diff([]Change{{Rescan: true}}, received(t, out)); diff != "" {
			t.Fatalf("changes at once (-want +got):\n%s", diff)
		}
		time.Sleep(100 * time.Millisecond)
		if diff := cmp.Diff([]Change{{Path: "a.yaml"}}, received(t, out)); diff != "" {
			t.Fatalf("changes after the quiet period (-want +got):\n%s", diff)
		}
	})
}

func TestDebounceSameImmediateItemTwiceBeforeItIsReadGivesOneChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := startDebounce(t, 100*time.Millisecond)

		in <- item{change: Change{Rescan: true}, now: true}
		in <- item{change: Change{Rescan: true}, now: true}

		if diff := cmp.Diff([]Change{{Rescan: true}}, received(t, out)); diff != "" {
			t.Fatalf("changes (-want +got):\n%s", diff)
		}
	})
}

func TestDebounceEventForAnUnreadChangeRestartsItsQuietPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := startDebounce(t, 100*time.Millisecond)

		// Nobody reads out: a.yaml becomes due and waits.
		in <- path("a.yaml")
		time.Sleep(150 * time.Millisecond)
		// The burst goes on before the reader came: the waiting Change is withdrawn.
		in <- path("a.yaml")
		time.Sleep(50 * time.Millisecond)

		if got := received(t, out); len(got) != 0 {
			t.Fatalf("changes while the burst goes on: %v", got)
		}
		time.Sleep(50 * time.Millisecond)
		if diff := cmp.Diff([]Change{{Path: "a.yaml"}}, received(t, out)); diff != "" {
			t.Fatalf("changes (-want +got):\n%s", diff)
		}
	})
}

func TestDebounceAcceptsEventsWhileNobodyReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in, out := startDebounce(t, 100*time.Millisecond)

		for i := range 1000 {
			in <- path(string(rune('a'+i%26)) + ".yaml") // would block if debounce stopped reading
			time.Sleep(time.Millisecond)
		}
		time.Sleep(time.Second)
		if got := received(t, out); len(got) != 26 {
			t.Fatalf("got %d changes, want one per path (26): %v", len(got), got)
		}
	})
}

func TestDebounceReturnsWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		in := make(chan item)
		out := make(chan Change)
		done := make(chan struct{})
		go func() { debounce(ctx, time.Second, in, out); close(done) }()

		in <- path("a.yaml") // pending timer
		in <- item{change: Change{Rescan: true}, now: true}
		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("debounce still running after its context ended")
		}
	})
}

func TestBackoffDoublesUpToItsCapAndResets(t *testing.T) {
	b := backoff{base: 250 * time.Millisecond, max: 2 * time.Second}
	var got []time.Duration
	for range 6 {
		got = append(got, b.next())
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second, 2 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("delays (-want +got):\n%s", diff)
	}
	if b.n != 6 {
		t.Errorf("attempts = %d, want 6", b.n)
	}
	b.reset()
	if d := b.next(); d != 250*time.Millisecond {
		t.Errorf("first delay after reset = %v, want 250ms", d)
	}
}
