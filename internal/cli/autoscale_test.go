package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/api"
)

func autoscaledClusters() []api.ClusterStatus {
	return []api.ClusterStatus{
		{
			Name: "jobs", Namespace: "default", DeploymentTarget: "default", DesiredState: "RUNNING", Phase: "RUNNING",
			TaskManagers: api.TaskManagers{Desired: 4, Ready: 4, Autoscale: &api.Autoscale{Min: 1, Max: 4, IdleTimeout: "2m0s",
				Limited: "job big (j1) wants 20 slots; 8 at the maximum of 4 TaskManagers"}},
			RESTURL: "http://127.0.0.1:32768", File: "specs/jobs.yaml", Image: "flink:1.20", CreatedAt: fixedTime,
			Message: "4/4 TaskManagers registered, 0/8 slots free; job big (j1) wants 20 slots; 8 at the maximum of 4 TaskManagers",
		},
		{
			Name: "plain", Namespace: "default", DeploymentTarget: "default", DesiredState: "RUNNING", Phase: "RUNNING",
			TaskManagers: api.TaskManagers{Desired: 2, Ready: 2}, File: "specs/plain.yaml", CreatedAt: fixedTime,
		},
	}
}

func TestStatusShowsTheCountAndTheBoundsOfAnAutoscaledCluster(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(autoscaledClusters())

	r := runMain(t, false, "--socket", d.socket, "status")
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var cells []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		cells = append(cells, strings.Split(line, "\t")[5])
	}
	if diff := cmp.Diff([]string{"4/4 (1–4 auto)", "2/2"}, cells); diff != "" {
		t.Errorf("TASKMANAGERS cells (-want +got):\n%s", diff)
	}

	r = runMain(t, false, "--socket", d.socket, "status", "jobs")
	for _, want := range []string{
		"Autoscale:   1 to 4 TaskManagers, idle timeout 2m0s\n",
		"Limited:     job big (j1) wants 20 slots; 8 at the maximum of 4 TaskManagers\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status jobs lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestStatusJSONHasTheAutoscaleFields(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(autoscaledClusters())

	r := runMain(t, false, "--socket", d.socket, "status", "-o", "json")
	var raw []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("stdout is not a JSON list: %v\n%s", err, r.stdout)
	}
	want := map[string]any{"desired": 4.0, "ready": 4.0, "autoscale": map[string]any{
		"min": 1.0, "max": 4.0, "idleTimeout": "2m0s", "limited": "job big (j1) wants 20 slots; 8 at the maximum of 4 TaskManagers"}}
	if diff := cmp.Diff(want, raw[0]["taskManagers"]); diff != "" {
		t.Errorf("taskManagers of an autoscaled cluster (-want +got):\n%s", diff)
	}
	if _, ok := raw[1]["taskManagers"].(map[string]any)["autoscale"]; ok {
		t.Errorf("a cluster that is not autoscaled has taskManagers.autoscale: %v", raw[1]["taskManagers"])
	}
}

func TestValidateShowsTheAutoscaleBounds(t *testing.T) {
	p := writeValidateSpec(t, t.TempDir(), "auto.yaml", `kind: SessionCluster
apiVersion: v1
metadata:
  name: auto
  annotations:
    flinkd.io/autoscale-max-taskmanagers: "6"
    flinkd.io/autoscale-idle-timeout: 2m
spec:
  state: RUNNING
  flinkVersion: "1.20"
`)
	code, stdout, stderr := execValidate(t, "", "validate", p)
	want := p + ": ok  default/auto RUNNING, image flink:1.20-scala_2.12, 1–6 taskmanagers (autoscaled, idle timeout 2m0s), target default\n"
	if code != ExitOK || stdout != want {
		t.Errorf("exit %d, stdout %q (want %q), stderr %q", code, stdout, want, stderr)
	}
}
