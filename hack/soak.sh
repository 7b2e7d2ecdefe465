#!/usr/bin/env bash
# soak.sh is the long run of the chaos end-to-end test (test/e2e, TestChaosSIGKILLs...):
# FLINKD_CHAOS_KILLS (default 120) SIGKILLs of flinkd at random instants while spec files are
# created, scaled, stopped and removed, then every cluster must be as its file says, with no
# duplicate container or network, no orphan, no event lost, and a squatting container
# untouched. The seed is FLINKD_CHAOS_SEED (default: the time, printed, so that a failure can
# be replayed). The output is kept in bin/; the last line is the figure.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
say() { printf 'soak: %s\n' "$*" >&2; }

# make soak provisions the engine and the stand-in image first (the test builds the image
# only when it is missing).
bash hack/ensure-docker.sh
kills=${FLINKD_CHAOS_KILLS:-120}
seed=${FLINKD_CHAOS_SEED:-$(date +%s)}
mkdir -p bin
out=bin/soak-$(date +%Y%m%d-%H%M%S).log
say "$kills SIGKILLs of flinkd, seed $seed (output: $out)"
FLINKD_CHAOS_KILLS=$kills FLINKD_CHAOS_SEED=$seed \
	go test -count=1 -timeout "${SOAK_TIMEOUT:-90m}" -v -run '^TestChaosSIGKILLsWhileFilesChangeConverge$' ./test/e2e 2>&1 | tee "$out"
grep -h 'chaos: seed' "$out" | sed 's/^ *//'
