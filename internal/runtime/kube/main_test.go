package kube

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/test/kubetest"
)

// controlPlane is one real control plane (etcd, kube-apiserver, controllers, scheduler and
// kwok) shared by the whole package; each test works in its own namespace.
var controlPlane = kubetest.Shared{Options: kubetest.Options{Nodes: true}}

func TestMain(m *testing.M) {
	code := m.Run()
	if err := controlPlane.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop the kubernetes control plane: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// env is what a test gets: a runtime on a fresh namespace and a client for checks.
type env struct {
	cp *kubetest.ControlPlane
	cs kubernetes.Interface
	ns string
	r  *Runtime
}

func newEnv(t *testing.T) env {
	t.Helper()
	cp := controlPlane.Get(t)
	ns := cp.Namespace(t)
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return env{cp: cp, cs: cs, ns: ns, r: newRuntime(t, cp, ns)}
}

func newRuntime(t *testing.T, cp *kubetest.ControlPlane, ns string) *Runtime {
	t.Helper()
	r, err := New(Config{REST: cp.Config, Namespace: ns, CallTimeout: 10 * time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// testLogger writes warnings and errors to stderr (t.Log would panic for a log line that
// arrives after the test, from a watch that is shutting down).
func testLogger(*testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

const (
	hash1 = "1111111111111111111111111111111111111111111111111111111111111111"
	hash2 = "2222222222222222222222222222222222222222222222222222222222222222"
)

// testCluster is a small cluster of SessionCluster team-a/name.
func testCluster(t *testing.T, name string, taskManagers int) runtime.Cluster {
	t.Helper()
	log4j, err := flinkconf.Log4jProperties("default", map[string]string{"": "INFO"})
	if err != nil {
		t.Fatal(err)
	}
	return runtime.Cluster{
		Key:          runtime.Key{Namespace: "team-a", Name: name},
		Image:        "localhost/flink-sim:1.20",
		PullPolicy:   "IfNotPresent",
		FlinkVersion: "1.20",
		Hash:         hash1,
		JobManager: runtime.Process{CPUMillis: 500, MemoryBytes: 1600 << 20,
			Env: []runtime.EnvVar{{Name: "KEY", Value: "VALUE"}, {Name: "LITERAL", Value: "$(NOT_EXPANDED)"}}},
		TaskManager:  runtime.Process{CPUMillis: 1000, MemoryBytes: 1728 << 20, Env: []runtime.EnvVar{{Name: "KEY", Value: "VALUE"}}},
		TaskManagers: taskManagers,
		FlinkConfig: map[string]string{"taskmanager.numberOfTaskSlots": "2",
			"jobmanager.memory.process.size": "1600m", "taskmanager.memory.process.size": "1728m"},
		Log4jProperties: log4j,
		Labels:          map[string]string{"env": "testing", runtime.LabelManagedBy: "someone-else"},
		Annotations:     map[string]string{"example.com/team": "a"},
	}
}

// eventually polls cond until it holds or the deadline passes; cond returns a description
// of what it saw, for the failure message.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s; last seen: %s", what, timeout, seen)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("%s: test ended", what)
		}
	}
}

// waitReady waits until Observe reports a Running, Ready JobManager and n Running, Ready
// TaskManagers, all of hash, and returns that observation.
func waitReady(t *testing.T, r *Runtime, k runtime.Key, n int, hash string) runtime.Observed {
	t.Helper()
	var obs runtime.Observed
	eventually(t, 60*time.Second, fmt.Sprintf("%s ready with %d taskmanagers", k, n), func() (bool, string) {
		var err error
		obs, err = r.Observe(t.Context(), k)
		if err != nil {
			return false, err.Error()
		}
		if obs.JobManager == nil || !obs.JobManager.Ready || obs.JobManager.Hash != hash || len(obs.TaskManagers) != n {
			return false, fmt.Sprintf("%+v", obs)
		}
		for _, tm := range obs.TaskManagers {
			if !tm.Ready || tm.State != runtime.StateRunning || tm.Hash != hash {
				return false, fmt.Sprintf("%+v", obs)
			}
		}
		return true, ""
	})
	return obs
}

// progressLog records Progress calls.
type progressLog []string

func (p *progressLog) fn() runtime.Progress {
	return func(reason, message string) { *p = append(*p, reason+" "+message) }
}

// nm returns the object names of the test cluster team-a/name (testCluster's key).
func nm(name string) names { return namesFor(runtime.Key{Namespace: "team-a", Name: name}) }
