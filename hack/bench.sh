#!/usr/bin/env bash
# bench.sh runs flinkd's benchmarks; docs/benchmarks.md explains them and records figures.
#
#   bash hack/bench.sh            # all of them (about 25 minutes on 2 cores, compose built)
#   bash hack/bench.sh daemon     # issue #3: file write -> first runtime call, status -o json x1000
#   bash hack/bench.sh docker     # start 1+8 and scale 2->20: flinkd, the baseline (the engine's
#                                 # limit) and docker compose v2, side by side
#   bash hack/bench.sh idle       # 100 RUNNING clusters: idle CPU and RSS, status -o json,
#                                 # a restart that sees them all RUNNING again
#   bash hack/bench.sh autoscale  # issue #12: job submitted -> every task RUNNING on an autoscaled cluster
#
# BENCH_RUNS (default 5) is the number of runs of each side of the Docker comparisons.
# docker compose v2 is built from its Go module first when it is missing (hack/compose.sh).
# Everything printed is also appended to $BENCH_OUT (default: a new file under /tmp), with
# the load average before and after each step: the figures depend on what else the machine
# runs, so compare only figures measured side by side.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { printf 'bench: %s\n' "$*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

what=${1:-all}
case $what in
all | daemon | docker | idle | autoscale) ;;
*)
	say "unknown set '$what' (want all, daemon, docker, idle or autoscale)"
	exit 2
	;;
esac
runs=${BENCH_RUNS:-5}
out=${BENCH_OUT:-$(mktemp "${TMPDIR:-/tmp}/flinkd-bench.XXXXXX.txt")}

# step runs one command, shows it and its output, and appends both to $out.
step() {
	{
		printf '\n$ %s\n' "$*"
		printf '# %s, load average before: %s, cores: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(loadavg)" "$(nproc)"
	} | tee -a "$out"
	"$@" 2>&1 | tee -a "$out"
	printf '# load average after: %s\n' "$(loadavg)" | tee -a "$out"
}

bash hack/ensure-docker.sh
bash hack/sim-image.sh 1.20
if [[ $what == all || $what == docker ]]; then
	bash hack/compose.sh
fi
say "results also go to $out"
{
	printf '# flinkd benchmarks, %s (git %s)\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(git describe --always --dirty 2>/dev/null || echo unknown)"
	printf '# %s; docker %s; compose %s\n' "$(go version)" "$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown)" \
		"$(docker compose version --short 2>/dev/null || echo none)"
} >>"$out"

if [[ $what == all || $what == daemon ]]; then
	step go test -run '^$' -bench 'FileWriteToFirstRuntimeCall|StatusJSON1000' -benchtime 40x ./internal/daemon
fi
if [[ $what == all || $what == docker ]]; then
	step go test -run '^$' -bench 'StartToRunning|Scale2To20' -benchtime "${runs}x" -timeout 90m ./test/bench
fi
if [[ $what == all || $what == idle ]]; then
	step go test -run '^$' -bench 'DaemonIdle100Clusters' -benchtime 1x -timeout 60m ./test/bench
fi
if [[ $what == all || $what == autoscale ]]; then
	step go test -run '^$' -bench 'AutoscaleSubmitToRunning' -benchtime 10x -timeout 30m ./test/bench
fi
say "done; results in $out"
