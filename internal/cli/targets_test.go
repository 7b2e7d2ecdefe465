package cli

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/api"
)

var someTargets = []api.Target{
	{Name: "default", Kind: "docker", Detail: "unix:///var/run/docker.sock (engine 20.10.24)", OK: true},
	{Name: "kube", Kind: "kubernetes", Detail: "https://127.0.0.1:6443 namespace flink", Error: "dial tcp 127.0.0.1:6443: connect: connection refused"},
}

func TestTargetsListsEachTargetAndSaysWhichDoNotAnswer(t *testing.T) {
	d := newStubDaemon(t)
	d.answer("GET "+api.PathTargets, http.StatusOK, someTargets)

	r := runMain(t, true, "--socket", d.socket, "targets")

	if r.code != ExitOK {
		t.Errorf("exit %d, want 0: a target that does not answer is data", r.code)
	}
	if want := "warning: 1 of 2 target(s) not answering: kube\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	checkGolden(t, "targets_tty.golden", r.stdout)
}

func TestTargetsInAPipeAndAsJSON(t *testing.T) {
	d := newStubDaemon(t)
	d.answer("GET "+api.PathTargets, http.StatusOK, someTargets[:1])

	r := runMain(t, false, "--socket", d.socket, "targets")
	if want := "default\tdocker\tunix:///var/run/docker.sock (engine 20.10.24)\tok\n"; r.code != ExitOK || r.stdout != want || r.stderr != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0, %q and nothing", r.code, r.stdout, r.stderr, want)
	}

	r = runMain(t, false, "--socket", d.socket, "targets", "-o", "json")
	var got []api.Target
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not a JSON list: %v\n%s", err, r.stdout)
	}
	if diff := cmp.Diff(someTargets[:1], got); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}

func TestTargetsTakesNoArguments(t *testing.T) {
	r := runMain(t, false, "--socket", "/nonexistent/flinkd.sock", "targets", "docker")
	if r.code != ExitUsage {
		t.Errorf("exit %d, stderr %q; want %d", r.code, r.stderr, ExitUsage)
	}
}
