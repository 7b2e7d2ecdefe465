package docker

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/container"

	"github.com/flinkd/flinkd/internal/runtime"
)

// desiredState is what the planner needs from a runtime.Cluster.
type desiredState struct {
	Key          runtime.Key
	Hash         string
	TaskManagers int
	RemoveFirst  []string
	// Replace: the dead instances to start again, with their replacements' restart counts.
	Replace map[string]int
}

func desiredOf(c runtime.Cluster) desiredState {
	return desiredState{Key: c.Key, Hash: c.Hash, TaskManagers: c.TaskManagers, RemoveFirst: c.RemoveFirst, Replace: c.Replace}
}

type opKind int

const (
	opRemoveContainer opKind = iota
	opRemoveNetwork
	opCreateNetwork
	opStartContainer  // copy the configuration into a created container, then start it
	opCreateContainer // create, copy the configuration in, start
)

func (k opKind) String() string {
	switch k {
	case opRemoveContainer:
		return "remove container"
	case opRemoveNetwork:
		return "remove network"
	case opCreateNetwork:
		return "create network"
	case opStartContainer:
		return "start container"
	case opCreateContainer:
		return "create container"
	}
	return fmt.Sprintf("op(%d)", int(k))
}

// operation is one step of a plan. Every step is named by the resource it acts on and
// carries the cause, for events, logs and tests.
type operation struct {
	Kind opKind
	// Name is the container or network name; EngineID its engine ID when it exists.
	Name     string
	EngineID string
	// InstanceID and Component are set for container creates and starts.
	InstanceID string
	Component  string
	// Restarts is the replacement count a created container records; Crash says the
	// create replaces a container that died (and Restarts counts it).
	Restarts int
	Crash    bool
	// NetworkID is, for container creates, the existing network to attach to; empty means
	// the network this plan creates. Containers attach by ID: names can be ambiguous while
	// the engine holds duplicates (two racing creates).
	NetworkID string
	// Reason is the Progress reason word; empty for steps not worth an event of their own
	// (the removal half of a replacement).
	Reason string
	Cause  string
}

func (o operation) String() string {
	s := o.Kind.String() + " " + o.Name
	if o.Kind == opCreateContainer {
		s += fmt.Sprintf(" restarts=%d", o.Restarts)
	}
	return s + ": " + o.Cause
}

// plan is an ordered list of operations: container removals, network removals, network
// creation, then JobManager and TaskManagers (by index) brought up.
type plan []operation

func (p plan) String() string {
	var b strings.Builder
	for _, o := range p {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func (p plan) creates() bool {
	return slices.ContainsFunc(p, func(o operation) bool { return o.Kind == opCreateContainer })
}

// makePlan decides, without I/O, what to do to turn o into d.
//
//   - The network is (re)created when it is missing or carries another spec hash; every
//     container is then recreated, because a container is bound to its network's ID. Of
//     duplicate networks, the one most containers are on is kept; containers on the others
//     are recreated.
//   - The JobManager and every kept TaskManager are recreated when their hash differs,
//     replaced when they exited and d.Replace lists them (the daemon's crash-loop back-off
//     says when; the replacement records the restart count d.Replace gives), and started
//     when they were created but never started (flinkd stopped between create and start). A
//     dead instance that d.Replace does not list is left as it is.
//   - Above d.TaskManagers, the victims are runtime.ScaleDownVictims (d.RemoveFirst first).
//     Below it, new TaskManagers take the lowest free indices.
//   - Labelled containers that are not an instance flinkd runs are removed.
func makePlan(d desiredState, o observedState) plan {
	var (
		removes    []operation
		netOps     []operation
		bringUps   []operation
		wantNet    = networkName(d.Key)
		netCurrent bool
		netID      string
	)

	// Network: keep the current one most containers are attached to (duplicates exist when
	// two creates raced), remove the others.
	attached := map[string]int{}
	for _, c := range o.Containers {
		attached[c.NetworkID]++
	}
	nets := slices.Clone(o.Networks)
	slices.SortFunc(nets, func(a, b observedNetwork) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), -cmp.Compare(attached[a.ID], attached[b.ID]), cmp.Compare(a.ID, b.ID))
	})
	for _, n := range nets {
		switch {
		case n.Name != wantNet:
			netOps = append(netOps, operation{Kind: opRemoveNetwork, Name: n.Name, EngineID: n.ID,
				Cause: "not a network flinkd uses"})
		case !sameHash(n.Hash, d.Hash):
			netOps = append(netOps, operation{Kind: opRemoveNetwork, Name: n.Name, EngineID: n.ID,
				Cause: "spec changed"})
		case netCurrent:
			netOps = append(netOps, operation{Kind: opRemoveNetwork, Name: n.Name, EngineID: n.ID,
				Cause: "duplicate network"})
		default:
			netCurrent, netID = true, n.ID
		}
	}
	if !netCurrent {
		netOps = append(netOps, operation{Kind: opCreateNetwork, Name: wantNet, Reason: "Created",
			Cause: "missing or outdated"})
	}

	// Sort containers into the JobManager, TaskManagers by index, and strays.
	var (
		jm  *observedContainer
		tms = map[int]observedContainer{}
	)
	ctrs := slices.Clone(o.Containers)
	slices.SortFunc(ctrs, func(a, b observedContainer) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	for i := range ctrs {
		c := ctrs[i]
		if c.Name == containerName(d.Key, jobManagerID) && c.InstanceID == jobManagerID &&
			c.Component == runtime.ComponentJobManager && jm == nil {
			jm = &ctrs[i]
			continue
		}
		if n, ok := taskManagerIndex(c.InstanceID); ok && c.Name == containerName(d.Key, c.InstanceID) &&
			c.Component == runtime.ComponentTaskManager {
			if _, dup := tms[n]; !dup {
				tms[n] = c
				continue
			}
		}
		removes = append(removes, operation{Kind: opRemoveContainer, Name: c.Name, EngineID: c.ID,
			InstanceID: c.InstanceID, Component: c.Component, Reason: "Removed", Cause: "not an instance flinkd runs"})
	}

	// Scale down: choose victims among the TaskManagers present.
	want := max(d.TaskManagers, 0)
	var victims []operation
	present := make([]string, 0, len(tms))
	for _, n := range sortedKeys(tms) {
		present = append(present, taskManagerID(n))
	}
	for _, id := range runtime.ScaleDownVictims(present, d.RemoveFirst, want) {
		n, _ := taskManagerIndex(id)
		c := tms[n]
		victims = append(victims, operation{Kind: opRemoveContainer, Name: c.Name, EngineID: c.ID,
			InstanceID: c.InstanceID, Component: c.Component, Reason: "Removed", Cause: fmt.Sprintf("scale down to %d taskmanagers", want)})
		delete(tms, n)
	}

	// Existing instances: keep, start, replace or recreate.
	instance := func(c observedContainer) []operation {
		create := operation{Kind: opCreateContainer, Name: c.Name, InstanceID: c.InstanceID, Component: c.Component}
		remove := operation{Kind: opRemoveContainer, Name: c.Name, EngineID: c.ID, InstanceID: c.InstanceID, Component: c.Component}
		switch {
		case !netCurrent:
			create.Restarts, create.Reason, create.Cause = c.Restarts, "Replaced", "network recreated"
		case c.NetworkID != "" && c.NetworkID != netID:
			create.Restarts, create.Reason, create.Cause = c.Restarts, "Replaced", "attached to a duplicate network"
		case !sameHash(c.Hash, d.Hash):
			create.Reason, create.Cause = "Replaced", "spec changed"
		case c.State == container.StateExited || c.State == container.StateDead:
			restarts, due := d.Replace[c.InstanceID]
			if !due {
				return nil // backing off: the daemon says when it is started again
			}
			create.Restarts, create.Crash, create.Reason, create.Cause = restarts, true, "Replaced", c.exitText()
		case c.State == container.StateCreated:
			return []operation{{Kind: opStartContainer, Name: c.Name, EngineID: c.ID, InstanceID: c.InstanceID,
				Component: c.Component, Reason: "Started", Cause: "created but not started"}}
		default: // running, restarting, paused, removing: nothing to do now
			return nil
		}
		remove.Cause = create.Cause
		return []operation{remove, create}
	}
	split := func(ops []operation) {
		for _, op := range ops {
			if op.Kind == opRemoveContainer {
				removes = append(removes, op)
			} else {
				bringUps = append(bringUps, op)
			}
		}
	}
	if jm != nil {
		split(instance(*jm))
	} else {
		bringUps = append(bringUps, operation{Kind: opCreateContainer, Name: containerName(d.Key, jobManagerID),
			InstanceID: jobManagerID, Component: runtime.ComponentJobManager, Reason: "Created", Cause: "missing"})
	}
	kept := sortedKeys(tms)
	for _, n := range kept {
		split(instance(tms[n]))
	}

	// Scale up: lowest free indices.
	var added []int
	for n := firstTaskManager; len(kept)+len(added) < want; n++ {
		if _, used := tms[n]; !used {
			added = append(added, n)
		}
	}
	for _, n := range added {
		id := taskManagerID(n)
		bringUps = append(bringUps, operation{Kind: opCreateContainer, Name: containerName(d.Key, id),
			InstanceID: id, Component: runtime.ComponentTaskManager, Reason: "Created",
			Cause: fmt.Sprintf("scale up to %d taskmanagers", want)})
	}
	for i := range bringUps {
		bringUps[i].NetworkID = netID
	}
	// Bring-ups in instance order: the JobManager, then TaskManagers by index.
	slices.SortStableFunc(bringUps, func(a, b operation) int { return runtime.CompareInstanceIDs(a.InstanceID, b.InstanceID) })

	p := make(plan, 0, len(victims)+len(removes)+len(netOps)+len(bringUps))
	p = append(p, victims...)
	p = append(p, removes...)
	// Removing the network needs every container gone first; creating it comes after.
	p = append(p, netOps...)
	return append(p, bringUps...)
}

func sortedKeys(m map[int]observedContainer) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
