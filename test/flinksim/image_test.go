package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/flinkd/flinkd/test/testenv"
)

// These tests run the image on the real Docker engine, through testcontainers-go (its
// networks, wait strategies and cleanup). They build a throwaway tag of the image with
// hack/sim-image.sh once per run and remove it at the end. testcontainers' reaper (Ryuk) is
// an image that must be pulled, which this project's test machines cannot do: TestMain
// turns it off (testenv.Testcontainers, which also pins the engine and the address its
// published ports are reached on), and every test removes what it created itself.

const testLabel = "flinkd.test/flinksim"

// images are the throwaway tags this run built, one per Flink version.
var images = struct {
	sync.Mutex
	tag   string
	built map[string]error
	logs  map[string]string
}{tag: randomHex(6), built: map[string]error{}, logs: map[string]string{}}

func TestMain(m *testing.M) {
	// testcontainers must not guess the engine or where its ports are (see testenv).
	if _, err := testenv.Testcontainers(); err != nil {
		fmt.Fprintln(os.Stderr, "prepare testcontainers:", err)
		os.Exit(1)
	}
	code := m.Run()
	for v, err := range images.built {
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_ = exec.CommandContext(ctx, "docker", "rmi", "--force", imageName(v)).Run()
			cancel()
		}
	}
	os.Exit(code)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// docker runs the docker CLI and returns its combined output.
func docker(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(t, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func imageName(version string) string {
	return "localhost/flink-sim-test:" + version + "-" + images.tag
}

// simImage builds the image of a Flink version once per run and returns its name. No
// engine is a failure, never a skip.
func simImage(t *testing.T, version string) string {
	t.Helper()
	if out, err := docker(t, "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Fatalf("no Docker engine answers (%v: %s); run: bash hack/ensure-docker.sh", err, out)
	}
	images.Lock()
	defer images.Unlock()
	err, done := images.built[version]
	if !done {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "hack", "sim-image.sh"), version)
		cmd.Env = append(os.Environ(), "FLINK_SIM_IMAGE="+imageName(version))
		out, cerr := cmd.CombinedOutput()
		images.logs[version] = string(out)
		if cerr != nil {
			err = fmt.Errorf("hack/sim-image.sh %s: %w", version, cerr)
		}
		images.built[version] = err
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, images.logs[version])
	}
	return imageName(version)
}

// scope labels what one test creates; testcontainers removes it when the test ends.
type scope struct {
	id     string
	labels map[string]string
}

func newScope() *scope {
	id := randomHex(4)
	return &scope{id: id, labels: map[string]string{testLabel: id}}
}

// network creates a user-defined bridge network, as flinkd's Docker runtime does per cluster.
func (s *scope) network(t *testing.T) *testcontainers.DockerNetwork {
	t.Helper()
	nw, err := tcnetwork.New(t.Context(), tcnetwork.WithLabels(s.labels))
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	return nw
}

// run starts a container of the image on nw, reachable there as alias, and waits for what
// the strategy says (nil: for the container to run).
func (s *scope) run(t *testing.T, image string, nw *testcontainers.DockerNetwork, alias string, env map[string]string,
	strategy wait.Strategy, args ...string) *testcontainers.DockerContainer {
	t.Helper()
	opts := []testcontainers.ContainerCustomizer{
		testcontainers.WithName("flinksim-" + s.id + "-" + alias),
		testcontainers.WithLabels(s.labels),
		tcnetwork.WithNetwork([]string{alias}, nw),
		testcontainers.WithEnv(env),
		testcontainers.WithCmd(args...),
	}
	if strategy != nil {
		opts = append(opts, testcontainers.WithWaitStrategyAndDeadline(time.Minute, strategy))
	}
	if alias == "jobmanager" {
		opts = append(opts, testcontainers.WithExposedPorts("8081/tcp"))
	}
	c, err := testcontainers.Run(t.Context(), image, opts...)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("run %s: %v%s", alias, err, triedAddress(t, c))
	}
	return c
}

// triedAddress says where testcontainers reached the container's published port, so that a
// wait that times out names the address it tried (an unreachable guess explains itself).
func triedAddress(t *testing.T, c *testcontainers.DockerContainer) string {
	t.Helper()
	if c == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 10*time.Second)
	defer cancel()
	host, err := c.Host(ctx)
	if err != nil {
		return fmt.Sprintf(" (the address testcontainers reaches it on is unknown: %v)", err)
	}
	ports, err := c.Ports(ctx)
	if err != nil || len(ports) == 0 {
		return fmt.Sprintf(" (testcontainers reaches its published ports on host %s; none published)", host)
	}
	var tried []string
	for p, bindings := range ports {
		for _, b := range bindings {
			// The engine binds IPv4 and IPv6 to the same host port: name it once.
			if s := fmt.Sprintf("%s -> %s:%s", p, host, b.HostPort); !slices.Contains(tried, s) {
				tried = append(tried, s)
			}
		}
	}
	return fmt.Sprintf(" (testcontainers tried %s; TESTCONTAINERS_HOST_OVERRIDE=%q, DOCKER_HOST=%q)",
		strings.Join(tried, ", "), os.Getenv("TESTCONTAINERS_HOST_OVERRIDE"), os.Getenv("DOCKER_HOST"))
}

func restURL(t *testing.T, c *testcontainers.DockerContainer) string {
	t.Helper()
	ep, err := c.PortEndpoint(t.Context(), "8081/tcp", "http")
	if err != nil {
		t.Fatalf("REST endpoint: %v", err)
	}
	return ep
}

func logs(t *testing.T, c *testcontainers.DockerContainer) string {
	t.Helper()
	r, err := c.Logs(t.Context())
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	return string(data)
}

func getJSON(t *testing.T, url string, out any) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return false
	}
	return json.Unmarshal(data, out) == nil
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond) // poll interval, not a wait for an outcome
	}
}

func taskManagers(t *testing.T, rest string) float64 {
	t.Helper()
	var o map[string]any
	if !getJSON(t, rest+"/overview", &o) {
		return -1
	}
	n, _ := o["taskmanagers"].(float64)
	return n
}

// startJobManager runs a JobManager reachable on the network as "jobmanager", its own
// jobmanager.rpc.address (Pekko accepts only that exact name), as flinkd runs it, and waits
// for its REST API.
func startJobManager(t *testing.T, s *scope, image string, nw *testcontainers.DockerNetwork) (c *testcontainers.DockerContainer, rest string) {
	t.Helper()
	c = s.run(t, image, nw, "jobmanager", map[string]string{"JOB_MANAGER_RPC_ADDRESS": "jobmanager"},
		wait.ForHTTP("/config").WithPort("8081/tcp"), "jobmanager")
	return c, restURL(t, c)
}

func TestImageRunsASessionClusterOnAUserDefinedNetwork(t *testing.T) {
	image := simImage(t, "1.20")
	s := newScope()
	nw := s.network(t)
	jm, rest := startJobManager(t, s, image, nw)
	tm1 := s.run(t, image, nw, "taskmanager-1", map[string]string{"JOB_MANAGER_RPC_ADDRESS": "jobmanager"}, nil, "taskmanager")
	s.run(t, image, nw, "taskmanager-2", map[string]string{"JOB_MANAGER_RPC_ADDRESS": "jobmanager", "TASK_MANAGER_NUMBER_OF_TASK_SLOTS": "2"}, nil, "taskmanager")
	// A TaskManager's slots follow its registration (a slot report): wait for both.
	var o map[string]any
	waitFor(t, 60*time.Second, "2 TaskManagers with 3 slots in /overview", func() bool {
		return getJSON(t, rest+"/overview", &o) && o["taskmanagers"] == float64(2) && o["slots-total"] == float64(3)
	})
	var conf []map[string]string
	if !getJSON(t, rest+"/jobmanager/config", &conf) {
		t.Fatal("GET /jobmanager/config failed")
	}
	found := false
	for _, e := range conf {
		if e["key"] == "jobmanager.rpc.address" {
			found = e["value"] == "jobmanager"
		}
	}
	if !found {
		t.Errorf("/jobmanager/config lacks jobmanager.rpc.address jobmanager: %v", conf)
	}
	if l := logs(t, jm); !strings.Contains(l, "INFO  org.apache.flink.configuration.GlobalConfiguration           [] - Loading configuration property: jobmanager.rpc.address, jobmanager") {
		t.Errorf("JobManager log lacks the configuration line:\n%s", l)
	}

	// A stop sends SIGTERM: the TaskManager deregisters before it exits, with the JVM's 143.
	grace := 20 * time.Second
	if err := tm1.Stop(t.Context(), &grace); err != nil {
		t.Fatalf("stop taskmanager-1: %v", err)
	}
	st, err := tm1.State(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 143 {
		t.Errorf("TaskManager exit code after a stop = %d, want 143", st.ExitCode)
	}
	if n := taskManagers(t, rest); n != 1 {
		t.Errorf("taskmanagers right after the stop = %v, want 1", n)
	}
}

func TestTaskManagerWithoutJobManagerRPCAddressNeverRegisters(t *testing.T) {
	image := simImage(t, "1.20")
	s := newScope()
	nw := s.network(t)
	_, rest := startJobManager(t, s, image, nw)
	// With no JOB_MANAGER_RPC_ADDRESS the entrypoint writes the container's own host name
	// (its ID's first 12 characters) as jobmanager.rpc.address.
	retry := wait.ForLog(`Could not resolve ResourceManager address pekko\.tcp://flink@[0-9a-f]{12}:6123/user/rpc/resourcemanager_\*, retrying in 10000 ms`).AsRegexp()
	tm := s.run(t, image, nw, "taskmanager", nil, retry, "taskmanager")
	info, err := tm.Inspect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := "flink@" + info.Config.Hostname + ":6123"; !strings.Contains(logs(t, tm), want) {
		t.Errorf("the retry line names another host than the container's own (%s)", info.Config.Hostname)
	}
	if n := taskManagers(t, rest); n != 0 {
		t.Errorf("taskmanagers = %v, want 0", n)
	}
}

func TestReadOnlyConfMountPrintsTheShellErrorAndStillRunsTheCommand(t *testing.T) {
	// The script line that writes the file: 45 in flink-dist 1.20's config-parser-utils.sh,
	// 42 in 2.2's.
	for v, line := range map[string]int{"1.20": 45, "2.2": 42} {
		t.Run(v, func(t *testing.T) {
			image := simImage(t, v)
			s := newScope()
			dir := t.TempDir()
			data, err := os.ReadFile(filepath.Join("image", "conf", v, "config.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "config.yaml"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "docker", "run", "--rm", "--network", "none", "--label", testLabel+"="+s.id,
				"-v", dir+":/opt/flink/conf:ro", image, "help")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("help with a read-only conf/: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
			}
			if want := fmt.Sprintf("/opt/flink/bin/config-parser-utils.sh: line %d: /opt/flink/conf/config.yaml: Read-only file system", line); !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr.String(), want)
			}
			if !strings.Contains(stdout.String(), "Usage: docker-entrypoint.sh") {
				t.Errorf("stdout = %q, want the usage", stdout.String())
			}
			after, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
			if err != nil || !bytes.Equal(after, data) {
				t.Errorf("config.yaml changed under a read-only mount (err %v)", err)
			}
		})
	}
}
