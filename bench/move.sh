#!/usr/bin/env bash
# Benchmark: residency moves. Creates the default topology (regions/, ports moved up by
# 5000 so a running topology is not disturbed), then runs residency-move-bench: per run a
# tenant with ROWS_K thousand demo rows per table (jira issues + comments, confluence
# pages, two eligible apps: about a million rows) moves from realm us to realm eu while a
# writer keeps writing to it and another to a neighbour on the source shard, after a
# same-run baseline (a plain binary psql COPY pipe of the same rows between the same two
# servers). Prints per run and medians: write freeze, copy throughput vs baseline, lost
# writes, verification differences.
# Usage: bench/move.sh [RUNS] [ROWS_K]   (CONFIG=release for an optimized build of the bench
# driver, which runs the move's copy pipe; default debug)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
swift build --product residency >/dev/null
config=${CONFIG:-debug}
swift build -c "$config" --product residency-move-bench >/dev/null
bin=.build/debug/residency
work=$(mktemp -d /tmp/residency-move-XXXXXX)
trap '"$bin" down --purge --state "$work/state" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
shifted_topology "$work/regions"
"$bin" up --topology "$work/regions" --state "$work/state" >/dev/null
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); $(date -u +%F); $(pg_config --version)"
echo "build: $config"
".build/$config/residency-move-bench" "$work/state" "${1:-10}" "${2:-200}"
