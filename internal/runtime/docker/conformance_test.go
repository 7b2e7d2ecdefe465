package docker

import (
	"testing"

	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/test/runtimetest"
)

func TestDockerRuntimePassesTheConformanceSuite(t *testing.T) {
	r, cli := newRuntime(t, Config{Ownership: runtimetest.Mine})
	other, _ := newRuntime(t, Config{Ownership: runtimetest.Theirs})
	successor, _ := newRuntime(t, Config{Ownership: runtimetest.Successor})
	runtimetest.Run(t, runtimetest.Harness{
		Runtime:   r,
		Other:     other,
		Successor: successor,
		Cluster: func(k runtime.Key, n int, hash string) runtime.Cluster {
			t.Cleanup(func() { sweep(t, cli, k) })
			return testCluster(t, k, n, hash)
		},
		Foreign: func(t *testing.T, k runtime.Key) {
			t.Cleanup(func() { sweep(t, cli, k) })
			foreignContainer(t, cli, k, containerName(k, jobManagerID))
		},
		Namespace:   "conformance",
		RESTAnswers: true,
		Logs:        true,
		Timeout:     waitTimeout,
	})
}
