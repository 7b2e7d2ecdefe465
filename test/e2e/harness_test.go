package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	dockerclient "github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/client"
	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/internal/spec"
)

const (
	// waitLong bounds waits for a cluster to converge: the machine is small and shared.
	waitLong = 120 * time.Second
	// pollInterval is the pause between two looks at a condition.
	pollInterval = 100 * time.Millisecond
	// callTimeout bounds one call to the daemon, the engine or a JobManager.
	callTimeout = 15 * time.Second
	// resync is the daemon's full-resync period in these tests.
	resync = "2s"
)

// flinkd is one real flinkd process with its own specs folder, database and socket, and a
// Docker client to check what it made. Everything labelled with its owner identity is removed
// when the test ends.
type flinkd struct {
	t       *testing.T
	dir     string
	specs   string
	data    string
	socket  string
	logPath string
	owner   string
	docker  *dockerclient.Client
	// args are added to flinkd's command line at every start (--adopt, say).
	args []string
	// patience bounds the waits for a cluster or an event (waitLong unless the test's
	// images need more: flinkImages.newFlinkd).
	patience time.Duration

	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{} // closed when the process has exited
	exitErr error         // the process's exit, valid once done is closed
	starts  int
}

// newFlinkd starts a flinkd on fresh folders, with args added to its command line, and
// registers its teardown.
func newFlinkd(t *testing.T, args ...string) *flinkd {
	t.Helper()
	requireE2E(t)
	dir := t.TempDir()
	// Unix socket paths are limited to about 100 bytes; test temp dirs can be longer.
	sockDir, err := os.MkdirTemp("", "flinkd-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	f := &flinkd{
		t: t, dir: dir,
		specs:    filepath.Join(dir, "specs"),
		data:     filepath.Join(dir, "data"),
		socket:   filepath.Join(sockDir, "flinkd.sock"),
		logPath:  filepath.Join(dir, "flinkd.log"),
		docker:   dockerClient(t),
		args:     args,
		patience: waitLong,
	}
	if err := os.MkdirAll(f.specs, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.teardown)
	f.start()
	return f
}

func dockerClient(t *testing.T) *dockerclient.Client {
	t.Helper()
	cli, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Fatalf("no Docker engine answers at %s (%v): run `bash hack/ensure-docker.sh`", cli.DaemonHost(), err)
	}
	return cli
}

// start runs the flinkd binary and waits until its API answers.
func (f *flinkd) start() {
	f.t.Helper()
	if f.running() {
		f.t.Fatal("flinkd is already running")
	}
	f.starts++
	lf, err := os.OpenFile(f.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	fmt.Fprintf(lf, "=== e2e: flinkd start %d ===\n", f.starts)
	cmd := exec.Command(bin.flinkd, f.cmdline()...)
	cmd.Stdout, cmd.Stderr = lf, lf
	dieWithTests(cmd)
	if err := cmd.Start(); err != nil {
		lf.Close()
		f.t.Fatalf("start flinkd: %v", err)
	}
	f.cmd, f.logFile, f.done, f.exitErr = cmd, lf, make(chan struct{}), nil
	done := f.done
	go func() {
		err := cmd.Wait()
		f.exitErr = err
		close(done)
	}()

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		v, err := f.client().Version(ctx)
		cancel()
		if err == nil {
			if f.owner != "" && v.Owner != f.owner {
				f.t.Fatalf("flinkd restarted on the same data folder with owner %q, was %q", v.Owner, f.owner)
			}
			if v.Owner == "" {
				f.t.Fatal("flinkd reports no owner identity")
			}
			f.owner = v.Owner
			return
		}
		select {
		case <-done:
			f.t.Fatalf("flinkd exited at start (%v); log:\n%s", f.exitErr, f.logTail(40))
		default:
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("flinkd API did not answer within 30s (%v); log:\n%s", err, f.logTail(40))
		}
		time.Sleep(pollInterval) // poll interval
	}
}

// cmdline is flinkd's command line (without the program).
func (f *flinkd) cmdline() []string {
	return append([]string{"--specs", f.specs, "--data", f.data, "--socket", f.socket,
		"--resync", resync, "--log-level", "debug"}, f.args...)
}

// startFails runs flinkd as start does and returns what it printed once it exited, which it
// must do, unsuccessfully, within 30s.
func (f *flinkd) startFails() string {
	f.t.Helper()
	if f.running() {
		f.t.Fatal("flinkd is already running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.flinkd, f.cmdline()...)
	dieWithTests(cmd)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		f.t.Fatalf("flinkd did not exit within 30s; output:\n%s", out)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		f.t.Fatalf("flinkd started (err %v); want a start-up error. Output:\n%s", err, out)
	}
	return string(out)
}

func (f *flinkd) running() bool {
	if f.done == nil {
		return false
	}
	select {
	case <-f.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, as a service manager would, and waits for a clean exit.
func (f *flinkd) stop() {
	f.t.Helper()
	if !f.running() {
		return
	}
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		f.t.Fatalf("SIGTERM flinkd: %v", err)
	}
	select {
	case <-f.done:
	case <-time.After(30 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.done
		f.t.Fatalf("flinkd did not exit within 30s of SIGTERM; log:\n%s", f.logTail(40))
	}
	f.logFile.Close()
	if f.exitErr != nil {
		f.t.Fatalf("flinkd exited with %v after SIGTERM; log:\n%s", f.exitErr, f.logTail(40))
	}
}

// kill sends SIGKILL: flinkd gets no chance to finish anything.
func (f *flinkd) kill() {
	f.t.Helper()
	if !f.running() {
		f.t.Fatal("flinkd is not running")
	}
	if err := f.cmd.Process.Kill(); err != nil {
		f.t.Fatalf("SIGKILL flinkd: %v", err)
	}
	<-f.done
	f.logFile.Close()
}

// teardown stops the daemon and removes everything labelled with its owner, then shows the
// end of its log when the test failed.
func (f *flinkd) teardown() {
	if f.running() {
		_ = f.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-f.done:
		case <-time.After(30 * time.Second):
			_ = f.cmd.Process.Kill()
			<-f.done
		}
		f.logFile.Close()
	}
	if f.owner != "" {
		f.sweep()
	}
	if f.t.Failed() {
		f.t.Logf("flinkd log (%s), last lines:\n%s", f.logPath, f.logTail(120))
	}
}

// sweep removes every container and network carrying this daemon's owner label, and checks
// that none is left.
func (f *flinkd) sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	flt := f.ownerFilter()
	// A removal can fail for a moment (an engine just restarted may still hold a
	// container's root filesystem mounted: "device or resource busy"): each round removes
	// what is left, and only what the last round could not remove is an error.
	const rounds = 6
	for round := 0; ; round++ {
		var failed []string
		ctrs, err := f.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: flt})
		if err != nil {
			f.t.Errorf("cleanup: list containers: %v", err)
			return
		}
		for _, c := range ctrs {
			if err := f.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
				failed = append(failed, fmt.Sprintf("remove container %v: %v", c.Names, err))
			}
		}
		nets, err := f.docker.NetworkList(ctx, network.ListOptions{Filters: flt})
		if err != nil {
			f.t.Errorf("cleanup: list networks: %v", err)
			return
		}
		for _, n := range nets {
			if err := f.docker.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
				failed = append(failed, fmt.Sprintf("remove network %s: %v", n.Name, err))
			}
		}
		if len(ctrs) == 0 && len(nets) == 0 {
			return
		}
		if round == rounds-1 {
			for _, msg := range failed {
				f.t.Errorf("cleanup: %s", msg)
			}
			f.t.Errorf("cleanup: containers or networks of owner %s keep appearing", f.owner)
			return
		}
		select { // the next round after a pause that grows: 100 ms, 200 ms, ... 500 ms
		case <-time.After(time.Duration(round+1) * 100 * time.Millisecond):
		case <-ctx.Done():
			f.t.Errorf("cleanup: %v", ctx.Err())
			return
		}
	}
}

func (f *flinkd) ownerFilter() filters.Args { return ownerFilter(f.owner) }

func ownerFilter(owner string) filters.Args {
	return filters.NewArgs(
		filters.Arg("label", runtime.LabelManagedBy+"="+runtime.ManagedByValue),
		filters.Arg("label", runtime.LabelOwner+"="+owner),
	)
}

// logTail returns the last n lines of the daemon's log.
func (f *flinkd) logTail(n int) string {
	b, err := os.ReadFile(f.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logOfStart returns what the daemon logged since its start number start began.
func (f *flinkd) logOfStart(start int) string {
	b, err := os.ReadFile(f.logPath)
	if err != nil {
		f.t.Fatal(err)
	}
	marker := fmt.Sprintf("=== e2e: flinkd start %d ===\n", start)
	_, after, found := strings.Cut(string(b), marker)
	if !found {
		f.t.Fatalf("no log of start %d", start)
	}
	return after
}

func (f *flinkd) client() *client.Client { return &client.Client{Socket: f.socket} }

// write writes a spec file the way careful editors do (a hidden temp file renamed over the
// target), so the daemon never reads half a file. It returns the file's path.
func (f *flinkd) write(file, content string) string {
	f.t.Helper()
	p := filepath.Join(f.specs, file)
	tmp := filepath.Join(f.specs, "."+file+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// cliResult is what one flinkctl run printed and how it exited.
type cliResult struct {
	Stdout, Stderr string
	Code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// flinkctl runs flinkctl against this daemon's socket.
func (f *flinkd) flinkctl(args ...string) cliResult {
	f.t.Helper()
	return runFlinkctl(f.t, append([]string{"--socket", f.socket}, args...)...)
}

// runFlinkctl runs the flinkctl binary from the module root with a 3-minute limit.
func runFlinkctl(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.flinkctl, args...)
	cmd.Dir = bin.root
	cmd.Env = append(os.Environ(), "FLINKD_SOCKET=/nonexistent/flinkd-e2e.sock")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		t.Fatalf("run flinkctl %v: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("flinkctl %v did not end within 3m:\n%s", args, res)
	}
	return res
}

// status returns the daemon's view of cluster default/name.
func (f *flinkd) status(name string) (api.ClusterStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	return f.client().Cluster(ctx, "default", name)
}

// waitCluster polls the daemon until cond holds for cluster default/name.
func (f *flinkd) waitCluster(name, what string, cond func(api.ClusterStatus) bool) api.ClusterStatus {
	f.t.Helper()
	deadline := time.Now().Add(f.patience)
	for {
		cs, err := f.status(name)
		if err == nil && cond(cs) {
			return cs
		}
		if !f.running() {
			f.t.Fatalf("%s: flinkd exited (%v) while waiting for %s", name, f.exitErr, what)
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(cs, "", "  ")
			f.t.Fatalf("%s: not %s within %s; last status (err %v):\n%s", name, what, f.patience, err, b)
		}
		time.Sleep(pollInterval) // poll interval
	}
}

// waitRunning waits for phase RUNNING with n of n TaskManagers ready.
func (f *flinkd) waitRunning(name string, n int) api.ClusterStatus {
	f.t.Helper()
	return f.waitCluster(name, fmt.Sprintf("RUNNING with %d/%d TaskManagers", n, n), func(cs api.ClusterStatus) bool {
		return cs.Phase == "RUNNING" && cs.TaskManagers.Ready == n && cs.TaskManagers.Desired == n && cs.RESTURL != ""
	})
}

func (f *flinkd) waitPhase(name string, phase spec.Phase) api.ClusterStatus {
	f.t.Helper()
	return f.waitCluster(name, "in phase "+string(phase), func(cs api.ClusterStatus) bool { return cs.Phase == phase })
}

func (f *flinkd) events(name string) []api.Event {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	evs, err := f.client().Events(ctx, "default", name, 0)
	if err != nil {
		f.t.Fatalf("events of %s: %v", name, err)
	}
	return evs
}

func findEvent(evs []api.Event, reason, contains string) (api.Event, bool) {
	for _, e := range evs {
		if e.Reason == reason && strings.Contains(e.Message, contains) {
			return e, true
		}
	}
	return api.Event{}, false
}

// waitEvent waits for an event with reason whose message contains contains.
func (f *flinkd) waitEvent(name, reason, contains string) api.Event {
	f.t.Helper()
	deadline := time.Now().Add(f.patience)
	for {
		evs := f.events(name)
		if e, ok := findEvent(evs, reason, contains); ok {
			return e
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%s: no %s event containing %q within %s; events:\n%s", name, reason, contains, f.patience, formatEvents(evs))
		}
		time.Sleep(pollInterval) // poll interval
	}
}

func formatEvents(evs []api.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s %s %s: %s\n", e.Time.Format(time.RFC3339), e.Type, e.Reason, e.Message)
	}
	return b.String()
}

// containers lists every container of this daemon (any state).
func (f *flinkd) containers() []container.Summary {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	ctrs, err := f.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: f.ownerFilter()})
	if err != nil {
		f.t.Fatalf("list containers: %v", err)
	}
	return ctrs
}

// networks lists every network of this daemon.
func (f *flinkd) networks() []network.Summary {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	nets, err := f.docker.NetworkList(ctx, network.ListOptions{Filters: f.ownerFilter()})
	if err != nil {
		f.t.Fatalf("list networks: %v", err)
	}
	return nets
}

// clusterContainers returns cluster default/name's containers by instance ID
// ("jobmanager", "taskmanager-3"); two containers with one instance ID fail the test.
func (f *flinkd) clusterContainers(name string) map[string]container.Summary {
	f.t.Helper()
	out := map[string]container.Summary{}
	for _, c := range f.containers() {
		if c.Labels[runtime.LabelInstance] != name || c.Labels[runtime.LabelNamespace] != "default" {
			continue
		}
		id := c.Labels[runtime.LabelInstanceID]
		if prev, dup := out[id]; dup {
			f.t.Fatalf("%s: two containers for %s: %v and %v", name, id, prev.Names, c.Names)
		}
		out[id] = c
	}
	return out
}

// containerIDs maps instance IDs to container IDs.
func containerIDs(ctrs map[string]container.Summary) map[string]string {
	out := make(map[string]string, len(ctrs))
	for id, c := range ctrs {
		out[id] = c.ID
	}
	return out
}

// instanceIDs returns "jobmanager" and "taskmanager-1".."taskmanager-n" for the given
// TaskManager numbers.
func instanceIDs(tms ...int) []string {
	out := []string{"jobmanager"}
	for _, n := range tms {
		out = append(out, fmt.Sprintf("taskmanager-%d", n))
	}
	slices.Sort(out)
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// containerName is the Docker name of one instance of cluster default/name.
func containerName(name, instance string) string {
	return "flinkd_default_" + name + "_" + instance
}

// inspect returns the engine's full view of a container.
func (f *flinkd) inspect(id string) container.InspectResponse {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	ins, err := f.docker.ContainerInspect(ctx, id)
	if err != nil {
		f.t.Fatalf("inspect container %s: %v", id, err)
	}
	return ins
}

// containerLogs returns a container's stdout and stderr as the engine kept them.
func (f *flinkd) containerLogs(id string) string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	rc, err := f.docker.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		f.t.Fatalf("logs of container %s: %v", id, err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		f.t.Fatalf("read logs of container %s: %v", id, err)
	}
	return out.String()
}

// uniqueName returns a cluster name with a random suffix: container names are global to the
// engine, which other tests and a developer's flinkd share.
func uniqueName(prefix string) string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

// clusterYAML renders a small SessionCluster on the stand-in image: one slot per
// TaskManager (slots are then taken in TaskManager ID order) and fast heartbeats. extra is
// appended inside spec (indent it by two spaces).
func clusterYAML(name, state string, tms int, extra string) string {
	return fmt.Sprintf(`# e2e test cluster %[1]s
kind: SessionCluster
apiVersion: v1
metadata:
  name: %[1]s
spec:
  state: %[2]s   # desired state
  flinkVersion: "1.20"
  flinkImageRegistry: localhost
  flinkImageRepository: flink-sim
  flinkImageTag: "1.20"
  numberOfTaskManagers: %[3]d
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: 1
    heartbeat.interval: 200
    heartbeat.timeout: 2000
%[4]s`, name, state, tms, extra)
}

// replaceOnce replaces old by new in s and fails the test unless old occurs exactly once.
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%q occurs %d times, want once in:\n%s", old, n, s)
	}
	return strings.Replace(s, old, new, 1)
}

// linesWith returns the lines of text that contain every one of parts.
func linesWith(text string, parts ...string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}
