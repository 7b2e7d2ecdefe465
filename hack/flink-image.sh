#!/usr/bin/env bash
# flink-image.sh builds the real-Flink test images localhost/flink-real:<line> (1.20, 2.2)
# from Flink's own jars, as test/flinkreal describes:
#
#   bash hack/flink-image.sh          # both lines
#   bash hack/flink-image.sh 2.2      # one
#
# Inputs, all pinned: hack/flink-real.versions (Debian suite and packages, Flink, examples and
# log4j versions), hack/flink-real.lock (the sha256 of every jar the image gets), and
# test/flinkreal/image (Dockerfile, entrypoint, pom, conf). Nothing is pulled:
#   1. base: a Debian rootfs made with debootstrap (minbase, openjdk-17-jre-headless, ...)
#      from the machine's configured Debian mirror, trimmed (no docs, man pages, locales, apt
#      lists or caches), kept as a tarball and imported with `docker import` as
#      localhost/flink-real-base:<key>;
#   2. jars: Maven resolves test/flinkreal/image/pom.xml into lib/ and examples/streaming/
#      (offline first, so a warm cache needs no network), under Maven's strict checksum
#      policy (-C), and then every jar's sha256 must match hack/flink-real.lock. When the lock
#      has no entry for a line, or FLINK_REAL_LOCK=update is set, the lock is (re)written
#      from what Maven resolved instead; commit it.
#   3. image: `docker build` (legacy builder) FROM the base, labelled with the hash of all the
#      inputs above.
#
# Cached under ${XDG_CACHE_HOME:-~/.cache}/flinkd/flink-real (FLINK_REAL_CACHE overrides):
# rootfs-<key>.tar and the Maven repository m2/. A run whose image already carries the same
# input hash builds nothing. Needs root for debootstrap (installed with apt-get when missing)
# on a cold cache only; docker and mvn always.
set -euo pipefail

say() { printf 'flink-image: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/test/flinkreal/image
versions_file=$root/hack/flink-real.versions
lock_file=$root/hack/flink-real.lock
# shellcheck source=flink-real.versions
source "$versions_file"
cache=${FLINK_REAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flinkd/flink-real}
base_recipe=1 # bump when the rootfs recipe below changes

lines=("$@")
[ ${#lines[@]} -gt 0 ] || lines=(1.20 2.2)
for line in "${lines[@]}"; do
	case $line in
	1.20 | 2.2) ;;
	*) die "unknown line '$line': hack/flink-real.versions pins 1.20 and 2.2" ;;
	esac
done

command -v docker >/dev/null 2>&1 || die "no docker client found; run: bash hack/ensure-docker.sh"
docker info >/dev/null 2>&1 || die "no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}; run: bash hack/ensure-docker.sh"
mkdir -p "$cache"
# One build at a time per cache: test packages run in parallel, and each one may ask for the
# images (test/testenv RealImages); the second waits, then finds them up to date.
exec 9>"$cache/.lock"
flock 9

sha() { sha256sum | cut -c1-64; }

# --- 1. the base image --------------------------------------------------------------------
base_key=$(printf 'recipe=%s\nsuite=%s\npackages=%s\narch=%s\n' "$base_recipe" "$debian_suite" \
	"$debian_packages" "$(uname -m)" | sha | cut -c1-16)
base_image=localhost/flink-real-base:$base_key
rootfs_tar=$cache/rootfs-$base_key.tar

# The Debian mirror this machine's apt uses for the suite (deb822 .sources or a one-line
# list); empty: debootstrap's own default.
debian_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		awk -v s="$debian_suite" '
			/^[ \t]*$/ { uri = ""; ok = 0 }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) ok = 1 }
			uri != "" && ok { print uri; exit }' "$f"
	done | head -n 1 | grep . && return
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk -v s="$debian_suite" '$1 == "deb" { i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++; if ($i ~ /\]$/ && $2 ~ /^\[/) i++; if ($(i + 1) == s) { print $i; exit } }'
}

# need <command> <Debian package>: install the package with apt-get when the command is
# missing (as root, as on CI).
need() {
	command -v "$1" >/dev/null 2>&1 && return
	[ "$(id -u)" = 0 ] || die "$1 is missing, and installing it (apt-get install $2) needs root"
	say "installing $2 (apt-get)"
	apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; } ||
		die "apt-get install $2 failed"
}

make_rootfs() {
	local dir=$cache/rootfs-$base_key.tmp mirror
	need debootstrap debootstrap
	[ "$(id -u)" = 0 ] || die "debootstrap needs root to make the rootfs (cold cache: $rootfs_tar is missing)"
	mirror=$(debian_mirror || true)
	rm -rf "$dir"
	say "debootstrap --variant=minbase $debian_suite (${debian_packages// /, }) from ${mirror:-the default mirror of debootstrap}; ~2 min"
	local log=$cache/debootstrap-$base_key.log
	# shellcheck disable=SC2086
	if ! debootstrap --variant=minbase --include="${debian_packages// /,}" "$debian_suite" "$dir" $mirror >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		die "debootstrap failed (log: $log)"
	fi
	# Small where it is cheap: what a container never reads.
	rm -rf "$dir"/var/cache/apt/* "$dir"/var/lib/apt/lists/* "$dir"/usr/share/doc/* \
		"$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* \
		"$dir"/var/log/* "$dir"/tmp/* "$dir"/var/tmp/*
	tar -C "$dir" --numeric-owner -cf "$rootfs_tar.tmp" .
	mv "$rootfs_tar.tmp" "$rootfs_tar"
	rm -rf "$dir" "$log"
}

ensure_base() {
	if docker image inspect "$base_image" >/dev/null 2>&1; then
		return
	fi
	[ -s "$rootfs_tar" ] || make_rootfs
	say "docker import $rootfs_tar as $base_image"
	docker import --message "flinkd flink-real base ($debian_suite: $debian_packages)" "$rootfs_tar" "$base_image" >/dev/null
}

# --- 2. the jars --------------------------------------------------------------------------
# version <name> <line>: a pinned version from hack/flink-real.versions (flink_1_20, ...).
version() {
	local var=${1}_${2//./_}
	[ -n "${!var:-}" ] || die "hack/flink-real.versions sets no $var"
	echo "${!var}"
}

resolve_jars() { # line dir
	local line=$1 dir=$2 args log=$cache/maven-$1.log
	need mvn maven
	args=(-B -q -C -f "$dir/pom.xml" "-Dmaven.repo.local=$cache/m2"
		"-Dflink.version=$(version flink "$line")" "-Dflink.line=$line" "-Dlog4j.version=$log4j"
		"-Dexamples.version=$(version examples "$line")"
		"-Dlib.dir=$dir/opt/flink/lib" "-Dexamples.dir=$dir/opt/flink/examples/streaming"
		dependency:copy-dependencies dependency:copy@examples)
	cp "$src/pom.xml" "$dir/pom.xml"
	if mvn -o "${args[@]}" >"$log" 2>&1; then
		rm -f "$dir/pom.xml" "$log"
		return
	fi
	say "resolving Flink $(version flink "$line") with Maven (not all cached yet)"
	rm -rf "$dir/opt/flink/lib" "$dir/opt/flink/examples"
	if ! mvn "${args[@]}" >"$log" 2>&1; then
		grep -E 'ERROR|FATAL' "$log" | head -n 20 >&2
		die "Maven could not resolve the jars of Flink $(version flink "$line") (is Maven Central reachable? full log: $log)"
	fi
	rm -f "$dir/pom.xml" "$log"
}

# The jars as "<line> <path> <sha256>" lines, sorted.
jar_sums() { # line dir
	(cd "$2/opt/flink" && find lib examples -type f -name '*.jar' | LC_ALL=C sort | while read -r f; do
		printf '%s %s %s\n' "$1" "$f" "$(sha <"$f")"
	done)
}

check_lock() { # line dir
	local line=$1 dir=$2 want got
	got=$(jar_sums "$line" "$dir")
	want=$( (grep "^$line " "$lock_file" 2>/dev/null || true) | LC_ALL=C sort)
	if [ "${FLINK_REAL_LOCK:-}" = update ] || [ -z "$want" ]; then
		say "writing the sha256 of Flink $line's $(echo "$got" | wc -l) jars into hack/flink-real.lock (commit it)"
		{
			[ -s "$lock_file" ] || printf '%s\n' "# sha256 of every jar of localhost/flink-real:<line>, written by hack/flink-image.sh" \
				"# (FLINK_REAL_LOCK=update) from what Maven resolved, verified on every build." \
				"# <line> <path under /opt/flink> <sha256>"
			grep -v "^$line " "$lock_file" 2>/dev/null || true
			echo "$got"
		} >"$lock_file.tmp"
		mv "$lock_file.tmp" "$lock_file"
		return
	fi
	if [ "$want" != "$got" ]; then
		diff <(echo "$want") <(echo "$got") | sed 's/^/  /' >&2 || true
		die "the jars Maven resolved for $line differ from hack/flink-real.lock (< lock, > resolved); if the change is intended, rerun with FLINK_REAL_LOCK=update"
	fi
}

# --- 3. the image -------------------------------------------------------------------------
inputs_hash() { # line
	{
		echo "line=$1 base=$base_image"
		cat "$versions_file"
		grep "^$1 " "$lock_file" 2>/dev/null || true
		(cd "$src" && find . -type f | LC_ALL=C sort | while read -r f; do
			echo "$f $(sha <"$f")"
		done)
	} | sha
}

build_line() {
	local line=$1 image=localhost/flink-real:$1 hash have run_as=root ctx started=$SECONDS
	hash=$(inputs_hash "$line")
	have=$(docker image inspect --format '{{index .Config.Labels "flinkd.flink-real.inputs"}}' "$image" 2>/dev/null || true)
	if [ "$have" = "$hash" ]; then
		say "$image is up to date (inputs ${hash:0:12})"
		return
	fi
	ensure_base
	ctx=$(mktemp -d "$cache/context-$line.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$ctx'" EXIT
	resolve_jars "$line" "$ctx"
	check_lock "$line" "$ctx"
	hash=$(inputs_hash "$line") # the lock may just have been written

	mkdir -p "$ctx/opt/flink/conf" "$ctx/opt/flink/bin" "$ctx/opt/flink/log" "$ctx/opt/flink/opt" \
		"$ctx/opt/flink/plugins" "$ctx/opt/flink/usrlib"
	cp "$src/conf/$line/config.yaml" "$ctx/opt/flink/conf/config.yaml"
	cp "$src/conf/log4j-console.properties" "$ctx/opt/flink/conf/"
	cp "$src/bin/log4j-bash-utils.properties" "$ctx/opt/flink/bin/"
	cp "$src/Dockerfile" "$ctx/Dockerfile"
	install -m 0755 "$src/docker-entrypoint.sh" "$ctx/docker-entrypoint.sh"
	find "$ctx" -exec touch -h -d '2000-01-01T00:00:00Z' {} +
	[ "$line" = 1.20 ] || run_as=flink

	say "docker build -t $image (Flink $(version flink "$line"), FROM $base_image, legacy builder)"
	DOCKER_BUILDKIT=0 docker build --quiet --build-arg "BASE=$base_image" --build-arg "FLINK_LINE=$line" \
		--build-arg "RUN_AS=$run_as" --label "flinkd.flink-real.inputs=$hash" \
		--label "flinkd.flink-real.flink-version=$(version flink "$line")" -t "$image" "$ctx" >/dev/null
	rm -rf "$ctx"
	trap - EXIT
	say "built $image in $((SECONDS - started)) s ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))"
}

for line in "${lines[@]}"; do
	build_line "$line"
done
