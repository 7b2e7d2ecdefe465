package docker

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

func TestChangesReportsAKilledContainerAndClosesWithItsContext(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 1, "hash-one")
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	obs := waitFor(t, r, k, "up", up(1, c.Hash))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := r.Changes(ctx)
	if err != nil {
		t.Fatalf("changes: %v", err)
	}
	// The subscription is asynchronous: kill again until the key arrives, so that a kill
	// that raced the subscription does not fail the test.
	deadline := time.After(waitTimeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	now := 0
	kill := func() { // die and start events, and the container keeps existing
		if err := cli.ContainerRestart(t.Context(), obs.TaskManagers[0].RuntimeID, container.StopOptions{Timeout: &now}); err != nil {
			t.Errorf("restart taskmanager: %v", err)
		}
	}
	kill()
wait:
	for {
		select {
		case got, ok := <-ch:
			if !ok {
				t.Fatal("channel closed early")
			}
			if got == k {
				break wait
			}
		case <-tick.C:
			kill()
		case <-deadline:
			t.Fatalf("no change for %s within %v", k, waitTimeout)
		}
	}

	cancel()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed after its context ended")
		}
	}
}
