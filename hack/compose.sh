#!/usr/bin/env bash
# compose.sh makes sure `docker compose` (v2) answers, for the benchmarks' side-by-side runs.
# When it is missing, it builds docker compose v2 from its Go module into
# ~/.docker/cli-plugins/docker-compose: a throwaway module of ours under ~/.cache that
# requires github.com/docker/compose/v2 (COMPOSE_VERSION, default v2.40.3), since
# `go install` refuses compose's go.mod (it has exclude directives). Compose's code is
# never part of this repository. About 3 minutes cold on 2 cores. COMPOSE_REBUILD=1 builds
# it again.
set -euo pipefail
version=${COMPOSE_VERSION:-v2.40.3}
plugin=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-compose
say() { printf 'compose: %s\n' "$*" >&2; }

if [[ ${COMPOSE_REBUILD:-} != 1 ]] && docker compose version >/dev/null 2>&1; then
	say "$(docker compose version)"
	exit 0
fi
dir=${XDG_CACHE_HOME:-$HOME/.cache}/flinkd/compose-$version
mkdir -p "$dir" "$(dirname "$plugin")"
cd "$dir"
if [[ ! -f go.mod ]]; then
	cat >tools.go <<'GO'
//go:build tools

// Package tools pins docker compose v2 so that `go build` can build its CLI plugin.
package tools

import _ "github.com/docker/compose/v2/cmd"
GO
	go mod init flinkd.local/compose-build >/dev/null 2>&1
fi
say "building docker compose $version from its Go module in $dir (about 3 minutes cold)"
go get "github.com/docker/compose/v2@$version"
go mod tidy
go build -trimpath -ldflags "-X github.com/docker/compose/v2/internal.Version=$version" -o "$plugin.tmp" github.com/docker/compose/v2/cmd
mv "$plugin.tmp" "$plugin"
say "$(docker compose version)"
