#!/usr/bin/env bash
# sim-image.sh builds the Flink stand-in image localhost/flink-sim:<version> (default 1.20)
# from test/flinksim: a static Go binary (CGO_ENABLED=0) as /docker-entrypoint.sh in a
# FROM scratch image, with the rootfs of test/flinksim/image and the configuration file of
# that version's official image (test/flinksim/image/conf/<version>/):
#
#   1.18  conf/flink-conf.yaml (flink-dist 1.18.1's, after the Dockerfile's sed edits; its
#         comments left out), root stepping down to flink, Java 11
#   1.20  conf/config.yaml as the image has it: flink-dist 1.20.4's config.yaml after the
#         Dockerfile's config-parser-utils.sh run (nested, HashMap order, module flags in
#         env.java.opts.all), root stepping down to flink, Java 11 (flink:1.20 is java11)
#   2.2   the same from flink-dist 2.2.1, USER flink (9999) from the start, Java 17
#
#   bash hack/sim-image.sh          # localhost/flink-sim:1.20
#   bash hack/sim-image.sh 2.2      # localhost/flink-sim:2.2
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
[[ -d "$src/image/conf/$version" ]] || die "no configuration for Flink $version in $src/image/conf (have: $(ls "$src/image/conf" | tr '\n' ' '))"
cp "$src/image/conf/$version/"* "$ctx/rootfs/opt/flink/conf/"
# $JAVA_VERSION as eclipse-temurin sets it; only the major matters (the patch levels are
# illustrative).
user=0:0 java=jdk-11.0.29+7
if ((major >= 2)); then
	java=jdk-17.0.17+10
fi
if ((major > 2 || (major == 2 && minor >= 2))); then
	user=9999:9999
fi
# Fixed timestamps keep the build cache valid across runs.
find "$ctx/rootfs" -exec touch -h -d '2000-01-01T00:00:00Z' {} +
touch -d '2000-01-01T00:00:00Z' "$ctx/docker-entrypoint.sh"

say "docker build -t $image (FROM scratch, legacy builder)"
DOCKER_BUILDKIT=0 docker build --quiet --build-arg "FLINK_VERSION=$version" --build-arg "FLINK_USER=$user" \
	--build-arg "JAVA_VERSION=$java" -t "$image" "$ctx" >/dev/null
say "built $image ($(docker image inspect --format '{{.Id}}' "$image"))"
