#!/usr/bin/env bash
# bench-wine.sh: the one-room fan-out of ../shared/bench's driver (wsdrive, a Linux program:
# 1,000 subscribers + 10 publishers in one room, offered deliveries/s per step) against
# hub-server.exe under wine and against the Linux build, step by step in turn, in one sitting:
# what the Windows build's event loop (lws's WSAPoll service, polled every 2 ms) costs in
# latency, as far as wine can show it. Server pinned to CPU 0, driver to CPU 1 (wine's
# wineserver is not pinned: it runs wherever the kernel puts it).
#
#   scripts/bench-wine.sh                         STEPS="10000 50000", 10 s each
#   STEPS="10000 50000 100000" DURATION=5 scripts/bench-wine.sh
#
# Builds build-win/ (scripts/windows-check.sh --build-only) and build-perf/ (Release) first.
# Results: $BENCH_WORK (default /tmp/hub-bench-wine)/results.jsonl, one line per step and
# server, and a table on stdout. Every wait is bounded; only the servers it started are
# stopped, by PID.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=${BENCH_DIR:-}
for d in "$root/../shared/bench" "$root/../../shared/bench" /work/shared/bench; do
  [[ -n $bench ]] && break
  [[ -d $d/driver ]] && bench=$d
done
[[ -n $bench && -d $bench/driver ]] || { echo "bench-wine.sh: no ../shared/bench/driver" >&2; exit 2; }
work=${BENCH_WORK:-/tmp/hub-bench-wine}
STEPS=${STEPS:-"10000 50000"}
DURATION=${DURATION:-10}
SUBS=${SUBS:-1000}
PUBS=${PUBS:-10}

say () { echo "[$(date +%T)] bench-wine.sh: $*" >&2; }

mkdir -p "$work"
cp -r "$bench/driver" "$work/"
make -s -C "$work/driver" wsdrive
driver=$work/driver/wsdrive

"$root/scripts/windows-check.sh" --build-only
eval "$("$root/scripts/windows-check.sh" --env 2>/dev/null)"
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S "$root" -B "$root/build-perf" -DCMAKE_BUILD_TYPE=Release -DHUB_SANITIZE=OFF >/dev/null
cmake --build "$root/build-perf" --target hub-server -j "$jobs" >/dev/null

pids=$work/pids
mkdir -p "$pids"
stop () # FILE: the PID in it, TERM then KILL after 5 s
{
  local pid i
  [[ -f $1 ]] || return 0
  pid=$(cat "$1")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$1"
}
# wineserver -k: every process of our wine prefix (build-win/wine), then its server.
cleanup ()
{
  stop "$pids/server.pid"
  timeout -k 5 30 wineserver -k >/dev/null 2>&1 || true
  stop "$pids/wineserver.pid"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# One wineserver for the sitting (ours, stopped at the end), so each start is quick.
wineserver -f -p </dev/null >/dev/null 2>&1 &
echo $! >"$pids/wineserver.pid"
timeout 60 wine cmd /c exit </dev/null >/dev/null 2>&1 || true

# start NAME CMD...: starts the server pinned to CPU 0, sets PORT and PID (at most 30 s).
start ()
{
  local name=$1 line= i
  shift
  taskset -c 0 "$@" --host 127.0.0.1 --port 0 </dev/null >"$work/$name.out" 2>"$work/$name.err" &
  PID=$!
  echo "$PID" >"$pids/server.pid"
  for ((i = 0; i < 300; i++)); do
    line=$(head -n 1 "$work/$name.out" 2>/dev/null || true)
    [[ $line == *listening* ]] && break
    kill -0 "$PID" 2>/dev/null || { cat "$work/$name.err" >&2; return 1; }
    sleep 0.1
  done
  PORT=$(sed -n 's|.*ws://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' <<<"$line")
  [[ -n $PORT ]]
}

out=$work/results.jsonl
: >"$out"
for rate in $STEPS; do
  for name in linux wine; do
    if [[ $name == linux ]]; then
      start linux "$root/build-perf/hub-server/hub-server" || { say "linux server did not start"; exit 1; }
    else
      start wine wine "$root/build-win/hub-server/hub-server.exe" || { say "wine server did not start"; exit 1; }
    fi
    json=$(timeout -k 5 $((DURATION + 90)) taskset -c 1 "$driver" --adapter hub --scenario fanout \
      --host 127.0.0.1 --port "$PORT" --subs "$SUBS" --pubs "$PUBS" --rate "$rate" \
      --duration "$DURATION" --payload 100 --pid "$PID" --label "$name@$rate" 2>"$work/$name-$rate.driver.log") || true
    stop "$pids/server.pid"
    if ! jq -e . >/dev/null 2>&1 <<<"$json"; then
      say "$name@$rate: the driver gave no result (see $work/$name-$rate.driver.log)"
      continue
    fi
    jq -c --arg server "$name" '{server:$server} + .' <<<"$json" >>"$out"
    jq -r --arg server "$name" '"\($server)\t\(.offered_dps|floor)\t\(.achieved_dps|floor)\t\(.lost)\t\(.latency_ns.p50/1e6*100|floor/100)\t\(.latency_ns.p99/1e6*100|floor/100)\t\(.latency_ns.max/1e6*100|floor/100)\t\(.server_cpu_busy_pct)\t\(.other_cpu_pct)"' <<<"$json" >&2
  done
done
printf 'server\toffered/s\tachieved/s\tlost\tp50 ms\tp99 ms\tmax ms\tserver CPU %%\tother CPU %%\n'
jq -r '"\(.server)\t\(.offered_dps|floor)\t\(.achieved_dps|floor)\t\(.lost)\t\(.latency_ns.p50/1e6*100|floor/100)\t\(.latency_ns.p99/1e6*100|floor/100)\t\(.latency_ns.max/1e6*100|floor/100)\t\(.server_cpu_busy_pct)\t\(.other_cpu_pct)"' "$out"
say "results: $out"
