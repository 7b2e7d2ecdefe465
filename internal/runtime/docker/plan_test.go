package docker

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/runtime"
)

var planKey = runtime.Key{Namespace: "ns", Name: "wc"}

const (
	hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func net0(hash string) observedNetwork {
	return observedNetwork{ID: "n1", Name: "flinkd_ns_wc", Hash: hash}
}

func jm(state, hash string) observedContainer {
	return observedContainer{ID: "c-jm", Name: "flinkd_ns_wc_jobmanager", InstanceID: "jobmanager",
		Component: runtime.ComponentJobManager, Hash: hash, State: state}
}

func tm(n, state, hash string) observedContainer {
	return observedContainer{ID: "c-tm" + n, Name: "flinkd_ns_wc_taskmanager-" + n, InstanceID: "taskmanager-" + n,
		Component: runtime.ComponentTaskManager, Hash: hash, State: state}
}

func running(n ...string) []observedContainer {
	out := []observedContainer{jm("running", hashA)}
	for _, i := range n {
		out = append(out, tm(i, "running", hashA))
	}
	return out
}

func TestPlanConvergesObservedStateToDesired(t *testing.T) {
	tests := []struct {
		name     string
		desired  desiredState
		observed observedState
		want     string
	}{
		{
			name:    "nothing exists: network, then jobmanager, then taskmanagers from 1",
			desired: desiredState{Key: planKey, Hash: hashA, TaskManagers: 2},
			want: `
create network flinkd_ns_wc: missing or outdated
create container flinkd_ns_wc_jobmanager restarts=0: missing
create container flinkd_ns_wc_taskmanager-1 restarts=0: scale up to 2 taskmanagers
create container flinkd_ns_wc_taskmanager-2 restarts=0: scale up to 2 taskmanagers
`,
		},
		{
			name:     "everything running as wanted: nothing to do",
			desired:  desiredState{Key: planKey, Hash: hashA, TaskManagers: 2},
			observed: observedState{Networks: []observedNetwork{net0(hashA)}, Containers: running("1", "2")},
			want:     ``,
		},
		{
			name:    "labels with only the shortened hash still match",
			desired: desiredState{Key: planKey, Hash: hashA, TaskManagers: 1},
			observed: observedState{Networks: []observedNetwork{net0(hashA[:16])},
				Containers: []observedContainer{jm("running", hashA[:16]), tm("1", "running", hashA[:16])}},
			want: ``,
		},
		{
			name:     "scale up fills the lowest free indices",
			desired:  desiredState{Key: planKey, Hash: hashA, TaskManagers: 4},
			observed: observedState{Networks: []observedNetwork{net0(hashA)}, Containers: running("1", "3")},
			want: `
create container flinkd_ns_wc_taskmanager-2 restarts=0: scale up to 4 taskmanagers
create container flinkd_ns_wc_taskmanager-4 restarts=0: scale up to 4 taskmanagers
`,
		},
		{
			name: "scale down removes RemoveFirst in order, then the highest-numbered",
			desired: desiredState{Key: planKey, Hash: hashA, TaskManagers: 1,
				RemoveFirst: []string{"taskmanager-2", "jobmanager", "taskmanager-9", "taskmanager-1"}},
			observed: observedState{Networks: []observedNetwork{net0(hashA)}, Containers: running("1", "2", "3", "4")},
			want: `
remove container flinkd_ns_wc_taskmanager-2: scale down to 1 taskmanagers
remove container flinkd_ns_wc_taskmanager-1: scale down to 1 taskmanagers
remove container flinkd_ns_wc_taskmanager-4: scale down to 1 taskmanagers
`,
		},
		{
			name:     "scale down without preference removes the highest-numbered",
			desired:  desiredState{Key: planKey, Hash: hashA, TaskManagers: 2},
			observed: observedState{Networks: []observedNetwork{net0(hashA)}, Containers: running("1", "2", "5")},
			want: `
remove container flinkd_ns_wc_taskmanager-5: scale down to 2 taskmanagers
`,
		},
		{
			name:     "scale to zero keeps the jobmanager",
			desired:  desiredState{Key: planKey, Hash: hashA, TaskManagers: 0},
			observed: observedState{Networks: []observedNetwork{net0(hashA)}, Containers: running("1", "2")},
			want: `
remove container flinkd_ns_wc_taskmanager-2: scale down to 0 taskmanagers
remove container flinkd_ns_wc_taskmanager-1: scale down to 0 taskmanagers
`,
		},
		{
			name:    "an exited taskmanager the daemon lists in Replace is replaced under its ID with the count it gives",
			desired: desiredState{Key: planKey, Hash: hashA, TaskManagers: 2, Replace: map[string]int{"taskmanager-2": 3}},
			observed: observedState{Networks: []observedNetwork{net0(hashA)}, Containers: func() []observedContainer {
				c := running("1")
				dead := tm("2", "exited", hashA)
				dead.Restarts, dead.Inspected, dead.ExitCode, dead.OOMKilled = 2, true, 137, true
				return append(c, dead)
			}()},
			want: `
remove container flinkd_ns_wc_taskmanager-2: exited with code 137 (OOM killed)
create container flinkd_ns_wc_taskmanager-2 restarts=3: exited with code 137 (OOM killed)
`,
		},
		{
			name:    "an exited jobmanager is replaced, the taskmanagers are left alone",
			desired: desiredState{Key: planKey, Hash: hashA, TaskManagers: 1, Replace: map[string]int{"jobmanager": 1}},
			observed: observedState{Networks: []observedNetwork{net0(hashA)}, Containers: []observedContainer{
				func() observedContainer { c := jm("dead", hashA); c.Inspected, c.ExitCode = true, 1; return c }(),
				tm("1", "running", hashA),
			}},
			want: `
remove container flinkd_ns_wc_jobmanager: exited with code 1
create container flinkd_ns_wc_jobmanager restarts=1: exited with code 1
`,
		},
		{
			name:    "a dead instance the daemon does not list in Replace is left dead (it is backing off)",
			desired: desiredState{Key: planKey, Hash: hashA, TaskManagers: 2, Replace: map[string]int{"taskmanager-1": 1}},
			observed: observedState{Networks: []observedNetwork{net0(hashA)}, Containers: []observedContainer{
				func() observedContainer {
					c := jm("exited", hashA)
					c.Inspected, c.ExitCode, c.Restarts = true, 1, 4
					return c
				}(),
				tm("1", "exited", hashA),
			}},
			want: `
remove container flinkd_ns_wc_taskmanager-1: exited
create container flinkd_ns_wc_taskmanager-1 restarts=1: exited
create container flinkd_ns_wc_taskmanager-2 restarts=0: scale up to 2 taskmanagers
`,
		},
		{
			name:    "a created but never started container is started, not recreated",
			desired: desiredState{Key: planKey, Hash: hashA, TaskManagers: 1},
			observed: observedState{Networks: []observedNetwork{net0(hashA)},
				Containers: []observedContainer{jm("running", hashA), tm("1", "created", hashA)}},
			want: `
start container flinkd_ns_wc_taskmanager-1: created but not started
`,
		},
		{
			name:    "restarting, paused and removing containers are left to settle",
			desired: desiredState{Key: planKey, Hash: hashA, TaskManagers: 3},
			observed: observedState{Networks: []observedNetwork{net0(hashA)}, Containers: []observedContainer{
				jm("restarting", hashA), tm("1", "paused", hashA), tm("2", "removing", hashA), tm("3", "running", hashA)}},
			want: ``,
		},
		{
			name:    "a spec change recreates the network and every container, restarts reset",
			desired: desiredState{Key: planKey, Hash: hashB, TaskManagers: 2},
			observed: observedState{Networks: []observedNetwork{net0(hashA)}, Containers: func() []observedContainer {
				c := running("1", "2")
				c[1].Restarts = 4
				return c
			}()},
			want: `
remove container flinkd_ns_wc_jobmanager: network recreated
remove container flinkd_ns_wc_taskmanager-1: network recreated
remove container flinkd_ns_wc_taskmanager-2: network recreated
remove network flinkd_ns_wc: spec changed
create network flinkd_ns_wc: missing or outdated
create container flinkd_ns_wc_jobmanager restarts=0: network recreated
create container flinkd_ns_wc_taskmanager-1 restarts=4: network recreated
create container flinkd_ns_wc_taskmanager-2 restarts=0: network recreated
`,
		},
		{
			name:    "containers of an outdated spec on a current network are recreated",
			desired: desiredState{Key: planKey, Hash: hashB, TaskManagers: 2},
			observed: observedState{Networks: []observedNetwork{net0(hashB)},
				Containers: []observedContainer{jm("running", hashB), tm("1", "running", hashA), tm("2", "running", hashB)}},
			want: `
remove container flinkd_ns_wc_taskmanager-1: spec changed
create container flinkd_ns_wc_taskmanager-1 restarts=0: spec changed
`,
		},
		{
			name:    "a spec change while scaling down removes victims and recreates the rest",
			desired: desiredState{Key: planKey, Hash: hashB, TaskManagers: 1, RemoveFirst: []string{"taskmanager-1"}},
			observed: observedState{Networks: []observedNetwork{net0(hashB)},
				Containers: []observedContainer{jm("running", hashA), tm("1", "running", hashA), tm("2", "running", hashA)}},
			want: `
remove container flinkd_ns_wc_taskmanager-1: scale down to 1 taskmanagers
remove container flinkd_ns_wc_jobmanager: spec changed
remove container flinkd_ns_wc_taskmanager-2: spec changed
create container flinkd_ns_wc_jobmanager restarts=0: spec changed
create container flinkd_ns_wc_taskmanager-2 restarts=0: spec changed
`,
		},
		{
			name:    "a missing network recreates the containers bound to the old one",
			desired: desiredState{Key: planKey, Hash: hashA, TaskManagers: 1},
			observed: observedState{Containers: []observedContainer{
				func() observedContainer { c := jm("exited", hashA); c.Inspected, c.ExitCode = true, 128; return c }(),
			}},
			want: `
remove container flinkd_ns_wc_jobmanager: network recreated
create network flinkd_ns_wc: missing or outdated
create container flinkd_ns_wc_jobmanager restarts=0: network recreated
create container flinkd_ns_wc_taskmanager-1 restarts=0: scale up to 1 taskmanagers
`,
		},
		{
			name:    "of duplicate networks the one the containers are on is kept, the others go with their containers",
			desired: desiredState{Key: planKey, Hash: hashA, TaskManagers: 2},
			observed: observedState{
				Networks: []observedNetwork{{ID: "n0", Name: "flinkd_ns_wc", Hash: hashA}, {ID: "n9", Name: "flinkd_ns_wc", Hash: hashA}},
				Containers: func() []observedContainer {
					c := running("1", "2")
					c[0].NetworkID, c[1].NetworkID, c[2].NetworkID = "n9", "n9", "n0"
					return c
				}(),
			},
			want: `
remove container flinkd_ns_wc_taskmanager-2: attached to a duplicate network
remove network flinkd_ns_wc: duplicate network
create container flinkd_ns_wc_taskmanager-2 restarts=0: attached to a duplicate network
`,
		},
		{
			name:    "labelled containers that are no instance, and duplicate networks, are removed",
			desired: desiredState{Key: planKey, Hash: hashA, TaskManagers: 1},
			observed: observedState{
				Networks: []observedNetwork{net0(hashA), {ID: "n0", Name: "flinkd_ns_wc", Hash: hashA}, {ID: "n2", Name: "other", Hash: hashA}},
				Containers: append(running("1"),
					observedContainer{ID: "x1", Name: "flinkd_ns_wc_taskmanager-07", InstanceID: "taskmanager-07", Component: "taskmanager", Hash: hashA, State: "running"},
					observedContainer{ID: "x2", Name: "renamed", InstanceID: "taskmanager-2", Component: "taskmanager", Hash: hashA, State: "running"},
					observedContainer{ID: "x3", Name: "flinkd_ns_wc_taskmanager-3", InstanceID: "taskmanager-3", Component: "jobmanager", Hash: hashA, State: "running"},
				),
			},
			want: `
remove container flinkd_ns_wc_taskmanager-07: not an instance flinkd runs
remove container flinkd_ns_wc_taskmanager-3: not an instance flinkd runs
remove container renamed: not an instance flinkd runs
remove network flinkd_ns_wc: duplicate network
remove network other: not a network flinkd uses
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := makePlan(tt.desired, tt.observed).String()
			if diff := cmp.Diff(strings.TrimPrefix(tt.want, "\n"), got); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanIsIndependentOfListOrder(t *testing.T) {
	d := desiredState{Key: planKey, Hash: hashB, TaskManagers: 2, RemoveFirst: []string{"taskmanager-3"}}
	ctrs := []observedContainer{tm("3", "running", hashA), tm("1", "exited", hashB), jm("running", hashB), tm("2", "running", hashB)}
	want := makePlan(d, observedState{Networks: []observedNetwork{net0(hashB)}, Containers: ctrs}).String()
	reversed := []observedContainer{ctrs[3], ctrs[2], ctrs[1], ctrs[0]}
	got := makePlan(d, observedState{Networks: []observedNetwork{net0(hashB)}, Containers: reversed}).String()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan depends on list order (-first +reversed):\n%s", diff)
	}
}

func TestTaskManagerIndexAcceptsOnlyCanonicalIDs(t *testing.T) {
	tests := map[string]int{
		"taskmanager-1": 1, "taskmanager-12": 12,
		"taskmanager-0": -1, "taskmanager-01": -1, "taskmanager-": -1, "taskmanager-x": -1,
		"jobmanager": -1, "taskmanager--1": -1, "tm-1": -1,
	}
	for id, want := range tests {
		n, ok := taskManagerIndex(id)
		if !ok {
			n = -1
		}
		if n != want {
			t.Errorf("taskManagerIndex(%q) = %d, want %d", id, n, want)
		}
	}
}
