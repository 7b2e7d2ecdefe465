package kube

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/test/runtimetest"
)

// TestKubeRuntimePassesTheConformanceSuite runs the suite against the real API server with
// controllers, a scheduler and kwok's simulated node: pods reach Running and Ready, but no
// process runs in them, so there is no REST API and no log to read.
func TestKubeRuntimePassesTheConformanceSuite(t *testing.T) {
	e := newEnv(t)
	newRT := func(own runtime.Ownership) *Runtime {
		r, err := New(Config{REST: e.cp.Config, Namespace: e.ns, CallTimeout: 10 * time.Second, Ownership: own, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	runtimetest.Run(t, runtimetest.Harness{
		Runtime:   newRT(runtimetest.Mine),
		Other:     newRT(runtimetest.Theirs),
		Successor: newRT(runtimetest.Successor),
		Cluster: func(k runtime.Key, n int, hash string) runtime.Cluster {
			c := testCluster(t, k.Name, n)
			c.Key, c.Hash = k, hash
			return c
		},
		Foreign: func(t *testing.T, k runtime.Key) {
			svc := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: namesFor(k).service, Labels: map[string]string{"app": "not-flinkd"}},
				Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
			}
			if _, err := e.cs.CoreV1().Services(e.ns).Create(t.Context(), svc, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create foreign service: %v", err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				err := e.cs.CoreV1().Services(e.ns).Delete(ctx, svc.Name, metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("cleanup: delete foreign service: %v", err)
				}
			})
		},
		Namespace:   "conformance",
		RESTAnswers: false,
		Logs:        false,
		Timeout:     90 * time.Second,
	})
}
