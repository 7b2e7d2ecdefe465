package docker

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/network"

	"github.com/flinkd/flinkd/internal/runtime"
)

// Address pools: flinkd gives each cluster's bridge network a subnet of its own choosing
// instead of asking the engine for one. The engine's default pools hold about 30
// user-defined bridge networks (15 /16 in 172.17–31.0.0, 16 /20 in 192.168.0.0, less the
// default bridge); flinkd's hold as many as their configuration says, and a subnet is taken
// only when it overlaps no network of the engine (any driver, anyone's) and, for a local
// engine, no address or route of the host.

// AddressPool is a range that cluster networks are carved from: Base split into subnets
// with prefix length Size (as Docker's default-address-pools).
type AddressPool struct {
	Base netip.Prefix `json:"base"`
	Size int          `json:"size"`
}

func (p AddressPool) String() string { return fmt.Sprintf("base=%s,size=%d", p.Base, p.Size) }

// DefaultAddressPools is 10.200.0.0/14 in /22 subnets: 256 cluster networks, each with room
// for 1021 containers (the JobManager and spec.MaxTaskManagers TaskManagers). It keeps
// clear of Docker's own default pools.
func DefaultAddressPools() []AddressPool {
	return []AddressPool{{Base: netip.MustParsePrefix("10.200.0.0/14"), Size: 22}}
}

// ParseAddressPool reads "base=10.200.0.0/14,size=22" (dockerd's --default-address-pool
// syntax).
func ParseAddressPool(s string) (AddressPool, error) {
	var p AddressPool
	var base, size string
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		switch {
		case !ok:
			return p, fmt.Errorf("address pool %q: want base=CIDR,size=N", s)
		case k == "base":
			base = v
		case k == "size":
			size = v
		default:
			return p, fmt.Errorf("address pool %q: unknown key %q (want base and size)", s, k)
		}
	}
	if base == "" || size == "" {
		return p, fmt.Errorf("address pool %q: want base=CIDR,size=N", s)
	}
	var err error
	if p.Base, err = netip.ParsePrefix(base); err != nil {
		return p, fmt.Errorf("address pool %q: base: %w", s, err)
	}
	if p.Size, err = strconv.Atoi(size); err != nil {
		return p, fmt.Errorf("address pool %q: size %q is not a number", s, size)
	}
	return p, p.Validate()
}

// Validate checks that p is an IPv4 range whose subnets hold at least a JobManager and a
// TaskManager.
func (p AddressPool) Validate() error {
	switch {
	case !p.Base.IsValid() || !p.Base.Addr().Is4():
		return fmt.Errorf("address pool %s: base must be an IPv4 CIDR", p)
	case p.Base.Masked() != p.Base:
		return fmt.Errorf("address pool %s: base has host bits set (want %s)", p, p.Base.Masked())
	case p.Size < p.Base.Bits() || p.Size > 29:
		return fmt.Errorf("address pool %s: size must be from %d (the base's) to 29", p, p.Base.Bits())
	case p.Base.Addr().IsLoopback() || p.Base.Addr().IsMulticast() || p.Base.Addr().IsLinkLocalUnicast():
		return fmt.Errorf("address pool %s: base is not a unicast range bridges can use", p)
	}
	return nil
}

// ValidatePools checks each pool and that no two overlap.
func ValidatePools(pools []AddressPool) error {
	var errs []error
	for i, p := range pools {
		if err := p.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, q := range pools[:i] {
			if q.Base.IsValid() && p.Base.Overlaps(q.Base) {
				errs = append(errs, fmt.Errorf("address pools %s and %s overlap", q, p))
			}
		}
	}
	return errors.Join(errs...)
}

// pickSubnet returns a subnet of pools that overlaps nothing in taken: the first free one
// from position start (wrapping around) of all the pools' subnets in order. Starting where a
// cluster's key hashes to keeps daemons that create networks at once from racing for the
// same subnet.
func pickSubnet(pools []AddressPool, taken []netip.Prefix, start uint64) (netip.Prefix, bool) {
	var total uint64
	for _, p := range pools {
		total += uint64(1) << (p.Size - p.Base.Bits())
	}
	for i := range total {
		pos := (start + i) % total
		for _, p := range pools {
			count := uint64(1) << (p.Size - p.Base.Bits())
			if pos >= count {
				pos -= count
				continue
			}
			step := uint64(1) << (32 - p.Size)
			cand := netip.PrefixFrom(uint32Addr(uint32(uint64(ipv4Uint(p.Base.Addr()))+pos*step)), p.Size)
			if !slices.ContainsFunc(taken, cand.Overlaps) {
				return cand, true
			}
			break
		}
	}
	return netip.Prefix{}, false
}

// keyPosition is where in the pools cluster k's search for a subnet starts.
func keyPosition(k runtime.Key) uint64 {
	h := fnv.New64a()
	h.Write([]byte(k.String()))
	return h.Sum64()
}

func ipv4Uint(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uint32Addr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// subnets hands out cluster subnets; reserved holds those picked but not yet created, so
// that concurrent creations never pick the same one.
type subnets struct {
	pools     []AddressPool
	checkHost bool // the engine runs on this host: its addresses and routes count too
	mu        sync.Mutex
	reserved  map[netip.Prefix]bool
	// picked, when set (by tests), is told each subnet reserve hands out.
	picked func(netip.Prefix)
}

// reserve picks a free subnet given what is in use (and refused: subnets the engine said
// overlap since), and holds it until release.
func (s *subnets) reserve(k runtime.Key, inUse, refused []netip.Prefix) (netip.Prefix, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := slices.Concat(inUse, refused)
	for p := range s.reserved {
		taken = append(taken, p)
	}
	p, ok := pickSubnet(s.pools, taken, keyPosition(k))
	if !ok {
		names := make([]string, len(s.pools))
		for i, p := range s.pools {
			names[i] = p.String()
		}
		return p, fmt.Errorf("no free subnet left in the address pools (%s): each overlaps a network of the engine or of the host; add a pool (docker.addressPools, or flinkd --docker-address-pool)",
			strings.Join(names, "; "))
	}
	s.reserved[p] = true
	if s.picked != nil {
		s.picked(p)
	}
	return p, nil
}

func (s *subnets) release(p netip.Prefix) {
	s.mu.Lock()
	delete(s.reserved, p)
	s.mu.Unlock()
}

// inUse lists the IPv4 ranges a new network must not overlap: every subnet of every engine
// network and, for a local engine, every address and route of the host (all routing
// tables; default routes excepted, as they overlap everything).
func (r *Runtime) inUse(ctx context.Context) ([]netip.Prefix, error) {
	cctx, cancel := r.callCtx(ctx)
	nets, err := r.cli.NetworkList(cctx, network.ListOptions{})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list the engine's networks: %w", err)
	}
	var out []netip.Prefix
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() {
				out = append(out, p.Masked())
			}
		}
	}
	if !r.subnets.checkHost {
		return out, nil
	}
	host, err := hostPrefixes()
	if err != nil {
		return nil, err
	}
	return append(out, host...), nil
}

// hostPrefixes are this host's IPv4 interface networks and routes.
func hostPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list the host's addresses: %w", err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if p, ok := prefixOf(ipn); ok {
				out = append(out, p)
			}
		}
	}
	routes, err := hostRoutes()
	if err != nil {
		return nil, err
	}
	return append(out, routes...), nil
}

func prefixOf(ipn *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(ipn.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	if !a.Is4() {
		return netip.Prefix{}, false
	}
	ones, _ := ipn.Mask.Size()
	return netip.PrefixFrom(a, ones).Masked(), true
}

// takenOnHost checks, for an engine on this host, that the network just created (id, on
// subnet) is the only way into its range: another engine on the host may have put a bridge
// on the same range since flinkd looked (the engine checks its own networks only), and then
// the two clusters' addresses collide, one reachable from the other. If so, the network is
// removed (it is flinkd's, just made, empty) and the routes in the way are returned.
func (r *Runtime) takenOnHost(ctx context.Context, subnet netip.Prefix, id string) ([]string, error) {
	if !r.subnets.checkHost {
		return nil, nil
	}
	clash, err := routesElsewhere(subnet, bridgeName(id))
	if err != nil {
		r.log.Debug("could not check the new network's range on the host", "network_id", id, "err", err)
		return nil, nil
	}
	if len(clash) == 0 {
		return nil, nil
	}
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	if err := r.cli.NetworkRemove(cctx, id); err != nil {
		return nil, fmt.Errorf("remove network %s, whose subnet %s is also routed elsewhere on the host (%s): %w", id, subnet, strings.Join(clash, ", "), err)
	}
	return clash, nil
}

// bridgeName is the Linux bridge the engine makes for network id (the bridge driver's
// "br-" and the ID's first 12 characters; flinkd never sets com.docker.network.bridge.name).
func bridgeName(id string) string {
	if len(id) > 12 {
		id = id[:12]
	}
	return "br-" + id
}

// isPoolOverlap says whether the engine refused a subnet because it overlaps another
// network's (one created since the list, by another program or another flinkd).
func isPoolOverlap(err error) bool {
	return err != nil && strings.Contains(err.Error(), "overlaps")
}
