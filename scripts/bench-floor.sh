#!/usr/bin/env bash
# bench-floor.sh: the latency floor of the fan-out bench (issue 7, target 2). Runs the neutral
# driver's fan-out step (../shared/bench/driver, --adapter hub: 1,000 subscribers + 10
# publishers in one room) against scripts/bench-floor/floor-server.c — a measuring instrument
# that does the least any server could (see its header) — and against hub-server, interleaved
# in the same sitting, and prints p50/p90/p99 and both CPUs' busy time. What floor-server gets
# is what this harness allows; hub-server cannot do better than that.
#
#   scripts/bench-floor.sh [path/to/hub-server]     (default: builds $BUILD_DIR, Release)
#
# Environment: STEPS ("10000 50000 100000"), DURATION (10 s), ROUNDS (3: every server once per
# round, rounds one after the other), SERVERS ("floor-send floor-uring hub-server"; also
# floor-uring64 = io_uring submitted every 64 sends, and LABEL:COMMAND for any other server
# taking --port/--host, e.g. an older hub-server build), BENCH ("/work/shared/bench" or
# ../shared/bench), BENCH_WORK (/tmp/floor-bench: driver, floor-server, results), BUILD_DIR
# (build-floor), SERVER_CPU (0), DRIVER_CPU (1), QUIET_PCT (5) / QUIET_MAX (60 s): wait for a
# quiet machine before each step; a step during which other tasks used more than CONTENDED_PCT
# (10) % of a CPU is run once more. RT=1 runs the server and the driver SCHED_FIFO (chrt -f 10; needs root or
# CAP_SYS_NICE): other tasks then cannot preempt them, which on this shared machine is the
# difference between a measurement and noise (at 50k deliveries/s both use < 50 % of their CPU,
# and the kernel's RT throttling keeps 5 % for everyone else in any case). Ends only the
# servers it started, by PID.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=${BENCH:-$root/../shared/bench}
[[ -d $BENCH/driver ]] || BENCH=/work/shared/bench
BENCH_WORK=${BENCH_WORK:-/tmp/floor-bench}
BUILD_DIR=${BUILD_DIR:-build-floor}
STEPS=${STEPS:-"10000 50000 100000"}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-"floor-send floor-uring hub-server"}
SERVER_CPU=${SERVER_CPU:-0}
DRIVER_CPU=${DRIVER_CPU:-1}
QUIET_PCT=${QUIET_PCT:-5}
QUIET_MAX=${QUIET_MAX:-60}
PORT=${PORT:-19600}
RT=${RT:-0}
CONTENDED_PCT=${CONTENDED_PCT:-10}
rt=()
[[ $RT == 1 ]] && rt=(chrt -f 10)

log () { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
command -v jq >/dev/null || { log "jq is required"; exit 2; }

mkdir -p "$BENCH_WORK/results"
rm -rf "$BENCH_WORK/driver"
cp -r "$BENCH/driver" "$BENCH_WORK/driver"
make -s -C "$BENCH_WORK/driver" wsdrive
DRIVER=$BENCH_WORK/driver/wsdrive
FLOOR=$BENCH_WORK/floor-server
# shellcheck disable=SC2046
cc -O2 -std=gnu11 -Wall -Wextra -o "$FLOOR" "$root/scripts/bench-floor/floor-server.c" \
  $(pkg-config --cflags --libs glib-2.0 liburing)
if [[ $# -ge 1 ]]; then
  HUB=$(realpath "$1")
else
  cmake -S "$root" -B "$root/$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$root/$BUILD_DIR" --target hub-server -j2 >/dev/null
  HUB=$root/$BUILD_DIR/hub-server/hub-server
fi

server_cmd () {
  case $1 in
    floor-send) echo "$FLOOR --mode send" ;;
    floor-uring) echo "$FLOOR --mode uring" ;;
    floor-uring64) echo "$FLOOR --mode uring --chunk 64" ;;
    hub-server) echo "$HUB" ;;
    *:*) echo "${1#*:}" ;;
    *) log "unknown server $1"; exit 2 ;;
  esac
}

listening () { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

pid=""
stop () {
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}
trap stop EXIT
trap 'stop; exit 130' INT TERM

busy_pct () {
  local a b
  read -r -a a < <(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  sleep 1
  read -r -a b < <(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
  echo $((100 * (b[0] - a[0]) / (b[1] - a[1] > 0 ? b[1] - a[1] : 1)))
}
wait_quiet () {
  local i busy
  for ((i = 0; i < QUIET_MAX; i++)); do
    busy=$(busy_pct)
    ((busy <= QUIET_PCT)) && return 0
  done
  log "machine still ${busy}% busy after ${QUIET_MAX}s, going on"
}

run_id=floor-$(date +%Y%m%d-%H%M%S)
out=$BENCH_WORK/results/$run_id.jsonl
log "results -> $out ($(uptime | sed 's/.*load/load/'))"
for round in $(seq 1 "$ROUNDS"); do
  for rate in $STEPS; do
    for server in $SERVERS; do
      for attempt in 1 2; do
        wait_quiet
        while listening "$PORT"; do PORT=$((PORT + 1)); done
        # shellcheck disable=SC2046
        taskset -c "$SERVER_CPU" "${rt[@]}" $(server_cmd "$server") --port "$PORT" --host 127.0.0.1 \
          </dev/null >>"$BENCH_WORK/results/$run_id.server.log" 2>&1 &
        pid=$!
        for _ in $(seq 1 200); do listening "$PORT" && break; sleep 0.05; done
        json=$(taskset -c "$DRIVER_CPU" "${rt[@]}" "$DRIVER" --adapter hub --scenario fanout --host 127.0.0.1 \
          --port "$PORT" --subs 1000 --pubs 10 --rate "$rate" --duration "$DURATION" --pid "$pid" \
          --label "$server@$rate" 2>>"$BENCH_WORK/results/$run_id.driver.log") || true
        stop
        PORT=$((PORT + 1))
        if ! jq -e . >/dev/null 2>&1 <<<"$json"; then
          log "$server@$rate: no result (see $BENCH_WORK/results/$run_id.driver.log)"
          break
        fi
        jq -r --arg s "${server%%:*}" --arg r "$round" '"  round \($r) \($s)@\(.offered_dps): p50 \(.latency_ns.p50/1e4|floor/100) p90 \(.latency_ns.p90/1e4|floor/100) p99 \(.latency_ns.p99/1e4|floor/100) ms, min \(.latency_ns.min/1e4|floor/100) ms, busy cpu0 \(.server_cpu_busy_pct)% cpu1 \(.driver_cpu_busy_pct)%, other \(.other_cpu_pct)%, lost \(.lost)"' <<<"$json" >&2
        other=$(jq -r '.other_cpu_pct // 0' <<<"$json")
        if [[ $attempt == 1 ]] && awk -v o="$other" -v l="$CONTENDED_PCT" 'BEGIN{exit !(o > l)}'; then
          log "other tasks used ${other}% of a CPU: once more"
          continue
        fi
        jq -c --arg s "${server%%:*}" --argjson r "$round" '{server:$s,round:$r} + .' <<<"$json" >>"$out"
        break
      done
    done
  done
done

# The table: per server and step, the median of the rounds (p99: also min–max).
echo
echo "fan-out 1,000 subscribers + 10 publishers, ${DURATION} s per step, $ROUNDS round(s), RT=$RT, $(date -u +%F\ %H:%M) UTC"
echo
echo "| server | offered/s | runs | p50 ms | p90 ms | p99 ms (median) | p99 min–max | min ms | CPU0 busy % | CPU1 busy % | other % | lost |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
jq -rs '
  def med: sort | .[(length - 1) / 2 | floor];
  def ms: . / 1e6 | . * 100 | round / 100;
  group_by([.server, .offered_dps])[] |
  "| \(.[0].server) | \(.[0].offered_dps) | \(length) | \(map(.latency_ns.p50) | med | ms) | \(map(.latency_ns.p90) | med | ms) | \(map(.latency_ns.p99) | med | ms) | \(map(.latency_ns.p99) | min | ms)–\(map(.latency_ns.p99) | max | ms) | \(map(.latency_ns.min) | med | ms) | \(map(.server_cpu_busy_pct) | med) | \(map(.driver_cpu_busy_pct) | med) | \(map(.other_cpu_pct) | max) | \(map(.lost) | add) |"
' "$out"
