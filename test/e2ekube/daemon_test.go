package e2ekube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/client"
)

// runnerLogger logs what the pod runner does: at Info with -v, else only warnings;
// FLINKD_PODRUNNER_LOG=debug shows every pod status it writes.
func runnerLogger() *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	if os.Getenv("FLINKD_PODRUNNER_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("component", "podrunner")
}

// daemon is a real flinkd process on temp folders.
type daemon struct {
	t      *testing.T
	specs  string
	data   string
	socket string
	logf   string
	args   []string
	cmd    *exec.Cmd
	exited chan error
}

// startDaemon runs flinkd with the given configuration file content and waits until its API
// answers. It is stopped (SIGTERM) when the test ends; its log is printed if the test failed.
func startDaemon(t *testing.T, config string) *daemon {
	t.Helper()
	dir := t.TempDir()
	// Unix socket paths are limited to about 100 bytes and t.TempDir() carries the test name.
	sockDir, err := os.MkdirTemp("", "flinkd-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	d := &daemon{t: t, specs: filepath.Join(dir, "specs"), data: filepath.Join(dir, "data"),
		socket: filepath.Join(sockDir, "flinkd.sock"), logf: filepath.Join(dir, "flinkd.log")}
	if err := os.MkdirAll(d.specs, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "flinkd.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	d.args = []string{"--specs", d.specs, "--data", d.data, "--socket", d.socket, "--config", cfg, "--resync", "2s", "--log-level", "debug"}
	d.run()
	t.Cleanup(d.stop)
	return d
}

// restart stops flinkd and starts it again on the same folders.
func (d *daemon) restart() {
	d.t.Helper()
	d.stop()
	d.run()
}

// run starts the flinkd process and waits until its API answers.
func (d *daemon) run() {
	t := d.t
	t.Helper()
	logFile, err := os.OpenFile(d.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	d.exited = make(chan error, 1)
	d.cmd = exec.Command(filepath.Join(bin, "flinkd"), d.args...)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start flinkd: %v", err)
	}
	cmd, exited := d.cmd, d.exited
	go func() {
		exited <- cmd.Wait()
		logFile.Close()
	}()

	c := client.Client{Socket: d.socket}
	d.eventually(30*time.Second, "flinkd's API answers", func() (bool, string) {
		select {
		case err := <-d.exited:
			d.exited <- err
			return false, fmt.Sprintf("flinkd exited: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := c.Version(ctx)
		return err == nil, fmt.Sprint(err)
	})
}

// stop sends SIGTERM and waits; clusters keep running (the test's namespace is deleted
// afterwards, and the pod runner removes what ran in it).
func (d *daemon) stop() {
	if d.cmd.ProcessState == nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-d.exited:
			if err != nil {
				d.t.Errorf("flinkd exited with %v after SIGTERM", err)
			}
		case <-time.After(30 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.exited
			d.t.Errorf("flinkd did not stop within 30s of SIGTERM")
		}
	}
	if d.t.Failed() {
		d.t.Logf("last lines of flinkd's log %s:\n%s", d.logf, tail(d.logf, 80))
	}
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// write puts a spec file into the watched folder (written aside and renamed in, as editors do).
func (d *daemon) write(name, content string) {
	d.t.Helper()
	tmp := filepath.Join(d.specs, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.specs, name)); err != nil {
		d.t.Fatal(err)
	}
}

func (d *daemon) read(name string) string {
	d.t.Helper()
	data, err := os.ReadFile(filepath.Join(d.specs, name))
	if err != nil {
		d.t.Fatal(err)
	}
	return string(data)
}

// result is what a flinkctl run printed, and its exit code.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// flinkctl runs the real flinkctl against this daemon.
func (d *daemon) flinkctl(args ...string) result {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "flinkctl"), append([]string{"--socket", d.socket}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		d.t.Fatalf("run flinkctl %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// jsonOut runs flinkctl with args and decodes its stdout into v; it fails on a non-zero exit.
func (d *daemon) jsonOut(v any, args ...string) {
	d.t.Helper()
	res := d.flinkctl(args...)
	if res.code != 0 {
		d.t.Fatalf("flinkctl %s: %s", strings.Join(args, " "), res)
	}
	if err := json.Unmarshal([]byte(res.stdout), v); err != nil {
		d.t.Fatalf("decode the output of flinkctl %s: %v\n%s", strings.Join(args, " "), err, res.stdout)
	}
}

// status returns the cluster's row of `flinkctl status -o json`.
func (d *daemon) status(name string) (api.ClusterStatus, bool) {
	d.t.Helper()
	var all []api.ClusterStatus
	d.jsonOut(&all, "status", "-o", "json")
	for _, s := range all {
		if s.Name == name {
			return s, true
		}
	}
	return api.ClusterStatus{}, false
}

// waitStatus polls `flinkctl status -o json` until cond holds for the cluster.
func (d *daemon) waitStatus(name, what string, timeout time.Duration, cond func(api.ClusterStatus) bool) api.ClusterStatus {
	d.t.Helper()
	var st api.ClusterStatus
	d.eventually(timeout, name+": "+what, func() (bool, string) {
		var ok bool
		st, ok = d.status(name)
		if !ok {
			return false, "no such cluster"
		}
		return cond(st), fmt.Sprintf("phase=%s taskManagers=%d/%d message=%q", st.Phase, st.TaskManagers.Ready,
			st.TaskManagers.Desired, st.Message)
	})
	return st
}

// waitRunning waits for phase RUNNING with n of n TaskManagers ready.
func (d *daemon) waitRunning(name string, n int) api.ClusterStatus {
	d.t.Helper()
	return d.waitStatus(name, fmt.Sprintf("RUNNING with %d TaskManagers", n), 2*time.Minute, func(s api.ClusterStatus) bool {
		return s.Phase == "RUNNING" && s.TaskManagers.Ready == n && s.TaskManagers.Desired == n
	})
}

// events returns the cluster's event log, oldest first.
func (d *daemon) events(name string) []api.Event {
	d.t.Helper()
	var evs []api.Event
	d.jsonOut(&evs, "events", name, "-o", "json")
	return evs
}

// eventually polls cond until it holds or timeout passes; cond describes what it saw.
func (d *daemon) eventually(timeout time.Duration, what string, cond func() (bool, string)) {
	d.t.Helper()
	eventually(d.t, timeout, what, cond)
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s; last seen: %s", what, timeout, seen)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: test ended", what)
		case <-time.After(250 * time.Millisecond): // poll interval
		}
	}
}
