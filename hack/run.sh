#!/usr/bin/env bash
# run.sh starts flinkd on ./specs against the local Docker engine. The configuration
# (hack/flinkd-run.yaml) lets the Docker target fall back to the local Flink stand-in image
# when a spec's image is neither present nor pullable (no registry can be reached here), and
# says so in each cluster's events. On a machine that can pull the real images, they are used.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
printf 'run: starting flinkd on %s/specs (Ctrl-C stops flinkd; the clusters keep running)\n' "$root" >&2
printf 'run: in another terminal: bin/flinkctl status --watch\n' >&2
exec bin/flinkd --specs specs --config hack/flinkd-run.yaml "$@"
