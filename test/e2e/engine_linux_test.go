package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dockerclient "github.com/docker/docker/client"

	"github.com/flinkd/flinkd/internal/api"
)

// The Docker engine restarts under running clusters (its containers die with it: their
// restart policy is flinkd's, "no"): flinkd stays up and answers throughout, and brings every
// cluster back to RUNNING, each instance once, the networks not duplicated.
//
// The engine it restarts is a private one it starts itself (privateEngine): restarting the
// shared engine would kill every other test's containers. It needs root and dockerd, as the
// rest of these tests do on this project's machines.
func TestEngineRestartUnderRunningClusters(t *testing.T) {
	requireE2E(t)
	engine := privateEngine(t)
	t.Setenv("DOCKER_HOST", "unix://"+engine.socket) // for flinkd and this test's client (no t.Parallel)
	f := newFlinkd(t, "--docker-address-pool", privateFlinkdPool)
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
	pid     int
	argv    []string
	socket  string
	logPath string
}

// Addresses of the private engine: its default bridge, the pool it allocates from, and the
// pool its flinkd gives cluster networks. Apart from the shared engine's (172.17.0.0/16 and
// Docker's default pools), test/kubetest's pod networks (10.213.0.0/16) and flinkd's own
// default pool (10.200.0.0/14), which the other tests' flinkds use on the shared engine: two
// engines on one range make one engine's containers reachable at the other's addresses (seen
// in CI, when both picked one subnet at the same moment).
const (
	privateBridgeCIDR = "10.218.0.1/24"
	privatePool       = "base=10.218.128.0/17,size=24"
	privateFlinkdPool = "base=10.218.64.0/18,size=24"
)

// privateEngine starts a dockerd of this test's own: its own socket, data and exec roots, its
// own default bridge interface (a dockerd given --bridge=none deletes the host's docker0, the
// shared engine's), no iptables rules (nothing of the host's firewall changes; published ports
// go through docker-proxy), and the stand-in image loaded from the shared engine. Cleanup stops
// it and removes all of it.
func privateEngine(t *testing.T) dockerd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("a private Docker engine needs root: run the end-to-end tests as root (make test does, in CI)")
	}
	exe, err := exec.LookPath("dockerd")
	if err != nil {
		t.Fatalf("a private Docker engine needs dockerd (%v): run `bash hack/ensure-docker.sh`", err)
	}
	// Short paths: containerd's sockets live under the exec root, and unix socket paths are
	// limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "fe-")
	if err != nil {
		t.Fatal(err)
	}
	bridge := "fdt" + strconv.FormatInt(time.Now().UnixNano()%1_000_000, 36)
	for _, args := range [][]string{
		{"link", "add", bridge, "type", "bridge"},
		{"addr", "add", privateBridgeCIDR, "dev", bridge},
		{"link", "set", bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			_ = exec.Command("ip", "link", "del", bridge).Run()
			os.RemoveAll(dir)
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Without iptables of its own, the private engine's containers on one network reach each
	// other only if the host's firewall lets bridged traffic through: with br_netfilter it
	// goes through FORWARD, whose policy the shared engine sets to DROP. Accept frames bridged
	// within one bridge (never routed between two, so no network reaches another), as the
	// shared engine does for its own networks; removed at cleanup.
	accept := []string{"FORWARD", "-m", "physdev", "--physdev-is-bridged", "-m", "comment", "--comment", "flinkd-e2e " + bridge, "-j", "ACCEPT"}
	if out, err := exec.Command("iptables", append([]string{"-I"}, accept...)...).CombinedOutput(); err != nil {
		_ = exec.Command("ip", "link", "del", bridge).Run()
		os.RemoveAll(dir)
		t.Fatalf("iptables -I %s: %v\n%s", strings.Join(accept, " "), err, out)
	}
	d := dockerd{
		socket:  filepath.Join(dir, "docker.sock"),
		logPath: filepath.Join(dir, "dockerd.log"),
		argv: []string{exe,
			"--host", "unix://" + filepath.Join(dir, "docker.sock"),
			"--data-root", filepath.Join(dir, "root"),
			"--exec-root", filepath.Join(dir, "exec"),
			"--pidfile", filepath.Join(dir, "docker.pid"),
			"--bridge", bridge,
			"--iptables=false",
			"--default-address-pool", privatePool,
		},
	}
	t.Cleanup(func() {
		if pid := d.currentPID(); pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			for deadline := time.Now().Add(time.Minute); pidAlive(pid) && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond) // poll interval
			}
		}
		if out, err := exec.Command("iptables", append([]string{"-D"}, accept...)...).CombinedOutput(); err != nil {
			t.Errorf("remove the private engine's firewall rule: %v\n%s", err, out)
		}
		if out, err := exec.Command("ip", "link", "del", bridge).CombinedOutput(); err != nil {
			t.Errorf("remove the private engine's bridge %s: %v\n%s", bridge, err, out)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove the private engine's folder: %v", err)
		}
	})
	d.ensureUp(t, false)
	d.pid = d.currentPID()

	// The stand-in image, from the shared engine.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	shared := dockerClient(t)
	rc, err := shared.ImageSave(ctx, []string{simImage})
	if err != nil {
		t.Fatalf("save %s from the shared engine: %v", simImage, err)
	}
	defer rc.Close()
	resp, err := dockerClientFor(t, d.socket).ImageLoad(ctx, rc)
	if err != nil {
		t.Fatalf("load %s into the private engine: %v (log: %s)", simImage, err, d.logPath)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return d
}

// currentPID is the private engine's pid from its pid file (0 when it does not run).
func (d dockerd) currentPID() int {
	for i, a := range d.argv {
		if a == "--pidfile" && i+1 < len(d.argv) {
			b, err := os.ReadFile(d.argv[i+1])
			if err != nil {
				return 0
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if pid > 0 && pidAlive(pid) {
				return pid
			}
		}
	}
	return 0
}

// restart stops the engine and starts it again with the same command line, and waits until
// it answers. The restart is done by a detached shell, so that it completes even if this test
// binary dies meanwhile; the test fails if the engine does not answer within 3 minutes, and
// its cleanup starts it again if it is down. It returns how long the engine did not answer.
func (d dockerd) restart(t *testing.T) time.Duration {
	t.Helper()
	logPath := d.logPath
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

// ensureUp starts the engine with its command line when nothing answers on its socket, and
// waits until it answers.
func (d dockerd) ensureUp(t *testing.T, wasUp bool) {
	t.Helper()
	cli := dockerClientFor(t, d.socket)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err := cli.Ping(ctx)
	cancel()
	if err == nil {
		return
	}
	if wasUp {
		t.Errorf("the engine is down (%v): starting it again", err)
	}
	lf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("open %s: %v", d.logPath, err)
	}
	defer lf.Close()
	cmd := exec.Command(d.argv[0], d.argv[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start dockerd: %v", err)
	}
	go func() { _ = cmd.Wait() }()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) { // poll interval
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Ping(ctx)
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("the engine does not answer within 2m; log: %s", d.logPath)
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
