package docker

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// hostRoutes lists the host's IPv4 routes of every routing table, default routes excepted
// (they overlap everything).
func hostRoutes() ([]netip.Prefix, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list the host's routes: %w", err)
	}
	var out []netip.Prefix
	for _, rt := range routes {
		if rt.Dst == nil {
			continue // a default route
		}
		if p, ok := prefixOf(rt.Dst); ok && p.Bits() > 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

// routesElsewhere lists the host's IPv4 routes (every table) into p that do not go out
// through the interface named dev: a range another program took on this host between
// flinkd's look and the engine's create (another engine's bridge is invisible to this
// engine, which accepts the subnet and leaves two bridges on one range).
func routesElsewhere(p netip.Prefix, dev string) ([]string, error) {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("find the network's bridge %s: %w", dev, err)
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list the host's routes: %w", err)
	}
	var out []string
	for _, rt := range routes {
		if rt.Dst == nil || rt.LinkIndex == link.Attrs().Index {
			continue
		}
		q, ok := prefixOf(rt.Dst)
		if !ok || q.Bits() == 0 || !q.Overlaps(p) {
			continue
		}
		via := "no interface"
		if rt.LinkIndex > 0 {
			via = fmt.Sprintf("interface %d", rt.LinkIndex)
			if l, err := netlink.LinkByIndex(rt.LinkIndex); err == nil {
				via = l.Attrs().Name
			}
		}
		out = append(out, fmt.Sprintf("%s (%s)", q, via))
	}
	return out, nil
}
