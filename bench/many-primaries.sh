#!/usr/bin/env bash
# Benchmark: worst-shard RTO against the number of primaries in a lost zone. Creates
# regions-examples/many-primaries (six eu-central shards; ports moved up by 5000 so a running
# topology is not disturbed) with one tenant per eu-central shard, then for each coordinator
# effect concurrency in BOUNDS (8 = default, 1 = shards one after another, the baseline) and
# each count N in COUNTS, ROUNDS times: switchovers put exactly N primaries in eu-central-a,
# that zone loses power under one writer per shard, every hit shard's RTO is measured (kill ->
# first write acknowledged by its new primary).
# Usage: bench/many-primaries.sh [ROUNDS] [COUNTS] [BOUNDS] [COORDINATOR_BINARY]
#   e.g. bench/many-primaries.sh 10 1,3,6 8,1
# COORDINATOR_BINARY runs the coordinator instead of this build's (an older build, to compare
# before and after; give bound 0 for it: started without --effect-concurrency).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product residency >/dev/null
swift build --product residency-many-primaries-bench >/dev/null
bin=$(pwd)/.build/debug/residency
coordinator_bin=${4:-$bin}
work=$(mktemp -d /tmp/residency-many-XXXXXX)
trap '"$bin" down --purge --state "$work/state" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/regions"
cp regions-examples/many-primaries/*.yaml "$work/regions/"
python3 - "$work/regions" <<'PY'
import re, sys, glob
for f in glob.glob(sys.argv[1] + "/*.yaml"):
    text = open(f).read()
    open(f, "w").write(re.sub(r'\b(2\d{4})\b', lambda m: str(int(m.group(1)) + 5000), text))
PY
"$bin" up --topology "$work/regions" --state "$work/state" >/dev/null
for i in 1 2 3 4 5 6; do "$bin" tenant create "bench-de-$i" --realm de --state "$work/state" >/dev/null; done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); $(date -u +%F)"
.build/debug/residency-many-primaries-bench "$work/state" "$coordinator_bin" "${1:-10}" "${2:-1,3,6}" "${3:-8,1}"
