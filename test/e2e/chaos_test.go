package e2e

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/flinkd/flinkd/internal/api"
	"github.com/flinkd/flinkd/internal/runtime"
)

// Chaos knobs: FLINKD_CHAOS_KILLS (default 30) and FLINKD_CHAOS_SEED (default 1). make soak
// (hack/soak.sh) runs the same test with more kills.
const (
	defaultChaosKills = 30
	defaultChaosSeed  = 1
)

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: not a number", name, v)
	}
	return n
}

// chaosFile is what a chaos cluster's file says (present false: no file).
type chaosFile struct {
	present bool
	state   string
	tms     int
}

// SIGKILLs of flinkd at random instants while files are created, scaled, stopped and
// removed: in the end every cluster is as its file says, with no duplicate container or
// network, no orphan, and every event kept. A container without flinkd's labels squatting a
// cluster's name is never touched. Bounded and seeded (FLINKD_CHAOS_SEED); make soak runs it
// with 100+ kills (FLINKD_CHAOS_KILLS).
func TestChaosSIGKILLsWhileFilesChangeConverge(t *testing.T) {
	t.Parallel()
	kills := envInt(t, "FLINKD_CHAOS_KILLS", defaultChaosKills)
	seed := envInt(t, "FLINKD_CHAOS_SEED", defaultChaosSeed)
	r := rand.New(rand.NewPCG(uint64(seed), 0xc4a05))
	f := newFlinkd(t)

	// The squatter: a container named as the JobManager of cluster squat, without our labels.
	squat := uniqueName("squat")
	squatter := f.createSquatter(containerName(squat, "jobmanager"))
	f.write(squat+".yaml", clusterYAML(squat, "RUNNING", 1, ""))

	names := []string{uniqueName("chaos-a"), uniqueName("chaos-b"), uniqueName("chaos-c")}
	files := map[string]chaosFile{}
	write := func(name string, cf chaosFile) {
		if cf.present {
			f.write(name+".yaml", clusterYAML(name, cf.state, cf.tms, ""))
		} else if err := os.Remove(f.specs + "/" + name + ".yaml"); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		files[name] = cf
	}
	for _, n := range names {
		write(n, chaosFile{present: true, state: "RUNNING", tms: 1})
	}
	for _, n := range names {
		f.waitCluster(n, "known", func(api.ClusterStatus) bool { return true })
	}

	ops := 0
	op := func() {
		ops++
		n := names[r.IntN(len(names))]
		cf := files[n]
		switch p := r.IntN(100); {
		case p < 12:
			cf = chaosFile{} // remove the file
		case p < 30:
			cf = chaosFile{present: true, state: "STOPPED", tms: 1 + r.IntN(2)}
		default: // create, scale, start
			cf = chaosFile{present: true, state: "RUNNING", tms: 1 + r.IntN(2)}
		}
		write(n, cf)
	}
	start := time.Now()
	lost := 0
	for i := range kills {
		for until := time.Now().Add(time.Duration(300+r.IntN(2700)) * time.Millisecond); time.Now().Before(until); {
			op()
			time.Sleep(time.Duration(50+r.IntN(450)) * time.Millisecond) // pace of the edits
		}
		// The events recorded up to the kill are kept: the last one of each cluster is still
		// there after the restart.
		last := map[string]api.Event{}
		for _, n := range names {
			if evs := f.events(n); len(evs) > 0 {
				last[n] = evs[len(evs)-1]
			}
		}
		f.kill()
		if r.IntN(3) == 0 {
			op() // an edit while flinkd is down
		}
		f.start()
		for n, ev := range last {
			if !slices.Contains(f.events(n), ev) {
				lost++
				t.Errorf("kill %d: %s lost its event %+v", i+1, n, ev)
			}
		}
		if (i+1)%10 == 0 {
			t.Logf("chaos: %d/%d kills, %d file operations, %s", i+1, kills, ops, time.Since(start).Round(time.Second))
		}
	}
	lastKill := time.Now()
	for _, n := range names {
		t.Logf("chaos: %s ends with file %+v", n, files[n])
	}

	// Converged: every cluster as its file says.
	for _, n := range names {
		cf := files[n]
		switch {
		case !cf.present:
			f.waitGone(n)
		case cf.state == "RUNNING":
			f.waitRunning(n, cf.tms)
		default:
			f.waitCluster(n, "STOPPED with nothing left", func(cs api.ClusterStatus) bool {
				return cs.Phase == "STOPPED" && len(f.clusterContainers(n)) == 0
			})
		}
	}
	converged := time.Since(lastKill)
	f.waitCluster(squat, "FAILED on the squatter", func(cs api.ClusterStatus) bool {
		return cs.Phase == "FAILED" && strings.Contains(cs.Message, "not managed by flinkd")
	})

	// No duplicate container or network, no orphan: exactly what the files ask for exists.
	want := map[string]int{} // containers per cluster
	for _, n := range names {
		if cf := files[n]; cf.present && cf.state == "RUNNING" {
			want[n] = 1 + cf.tms
		}
	}
	got := map[string]int{}
	for _, c := range f.containers() {
		got[c.Labels[runtime.LabelInstance]]++
	}
	for _, n := range names {
		ctrs := f.clusterContainers(n) // fails on two containers for one instance
		if len(ctrs) != want[n] || got[n] != want[n] {
			t.Errorf("%s (file %+v): containers %v, want %d", n, files[n], sortedKeys(ctrs), want[n])
		}
		if _, ok := ctrs["jobmanager"]; want[n] > 0 && !ok {
			t.Errorf("%s: no jobmanager", n)
		}
	}
	for n := range got {
		if !slices.Contains(names, n) {
			t.Errorf("orphan: %d containers of %s, which no file declares as running", got[n], n)
		}
	}
	nets := map[string]int{}
	for _, nw := range f.networks() {
		nets[nw.Labels[runtime.LabelInstance]]++
	}
	for n, c := range nets {
		running := want[n] > 0
		if c > 1 || (!running && n != squat) {
			t.Errorf("networks of %s: %d (file %+v)", n, c, files[n])
		}
	}

	// The squatter was never touched.
	ins := f.inspect(squatter)
	if ins.State == nil || ins.State.Status != container.StateCreated || runtime.Owned(ins.Config.Labels) {
		t.Errorf("the squatter was touched: %+v, labels %v", ins.State, ins.Config.Labels)
	}

	// Events outlive their clusters: a forgotten cluster's are still there.
	for _, n := range names {
		if evs := f.events(n); !files[n].present && !slices.ContainsFunc(evs, func(e api.Event) bool { return e.Reason == "Deleted" }) {
			t.Errorf("%s: its file is gone, but its events do not say it was deleted:\n%s", n, formatEvents(evs))
		}
	}
	if !f.running() {
		t.Fatal("flinkd is not running")
	}
	t.Logf("chaos: seed %d, %d SIGKILLs of flinkd over %s with %d file operations; converged %s after the last kill; no duplicate, no orphan, %d events lost, the squatter untouched",
		seed, kills, lastKill.Sub(start).Round(time.Second), ops, converged.Round(100*time.Millisecond), lost)
}

// createSquatter creates (and does not start) a container without flinkd's labels under name,
// and removes it when the test ends. It returns its ID.
func (f *flinkd) createSquatter(name string) string {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := f.docker.ContainerCreate(ctx, &container.Config{Image: simImage, Cmd: []string{"jobmanager"},
		Labels: map[string]string{"e2e.flinkd.io/squatter": "true"}}, nil, nil, nil, name)
	if err != nil {
		f.t.Fatalf("create squatter %s: %v", name, err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		if err := f.docker.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true}); err != nil {
			f.t.Errorf("remove squatter %s: %v", name, err)
		}
	})
	return resp.ID
}
