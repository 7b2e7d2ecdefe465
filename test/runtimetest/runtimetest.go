// Package runtimetest is the conformance suite every runtime.Runtime passes: the in-memory
// fake, Docker and Kubernetes. It keeps the fake honest: a behaviour the daemon relies on is
// written down here once and checked against all three.
package runtimetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Harness describes the runtime under test.
type Harness struct {
	// Runtime is the runtime under test.
	Runtime runtime.Runtime
	// Cluster returns a desired cluster for k with n TaskManagers and the given hash that the
	// runtime can actually run (an image it has, a config its processes accept).
	Cluster func(k runtime.Key, taskManagers int, hash string) runtime.Cluster
	// Foreign creates, outside flinkd and without flinkd's labels, a resource holding a name
	// the runtime needs for k (its JobManager's, say), and removes it in t.Cleanup.
	Foreign func(t *testing.T, k runtime.Key)
	// Namespace is the SessionCluster namespace of the keys the suite makes.
	Namespace string
	// RESTAnswers says that Observed.REST reaches a JobManager that reports its registered
	// TaskManagers (true for the fake and Docker; false where pods do not really run).
	RESTAnswers bool
	// Logs says that the runtime's LogSource returns JobManager output.
	Logs bool
	// Timeout bounds every wait for a condition (default 90s).
	Timeout time.Duration
	// Other, when set, is a second runtime on the same engine or namespace used by another
	// flinkd (ownership Theirs, where Runtime has Mine). Runtimes that share nothing between
	// instances (the in-memory fake) leave it nil.
	Other runtime.Runtime
	// Successor, set with Other, is a third runtime on the same engine or namespace with
	// ownership Successor: a flinkd whose former identity is Other's.
	Successor runtime.Runtime
}

// Ownerships of the runtimes a harness makes: Runtime is Mine, Other is Theirs, and
// Successor took Theirs over as a former identity (as flinkd does with the random identity
// an older flinkd kept in its database).
var (
	Mine      = runtime.Ownership{Owner: "conformance-a", Specs: "/conformance/a"}
	Theirs    = runtime.Ownership{Owner: "conformance-b", Specs: "/conformance/b"}
	Successor = runtime.Ownership{Owner: "conformance-c", Specs: "/conformance/c", Former: []string{"conformance-b"}}
)

// Run runs the conformance suite. Subtests run one after another: real runtimes share an
// engine or an API server, and the machine is small.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Timeout == 0 {
		h.Timeout = 90 * time.Second
	}
	if h.Namespace == "" {
		h.Namespace = "conformance"
	}
	s := &suite{h: h}
	t.Run("AbsentClusterIsNotAnError", s.absent)
	t.Run("ApplyCreatesJobManagerAndTaskManagers", s.create)
	t.Run("ApplyIsIdempotent", s.idempotent)
	t.Run("ScaleUpKeepsExistingInstances", s.scaleUp)
	t.Run("ScaleDownRemovesPreferredTaskManagersFirst", s.scaleDown)
	t.Run("HashChangeRecreatesInstances", s.hashChange)
	t.Run("DeleteLeavesNothing", s.delete)
	t.Run("ForeignNameIsNotOwned", s.foreign)
	t.Run("ClustersSideBySideAreSeparate", s.sideBySide)
	if h.Other != nil {
		t.Run("AnotherDaemonNeitherSeesNorTakesIt", s.otherOwner)
	}
	if h.Other != nil && h.Successor != nil {
		t.Run("FormerIdentityIsAdoptedWithoutRecreating", s.successor)
	}
	if h.Logs {
		t.Run("LogsOfJobManager", s.logs)
	}
}

type suite struct{ h Harness }

func (s *suite) key(t *testing.T) runtime.Key {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	name = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			return r
		}
		return -1
	}, name)
	name = strings.TrimPrefix(name, "test")
	if len(name) > 30 {
		name = name[len(name)-30:]
	}
	name = strings.Trim(name, "-")
	return runtime.Key{Namespace: s.h.Namespace, Name: "c" + hex.EncodeToString(b) + "-" + name}
}

// apply applies c and registers a Delete in t.Cleanup.
func (s *suite) apply(t *testing.T, c runtime.Cluster) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
		defer cancel()
		if err := s.h.Runtime.Delete(ctx, c.Key); err != nil {
			t.Errorf("cleanup: delete %s: %v", c.Key, err)
		}
	})
	if err := s.h.Runtime.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply %s: %v", c.Key, err)
	}
}

// waitFor polls Observe until cond holds, and returns the last observation.
func (s *suite) waitFor(t *testing.T, k runtime.Key, what string, cond func(runtime.Observed) bool) runtime.Observed {
	t.Helper()
	deadline := time.Now().Add(s.h.Timeout)
	var last runtime.Observed
	var lastErr error
	for {
		obs, err := s.h.Runtime.Observe(t.Context(), k)
		if err == nil && cond(obs) {
			return obs
		}
		last, lastErr = obs, err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last observation: %s (err %v)", what, s.h.Timeout, Describe(last), lastErr)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Up reports whether obs has a ready JobManager and exactly n ready TaskManagers, all
// created from hash.
func Up(obs runtime.Observed, n int, hash string) bool {
	if !obs.Exists || obs.JobManager == nil || !obs.JobManager.Ready || obs.JobManager.Hash != hash {
		return false
	}
	if len(obs.TaskManagers) != n {
		return false
	}
	for _, tm := range obs.TaskManagers {
		if !tm.Ready || tm.Hash != hash {
			return false
		}
	}
	return true
}

// Describe renders an observation on one line for failure messages.
func Describe(obs runtime.Observed) string {
	if !obs.Exists {
		return "absent"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "hash=%s", obs.Hash)
	if jm := obs.JobManager; jm != nil {
		fmt.Fprintf(&b, " jm=%s/%s/ready=%v", jm.ID, jm.State, jm.Ready)
	} else {
		b.WriteString(" jm=none")
	}
	for _, tm := range obs.TaskManagers {
		fmt.Fprintf(&b, " tm=%s/%s/ready=%v/hash=%s", tm.ID, tm.State, tm.Ready, runtime.ShortHash(tm.Hash))
		if tm.Message != "" {
			fmt.Fprintf(&b, "(%s)", tm.Message)
		}
	}
	if obs.Message != "" {
		fmt.Fprintf(&b, " msg=%q", obs.Message)
	}
	return b.String()
}

func ids(obs runtime.Observed) (instanceIDs, runtimeIDs []string) {
	for _, tm := range obs.TaskManagers {
		instanceIDs = append(instanceIDs, tm.ID)
		runtimeIDs = append(runtimeIDs, tm.RuntimeID)
	}
	return instanceIDs, runtimeIDs
}

func (s *suite) listed(t *testing.T, k runtime.Key) bool {
	t.Helper()
	keys, err := s.h.Runtime.List(t.Context())
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	return slices.Contains(keys, k)
}

func (s *suite) absent(t *testing.T) {
	k := s.key(t)
	obs, err := s.h.Runtime.Observe(t.Context(), k)
	if err != nil {
		t.Fatalf("observe absent cluster: %v", err)
	}
	if obs.Exists || obs.JobManager != nil || len(obs.TaskManagers) != 0 {
		t.Fatalf("absent cluster observed as %s", Describe(obs))
	}
	if err := s.h.Runtime.Delete(t.Context(), k); err != nil {
		t.Fatalf("delete absent cluster: %v", err)
	}
	if s.listed(t, k) {
		t.Fatalf("absent cluster %s is listed", k)
	}
	if err := s.h.Runtime.Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
}

func (s *suite) create(t *testing.T) {
	k := s.key(t)
	c := s.h.Cluster(k, 2, "hash-one")
	s.apply(t, c)
	obs := s.waitFor(t, k, "1 JobManager and 2 TaskManagers ready", func(o runtime.Observed) bool { return Up(o, 2, c.Hash) })
	if obs.Hash != c.Hash {
		t.Errorf("observed hash %q, want %q", obs.Hash, c.Hash)
	}
	if got, _ := ids(obs); len(got) != 2 || got[0] == got[1] {
		t.Errorf("taskmanager IDs %v: want 2 distinct", got)
	}
	if !s.listed(t, k) {
		t.Errorf("created cluster %s is not listed", k)
	}
	if s.h.RESTAnswers {
		s.waitRESTTaskManagers(t, k, 2)
	}
}

// waitRESTTaskManagers waits until the JobManager's /overview reports n TaskManagers.
func (s *suite) waitRESTTaskManagers(t *testing.T, k runtime.Key, n int) {
	t.Helper()
	deadline := time.Now().Add(s.h.Timeout)
	var last string
	for {
		obs, err := s.h.Runtime.Observe(t.Context(), k)
		if err == nil && obs.REST.URL != "" {
			got, err := overviewTaskManagers(t.Context(), obs.REST)
			if err == nil && got == n {
				return
			}
			last = fmt.Sprintf("taskmanagers=%d err=%v", got, err)
		} else {
			last = fmt.Sprintf("rest=%q err=%v", obs.REST.URL, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("REST /overview never reported %d taskmanagers: %s", n, last)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func overviewTaskManagers(ctx context.Context, ep runtime.Endpoint) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.URL+"/overview", nil)
	if err != nil {
		return 0, err
	}
	client := ep.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /overview: %s", resp.Status)
	}
	var ov struct {
		TaskManagers int `json:"taskmanagers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ov); err != nil {
		return 0, err
	}
	return ov.TaskManagers, nil
}

func (s *suite) idempotent(t *testing.T) {
	k := s.key(t)
	c := s.h.Cluster(k, 2, "hash-one")
	s.apply(t, c)
	before := s.waitFor(t, k, "up", func(o runtime.Observed) bool { return Up(o, 2, c.Hash) })
	for range 2 {
		if err := s.h.Runtime.Apply(t.Context(), c, nil); err != nil {
			t.Fatalf("re-apply: %v", err)
		}
	}
	after := s.waitFor(t, k, "up", func(o runtime.Observed) bool { return Up(o, 2, c.Hash) })
	if before.JobManager.RuntimeID != after.JobManager.RuntimeID {
		t.Errorf("re-apply replaced the JobManager: %s -> %s", before.JobManager.RuntimeID, after.JobManager.RuntimeID)
	}
	_, b := ids(before)
	_, a := ids(after)
	if !slices.Equal(b, a) {
		t.Errorf("re-apply replaced TaskManagers: %v -> %v", b, a)
	}
}

func (s *suite) scaleUp(t *testing.T) {
	k := s.key(t)
	c := s.h.Cluster(k, 2, "hash-one")
	s.apply(t, c)
	before := s.waitFor(t, k, "2 up", func(o runtime.Observed) bool { return Up(o, 2, c.Hash) })
	c.TaskManagers = 4
	if err := s.h.Runtime.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("scale up: %v", err)
	}
	after := s.waitFor(t, k, "4 up", func(o runtime.Observed) bool { return Up(o, 4, c.Hash) })
	if before.JobManager.RuntimeID != after.JobManager.RuntimeID {
		t.Errorf("scale up replaced the JobManager")
	}
	_, b := ids(before)
	_, a := ids(after)
	for _, id := range b {
		if !slices.Contains(a, id) {
			t.Errorf("scale up removed taskmanager %s (before %v, after %v)", id, b, a)
		}
	}
	if s.h.RESTAnswers {
		s.waitRESTTaskManagers(t, k, 4)
	}
}

func (s *suite) scaleDown(t *testing.T) {
	k := s.key(t)
	c := s.h.Cluster(k, 4, "hash-one")
	s.apply(t, c)
	before := s.waitFor(t, k, "4 up", func(o runtime.Observed) bool { return Up(o, 4, c.Hash) })
	inst, _ := ids(before)
	// Prefer removing the second and third: a runtime that removed "the last ones" would fail.
	preferred := []string{inst[1], inst[2]}
	c.TaskManagers = 2
	c.RemoveFirst = preferred
	if err := s.h.Runtime.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("scale down: %v", err)
	}
	after := s.waitFor(t, k, "2 up", func(o runtime.Observed) bool { return Up(o, 2, c.Hash) })
	got, _ := ids(after)
	want := []string{inst[0], inst[3]}
	if !slices.Equal(got, want) {
		t.Errorf("after scale-down preferring %v: taskmanagers %v, want %v", preferred, got, want)
	}
	if before.JobManager.RuntimeID != after.JobManager.RuntimeID {
		t.Errorf("scale down replaced the JobManager")
	}
	if s.h.RESTAnswers {
		s.waitRESTTaskManagers(t, k, 2)
	}
}

func (s *suite) hashChange(t *testing.T) {
	k := s.key(t)
	c := s.h.Cluster(k, 1, "hash-one")
	s.apply(t, c)
	before := s.waitFor(t, k, "up", func(o runtime.Observed) bool { return Up(o, 1, c.Hash) })
	c2 := s.h.Cluster(k, 1, "hash-two")
	if err := s.h.Runtime.Apply(t.Context(), c2, nil); err != nil {
		t.Fatalf("apply new hash: %v", err)
	}
	after := s.waitFor(t, k, "up with the new hash", func(o runtime.Observed) bool { return Up(o, 1, c2.Hash) })
	if after.JobManager.RuntimeID == before.JobManager.RuntimeID {
		t.Errorf("hash change kept JobManager %s", after.JobManager.RuntimeID)
	}
	if after.Hash != c2.Hash {
		t.Errorf("observed hash %q, want %q", after.Hash, c2.Hash)
	}
}

func (s *suite) delete(t *testing.T) {
	k := s.key(t)
	c := s.h.Cluster(k, 2, "hash-one")
	s.apply(t, c)
	s.waitFor(t, k, "up", func(o runtime.Observed) bool { return Up(o, 2, c.Hash) })
	if err := s.h.Runtime.Delete(t.Context(), k); err != nil {
		t.Fatalf("delete: %v", err)
	}
	// Delete returns once everything is gone: no polling here.
	obs, err := s.h.Runtime.Observe(t.Context(), k)
	if err != nil {
		t.Fatalf("observe after delete: %v", err)
	}
	if obs.Exists {
		t.Fatalf("after delete: %s", Describe(obs))
	}
	if s.listed(t, k) {
		t.Fatalf("deleted cluster %s is still listed", k)
	}
	if err := s.h.Runtime.Delete(t.Context(), k); err != nil {
		t.Fatalf("second delete: %v", err)
	}
}

func (s *suite) foreign(t *testing.T) {
	k := s.key(t)
	s.h.Foreign(t, k)
	c := s.h.Cluster(k, 1, "hash-one")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.h.Timeout)
		defer cancel()
		_ = s.h.Runtime.Delete(ctx, k)
	})
	err := s.h.Runtime.Apply(t.Context(), c, nil)
	if !errors.Is(err, runtime.ErrNotOwned) {
		t.Fatalf("apply over a foreign resource: err = %v, want one wrapping runtime.ErrNotOwned", err)
	}
}

func (s *suite) sideBySide(t *testing.T) {
	k1, k2 := s.key(t), s.key(t)
	c1 := s.h.Cluster(k1, 1, "hash-one")
	c2 := s.h.Cluster(k2, 2, "hash-one")
	s.apply(t, c1)
	s.apply(t, c2)
	o1 := s.waitFor(t, k1, "first up", func(o runtime.Observed) bool { return Up(o, 1, c1.Hash) })
	o2 := s.waitFor(t, k2, "second up", func(o runtime.Observed) bool { return Up(o, 2, c2.Hash) })
	if o1.JobManager.RuntimeID == o2.JobManager.RuntimeID {
		t.Fatalf("two clusters share JobManager %s", o1.JobManager.RuntimeID)
	}
	if s.h.RESTAnswers {
		s.waitRESTTaskManagers(t, k1, 1)
		s.waitRESTTaskManagers(t, k2, 2)
	}
	if err := s.h.Runtime.Delete(t.Context(), k1); err != nil {
		t.Fatalf("delete first: %v", err)
	}
	s.waitFor(t, k2, "second still up after the first is deleted", func(o runtime.Observed) bool { return Up(o, 2, c2.Hash) })
}

func (s *suite) logs(t *testing.T) {
	src, ok := s.h.Runtime.(runtime.LogSource)
	if !ok {
		t.Fatalf("harness says Logs, but %T is not a runtime.LogSource", s.h.Runtime)
	}
	k := s.key(t)
	c := s.h.Cluster(k, 1, "hash-one")
	s.apply(t, c)
	s.waitFor(t, k, "up", func(o runtime.Observed) bool { return Up(o, 1, c.Hash) })
	deadline := time.Now().Add(s.h.Timeout)
	for {
		rc, err := src.Logs(t.Context(), k, "jobmanager", runtime.LogOptions{})
		if err != nil {
			t.Fatalf("logs: %v", err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("read logs: %v", err)
		}
		if len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("jobmanager logs stayed empty")
		}
		time.Sleep(100 * time.Millisecond) // poll interval of a wait-for-condition loop
	}
	if _, err := src.Logs(t.Context(), k, "taskmanager-99", runtime.LogOptions{}); !errors.Is(err, runtime.ErrNoInstance) {
		t.Errorf("logs of a missing instance: err = %v, want runtime.ErrNoInstance", err)
	}
}

func (s *suite) otherOwner(t *testing.T) {
	k := s.key(t)
	c := s.h.Cluster(k, 1, "hash-one")
	s.apply(t, c)
	s.waitFor(t, k, "up", func(o runtime.Observed) bool { return Up(o, 1, c.Hash) })
	other := s.h.Other
	keys, err := other.List(t.Context())
	if err != nil {
		t.Fatalf("other daemon's list: %v", err)
	}
	if slices.Contains(keys, k) {
		t.Errorf("another daemon lists %s", k)
	}
	obs, err := other.Observe(t.Context(), k)
	if err != nil {
		t.Fatalf("other daemon's observe: %v", err)
	}
	if obs.Exists {
		t.Errorf("another daemon observes %s: %s", k, Describe(obs))
	}
	err = other.Apply(t.Context(), c, nil)
	if !errors.Is(err, runtime.ErrNotOwned) || !errors.Is(err, runtime.ErrOwnedElsewhere) {
		t.Errorf("another daemon's apply of the same cluster: err = %v, want runtime.ErrOwnedElsewhere", err)
	}
	// The error says exactly who holds the name: owner and specs folder.
	var oe *runtime.OwnedElsewhereError
	if !errors.As(err, &oe) || oe.Owner != Mine.Owner || oe.Specs != Mine.Specs {
		t.Errorf("another daemon's apply: err = %v, want an OwnedElsewhereError naming owner %s and specs %s", err, Mine.Owner, Mine.Specs)
	} else if msg := err.Error(); !strings.Contains(msg, Mine.Owner) || !strings.Contains(msg, Mine.Specs) {
		t.Errorf("another daemon's apply: message %q does not name the owner and the folder", msg)
	}
	// The other daemon lists it among the clusters it does not own; this one does not.
	if census, ok := other.(runtime.Census); ok {
		claims, err := census.Foreign(t.Context())
		if err != nil {
			t.Fatalf("other daemon's census: %v", err)
		}
		if !slices.Contains(claims, runtime.Claim{Key: k, Owner: Mine.Owner, Specs: Mine.Specs}) {
			t.Errorf("other daemon's census lacks %s of %s: %+v", k, Mine.Owner, claims)
		}
		mine, err := s.h.Runtime.(runtime.Census).Foreign(t.Context())
		if err != nil {
			t.Fatalf("census: %v", err)
		}
		for _, cl := range mine {
			if cl.Key == k {
				t.Errorf("the owner's census lists its own cluster: %+v", cl)
			}
		}
	}
	if err := other.Delete(t.Context(), k); err != nil {
		t.Errorf("another daemon's delete: %v", err)
	}
	s.waitFor(t, k, "still up after another daemon tried", func(o runtime.Observed) bool { return Up(o, 1, c.Hash) })
}

// successor: a runtime whose former identity made a cluster sees it, observes it, scales it
// without recreating anything, and deletes it; the former identity stays on everything.
func (s *suite) successor(t *testing.T) {
	k := s.key(t)
	c := s.h.Cluster(k, 1, "hash-one")
	other := &suite{h: s.h}
	other.h.Runtime = s.h.Other
	other.apply(t, c) // and removes it at the end, whatever happens
	before := other.waitFor(t, k, "up under the former identity", func(o runtime.Observed) bool { return Up(o, 1, c.Hash) })

	succ := &suite{h: s.h}
	succ.h.Runtime = s.h.Successor
	keys, err := s.h.Successor.List(t.Context())
	if err != nil {
		t.Fatalf("successor's list: %v", err)
	}
	if !slices.Contains(keys, k) {
		t.Errorf("the successor does not list %s: %v", k, keys)
	}
	if census, ok := s.h.Successor.(runtime.Census); ok {
		claims, err := census.Foreign(t.Context())
		if err != nil {
			t.Fatalf("successor's census: %v", err)
		}
		for _, cl := range claims {
			if cl.Key == k {
				t.Errorf("the successor's census lists %s as foreign: %+v", k, cl)
			}
		}
	}
	succ.waitFor(t, k, "observed by the successor", func(o runtime.Observed) bool { return Up(o, 1, c.Hash) })
	c2 := c
	c2.TaskManagers = 2
	succ.apply(t, c2)
	after := succ.waitFor(t, k, "scaled by the successor", func(o runtime.Observed) bool { return Up(o, 2, c.Hash) })
	if before.JobManager.RuntimeID != after.JobManager.RuntimeID {
		t.Errorf("the successor replaced the JobManager (%s → %s)", before.JobManager.RuntimeID, after.JobManager.RuntimeID)
	}
	// What the successor added keeps the former identity: the former daemon still sees the
	// whole cluster, not half of it.
	other.waitFor(t, k, "whole under the former identity", func(o runtime.Observed) bool { return Up(o, 2, c.Hash) })
	if err := s.h.Successor.Delete(t.Context(), k); err != nil {
		t.Fatalf("successor's delete: %v", err)
	}
	obs, err := s.h.Successor.Observe(t.Context(), k)
	if err != nil || obs.Exists {
		t.Errorf("after the successor's delete: %s, %v", Describe(obs), err)
	}
}
