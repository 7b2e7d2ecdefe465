// Package fake is the in-memory runtime: the one fake of flinkd's tests. Its JobManagers and
// TaskManagers are the Flink stand-in's in-process processes (test/flinksim/sim), so the
// daemon talks to a real REST API and TaskManagers really register, heartbeat and hold slots.
// It passes the same conformance suite (runtime/runtimetest) as the Docker and Kubernetes
// runtimes, and adds fault injection: a hook before every step, kills, crash loops, missing
// images and foreign names.
package fake

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flinkd/flinkd/internal/runtime"
	"github.com/flinkd/flinkd/test/flinksim/sim"
)

// Call is one recorded call of the runtime.
type Call struct {
	Op   string // apply | observe | delete | list
	Key  runtime.Key
	Time time.Time
}

// Runtime is an in-memory runtime.Runtime, runtime.LogSource and runtime.ChangeSource.
type Runtime struct {
	// Hook, when set, runs before every step that changes something ("apply",
	// "create jobmanager", "create taskmanager-2", "remove taskmanager-2", "delete"); an error
	// it returns aborts the call at that step, as a crash or an engine error would.
	Hook func(ctx context.Context, step string, k runtime.Key) error
	// OnCall, when set, is called at the start of every call.
	OnCall func(Call)

	mu       sync.Mutex
	clusters map[runtime.Key]*cluster
	missing  map[string]bool // images that are not available
	foreign  map[runtime.Key]bool
	pingErr  error
	calls    []Call
	subs     []chan runtime.Key
}

type cluster struct {
	hash string
	jm   *instance
	tms  map[string]*instance
	rest runtime.Endpoint
	logs *syncBuffer
}

type instance struct {
	runtime.Instance
	jm *sim.JobManager
	tm *sim.TaskManager
	// crashing instances die again at every start (see CrashLoop).
	crashing bool
}

// New returns an empty runtime.
func New() *Runtime {
	return &Runtime{clusters: map[runtime.Key]*cluster{}, missing: map[string]bool{}, foreign: map[runtime.Key]bool{}}
}

var (
	_ runtime.Runtime      = (*Runtime)(nil)
	_ runtime.LogSource    = (*Runtime)(nil)
	_ runtime.ChangeSource = (*Runtime)(nil)
)

func (r *Runtime) record(op string, k runtime.Key) {
	c := Call{Op: op, Key: k, Time: time.Now()}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	hook := r.OnCall
	r.mu.Unlock()
	if hook != nil {
		hook(c)
	}
}

// Calls returns the recorded calls.
func (r *Runtime) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// SetImageMissing makes an image unavailable (or available again).
func (r *Runtime) SetImageMissing(image string, missing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.missing[image] = missing
}

// SetForeign marks k's names as taken by something that is not flinkd's.
func (r *Runtime) SetForeign(k runtime.Key, foreign bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.foreign[k] = foreign
}

// SetPingError makes Ping fail (an unreachable target).
func (r *Runtime) SetPingError(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pingErr = err
}

func (r *Runtime) step(ctx context.Context, step string, k runtime.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.Hook != nil {
		if err := r.Hook(ctx, step, k); err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
	}
	return nil
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Apply converges k's processes toward c.
func (r *Runtime) Apply(ctx context.Context, c runtime.Cluster, progress runtime.Progress) error {
	r.record("apply", c.Key)
	if progress == nil {
		progress = func(string, string) {}
	}
	if err := r.step(ctx, "apply", c.Key); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.foreign[c.Key] {
		return fmt.Errorf("jobmanager of %s: name taken by a process flinkd did not create: %w", c.Key, runtime.ErrNotOwned)
	}
	if r.missing[c.Image] {
		return fmt.Errorf("image %q: not present and pull access denied: %w", c.Image, runtime.ErrImageUnavailable)
	}
	cl := r.clusters[c.Key]
	if cl != nil && cl.hash != c.Hash {
		progress("Recreating", fmt.Sprintf("spec hash changed from %s to %s: replacing every process", runtime.ShortHash(cl.hash), runtime.ShortHash(c.Hash)))
		r.stopLocked(cl)
		delete(r.clusters, c.Key)
		cl = nil
	}
	if cl == nil {
		cl = &cluster{hash: c.Hash, tms: map[string]*instance{}, logs: &syncBuffer{}}
		r.clusters[c.Key] = cl
	}
	conf := maps.Clone(c.FlinkConfig)
	if conf == nil {
		conf = map[string]string{}
	}
	conf["jobmanager.rpc.address"] = "127.0.0.1"
	levels, err := sim.ParseLog4j([]byte(c.Log4jProperties))
	if err != nil {
		return fmt.Errorf("log4j properties of %s: %w", c.Key, err)
	}

	restarts, replaceJM := c.Replace["jobmanager"]
	switch {
	case cl.jm != nil && cl.jm.State == runtime.StateExited && !replaceJM:
		// Dead, and the daemon is backing off: left as it is.
	case cl.jm != nil && cl.jm.State == runtime.StateExited && cl.jm.crashing:
		if err := r.step(ctx, "restart jobmanager", c.Key); err != nil {
			return err
		}
		cl.jm.Restarts, cl.jm.StartedAt, cl.jm.FinishedAt = restarts, time.Now(), time.Now()
		progress("Restarted", fmt.Sprintf("restarted jobmanager; it died again at once (exit code %d)", cl.jm.ExitCode))
	case cl.jm == nil || cl.jm.State == runtime.StateExited:
		if err := r.step(ctx, "create jobmanager", c.Key); err != nil {
			return err
		}
		if cl.jm != nil && cl.jm.jm != nil {
			cl.jm.jm.Close()
		}
		jm, err := sim.StartJobManager(context.Background(), sim.JobManagerConfig{
			Config: conf, RPCAddr: "127.0.0.1:0", RESTAddr: "127.0.0.1:0", Log: cl.logs, Levels: levels, Version: c.FlinkVersion,
		})
		if err != nil {
			return fmt.Errorf("start jobmanager of %s: %w", c.Key, err)
		}
		if !replaceJM {
			restarts = 0
		}
		cl.jm = &instance{Instance: runtime.Instance{ID: "jobmanager", RuntimeID: newID(), Hash: c.Hash,
			State: runtime.StateRunning, Ready: true, StartedAt: time.Now(), Restarts: restarts}, jm: jm}
		cl.rest = runtime.Endpoint{URL: jm.RESTURL(), Display: jm.RESTURL()}
		progress("Created", "created jobmanager")
	}

	// Remove TaskManagers beyond the wanted count (runtime.ScaleDownVictims).
	for _, id := range runtime.ScaleDownVictims(sortedIDs(cl.tms), c.RemoveFirst, c.TaskManagers) {
		if err := r.step(ctx, "remove "+id, c.Key); err != nil {
			return err
		}
		if tm := cl.tms[id].tm; tm != nil {
			tm.Close()
		}
		delete(cl.tms, id)
		progress("Removed", "removed "+id)
	}
	// Restart the dead TaskManagers the daemon lists, then create missing ones at the lowest
	// free index (from 1, as the Docker runtime numbers them).
	for _, id := range sortedIDs(cl.tms) {
		inst := cl.tms[id]
		n, due := c.Replace[id]
		if inst.State != runtime.StateExited || !due {
			continue
		}
		if err := r.step(ctx, "restart "+id, c.Key); err != nil {
			return err
		}
		inst.Restarts = n
		if inst.crashing {
			inst.StartedAt, inst.FinishedAt = time.Now(), time.Now()
			progress("Restarted", fmt.Sprintf("restarted %s; it died again at once (exit code %d)", id, inst.ExitCode))
			continue
		}
		if err := r.startTM(cl, inst, conf, levels, c); err != nil {
			return err
		}
		progress("Restarted", fmt.Sprintf("restarted %s (it had exited with code %d)", id, inst.ExitCode))
	}
	for idx := 1; len(cl.tms) < c.TaskManagers; idx++ {
		id := "taskmanager-" + strconv.Itoa(idx)
		if cl.tms[id] != nil {
			continue
		}
		if err := r.step(ctx, "create "+id, c.Key); err != nil {
			return err
		}
		inst := &instance{Instance: runtime.Instance{ID: id, RuntimeID: newID(), Hash: c.Hash}}
		if err := r.startTM(cl, inst, conf, levels, c); err != nil {
			return err
		}
		cl.tms[id] = inst
		progress("Created", "created "+id)
	}
	return nil
}

func (r *Runtime) startTM(cl *cluster, inst *instance, conf map[string]string, levels *sim.Levels, c runtime.Cluster) error {
	tm, err := sim.StartTaskManager(context.Background(), sim.TaskManagerConfig{
		JobManagerRPC: cl.jm.jm.RPCAddr(), ResourceID: inst.ID, Config: conf, Log: cl.logs, Levels: levels, Version: c.FlinkVersion,
	})
	if err != nil {
		return fmt.Errorf("start %s of %s: %w", inst.ID, c.Key, err)
	}
	inst.tm = tm
	inst.State, inst.Ready, inst.ExitCode, inst.StartedAt, inst.FinishedAt, inst.Message = runtime.StateRunning, true, 0, time.Now(), time.Time{}, ""
	return nil
}

// sortedIDs orders TaskManager IDs as every runtime does (runtime.CompareInstanceIDs).
func sortedIDs(tms map[string]*instance) []string {
	ids := slices.Collect(maps.Keys(tms))
	slices.SortFunc(ids, runtime.CompareInstanceIDs)
	return ids
}

// Observe reports k's processes.
func (r *Runtime) Observe(_ context.Context, k runtime.Key) (runtime.Observed, error) {
	r.record("observe", k)
	r.mu.Lock()
	defer r.mu.Unlock()
	cl := r.clusters[k]
	if cl == nil {
		return runtime.Observed{}, nil
	}
	obs := runtime.Observed{Exists: true}
	if cl.jm != nil {
		jm := cl.jm.Instance
		obs.JobManager = &jm
		obs.Hash = jm.Hash
		if jm.State == runtime.StateRunning {
			obs.REST = cl.rest
		}
	}
	for _, id := range sortedIDs(cl.tms) {
		obs.TaskManagers = append(obs.TaskManagers, cl.tms[id].Instance)
	}
	return obs, nil
}

// Delete stops and forgets k's processes.
func (r *Runtime) Delete(ctx context.Context, k runtime.Key) error {
	r.record("delete", k)
	if err := r.step(ctx, "delete", k); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cl := r.clusters[k]; cl != nil {
		r.stopLocked(cl)
		delete(r.clusters, k)
	}
	return nil
}

func (r *Runtime) stopLocked(cl *cluster) {
	for _, inst := range cl.tms {
		if inst.tm != nil {
			inst.tm.Close()
		}
	}
	if cl.jm != nil && cl.jm.jm != nil {
		cl.jm.jm.Close()
	}
}

// List returns every key with processes.
func (r *Runtime) List(context.Context) ([]runtime.Key, error) {
	r.record("list", runtime.Key{})
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := slices.Collect(maps.Keys(r.clusters))
	slices.SortFunc(keys, func(a, b runtime.Key) int { return strings.Compare(a.String(), b.String()) })
	return keys, nil
}

// Ping fails when SetPingError says so.
func (r *Runtime) Ping(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pingErr
}

// Close stops every process (end of a test).
func (r *Runtime) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, cl := range r.clusters {
		r.stopLocked(cl)
		delete(r.clusters, k)
	}
}

// Kill kills an instance abruptly, as `docker kill` would: a TaskManager stops heartbeating
// without deregistering; the instance shows Exited (137) until an Apply restarts it.
func (r *Runtime) Kill(k runtime.Key, id string) error {
	r.mu.Lock()
	cl := r.clusters[k]
	if cl == nil {
		r.mu.Unlock()
		return fmt.Errorf("kill %s of %s: %w", id, k, runtime.ErrNoInstance)
	}
	inst := cl.tms[id]
	if id == "jobmanager" {
		inst = cl.jm
	}
	if inst == nil {
		r.mu.Unlock()
		return fmt.Errorf("kill %s of %s: %w", id, k, runtime.ErrNoInstance)
	}
	if inst.tm != nil {
		inst.tm.Kill()
	}
	if inst.jm != nil {
		inst.jm.Close()
	}
	inst.State, inst.Ready, inst.ExitCode, inst.FinishedAt = runtime.StateExited, false, 137, time.Now()
	r.mu.Unlock()
	r.notify(k)
	return nil
}

// Pause freezes an instance, as `docker pause` would: its process is there but does not
// answer (state Unknown; a paused JobManager's REST API is not reachable) until Unpause.
func (r *Runtime) Pause(k runtime.Key, id string) error { return r.setPaused(k, id, true) }

// Unpause undoes Pause.
func (r *Runtime) Unpause(k runtime.Key, id string) error { return r.setPaused(k, id, false) }

func (r *Runtime) setPaused(k runtime.Key, id string, paused bool) error {
	r.mu.Lock()
	cl := r.clusters[k]
	var inst *instance
	if cl != nil {
		inst = cl.tms[id]
		if id == "jobmanager" {
			inst = cl.jm
		}
	}
	if inst == nil {
		r.mu.Unlock()
		return fmt.Errorf("pause %s of %s: %w", id, k, runtime.ErrNoInstance)
	}
	if paused {
		inst.State, inst.Ready, inst.Message = runtime.StateUnknown, false, "container is paused"
	} else {
		inst.State, inst.Ready, inst.Message = runtime.StateRunning, true, ""
	}
	r.mu.Unlock()
	r.notify(k)
	return nil
}

// CrashLoop makes an instance's process die at every start, as a bad configuration would: it
// shows Exited, not ready, with restarts piling up and its last log lines.
func (r *Runtime) CrashLoop(k runtime.Key, id string, restarts int, lastLines string) error {
	if err := r.Kill(k, id); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	inst := r.clusters[k].tms[id]
	if id == "jobmanager" {
		inst = r.clusters[k].jm
	}
	inst.ExitCode, inst.Restarts, inst.Message, inst.crashing = 1, restarts, lastLines, true
	return nil
}

// Heal makes a crash-looping instance start normally again at its next restart (the problem
// was fixed).
func (r *Runtime) Heal(k runtime.Key, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cl := r.clusters[k]
	if cl == nil {
		return
	}
	if id == "jobmanager" && cl.jm != nil {
		cl.jm.crashing = false
	} else if tm := cl.tms[id]; tm != nil {
		tm.crashing = false
	}
}

// Logs returns the cluster's Log4j output (all its processes share one buffer).
func (r *Runtime) Logs(_ context.Context, k runtime.Key, instance string, _ runtime.LogOptions) (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cl := r.clusters[k]
	if cl == nil {
		return nil, fmt.Errorf("logs of %s: %w", k, runtime.ErrNoInstance)
	}
	if instance != "jobmanager" && cl.tms[instance] == nil {
		return nil, fmt.Errorf("logs of %s of %s: %w", instance, k, runtime.ErrNoInstance)
	}
	return io.NopCloser(bytes.NewReader(cl.logs.Bytes())), nil
}

// Changes sends the keys of clusters changed by Kill and CrashLoop.
func (r *Runtime) Changes(ctx context.Context) (<-chan runtime.Key, error) {
	ch := make(chan runtime.Key, 16)
	r.mu.Lock()
	r.subs = append(r.subs, ch)
	r.mu.Unlock()
	go func() {
		<-ctx.Done()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.subs = slices.DeleteFunc(r.subs, func(c chan runtime.Key) bool { return c == ch })
		close(ch)
	}()
	return ch, nil
}

func (r *Runtime) notify(k runtime.Key) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ch := range r.subs {
		select {
		case ch <- k:
		default:
		}
	}
}

// ErrInjected is a convenient error for hooks.
var ErrInjected = errors.New("injected failure")

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}
