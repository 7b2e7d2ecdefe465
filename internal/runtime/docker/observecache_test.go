package docker

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/flinkd/flinkd/internal/runtime"
)

// callCounter counts the engine API requests made through it, by method and path.
type callCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (c *callCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	path := req.URL.Path
	if rest, ok := strings.CutPrefix(path, "/v1."); ok { // the negotiated version prefix
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			path = rest[i:]
		}
	}
	c.mu.Lock()
	c.n[req.Method+" "+path]++
	c.mu.Unlock()
	return c.next.RoundTrip(req)
}

// take returns the requests counted since the last take, leaving out the event stream.
func (c *callCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.n {
		if !strings.HasSuffix(k, "/events") {
			out[k] = v
		}
	}
	c.n = map[string]int{}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// countCalls makes r's engine client count its requests.
func countCalls(t *testing.T, r *Runtime) *callCounter {
	t.Helper()
	orig := r.cli.HTTPClient()
	hc := *orig
	cc := &callCounter{next: orig.Transport, n: map[string]int{}}
	hc.Transport = cc
	cli, err := client.NewClientWithOpts(client.WithHost(r.cli.DaemonHost()), client.WithVersion(r.cli.ClientVersion()), client.WithHTTPClient(&hc))
	if err != nil {
		t.Fatal(err)
	}
	r.cli = cli
	return cc
}

// TestObservationSharesOneListAndFollowsEvents: with the event stream running, observing
// every cluster costs one list of everything (two engine calls) however many clusters
// there are, observing them again at once costs nothing, and a container killed behind
// flinkd's back is seen at once on its cluster (its event) while the others stay free.
func TestObservationSharesOneListAndFollowsEvents(t *testing.T) {
	r, cli := newRuntime(t, Config{Ownership: runtime.Ownership{Owner: "cache-test"}})
	keys := []runtime.Key{testKey(t, cli), testKey(t, cli), testKey(t, cli)}
	for _, k := range keys {
		if err := r.Apply(t.Context(), testCluster(t, k, 1, "hash-cache"), nil); err != nil {
			t.Fatalf("apply %s: %v", k, err)
		}
	}
	drainChanges(t, r)
	var obs []runtime.Observed
	for _, k := range keys {
		obs = append(obs, waitFor(t, r, k, k.String()+" up", up(1, "hash-cache")))
	}
	cc := countCalls(t, r)

	// Until a list of everything began after the last change, observations list.
	deadline := time.Now().Add(waitTimeout)
	for {
		cc.take()
		for _, k := range keys {
			if _, err := r.Observe(t.Context(), k); err != nil {
				t.Fatal(err)
			}
		}
		got := cc.take()
		if total(got) == 0 {
			break // all three from one list, made in an earlier round
		}
		if total(got) > 2*len(keys) {
			t.Fatalf("observing %d clusters cost %v", len(keys), got)
		}
		if time.Now().After(deadline) {
			t.Fatalf("observations never came from the cache; last round cost %v", got)
		}
		poll(t, 50*time.Millisecond)
	}
	// Once the list is older than cacheMaxAge, one list of everything serves all three.
	poll(t, cacheMaxAge+100*time.Millisecond) // let the list age: a measured expiry, not a wait for a condition
	for _, k := range keys {
		if _, err := r.Observe(t.Context(), k); err != nil {
			t.Fatal(err)
		}
	}
	if got := cc.take(); got["GET /containers/json"] != 1 || got["GET /networks"] != 1 || total(got) != 2 {
		t.Errorf("observing %d idle clusters after the cache aged cost %v, want one list of containers and one of networks", len(keys), got)
	}
	if l, err := r.List(t.Context()); err != nil || len(l) < len(keys) {
		t.Fatalf("List = %v, %v", l, err)
	}
	if got := cc.take(); total(got) != 0 {
		t.Errorf("List right after cost %v, want nothing (the same list)", got)
	}

	// A kill by hand: the event invalidates that cluster only.
	if err := cli.ContainerKill(t.Context(), obs[0].TaskManagers[0].RuntimeID, "KILL"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, keys[0], "killed taskmanager seen", func(o runtime.Observed) bool {
		return len(o.TaskManagers) == 1 && o.TaskManagers[0].State == runtime.StateExited
	})
	cc.take()
	for _, k := range keys[1:] {
		o, err := r.Observe(t.Context(), k)
		if err != nil || !up(1, "hash-cache")(o) {
			t.Fatalf("observe %s: %+v, %v", k, o, err)
		}
	}
	if got := cc.take(); got["GET /containers/json"] > 1 {
		t.Errorf("observing the two untouched clusters cost %v, want at most one list", got)
	}
	ins, err := cli.ContainerInspect(t.Context(), obs[0].TaskManagers[0].RuntimeID)
	if err != nil || ins.State.Status != container.StateExited {
		t.Fatalf("the killed taskmanager is %v (%v)", ins.State, err)
	}
}

// TestObserveCacheTrustsOnlyListsBegunAfterTheLastChange follows the cache's rules without
// an engine: nothing is trusted without a stream, a list begun before a key's change is not
// trusted for it, a list of everything says which keys are absent, and nothing is trusted
// past cacheMaxAge or across a reconnection of the stream.
func TestObserveCacheTrustsOnlyListsBegunAfterTheLastChange(t *testing.T) {
	a, b, gone := runtime.Key{Namespace: "n", Name: "a"}, runtime.Key{Namespace: "n", Name: "b"}, runtime.Key{Namespace: "n", Name: "gone"}
	stateOf := func(name string) observedState {
		return observedState{Networks: []observedNetwork{{Name: name}}}
	}
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	c := newObserveCache()
	check := func(what string, k runtime.Key, now time.Time, wantOK bool, want string) {
		t.Helper()
		o, ok := c.lookup(k, now)
		got := ""
		if len(o.Networks) > 0 {
			got = o.Networks[0].Name
		}
		if ok != wantOK || got != want {
			t.Errorf("%s: lookup(%s) = %q, %v; want %q, %v", what, k.Name, got, ok, want, wantOK)
		}
	}

	gen, streaming := c.begin()
	c.storeAll(gen, t0, map[runtime.Key]observedState{a: stateOf("a1")})
	check("no stream", a, t0, false, "")
	if streaming {
		t.Fatal("a new cache says the stream runs")
	}

	c.streamUp()
	check("a list from before the stream", a, t0, false, "")
	gen, _ = c.begin()
	c.storeAll(gen, t0, map[runtime.Key]observedState{a: stateOf("a1"), b: stateOf("b1")})
	check("listed", a, t0.Add(time.Second), true, "a1")
	check("absent from a list of everything", gone, t0.Add(time.Second), true, "")
	if keys, ok := c.keys(t0.Add(time.Second)); !ok || len(keys) != 2 {
		t.Errorf("keys = %v, %v; want a and b", keys, ok)
	}

	gen, _ = c.begin() // a list of a begins, then a changes: that list is outdated
	c.change(a)
	c.storeKey(a, gen, t0.Add(time.Second), stateOf("a2"))
	check("a list begun before the change", a, t0.Add(time.Second), false, "")
	check("another key is untouched", b, t0.Add(time.Second), true, "b1")
	if _, ok := c.keys(t0.Add(time.Second)); ok {
		t.Error("keys trusted after a change")
	}
	gen, _ = c.begin()
	c.storeKey(a, gen, t0.Add(time.Second), stateOf("a3"))
	check("a list begun after the change", a, t0.Add(time.Second), true, "a3")

	c.change(gone)
	check("a key that changed is no longer known absent", gone, t0.Add(time.Second), false, "")

	check("past cacheMaxAge", b, t0.Add(cacheMaxAge), false, "")

	c.streamDown()
	check("stream down", a, t0.Add(time.Second), false, "")
	c.streamUp()
	check("stream up again: older lists are not trusted", a, t0.Add(time.Second), false, "")
}
