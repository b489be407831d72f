#!/usr/bin/env bash
# A longer fuzz campaign than the bounded run in `swift test`: CASES mutated topologies,
# scenarios and SLA inputs per seed (and CASES / 5 command lines), for each SEED.
# Prints each run's outcomes; exits non-zero when a case crashed, hung or was accepted
# where it must be refused. Usage: fuzz/run.sh [CASES] [SEEDS...]
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-5000}"
shift || true
seeds=("${@:-1 2 3}")
swift build --build-tests --scratch-path .build-fuzz >/dev/null
for seed in ${seeds[@]}; do
  RESIDENCY_FUZZ_CASES="$cases" RESIDENCY_FUZZ_SEED="$seed" \
    swift test --skip-build --scratch-path .build-fuzz --filter 'FuzzTests|CLIFuzzTests' 2>&1 | grep -E '^fuzz |✘|passed after|failed after' | grep -v '^✔ Test [a-z]'
done
