#!/usr/bin/env bash
# bench-loops.sh: the event-loop comparison of docs/performance.md. For each loop (--event-loop)
# and each number of idle connections N it starts a fresh hub-server pinned to one CPU, opens N
# connections that say hello and join rooms of 100 (the neutral driver of ../shared/bench,
# pinned to the other CPU), then measures
#   - idle CPU: the server process's CPU (utime+stime from /proc) over IDLE_S seconds with the N
#     connections idle (the window holds one heartbeat round: every connection is pinged once
#     per 30 s),
#   - delivery latency: p50/p99 of a modest fan-out run beside them (FANOUT_SUBS subscribers and
#     FANOUT_PUBS publishers in one more room, FANOUT_RATE deliveries/s for FANOUT_S seconds).
# Results: one JSON line per measurement in $OUT/loops-<date>.jsonl and a Markdown table on
# stdout (and in $OUT/loops-<date>.md). Loopback only; ends only the processes it started.
#
#   scripts/bench-loops.sh [path/to/hub-server]      default: build-perf/hub-server/hub-server
#   LOOPS="uv glib" CONNS="1000 10000 19500" IDLE_S=30 scripts/bench-loops.sh
#
# Needs jq and a C compiler (the driver is built from ../shared/bench/driver into $WORK).
# A process may hold at most `ulimit -Hn` descriptors (20,000 on the machine of
# docs/performance.md): the server holds N + FANOUT_SUBS + FANOUT_PUBS + ~15, so N is capped.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

BIN=$(realpath "${1:-$root/build-perf/hub-server/hub-server}")
LOOPS=${LOOPS:-"uv glib"}
CONNS=${CONNS:-"1000 10000 19500"}
IDLE_S=${IDLE_S:-30}
FANOUT_SUBS=${FANOUT_SUBS:-100}
FANOUT_PUBS=${FANOUT_PUBS:-2}
FANOUT_RATE=${FANOUT_RATE:-5000}
FANOUT_S=${FANOUT_S:-10}
SERVER_CPU=${SERVER_CPU:-0}
DRIVER_CPU=${DRIVER_CPU:-1}
BENCH_DIR=${BENCH_DIR:-$root/../shared/bench}
WORK=${WORK:-/tmp/hub-bench-loops}
OUT=${OUT:-$WORK/results}
PORT=${PORT:-19700}
QUIET_PCT=${QUIET_PCT:-10}
QUIET_MAX=${QUIET_MAX:-180}

[[ -x "$BIN" ]] || { echo "not an executable: $BIN" >&2; exit 2; }
command -v jq >/dev/null || { echo "jq is required" >&2; exit 2; }
mkdir -p "$WORK/driver" "$OUT"
cp "$BENCH_DIR/driver/wsdrive.c" "$BENCH_DIR/driver/Makefile" "$WORK/driver/"
make -s -C "$WORK/driver" wsdrive
DRIVER=$WORK/driver/wsdrive

hard=$(ulimit -Hn)
ulimit -n "$hard"
stamp=$(date +%Y%m%d-%H%M%S)
jsonl=$OUT/loops-$stamp.jsonl
md=$OUT/loops-$stamp.md
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

server_pid="" idle_pid=""
cleanup() {
  for p in $idle_pid $server_pid; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in $idle_pid $server_pid; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  idle_pid="" server_pid=""
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# The machine may be shared: wait (bounded) until the CPUs are quiet before each measurement.
wait_quiet() {
  local a b busy i
  for ((i = 0; i < QUIET_MAX; i++)); do
    read -r -a a < <(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    sleep 1
    read -r -a b < <(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    busy=$((100 * (b[0] - a[0]) / (b[1] - a[1] > 0 ? b[1] - a[1] : 1)))
    ((busy <= QUIET_PCT)) && return 0
    ((i % 15 == 0)) && log "waiting for a quiet machine (${busy}% busy)"
  done
  log "machine still busy after ${QUIET_MAX} s (${busy}%), going on"
}
listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }

# run_one LOOP N: one server, N idle connections, the idle window, the fan-out beside them.
run_one() {
  local loop=$1 n=$2 port slog ilog ijson fjson t0 t1 hold ready=0
  wait_quiet
  while listening "$PORT"; do PORT=$((PORT + 1)); done
  port=$PORT
  PORT=$((PORT + 1))
  slog=$OUT/loops-$stamp-$loop-$n.server.log
  ilog=$OUT/loops-$stamp-$loop-$n.idle.log
  taskset -c "$SERVER_CPU" "$BIN" --host 127.0.0.1 --port "$port" --event-loop "$loop" \
    </dev/null >"$slog" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do listening "$port" && break; sleep 0.1; done
  listening "$port" || { log "$loop: server did not start (see $slog)"; cleanup; return 1; }

  # Held long enough for the idle window, a wait for quiet, and the fan-out run with its drain.
  hold=$((IDLE_S + FANOUT_S + QUIET_MAX + 60))
  taskset -c "$DRIVER_CPU" "$DRIVER" --adapter hub --scenario idle --host 127.0.0.1 --port "$port" \
    --conns "$n" --idle-room-size 100 --hold "$hold" --pid "$server_pid" --label "$loop@$n" -v \
    >"$OUT/loops-$stamp-$loop-$n.idle.json" 2>"$ilog" &
  idle_pid=$!
  # Ready when the driver holds: every connection said hello and joined.
  for _ in $(seq 240); do
    if grep -q "] hold " "$ilog" 2>/dev/null; then ready=1; break; fi
    kill -0 "$idle_pid" 2>/dev/null || break
    sleep 0.5
  done
  if ((!ready)); then
    log "$loop@$n: the idle connections did not get ready (see $ilog)"
    cleanup
    return 1
  fi
  log "$loop@$n: $(grep "] hold " "$ilog" | tail -1 | sed 's/^wsdrive: //')"

  t0=$(cpu_ticks "$server_pid")
  sleep "$IDLE_S"
  t1=$(cpu_ticks "$server_pid")
  wait_quiet
  local idle_pct rss
  idle_pct=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v s="$IDLE_S" \
    'BEGIN{printf "%.2f", 100 * (b - a) / hz / s}')
  rss=$(rss_kb "$server_pid")
  log "$loop@$n: idle CPU ${idle_pct}% over ${IDLE_S} s, RSS ${rss} kB"

  fjson=$(taskset -c "$DRIVER_CPU" "$DRIVER" --adapter hub --scenario fanout --host 127.0.0.1 \
    --port "$port" --room loopbench --subs "$FANOUT_SUBS" --pubs "$FANOUT_PUBS" \
    --rate "$FANOUT_RATE" --duration "$FANOUT_S" --pid "$server_pid" --label "$loop@$n" \
    2>"$OUT/loops-$stamp-$loop-$n.fanout.log") || true
  cleanup
  # The idle driver reports (connect time of the N connections) when it is stopped.
  ijson=$(cat "$OUT/loops-$stamp-$loop-$n.idle.json" 2>/dev/null || true)
  jq -e . >/dev/null 2>&1 <<<"$ijson" || ijson='{}'
  if [[ -z "$fjson" ]] || ! jq -e . >/dev/null 2>&1 <<<"$fjson"; then
    log "$loop@$n: the fan-out driver gave no result"
    fjson='{}'
  fi
  jq -nc --arg loop "$loop" --argjson n "$n" --argjson idle "$idle_pct" --argjson rss "$rss" \
    --argjson idle_s "$IDLE_S" --argjson f "$fjson" --argjson i "$ijson" --arg bin "$BIN" \
    '{loop:$loop, conns:$n, idle_s:$idle_s, idle_cpu_pct:$idle, server_rss_kb:$rss, bin:$bin,
      connect_all_ms:$i.connect_all_ms, fanout:$f}' >>"$jsonl"
  jq -r '.fanout | "    fan-out: achieved \(.achieved_dps // 0 | floor)/s lost \(.lost) p50 \((.latency_ns.p50 // 0)/1e6) ms p99 \((.latency_ns.p99 // 0)/1e6) ms other tasks \(.other_cpu_pct)%"' \
    <<<"$(tail -1 "$jsonl")" >&2
}

log "results -> $jsonl"
for n in $CONNS; do
  if ((n + FANOUT_SUBS + FANOUT_PUBS + 20 > hard)); then
    log "skipping $n connections: the server would need more than $hard descriptors"
    continue
  fi
  for loop in $LOOPS; do
    run_one "$loop" "$n" || true
    sleep 2
  done
done

{
  echo "| loop | idle conns | connecting them | idle CPU (server process, ${IDLE_S} s) | server RSS | fan-out p50 | p99 | p99.9 | max | achieved / offered | other tasks |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  jq -r '"| \(.loop) | \(.conns) | \(.connect_all_ms // "?") ms | \(.idle_cpu_pct)% | \(.server_rss_kb / 1024 | floor) MiB | \((.fanout.latency_ns.p50 // 0) / 1e6 * 100 | floor / 100) ms | \((.fanout.latency_ns.p99 // 0) / 1e6 * 100 | floor / 100) ms | \((.fanout.latency_ns.p999 // 0) / 1e6 * 100 | floor / 100) ms | \((.fanout.latency_ns.max // 0) / 1e6 * 100 | floor / 100) ms | \(.fanout.achieved_dps // 0 | floor) / \(.fanout.offered_dps // 0 | floor) | \(.fanout.other_cpu_pct // "?")% |"' "$jsonl"
} | tee "$md"
