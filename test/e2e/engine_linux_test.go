package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dockerclient "github.com/docker/docker/client"

	"github.com/flinkd/flinkd/internal/api"
)

// The Docker engine restarts under running clusters (its containers die with it: their
// restart policy is flinkd's, "no"): flinkd stays up and answers throughout, and brings every
// cluster back to RUNNING, each instance once, the networks not duplicated.
//
// It restarts the engine this test's DOCKER_HOST names (it must be a local dockerd on a unix
// socket, and the test must run as root), once, and starts it again whatever happens, as it
// was started. The engine is shared: this test does not run in parallel with the others of
// this package, and hack/test.sh runs it alone after every other package.
func TestEngineRestartUnderRunningClusters(t *testing.T) {
	requireE2E(t)
	engine := findDockerd(t)
	f := newFlinkd(t)
	names := []string{uniqueName("engine-a"), uniqueName("engine-b")}
	for i, n := range names {
		f.write(n+".yaml", clusterYAML(n, "RUNNING", 1+i, ""))
	}
	before := map[string]map[string]string{}
	for i, n := range names {
		f.waitRunning(n, 1+i)
		before[n] = containerIDs(f.clusterContainers(n))
	}

	// flinkd answers throughout: a prober asks its API every 100 ms while the engine restarts.
	var asked, failed atomic.Int64
	stopProbe := make(chan struct{})
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := f.client().Version(ctx)
			cancel()
			asked.Add(1)
			if err != nil {
				failed.Add(1)
			}
			select {
			case <-stopProbe:
				return
			case <-time.After(100 * time.Millisecond): // probe interval
			}
		}
	}()
	took := engine.restart(t)
	for i, n := range names {
		f.waitRunning(n, 1+i)
	}
	close(stopProbe)
	<-probed
	t.Logf("engine restarted in %s; flinkd answered %d of %d API calls meanwhile", took.Round(100*time.Millisecond), asked.Load()-failed.Load(), asked.Load())
	if !f.running() || failed.Load() > 0 {
		t.Errorf("flinkd did not stay up: running %v, %d of %d API calls failed", f.running(), failed.Load(), asked.Load())
	}
	for i, n := range names {
		after := f.clusterContainers(n) // fails on two containers for one instance
		if len(after) != 2+i {
			t.Errorf("%s: containers %v after the engine restart, want %d", n, sortedKeys(after), 2+i)
		}
		for id, c := range after {
			if c.ID == before[n][id] {
				t.Errorf("%s: %s is the container that died with the engine, still (state %s)", n, id, c.State)
			}
		}
		nets := 0
		for _, nw := range f.networks() {
			if strings.Contains(nw.Name, n) {
				nets++
			}
		}
		if nets != 1 {
			t.Errorf("%s: %d networks after the engine restart, want 1", n, nets)
		}
		cs := f.waitRunning(n, 1+i)
		if !strings.Contains(cs.Message, "registered") {
			t.Errorf("%s: status %+v", n, cs)
		}
	}
	// The events say what happened: the JobManager that died with the engine was replaced
	// ("Replaced"), or, when the replacement was created while the engine went down and could
	// not start, started once it was back ("Started").
	if evs := f.events(names[0]); !slices.ContainsFunc(evs, func(e api.Event) bool {
		return (e.Reason == "Replaced" || e.Reason == "Started") && strings.HasPrefix(e.Message, "jobmanager ")
	}) {
		t.Errorf("%s: no event says its JobManager was replaced or started again; events:\n%s", names[0], formatEvents(evs))
	}
}

// dockerd is the process of a local Docker engine.
type dockerd struct {
	pid    int
	argv   []string
	socket string
}

// findDockerd finds the dockerd process that serves this test's DOCKER_HOST, or fails the test.
func findDockerd(t *testing.T) dockerd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("restarting the Docker engine needs root: run the end-to-end tests as root (make test does, in CI)")
	}
	socket := strings.TrimPrefix(dockerclient.DefaultDockerHost, "unix://")
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		if !strings.HasPrefix(h, "unix://") {
			t.Fatalf("DOCKER_HOST=%s: restarting the engine needs a local dockerd on a unix socket", h)
		}
		socket = strings.TrimPrefix(h, "unix://")
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if filepath.Base(argv[0]) != "dockerd" {
			continue
		}
		host := hostFlag(argv[1:])
		if strings.TrimPrefix(host, "unix://") == socket || (host == "" && socket == strings.TrimPrefix(dockerclient.DefaultDockerHost, "unix://")) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			return dockerd{pid: pid, argv: argv, socket: socket}
		}
	}
	t.Fatalf("no dockerd process serves %s: start it with `bash hack/ensure-docker.sh`", socket)
	return dockerd{}
}

// hostFlag returns the value of dockerd's -H/--host flag ("" when there is none).
func hostFlag(args []string) string {
	for i, a := range args {
		for _, f := range []string{"-H", "--host"} {
			if v, ok := strings.CutPrefix(a, f+"="); ok {
				return v
			}
			if a == f && i+1 < len(args) {
				return args[i+1]
			}
		}
	}
	return ""
}

// restart stops the engine and starts it again with the same command line, and waits until
// it answers. The restart is done by a detached shell, so that it completes even if this test
// binary dies meanwhile; the test fails if the engine does not answer within 3 minutes, and
// its cleanup starts it again if it is down. It returns how long the engine did not answer.
func (d dockerd) restart(t *testing.T) time.Duration {
	t.Helper()
	logPath := os.Getenv("FLINKD_DOCKERD_LOG")
	if logPath == "" {
		logPath = "/var/log/flinkd-dockerd.log"
	}
	t.Cleanup(func() { d.ensureUp(t, logPath) })
	quoted := make([]string, len(d.argv))
	for i, a := range d.argv {
		quoted[i] = shellQuote(a)
	}
	// Stop (dockerd stops its containers first, within its shutdown timeout), wait for the
	// process to end, then start the same command line in the background.
	script := fmt.Sprintf(`kill -TERM %d; for i in $(seq 1200); do kill -0 %d 2>/dev/null || break; sleep 0.1; done; exec %s >>%s 2>&1 </dev/null`,
		d.pid, d.pid, strings.Join(quoted, " "), shellQuote(logPath))
	cmd := exec.Command("setsid", "nohup", "bash", "-c", script)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("restart dockerd: %v", err)
	}
	go func() { _ = cmd.Wait() }()
	// Wait for the old engine to go, then for the new one to answer.
	for pidAlive(d.pid) {
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("dockerd (pid %d) did not stop within 2m", d.pid)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	cli := dockerClientFor(t, d.socket)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Ping(ctx)
		cancel()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > 3*time.Minute {
			t.Fatalf("the restarted engine does not answer within 3m (%v); log: %s", err, logPath)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
}

// ensureUp starts the engine again with its command line when nothing answers on its socket.
func (d dockerd) ensureUp(t *testing.T, logPath string) {
	cli := dockerClientFor(t, d.socket)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err := cli.Ping(ctx)
	cancel()
	if err == nil {
		return
	}
	t.Errorf("the engine is down after the test (%v): starting it again", err)
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Errorf("open %s: %v", logPath, err)
		return
	}
	defer lf.Close()
	cmd := exec.Command("setsid", append([]string{"nohup"}, d.argv...)...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Errorf("start dockerd again: %v", err)
		return
	}
	go func() { _ = cmd.Wait() }()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) { // poll interval
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
	}
	t.Errorf("the engine does not answer after starting it again; run `bash hack/ensure-docker.sh`")
}

func dockerClientFor(t *testing.T, socket string) *dockerclient.Client {
	t.Helper()
	cli, err := dockerclient.NewClientWithOpts(dockerclient.WithHost("unix://"+socket), dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func pidAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
