#!/usr/bin/env bash
# sim-image.sh builds the Flink stand-in image localhost/flink-sim:<version> (default 1.20)
# from test/flinksim: a static Go binary (CGO_ENABLED=0) as /docker-entrypoint.sh in a
# FROM scratch image, with the rootfs of test/flinksim/image (conf/config.yaml, or the legacy
# conf/flink-conf.yaml for versions before 1.19, and log4j-console.properties).
#
#   bash hack/sim-image.sh          # localhost/flink-sim:1.20
#   bash hack/sim-image.sh 1.18     # localhost/flink-sim:1.18 (legacy flink-conf.yaml)
#
# FLINK_SIM_IMAGE overrides the image name (tests build a throwaway tag with it).
#
# Idempotent: a rebuild of unchanged sources hits the build cache. Pulls nothing.
set -euo pipefail

say() { printf 'sim-image: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

version=${1:-1.20}
[[ $version =~ ^([0-9]+)\.([0-9]+)$ ]] || die "version must be major.minor (like 1.20), got '$version'"
major=${BASH_REMATCH[1]}
minor=${BASH_REMATCH[2]}
image=${FLINK_SIM_IMAGE:-localhost/flink-sim:$version}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src="$root/test/flinksim"

command -v docker >/dev/null 2>&1 || die "no docker client found; run: bash hack/ensure-docker.sh"
docker info >/dev/null 2>&1 || die "no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}; run: bash hack/ensure-docker.sh"
command -v go >/dev/null 2>&1 || die "no go toolchain found"

ctx=$(mktemp -d "${TMPDIR:-/tmp}/flink-sim-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

say "building the static binary (CGO_ENABLED=0 go build -trimpath ./test/flinksim)"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$ctx/docker-entrypoint.sh" ./test/flinksim)

say "assembling the build context in $ctx"
cp "$src/image/Dockerfile" "$ctx/Dockerfile"
cp -R "$src/image/rootfs" "$ctx/rootfs"
mkdir -p "$ctx/rootfs/tmp" "$ctx/rootfs/opt/flink/usrlib" "$ctx/rootfs/opt/flink/bin" \
	"$ctx/rootfs/opt/flink/lib" "$ctx/rootfs/opt/flink/log" "$ctx/rootfs/opt/flink/opt" \
	"$ctx/rootfs/opt/flink/plugins"
chmod 1777 "$ctx/rootfs/tmp"
if ((major < 1 || (major == 1 && minor < 19))); then
	say "Flink $version reads the legacy conf/flink-conf.yaml: shipping that instead of config.yaml"
	rm -f "$ctx/rootfs/opt/flink/conf/config.yaml"
	cp "$src/image/flink-conf.yaml" "$ctx/rootfs/opt/flink/conf/flink-conf.yaml"
fi
# Fixed timestamps keep the build cache valid across runs.
find "$ctx/rootfs" -exec touch -h -d '2000-01-01T00:00:00Z' {} +
touch -d '2000-01-01T00:00:00Z' "$ctx/docker-entrypoint.sh"

say "docker build -t $image (FROM scratch, legacy builder)"
DOCKER_BUILDKIT=0 docker build --quiet --build-arg "FLINK_VERSION=$version" -t "$image" "$ctx" >/dev/null
say "built $image ($(docker image inspect --format '{{.Id}}' "$image"))"
