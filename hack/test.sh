#!/usr/bin/env bash
# test.sh runs every test with every real part they need, provisioning each first:
#   - a Docker engine (hack/ensure-docker.sh: installs and starts one on a fresh Debian machine),
#   - the Flink stand-in images (hack/sim-image.sh),
#   - the real-Flink test images (hack/flink-image.sh: Debian rootfs and Maven jars, cached),
#   - a Kubernetes control plane's binaries (hack/kube-test-bins.sh: built once, then cached).
# Tests that need these fail (never skip) when they are missing: FLINKD_REQUIRE_KUBE=1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
say() { printf 'test: %s\n' "$*" >&2; }

bash hack/ensure-docker.sh
bash hack/sim-image.sh 1.18
bash hack/sim-image.sh 1.20
bash hack/sim-image.sh 2.2
say "real-Flink test images (cold: ~2 min with Debian and Maven reachable; warm: under a second)"
bash hack/flink-image.sh 1.20 2.2
say "Kubernetes test binaries (cold build ~10-25 min on 2 cores, then cached)"
KUBEBUILDER_ASSETS=$(bash hack/kube-test-bins.sh | tail -n 1)
export KUBEBUILDER_ASSETS FLINKD_REQUIRE_KUBE=1
# testcontainers' engine, published-port host and reaper are set in one place, by the tests
# themselves: test/testenv/testcontainers.go (so `go test` alone behaves the same).

say "go test ./... (KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS)"
go test -count=1 -timeout "${TEST_TIMEOUT:-45m}" ${GOTESTFLAGS:-} ./...
