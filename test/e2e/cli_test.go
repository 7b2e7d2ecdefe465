package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flinkd/flinkd/internal/api"
)

// flinkctl against a real flinkd on a temp socket: every command's output and exit code.
// The sections share one daemon and one cluster and run in order (stop, then start).
func TestFlinkctlAgainstRealDaemon(t *testing.T) {
	t.Parallel()
	f := newFlinkd(t)
	name := uniqueName("cli")
	key := "default/" + name
	file := f.write("cli.yaml", clusterYAML(name, "RUNNING", 1, ""))
	cs := f.waitRunning(name, 1)

	// status: without a terminal, tab-separated rows without a header.
	res := f.flinkctl("status")
	if res.Code != 0 {
		t.Fatalf("flinkctl status: %s", res)
	}
	rows := strings.Split(strings.TrimRight(res.Stdout, "\n"), "\n")
	if len(rows) != 1 {
		t.Fatalf("flinkctl status: want one row, got:\n%s", res.Stdout)
	}
	cells := strings.Split(rows[0], "\t")
	want := []string{name, "default", "default", "RUNNING", "RUNNING", "1/1", cs.RESTURL}
	if len(cells) < len(want)+2 {
		t.Fatalf("flinkctl status row has %d cells: %q", len(cells), rows[0])
	}
	for i, w := range want {
		if cells[i] != w {
			t.Errorf("flinkctl status cell %d = %q, want %q (row %q)", i, cells[i], w, rows[0])
		}
	}

	// status -o json: the fields scripts read.
	res = f.flinkctl("status", "-o", "json")
	if res.Code != 0 {
		t.Fatalf("flinkctl status -o json: %s", res)
	}
	var raw []map[string]any
	if err := json.Unmarshal([]byte(res.Stdout), &raw); err != nil || len(raw) != 1 {
		t.Fatalf("flinkctl status -o json: want a list of one (err %v):\n%s", err, res.Stdout)
	}
	for _, k := range []string{"name", "namespace", "deploymentTarget", "desiredState", "phase", "taskManagers", "restURL", "message", "file"} {
		if _, ok := raw[0][k]; !ok {
			t.Errorf("flinkctl status -o json lacks %q: %v", k, raw[0])
		}
	}
	tms, _ := raw[0]["taskManagers"].(map[string]any)
	for _, k := range []string{"desired", "ready"} {
		if _, ok := tms[k]; !ok {
			t.Errorf("flinkctl status -o json lacks taskManagers.%s: %v", k, raw[0])
		}
	}
	var list []api.ClusterStatus
	if err := json.Unmarshal([]byte(res.Stdout), &list); err != nil {
		t.Fatal(err)
	}
	got := list[0]
	if got.Name != name || got.Namespace != "default" || got.DeploymentTarget != "default" || got.DesiredState != "RUNNING" ||
		got.Phase != "RUNNING" || got.TaskManagers != (api.TaskManagers{Desired: 1, Ready: 1}) ||
		got.RESTURL != cs.RESTURL || got.File != file || !strings.Contains(got.Message, "1/1 TaskManagers registered") {
		t.Errorf("flinkctl status -o json: %+v", got)
	}

	// status NAME: the row, then the details.
	res = f.flinkctl("status", name)
	if res.Code != 0 || !strings.HasPrefix(res.Stdout, name+"\tdefault\t") || !strings.Contains(res.Stdout, "File:        "+file) ||
		!strings.Contains(res.Stdout, "Image:       localhost/flink-sim:1.20") {
		t.Errorf("flinkctl status %s: %s", name, res)
	}
	res = f.flinkctl("status", name, "-o", "json")
	var one api.ClusterStatus
	if res.Code != 0 || json.Unmarshal([]byte(res.Stdout), &one) != nil || one.Name != name {
		t.Errorf("flinkctl status %s -o json: want one object: %s", name, res)
	}

	// events: what happened, oldest first.
	res = f.flinkctl("events", name)
	if res.Code != 0 {
		t.Fatalf("flinkctl events: %s", res)
	}
	for _, reason := range []string{"SpecAdded", "Starting", "Created", "Running"} {
		if len(linesWith(res.Stdout, "\t"+reason+"\t")) == 0 {
			t.Errorf("flinkctl events has no %s event:\n%s", reason, res.Stdout)
		}
	}
	if i, j := strings.Index(res.Stdout, "\tSpecAdded\t"), strings.Index(res.Stdout, "\tRunning\t"); i < 0 || j < i {
		t.Errorf("flinkctl events is not oldest first:\n%s", res.Stdout)
	}

	// logs of the first TaskManager, not the JobManager's.
	res = f.flinkctl("logs", name, "--component", "taskmanager-1")
	if res.Code != 0 || !strings.Contains(res.Stdout, "Starting TaskManager") ||
		!strings.Contains(res.Stdout, "Successful registration at resource manager") ||
		strings.Contains(res.Stdout, "StandaloneSessionClusterEntrypoint") {
		t.Errorf("flinkctl logs %s --component taskmanager-1: %s", name, res)
	}
	res = f.flinkctl("logs", name, "--component", "taskmanager-7")
	if res.Code != 1 || !strings.Contains(res.Stderr, "taskmanager-7") {
		t.Errorf("flinkctl logs of a TaskManager that does not exist: want exit 1 naming it, got %s", res)
	}

	// targets: the default target is the local Docker engine, and it answers.
	res = f.flinkctl("targets")
	if res.Code != 0 || len(linesWith(res.Stdout, "default\tdocker\t")) != 1 || !strings.HasSuffix(strings.TrimSpace(res.Stdout), "\tok") {
		t.Errorf("flinkctl targets: %s", res)
	}

	// stop --wait and start --wait: data on stdout (none), progress on stderr.
	res = f.flinkctl("stop", name, "--wait")
	if res.Code != 0 {
		t.Fatalf("flinkctl stop --wait: %s", res)
	}
	for _, s := range []string{"✓ " + key + ": spec.state set to STOPPED in " + file, "✓ " + key + " is STOPPED"} {
		if !strings.Contains(res.Stderr, s) {
			t.Errorf("flinkctl stop --wait: stderr lacks %q:\n%s", s, res.Stderr)
		}
	}
	if res.Stdout != "" {
		t.Errorf("flinkctl stop --wait printed data on stdout: %q", res.Stdout)
	}
	if n := len(f.clusterContainers(name)); n != 0 {
		t.Errorf("%d containers left after stop --wait", n)
	}
	res = f.flinkctl("stop", name)
	if res.Code != 0 || !strings.Contains(res.Stderr, "spec.state is already STOPPED") {
		t.Errorf("a second stop: want exit 0 saying it is already STOPPED, got %s", res)
	}
	res = f.flinkctl("start", name, "--wait")
	if res.Code != 0 {
		t.Fatalf("flinkctl start --wait: %s", res)
	}
	for _, s := range []string{"✓ " + key + ": spec.state set to RUNNING in " + file, key + ": STARTING\n", "✓ " + key + " is RUNNING"} {
		if !strings.Contains(res.Stderr, s) {
			t.Errorf("flinkctl start --wait: stderr lacks %q:\n%s", s, res.Stderr)
		}
	}
	if res.Stdout != "" {
		t.Errorf("flinkctl start --wait printed data on stdout: %q", res.Stdout)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != clusterYAML(name, "RUNNING", 1, "") {
		t.Errorf("after stop and start the file differs from what was written (err %v):\n%s", err, b)
	}
	f.waitRunning(name, 1)

	// An unknown cluster fails with exit 1; a usage error exits 2.
	for _, args := range [][]string{{"status", "nope"}, {"stop", "nope"}, {"events", "nope"}} {
		res = f.flinkctl(args...)
		if res.Code != 1 || !strings.Contains(res.Stderr, "no cluster default/nope") {
			t.Errorf("flinkctl %v: want exit 1 and \"no cluster default/nope\", got %s", args, res)
		}
	}
	for _, args := range [][]string{{"stop"}, {"status", "a", "b"}, {"--bogus", "status"}, {"logs", name, "--component", "sidecar"}, {"frobnicate"}} {
		res = f.flinkctl(args...)
		if res.Code != 2 || !strings.HasPrefix(res.Stderr, "Error: ") {
			t.Errorf("flinkctl %v: want usage error exit 2, got %s", args, res)
		}
	}
}

// flinkctl validate checks files offline: the example specs pass, a bad file fails with
// one line per error naming the file and the field.
func TestFlinkctlValidateReportsFileAndFieldErrors(t *testing.T) {
	t.Parallel()
	requireE2E(t)
	specs, err := filepath.Glob(filepath.Join(bin.root, "specs", "*.yaml"))
	if err != nil || len(specs) == 0 {
		t.Fatalf("no specs/*.yaml (%v)", err)
	}
	res := runFlinkctl(t, append([]string{"validate"}, specs...)...)
	if res.Code != 0 {
		t.Fatalf("flinkctl validate specs/*.yaml: %s", res)
	}
	for _, s := range specs {
		if len(linesWith(res.Stdout, s+": ok")) != 1 {
			t.Errorf("flinkctl validate: no ok line for %s:\n%s", s, res.Stdout)
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("kind: SessionCluster\napiVersion: v1\nmetadata:\n  name: Bad_Name\nspec:\n  state: RUNNNG\n  flinkVersion: \"1.20\"\n  numberOfTaskManagers: -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res = runFlinkctl(t, "validate", specs[0], bad)
	if res.Code != 1 {
		t.Fatalf("flinkctl validate with a bad file: want exit 1, got %s", res)
	}
	for _, fld := range []string{"metadata.name", "spec.state", "spec.numberOfTaskManagers"} {
		if len(linesWith(res.Stderr, bad+": "+fld+": ")) != 1 {
			t.Errorf("flinkctl validate: no error line for %s in %s:\n%s", fld, bad, res.Stderr)
		}
	}
	if len(linesWith(res.Stdout, specs[0]+": ok")) != 1 {
		t.Errorf("flinkctl validate: the good file is not reported ok next to the bad one:\n%s", res.Stdout)
	}
}

// Without a daemon, flinkctl says in one line that flinkd is not running and how to start
// it, and exits 1.
func TestFlinkctlWithoutDaemonSaysHowToStartIt(t *testing.T) {
	t.Parallel()
	requireE2E(t)
	sock := filepath.Join(t.TempDir(), "flinkd.sock")
	for _, args := range [][]string{{"--socket", sock, "status"}, {"status"}, {"--socket", sock, "stop", "x"}, {"--socket", sock, "targets"}} {
		res := runFlinkctl(t, args...) // without --socket: $FLINKD_SOCKET, set to a missing path
		lines := strings.Split(strings.TrimRight(res.Stderr, "\n"), "\n")
		if res.Code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "flinkd is not running") || !strings.Contains(lines[0], "start it") {
			t.Errorf("flinkctl %v without a daemon: want exit 1 and one line \"flinkd is not running ... start it\", got %s", args, res)
		}
		if res.Stdout != "" {
			t.Errorf("flinkctl %v without a daemon printed on stdout: %q", args, res.Stdout)
		}
	}
}
