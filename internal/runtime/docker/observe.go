package docker

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/flinkd/flinkd/internal/runtime"
)

// observedState is everything labelled for one cluster, as the planner sees it.
type observedState struct {
	Networks   []observedNetwork
	Containers []observedContainer
	// labels are those of the first resource found (its network, else a container): whose
	// cluster it is (see runtime.Ownership.Keep).
	labels map[string]string
}

// ownerLabels returns the labels that say who owns the cluster (nil when nothing exists).
func (o observedState) ownerLabels() map[string]string { return o.labels }

type observedNetwork struct {
	ID   string
	Name string
	Hash string
}

type observedContainer struct {
	ID         string
	Name       string
	InstanceID string
	Component  string
	Hash       string
	// State is the engine's state: created, running, paused, restarting, removing, exited, dead.
	State string
	// Restarts is how often flinkd replaced this instance (from its labels).
	Restarts int
	Ports    []container.Port
	// TLS says the container belongs to a secure cluster (https REST).
	TLS bool
	// NetworkID is the network the container is attached to, when the engine says.
	NetworkID string

	// Set when the container was inspected.
	Inspected     bool
	ExitCode      int
	OOMKilled     bool
	EngineRestart int // restarts done by the engine itself (none under flinkd's policy)
	StartedAt     time.Time
	FinishedAt    time.Time
	Error         string
}

// exitText describes how a dead container ended.
func (c observedContainer) exitText() string {
	if !c.Inspected {
		return c.State
	}
	s := fmt.Sprintf("exited with code %d", c.ExitCode)
	if c.OOMKilled {
		s += " (OOM killed)"
	}
	if c.Error != "" {
		s += ": " + c.Error
	}
	return s
}

// collect lists cluster k's labelled networks and containers, and inspects the containers
// for which inspect says so.
func (r *Runtime) collect(ctx context.Context, k runtime.Key, inspect func(observedContainer) bool) (observedState, error) {
	byKey, err := r.collectWith(ctx, keyFilter(r.own, k), inspect)
	return byKey[k], err
}

// collectWith lists the labelled networks and containers that filter selects, by cluster,
// and inspects the containers for which inspect says so.
func (r *Runtime) collectWith(ctx context.Context, filter filters.Args, inspect func(observedContainer) bool) (map[runtime.Key]observedState, error) {
	out := map[runtime.Key]observedState{}

	cctx, cancel := r.callCtx(ctx)
	nets, err := r.cli.NetworkList(cctx, network.ListOptions{Filters: filter})
	cancel()
	if err != nil {
		return out, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		key, ok := r.own.KeyOf(n.Labels)
		if !ok {
			continue
		}
		o := out[key]
		o.Networks = append(o.Networks, observedNetwork{ID: n.ID, Name: n.Name, Hash: hashOf(n.Labels)})
		if o.labels == nil {
			o.labels = n.Labels
		}
		out[key] = o
	}

	cctx, cancel = r.callCtx(ctx)
	ctrs, err := r.cli.ContainerList(cctx, container.ListOptions{All: true, Filters: filter})
	cancel()
	if err != nil {
		return out, fmt.Errorf("list containers: %w", err)
	}
	for _, s := range ctrs {
		key, ok := r.own.KeyOf(s.Labels)
		if !ok {
			continue
		}
		c := observedContainer{
			ID:         s.ID,
			Name:       summaryName(s.Names),
			InstanceID: s.Labels[runtime.LabelInstanceID],
			Component:  s.Labels[runtime.LabelComponent],
			Hash:       hashOf(s.Labels),
			State:      s.State,
			Restarts:   restartsOf(s.Labels),
			Ports:      s.Ports,
			TLS:        s.Labels[labelTLS] == "true",
		}
		if s.NetworkSettings != nil {
			for _, ep := range s.NetworkSettings.Networks {
				if ep != nil && ep.NetworkID != "" {
					c.NetworkID = ep.NetworkID
				}
			}
		}
		if inspect(c) {
			cctx, cancel := r.callCtx(ctx)
			ins, err := r.cli.ContainerInspect(cctx, s.ID)
			cancel()
			switch {
			case cerrdefs.IsNotFound(err):
				continue // removed since the list
			case err != nil:
				return out, fmt.Errorf("inspect container %s: %w", c.Name, err)
			}
			c.Inspected = true
			c.EngineRestart = ins.RestartCount
			if st := ins.State; st != nil {
				c.State = st.Status
				c.ExitCode = st.ExitCode
				c.OOMKilled = st.OOMKilled
				c.Error = st.Error
				c.StartedAt = engineTime(st.StartedAt)
				c.FinishedAt = engineTime(st.FinishedAt)
			}
			if c.State == container.StateRunning && !c.StartedAt.IsZero() {
				r.rememberStart(c.ID, c.StartedAt)
			}
		}
		o := out[key]
		if o.labels == nil {
			o.labels = s.Labels
		}
		o.Containers = append(o.Containers, c)
		out[key] = o
	}
	return out, nil
}

// observeInspect says which containers an observation inspects: a running container once
// (its start time never changes while it runs), every other state each time, for its exit
// code and OOM kill.
func (r *Runtime) observeInspect(c observedContainer) bool {
	if c.State != container.StateRunning {
		return true
	}
	_, known := r.startedAt(c.ID)
	return !known
}

// observed returns what exists for k, from the observation cache when it can
// (observecache.go): from a fresh list of everything, shared by every cluster, or from k's
// own list when k changed since.
func (r *Runtime) observed(ctx context.Context, k runtime.Key) (observedState, error) {
	if o, ok := r.cache.lookup(k, time.Now()); ok {
		return o, nil
	}
	if _, streaming := r.cache.begin(); streaming && !r.cache.allFresh(time.Now()) {
		if err := r.listAll(ctx); err != nil {
			return observedState{}, err
		}
		if o, ok := r.cache.lookup(k, time.Now()); ok {
			return o, nil
		}
	}
	gen, streaming := r.cache.begin()
	at := time.Now()
	o, err := r.collect(ctx, k, r.observeInspect)
	if err == nil && streaming {
		r.cache.storeKey(k, gen, at, o)
	}
	return o, err
}

// listAll lists every network and container of this flinkd into the cache; concurrent
// callers share one list.
func (r *Runtime) listAll(ctx context.Context) error {
	_, err, _ := r.lists.Do("all", func() (any, error) {
		// The list serves every caller: one caller's end does not cut it short.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.callTimeout)
		defer cancel()
		gen, streaming := r.cache.begin()
		at := time.Now()
		byKey, err := r.collectWith(lctx, ownedFilter(r.own), r.observeInspect)
		if err != nil {
			return nil, err
		}
		if streaming {
			r.cache.storeAll(gen, at, byKey)
		}
		return nil, nil
	})
	return err
}

// engineTime parses a time the engine reports; its zero time ("0001-01-01T00:00:00Z") and
// anything unreadable are the zero time.
func engineTime(s string) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.Year() > 1 {
		return t
	}
	return time.Time{}
}

func summaryName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return strings.TrimPrefix(names[0], "/")
}

// Observe reports what exists for k: facts only.
func (r *Runtime) Observe(ctx context.Context, k runtime.Key) (runtime.Observed, error) {
	o, err := r.observed(ctx, k)
	if err != nil {
		return runtime.Observed{}, fmt.Errorf("observe %s: %w", k, err)
	}
	obs := runtime.Observed{Exists: len(o.Networks) > 0 || len(o.Containers) > 0}
	for _, c := range o.Containers {
		if c.Name != containerName(k, c.InstanceID) {
			continue // a stray; the next Apply removes it
		}
		if c.Inspected && c.State == container.StateRunning {
			r.rememberStart(c.ID, c.StartedAt)
		} else if t, ok := r.startedAt(c.ID); ok && c.State == container.StateRunning {
			c.StartedAt = t
		}
		inst := runtime.Instance{
			ID:        c.InstanceID,
			RuntimeID: c.ID,
			Hash:      c.Hash,
			State:     instanceState(c.State),
			Ready:     c.State == container.StateRunning,
			ExitCode:  c.ExitCode,
			OOMKilled: c.OOMKilled,
			Restarts:  c.Restarts + c.EngineRestart,
			StartedAt: c.StartedAt,
		}
		if inst.State == runtime.StateExited {
			inst.FinishedAt = c.FinishedAt
		}
		switch inst.State {
		case runtime.StateExited, runtime.StateRestarting:
			inst.Message = c.exitText()
			if tail := r.lastLines(ctx, c.ID, 10); tail != "" {
				inst.Message += "; last log lines:\n" + tail
			}
		case runtime.StatePending:
			inst.Message = "created, not started"
		case runtime.StateUnknown:
			inst.Message = "container is " + c.State
		}
		switch {
		case c.InstanceID == jobManagerID && c.Component == runtime.ComponentJobManager:
			if obs.JobManager != nil {
				continue
			}
			obs.JobManager = &inst
			obs.Hash = inst.Hash
			if inst.State == runtime.StateRunning {
				obs.REST = r.restEndpoint(k, c.Ports, c.TLS)
			}
		case c.Component == runtime.ComponentTaskManager:
			if _, ok := taskManagerIndex(c.InstanceID); ok {
				obs.TaskManagers = append(obs.TaskManagers, inst)
			}
		}
	}
	slices.SortFunc(obs.TaskManagers, func(a, b runtime.Instance) int {
		return cmp.Or(runtime.CompareInstanceIDs(a.ID, b.ID), cmp.Compare(a.RuntimeID, b.RuntimeID))
	})
	return obs, nil
}

func instanceState(s string) runtime.InstanceState {
	switch s {
	case container.StateCreated:
		return runtime.StatePending
	case container.StateRunning:
		return runtime.StateRunning
	case container.StateRestarting:
		return runtime.StateRestarting
	case container.StateExited, container.StateDead:
		return runtime.StateExited
	}
	return runtime.StateUnknown // paused, removing
}

// restEndpoint is the JobManager's REST API as published on the engine's host.
// A secure cluster's is https, and its server certificate holds the published host name.
func (r *Runtime) restEndpoint(k runtime.Key, ports []container.Port, secure bool) runtime.Endpoint {
	scheme := "http://"
	if secure {
		scheme = "https://"
	}
	for _, p := range ports {
		if p.PrivatePort != restContainerPort || p.Type != "tcp" || p.PublicPort == 0 {
			continue
		}
		u := scheme + net.JoinHostPort(r.restHost, strconv.Itoa(int(p.PublicPort)))
		ep := runtime.Endpoint{URL: u, Display: u, TLS: secure}
		if secure {
			ep.Client = r.secureClient(k)
		}
		return ep
	}
	return runtime.Endpoint{}
}

// lastLines returns up to n last log lines of a container; "" when they cannot be read (the
// message they decorate is still worth reporting).
func (r *Runtime) lastLines(ctx context.Context, id string, n int) string {
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	rc, err := r.cli.ContainerLogs(cctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(n)})
	if err != nil {
		r.log.Debug("read last log lines", "container_id", id, "err", err)
		return ""
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		r.log.Debug("read last log lines", "container_id", id, "err", err)
	}
	return strings.TrimRight(buf.String(), "\n")
}

// startedAt returns the remembered start time of a running container.
func (r *Runtime) startedAt(id string) (time.Time, bool) {
	r.startsMu.Lock()
	defer r.startsMu.Unlock()
	t, ok := r.starts[id]
	return t, ok
}

// rememberStart remembers a running container's start time; forgetStart drops it when the
// container goes. At most maxRememberedStarts are kept (a stray entry only costs an inspect).
func (r *Runtime) rememberStart(id string, t time.Time) {
	r.startsMu.Lock()
	defer r.startsMu.Unlock()
	if len(r.starts) >= maxRememberedStarts {
		clear(r.starts)
	}
	r.starts[id] = t
}

func (r *Runtime) forgetStart(id string) {
	r.startsMu.Lock()
	defer r.startsMu.Unlock()
	delete(r.starts, id)
}

const maxRememberedStarts = 10000
