package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	dockerclient "github.com/docker/docker/client"

	"golang.org/x/sync/errgroup"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/client"
	"github.com/flinkd/flinkd/internal/flink"
	"github.com/flinkd/flinkd/internal/runtime"
)

// waitTimeout bounds every wait for a cluster condition (the machine is small and shared).
const waitTimeout = 120 * time.Second

// daemon is one flinkd process on temp folders, with the local engine as its default target.
type daemon struct {
	tb     testing.TB
	specs  string
	data   string
	sock   string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
	api    *client.Client
	owner  string
	docker *dockerclient.Client
}

// startDaemon starts flinkd and waits until its API answers. Cleanup stops it, removes
// everything labelled with its owner identity, and prints its log's tail if tb failed.
func startDaemon(tb testing.TB, docker *dockerclient.Client) *daemon {
	tb.Helper()
	return startDaemonWith(tb, docker, flinkdBin, nil)
}

// startDaemonWith starts binary bin (a flinkd build) with extra environment variables and
// extra flags.
func startDaemonWith(tb testing.TB, docker *dockerclient.Client, bin string, env []string, args ...string) *daemon {
	tb.Helper()
	base := tb.TempDir()
	// A unix socket path is limited to 108 bytes: keep it short.
	sockDir, err := os.MkdirTemp("", "fb")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(sockDir) })
	d := &daemon{
		tb:     tb,
		specs:  filepath.Join(base, "specs"),
		data:   filepath.Join(base, "data"),
		sock:   filepath.Join(sockDir, "flinkd.sock"),
		log:    filepath.Join(base, "flinkd.log"),
		docker: docker,
		api:    &client.Client{Socket: filepath.Join(sockDir, "flinkd.sock")},
	}
	if err := os.MkdirAll(d.specs, 0o755); err != nil {
		tb.Fatal(err)
	}
	d.launch(bin, env, args...)
	tb.Cleanup(d.stop)
	return d
}

// launch starts the daemon process on d's folders (its log is appended to) and waits until
// its API answers.
func (d *daemon) launch(bin string, env []string, args ...string) {
	tb := d.tb
	tb.Helper()
	logFile, err := os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	d.exited = make(chan struct{})
	d.cmd = exec.Command(bin, append([]string{"--specs", d.specs, "--data", d.data, "--socket", d.sock}, args...)...)
	d.cmd.Env = append(os.Environ(), env...)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	if err := d.cmd.Start(); err != nil {
		logFile.Close()
		tb.Fatalf("start flinkd: %v", err)
	}
	exited := d.exited
	go func() {
		_ = d.cmd.Wait()
		logFile.Close()
		close(exited)
	}()

	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		v, err := d.api.Version(ctx)
		cancel()
		if err == nil {
			d.owner = v.Owner
			break
		}
		select {
		case <-exited:
			tb.Fatalf("flinkd exited at start:\n%s", d.logTail(40))
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("flinkd's API did not answer within 30s (%v):\n%s", err, d.logTail(40))
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	if d.owner == "" {
		tb.Fatal("flinkd reported no owner identity; cleanup by owner label would be impossible")
	}
}

// terminate sends SIGTERM and waits for the process to end (SIGKILL after 30 s); the
// clusters keep running.
func (d *daemon) terminate() {
	select {
	case <-d.exited:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// Pid is the daemon's process ID.
func (d *daemon) Pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM (SIGKILL after 30 s), then removes whatever carries the daemon's owner
// label: clusters keep running when flinkd stops.
func (d *daemon) stop() {
	d.terminate()
	if d.tb.Failed() {
		d.tb.Logf("flinkd log (last lines of %s):\n%s", d.log, d.logTail(60))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := removeOwned(ctx, d.docker, d.owner); err != nil {
		d.tb.Errorf("clean up flinkd's containers: %v", err)
	}
}

// removeOwned force-removes the containers and networks labelled with flinkd owner owner,
// 8 at a time (the idle benchmark leaves 200 containers and 100 networks).
func removeOwned(ctx context.Context, cli *dockerclient.Client, owner string) error {
	if owner == "" {
		return nil
	}
	f := filters.NewArgs(filters.Arg("label", runtime.LabelOwner+"="+owner))
	ctrs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var errs []error
	g := new(errgroup.Group)
	g.SetLimit(8)
	for _, c := range ctrs {
		g.Go(func() error {
			if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	nets, err := cli.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, n := range nets {
		g.Go(func() error {
			if err := cli.NetworkRemove(ctx, n.ID); err != nil && !cerrdefs.IsNotFound(err) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(errs...)
}

func (d *daemon) logTail(n int) string {
	b, err := os.ReadFile(d.log)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// write writes name's spec file (the way a user saves it: one write).
func (d *daemon) write(name, content string) {
	d.tb.Helper()
	if err := os.WriteFile(filepath.Join(d.specs, name+".yaml"), []byte(content), 0o644); err != nil {
		d.tb.Fatal(err)
	}
}

// wait blocks on the API's long poll until cond holds for cluster name (found says whether
// the daemon lists it) and returns when it saw it.
func (d *daemon) wait(name, what string, cond func(st api.ClusterStatus, found bool) bool) (api.ClusterStatus, time.Time) {
	d.tb.Helper()
	var st api.ClusterStatus
	seen := d.waitList(name+": "+what, func(list []api.ClusterStatus) (bool, string) {
		s, found := find(list, name)
		st = s
		return cond(s, found), fmt.Sprintf("phase=%s tm=%d/%d message=%q", s.Phase, s.TaskManagers.Ready, s.TaskManagers.Desired, s.Message)
	})
	return st, seen
}

// waitList blocks on the API's long poll until cond holds for the whole cluster list and
// returns when it saw it; cond also describes the list for the failure message.
func (d *daemon) waitList(what string, cond func([]api.ClusterStatus) (bool, string)) time.Time {
	d.tb.Helper()
	return d.waitListWithin(what, waitTimeout, cond)
}

// waitListWithin is waitList with another bound.
func (d *daemon) waitListWithin(what string, timeout time.Duration, cond func([]api.ClusterStatus) (bool, string)) time.Time {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	list, v, err := d.api.Clusters(ctx)
	last := ""
	for err == nil {
		ok, desc := cond(list)
		if ok {
			return time.Now()
		}
		last = desc
		list, v, err = d.api.WatchClusters(ctx, v)
	}
	select {
	case <-d.exited:
		d.tb.Fatalf("%s: flinkd exited while waiting", what)
	default:
	}
	d.tb.Fatalf("%s: not within %s (%v); last: %s", what, timeout, err, last)
	return time.Time{}
}

func find(list []api.ClusterStatus, name string) (api.ClusterStatus, bool) {
	for _, st := range list {
		if st.Name == name {
			return st, true
		}
	}
	return api.ClusterStatus{}, false
}

// waitRunning waits until name is RUNNING with n of n TaskManagers ready.
func (d *daemon) waitRunning(name string, n int) (api.ClusterStatus, time.Time) {
	d.tb.Helper()
	return d.wait(name, fmt.Sprintf("RUNNING with %d TaskManagers", n), func(st api.ClusterStatus, found bool) bool {
		return found && st.Phase == "RUNNING" && st.TaskManagers.Desired == n && st.TaskManagers.Ready == n
	})
}

// remove deletes name's file and waits until the daemon has torn the cluster down and
// forgotten it, then checks that nothing of it is left on the engine.
func (d *daemon) remove(name string) {
	d.tb.Helper()
	if err := os.Remove(filepath.Join(d.specs, name+".yaml")); err != nil {
		d.tb.Fatal(err)
	}
	d.wait(name, "removal", func(_ api.ClusterStatus, found bool) bool { return !found })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := filters.NewArgs(filters.Arg("label", runtime.LabelOwner+"="+d.owner),
		filters.Arg("label", runtime.LabelInstance+"="+name))
	ctrs, err := d.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		d.tb.Fatal(err)
	}
	if len(ctrs) > 0 {
		d.tb.Fatalf("%s: flinkd forgot the cluster but %d of its containers are left", name, len(ctrs))
	}
}

// events returns the cluster's event log.
func (d *daemon) events(name string) []api.Event {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs, err := d.api.Events(ctx, "default", name, 0)
	if err != nil {
		d.tb.Fatalf("events of %s: %v", name, err)
	}
	return evs
}

// procStatus reads a field of /proc/PID/status in kB ("VmRSS", "VmHWM").
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// procCPUTicks returns utime+stime of a process from /proc/PID/stat, in clock ticks.
func procCPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return ut + st, nil
}

// clockTicks is USER_HZ (getconf CLK_TCK; 100 on Linux when getconf is missing).
func clockTicks() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
}

// loadAvg returns the 1-minute load average.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// copyOut reads one file out of a container (the tar stream's only entry), with its header.
func copyOut(ctx context.Context, cli *dockerclient.Client, id, path string) (content string, uid, gid int, err error) {
	rc, _, err := cli.CopyFromContainer(ctx, id, path)
	if err != nil {
		return "", 0, 0, err
	}
	defer rc.Close()
	return readSingleTar(rc)
}

// statusWatch is one `flinkctl status --watch -o json` process on a daemon: what a user who
// watches sees, and when (each JSON document is stamped as it is read from the process).
type statusWatch struct {
	tb      testing.TB
	cmd     *exec.Cmd
	mu      sync.Mutex
	snaps   []statusSnap
	changed chan struct{} // closed and replaced at each snapshot
	exited  chan struct{}
	err     error
}

type statusSnap struct {
	at   time.Time
	list []api.ClusterStatus
}

// watchStatus starts `flinkctl status --watch -o json` on d; cleanup ends it.
func (d *daemon) watchStatus() *statusWatch {
	d.tb.Helper()
	w := &statusWatch{tb: d.tb, changed: make(chan struct{}), exited: make(chan struct{})}
	w.cmd = exec.Command(flinkctlBin, "--socket", d.sock, "status", "--watch", "-o", "json")
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		d.tb.Fatal(err)
	}
	var stderr bytes.Buffer
	w.cmd.Stderr = &stderr
	if err := w.cmd.Start(); err != nil {
		d.tb.Fatalf("start flinkctl status --watch: %v", err)
	}
	go func() {
		defer close(w.exited)
		dec := json.NewDecoder(out)
		for {
			var list []api.ClusterStatus
			err := dec.Decode(&list)
			at := time.Now()
			w.mu.Lock()
			if err != nil {
				w.err = fmt.Errorf("flinkctl status --watch: %w (stderr: %s)", err, bytes.TrimSpace(stderr.Bytes()))
				close(w.changed)
				w.mu.Unlock()
				_ = w.cmd.Wait()
				return
			}
			w.snaps = append(w.snaps, statusSnap{at: at, list: list})
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
		}
	}()
	d.tb.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.exited
	})
	return w
}

// mark is where the next wait starts reading snapshots.
func (w *statusWatch) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.snaps)
}

// waitFor returns when the first snapshot from index from on for which cond holds was
// printed; cond also describes a snapshot for the failure message.
func (w *statusWatch) waitFor(from int, what string, cond func([]api.ClusterStatus) (bool, string)) time.Time {
	w.tb.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	last := "no snapshot"
	for i := from; ; {
		w.mu.Lock()
		snaps, changed, err := w.snaps[i:], w.changed, w.err
		w.mu.Unlock()
		for _, s := range snaps {
			ok, desc := cond(s.list)
			if ok {
				return s.at
			}
			last = desc
			i++
		}
		if err != nil {
			w.tb.Fatalf("%s: %v; last: %s", what, err, last)
		}
		select {
		case <-changed:
		case <-timeout.C:
			w.tb.Fatalf("%s: not within %s; last: %s", what, waitTimeout, last)
		}
	}
}

// runningIn is the condition "cluster name is RUNNING with n of n TaskManagers ready".
func runningIn(name string, n int) func([]api.ClusterStatus) (bool, string) {
	return func(list []api.ClusterStatus) (bool, string) {
		st, found := find(list, name)
		return found && st.Phase == "RUNNING" && st.TaskManagers.Desired == n && st.TaskManagers.Ready == n,
			fmt.Sprintf("phase=%s tm=%d/%d message=%q", st.Phase, st.TaskManagers.Ready, st.TaskManagers.Desired, st.Message)
	}
}

// firstReported polls the JobManager of cluster name every 10 ms, from when the watch first
// shows its REST URL, and sends the time /overview first reported n TaskManagers with their
// slots, the condition of RUNNING (the zero time if ctx ends first).
func firstReported(ctx context.Context, w *statusWatch, from int, name string, n int) <-chan time.Time {
	out := make(chan time.Time, 1)
	go func() {
		defer close(out)
		var url string
		for url == "" {
			w.mu.Lock()
			snaps, changed := w.snaps[from:], w.changed
			w.mu.Unlock()
			for _, s := range snaps {
				if st, ok := find(s.list, name); ok && st.RESTURL != "" {
					url = st.RESTURL
				}
				from++
			}
			if url != "" {
				break
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
		fc := &flink.Client{BaseURL: url, HTTP: &http.Client{Timeout: 2 * time.Second}}
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if ov, err := fc.Overview(ctx); err == nil && ov.TaskManagers == n && ov.SlotsTotal >= n {
				out <- time.Now()
				return
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
