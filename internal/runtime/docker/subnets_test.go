package docker

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/flinkd/flinkd/internal/runtime"
)

func TestPickSubnetTakesTheFirstFromItsPositionThatOverlapsNothing(t *testing.T) {
	pools := []AddressPool{
		{Base: netip.MustParsePrefix("10.222.0.0/23"), Size: 24},
		{Base: netip.MustParsePrefix("192.0.2.0/24"), Size: 26},
	}
	pfx := netip.MustParsePrefix
	for _, tc := range []struct {
		taken []string
		start uint64
		want  string
	}{
		{nil, 0, "10.222.0.0/24"},
		{[]string{"10.222.0.128/25"}, 0, "10.222.1.0/24"},
		{[]string{"10.0.0.0/8"}, 0, "192.0.2.0/26"},
		{[]string{"10.222.1.7/32", "10.222.0.0/24", "192.0.2.0/26"}, 0, "192.0.2.64/26"},
		{nil, 3, "192.0.2.64/26"},
		{[]string{"192.0.2.128/25"}, 4, "10.222.0.0/24"}, // wraps around
		{nil, 6 + 12, "10.222.0.0/24"},
		{[]string{"10.0.0.0/8", "192.0.0.0/16"}, 0, ""},
	} {
		var taken []netip.Prefix
		for _, s := range tc.taken {
			taken = append(taken, pfx(s))
		}
		got, ok := pickSubnet(pools, taken, tc.start)
		if tc.want == "" {
			if ok {
				t.Errorf("taken %v: got %s, want none left", tc.taken, got)
			}
			continue
		}
		if !ok || got != pfx(tc.want) {
			t.Errorf("taken %v: got %s (%v), want %s", tc.taken, got, ok, tc.want)
		}
	}
}

func TestParseAddressPool(t *testing.T) {
	p, err := ParseAddressPool("base=10.200.0.0/14,size=22")
	if err != nil || p.Base != netip.MustParsePrefix("10.200.0.0/14") || p.Size != 22 {
		t.Fatalf("ParseAddressPool = %+v, %v", p, err)
	}
	for _, bad := range []string{
		"10.200.0.0/14", "base=10.200.0.0/14", "base=10.200.0.0/14,size=x", "base=10.200.0.0/14,size=22x", "base=10.200.0.1/14,size=22",
		"base=10.200.0.0/14,size=12", "base=10.200.0.0/14,size=30", "base=fd00::/64,size=80",
		"base=127.0.0.0/16,size=24", "base=10.200.0.0/14,size=22,gw=1",
	} {
		if _, err := ParseAddressPool(bad); err == nil {
			t.Errorf("ParseAddressPool(%q) accepted", bad)
		}
	}
	if err := ValidatePools([]AddressPool{
		{Base: netip.MustParsePrefix("10.200.0.0/14"), Size: 22},
		{Base: netip.MustParsePrefix("10.201.0.0/16"), Size: 24},
	}); err == nil || !strings.Contains(err.Error(), "overlap") {
		t.Errorf("overlapping pools: %v, want an overlap error", err)
	}
	if err := ValidatePools(DefaultAddressPools()); err != nil {
		t.Errorf("default pools: %v", err)
	}
	// test/kubetest's pod networks use 10.213.0.0/16.
	for _, p := range DefaultAddressPools() {
		if p.Base.Overlaps(netip.MustParsePrefix("10.213.0.0/16")) {
			t.Errorf("default pool %s overlaps 10.213.0.0/16", p)
		}
	}
}

// inUseNow lists the engine's networks and the host's addresses and routes.
func inUseNow(t *testing.T, r *Runtime) []netip.Prefix {
	t.Helper()
	p, err := r.inUse(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func subnetOf(t *testing.T, r *Runtime, id string) netip.Prefix {
	t.Helper()
	n, err := r.cli.NetworkInspect(t.Context(), id, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(n.IPAM.Config) != 1 {
		t.Fatalf("network %s has IPAM %+v, want one subnet", n.Name, n.IPAM.Config)
	}
	return netip.MustParsePrefix(n.IPAM.Config[0].Subnet)
}

// TestFortyClusterNetworksOnAStockEngine creates 40 cluster networks with the default
// address pools, from two runtimes (two daemons) at once, on an engine whose own default
// pools hold about 30: each gets a subnet of its own that overlaps nothing that existed.
func TestFortyClusterNetworksOnAStockEngine(t *testing.T) {
	r1, cli := newRuntime(t, Config{Ownership: runtime.Ownership{Owner: "subnets-a"}})
	r2, _ := newRuntime(t, Config{Ownership: runtime.Ownership{Owner: "subnets-b"}})
	if !r1.subnets.checkHost {
		t.Fatalf("engine %s: the host's routes are not checked; the test wants a local engine", cli.DaemonHost())
	}
	before := inUseNow(t, r1)
	const n = 40
	keys := make([]runtime.Key, n)
	for i := range keys {
		keys[i] = testKey(t, cli)
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, k := range keys {
		r := r1
		if i%2 == 1 {
			r = r2
		}
		wg.Go(func() {
			ids[i], errs[i] = r.createNetwork(t.Context(), r.own, runtime.Cluster{Key: k, Hash: "hash-net"})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("network %d of %d: %v", i+1, n, err)
		}
	}
	var got []netip.Prefix
	for _, id := range ids {
		s := subnetOf(t, r1, id)
		if !slices.ContainsFunc(DefaultAddressPools(), func(p AddressPool) bool { return p.Base.Contains(s.Addr()) && s.Bits() == p.Size }) {
			t.Errorf("subnet %s is not one of the default pools' %v", s, DefaultAddressPools())
		}
		if i := slices.IndexFunc(before, s.Overlaps); i >= 0 {
			t.Errorf("subnet %s overlaps %s, in use before", s, before[i])
		}
		if i := slices.IndexFunc(got, s.Overlaps); i >= 0 {
			t.Errorf("subnet %s overlaps %s, given to another cluster", s, got[i])
		}
		got = append(got, s)
	}
	t.Logf("%d cluster networks: %v", n, got)
}

// TestSubnetsSkipWhatTheEngineAndTheHostUse: with a pool of four /24, one taken by a network
// that is not flinkd's and one by a host route, two clusters get the other two and a third
// is refused, saying why.
func TestSubnetsSkipWhatTheEngineAndTheHostUse(t *testing.T) {
	pool := AddressPool{Base: netip.MustParsePrefix("10.222.0.0/22"), Size: 24}
	r, cli := newRuntime(t, Config{AddressPools: []AddressPool{pool}})
	keys := []runtime.Key{testKey(t, cli), testKey(t, cli), testKey(t, cli)}

	foreign, err := cli.NetworkCreate(t.Context(), "flinkd-test-foreign-"+keys[0].Name, network.CreateOptions{
		Driver: "bridge", Labels: map[string]string{testLabel: keys[0].Name},
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{Subnet: "10.222.0.0/24"}}},
	})
	if err != nil {
		t.Fatalf("create a foreign network: %v", err)
	}
	t.Cleanup(func() { _ = cli.NetworkRemove(context.Background(), foreign.ID) })
	// A blackhole route sends nothing anywhere; it only occupies the range.
	route := &netlink.Route{Dst: &net.IPNet{IP: net.IPv4(10, 222, 1, 0), Mask: net.CIDRMask(24, 32)}, Type: unix.RTN_BLACKHOLE}
	if err := netlink.RouteAdd(route); err != nil {
		t.Fatalf("add a host route for 10.222.1.0/24: %v", err)
	}
	t.Cleanup(func() { _ = netlink.RouteDel(route) })

	var got []string
	for _, k := range keys[:2] {
		id, err := r.createNetwork(t.Context(), r.own, runtime.Cluster{Key: k, Hash: "hash-net"})
		if err != nil {
			t.Fatalf("create network of %s: %v", k, err)
		}
		got = append(got, subnetOf(t, r, id).String())
	}
	slices.Sort(got)
	if want := []string{"10.222.2.0/24", "10.222.3.0/24"}; !slices.Equal(got, want) {
		t.Errorf("subnets %v, want %v (10.222.0.0/24 is an engine network's, 10.222.1.0/24 a host route's)", got, want)
	}
	_, err = r.createNetwork(t.Context(), r.own, runtime.Cluster{Key: keys[2], Hash: "hash-net"})
	if err == nil || !strings.Contains(err.Error(), "no free subnet") || !strings.Contains(err.Error(), pool.String()) {
		t.Errorf("third network: %v, want no free subnet in %s", err, pool)
	}
}

// TestASubnetRoutedElsewhereOnTheHostAfterTheLookIsGivenUp: another engine on this host
// puts a bridge on the range flinkd picked between flinkd's look and the create (here a
// blackhole route, added as the subnet is picked; this engine accepts the subnet, as it
// checks only its own networks). flinkd removes the network it made and takes the next
// subnet, so the cluster's addresses are its own.
func TestASubnetRoutedElsewhereOnTheHostAfterTheLookIsGivenUp(t *testing.T) {
	pool := AddressPool{Base: netip.MustParsePrefix("10.223.0.0/23"), Size: 24}
	r, cli := newRuntime(t, Config{AddressPools: []AddressPool{pool}})
	if !r.subnets.checkHost {
		t.Fatal("the engine is not on this host (unix socket): this test needs one that is")
	}
	k := testKey(t, cli)
	var first netip.Prefix
	r.subnets.picked = func(p netip.Prefix) {
		if first.IsValid() {
			return
		}
		first = p
		route := &netlink.Route{Dst: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}, Type: unix.RTN_BLACKHOLE}
		if err := netlink.RouteAdd(route); err != nil {
			t.Errorf("add a host route for %s: %v", p, err)
			return
		}
		t.Cleanup(func() { _ = netlink.RouteDel(route) })
	}
	id, err := r.createNetwork(t.Context(), r.own, runtime.Cluster{Key: k, Hash: "hash-net"})
	if err != nil {
		t.Fatalf("create network of %s: %v", k, err)
	}
	if !first.IsValid() {
		t.Fatal("no subnet was picked")
	}
	got := subnetOf(t, r, id)
	if got == first || !pool.Base.Contains(got.Addr()) {
		t.Errorf("network on %s, want the other /24 of %s (%s is routed elsewhere)", got, pool, first)
	}
	nets, err := cli.NetworkList(t.Context(), network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", networkName(k)))})
	if err != nil {
		t.Fatal(err)
	}
	if len(nets) != 1 || nets[0].ID != id {
		t.Errorf("networks named %s: %d (want only %s: the one on %s removed)", networkName(k), len(nets), id, first)
	}
}

// probeEnv makes the test binary a network probe (see TestMain): it resolves and dials what
// the variable lists, from whatever network namespace it was started in.
const probeEnv = "FLINKD_TEST_NET_PROBE"

func TestMain(m *testing.M) {
	if spec := os.Getenv(probeEnv); spec != "" {
		os.Exit(netProbe(spec))
	}
	os.Exit(m.Run())
}

// netProbe reads "resolve:NAME" and "dial:HOST:PORT" items (space-separated) and prints one
// line per item: "resolve NAME = IP,IP" or "resolve NAME: error", "dial ADDR ok" or "dial
// ADDR: error". Names are asked of Docker's embedded DNS server (127.0.0.11), as a
// container does.
func netProbe(spec string) int {
	res := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, "127.0.0.11:53")
	}}
	for _, item := range strings.Fields(spec) {
		kind, arg, _ := strings.Cut(item, ":")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		switch kind {
		case "resolve":
			addrs, err := res.LookupHost(ctx, arg)
			if err != nil {
				fmt.Printf("resolve %s: %v\n", arg, err)
			} else {
				slices.Sort(addrs)
				fmt.Printf("resolve %s = %s\n", arg, strings.Join(addrs, ","))
			}
		case "dial":
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", arg)
			if err != nil {
				fmt.Printf("dial %s: %v\n", arg, err)
			} else {
				c.Close()
				fmt.Printf("dial %s ok\n", arg)
			}
		}
		cancel()
	}
	return 0
}

// TestClustersCannotReachEachOthersJobManager: from a TaskManager's network namespace,
// "jobmanager" (the name it registers at) is its own cluster's JobManager and reachable;
// the other cluster's JobManager is neither resolvable by its container name nor reachable
// at its address.
func TestClustersCannotReachEachOthersJobManager(t *testing.T) {
	r, cli := newRuntime(t, Config{})
	k1, k2 := testKey(t, cli), testKey(t, cli)
	obs := map[runtime.Key]runtime.Observed{}
	for _, k := range []runtime.Key{k1, k2} {
		if err := r.Apply(t.Context(), testCluster(t, k, 1, "hash-iso"), nil); err != nil {
			t.Fatalf("apply %s: %v", k, err)
		}
	}
	for _, k := range []runtime.Key{k1, k2} {
		obs[k] = waitFor(t, r, k, k.String()+" up", up(1, "hash-iso"))
		waitOverview(t, obs[k].REST.URL, 1)
	}
	jmIP := func(k runtime.Key) string {
		ins, err := cli.ContainerInspect(t.Context(), obs[k].JobManager.RuntimeID)
		if err != nil {
			t.Fatal(err)
		}
		ep := ins.NetworkSettings.Networks[networkName(k)]
		if ep == nil || ep.IPAddress == "" {
			t.Fatalf("jobmanager of %s has no address on %s", k, networkName(k))
		}
		return ep.IPAddress
	}
	ip1, ip2 := jmIP(k1), jmIP(k2)
	tm, err := cli.ContainerInspect(t.Context(), obs[k1].TaskManagers[0].RuntimeID)
	if err != nil || tm.State == nil || tm.State.Pid == 0 {
		t.Fatalf("taskmanager of %s: no process (%v)", k1, err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec := strings.Join([]string{
		"resolve:" + jobManagerAlias,
		"resolve:" + containerName(k2, jobManagerID),
		"dial:" + net.JoinHostPort(ip1, "6123"),
		"dial:" + net.JoinHostPort(ip2, "6123"),
	}, " ")
	cmd := exec.CommandContext(t.Context(), "nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", tm.State.Pid), "--", self)
	cmd.Env = append(os.Environ(), probeEnv+"="+spec)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("probe in %s's taskmanager: %v\n%s", k1, err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	t.Logf("probe from %s's taskmanager (jobmanagers: %s at %s, %s at %s):\n%s", k1, k1, ip1, k2, ip2, out.String())
	if len(lines) != 4 {
		t.Fatalf("probe printed %d lines, want 4", len(lines))
	}
	if want := "resolve jobmanager = " + ip1; lines[0] != want {
		t.Errorf("%q, want %q: the name resolves to the cluster's own JobManager only", lines[0], want)
	}
	if !strings.HasPrefix(lines[1], "resolve "+containerName(k2, jobManagerID)+":") {
		t.Errorf("%q: the other cluster's JobManager resolves", lines[1])
	}
	if !strings.HasSuffix(lines[2], " ok") {
		t.Errorf("%q: the cluster's own JobManager is not reachable (the probe itself is broken)", lines[2])
	}
	if strings.HasSuffix(lines[3], " ok") {
		t.Errorf("%q: the other cluster's JobManager is reachable", lines[3])
	}
}
