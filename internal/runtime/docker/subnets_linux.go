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
