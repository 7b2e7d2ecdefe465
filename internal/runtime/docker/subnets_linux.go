package docker

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// hostRoute is one IPv4 route of the host: where to, and out through which interface (0:
// none, e.g. a blackhole).
type hostRoute struct {
	dst  netip.Prefix
	link int
}

// listHostRoutes lists the host's IPv4 routes of every routing table, default routes
// excepted (they overlap everything).
func listHostRoutes() ([]hostRoute, error) {
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list the host's routes: %w", err)
	}
	var out []hostRoute
	for _, rt := range routes {
		if rt.Dst == nil {
			continue // a default route
		}
		if p, ok := prefixOf(rt.Dst); ok && p.Bits() > 0 {
			out = append(out, hostRoute{dst: p, link: rt.LinkIndex})
		}
	}
	return out, nil
}

// hostRoutes lists where the host's routes go (listHostRoutes).
func hostRoutes() ([]netip.Prefix, error) {
	routes, err := listHostRoutes()
	out := make([]netip.Prefix, len(routes))
	for i, rt := range routes {
		out[i] = rt.dst
	}
	return out, err
}

// routesElsewhere lists the host's routes into p that do not go out through the interface
// named dev: a range another program took on this host between flinkd's look and the
// engine's create (another engine's bridge is invisible to this engine, which accepts the
// subnet and leaves two bridges on one range).
func routesElsewhere(p netip.Prefix, dev string) ([]string, error) {
	link, err := netlink.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("find the network's bridge %s: %w", dev, err)
	}
	routes, err := listHostRoutes()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rt := range routes {
		if rt.link == link.Attrs().Index || !rt.dst.Overlaps(p) {
			continue
		}
		via := "no interface"
		if rt.link > 0 {
			via = fmt.Sprintf("interface %d", rt.link)
			if l, err := netlink.LinkByIndex(rt.link); err == nil {
				via = l.Attrs().Name
			}
		}
		out = append(out, fmt.Sprintf("%s (%s)", rt.dst, via))
	}
	return out, nil
}
