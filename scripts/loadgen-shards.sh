#!/usr/bin/env bash
# loadgen-shards.sh: one hub-loadgen scenario run as N shards on this machine, then merged:
# what N machines do, on one (for tests and rehearsal; docs/hub-loadgen.md shows N machines).
# Builds hub-server and hub-loadgen (into build/, like capacity.sh), starts a fresh in-memory
# hub-server on a free loopback port unless SERVER_URL is given, starts the N shards at once
# (`--shard I/N`, the same flags, one --seed and one fresh --prefix), waits for them, and runs
# `hub-loadgen merge` on their reports. Writes to $OUT (default build/shards/): shard-I.json and
# shard-I.txt per shard, merged.json and merged.txt. Exits with merge's status: 0 the merged run
# met its limits, 1 it did not, 2 bad usage.
#
#   scripts/loadgen-shards.sh 2 --users 1000 --rooms 500 --rate 2 --duration 30s
#   SERVER_URL=ws://10.0.0.5:8080/ws scripts/loadgen-shards.sh 4 --users 20000 ...
#   PIN="0 1" scripts/loadgen-shards.sh 2 ...     pin shard I to the I-th CPU of the list
#
# Environment: OUT, SERVER_URL, SEED (default 20261128), PREFIX (default a fresh one per run),
# PIN. Ends only the processes it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

usage ()
{
  echo "usage: scripts/loadgen-shards.sh N [hub-loadgen flags...]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
n=$1
shift
case $n in '' | *[!0-9]* | 0) usage ;; esac

out=${OUT:-build/shards}
mkdir -p "$out"
rm -f "$out"/shard-*.json "$out"/shard-*.txt "$out"/merged.json "$out"/merged.txt
seed=${SEED:-20261128}
# One prefix per run: the shards must share it, and no earlier run may have used it.
prefix=${PREFIX:-sh$(date +%s)-$$-}
read -r -a pins <<<"${PIN:-}"

scripts/install-deps.sh >/dev/null
jobs=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUB_SANITIZE=OFF >/dev/null
cmake --build build --target hub-server hub-loadgen -j "$jobs" >/dev/null
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

pids=()
cleanup ()
{
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

url=${SERVER_URL:-}
if [ -z "$url" ]; then
  build/hub-server/hub-server --host 127.0.0.1 --port 0 >"$out/server.out" 2>"$out/server.err" &
  pids+=($!)
  for _ in $(seq 1 100); do
    url=$(sed -n '1s|^hub-server listening on \(ws://[^ ]*\) .*|\1|p' "$out/server.out")
    [ -n "$url" ] && break
    sleep 0.1
  done
  if [ -z "$url" ]; then
    echo "loadgen-shards.sh: hub-server did not start; see $out/server.err" >&2
    exit 2
  fi
fi

shard_pids=()
for ((i = 0; i < n; i++)); do
  pin=()
  if [ "${#pins[@]}" -gt 0 ] && command -v taskset >/dev/null 2>&1; then
    pin=(taskset -c "${pins[$((i % ${#pins[@]}))]}")
  fi
  "${pin[@]}" build/hub-loadgen/hub-loadgen --url "$url" --seed "$seed" --prefix "$prefix" \
    --quiet "$@" --shard "$i/$n" --json "$out/shard-$i.json" >"$out/shard-$i.txt" 2>&1 &
  shard_pids+=($!)
  pids+=($!)
done
status=0
for ((i = 0; i < n; i++)); do
  rc=0
  wait "${shard_pids[$i]}" || rc=$?
  if [ "$rc" -ge 2 ]; then
    echo "loadgen-shards.sh: shard $i/$n failed to run (exit $rc):" >&2
    tail -5 "$out/shard-$i.txt" >&2
    status=2
  fi
done
[ "$status" -eq 0 ] || exit "$status"

reports=()
for ((i = 0; i < n; i++)); do
  reports+=("$out/shard-$i.json")
done
status=0
build/hub-loadgen/hub-loadgen merge --json "$out/merged.json" "${reports[@]}" | tee "$out/merged.txt" ||
  status=${PIPESTATUS[0]}
echo "loadgen-shards.sh: $n shards, prefix $prefix; reports in $out" >&2
exit "$status"
