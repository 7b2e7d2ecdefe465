package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/google/go-cmp/cmp"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
)

func TestApplyCreatesJobManagerAndTaskManagersAsSpecified(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 2, "hash-one-0123456789abcdef")
	var ev recorder
	if err := r.Apply(t.Context(), c, ev.progress); err != nil {
		t.Fatalf("apply: %v", err)
	}
	obs := waitFor(t, r, k, "1 jobmanager and 2 taskmanagers running", up(2, c.Hash))

	if diff := cmp.Diff([]string{"taskmanager-1", "taskmanager-2"}, instanceIDs(obs)); diff != "" {
		t.Errorf("taskmanager IDs (-want +got):\n%s", diff)
	}
	if obs.Hash != c.Hash {
		t.Errorf("observed hash %q, want %q", obs.Hash, c.Hash)
	}
	if !strings.HasPrefix(obs.REST.URL, "http://127.0.0.1:") || obs.REST.Display != obs.REST.URL {
		t.Errorf("REST endpoint %+v: want http://127.0.0.1:<port> shown as is", obs.REST)
	}
	for _, inst := range append([]runtime.Instance{*obs.JobManager}, obs.TaskManagers...) {
		if inst.Restarts != 0 || inst.StartedAt.IsZero() || inst.State != runtime.StateRunning {
			t.Errorf("instance %s: restarts %d, started %v, state %s", inst.ID, inst.Restarts, inst.StartedAt, inst.State)
		}
	}
	if diff := cmp.Diff([]string{"Created", "Created", "Created", "Created"}, ev.reasons()); diff != "" {
		t.Errorf("progress reasons (-want +got):\n%s\nall: %q", diff, ev.all())
	}
	// Registered: the entrypoints have finished rewriting the files read below.
	waitOverview(t, obs.REST.URL, 2)

	base := runtime.ResourceName(k)
	for _, tc := range []struct {
		id, component string
		proc          runtime.Process
	}{
		{"jobmanager", "jobmanager", c.JobManager},
		{"taskmanager-1", "taskmanager", c.TaskManager},
		{"taskmanager-2", "taskmanager", c.TaskManager},
	} {
		t.Run(tc.id, func(t *testing.T) {
			ins, err := cli.ContainerInspect(t.Context(), base+"_"+tc.id)
			if err != nil {
				t.Fatalf("inspect: %v", err)
			}
			hc := ins.HostConfig
			if hc.Memory != tc.proc.MemoryBytes || hc.MemorySwap != tc.proc.MemoryBytes {
				t.Errorf("memory %d swap %d, want exactly %d", hc.Memory, hc.MemorySwap, tc.proc.MemoryBytes)
			}
			if hc.CPUPeriod != 100_000 || hc.CPUQuota != tc.proc.CPUMillis*100 || hc.NanoCPUs != 0 {
				t.Errorf("cpu period %d quota %d nanocpus %d, want 100000/%d/0", hc.CPUPeriod, hc.CPUQuota, hc.NanoCPUs, tc.proc.CPUMillis*100)
			}
			if hc.RestartPolicy.Name != container.RestartPolicyDisabled {
				t.Errorf("restart policy %q, want %q", hc.RestartPolicy.Name, container.RestartPolicyDisabled)
			}
			if diff := cmp.Diff([]string{tc.component}, []string(ins.Config.Cmd)); diff != "" {
				t.Errorf("command (-want +got):\n%s", diff)
			}
			env := ins.Config.Env
			for _, want := range []string{"KEY=VALUE", "JOB_MANAGER_RPC_ADDRESS=jobmanager"} {
				if !slices.Contains(env, want) {
					t.Errorf("env %q lacks %q", env, want)
				}
			}
			if slices.Contains(env, "JOB_MANAGER_RPC_ADDRESS=elsewhere") {
				t.Errorf("env %q keeps the user's JOB_MANAGER_RPC_ADDRESS", env)
			}
			wantLabels := map[string]string{
				"env":                   "testing",
				runtime.LabelManagedBy:  "flinkd",
				runtime.LabelName:       "flink",
				runtime.LabelInstance:   k.Name,
				runtime.LabelNamespace:  k.Namespace,
				runtime.LabelComponent:  tc.component,
				runtime.LabelSpecHash:   runtime.ShortHash(c.Hash),
				runtime.LabelInstanceID: tc.id,
				labelFullHash:           c.Hash,
				labelRestarts:           "0",
			}
			got := map[string]string{}
			for k := range wantLabels {
				got[k] = ins.Config.Labels[k]
			}
			if diff := cmp.Diff(wantLabels, got); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if _, ok := ins.Config.Labels["note"]; ok {
				t.Errorf("annotation became a label: %v", ins.Config.Labels)
			}
			ep, ok := ins.NetworkSettings.Networks[base]
			if !ok || len(ins.NetworkSettings.Networks) != 1 {
				t.Fatalf("networks %v, want only %s", keysOf(ins.NetworkSettings.Networks), base)
			}
			if !slices.Contains(ep.Aliases, tc.id) {
				t.Errorf("aliases %v lack %s", ep.Aliases, tc.id)
			}
			if tc.id == "jobmanager" {
				b := hc.PortBindings[restPort]
				if len(b) != 1 || b[0].HostIP != "127.0.0.1" || b[0].HostPort != "" {
					t.Errorf("REST port bindings %+v, want one on 127.0.0.1 with an engine-chosen port", b)
				}
			} else if len(hc.PortBindings) != 0 {
				t.Errorf("taskmanager publishes ports: %+v", hc.PortBindings)
			}

			// The configuration files, as the image's user sees them after its entrypoint ran.
			hdr, text := copyFile(t, cli, ins.ID, flinkconf.Dir+"/"+flinkconf.ConfigYAML)
			if hdr.Uid != flinkconf.ImageUID || hdr.Gid != flinkconf.ImageUID {
				t.Errorf("config.yaml owned by %d:%d, want %d:%d", hdr.Uid, hdr.Gid, flinkconf.ImageUID, flinkconf.ImageUID)
			}
			if hdr.Mode&0o600 != 0o600 {
				t.Errorf("config.yaml mode %o: not readable and writable by its owner", hdr.Mode)
			}
			conf := readConf(t, text)
			want := map[string]string{
				"taskmanager.numberOfTaskSlots":   "2",
				"jobmanager.memory.process.size":  "1600m",
				"taskmanager.memory.process.size": "1728m",
				"jobmanager.rpc.address":          "jobmanager",
				"jobmanager.rpc.port":             "6123",
				"rest.port":                       "8081",
				"rest.address":                    "jobmanager",
				"rest.bind-address":               "0.0.0.0",
				"jobmanager.bind-host":            "0.0.0.0",
				"taskmanager.bind-host":           "0.0.0.0",
				"blob.server.port":                "6124",
			}
			if tc.component == "taskmanager" {
				want["taskmanager.host"] = tc.id
				want["taskmanager.resource-id"] = tc.id
			}
			gotConf := map[string]string{}
			for key := range want {
				gotConf[key] = conf[key]
			}
			if diff := cmp.Diff(want, gotConf); diff != "" {
				t.Errorf("config.yaml entries (-want +got):\n%s\nfile:\n%s", diff, text)
			}
			// The cluster's JVM options come after the image's own (its module flags).
			if opts := conf["env.java.opts.all"]; !strings.HasPrefix(opts, "--add-exports=") || !strings.HasSuffix(opts, " -Dfoo=bar -Dbaz=qux") {
				t.Errorf("env.java.opts.all = %q, want the image's flags, then -Dfoo=bar -Dbaz=qux", opts)
			}
			hdr, text = copyFile(t, cli, ins.ID, flinkconf.Dir+"/"+flinkconf.Log4jConsoleFile)
			if hdr.Uid != flinkconf.ImageUID || hdr.Gid != flinkconf.ImageUID {
				t.Errorf("log4j-console.properties owned by %d:%d, want %d", hdr.Uid, hdr.Gid, flinkconf.ImageUID)
			}
			if diff := cmp.Diff(c.Log4jProperties, text); diff != "" {
				t.Errorf("log4j-console.properties (-want +got):\n%s", diff)
			}
		})
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// readConf reads a config.yaml as Flink's standard loader does (nested or flat keys).
func readConf(t *testing.T, text string) map[string]string {
	t.Helper()
	b, err := flinkconf.ParseStandard([]byte(text))
	if err != nil {
		t.Fatalf("config.yaml does not parse: %v\n%s", err, text)
	}
	m := map[string]string{}
	for _, k := range b.Keys() {
		m[k], _ = b.Get(k)
	}
	return m
}

// waitOverview waits until the JobManager's /overview reports n TaskManagers.
func waitOverview(t *testing.T, base string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var last string
	for {
		got, err := overview(t.Context(), base)
		if err == nil && got == n {
			return
		}
		last = fmt.Sprintf("taskmanagers=%d err=%v", got, err)
		if time.Now().After(deadline) {
			t.Fatalf("GET %s/overview never reported %d taskmanagers: %s", base, n, last)
		}
		poll(t, 200*time.Millisecond)
	}
}

func overview(ctx context.Context, base string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/overview", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /overview: %s", resp.Status)
	}
	var ov struct {
		TaskManagers int `json:"taskmanagers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ov); err != nil {
		return 0, err
	}
	return ov.TaskManagers, nil
}

func TestReapplyKeepsEveryContainerAndReportsNothing(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 2, "hash-one")
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	before := waitFor(t, r, k, "up", up(2, c.Hash))
	var ev recorder
	for range 2 {
		if err := r.Apply(t.Context(), c, ev.progress); err != nil {
			t.Fatalf("re-apply: %v", err)
		}
	}
	after := waitFor(t, r, k, "up", up(2, c.Hash))
	if diff := cmp.Diff(runtimeIDs(before), runtimeIDs(after)); diff != "" {
		t.Errorf("re-apply changed containers (-before +after):\n%s", diff)
	}
	if got := ev.all(); len(got) != 0 {
		t.Errorf("re-apply reported progress: %q", got)
	}
}

func TestScalingHonoursRemoveFirstAndLeavesTheOthersAlone(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 3, "hash-one")
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	first := waitFor(t, r, k, "3 up", up(3, c.Hash))

	c.TaskManagers, c.RemoveFirst = 1, []string{"taskmanager-2", "taskmanager-9"}
	var ev recorder
	if err := r.Apply(t.Context(), c, ev.progress); err != nil {
		t.Fatalf("scale down: %v", err)
	}
	down := waitFor(t, r, k, "1 up", up(1, c.Hash))
	if diff := cmp.Diff([]string{"taskmanager-1"}, instanceIDs(down)); diff != "" {
		t.Errorf("after removing taskmanager-2 first, then the highest (-want +got):\n%s", diff)
	}
	wantEvents := []string{
		"Removed: taskmanager-2 removed: scale down to 1 taskmanagers",
		"Removed: taskmanager-3 removed: scale down to 1 taskmanagers",
	}
	// Removals run concurrently: compare the events as a set.
	if diff := cmp.Diff(slices.Sorted(slices.Values(wantEvents)), slices.Sorted(slices.Values(ev.all()))); diff != "" {
		t.Errorf("scale-down events (-want +got):\n%s", diff)
	}
	for _, id := range []string{"jobmanager", "taskmanager-1"} {
		if runtimeIDs(down)[id] != runtimeIDs(first)[id] {
			t.Errorf("scale down replaced %s", id)
		}
	}

	c.TaskManagers, c.RemoveFirst = 3, nil
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("scale up: %v", err)
	}
	upAgain := waitFor(t, r, k, "3 up", up(3, c.Hash))
	if diff := cmp.Diff([]string{"taskmanager-1", "taskmanager-2", "taskmanager-3"}, instanceIDs(upAgain)); diff != "" {
		t.Errorf("scale up fills the lowest free indices (-want +got):\n%s", diff)
	}
	for _, id := range []string{"jobmanager", "taskmanager-1"} {
		if runtimeIDs(upAgain)[id] != runtimeIDs(first)[id] {
			t.Errorf("scale up replaced %s", id)
		}
	}
	waitOverview(t, upAgain.REST.URL, 3)
}

// A dead instance stays dead through an Apply that does not list it in Replace (the daemon is
// backing off), and is replaced, with the restart count Replace gives, by one that does.
func TestKilledTaskManagerStaysExitedUntilApplyReplacesIt(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 2, "hash-one")
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	before := waitFor(t, r, k, "up", up(2, c.Hash))
	victim := before.TaskManagers[1]
	if err := cli.ContainerKill(t.Context(), victim.RuntimeID, "SIGKILL"); err != nil {
		t.Fatalf("docker kill: %v", err)
	}
	dead := waitFor(t, r, k, "killed taskmanager exited", func(o runtime.Observed) bool {
		return len(o.TaskManagers) == 2 && o.TaskManagers[1].State == runtime.StateExited
	})
	got := dead.TaskManagers[1]
	if got.ID != victim.ID || got.RuntimeID != victim.RuntimeID || got.ExitCode != 137 || got.Ready || got.Restarts != 0 {
		t.Errorf("killed taskmanager observed as %+v", got)
	}
	if got.FinishedAt.IsZero() || got.FinishedAt.Before(got.StartedAt) {
		t.Errorf("killed taskmanager: finished at %v, started at %v; want its exit time", got.FinishedAt, got.StartedAt)
	}
	mustContain(t, "message of the killed taskmanager", got.Message, "exited with code 137", "last log lines:")

	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply without Replace: %v", err)
	}
	if held, err := r.Observe(t.Context(), k); err != nil || held.TaskManagers[1].RuntimeID != victim.RuntimeID || held.TaskManagers[1].State != runtime.StateExited {
		t.Fatalf("an apply that does not list the dead taskmanager in Replace touched it: %+v (err %v)", held.TaskManagers, err)
	}

	var ev recorder
	c.Replace = map[string]int{victim.ID: 1}
	if err := r.Apply(t.Context(), c, ev.progress); err != nil {
		t.Fatalf("apply after kill: %v", err)
	}
	after := waitFor(t, r, k, "replaced and up", up(2, c.Hash))
	repl := after.TaskManagers[1]
	if repl.ID != victim.ID || repl.RuntimeID == victim.RuntimeID || repl.Restarts != 1 {
		t.Errorf("replacement %+v: want ID %s, a new container, restarts 1", repl, victim.ID)
	}
	if runtimeIDs(after)["taskmanager-1"] != runtimeIDs(before)["taskmanager-1"] || after.JobManager.RuntimeID != before.JobManager.RuntimeID {
		t.Errorf("apply after a kill touched other instances")
	}
	if evs := ev.all(); len(evs) != 1 || !strings.HasPrefix(evs[0], "Replaced: taskmanager-2 replaced (restart 1): exited with code 137") {
		t.Errorf("events %q, want one Replaced event for taskmanager-2", evs)
	}
	waitOverview(t, after.REST.URL, 2)
}

func TestHashChangeRecreatesNetworkAndContainers(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 1, "hash-one")
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	before := waitFor(t, r, k, "up", up(1, c.Hash))
	netBefore := networkID(t, cli, k)
	c.Hash = "hash-two"
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply new hash: %v", err)
	}
	after := waitFor(t, r, k, "up with the new hash", up(1, c.Hash))
	for id, old := range runtimeIDs(before) {
		if runtimeIDs(after)[id] == old {
			t.Errorf("%s kept its container %s across a hash change", id, old)
		}
	}
	if networkID(t, cli, k) == netBefore {
		t.Errorf("network kept across a hash change")
	}
	waitOverview(t, after.REST.URL, 1)
}

func networkID(t *testing.T, cli *client.Client, k runtime.Key) string {
	t.Helper()
	nets, err := cli.NetworkList(t.Context(), network.ListOptions{Filters: keyFilter(runtime.Ownership{}, k)})
	if err != nil || len(nets) != 1 {
		t.Fatalf("networks of %s: %d (err %v), want 1", k, len(nets), err)
	}
	if nets[0].Labels[labelFullHash] == "" || nets[0].Labels[runtime.LabelSpecHash] == "" {
		t.Errorf("network labels %v lack the spec hash", nets[0].Labels)
	}
	return nets[0].ID
}

func TestDeleteLeavesNoLabelledContainerOrNetwork(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	other := testKey(t, cli)
	for _, key := range []runtime.Key{k, other} {
		if err := r.Apply(t.Context(), testCluster(t, key, 2, "hash-one"), nil); err != nil {
			t.Fatalf("apply %s: %v", key, err)
		}
	}
	waitFor(t, r, k, "up", up(2, "hash-one"))
	keys, err := r.List(t.Context())
	if err != nil || !slices.Contains(keys, k) || !slices.Contains(keys, other) {
		t.Fatalf("list = %v (err %v), want both %s and %s", keys, err, k, other)
	}
	if err := r.Delete(t.Context(), k); err != nil {
		t.Fatalf("delete: %v", err)
	}
	f := filters.NewArgs(filters.Arg("label", runtime.LabelInstance+"="+k.Name))
	ctrs, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: f})
	if err != nil || len(ctrs) != 0 {
		t.Errorf("containers left after delete: %d (err %v)", len(ctrs), err)
	}
	nets, err := cli.NetworkList(t.Context(), network.ListOptions{Filters: f})
	if err != nil || len(nets) != 0 {
		t.Errorf("networks left after delete: %d (err %v)", len(nets), err)
	}
	if obs, err := r.Observe(t.Context(), k); err != nil || obs.Exists {
		t.Errorf("observe after delete: %+v (err %v)", obs, err)
	}
	if keys, err := r.List(t.Context()); err != nil || slices.Contains(keys, k) || !slices.Contains(keys, other) {
		t.Errorf("list after delete = %v (err %v): want %s gone and %s kept", keys, err, k, other)
	}
	waitFor(t, r, other, "the other cluster untouched", up(2, "hash-one"))
	if err := r.Delete(t.Context(), k); err != nil {
		t.Errorf("delete of an absent cluster: %v", err)
	}
}

func TestForeignResourcesWithOurNamesAreNotOwned(t *testing.T) {
	r, cli := newRuntime(t, Config{})

	t.Run("container", func(t *testing.T) {
		k := testKey(t, cli)
		name := runtime.ResourceName(k) + "_jobmanager"
		id := foreignContainer(t, cli, k, name)
		err := r.Apply(t.Context(), testCluster(t, k, 1, "hash-one"), nil)
		if !errors.Is(err, runtime.ErrNotOwned) || !strings.Contains(err.Error(), name) {
			t.Fatalf("apply = %v, want an error wrapping ErrNotOwned naming %s", err, name)
		}
		ins, err := cli.ContainerInspect(t.Context(), id)
		if err != nil || ins.State.Status != container.StateCreated {
			t.Errorf("foreign container touched: %v (err %v)", ins.State, err)
		}
		if err := r.Delete(t.Context(), k); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if _, err := cli.ContainerInspect(t.Context(), id); err != nil {
			t.Errorf("delete removed the foreign container: %v", err)
		}
	})

	t.Run("network", func(t *testing.T) {
		k := testKey(t, cli)
		name := runtime.ResourceName(k)
		resp, err := cli.NetworkCreate(t.Context(), name, network.CreateOptions{Labels: map[string]string{testLabel: k.Name}})
		if err != nil {
			t.Fatalf("create foreign network: %v", err)
		}
		err = r.Apply(t.Context(), testCluster(t, k, 1, "hash-one"), nil)
		if !errors.Is(err, runtime.ErrNotOwned) || !strings.Contains(err.Error(), name) {
			t.Fatalf("apply = %v, want an error wrapping ErrNotOwned naming %s", err, name)
		}
		if _, err := cli.NetworkInspect(t.Context(), resp.ID, network.InspectOptions{}); err != nil {
			t.Errorf("foreign network touched: %v", err)
		}
	})
}

func TestTwoClustersRunOnSeparateNetworks(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k1, k2 := testKey(t, cli), testKey(t, cli)
	for _, k := range []runtime.Key{k1, k2} {
		if err := r.Apply(t.Context(), testCluster(t, k, 1, "hash-one"), nil); err != nil {
			t.Fatalf("apply %s: %v", k, err)
		}
	}
	o1 := waitFor(t, r, k1, "first up", up(1, "hash-one"))
	o2 := waitFor(t, r, k2, "second up", up(1, "hash-one"))
	for _, tc := range []struct {
		k   runtime.Key
		obs runtime.Observed
	}{{k1, o1}, {k2, o2}} {
		for id, cid := range runtimeIDs(tc.obs) {
			ins, err := cli.ContainerInspect(t.Context(), cid)
			if err != nil {
				t.Fatalf("inspect %s: %v", id, err)
			}
			if got := keysOf(ins.NetworkSettings.Networks); !slices.Equal(got, []string{runtime.ResourceName(tc.k)}) {
				t.Errorf("%s of %s is on networks %v", id, tc.k, got)
			}
		}
	}
	if o1.REST.URL == o2.REST.URL {
		t.Errorf("both clusters publish REST at %s", o1.REST.URL)
	}
	waitOverview(t, o1.REST.URL, 1)
	waitOverview(t, o2.REST.URL, 1)
}

func TestApplyAfterAnInterruptedCreateAdoptsTheContainer(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 1, "hash-one")
	// What a daemon killed between ContainerCreate and ContainerStart leaves behind: the
	// network, and a created, unconfigured taskmanager carrying flinkd's labels.
	netID, err := r.execute(t.Context(), r.own, c, "", operation{Kind: opCreateNetwork, Name: runtime.ResourceName(k)}, nil, nil)
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	tm := operation{Kind: opCreateContainer, Name: runtime.ResourceName(k) + "_taskmanager-1",
		InstanceID: "taskmanager-1", Component: runtime.ComponentTaskManager, NetworkID: netID}
	cfg, hc, nc := r.containerSpec(r.own, c, simImage, tm)
	resp, err := cli.ContainerCreate(t.Context(), cfg, hc, nc, nil, tm.Name)
	if err != nil {
		t.Fatalf("create half-done taskmanager: %v", err)
	}
	var ev recorder
	if err := r.Apply(t.Context(), c, ev.progress); err != nil {
		t.Fatalf("apply: %v", err)
	}
	obs := waitFor(t, r, k, "up", up(1, c.Hash))
	if obs.TaskManagers[0].RuntimeID != resp.ID {
		t.Errorf("taskmanager-1 is container %s, want the adopted %s", obs.TaskManagers[0].RuntimeID, resp.ID)
	}
	// Bring-ups run concurrently: the order of their reports is not fixed.
	if diff := cmp.Diff([]string{"Created", "Started"}, slices.Sorted(slices.Values(ev.reasons()))); diff != "" {
		t.Errorf("progress reasons (-want +got):\n%s\nall: %q", diff, ev.all())
	}
	// Registered: its entrypoint has finished rewriting the file (the rewrite truncates it
	// first, so a read while the container merely runs may see it empty).
	waitOverview(t, obs.REST.URL, 1)
	_, text := copyFile(t, cli, resp.ID, flinkconf.Dir+"/"+flinkconf.ConfigYAML)
	if got := readConf(t, text)["taskmanager.resource-id"]; got != "taskmanager-1" {
		t.Errorf("adopted taskmanager's taskmanager.resource-id = %q: configuration not copied before start", got)
	}
}

func TestApplyInterruptedAtAnyInstantConvergesWithoutDuplicates(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k := testKey(t, cli)
	c := testCluster(t, k, 2, "hash-one")
	// Cut Apply off after ever longer budgets: each run leaves whatever it reached (a
	// network, a created container, a copied configuration, a started one) for the next.
	for _, budget := range []time.Duration{0, 20 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond,
		700 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second} {
		ctx, cancel := context.WithTimeout(t.Context(), budget)
		err := r.Apply(ctx, c, nil)
		cancel()
		t.Logf("apply cut off after %v: %v", budget, err)
	}
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("apply after interruptions: %v", err)
	}
	obs := waitFor(t, r, k, "converged", up(2, c.Hash))
	ctrs, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: keyFilter(runtime.Ownership{}, k)})
	if err != nil || len(ctrs) != 3 {
		t.Errorf("labelled containers after convergence: %d (err %v), want 3", len(ctrs), err)
	}
	networkID(t, cli, k) // exactly one network
	if err := r.Apply(t.Context(), c, nil); err != nil {
		t.Fatalf("re-apply: %v", err)
	}
	again := waitFor(t, r, k, "still up", up(2, c.Hash))
	if diff := cmp.Diff(runtimeIDs(obs), runtimeIDs(again)); diff != "" {
		t.Errorf("re-apply after convergence changed containers (-before +after):\n%s", diff)
	}
	waitOverview(t, again.REST.URL, 2)
}
