package e2ekube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/client"
	"github.com/flinkd/flinkd/internal/runtime"
)

// Two flinkd daemons on two specs folders share one namespace of a real API server: the
// second cannot take the first one's cluster (and says whose it is, from the objects' owner
// label and specs-folder annotation); the first loses its database and adopts its cluster
// with the same objects and pods; removing its file then tears it down.
func TestTwoDaemonsShareANamespaceAndSurviveALostDatabase(t *testing.T) {
	t.Parallel()
	e := kube(t)
	ns := e.cp.Namespace(t)
	cfg := configYAML(kubeTarget{"kube", e.cp.Kubeconfig, ns})
	one, two := startDaemon(t, cfg), startDaemon(t, cfg)
	owner, specs := one.identity()
	if other, _ := two.identity(); other == owner {
		t.Fatalf("two specs folders share the identity %s", owner)
	}

	one.write("c1.yaml", clusterYAML("c1", "kube", "RUNNING", 1))
	one.waitRunning("c1", 1)
	dep, err := e.cs.AppsV1().Deployments(ns).Get(t.Context(), "c1-default-jobmanager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Labels[runtime.LabelOwner] != owner || dep.Annotations[runtime.LabelSpecs] != specs {
		t.Errorf("deployment owner label %q, specs annotation %q; want %s and %s", dep.Labels[runtime.LabelOwner],
			dep.Annotations[runtime.LabelSpecs], owner, specs)
	}
	uids := func() []string {
		var out []string
		for _, p := range e.pods(t, ns, "c1", "") {
			out = append(out, p.Name+"="+string(p.UID))
		}
		d, err := e.cs.AppsV1().Deployments(ns).Get(t.Context(), "c1-default-jobmanager", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return append(out, "deployment="+string(d.UID))
	}
	before := uids()

	two.write("c1.yaml", clusterYAML("c1", "kube", "RUNNING", 1))
	st := two.waitStatus("c1", "FAILED as another flinkd's", time.Minute, func(s api.ClusterStatus) bool {
		return s.Phase == "FAILED" && strings.Contains(s.Message, "belongs to another flinkd")
	})
	for _, part := range []string{owner, specs} {
		if !strings.Contains(st.Message, part) {
			t.Errorf("message lacks %q: %s", part, st.Message)
		}
	}
	var all struct {
		OtherOwners []api.OtherCluster `json:"otherOwners"`
	}
	two.jsonOut(&all, "status", "--all-owners", "-o", "json")
	if !slices.Contains(all.OtherOwners, api.OtherCluster{Target: "kube", Namespace: "default", Name: "c1", Owner: owner, Specs: specs}) {
		t.Errorf("status --all-owners of the second daemon: %+v; want c1 of %s", all.OtherOwners, owner)
	}

	one.stop()
	if err := os.RemoveAll(one.data); err != nil {
		t.Fatal(err)
	}
	one.run()
	one.waitRunning("c1", 1)
	if _, ok := findEvent(one.events("c1"), "Adopted"); !ok {
		t.Errorf("no Adopted event: %+v", one.events("c1"))
	}
	if diff := slices.Compare(before, uids()); diff != 0 {
		t.Errorf("objects or pods changed across the lost database: %v, now %v", before, uids())
	}
	two.waitStatus("c1", "still another flinkd's", time.Minute, func(s api.ClusterStatus) bool {
		return s.Phase == "FAILED" && strings.Contains(s.Message, owner)
	})

	if err := os.Remove(filepath.Join(one.specs, "c1.yaml")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "c1 torn down", func() (bool, string) {
		left := e.leftovers(t, ns, "c1")
		return len(left) == 0, fmt.Sprint(left)
	})
}

// identity returns the daemon's owner identity and its specs folder as its labels record it.
func (d *daemon) identity() (owner, specs string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := (&client.Client{Socket: d.socket}).Version(ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	_, canonical, err := runtime.Identity(v.Specs)
	if err != nil {
		d.t.Fatal(err)
	}
	return v.Owner, canonical
}

func findEvent(evs []api.Event, reason string) (api.Event, bool) {
	for _, e := range evs {
		if e.Reason == reason {
			return e, true
		}
	}
	return api.Event{}, false
}
