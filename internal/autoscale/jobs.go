package autoscale

import (
	"github.com/flinkd/flinkd/internal/flink"
)

// Vertex is what SlotsNeeded reads of a job vertex.
type Vertex struct {
	// Group is the vertex's slot sharing group; "" when Flink does not report it (before
	// 1.20), which counts as one group: Flink's default puts every vertex in one.
	Group       string
	Parallelism int
}

// SlotsNeeded is how many slots a job's vertices need: each slot sharing group needs as many
// slots as its largest vertex parallelism (one slot holds one subtask of every vertex of the
// group), and groups never share slots.
func SlotsNeeded(vertices []Vertex) int {
	largest := map[string]int{}
	for _, v := range vertices {
		largest[v.Group] = max(largest[v.Group], v.Parallelism)
	}
	n := 0
	for _, p := range largest {
		n += p
	}
	return n
}

// MayWait reports whether a job's entry of /jobs/overview says it may wait for slots:
// tasks CREATED or SCHEDULED, or the job CREATED (the adaptive scheduler waits for resources
// in CREATED with no tasks yet). Only such jobs (and, under the adaptive scheduler, every
// job) need their details read.
func MayWait(j flink.Job) bool {
	return j.Tasks.Created+j.Tasks.Scheduled > 0 || j.State == "CREATED"
}

// FromFlink builds a Job from what the REST API reports: the job's entry of /jobs/overview,
// its details (/jobs/:jobid), and, under the adaptive scheduler, its resource requirements
// (/jobs/:jobid/resource-requirements; nil under the default scheduler).
//
// Under the default scheduler a vertex needs its parallelism, and the job waits while tasks
// are CREATED or SCHEDULED. Under the adaptive scheduler a vertex needs the upper bound of
// its parallelism, and the job also waits while it has not started (CREATED) or runs a vertex
// below that bound: the scheduler runs with what it gets and rescales when it gets more.
func FromFlink(j flink.Job, detail flink.JobDetail, req map[string]flink.Parallelism) Job {
	out := Job{ID: j.ID, Name: j.Name, Waiting: j.Tasks.Created+j.Tasks.Scheduled > 0}
	vs := make([]Vertex, 0, len(detail.Vertices))
	for _, v := range detail.Vertices {
		p := v.Parallelism
		if r, ok := req[v.ID]; ok {
			if r.UpperBound > v.Parallelism || j.State == "CREATED" {
				out.Waiting = true
			}
			p = max(r.UpperBound, r.LowerBound)
		}
		vs = append(vs, Vertex{Group: v.SlotSharingGroupID, Parallelism: p})
	}
	out.Slots = SlotsNeeded(vs)
	return out
}
