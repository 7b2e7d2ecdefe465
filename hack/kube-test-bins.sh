#!/usr/bin/env bash
# kube-test-bins.sh builds a real Kubernetes control plane for the kube runtime's tests:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler (all from k8s.io/kubernetes)
# and kwok (simulated nodes), from the Go module proxy, in a throwaway tools module.
#
# The result is cached in a folder keyed on the versions, the Go version and this script's
# hash; a second run with the same key prints the folder and exits at once. The folder's path
# is printed on stdout (the last line), so callers can do:
#   export KUBEBUILDER_ASSETS=$(hack/kube-test-bins.sh)
#
# Cold build: about 10 minutes on 2 cores (≈3 GB RAM, ≈5 GB of Go caches); warm: seconds.
# Recipe and measurements: ../shared/reference/kube-test-cluster.md.
set -euo pipefail

K8S=${K8S_VERSION:-v1.37.2}  # k8s.io/kubernetes tag
KWOK=${KWOK_VERSION:-v0.8.0} # sigs.k8s.io/kwok tag
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
script_hash=$(sha256sum "$here/kube-test-bins.sh" | cut -c1-12)
gover=$(go env GOVERSION)
cache_root=${FLINKD_KUBE_BINS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flinkd/kube-test-bins}
OUT="$cache_root/$K8S-kwok$KWOK-$gover-$script_hash"

say() { printf 'kube-test-bins: %s\n' "$*" >&2; }

want="etcd kube-apiserver kube-controller-manager kube-scheduler kwok kwok-stages.yaml"
complete() { for f in $want; do [ -s "$OUT/$f" ] || return 1; done; }

if complete; then
	say "cached: $OUT"
	echo "$OUT"
	exit 0
fi

say "building Kubernetes $K8S test binaries and kwok $KWOK into $OUT (cold: ~10 min; cached afterwards)"
STG=v0.${K8S#v1.} # staging modules use v0.<minor>.<patch>
MINOR=$(echo "$K8S" | cut -d. -f2)
TOOLS=$(mktemp -d)
TMP_OUT=$(mktemp -d "$cache_root.tmp.XXXXXX" 2>/dev/null || { mkdir -p "$cache_root" && mktemp -d "$cache_root.tmp.XXXXXX"; })
trap 'rm -rf "$TOOLS" "$TMP_OUT"' EXIT
cd "$TOOLS"
export GOFLAGS=-mod=mod GOWORK=off

kmod=$(go mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
{
	echo "module tools"
	echo "go $(sed -n 's/^go //p' "$kmod")"
	echo "require k8s.io/kubernetes $K8S"
	echo "replace ("
	grep -E '^\s+k8s.io/[a-z0-9-]+ v0\.0\.0$' "$kmod" | awk -v v="$STG" '{print "\t"$1" => "$1" "v}'
	echo ")"
} >go.mod

PKGS="k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3 k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler sigs.k8s.io/kwok/cmd/kwok"
go get "sigs.k8s.io/kwok@$KWOK" >&2
{
	echo "//go:build tools"
	echo "package tools"
	for p in $PKGS; do echo "import _ \"$p\""; done
} >tools.go
go mod tidy >&2

# Same flags for every binary, always: shared packages then compile once, via the build cache.
LDF="-s -w -X k8s.io/component-base/version.gitVersion=$K8S -X k8s.io/component-base/version.gitMajor=1"
LDF="$LDF -X k8s.io/component-base/version.gitMinor=$MINOR -X k8s.io/client-go/pkg/version.gitVersion=$K8S"
for p in $PKGS; do
	name=$(basename "$p")
	[ "$name" = v3 ] && name=etcd
	say "go build $name"
	go build -trimpath -ldflags "$LDF" -o "$TMP_OUT/$name" "$p"
done

# kwok needs Stage definitions (node + pod lifecycle): the upstream "fast" stages.
S=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml \
	pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
	cat "$S/$f"
	echo "---"
done >"$TMP_OUT/kwok-stages.yaml"

rm -rf "$OUT"
mv "$TMP_OUT" "$OUT"
say "built: $OUT"
echo "$OUT"
