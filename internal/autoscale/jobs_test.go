package autoscale

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/flink"
)

func TestSlotsNeeded(t *testing.T) {
	tests := []struct {
		name     string
		vertices []Vertex
		want     int
	}{
		{"no vertices (a job still initializing)", nil, 0},
		{"one vertex", []Vertex{{Parallelism: 6}}, 6},
		{"one group: the largest parallelism", []Vertex{{Parallelism: 1}, {Parallelism: 6}, {Parallelism: 2}}, 6},
		{"one named group", []Vertex{{Group: "g", Parallelism: 1}, {Group: "g", Parallelism: 4}}, 4},
		{"two groups add up", []Vertex{{Group: "a", Parallelism: 2}, {Group: "a", Parallelism: 6}, {Group: "b", Parallelism: 3}}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SlotsNeeded(tt.vertices); got != tt.want {
				t.Errorf("SlotsNeeded = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestFromFlink(t *testing.T) {
	overview := func(state string, tasks flink.Tasks) flink.Job {
		return flink.Job{ID: "j1", Name: "wordcount", State: state, Tasks: tasks}
	}
	vertex := func(id string, p int, group string) flink.Vertex {
		return flink.Vertex{ID: id, Parallelism: p, SlotSharingGroupID: group}
	}
	tests := []struct {
		name   string
		job    flink.Job
		detail flink.JobDetail
		req    map[string]flink.Parallelism
		want   Job
	}{
		{"default scheduler, every task running",
			overview("RUNNING", flink.Tasks{Total: 7, Running: 7}),
			flink.JobDetail{Vertices: []flink.Vertex{vertex("v1", 1, ""), vertex("v2", 6, "")}}, nil,
			Job{ID: "j1", Name: "wordcount", Slots: 6}},
		{"default scheduler, tasks scheduled without slots (the job is RUNNING)",
			overview("RUNNING", flink.Tasks{Total: 7, Scheduled: 7}),
			flink.JobDetail{Vertices: []flink.Vertex{vertex("v1", 1, ""), vertex("v2", 6, "")}}, nil,
			Job{ID: "j1", Name: "wordcount", Slots: 6, Waiting: true}},
		{"default scheduler, tasks created",
			overview("RUNNING", flink.Tasks{Total: 2, Created: 2}),
			flink.JobDetail{Vertices: []flink.Vertex{vertex("v1", 2, "")}}, nil,
			Job{ID: "j1", Name: "wordcount", Slots: 2, Waiting: true}},
		{"default scheduler, deploying is not waiting",
			overview("RUNNING", flink.Tasks{Total: 2, Deploying: 2}),
			flink.JobDetail{Vertices: []flink.Vertex{vertex("v1", 2, "")}}, nil,
			Job{ID: "j1", Name: "wordcount", Slots: 2}},
		{"Flink 1.20 reports slot sharing groups",
			overview("RUNNING", flink.Tasks{Total: 10, Scheduled: 10}),
			flink.JobDetail{Vertices: []flink.Vertex{vertex("v1", 4, "g1"), vertex("v2", 4, "g1"), vertex("v3", 2, "g2")}}, nil,
			Job{ID: "j1", Name: "wordcount", Slots: 6, Waiting: true}},
		{"adaptive scheduler waiting for resources (CREATED, no tasks yet)",
			overview("CREATED", flink.Tasks{}),
			flink.JobDetail{Vertices: []flink.Vertex{vertex("v1", 6, "")}},
			map[string]flink.Parallelism{"v1": {LowerBound: 1, UpperBound: 6}},
			Job{ID: "j1", Name: "wordcount", Slots: 6, Waiting: true}},
		{"adaptive scheduler running below the upper bound wants more",
			overview("RUNNING", flink.Tasks{Total: 2, Running: 2}),
			flink.JobDetail{Vertices: []flink.Vertex{vertex("v1", 2, "")}},
			map[string]flink.Parallelism{"v1": {LowerBound: 1, UpperBound: 6}},
			Job{ID: "j1", Name: "wordcount", Slots: 6, Waiting: true}},
		{"adaptive scheduler at the upper bound",
			overview("RUNNING", flink.Tasks{Total: 6, Running: 6}),
			flink.JobDetail{Vertices: []flink.Vertex{vertex("v1", 6, "")}},
			map[string]flink.Parallelism{"v1": {LowerBound: 1, UpperBound: 6}},
			Job{ID: "j1", Name: "wordcount", Slots: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, FromFlink(tt.job, tt.detail, tt.req)); diff != "" {
				t.Errorf("FromFlink (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMayWait(t *testing.T) {
	for _, tt := range []struct {
		job  flink.Job
		want bool
	}{
		{flink.Job{State: "RUNNING", Tasks: flink.Tasks{Total: 2, Running: 2}}, false},
		{flink.Job{State: "RUNNING", Tasks: flink.Tasks{Total: 2, Scheduled: 2}}, true},
		{flink.Job{State: "RESTARTING", Tasks: flink.Tasks{Total: 2, Created: 1, Canceled: 1}}, true},
		{flink.Job{State: "CREATED"}, true},
		{flink.Job{State: "INITIALIZING"}, false},
	} {
		if got := MayWait(tt.job); got != tt.want {
			t.Errorf("MayWait(%+v) = %v, want %v", tt.job, got, tt.want)
		}
	}
}
