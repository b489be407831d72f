#!/usr/bin/env bash
# Benchmark: the vault. Creates the default topology (regions/, ports moved up by 5000, no
# coordinator so that no scheduled backup interferes), fills one tenant of us-east-1 with
# ROWS_K thousand jira issues (about 300 bytes each), then measures, RUNS times each, with
# baselines from the same run:
#   - backup: `residency backup take` (pg_basebackup from a standby, zstd, AES-256-GCM, into
#     the vault, WAL archived) against single-core `zstd -1` compressing the same tar bytes
#     (read from the page cache), and against `pg_basebackup | zstd -1` into a file;
#   - restore: `residency backup restore --shard` (decrypt, decompress, untar, recover, promote)
#     against `pg_basebackup -X stream` of the same shard between the same servers;
#   - tenant restore: `residency backup restore --tenant` of the filled tenant to a point in time;
#   - WAL archive: the default drill's full write load (its fault left out) while every data node's
#     archive_status is sampled every 250 ms: the longest a finished segment waited (.ready),
#     and the vault's growth per second of that load.
# Prints per run and medians. Usage: bench/backup.sh [RUNS] [ROWS_K]   (CONFIG=release for an
# optimized build; default debug)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
config=${CONFIG:-debug}
swift build -c "$config" --product residency >/dev/null
bin=".build/$config/residency"
runs=${1:-3}
rows_k=${2:-1000}
work=$(mktemp -d /tmp/residency-backup-XXXXXX)
chmod 755 "$work"
trap '"$bin" down --purge --state "$work/state" >/dev/null 2>&1 || true; d=$(python3 -c "import json;print(json.load(open(\"$work/state/layout.json\"))[\"data_root\"])" 2>/dev/null || true); rm -rf "$work" ${d:+"$d"}' EXIT
shifted_topology "$work/regions"
"$bin" up --no-coordinator --topology "$work/regions" --state "$work/state" >/dev/null
data_root=$(python3 -c "import json;print(json.load(open('$work/state/layout.json'))['data_root'])")
export PGPASSFILE="$data_root/pgpass"
pgbin=$(pg_config --bindir)
run_as=()
[ "$(id -u)" -eq 0 ] && run_as=(runuser -u postgres --)
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); $(date -u +%F); $(pg_config --version); zstd $(zstd --version | grep -o 'v[0-9.]*')"
echo "build: $config"

shard=us-east-1
status_json=$("$bin" status --state "$work/state" --json)
read -r primary_port standby_port < <(python3 -c '
import json, sys
doc = json.loads(sys.stdin.read())
for s in [s for r in doc["regions"] for s in r["shards"]]:
    if s["shard"] == "us-east-1":
        nodes = s["nodes"]
        p = [n["port"] for n in nodes if n["role"] == "primary"][0]
        q = [n["port"] for n in nodes if n["role"] != "primary"][0]
        print(p, q)
' <<<"$status_json")
psql_primary=(psql -h 127.0.0.1 -p "$primary_port" -U residency -d residency -qAt)
# The server ends a backup only once its last WAL segment is archived: while a baseline runs, a
# loop asks the primary to finish its segment (as `backup take` does), or it would wait for
# archive_timeout.
nudge() { while true; do "${psql_primary[@]}" -c "SELECT pg_logical_emit_message(false, 'bench', 'x')" -c "SELECT pg_switch_wal()" >/dev/null 2>&1; sleep 0.5; done; }

"$bin" tenant create bench --realm us --state "$work/state" >/dev/null
echo "filling tenant bench with ${rows_k}k jira issues ..."
"${psql_primary[@]}" -c "INSERT INTO jira.issues (tenant_id, key, summary)
  SELECT 'bench', 'BENCH-' || g, md5(g::text) || ' ' || repeat('a summary of an issue with some words ', 6) || (g % 977)
  FROM generate_series(1, ${rows_k} * 1000) g" >/dev/null
"${psql_primary[@]}" -c "CHECKPOINT" >/dev/null
db_bytes=$("${psql_primary[@]}" -c "SELECT sum(pg_database_size(datname)) FROM pg_database")
echo "cluster size: $((db_bytes / 1048576)) MiB"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }

# --- baselines: the same tar, zstd -1 on one core; pg_basebackup | zstd -1
tar="$work/base.tar"
nudge & nudger=$!
"$pgbin/pg_basebackup" -d "host=127.0.0.1 port=$standby_port user=residency_replication dbname=postgres" -D - -Ft -X none -c fast --no-manifest -w >"$tar" 2>/dev/null
kill "$nudger"; wait "$nudger" 2>/dev/null || true
tar_bytes=$(stat -c %s "$tar")
cat "$tar" >/dev/null
zstd_times=(); pipe_times=(); backup_times=(); backup_bytes=(); stored=()
for i in $(seq "$runs"); do
  t0=$(now); zstd -1 -T1 -q -c "$tar" >/dev/null; t1=$(now); zstd_times+=("$(elapsed "$t0" "$t1")")
  nudge & nudger=$!
  t0=$(now)
  "$pgbin/pg_basebackup" -d "host=127.0.0.1 port=$standby_port user=residency_replication dbname=postgres" -D - -Ft -X none -c fast --no-manifest -w 2>/dev/null | zstd -1 -T1 -q -c >"$work/pipe.tar.zst"
  t1=$(now); pipe_times+=("$(elapsed "$t0" "$t1")")
  kill "$nudger"; wait "$nudger" 2>/dev/null || true
  t0=$(now); out=$("$bin" backup take --shard "$shard" --state "$work/state" --json); t1=$(now)
  backup_times+=("$(elapsed "$t0" "$t1")")
  backup_bytes+=("$(python3 -c 'import json,sys; d=json.load(sys.stdin)["backup"]; print(d["objects"][0]["plain_bytes"], d["objects"][0]["stored_bytes"])' <<<"$out")")
  echo "backup run $i: residency backup take ${backup_times[-1]} s (${backup_bytes[-1]% *} bytes -> ${backup_bytes[-1]#* }); zstd -1 of the tar ${zstd_times[-1]} s; pg_basebackup | zstd -1 ${pipe_times[-1]} s"
done
plain=${backup_bytes[0]% *}; stored_bytes=${backup_bytes[0]#* }
zm=$(printf '%s\n' "${zstd_times[@]}" | median); pm=$(printf '%s\n' "${pipe_times[@]}" | median); bm=$(printf '%s\n' "${backup_times[@]}" | median)
python3 - "$plain" "$stored_bytes" "$tar_bytes" "$zm" "$pm" "$bm" <<'PY'
import sys
plain, stored, tar, zm, pm, bm = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), *map(float, sys.argv[4:])
mib = 1048576
print(f"backup: median {bm:.2f} s = {plain/mib/bm:.0f} MiB/s of shard data; zstd -1 (1 core) on the same {tar/mib:.0f} MiB: {zm:.2f} s = {tar/mib/zm:.0f} MiB/s; ratio {tar/mib/zm and (plain/bm)/(tar/zm):.2f}")
print(f"        pg_basebackup | zstd -1: {pm:.2f} s = {tar/mib/pm:.0f} MiB/s; ratio {(plain/bm)/(tar/pm):.2f}; compression {plain/stored:.2f}x ({stored/mib:.0f} MiB stored)")
PY

# --- restore of the shard vs pg_basebackup between the same servers
restore_times=(); bb_times=()
for i in $(seq "$runs"); do
  rm -rf "$work/bb"; mkdir -p "$work/bb"; chmod 700 "$work/bb"; [ "$(id -u)" -eq 0 ] && chown postgres "$work/bb"
  nudge & nudger=$!
  t0=$(now)
  "${run_as[@]}" env PGPASSFILE="$PGPASSFILE" "$pgbin/pg_basebackup" -d "host=127.0.0.1 port=$standby_port user=residency_replication dbname=postgres" -D "$work/bb" -X stream -c fast -w >/dev/null 2>&1
  t1=$(now); bb_times+=("$(elapsed "$t0" "$t1")")
  kill "$nudger"; wait "$nudger" 2>/dev/null || true
  t0=$(now); out=$("$bin" backup restore --shard "$shard" --state "$work/state" --json); t1=$(now)
  restore_times+=("$(elapsed "$t0" "$t1")")
  server=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["restored"]["server"])' <<<"$out")
  "$bin" backup discard "$server" --state "$work/state"
  echo "restore run $i: residency backup restore ${restore_times[-1]} s; pg_basebackup -X stream ${bb_times[-1]} s"
done
rm -rf "$work/bb"
rm_=$(printf '%s\n' "${restore_times[@]}" | median); bbm=$(printf '%s\n' "${bb_times[@]}" | median)
python3 -c "print(f'restore: median $rm_ s; pg_basebackup between the same servers: $bbm s; ratio (baseline / restore) {$bbm / $rm_:.2f}')"

# --- one tenant of ROWS_K thousand rows restored to a point in time
target="@$(date +%s.%N)"
"${psql_primary[@]}" -c "UPDATE jira.issues SET summary = 'overwritten by mistake' WHERE tenant_id = 'bench'" >/dev/null
t0=$(now); "$bin" backup restore --tenant bench --to-time "$target" --state "$work/state" --json >"$work/tenant.json"; t1=$(now)
python3 - "$(elapsed "$t0" "$t1")" "$work/tenant.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))["tenant_restore"]
rows = sum(t["rows_after"] for t in r["tables"])
print(f"tenant restore: {rows} rows of tenant bench to a point in time in {float(sys.argv[1]):.1f} s (writes frozen {r['frozen_seconds']:.2f} s)")
PY
left=$("${psql_primary[@]}" -c "SELECT count(*) FROM jira.issues WHERE tenant_id = 'bench' AND summary = 'overwritten by mistake'")
echo "tenant restore check: rows still overwritten: $left"

# --- the WAL archive under the default drill's load
mkdir -p "$work/simulations"
# The default drill's workload (a writer per region, writing as fast as shards acknowledge)
# without its fault: a node that loses power stops archiving until it is back, which says
# nothing about the archive keeping up (its segments are archived by the other members).
cat >"$work/simulations/drill.yaml" <<'YAML'
name: archive-load
description: the default drill's workload, no fault
topology: ../regions
duration_s: 20
tenants:
  - name: drill-de
    realm: de
  - name: drill-eu-west
    realm: eu
    region: eu-west
  - name: drill-us
    realm: us
workload:
  writers_per_tenant: 1
  pause_ms: 0
targets:
  rpo_max: 0
YAML
vault_bytes() { du -sb "$data_root/vault" | cut -f1; }
ports=$(python3 -c '
import json, sys
doc = json.loads(sys.stdin.read())
print(" ".join(str(n["port"]) for r in doc["regions"] for s in r["shards"] for n in s["nodes"]))
' <<<"$status_json")
before=$(vault_bytes)
"$bin" drill "$work/simulations/drill.yaml" --state "$work/state" >"$work/drill.txt" 2>&1 &
drill=$!
# One sampler per node, every 250 ms: the age of the oldest finished segment not archived yet.
samplers=()
for p in $ports; do
  ( while kill -0 "$drill" 2>/dev/null; do
      psql -h 127.0.0.1 -p "$p" -U residency -d postgres -qAt -c "SELECT coalesce(max(extract(epoch FROM now() - modification)), 0), count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'" 2>/dev/null || true
      sleep 0.25
    done >"$work/archive-$p.txt" ) &
  samplers+=($!)
done
wait "$drill" || true
for pid in "${samplers[@]}"; do wait "$pid" 2>/dev/null || true; done
max_wait=$(cat "$work"/archive-*.txt | awk -F'|' 'BEGIN {m = 0} $1 + 0 > m {m = $1 + 0} END {printf "%.2f", m}')
max_ready=$(cat "$work"/archive-*.txt | awk -F'|' 'BEGIN {m = 0} $2 + 0 > m {m = $2 + 0} END {print m}')
samples=$(cat "$work"/archive-*.txt | wc -l)
after=$(vault_bytes)
written=$(grep -o 'writes: [0-9]* acknowledged' "$work/drill.txt" | grep -o '[0-9]*' || echo 0)
seconds=$(grep -o '^duration_s: [0-9]*' simulations/zone-power-loss.yaml | grep -o '[0-9]*')
head -1 "$work/drill.txt"
python3 - "$max_wait" "$max_ready" "$samples" "$before" "$after" "$written" "$seconds" <<'PY'
import sys
wait, ready, samples, before, after, written, seconds = float(sys.argv[1]), *map(int, sys.argv[2:])
grow = after - before
print(f"WAL archive under the default drill's load ({written} acknowledged writes in {seconds} s): longest wait of a finished segment {wait:.2f} s, at most {ready} segment(s) waiting on a node ({samples} samples over all nodes)")
print(f"vault growth: {grow/1048576:.1f} MiB over the drill = {grow/seconds/1024:.0f} KiB/s; 30 days of that load without pause: {grow/seconds*86400*30/2**30:.0f} GiB of WAL")
PY
du -sb "$data_root/vault"/*/objects/base 2>/dev/null | awk '{printf "base backups in the vault: %.0f MiB\n", $1/1048576}'
echo "WAL objects in the vault: $(find "$data_root/vault" -path '*/wal/*' -type f | wc -l), of which kept beside a different copy of the same name (.conflict-): $(find "$data_root/vault" -path '*/wal/*' -name '*.conflict-*' -type f | wc -l)"
