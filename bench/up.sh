#!/usr/bin/env bash
# Benchmark: wall time of `residency up` for the default topology (regions/: 3 regions x
# 3 zones = 9 nodes + the control server) from nothing, and on a created but stopped
# topology; memory (PSS) of all its servers together. Baseline, measured in the same run:
# one bare server's `initdb --data-checksums` + `pg_ctl start` (and `pg_ctl start` alone),
# times the 10 servers, i.e. doing each server's irreducible work one after the other.
#
# Usage: bench/up.sh [RUNS]   (default 5; needs a built .build/debug/residency or $RESIDENCY_BIN)
# The topology is regions/ with every port moved up by 5000, so a running topology on
# the default ports is not disturbed.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
runs=${1:-5}
bin=${RESIDENCY_BIN:-.build/debug/residency}
[ -x "$bin" ] || swift build --product residency >/dev/null
work=$(mktemp -d /tmp/residency-bench-XXXXXX)
trap '"$bin" down --purge --state "$work/state" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
shifted_topology "$work/regions"
"$bin" validate --topology "$work/regions" >/dev/null

now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a - b}'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_server() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

fresh=(); restart=(); memory=(); base_init=(); base_start=()
for i in $(seq "$runs"); do
  "$bin" down --purge --state "$work/state" >/dev/null 2>&1 || true
  t0=$(now); "$bin" up --topology "$work/regions" --state "$work/state" >/dev/null; t1=$(now)
  fresh+=("$(sub "$t1" "$t0")")
  sleep 2
  pids=$(for p in $(find /var/lib/residency "$work/state" -name postmaster.pid 2>/dev/null); do head -1 "$p"; done)
  kb=0
  for pm in $pids; do
    for p in $pm $(pgrep -P "$pm"); do
      v=$(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2>/dev/null || echo 0); kb=$((kb + ${v:-0}))
    done
  done
  memory+=("$kb")
  "$bin" down --state "$work/state" >/dev/null
  t0=$(now); "$bin" up --topology "$work/regions" --state "$work/state" >/dev/null; t1=$(now)
  restart+=("$(sub "$t1" "$t0")")

  # Baseline: one bare server, same binaries, same user.
  b=$(mktemp -d /tmp/residency-base-XXXXXX); chmod 755 "$b"; [ "$(id -u)" -eq 0 ] && chown postgres "$b"
  t0=$(now)
  as_server "$pgbin/initdb" -D "$b/d" --data-checksums -U base --auth trust >/dev/null
  t1=$(now)
  as_server "$pgbin/pg_ctl" -D "$b/d" -l "$b/log" -w -o "-p 45999 -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >/dev/null
  t2=$(now)
  as_server "$pgbin/pg_ctl" -D "$b/d" -w -m fast stop >/dev/null
  t3=$(now)
  as_server "$pgbin/pg_ctl" -D "$b/d" -l "$b/log" -w -o "-p 45999 -c listen_addresses=127.0.0.1 -c unix_socket_directories=''" start >/dev/null
  t4=$(now)
  as_server "$pgbin/pg_ctl" -D "$b/d" -w -m fast stop >/dev/null
  rm -rf "$b"
  base_init+=("$(sub "$t2" "$t0")")
  base_start+=("$(sub "$t4" "$t3")")
  echo "run $i: up from nothing ${fresh[-1]} s, up on stopped ${restart[-1]} s, servers ${memory[-1]} kB PSS; one bare server: initdb+start ${base_init[-1]} s, start ${base_start[-1]} s" >&2
done

m_fresh=$(printf '%s\n' "${fresh[@]}" | median)
m_restart=$(printf '%s\n' "${restart[@]}" | median)
m_mem=$(printf '%s\n' "${memory[@]}" | median)
m_bi=$(printf '%s\n' "${base_init[@]}" | median)
m_bs=$(printf '%s\n' "${base_start[@]}" | median)
servers=10
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r), PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}')"
echo "runs: $runs (medians)"
awk -v f="$m_fresh" -v r="$m_restart" -v bi="$m_bi" -v bs="$m_bs" -v n="$servers" 'BEGIN {
  printf "up from nothing (%d servers):   %.2f s   baseline %d x bare initdb+start %.2f s   ratio %.2f\n", n, f, n, n * bi, f / (n * bi)
  printf "up on a stopped topology:       %.2f s   baseline %d x bare pg_ctl start %.2f s   ratio %.2f\n", r, n, n * bs, r / (n * bs)
}'
printf 'memory of all servers (PSS):    %d MiB (%d kB)\n' "$((m_mem / 1024))" "$m_mem"
