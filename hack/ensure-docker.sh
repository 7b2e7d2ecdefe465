#!/usr/bin/env bash
# ensure-docker.sh makes sure a Docker engine answers, provisioning one when it can.
#
# - If `docker info` already answers: nothing to do.
# - Else, if we run as root on Debian/Ubuntu: install docker.io with apt (when dockerd is
#   missing), start dockerd in the background (log in $FLINKD_DOCKERD_LOG), and wait until
#   the engine answers.
# - Otherwise: stop with a message that says what to install.
#
# Idempotent: running it again with an engine up does nothing. Used by `make test`,
# `make run` and .ci/run.
set -euo pipefail

say() { printf 'ensure-docker: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

timeout_s=${FLINKD_DOCKER_WAIT:-120}
log=${FLINKD_DOCKERD_LOG:-/var/log/flinkd-dockerd.log}

answers() { docker info >/dev/null 2>&1; }

if ! command -v docker >/dev/null 2>&1 && [ "$(id -u)" != 0 ]; then
	die "no docker client found; install Docker Engine (https://docs.docker.com/engine/install/) and re-run"
fi

if command -v docker >/dev/null 2>&1 && answers; then
	say "docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown))"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	die "no Docker engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}; start Docker (or install it: on Debian 'sudo apt-get install docker.io'), or run this script as root so it can do that itself"
fi
if ! command -v apt-get >/dev/null 2>&1; then
	die "no Docker engine answers and this is not a Debian-like system; install Docker Engine and start it, then re-run"
fi

if ! command -v dockerd >/dev/null 2>&1; then
	aptlog=${FLINKD_APT_LOG:-/var/log/flinkd-apt.log}
	say "no dockerd found: installing docker.io with apt-get (about a minute; log: $aptlog)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >>"$aptlog" 2>&1 || say "apt-get update failed; trying the install anyway"
	if ! apt-get install -y docker.io >>"$aptlog" 2>&1; then
		tail -n 20 "$aptlog" >&2
		die "apt-get install docker.io failed (log: $aptlog)"
	fi
fi

if pgrep -x dockerd >/dev/null 2>&1; then
	say "dockerd is running but not answering yet; waiting"
else
	# A stale pid file from a dockerd that died with its session stops a new one from starting.
	if [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
		rm -f /var/run/docker.pid
	fi
	if [ -f /var/run/docker/containerd/containerd.pid ] && ! kill -0 "$(cat /var/run/docker/containerd/containerd.pid)" 2>/dev/null; then
		rm -f /var/run/docker/containerd/containerd.pid
	fi
	say "starting dockerd in the background (log: $log)"
	nohup dockerd >"$log" 2>&1 </dev/null &
	disown || true
fi

deadline=$((SECONDS + timeout_s))
until answers; do
	if ((SECONDS >= deadline)); then
		say "dockerd did not answer within ${timeout_s}s; last lines of $log:"
		tail -n 20 "$log" >&2 || true
		exit 1
	fi
	if ! pgrep -x dockerd >/dev/null 2>&1; then
		say "dockerd exited; last lines of $log:"
		tail -n 20 "$log" >&2 || true
		exit 1
	fi
	sleep 0.5
done
say "docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown))"
