#!/usr/bin/env bash
# Benchmark: the simulator (no servers), release build: RUNS seeded runs of SECONDS simulated
# seconds on TOPOLOGY, simulated events per second and the simulated RTO of zone power
# losses; baseline in the same run: the engine's floor (event queue and RNG only).
# Compare the RTO with bench/failover.sh's median on the same settings.
# Usage: bench/simulate.sh [TOPOLOGY_DIR] [RUNS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product residency-sim-bench >/dev/null
echo "$(date -u +%F), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
.build/release/residency-sim-bench "${1:-regions}" "${2:-20}" "${3:-600}"
