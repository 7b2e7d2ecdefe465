package docker

import (
	"errors"
	"strings"
	"testing"

	"github.com/flinkd/flinkd/internal/runtime"
)

// missingImage is a reference no engine has and none can pull (nothing listens there).
const missingImage = "localhost:1/flinkd-missing-image:0"

func TestMissingImageIsUnavailableAndNothingIsCreated(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	for _, policy := range []string{"", "IfNotPresent", "Always", "Never"} {
		t.Run("policy="+policy, func(t *testing.T) {
			k := testKey(t, cli)
			c := testCluster(t, k, 1, "hash-one")
			c.Image, c.PullPolicy = missingImage, policy
			var ev recorder
			err := r.Apply(t.Context(), c, ev.progress)
			if !errors.Is(err, runtime.ErrImageUnavailable) || !strings.Contains(err.Error(), missingImage) {
				t.Fatalf("apply = %v, want an error wrapping ErrImageUnavailable naming %s", err, missingImage)
			}
			pulled := len(ev.all()) > 0 && ev.reasons()[0] == "Pulling"
			if pulled == (policy == "Never") {
				t.Errorf("policy %q: progress %q", policy, ev.all())
			}
			obs, err := r.Observe(t.Context(), k)
			if err != nil || obs.Exists {
				t.Errorf("after a failed image: %+v (err %v), want nothing created", obs, err)
			}
		})
	}
}

func TestUnavailableImageOfARunningClusterLeavesItRunning(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 1, "hash-one")
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	before := waitFor(t, r, k, "up", up(1, c.Hash))
	c.Image, c.Hash = missingImage, "hash-two"
	if err := r.Apply(t.Context(), c, nil); !errors.Is(err, runtime.ErrImageUnavailable) {
		t.Fatalf("apply with a missing image = %v, want ErrImageUnavailable", err)
	}
	after := waitFor(t, r, k, "still up", up(1, "hash-one"))
	if after.JobManager.RuntimeID != before.JobManager.RuntimeID {
		t.Errorf("a failed image replaced the jobmanager")
	}
}

func TestImageFallbackRunsInsteadWithAnEvent(t *testing.T) {
	r, cli := newRuntime(t, Config{ImageFallback: simImage})
	k := testKey(t, cli)
	c := testCluster(t, k, 1, "hash-one")
	c.Image = missingImage
	var ev recorder
	if err := r.Apply(t.Context(), c, ev.progress); err != nil {
		t.Fatalf("apply: %v", err)
	}
	obs := waitFor(t, r, k, "up on the fallback image", up(1, c.Hash))
	var fallback []string
	for _, e := range ev.all() {
		if strings.HasPrefix(e, "ImageFallback:") {
			fallback = append(fallback, e)
		}
	}
	if len(fallback) != 1 || !strings.Contains(fallback[0], missingImage) || !strings.Contains(fallback[0], simImage) {
		t.Errorf("ImageFallback events %q, want one naming %s and %s (all: %q)", fallback, missingImage, simImage, ev.all())
	}
	for id, cid := range runtimeIDs(obs) {
		ins, err := cli.ContainerInspect(t.Context(), cid)
		if err != nil {
			t.Fatalf("inspect %s: %v", id, err)
		}
		if ins.Config.Image != simImage {
			t.Errorf("%s runs %s, want the fallback %s", id, ins.Config.Image, simImage)
		}
	}
}

func TestUnknownPullPolicyIsRefused(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 1, "hash-one")
	c.PullPolicy = "Sometimes"
	err := r.Apply(t.Context(), c, nil)
	if err == nil || errors.Is(err, runtime.ErrImageUnavailable) || !strings.Contains(err.Error(), "Sometimes") {
		t.Fatalf("apply = %v, want a pull policy error", err)
	}
}
