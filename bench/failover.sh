#!/usr/bin/env bash
# Benchmark: failover RTO. Creates the default topology (regions/, ports moved up by
# 5000 so a running topology is not disturbed) with its coordinator and one tenant per
# shard, then runs residency-failover-bench: steady writes on every shard, a zone failure
# of one shard's primary per round (20 power losses, 5 partitions), 10 freezes of 300 ms,
# and a same-run baseline (no coordinator: the primary killed and restarted in place).
# Usage: bench/failover.sh [POWER_LOSS] [PARTITION] [FREEZE] [BASELINE]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
swift build --product residency >/dev/null
swift build --product residency-failover-bench >/dev/null
bin=.build/debug/residency
work=$(mktemp -d /tmp/residency-failover-XXXXXX)
trap '"$bin" down --purge --state "$work/state" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
shifted_topology "$work/regions"
"$bin" up --topology "$work/regions" --state "$work/state" >/dev/null
"$bin" tenant create bench-us --realm us --state "$work/state" >/dev/null
"$bin" tenant create bench-de --realm de --state "$work/state" >/dev/null
"$bin" tenant create bench-eu --realm eu --region eu-west --state "$work/state" >/dev/null
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); $(date -u +%F)"
.build/debug/residency-failover-bench "$work/state" "${1:-20}" "${2:-5}" "${3:-10}" "${4:-5}"
