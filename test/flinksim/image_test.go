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
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests run the image on the real Docker engine. They build a throwaway tag of it with
// hack/sim-image.sh once per run and remove it at the end.

const testLabel = "flinkd.test/flinksim"

var (
	buildOnce sync.Once
	buildErr  error
	buildLog  string
	testImage = "localhost/flink-sim-test:" + randomHex(6)
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildErr == nil && buildLog != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_ = exec.CommandContext(ctx, "docker", "rmi", "--force", testImage).Run()
		cancel()
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

// simImage builds the image once and returns its name. No engine is a failure, never a skip.
func simImage(t *testing.T) string {
	t.Helper()
	if out, err := docker(t, "info", "--format", "{{.ServerVersion}}"); err != nil {
		t.Fatalf("no Docker engine answers (%v: %s); run: bash hack/ensure-docker.sh", err, out)
	}
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "hack", "sim-image.sh"), "1.20")
		cmd.Env = append(os.Environ(), "FLINK_SIM_IMAGE="+testImage)
		out, err := cmd.CombinedOutput()
		buildLog = string(out)
		if err != nil {
			buildErr = fmt.Errorf("hack/sim-image.sh: %w", err)
		}
	})
	if buildErr != nil {
		t.Fatalf("%v\n%s", buildErr, buildLog)
	}
	return testImage
}

// scope labels what one test creates and removes it all when the test ends.
type scope struct {
	id    string
	label string
}

func newScope(t *testing.T) *scope {
	t.Helper()
	s := &scope{id: randomHex(4)}
	s.label = testLabel + "=" + s.id
	t.Cleanup(func() {
		if ids, _ := docker(t, "ps", "-aq", "--filter", "label="+s.label); ids != "" {
			if out, err := docker(t, append([]string{"rm", "-f"}, strings.Fields(ids)...)...); err != nil {
				t.Errorf("remove containers: %v\n%s", err, out)
			}
		}
		if ids, _ := docker(t, "network", "ls", "-q", "--filter", "label="+s.label); ids != "" {
			if out, err := docker(t, append([]string{"network", "rm"}, strings.Fields(ids)...)...); err != nil {
				t.Errorf("remove networks: %v\n%s", err, out)
			}
		}
	})
	return s
}

func (s *scope) name(role string) string { return "flinksim-" + s.id + "-" + role }

func (s *scope) network(t *testing.T) string {
	t.Helper()
	n := s.name("net")
	mustDocker(t, "network", "create", "--label", s.label, n)
	return n
}

// run starts a detached container of the image.
func (s *scope) run(t *testing.T, image, network, role string, env []string, args ...string) string {
	t.Helper()
	cmd := []string{"run", "-d", "--name", s.name(role), "--label", s.label, "--network", network}
	for _, e := range env {
		cmd = append(cmd, "-e", e)
	}
	if role == "jobmanager" {
		cmd = append(cmd, "-p", "127.0.0.1::8081")
	}
	cmd = append(cmd, image)
	cmd = append(cmd, args...)
	mustDocker(t, cmd...)
	return s.name(role)
}

func restURL(t *testing.T, container string) string {
	t.Helper()
	out := mustDocker(t, "port", container, "8081/tcp")
	return "http://" + strings.Fields(out)[0]
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

// startJobManager runs a JobManager named as its own jobmanager.rpc.address (Pekko accepts
// only that exact name) and waits for its REST API.
func startJobManager(t *testing.T, s *scope, image, network string) (name, rest string) {
	t.Helper()
	name = s.name("jobmanager")
	s.run(t, image, network, "jobmanager", []string{"JOB_MANAGER_RPC_ADDRESS=" + name}, "jobmanager")
	rest = restURL(t, name)
	waitFor(t, 30*time.Second, "the JobManager's REST API", func() bool {
		var c map[string]any
		return getJSON(t, rest+"/config", &c)
	})
	return name, rest
}

func TestImageRunsASessionClusterOnAUserDefinedNetwork(t *testing.T) {
	image := simImage(t)
	s := newScope(t)
	network := s.network(t)
	jm, rest := startJobManager(t, s, image, network)
	tm1 := s.run(t, image, network, "taskmanager-1", []string{"JOB_MANAGER_RPC_ADDRESS=" + jm}, "taskmanager")
	s.run(t, image, network, "taskmanager-2", []string{"JOB_MANAGER_RPC_ADDRESS=" + jm, "TASK_MANAGER_NUMBER_OF_TASK_SLOTS=2"}, "taskmanager")
	waitFor(t, 60*time.Second, "2 TaskManagers in /overview", func() bool { return taskManagers(t, rest) == 2 })

	var o map[string]any
	if !getJSON(t, rest+"/overview", &o) || o["slots-total"] != float64(3) {
		t.Errorf("overview = %v, want 3 slots", o)
	}
	var conf []map[string]string
	if !getJSON(t, rest+"/jobmanager/config", &conf) {
		t.Fatal("GET /jobmanager/config failed")
	}
	found := false
	for _, e := range conf {
		if e["key"] == "jobmanager.rpc.address" {
			found = e["value"] == jm
		}
	}
	if !found {
		t.Errorf("/jobmanager/config lacks jobmanager.rpc.address %s: %v", jm, conf)
	}
	if logs := mustDocker(t, "logs", jm); !strings.Contains(logs, "INFO  org.apache.flink.configuration.GlobalConfiguration           [] - Loading configuration property: jobmanager.rpc.address, "+jm) {
		t.Errorf("JobManager log lacks the configuration line:\n%s", logs)
	}

	// docker stop sends SIGTERM: the TaskManager deregisters before it exits, with the
	// JVM's 143.
	mustDocker(t, "stop", "--time", "20", tm1)
	if code := mustDocker(t, "inspect", "--format", "{{.State.ExitCode}}", tm1); code != "143" {
		t.Errorf("TaskManager exit code after docker stop = %s, want 143", code)
	}
	if n := taskManagers(t, rest); n != 1 {
		t.Errorf("taskmanagers right after docker stop = %v, want 1", n)
	}
}

func TestTaskManagerWithoutJobManagerRPCAddressNeverRegisters(t *testing.T) {
	image := simImage(t)
	s := newScope(t)
	network := s.network(t)
	_, rest := startJobManager(t, s, image, network)
	tm := s.run(t, image, network, "taskmanager", nil, "taskmanager")
	host := mustDocker(t, "inspect", "--format", "{{.Config.Hostname}}", tm)
	// The entrypoint wrote the container's own host name as jobmanager.rpc.address.
	want := "Could not resolve ResourceManager address pekko.tcp://flink@" + host + ":6123/user/rpc/resourcemanager_*, retrying in 10000 ms"
	waitFor(t, 30*time.Second, "the TaskManager's retry line", func() bool {
		logs, _ := docker(t, "logs", tm)
		return strings.Contains(logs, want)
	})
	if n := taskManagers(t, rest); n != 0 {
		t.Errorf("taskmanagers = %v, want 0", n)
	}
}

func TestReadOnlyConfMountPrintsTheShellErrorAndStillRunsTheCommand(t *testing.T) {
	image := simImage(t)
	s := newScope(t)
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("image", "rootfs", "opt", "flink", "conf", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "run", "--rm", "--label", s.label, "-v", dir+":/opt/flink/conf:ro", image, "help")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("help with a read-only conf/: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	if want := "/opt/flink/bin/config-parser-utils.sh: line 45: /opt/flink/conf/config.yaml: Read-only file system"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr = %q, want it to contain %q", stderr.String(), want)
	}
	if !strings.Contains(stdout.String(), "Usage: docker-entrypoint.sh") {
		t.Errorf("stdout = %q, want the usage", stdout.String())
	}
	after, err := os.ReadFile(filepath.Join(dir, "config.yaml"))
	if err != nil || !bytes.Equal(after, data) {
		t.Errorf("config.yaml changed under a read-only mount (err %v)", err)
	}
}
