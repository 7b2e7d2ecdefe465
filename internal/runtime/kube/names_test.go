package kube

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Object names are deterministic, fit Kubernetes' limits (a Service name is a DNS-1035 label),
// read as name and namespace, and keep apart keys that would read the same.
func TestNamesIncludeTheNamespaceAndStayApart(t *testing.T) {
	long := strings.Repeat("n", 45)
	keys := []runtime.Key{
		{Namespace: "default", Name: "etl"}, {Namespace: "team-a", Name: "etl"}, {Namespace: "team-b", Name: "etl"},
		{Namespace: "a-b", Name: "c"}, {Namespace: "a", Name: "b-c"}, {Namespace: "b", Name: "c-a"},
		{Namespace: "team", Name: "etl-a"}, {Namespace: "etl-team", Name: "a"}, {Namespace: "prod", Name: "etl"},
		{Namespace: long, Name: long}, {Namespace: long[:44] + "m", Name: long}, {Namespace: "9lives", Name: "x"},
	}
	seen := map[string]runtime.Key{}
	for _, k := range keys {
		n := namesFor(k)
		if n != namesFor(k) {
			t.Errorf("%s: names are not deterministic", k)
		}
		for _, name := range []string{n.configMap, n.service, n.jobManager, n.taskManager} {
			if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
				t.Errorf("%s: %q is not a valid object name: %v", k, name, errs)
			}
		}
		if !strings.HasPrefix(n.jobManager, k.Name[:min(len(k.Name), 20)]) || !strings.Contains(n.jobManager, k.Namespace[:min(len(k.Namespace), 5)]) {
			t.Errorf("%s: %q does not read as its name and namespace", k, n.jobManager)
		}
		if other, dup := seen[n.jobManager]; dup {
			t.Errorf("%s and %s share the name %q", k, other, n.jobManager)
		}
		seen[n.jobManager] = k
		if old := legacyNames(k); old.jobManager == n.jobManager {
			t.Errorf("%s: new and legacy names are the same (%q): adoption could not tell them apart", k, n.jobManager)
		}
	}
	for k, want := range map[runtime.Key]string{
		{Namespace: "prod", Name: "etl"}:    "etl-prod-jobmanager",
		{Namespace: "default", Name: "etl"}: "etl-default-jobmanager",
	} {
		if got := namesFor(k).jobManager; got != want {
			t.Errorf("%s: %q, want the plain %q (no hash where none is needed)", k, got, want)
		}
	}
	if got := namesFor(runtime.Key{Namespace: "team-a", Name: "etl"}).jobManager; !strings.HasPrefix(got, "etl-team-a-") || len(got) != len("etl-team-a-")+keyHashLen+len(suffixJobManager) {
		t.Errorf("team-a/etl: %q, want etl-team-a-<%d-char hash>-jobmanager", got, keyHashLen)
	}
}

// team-a/etl and team-b/etl on one target both run, each with its own objects; removing one
// leaves the other. Against a real API server.
func TestSameNameInTwoNamespacesRunsSideBySide(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	a, b := testCluster(t, "etl", 1), testCluster(t, "etl", 2)
	b.Key.Namespace = "team-b"
	for _, c := range []runtime.Cluster{a, b} {
		if err := e.r.Apply(ctx, c, nil); err != nil {
			t.Fatalf("apply %s: %v", c.Key, err)
		}
	}
	for _, c := range []runtime.Cluster{a, b} {
		n := namesFor(c.Key)
		tm := getDeployment(t, e, n.taskManager)
		if got := tm.Labels[runtime.LabelNamespace]; got != c.Key.Namespace || *tm.Spec.Replicas != int32(c.TaskManagers) {
			t.Errorf("%s: deployment %s is labelled for namespace %q with %d replicas", c.Key, n.taskManager, got, *tm.Spec.Replicas)
		}
		obs, err := e.r.Observe(ctx, c.Key)
		if err != nil || !obs.Exists || !strings.Contains(obs.REST.URL, "/services/"+n.service+":rest/proxy") {
			t.Errorf("%s: observed %+v, %v", c.Key, obs, err)
		}
	}
	keys, err := e.r.List(ctx)
	if err != nil || len(keys) != 2 {
		t.Errorf("list: %v, %v; want both keys", keys, err)
	}
	if err := e.r.Delete(ctx, a.Key); err != nil {
		t.Fatalf("delete %s: %v", a.Key, err)
	}
	if obs, err := e.r.Observe(ctx, b.Key); err != nil || !obs.Exists {
		t.Errorf("deleting %s touched %s: %+v, %v", a.Key, b.Key, obs, err)
	}
	if _, err := e.cs.AppsV1().Deployments(e.ns).Get(ctx, namesFor(b.Key).taskManager, metav1.GetOptions{}); err != nil {
		t.Errorf("%s's deployment after deleting %s: %v", b.Key, a.Key, err)
	}
}

// A cluster an older flinkd made under the names without the namespace is adopted under those
// names: nothing is created anew, nothing duplicated, and Delete removes it. Against a real
// API server.
func TestClusterUnderLegacyNamesIsAdoptedNotDuplicated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	c := testCluster(t, "old", 1)
	// What an older flinkd applied: the same objects, named "<name>-...".
	old := legacyNames(c.Key)
	legacy, err := desiredObjects(e.r.own, c, e.ns, old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.r.applyAll(ctx, legacy, false); err != nil {
		t.Fatalf("apply under legacy names: %v", err)
	}
	before := uids(t, e, old)

	c.TaskManagers = 2
	var progress []string
	if err := e.r.Apply(ctx, c, func(reason, msg string) { progress = append(progress, reason+" "+msg) }); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if after := uids(t, e, old); after != before {
		t.Errorf("legacy objects replaced: %s -> %s", before, after)
	}
	if tm := getDeployment(t, e, old.taskManager); *tm.Spec.Replicas != 2 {
		t.Errorf("the adopted cluster was not scaled: %d replicas", *tm.Spec.Replicas)
	}
	n := namesFor(c.Key)
	for _, name := range []string{n.jobManager, n.taskManager} {
		if _, err := e.cs.AppsV1().Deployments(e.ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
			t.Errorf("a second cluster was made under the new name %s", name)
		}
	}
	for _, p := range progress {
		if strings.HasPrefix(p, "Created") {
			t.Errorf("apply of an adopted cluster created something: %q", p)
		}
	}
	obs, err := e.r.Observe(ctx, c.Key)
	if err != nil || !obs.Exists || !strings.Contains(obs.REST.URL, "/services/"+old.service+":rest/proxy") {
		t.Errorf("observe of the adopted cluster: %+v, %v", obs, err)
	}
	if err := e.r.Delete(ctx, c.Key); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := e.cs.CoreV1().Services(e.ns).Get(ctx, old.service, metav1.GetOptions{}); err == nil {
		t.Error("delete left the legacy service")
	}
	// Made again, it takes the new names.
	if err := e.r.Apply(ctx, c, nil); err != nil {
		t.Fatalf("apply after delete: %v", err)
	}
	getDeployment(t, e, n.jobManager)
}

// uids renders the UIDs of the four objects named n.
func uids(t *testing.T, e env, n names) string {
	t.Helper()
	cur, err := e.r.getNamed(t.Context(), n)
	if err != nil || cur.configMap == nil || cur.service == nil || cur.jobManager == nil || cur.taskManager == nil {
		t.Fatalf("objects named %+v: %+v, %v", n, cur, err)
	}
	return fmt.Sprint(cur.configMap.UID, cur.service.UID, cur.jobManager.UID, cur.taskManager.UID)
}
