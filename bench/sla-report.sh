#!/usr/bin/env bash
# Benchmark: `residency report sla` on a large monitoring export (release build), time and
# peak memory from /usr/bin/time -v, ROUNDS runs, medians. Baseline in the same run: awk
# summing the same file's requests and failures per tenant, product and minute (reading and
# splitting every line, no checks). Target (issue 13): 2 million rows in <= 5 s and <= 100 MB.
# Usage: bench/sla-report.sh [ROWS] [ROUNDS] [RESIDENCY_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-2000000}"
rounds="${2:-3}"
binary="${3:-.build/release/residency}"
if [ "$binary" = ".build/release/residency" ]; then swift build -c release --product residency >/dev/null; fi
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$rows" "$work/export.csv" <<'PY'
import sys, random
rows, path = int(sys.argv[1]), sys.argv[2]
random.seed(13)
tenants = [f"tenant-{i}" for i in range(40)]
products = ["jira", "confluence"]
start = 1_793_491_200  # 2026-11-01T00:00:00Z
with open(path, "w") as f:
    f.write("timestamp,tenant,product,requests,failures\n")
    minute = 0
    written = 0
    while written < rows:
        stamp = start + (minute % 43_200) * 60
        t = __import__("time").gmtime(stamp)
        text = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{random.randrange(60):02d}Z"
        for tenant in tenants:
            for product in products:
                if written == rows:
                    break
                requests = random.randrange(50, 500)
                failures = requests if random.random() < 0.0005 else random.randrange(0, 3)
                f.write(f"{text},{tenant},{product},{requests},{failures}\n")
                written += 1
        minute += 1
PY
size=$(du -m "$work/export.csv" | cut -f1)
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); $(date -u +%F)"
echo "input: $rows rows, $size MB ($work/export.csv)"

measure() {  # prints "seconds kilobytes"
  /usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt" || true
  awk -F': ' '/Elapsed \(wall clock\)/ { split($2, p, ":"); s = (length(p) == 3) ? p[1]*3600 + p[2]*60 + p[3] : p[1]*60 + p[2] }
              /Maximum resident set size/ { k = $2 } END { printf "%.2f %d\n", s, k }' "$work/time.txt"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$work/tool"; : >"$work/base"
for round in $(seq "$rounds"); do
  measure "$binary" report sla --from "$work/export.csv" --month 2026-11 --topology regions >>"$work/tool"
  measure awk -F, 'NR > 1 { r[$2 FS $3 FS substr($1, 1, 16)] += $4; f[$2 FS $3 FS substr($1, 1, 16)] += $5 } END { print length(r) }' "$work/export.csv" >>"$work/base"
  echo "round $round: residency $(tail -1 "$work/tool" | awk '{ printf "%.2f s, %.0f MB", $1, $2 / 1024 }'); awk $(tail -1 "$work/base" | awk '{ printf "%.2f s, %.0f MB", $1, $2 / 1024 }')"
done
tool_s=$(cut -d' ' -f1 "$work/tool" | median); tool_kb=$(cut -d' ' -f2 "$work/tool" | median)
base_s=$(cut -d' ' -f1 "$work/base" | median); base_kb=$(cut -d' ' -f2 "$work/base" | median)
printf 'report sla on %d rows: median %.2f s, peak RSS %.0f MB (%d rounds)\n' "$rows" "$tool_s" "$(echo "$tool_kb / 1024" | bc -l)" "$rounds"
printf 'baseline, same run: awk per-minute sums: median %.2f s, peak RSS %.0f MB; ratio %.2f\n' "$base_s" "$(echo "$base_kb / 1024" | bc -l)" "$(echo "$tool_s / $base_s" | bc -l)"
