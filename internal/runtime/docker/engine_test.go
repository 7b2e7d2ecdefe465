package docker

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flinkd/flinkd/test/testenv"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
)

// simImage is the stand-in Flink image built by hack/sim-image.sh.
const simImage = "localhost/flink-sim:1.20"

// testLabel marks what the tests themselves create outside flinkd (foreign containers), so
// that cleanup finds it; it is not one of flinkd's labels.
const testLabel = "flinkd-test.docker"

const waitTimeout = 90 * time.Second

// engine returns a client to the Docker engine; the test fails when none answers.
func engine(t *testing.T) *client.Client {
	t.Helper()
	return testenv.Engine(t)
}

// ensureSimImage builds the stand-in image with hack/sim-image.sh when it is missing.
func ensureSimImage(t *testing.T, cli *client.Client) {
	t.Helper()
	testenv.SimImageFor(t, cli, "1.20")
}

// newRuntime returns a Runtime on the test engine, with the stand-in image present.
func newRuntime(t *testing.T, cfg Config) (*Runtime, *client.Client) {
	t.Helper()
	cli := engine(t)
	ensureSimImage(t, cli)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("new runtime: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r, cli
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testKey returns a fresh cluster key and removes everything labelled for it (or named
// like it and labelled by the test) when the test ends.
func testKey(t *testing.T, cli *client.Client) runtime.Key {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	k := runtime.Key{Namespace: "dockertest", Name: "c" + hex.EncodeToString(b)}
	t.Cleanup(func() { sweep(t, cli, k) })
	return k
}

// sweep removes, by label, every container and network of k and everything the test
// labelled for it, independently of the runtime under test.
func sweep(t *testing.T, cli *client.Client, k runtime.Key) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, f := range []filters.Args{
		keyFilter(runtime.Ownership{}, k),
		filters.NewArgs(filters.Arg("label", testLabel+"="+k.Name)),
	} {
		ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil {
			t.Errorf("cleanup: list containers: %v", err)
			continue
		}
		for _, c := range ctrs {
			if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				t.Errorf("cleanup: remove container %v: %v", c.Names, err)
			}
		}
		nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
		if err != nil {
			t.Errorf("cleanup: list networks: %v", err)
			continue
		}
		for _, n := range nets {
			if err := cli.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
				t.Errorf("cleanup: remove network %s: %v", n.Name, err)
			}
		}
	}
}

// testCluster is a cluster of the stand-in image with n TaskManagers. Its CPU limits are the
// seed's (16 cores for a TaskManager, more than this machine has); its memory limits are
// small, because the stand-in validates Flink's memory sizes (Flink's defaults here) but does
// not allocate them.
func testCluster(t *testing.T, k runtime.Key, n int, hash string) runtime.Cluster {
	t.Helper()
	log4j, err := flinkconf.Log4jProperties("default", map[string]string{
		"":                                    "INFO",
		"org.apache.flink.streaming.examples": "DEBUG",
	})
	if err != nil {
		t.Fatal(err)
	}
	return runtime.Cluster{
		Key:          k,
		Image:        simImage,
		FlinkVersion: "1.20",
		Hash:         hash,
		JobManager: runtime.Process{
			CPUMillis:   2000,
			MemoryBytes: 201_326_592, // 192 MiB
			Env:         []runtime.EnvVar{{Name: "KEY", Value: "VALUE"}},
		},
		TaskManager: runtime.Process{
			CPUMillis:   16000,
			MemoryBytes: 123_456_789,
			Env:         []runtime.EnvVar{{Name: "KEY", Value: "VALUE"}, {Name: "JOB_MANAGER_RPC_ADDRESS", Value: "elsewhere"}},
		},
		TaskManagers: n,
		FlinkConfig: map[string]string{
			"taskmanager.numberOfTaskSlots":   "2",
			"env.java.opts.all":               "-Dfoo=bar -Dbaz=qux",
			"jobmanager.memory.process.size":  "1600m",
			"taskmanager.memory.process.size": "1728m",
			"jobmanager.rpc.address":          "overridden-by-the-runtime",
		},
		Log4jProperties: log4j,
		Labels:          map[string]string{"env": "testing", runtime.LabelManagedBy: "someone-else"},
		Annotations:     map[string]string{"note": "kubernetes only"},
	}
}

// recorder records Progress calls.
type recorder struct {
	mu   sync.Mutex
	list []string
}

func (e *recorder) progress(reason, message string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, reason+": "+message)
}

func (e *recorder) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

func (e *recorder) reasons() []string {
	var out []string
	for _, s := range e.all() {
		r, _, _ := strings.Cut(s, ":")
		out = append(out, r)
	}
	return out
}

// waitFor polls Observe until cond holds and returns that observation.
func waitFor(t *testing.T, r *Runtime, k runtime.Key, what string, cond func(runtime.Observed) bool) runtime.Observed {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var last runtime.Observed
	var lastErr error
	for {
		obs, err := r.Observe(t.Context(), k)
		if err == nil && cond(obs) {
			return obs
		}
		last, lastErr = obs, err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last observation %+v (err %v)", what, waitTimeout, last, lastErr)
		}
		poll(t, 100*time.Millisecond)
	}
}

// poll waits one interval of a wait-for-condition loop.
func poll(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-t.Context().Done():
		t.Fatal(t.Context().Err())
	case <-time.After(d):
	}
}

// up reports a running JobManager and exactly n running TaskManagers of hash.
func up(n int, hash string) func(runtime.Observed) bool {
	return func(o runtime.Observed) bool {
		if o.JobManager == nil || !o.JobManager.Ready || o.JobManager.Hash != hash || len(o.TaskManagers) != n {
			return false
		}
		for _, tm := range o.TaskManagers {
			if !tm.Ready || tm.Hash != hash {
				return false
			}
		}
		return true
	}
}

func instanceIDs(o runtime.Observed) []string {
	var ids []string
	for _, tm := range o.TaskManagers {
		ids = append(ids, tm.ID)
	}
	return ids
}

func runtimeIDs(o runtime.Observed) map[string]string {
	m := map[string]string{}
	if o.JobManager != nil {
		m[o.JobManager.ID] = o.JobManager.RuntimeID
	}
	for _, tm := range o.TaskManagers {
		m[tm.ID] = tm.RuntimeID
	}
	return m
}

// copyFile reads one file out of a container with its tar header.
func copyFile(t *testing.T, cli *client.Client, id, path string) (*tar.Header, string) {
	t.Helper()
	rc, _, err := cli.CopyFromContainer(t.Context(), id, path)
	if err != nil {
		t.Fatalf("copy %s from container: %v", path, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	hdr, err := tr.Next()
	if err != nil {
		t.Fatalf("read archive of %s: %v", path, err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return hdr, string(b)
}

// foreignContainer creates (does not start) a container named name without flinkd's labels.
func foreignContainer(t *testing.T, cli *client.Client, k runtime.Key, name string) string {
	t.Helper()
	resp, err := cli.ContainerCreate(t.Context(),
		&container.Config{Image: simImage, Cmd: []string{"jobmanager"}, Labels: map[string]string{testLabel: k.Name}},
		nil, nil, nil, name)
	if err != nil {
		t.Fatalf("create foreign container %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := cli.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("cleanup: remove foreign container %s: %v", name, err)
		}
	})
	return resp.ID
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}
