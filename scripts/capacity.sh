#!/usr/bin/env bash
# capacity.sh: a reproducible capacity run. Builds hub-server and hub-loadgen (optimised, into
# build/), starts a fresh in-memory hub-server on a free loopback port, runs hub-loadgen with
# the scenario below (fixed seed and names) and writes the report to $OUT (default
# build/capacity/): report.txt (the table), report.json, report.html (charts), series.jsonl (a
# line a second) and latency.hgrm. Extra arguments go to hub-loadgen after the scenario, so any
# flag overrides it. Exits with hub-loadgen's status: 0 the run met its limits, 1 it did not.
#
#   scripts/capacity.sh                      the documented example run (about 90 s, plus the build)
#   scripts/capacity.sh --find-capacity      raise the rate until p99, loss or errors break the
#                                            limits, then search between to within 10 %
#   scripts/capacity.sh --users 5000         any hub-loadgen flag (see docs/hub-loadgen.md)
#   SERVER_URL=ws://127.0.0.1:8080/ws scripts/capacity.sh
#                                            load a server started elsewhere instead
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=${OUT:-build/capacity}
mkdir -p "$out"

scripts/install-deps.sh >/dev/null
jobs=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
# Same build type and sanitizer setting as scripts/test.sh and run-server.sh: they share build/.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUB_SANITIZE=OFF >/dev/null
cmake --build build --target hub-server hub-loadgen -j "$jobs" >/dev/null

# The scenario: 4,000 users with 1-3 devices (6,000 connections) in 2,000 rooms of Zipf-skewed
# popularity (the biggest has some 220 members), 3 rooms each, one action per user every 50 s
# (mostly publishes), 5% of the devices dropping and resuming each minute; it must lose nothing,
# see no error and hold a p99 delivery latency under 1 s. Sized for the shared 2-core machine
# this project is developed on, where the loadgen (which needs more CPU per delivery than the
# server) shares the cores with the server and other jobs; on dedicated hardware ask for more,
# e.g. --max-p99-ms 250.
cat >"$out/scenario.ini" <<'EOF'
[loadgen]
users=4000
devices=1:60,2:30,3:10
rooms=2000
rooms-per-user=3
room-skew=0.6
rate=0.02
mix=publish=90,direct=5,typing=4,status=1
ramp=20s
duration=60s
churn=5
drain=10s
seed=20261128
prefix=cap-
max-p99-ms=1000
max-loss=0
max-errors=0
EOF

# Every connection is a descriptor, in the loadgen and in the server: use all we may.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

server_pid=
cleanup ()
{
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

url=${SERVER_URL:-}
if [ -z "$url" ]; then
  build/hub-server/hub-server --host 127.0.0.1 --port 0 >"$out/server.out" 2>"$out/server.err" &
  server_pid=$!
  # Its first line names the port: "hub-server listening on ws://127.0.0.1:PORT/ws …".
  for _ in $(seq 1 100); do
    if read -r first <"$out/server.out" 2>/dev/null && [ -n "$first" ]; then
      break
    fi
    sleep 0.1
  done
  url=$(sed -n '1s|^hub-server listening on \(ws://[^ ]*\) .*|\1|p' "$out/server.out")
  if [ -z "$url" ]; then
    echo "capacity.sh: hub-server did not start; see $out/server.err" >&2
    exit 2
  fi
fi

{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) cores, load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "# build/hub-loadgen/hub-loadgen --scenario $out/scenario.ini --url $url --json $out/report.json" \
    "--html $out/report.html --series $out/series.jsonl --hgrm $out/latency.hgrm $*"
} >"$out/report.txt"
status=0
build/hub-loadgen/hub-loadgen --scenario "$out/scenario.ini" --url "$url" \
  --json "$out/report.json" --html "$out/report.html" --series "$out/series.jsonl" \
  --hgrm "$out/latency.hgrm" "$@" | tee -a "$out/report.txt" || status=${PIPESTATUS[0]}
echo "capacity.sh: report in $out/report.txt, report.json, report.html, series.jsonl and" \
  "latency.hgrm (exit $status)" >&2
exit "$status"
