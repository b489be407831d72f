#!/usr/bin/env bash
# Benchmark: the simulator, release build. Prints (see bench/SimBench/main.swift):
# RUNS seeded runs of SECONDS simulated seconds on TOPOLOGY (events/s against the engine's
# floor, the same-run baseline), 12 simulated months of a 1,000-shard topology, `simulate
# sla --months 12 --runs 1000`, a zone loss across 1,000 shards against one shard, and the
# simulated RTO of a zone power loss against the median of real drills measured in the
# same run (bench/failover.sh with POWER_LOSS power losses; 0 skips the real servers).
# Usage: bench/simulate.sh [TOPOLOGY_DIR] [RUNS] [SECONDS] [POWER_LOSS]
set -euo pipefail
cd "$(dirname "$0")/.."
real=""
if [ "${4:-10}" != 0 ]; then
    log=$(mktemp /tmp/residency-simulate-real-XXXXXX)
    bench/failover.sh "${4:-10}" 0 0 1 | tee "$log"
    # "power loss: 10 rounds, RTO median 1.055 s, max ..." -> 1055
    real=$(awk '/^power loss:/ { for (i = 1; i <= NF; i++) if ($i == "median") { printf "%.0f", $(i + 1) * 1000; exit } }' "$log")
    rm -f "$log"
fi
swift build -c release --product residency-sim-bench >/dev/null
echo "$(date -u +%F), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
.build/release/residency-sim-bench "${1:-regions}" "${2:-20}" "${3:-600}" $real
