#!/usr/bin/env bash
# cluster-50k.sh: issue 7's target 4 on a cluster — three hub-server nodes and Redis
# (scripts/cluster.sh) holding 50,000 WebSocket connections from three hub-loadgen processes,
# one per node (a process may hold 20,000 open files on the reference machine, haproxy
# included, so each loadgen goes straight to its node). The three populations have their own
# users (--user-prefix) but share the rooms (--prefix), so every room has members on every
# node and each message crosses Redis to the other nodes. Records each node's CPU and RSS,
# Redis' CPU and memory, and the machine's load average, in $OUT (default
# build-release/cluster-50k/).
#
#   scripts/cluster-50k.sh                    build (Release, build-release/) and run (~5 min)
#   BUILD=build-lg SKIP_BUILD=1 scripts/cluster-50k.sh
#   scripts/cluster-50k.sh --rate 0.05        any hub-loadgen flag, given to all three
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=${BUILD:-build-release}
out=${OUT:-$build/cluster-50k}
base_port=${BASE_PORT:-9301}
redis_port=${REDIS_PORT:-6393}
lb_port=${LB_PORT:-8093}
mkdir -p "$out"
if [ -z "${SKIP_BUILD:-}" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DHUB_SANITIZE=OFF >/dev/null
  cmake --build "$build" --target hub-server hub-loadgen -j "$(nproc)" >/dev/null
fi

# Each loadgen: 8,334 users × 2 devices = 16,668 connections (50,004 in all) on its node; the
# 25,002 users share 3,000 rooms (Zipf 0.6, one room each); one action a minute per user
# (90 % room messages, 5 % directs, 5 % typing): ~420 actions/s in the cluster. Connections
# come up over 120 s (~420/s in all: each hello is a Redis script), then 60 s of chat.
# Source addresses: eight per loadgen, so that connect() finds a free local port at once.
# Threads: hub-loadgen's default, one event loop per 2,000 connections. lws 4.1 keeps a
# context's timers in one sorted list with a linear insert (several per connect), so a connect
# costs time in proportion to the connections of its loop: with 9,000 per loop the ramp stalled.
cat >"$out/scenario.ini" <<'EOF'
[loadgen]
users=8334
devices=2
rooms=3000
rooms-per-user=1
room-skew=0.6
rate=0.0167
mix=publish=90,direct=5,typing=5
ramp=120s
duration=60s
drain=20s
prefix=c50k-
max-loss=0
max-errors=0
EOF

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Absolute paths from here on: cluster.sh runs in its own directory (OUT and BUILD may be either).
case $out in /*) ;; *) out=$PWD/$out ;; esac
case $build in /*) ;; *) build=$PWD/$build ;; esac
export HUB_CLUSTER_DIR=${HUB_CLUSTER_DIR:-$out/run}
export HUB_SERVER_BIN=$build/hub-server/hub-server
scripts/cluster.sh stop >/dev/null 2>&1 || true
rm -f "$HUB_CLUSTER_DIR"/appendonly.aof "$HUB_CLUSTER_DIR"/*.aof 2>/dev/null || true
rm -rf "$HUB_CLUSTER_DIR"/appendonlydir 2>/dev/null || true
trap 'scripts/cluster.sh stop >/dev/null 2>&1 || true' EXIT
scripts/cluster.sh start 3 --port "$lb_port" --base-port "$base_port" --redis-port "$redis_port" \
  >"$out/cluster.out"
cat "$out/cluster.out"

pid_of() { cat "$HUB_CLUSTER_DIR/$1.pid"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
names=(node1 node2 node3 redis)
declare -A c0
for n in "${names[@]}"; do c0[$n]=$(cpu_ticks "$(pid_of "$n")"); done

{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/summary.txt"
t0=$(date +%s.%N)
pids=()
for i in 1 2 3; do
  port=$((base_port + i - 1))
  echo "# $build/hub-loadgen/hub-loadgen --scenario $out/scenario.ini --url ws://127.0.0.1:$port/ws --user-prefix c50k-l$i- --source-ips 127.0.$i.1-127.0.$i.8 --seed $((20261128 + i)) --json $out/report-$i.json --quiet $*" >>"$out/summary.txt"
  "$build/hub-loadgen/hub-loadgen" --scenario "$out/scenario.ini" --url "ws://127.0.0.1:$port/ws" \
    --user-prefix "c50k-l$i-" --source-ips "127.0.$i.1-127.0.$i.8" --seed $((20261128 + i)) --json "$out/report-$i.json" --quiet "$@" \
    >"$out/report-$i.txt" 2>"$out/loadgen-$i.err" &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
{
  echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  for n in "${names[@]}"; do
    pid=$(pid_of "$n")
    echo "# $n: CPU $(awk -v c=$(($(cpu_ticks "$pid") - c0[$n])) -v hz="$hz" -v t0="$t0" -v t1="$t1" \
      'BEGIN {printf "%.1f s over %.0f s (%.1f %% of one core)", c / hz, t1 - t0, 100 * c / hz / (t1 - t0)}'), RSS $(status_kib "$pid" VmRSS) KiB, peak $(status_kib "$pid" VmHWM) KiB"
  done
} >>"$out/summary.txt"
if command -v jq >/dev/null; then
  for i in 1 2 3; do
    jq -r --arg i "$i" '"loadgen \($i): \(.connections.ready_at_end)/\(.connections.target) connections, \(.deliveries.received) of \(.deliveries.expected) deliveries (\(.deliveries.live_per_s | floor)/s live), lost \(.deliveries.lost), errors \(.errors.total), latency p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) max \(.latency_ms.max) ms, passed \(.passed)"' \
      "$out/report-$i.json" >>"$out/summary.txt"
  done
  jq -s -r '"total: \(map(.connections.ready_at_end) | add)/\(map(.connections.target) | add) connections, \(map(.deliveries.received) | add) of \(map(.deliveries.expected) | add) deliveries, lost \(map(.deliveries.lost) | add), errors \(map(.errors.total) | add)"' \
    "$out"/report-[123].json >>"$out/summary.txt"
fi
cat "$out/summary.txt"
echo "cluster-50k.sh: reports in $out/ (exit $status)" >&2
exit "$status"
