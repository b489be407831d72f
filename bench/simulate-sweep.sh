#!/usr/bin/env bash
# A large `simulate --random` sweep (what `swift test` runs on a bounded number of seeds):
# RUNS seeds of 120 simulated seconds with 3 random faults each, on every core, once
# without and once with a residency move per run. Prints wall time, runs per second and
# the failing seeds (each replayable: residency simulate --random --seed N ...).
# Usage: bench/simulate-sweep.sh [RUNS] [TOPOLOGY_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10000}"
topology="${2:-regions}"
swift build -c release --product residency >/dev/null
echo "$(date -u +%F), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
for move in "" "--move"; do
    start=$(date +%s.%N)
    set +e
    out=$(.build/release/residency simulate --random --seed 1 --runs "$runs" --jobs "$(nproc)" $move --topology "$topology" 2>&1 | tail -1)
    set -e
    end=$(date +%s.%N)
    echo "simulate --random --runs $runs ${move:-(no move)}: $out; $(awk -v s="$start" -v e="$end" -v r="$runs" 'BEGIN { printf "%.1f s wall, %.0f runs/s", e - s, r / (e - s) }')"
done
