package e2e

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// A stop is refused while a job runs, listing the job and leaving the file alone; a forced
// stop cancels the job, sets spec.state: STOPPED in the file (comments kept) and removes
// every container and the network.
func TestStopIsRefusedWhileAJobRunsAndForceCancelsIt(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("stop")
	spec := clusterYAML(name, "RUNNING", 1, "")
	file := f.write("stop.yaml", spec)
	cs := f.waitRunning(name, 1)
	rest := cs.RESTURL
	job := submitJob(t, rest, "wordcount", 1)
	waitJobState(t, rest, job, "RUNNING")

	res := f.flinkctl("stop", name)
	if res.Code != 1 {
		t.Fatalf("flinkctl stop with a running job: want exit 1, got %s", res)
	}
	if !strings.Contains(res.Stderr, "refused: 1 job(s) running") || !strings.Contains(res.Stderr, job) || !strings.Contains(res.Stderr, "--force") {
		t.Errorf("refusal should list the job %s and point to --force:\n%s", job, res.Stderr)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != spec {
		t.Fatalf("a refused stop changed the file (err %v):\n%s", err, b)
	}
	if s := jobState(t, rest, job); s != "RUNNING" {
		t.Fatalf("job is %s after a refused stop", s)
	}

	// Watch the job while the forced stop runs: it must end CANCELED, seen before the
	// JobManager goes away.
	var (
		mu     sync.Mutex
		states []string
	)
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			var j struct {
				State string `json:"state"`
			}
			if err := tryRest(http.MethodGet, rest+"/jobs/"+job, "", nil, &j); err == nil {
				mu.Lock()
				if len(states) == 0 || states[len(states)-1] != j.State {
					states = append(states, j.State)
				}
				mu.Unlock()
			}
			select {
			case <-stopWatch:
				return
			case <-time.After(20 * time.Millisecond): // poll interval
			}
		}
	}()
	res = f.flinkctl("stop", name, "--force", "--wait")
	close(stopWatch)
	<-watched
	if res.Code != 0 {
		t.Fatalf("flinkctl stop --force --wait: %s", res)
	}
	if !strings.Contains(res.Stderr, "cancelled 1 job(s)") || !strings.Contains(res.Stderr, job) {
		t.Errorf("forced stop should say it cancelled %s:\n%s", job, res.Stderr)
	}
	if !strings.Contains(res.Stderr, "is STOPPED") {
		t.Errorf("stop --wait should end saying the cluster is STOPPED:\n%s", res.Stderr)
	}
	mu.Lock()
	seen := states
	mu.Unlock()
	t.Logf("job states seen while the forced stop ran: %v", seen)
	if len(seen) == 0 || seen[len(seen)-1] != "CANCELED" {
		t.Errorf("job states seen during the forced stop: %v; want it to end CANCELED", seen)
	}

	want := replaceOnce(t, spec, "state: RUNNING   # desired state", "state: STOPPED   # desired state")
	if b, err := os.ReadFile(file); err != nil || string(b) != want {
		t.Errorf("after the forced stop the file is (err %v):\n%s\nwant:\n%s", err, b, want)
	}
	if cs, err := f.status(name); err != nil || cs.Phase != "STOPPED" || cs.DesiredState != "STOPPED" {
		t.Errorf("status after stop --wait: phase %s, desired %s (err %v); want STOPPED", cs.Phase, cs.DesiredState, err)
	}
	f.waitEvent(name, "JobsCancelled", job)
	if ctrs := f.containers(); len(ctrs) != 0 {
		var names []string
		for _, c := range ctrs {
			names = append(names, c.Names...)
		}
		t.Errorf("containers left after the stop: %v", names)
	}
	if nets := f.networks(); len(nets) != 0 {
		t.Errorf("networks left after the stop: %v", nets)
	}
}
