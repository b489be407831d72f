#!/usr/bin/env bash
# Benchmark: Core alone (no servers), release build. The coordinator driver's step that sees a
# zone holding PRIMARIES primaries down and starts all their failovers; baseline in the same
# run: one primary. Usage: bench/core.sh [PRIMARIES] [REPETITIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product residency-core-bench >/dev/null
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); $(date -u +%F)"
.build/release/residency-core-bench "${1:-10000}" "${2:-20}"
