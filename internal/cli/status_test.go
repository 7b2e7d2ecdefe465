package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/yaml"

	"github.com/flinkd/flinkd/internal/api"
)

// someClusters returns the daemon's answer in the daemon's order (not flinkctl's): two
// healthy clusters, one whose file became invalid, a stopped one and a broken spec file.
// Creation times are relative to now so that ages on a terminal are stable.
func someClusters(now time.Time) []api.ClusterStatus {
	return []api.ClusterStatus{
		{
			Name: "etl", Namespace: "team-a", DeploymentTarget: "kube", DesiredState: "RUNNING", Phase: "SCALING",
			TaskManagers: api.TaskManagers{Desired: 3, Ready: 1}, RESTURL: "http://127.0.0.1:31002",
			Message: "waiting for 2 TaskManagers", File: "specs/etl.yaml", Image: "flink:1.20",
			FileErrors: []string{"spec.numberOfTaskManagers: must be at least 1", "spec.resources.jobmanager.memory: bad quantity \"lots\""},
			CreatedAt:  now.Add(-2*time.Hour - 5*time.Minute),
		},
		{
			File:       "specs/broken.yaml",
			FileErrors: []string{"line 3: mapping values are not allowed in this context", "kind: must be SessionCluster", "metadata.name: required"},
		},
		{
			Name: "batch", Namespace: "default", DeploymentTarget: "docker", DesiredState: "STOPPED", Phase: "STOPPED",
			File: "specs/batch.yaml", Image: "flink:1.19", CreatedAt: now.Add(-3*time.Minute - 5*time.Second),
		},
		{
			Name: "analytics", Namespace: "default", DeploymentTarget: "docker", DesiredState: "RUNNING", Phase: "RUNNING",
			TaskManagers: api.TaskManagers{Desired: 2, Ready: 2}, RESTURL: "http://127.0.0.1:32768",
			File: "specs/analytics.yaml", Image: "flink:1.20", CreatedAt: now.Add(-4*24*time.Hour - time.Hour),
			PhaseSince: now.Add(-4 * 24 * time.Hour),
		},
	}
}

// sortedClusters is someClusters in flinkctl's order: by namespace and name, broken files last.
func sortedClusters(now time.Time) []api.ClusterStatus {
	c := someClusters(now)
	return []api.ClusterStatus{c[3], c[2], c[0], c[1]}
}

// fixedTime is the creation time of the clusters shown in a pipe, where times are absolute.
var fixedTime = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func TestStatusOnATerminalPrintsAnAlignedTableSortedByNamespaceAndName(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(someClusters(time.Now()))

	r := runMain(t, true, "--socket", d.socket, "status")

	if r.code != ExitOK || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	checkGolden(t, "status_tty.golden", r.stdout)
}

func TestStatusInAPipePrintsTabSeparatedRowsWithoutHeaderAndAbsoluteTimes(t *testing.T) {
	d := newStubDaemon(t)
	clusters := someClusters(fixedTime)
	d.serveClusters(clusters)

	r := runMain(t, false, "--socket", d.socket, "status")

	want := "" +
		"analytics\tdefault\tdocker\tRUNNING\tRUNNING\t2/2\thttp://127.0.0.1:32768\t2026-04-27T09:00:00Z\t\n" +
		"batch\tdefault\tdocker\tSTOPPED\tSTOPPED\t0/0\t\t2026-05-01T09:56:55Z\t\n" +
		"etl\tteam-a\tkube\tRUNNING\tSCALING\t1/3\thttp://127.0.0.1:31002\t2026-05-01T07:55:00Z\t" +
		"waiting for 2 TaskManagers; file invalid: spec.numberOfTaskManagers: must be at least 1 (+1 more); keeps running its last good spec\n" +
		"-\t\t\t\t\t\t\t\tspecs/broken.yaml: line 3: mapping values are not allowed in this context (+2 more)\n"
	if diff := cmp.Diff(want, r.stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if r.code != ExitOK || r.stderr != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
}

func TestStatusNamespaceFlagLimitsTheListButKeepsFilesWithoutACluster(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(someClusters(fixedTime))

	r := runMain(t, false, "--socket", d.socket, "status", "-n", "team-a")

	var names []string
	for _, l := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		names = append(names, strings.SplitN(l, "\t", 2)[0])
	}
	if diff := cmp.Diff([]string{"etl", "-"}, names); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
}

func TestStatusJSONHasTheFieldsScriptsRead(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(someClusters(fixedTime))

	r := runMain(t, false, "--socket", d.socket, "status", "-o", "json")
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}

	var raw []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("stdout is not a JSON list: %v\n%s", err, r.stdout)
	}
	if len(raw) != 4 {
		t.Fatalf("got %d objects, want 4", len(raw))
	}
	for _, obj := range raw {
		for _, field := range []string{"name", "namespace", "deploymentTarget", "desiredState", "phase", "restURL", "message", "file"} {
			if _, ok := obj[field]; !ok {
				t.Errorf("object %v has no field %q", obj["name"], field)
			}
		}
		tms, _ := obj["taskManagers"].(map[string]any)
		for _, field := range []string{"desired", "ready"} {
			if _, ok := tms[field]; !ok {
				t.Errorf("object %v has no field taskManagers.%s", obj["name"], field)
			}
		}
	}
	if raw[2]["name"] != "etl" || raw[2]["taskManagers"].(map[string]any)["ready"] != 1.0 {
		t.Errorf("third object = %v, want etl with 1 ready TaskManager", raw[2])
	}

	var got []api.ClusterStatus
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sortedClusters(fixedTime), got); diff != "" {
		t.Errorf("decoded JSON (-want +got):\n%s", diff)
	}
}

func TestStatusJSONOfNoClustersIsAnEmptyList(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(nil)

	r := runMain(t, false, "--socket", d.socket, "status", "-o", "json")

	if r.stdout != "[]\n" || r.code != ExitOK {
		t.Errorf("exit %d, stdout %q; want 0 and []", r.code, r.stdout)
	}
}

func TestStatusTableOfNoClustersSaysSoOnStderr(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(nil)

	r := runMain(t, true, "--socket", d.socket, "status")

	if r.code != ExitOK || r.stdout != "" || !strings.Contains(r.stderr, "no clusters") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0, nothing, and a note on stderr", r.code, r.stdout, r.stderr)
	}
}

func TestStatusYAMLPrintsTheSameDataWithTheSameFieldNames(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(someClusters(fixedTime))

	r := runMain(t, false, "--socket", d.socket, "status", "-o", "yaml")
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	for _, s := range []string{"  name: analytics\n", "  desiredState: RUNNING\n", "  deploymentTarget: docker\n", "  restURL: http://127.0.0.1:32768\n", "    ready: 2\n"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("YAML lacks %q:\n%s", s, r.stdout)
		}
	}
	var got []api.ClusterStatus
	if err := yaml.UnmarshalStrict([]byte(r.stdout), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sortedClusters(fixedTime), got); diff != "" {
		t.Errorf("decoded YAML (-want +got):\n%s", diff)
	}
}

func TestStatusNameOnATerminalPrintsTheRowAndADetailBlock(t *testing.T) {
	d := newStubDaemon(t)
	now := time.Now()
	c := someClusters(now)[0]
	c.Refused = "spec.flinkVersion: cannot change while RUNNING (stop the cluster first)"
	c.Warnings = []string{"spec.resources.taskmanager.memory: 512m is less than Flink needs"}
	c.PhaseSince = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	d.serveClusters([]api.ClusterStatus{c})

	r := runMain(t, true, "--socket", d.socket, "status", "team-a/etl")

	if r.code != ExitOK || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}
	// The age in "Phase since" depends on today; the rest is golden.
	got := r.stdout
	if i := strings.Index(got, "2026-05-01T10:00:00Z ("); i >= 0 {
		j := strings.Index(got[i:], ")")
		got = got[:i] + "2026-05-01T10:00:00Z (AGE)" + got[i+j+1:]
	}
	checkGolden(t, "status_name_tty.golden", got)
}

func TestStatusNameWithOutputJSONPrintsOneObject(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(someClusters(fixedTime))

	r := runMain(t, false, "--socket", d.socket, "-n", "team-a", "status", "etl", "-o", "json")

	var got api.ClusterStatus
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout)
	}
	if diff := cmp.Diff(someClusters(fixedTime)[0], got); diff != "" {
		t.Errorf("object (-want +got):\n%s", diff)
	}
}

func TestStatusOfAnUnknownClusterExitsOne(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(someClusters(fixedTime))

	r := runMain(t, false, "--socket", d.socket, "status", "nope")

	want := "Error: no cluster default/nope (see flinkctl status)\n"
	if r.code != ExitFailed || r.stderr != want || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, %q", r.code, r.stdout, r.stderr, want)
	}
}

// watchDaemon serves version 1 (analytics RUNNING), then version 2 (analytics STOPPING) to
// a watch from version 1, and holds a watch from version 2 until the client goes away.
func watchDaemon(t *testing.T) *stubDaemon {
	t.Helper()
	d := newStubDaemon(t)
	v1 := someClusters(fixedTime)
	v2 := someClusters(fixedTime)
	v2[3].Phase = "STOPPING"
	v2[3].DesiredState = "STOPPED"
	d.handle("GET "+api.PathClusters, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("watch") {
		case "":
			w.Header().Set(api.HeaderVersion, "1")
			writeJSON(w, http.StatusOK, v1)
		case "1":
			w.Header().Set(api.HeaderVersion, "2")
			writeJSON(w, http.StatusOK, v2)
		default:
			<-r.Context().Done()
		}
	})
	return d
}

func TestStatusWatchInAPipePrintsOnlyTheRowsThatChangedUntilInterrupted(t *testing.T) {
	d := watchDaemon(t)

	stdout, stderr, interrupt := startMain(t, false, "--socket", d.socket, "status", "--watch")
	waitFor(t, "the watch to wait for version 2", func() bool {
		log := d.requestLog()
		return len(log) == 3 && log[2] == "GET /v1/clusters?watch=2"
	})
	if code := interrupt(); code != ExitOK {
		t.Errorf("exit %d after Ctrl-C, want 0; stderr %q", code, stderr.String())
	}

	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want the 4 rows and 1 changed row:\n%s", len(lines), stdout.String())
	}
	want := "analytics\tdefault\tdocker\tSTOPPED\tSTOPPING\t2/2\thttp://127.0.0.1:32768\t2026-04-27T09:00:00Z\t"
	if lines[4] != want {
		t.Errorf("last line = %q, want %q", lines[4], want)
	}
	if diff := cmp.Diff([]string{"GET /v1/clusters", "GET /v1/clusters?watch=1", "GET /v1/clusters?watch=2"}, d.requestLog()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestStatusWatchOnATerminalRedrawsTheTable(t *testing.T) {
	d := watchDaemon(t)

	stdout, _, interrupt := startMain(t, true, "--socket", d.socket, "status", "-w")
	waitFor(t, "the second table", func() bool { return strings.Count(stdout.String(), clearScreen) == 2 })
	if code := interrupt(); code != ExitOK {
		t.Errorf("exit %d after Ctrl-C, want 0", code)
	}

	screens := strings.Split(stdout.String(), clearScreen)
	last := screens[len(screens)-1]
	if !strings.HasPrefix(last, "NAME ") || !strings.Contains(last, "STOPPING") || strings.Count(last, "\n") != 5 {
		t.Errorf("last screen is not the header and 4 rows with analytics STOPPING:\n%s", last)
	}
}

func TestStatusWatchOfOneClusterPrintsItsObjectOnEveryChange(t *testing.T) {
	d := watchDaemon(t)

	stdout, _, interrupt := startMain(t, false, "--socket", d.socket, "status", "analytics", "-w", "-o", "json")
	waitFor(t, "the second object", func() bool { return strings.Contains(stdout.String(), "STOPPING") })
	interrupt()

	dec := json.NewDecoder(strings.NewReader(stdout.String()))
	var phases []string
	for dec.More() {
		var cs api.ClusterStatus
		if err := dec.Decode(&cs); err != nil {
			t.Fatalf("decode: %v\n%s", err, stdout.String())
		}
		phases = append(phases, cs.Name+" "+string(cs.Phase))
	}
	if diff := cmp.Diff([]string{"analytics RUNNING", "analytics STOPPING"}, phases); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}

func TestStatusFlagParsing(t *testing.T) {
	ignore := cmpopts.IgnoreFields(statusOptions{}, "IO", "Client")
	tests := []struct {
		args []string
		want statusOptions
	}{
		{[]string{"status"}, statusOptions{Output: outputTable}},
		{[]string{"status", "-o", "yaml", "--watch"}, statusOptions{Output: outputYAML, Watch: true}},
		{[]string{"status", "x"}, statusOptions{Namespace: "default", Name: "x", Output: outputTable}},
		{[]string{"status", "team-a/x", "-o", "json"}, statusOptions{Namespace: "team-a", Name: "x", Output: outputJSON}},
		{[]string{"-n", "team-a", "status"}, statusOptions{Namespace: "team-a", Output: outputTable}},
		{[]string{"status", "-n", "team-a", "x", "-w"}, statusOptions{Namespace: "team-a", Name: "x", Output: outputTable, Watch: true}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := parse(t, newStatusCmd, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, got, ignore); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusRejectsBadUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"status", "-o", "xml"}, `unknown output format "xml": allowed formats are table, json, yaml`},
		{[]string{"status", "a", "b"}, "too many arguments"},
		{[]string{"status", "Not_A_Name"}, `invalid cluster name "Not_A_Name"`},
		{[]string{"-n", "team-a", "status", "team-b/x"}, `cluster "team-b/x" is in namespace "team-b", but -n says "team-a"`},
		{[]string{"status", "--bogus"}, "unknown flag: --bogus"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parse(t, newStatusCmd, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if code := exitCode(err, new(strings.Builder)); code != ExitUsage {
				t.Errorf("exit code %d, want %d", code, ExitUsage)
			}
		})
	}
}

func TestShortDurationReadsLikeKubectlAges(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                            "0s",
		5 * time.Second:              "5s",
		3*time.Minute + time.Second:  "3m",
		2*time.Hour + 59*time.Minute: "2h",
		4*24*time.Hour + time.Hour:   "4d",
		800 * 24 * time.Hour:         "2y",
		-time.Minute:                 "<future>",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// BenchmarkStatusJSON1000 measures `flinkctl status -o json` end to end against a daemon
// answering 1,000 clusters: dial, request, decode, sort, encode.
func BenchmarkStatusJSON1000(b *testing.B) {
	now := time.Now()
	clusters := make([]api.ClusterStatus, 1000)
	for i := range clusters {
		clusters[i] = api.ClusterStatus{
			Name: fmt.Sprintf("cluster-%04d", i), Namespace: fmt.Sprintf("team-%d", i%7), DeploymentTarget: "docker",
			DesiredState: "RUNNING", Phase: "RUNNING", TaskManagers: api.TaskManagers{Desired: 4, Ready: 4},
			RESTURL: fmt.Sprintf("http://127.0.0.1:%d", 30000+i), File: fmt.Sprintf("specs/cluster-%04d.yaml", i),
			Image: "flink:1.20-scala_2.12-java17", CreatedAt: now.Add(-time.Duration(i) * time.Minute), PhaseSince: now,
		}
	}
	body, err := json.Marshal(clusters)
	if err != nil {
		b.Fatal(err)
	}
	d := newStubDaemon(b)
	d.handle("GET "+api.PathClusters, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(api.HeaderVersion, "1")
		w.Write(body)
	})
	args := []string{"--socket", d.socket, "status", "-o", "json"}
	var out countingWriter
	streams := IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out}

	b.ReportAllocs()
	for b.Loop() {
		if code := Main(b.Context(), args, streams); code != ExitOK {
			b.Fatalf("exit %d", code)
		}
	}
	b.ReportMetric(float64(out.n)/float64(b.N), "bytes-out/op")
}

type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func TestStatusAllOwnersListsTheClustersOtherDaemonsOwn(t *testing.T) {
	d := newStubDaemon(t)
	d.serveClusters(someClusters(fixedTime))
	d.answer("GET "+api.PathOthers, 200, api.Others{Clusters: []api.OtherCluster{
		{Target: "docker", Namespace: "default", Name: "analytics", Owner: "specs-0a1b2c3d4e5f60718293", Specs: "/srv/other/specs"},
		{Target: "docker", Namespace: "default", Name: "old", Owner: "0123456789abcdef"},
		{Target: "kube", Namespace: "team-b", Name: "etl", Owner: "x-1"},
	}, Errors: []string{"target lab: connection refused"}})
	d.answer("GET "+api.PathVersion, 200, api.Version{Owner: "specs-mine", Specs: "/srv/specs"})

	r := runMain(t, true, "--socket", d.socket, "status", "--all-owners", "-n", "default")
	if r.code != ExitOK {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	for _, want := range []string{
		"TARGET   NAMESPACE   NAME        OWNER",
		"docker   default     analytics   specs-0a1b2c3d4e5f60718293   /srv/other/specs",
		"docker   default     old         0123456789abcdef             (not recorded: an older flinkd's; flinkd --adopt 0123456789abcdef takes it over)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "team-b") {
		t.Errorf("-n default shows another namespace:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "analytics   default     docker") {
		t.Errorf("stdout lacks this daemon's own table:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "owner specs-mine") {
		t.Errorf("stderr does not say which owner this daemon is: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, "target lab: connection refused") {
		t.Errorf("stderr does not say which target could not be listed: %q", r.stderr)
	}

	r = runMain(t, false, "--socket", d.socket, "status", "--all-owners", "-o", "json")
	var got struct {
		Clusters    []api.ClusterStatus `json:"clusters"`
		OtherOwners []api.OtherCluster  `json:"otherOwners"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if len(got.Clusters) != 4 || len(got.OtherOwners) != 3 || got.OtherOwners[0].Specs != "/srv/other/specs" {
		t.Errorf("json: %+v", got)
	}
}
