#!/usr/bin/env bash
# bench-fanout.sh: the one-room fan-out figure of docs/performance.md, through the neutral driver
# of ../shared/bench (1,000 subscribers + 10 publishers in one room, offered deliveries/s
# stepping through $STEPS, hub-server pinned to CPU 0, the driver to CPU 1), then the peers
# (lws-broker, nats, ws-hub, sio-hub) with the same steps, so that every figure of the comparison
# comes from one sitting. Builds hub-server optimised into build-perf/ first.
#
#   scripts/bench-fanout.sh                          hub-server, then all four peers
#   PEERS="lws-broker ws-hub" scripts/bench-fanout.sh
#   PEERS= scripts/bench-fanout.sh                   hub-server only
#   scripts/bench-fanout.sh --event-loop glib        extra arguments go to hub-server
#
# Knobs are ../shared/bench/lib.sh's (STEPS, DURATION, SUBS, PUBS, IDLE_N, SKIP_IDLE, ...), e.g.
#   STEPS="50000 100000 200000" DURATION=5 SKIP_IDLE=1 scripts/bench-fanout.sh   a quick look
# Results: $BENCH_WORK/results (default /tmp/hub-bench): hub-<run>.jsonl, peers-<run>.jsonl and
# the Markdown tables hub-vs-peers.md and peers-summary.md. The bench needs jq, node, npm and
# nats-server (Debian packages) besides what scripts/install-deps.sh installs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=${BENCH_DIR:-$root/../shared/bench}
PEERS=${PEERS-"lws-broker nats ws-hub sio-hub"}

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S "$root" -B "$root/build-perf" -DCMAKE_BUILD_TYPE=Release -DHUB_SANITIZE=OFF >/dev/null
cmake --build "$root/build-perf" --target hub-server -j "$jobs" >/dev/null

stamp=$(date +%Y%m%d-%H%M%S)
# run-hub.sh summarises hub-server beside every results/peers-*.jsonl: a fresh results folder
# per sitting keeps older peer runs out of the comparison.
export BENCH_WORK=${BENCH_WORK:-/tmp/hub-bench-$stamp}
RUN_ID=hub-$stamp "$bench/run-hub.sh" "$root/build-perf/hub-server/hub-server" "$@"
if [[ -n "$PEERS" ]]; then
  # shellcheck disable=SC2086
  RUN_ID=peers-$stamp "$bench/run-peers.sh" $PEERS
  # hub-server again beside this sitting's peers only.
  node "$BENCH_WORK/summarize.mjs" --title "hub-server vs peers ($stamp)" \
    "$BENCH_WORK/results/peers-$stamp.jsonl" "$BENCH_WORK/results/hub-$stamp.jsonl" \
    >"$BENCH_WORK/results/hub-vs-peers-$stamp.md"
  echo "summary -> $BENCH_WORK/results/hub-vs-peers-$stamp.md" >&2
fi
