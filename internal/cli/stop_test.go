package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/api"
)

var runningJobs = []api.Job{
	{ID: "a1b2c3d4e5f60718293a4b5c6d7e8f90", Name: "wordcount", State: "RUNNING"},
	{ID: "0f9e8d7c6b5a49382716a5b4c3d2e1f0", Name: "sessionize", State: "RUNNING"},
}

// serveStop answers a stop of default/analytics: refused while jobs run unless forced.
// It records the force flag of every request.
func serveStop(d *stubDaemon) *[]bool {
	var mu sync.Mutex
	var forces []bool
	d.handle("POST /v1/clusters/default/analytics/stop", func(w http.ResponseWriter, r *http.Request) {
		var req api.StopRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, api.Error{Error: err.Error()})
			return
		}
		mu.Lock()
		forces = append(forces, req.Force)
		mu.Unlock()
		if !req.Force {
			writeJSON(w, http.StatusConflict, api.Error{Error: "2 jobs running", Jobs: runningJobs})
			return
		}
		writeJSON(w, http.StatusOK, api.StateChange{File: "specs/analytics.yaml", DesiredState: "STOPPED", Changed: true, Cancelled: runningJobs})
	})
	return &forces
}

// servePhases answers GET default/analytics with the given phases in turn, the last one
// for ever after, and returns how many times it was asked.
func servePhases(d *stubDaemon, phases ...api.ClusterStatus) func() int {
	var mu sync.Mutex
	n := 0
	d.handle("GET /v1/clusters/default/analytics", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		cs := phases[min(n, len(phases)-1)]
		n++
		mu.Unlock()
		cs.Name, cs.Namespace = "analytics", "default"
		writeJSON(w, http.StatusOK, cs)
	})
	return func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestStopWhileJobsRunIsRefusedAndNamesTheJobs(t *testing.T) {
	d := newStubDaemon(t)
	forces := serveStop(d)

	r := runMain(t, false, "--socket", d.socket, "stop", "analytics")

	want := "refused: 2 job(s) running on default/analytics: wordcount (a1b2c3d4e5f60718293a4b5c6d7e8f90), " +
		"sessionize (0f9e8d7c6b5a49382716a5b4c3d2e1f0); use --force to cancel them first\n"
	if r.code != ExitFailed || r.stderr != want || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant 1, nothing, and:\n%s", r.code, r.stdout, r.stderr, want)
	}
	if diff := cmp.Diff([]bool{false}, *forces); diff != "" {
		t.Errorf("force flags sent (-want +got):\n%s", diff)
	}
}

func TestStopForceCancelsTheJobsAndSaysWhich(t *testing.T) {
	d := newStubDaemon(t)
	forces := serveStop(d)

	r := runMain(t, false, "--socket", d.socket, "stop", "analytics", "--force")

	want := "cancelled 2 job(s) on default/analytics: wordcount (a1b2c3d4e5f60718293a4b5c6d7e8f90), sessionize (0f9e8d7c6b5a49382716a5b4c3d2e1f0)\n" +
		"✓ default/analytics: spec.state set to STOPPED in specs/analytics.yaml\n"
	if r.code != ExitOK || r.stderr != want || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant 0, nothing, and:\n%s", r.code, r.stdout, r.stderr, want)
	}
	if diff := cmp.Diff([]bool{true}, *forces); diff != "" {
		t.Errorf("force flags sent (-want +got):\n%s", diff)
	}
}

func TestStopWaitShowsEachPhaseUntilStopped(t *testing.T) {
	t.Parallel()
	d := newStubDaemon(t)
	serveStop(d)
	asked := servePhases(d,
		api.ClusterStatus{Phase: "RUNNING"}, api.ClusterStatus{Phase: "STOPPING"},
		api.ClusterStatus{Phase: "STOPPING"}, api.ClusterStatus{Phase: "STOPPED"})

	r := runMain(t, false, "--socket", d.socket, "stop", "default/analytics", "--force", "--wait")

	want := "cancelled 2 job(s) on default/analytics: wordcount (a1b2c3d4e5f60718293a4b5c6d7e8f90), sessionize (0f9e8d7c6b5a49382716a5b4c3d2e1f0)\n" +
		"✓ default/analytics: spec.state set to STOPPED in specs/analytics.yaml\n" +
		"default/analytics: RUNNING\n" +
		"default/analytics: STOPPING\n" +
		"default/analytics: STOPPED\n" +
		"✓ default/analytics is STOPPED\n"
	if diff := cmp.Diff(want, r.stderr); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	if r.code != ExitOK || r.stdout != "" {
		t.Errorf("exit %d, stdout %q; want 0 and nothing", r.code, r.stdout)
	}
	if n := asked(); n != 4 {
		t.Errorf("asked for the cluster %d times, want 4 (once per phase seen)", n)
	}
}

func TestStopWaitFailsWhenTheClusterFails(t *testing.T) {
	t.Parallel()
	d := newStubDaemon(t)
	serveStop(d)
	servePhases(d, api.ClusterStatus{Phase: "STOPPING"},
		api.ClusterStatus{Phase: "FAILED", Message: "jobmanager did not stop", PhaseSince: time.Now().Add(time.Hour)})

	r := runMain(t, false, "--socket", d.socket, "stop", "analytics", "--force", "--wait")

	if r.code != ExitFailed || !strings.HasSuffix(r.stderr, "default/analytics: FAILED\nError: default/analytics failed: jobmanager did not stop\n") {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and the failure's message", r.code, r.stderr)
	}
}

func TestStopWaitGivesUpAfterTheTimeout(t *testing.T) {
	t.Parallel()
	d := newStubDaemon(t)
	serveStop(d)
	servePhases(d, api.ClusterStatus{Phase: "STOPPING"})

	r := runMain(t, false, "--socket", d.socket, "stop", "analytics", "--force", "--wait", "--timeout", "1s")

	want := "Error: timed out after 1s waiting for default/analytics to be STOPPED (phase STOPPING); the daemon goes on\n"
	if r.code != ExitFailed || !strings.HasSuffix(r.stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant 1 and %q", r.code, r.stderr, want)
	}
}

func TestStopWaitIgnoresAFailureFromBeforeTheRequest(t *testing.T) {
	t.Parallel()
	d := newStubDaemon(t)
	serveStop(d)
	servePhases(d,
		api.ClusterStatus{Phase: "FAILED", Message: "old failure", PhaseSince: time.Now().Add(-time.Hour)},
		api.ClusterStatus{Phase: "STOPPED"})

	r := runMain(t, false, "--socket", d.socket, "stop", "analytics", "--force", "--wait")

	if r.code != ExitOK || !strings.HasSuffix(r.stderr, "default/analytics: FAILED\ndefault/analytics: STOPPED\n✓ default/analytics is STOPPED\n") {
		t.Errorf("exit %d, stderr:\n%s\nwant 0 after FAILED then STOPPED", r.code, r.stderr)
	}
}

func TestStopOfAnUnknownClusterExitsOne(t *testing.T) {
	d := newStubDaemon(t)
	d.answer("POST /v1/clusters/team-a/nope/stop", http.StatusNotFound, api.Error{Error: "no cluster team-a/nope"})

	r := runMain(t, false, "--socket", d.socket, "stop", "-n", "team-a", "nope")

	want := "Error: no cluster team-a/nope (see flinkctl status)\n"
	if r.code != ExitFailed || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
}

func TestStartSetsRunningAndWaitsForIt(t *testing.T) {
	t.Parallel()
	d := newStubDaemon(t)
	d.answer("POST /v1/clusters/default/analytics/start", http.StatusOK,
		api.StateChange{File: "specs/analytics.yaml", DesiredState: "RUNNING", Changed: true})
	servePhases(d, api.ClusterStatus{Phase: "STARTING"}, api.ClusterStatus{Phase: "RUNNING"})

	r := runMain(t, false, "--socket", d.socket, "start", "analytics", "--wait")

	want := "✓ default/analytics: spec.state set to RUNNING in specs/analytics.yaml\n" +
		"default/analytics: STARTING\n" +
		"default/analytics: RUNNING\n" +
		"✓ default/analytics is RUNNING\n"
	if diff := cmp.Diff(want, r.stderr); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	if r.code != ExitOK {
		t.Errorf("exit %d, want 0", r.code)
	}
}

func TestStartOfARunningClusterSaysNothingChanged(t *testing.T) {
	d := newStubDaemon(t)
	d.answer("POST /v1/clusters/default/analytics/start", http.StatusOK,
		api.StateChange{File: "specs/analytics.yaml", DesiredState: "RUNNING"})

	r := runMain(t, false, "--socket", d.socket, "start", "analytics")

	want := "default/analytics: spec.state is already RUNNING in specs/analytics.yaml\n"
	if r.code != ExitOK || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want 0 and %q", r.code, r.stderr, want)
	}
}

func TestStartOfAnUnknownClusterExitsOne(t *testing.T) {
	d := newStubDaemon(t)
	d.answer("POST /v1/clusters/default/nope/start", http.StatusNotFound, api.Error{Error: "no cluster default/nope"})

	r := runMain(t, false, "--socket", d.socket, "start", "nope")

	if want := "Error: no cluster default/nope (see flinkctl status)\n"; r.code != ExitFailed || r.stderr != want {
		t.Errorf("exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}
}

func TestStopAndStartFlagParsing(t *testing.T) {
	stop, err := parse(t, newStopCmd, "-n", "team-a", "stop", "etl", "--force", "--wait", "--timeout", "90s")
	if err != nil {
		t.Fatal(err)
	}
	wantStop := stopOptions{Namespace: "team-a", Name: "etl", Force: true,
		waitOptions: waitOptions{Wait: true, Timeout: 90 * time.Second, Interval: waitPollInterval}}
	if diff := cmp.Diff(wantStop, *stop, cmp.AllowUnexported(stopOptions{}), cmpIgnoreIOAndClient); diff != "" {
		t.Errorf("stop options (-want +got):\n%s", diff)
	}

	start, err := parse(t, newStartCmd, "start", "team-b/etl")
	if err != nil {
		t.Fatal(err)
	}
	wantStart := startOptions{Namespace: "team-b", Name: "etl",
		waitOptions: waitOptions{Timeout: defaultWaitTimeout, Interval: waitPollInterval}}
	if diff := cmp.Diff(wantStart, *start, cmp.AllowUnexported(startOptions{}), cmpIgnoreIOAndClient); diff != "" {
		t.Errorf("start options (-want +got):\n%s", diff)
	}
}

func TestStopAndStartRejectBadUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"stop"}, "missing NAME: the cluster to stop"},
		{[]string{"start"}, "missing NAME: the cluster to start"},
		{[]string{"stop", "a", "b"}, "too many arguments"},
		{[]string{"stop", "a", "--timeout", "1m"}, "--timeout needs --wait"},
		{[]string{"start", "a", "--wait", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"stop", "a", "--timeout", "soon"}, `invalid argument "soon"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runMain(t, false, append([]string{"--socket", "/nonexistent/flinkd.sock"}, tt.args...)...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %d and %q", r.code, r.stderr, ExitUsage, tt.want)
			}
			if !strings.Contains(r.stderr, "Usage: flinkctl "+tt.args[0]+" NAME [flags]\n") {
				t.Errorf("stderr lacks the usage line:\n%s", r.stderr)
			}
		})
	}
}
