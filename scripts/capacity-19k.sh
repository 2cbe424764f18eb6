#!/usr/bin/env bash
# capacity-19k.sh: issue 7's target 4 on one server — one in-memory hub-server (default flags)
# holding 18,000 WebSocket connections (9,000 users × 2 devices, 1,000 rooms) in a hub-loadgen
# chat, gated at zero loss and p99 < 50 ms. A process may hold 20,000 open files on the
# reference machine, so this is about all one server (and one loadgen) can hold there.
# Records the server's CPU and RSS and the loadgen's CPU over the run, and the machine's load
# average (it is shared), beside the loadgen's report, in $OUT (default build-release/capacity-19k/).
#
#   scripts/capacity-19k.sh                   build (Release, build-release/) and run (~4 min)
#   BUILD=build-lg SKIP_BUILD=1 scripts/capacity-19k.sh   use binaries built elsewhere
#   scripts/capacity-19k.sh --duration 120s   any hub-loadgen flag overrides the scenario
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=${BUILD:-build-release}
out=${OUT:-$build/capacity-19k}
mkdir -p "$out"
if [ -z "${SKIP_BUILD:-}" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DHUB_SANITIZE=OFF >/dev/null
  cmake --build "$build" --target hub-server hub-loadgen -j "$(nproc)" >/dev/null
fi

# The scenario: every user has two devices and is in one room; rooms have Zipf-skewed sizes
# (exponent 0.6: the largest about 240 users, 480 connections; the smallest a handful). Each
# user acts once every 20 s on average (Poisson): 90 % room messages, 5 % direct messages,
# 5 % typing. That is ~450 actions/s and, with these rooms, ~9,000 deliveries/s.
# The 18,000 connections come up over 60 s (300/s), then 60 s of steady chat.
# Source addresses: ten, so that connect() finds a free local port at once (one address has
# ~28,000 ephemeral ports, shared with everything else on the machine that talks to 127.0.0.1;
# when they run short the kernel's port search dominates the loadgen's CPU).
# Threads: hub-loadgen's default, one event loop per 2,000 connections. lws 4.1 keeps a
# context's timers in one sorted list with a linear insert (several per connect), so a connect
# costs time in proportion to the connections of its loop: with 9,000 per loop the ramp stalled.
cat >"$out/scenario.ini" <<'EOF'
[loadgen]
users=9000
devices=2
rooms=1000
rooms-per-user=1
room-skew=0.6
rate=0.05
mix=publish=90,direct=5,typing=5
ramp=60s
duration=60s
drain=15s
seed=20261128
prefix=c19k-
source-ips=127.0.0.2-127.0.0.11
max-p99-ms=50
max-loss=0
max-errors=0
EOF

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

"$build/hub-server/hub-server" --host 127.0.0.1 --port 0 >"$out/server.out" 2>"$out/server.err" &
server_pid=$!
for _ in $(seq 1 100); do
  if read -r first <"$out/server.out" 2>/dev/null && [ -n "$first" ]; then break; fi
  sleep 0.1
done
url=$(sed -n '1s|^hub-server listening on \(ws://[^ ]*\) .*|\1|p' "$out/server.out")
[ -n "$url" ] || { echo "capacity-19k.sh: hub-server did not start; see $out/server.err" >&2; exit 2; }

# utime + stime of a process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# $build/hub-loadgen/hub-loadgen --scenario $out/scenario.ini --url $url --json $out/report.json $*"
} >"$out/report.txt"
# Sets CHILDREN_MS to the CPU milliseconds of this shell's finished children (bash's `times`,
# second line): the loadgen's once it ended (the server still runs, so it is not counted
# there). `times` must run in this shell: in $(…) it would report the subshell's children (0).
children_ms ()
{
  times >"$out/times.txt"
  CHILDREN_MS=$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] } printf "%d\n", t * 1000 }' "$out/times.txt")
}
t0=$(date +%s.%N)
c0=$(cpu_ticks "$server_pid")
children_ms
l0=$CHILDREN_MS
status=0
"$build/hub-loadgen/hub-loadgen" --scenario "$out/scenario.ini" --url "$url" \
  --json "$out/report.json" "$@" >>"$out/report.txt" || status=$?
t1=$(date +%s.%N)
c1=$(cpu_ticks "$server_pid")
children_ms
l1=$CHILDREN_MS
hz=$(getconf CLK_TCK)
{
  echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# server: CPU $(awk -v c=$((c1 - c0)) -v hz="$hz" -v t0="$t0" -v t1="$t1" \
    'BEGIN {printf "%.1f s over %.0f s (%.1f %% of one core)", c / hz, t1 - t0, 100 * c / hz / (t1 - t0)}'), RSS now $(status_kib "$server_pid" VmRSS) KiB, peak $(status_kib "$server_pid" VmHWM) KiB"
  echo "# loadgen: CPU $(awk -v c=$((l1 - l0)) -v t0="$t0" -v t1="$t1" \
    'BEGIN {printf "%.1f s over %.0f s (%.1f %% of one core)", c / 1000, t1 - t0, 100 * c / 1000 / (t1 - t0)}')"
} >>"$out/report.txt"
cat "$out/report.txt"
if command -v jq >/dev/null; then
  jq -r '"summary: \(.connections.ready_at_end)/\(.connections.target) connections, \(.deliveries.received) of \(.deliveries.expected) deliveries (\(.deliveries.live_per_s | floor)/s live), lost \(.deliveries.lost), errors \(.errors.total), latency p50 \(.latency_ms.p50) p99 \(.latency_ms.p99) max \(.latency_ms.max) ms, passed \(.passed)"' "$out/report.json"
fi
echo "capacity-19k.sh: report in $out/report.txt and $out/report.json (exit $status)" >&2
exit "$status"
