package fake_test

import (
	"testing"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/test/fake"
	"github.com/flinkd/flinkd/test/runtimetest"
)

func TestConformance(t *testing.T) {
	rt := fake.New()
	t.Cleanup(rt.Close)
	runtimetest.Run(t, runtimetest.Harness{
		Runtime: rt,
		Cluster: func(k runtime.Key, n int, hash string) runtime.Cluster {
			log4j, err := flinkconf.Log4jProperties("default", nil)
			if err != nil {
				t.Fatal(err)
			}
			return runtime.Cluster{
				Key: k, Image: "localhost/flink-sim:1.20", FlinkVersion: "1.20", Hash: hash, TaskManagers: n,
				JobManager:  runtime.Process{CPUMillis: 1000, MemoryBytes: 1 << 30},
				TaskManager: runtime.Process{CPUMillis: 1000, MemoryBytes: 2 << 30},
				FlinkConfig: map[string]string{
					"jobmanager.memory.process.size":  "1073741824b",
					"taskmanager.memory.process.size": "2147483648b",
				},
				Log4jProperties: log4j,
			}
		},
		Foreign: func(t *testing.T, k runtime.Key) {
			rt.SetForeign(k, true)
			t.Cleanup(func() { rt.SetForeign(k, false) })
		},
		RESTAnswers: true,
		Logs:        true,
	})
}
