//go:build !linux

package docker

import "net/netip"

// hostRoutes is empty off Linux: there the engine runs in a VM of its own (Docker Desktop),
// whose routes this host does not see; the host's addresses still count.
func hostRoutes() ([]netip.Prefix, error) { return nil, nil }

// routesElsewhere finds nothing off Linux (see hostRoutes).
func routesElsewhere(netip.Prefix, string) ([]string, error) { return nil, nil }
