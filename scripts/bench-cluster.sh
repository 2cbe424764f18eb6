#!/usr/bin/env bash
# bench-cluster.sh: one in-memory node against a cluster of 1 and of 3 nodes, the same
# hub-loadgen scenario on each, in one sitting; prints the Markdown table of docs/cluster.md.
#
#   scripts/bench-cluster.sh                    # RATES="0.5 2" SETUPS="memory cluster1 cluster3"
#   RATES=2 SETUPS="cluster1 cluster3" DURATION=15 scripts/bench-cluster.sh
#
# The cluster is scripts/cluster.sh (redis-server, N nodes, haproxy in front) in its own run
# directory and ports, stopped after each setup; the loadgen talks to haproxy. Everything runs
# on 127.0.0.1 and shares this machine's cores. Reports go to $OUT (default
# /tmp/hub-bench-cluster/<date>/), one hub-loadgen JSON per row.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build-bench}
RATES=${RATES:-"0.5 2"}
SETUPS=${SETUPS:-"memory cluster1 cluster3"}
DURATION=${DURATION:-15}
OUT=${OUT:-/tmp/hub-bench-cluster/$(date -u +%Y%m%d-%H%M%S)}
LB_PORT=${LB_PORT:-18480}
BASE_PORT=${BASE_PORT:-18481}
REDIS_PORT=${REDIS_PORT:-18479}
export HUB_CLUSTER_DIR=$OUT/cluster
mkdir -p "$OUT"

if [[ ! -x $BUILD/hub-server/hub-server || ! -x $BUILD/hub-loadgen/hub-loadgen ]]; then
  "$ROOT/scripts/install-deps.sh"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHUB_BUILD_TESTS=OFF >/dev/null
  cmake --build "$BUILD" -j2 --target hub-server hub-loadgen >/dev/null
fi
SERVER=$BUILD/hub-server/hub-server
LOADGEN=$BUILD/hub-loadgen/hub-loadgen
export HUB_SERVER_BIN=$SERVER

memory_pid=""
cleanup() {
  [[ -n $memory_pid ]] && kill "$memory_pid" 2>/dev/null && wait "$memory_pid" 2>/dev/null
  "$ROOT/scripts/cluster.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

wait_port() {
  local i
  for ((i = 0; i < 100; i++)); do
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench-cluster.sh: nothing listens on port $1" >&2
  return 1
}

start_setup() {
  case $1 in
    memory)
      "$SERVER" --host 127.0.0.1 --port "$LB_PORT" >"$OUT/memory.log" 2>&1 &
      memory_pid=$!
      wait_port "$LB_PORT"
      ;;
    cluster*)
      "$ROOT/scripts/cluster.sh" start "${1#cluster}" --port "$LB_PORT" --base-port "$BASE_PORT" \
        --redis-port "$REDIS_PORT" >"$OUT/$1.start.log" 2>&1
      wait_port "$LB_PORT"
      ;;
  esac
}

stop_setup() {
  if [[ -n $memory_pid ]]; then
    kill "$memory_pid" 2>/dev/null || true
    wait "$memory_pid" 2>/dev/null || true
    memory_pid=""
  else
    "$ROOT/scripts/cluster.sh" stop >/dev/null 2>&1 || true
  fi
}

# The scenario of docs/cluster.md: 300 users (1:60,2:30,3:10 devices → ~450 connections),
# 20 Zipf-skewed rooms, 2 rooms per user, publish 85 / direct 5 / typing 5 / status 5.
run_row() { # setup rate
  local json=$OUT/$1-$2.json
  timeout $((DURATION + 90)) "$LOADGEN" --url "ws://127.0.0.1:$LB_PORT/ws" --users 300 \
    --devices 1:60,2:30,3:10 --rooms 20 --rooms-per-user 2 --rate "$2" \
    --mix publish=85,direct=5,typing=5,status=5 --ramp 5 --duration "$DURATION" --seed 42 \
    --quiet --json "$json" >/dev/null 2>"$OUT/$1-$2.err" || true
  [[ -s $json ]] || {
    echo "| $1 | $2/user/s | (no report: $(tail -1 "$OUT/$1-$2.err")) |"
    return
  }
  jq -r --arg setup "$1" --arg rate "$2" '
    def f(x): if x == null then "–" else (x | . * 10 | round / 10 | tostring) end;
    "| \($setup) | \($rate)/user/s | \(.sent.publish_per_s | round) | " +
    "\((.deliveries.live_per_s / 100 | round) / 10) k | \(.deliveries.lost) | " +
    "\(f(.latency_ms.p50)) / \(f(.latency_ms.p99)) ms | " +
    "\(f(.sent.ack_ms.p50)) / \(f(.sent.ack_ms.p99)) ms | \(.errors.total) |"' "$json"
}

{
  echo "Commit $(git -C "$ROOT" rev-parse --short HEAD), $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); ${DURATION} s steady state per row"
  echo
  echo "| setup | rate | publishes/s | deliveries/s | lost | delivery p50 / p99 | publish ok p50 / p99 | errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
} | tee "$OUT/table.md"
for rate in $RATES; do
  for setup in $SETUPS; do
    start_setup "$setup"
    run_row "$setup" "$rate" | tee -a "$OUT/table.md"
    stop_setup
  done
done
echo "reports: $OUT" >&2
