#!/usr/bin/env bash
# chaos-cluster.sh: hub-loadgen with churn against a 3-node cluster (scripts/cluster.sh: Redis,
# three hub-server nodes, haproxy in front) while this script stops Redis (SIGSTOP) for a while,
# twice, and kills one node (SIGKILL) in between; then says whether any acknowledged message was
# lost (issue 17). Every message the cluster acknowledged must reach every device of every
# member, live or by the replay of a resume, or the server must have said the replay is
# incomplete (resumed complete:false, counted "evicted" by hub-loadgen).
#
#   scripts/chaos-cluster.sh [--duration S] [--stall S] [--users N] [--rate R] [--churn P]
#                            [--heartbeat S] [--port P] [--base-port B] [--redis-port R]
#
# Defaults: 90 s of steady traffic, Redis stopped 10 s twice, 200 users (1-3 devices each, 2 rooms
# each of 20), 1 action/s per user, --churn 20, --heartbeat 2, ports 8190, 9191-9193 and 6491.
# Timeline, from the start of the steady state: Redis stopped at 15 s, node3 killed at 40 s,
# Redis stopped again at 55 s. Everything lives in $HUB_CHAOS_DIR (default
# /tmp/hub-chaos-$USER): the cluster's PID files and logs, hub-loadgen's report (report.json,
# report.txt) and this run's timeline (events.log). It stops exactly what it started: the
# cluster through `cluster.sh stop` (its PID files) and hub-loadgen by its PID.
# $HUB_SERVER_BIN / $HUB_LOADGEN_BIN name the binaries (default: build/); $CHAOS_FAULTS the three
# faults (default "stall kill stall"; "-" for none at that time).
# Exit status: 0 when nothing acknowledged was lost, 1 when something was (or a step failed),
# 2 on bad usage.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${HUB_CHAOS_DIR:-/tmp/hub-chaos-${USER:-$(id -un)}}
DURATION=90 STALL=10 USERS=200 RATE=1 CHURN=20 HEARTBEAT=2
LB_PORT=8190 BASE_PORT=9191 REDIS_PORT=6491
RAMP=10

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
  exit 2
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --stall) STALL=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --churn) CHURN=$2; shift 2 ;;
    --heartbeat) HEARTBEAT=$2; shift 2 ;;
    --port) LB_PORT=$2; shift 2 ;;
    --base-port) BASE_PORT=$2; shift 2 ;;
    --redis-port) REDIS_PORT=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "chaos-cluster.sh: unknown option '$1'" >&2; usage ;;
  esac
done
((DURATION >= 60)) || { echo "chaos-cluster.sh: --duration must be at least 60 s (the timeline)" >&2; exit 2; }

SERVER=${HUB_SERVER_BIN:-$ROOT/build/hub-server/hub-server}
LOADGEN=${HUB_LOADGEN_BIN:-$ROOT/build/hub-loadgen/hub-loadgen}
for b in "$SERVER" "$LOADGEN"; do
  [[ -x $b ]] || { echo "chaos-cluster.sh: $b not built (scripts/test.sh builds it)" >&2; exit 2; }
done

export HUB_CLUSTER_DIR=$DIR/cluster HUB_SERVER_BIN=$SERVER
# A fresh start: a cluster of a previous run still up is refused by cluster.sh; its Redis data
# (append-only) would be read back first, and grows with every run.
"$ROOT/scripts/cluster.sh" status 2>/dev/null | grep -q ": running" &&
  { echo "chaos-cluster.sh: a cluster is still running in $HUB_CLUSTER_DIR" >&2; exit 1; }
rm -rf "$HUB_CLUSTER_DIR"
mkdir -p "$DIR"
rm -f "$DIR"/events.log "$DIR"/report.json "$DIR"/report.txt
LOADGEN_PID=""
T0=$(date +%s%3N)  # ms

event() {
  local t=$(($(date +%s%3N) - T0))
  printf '%4d.%d s  %s\n' $((t / 1000)) $((t % 1000 / 100)) "$*" | tee -a "$DIR/events.log" >&2
}

pid_of() { cat "$HUB_CLUSTER_DIR/$1.pid"; }

# Whatever happens: Redis running again (a stopped Redis would not stop), hub-loadgen ended, the
# cluster stopped. Only what this run started, by PID.
cleanup() {
  local rc=$?
  if [[ -f $HUB_CLUSTER_DIR/redis.pid ]]; then kill -CONT "$(pid_of redis)" 2>/dev/null || true; fi
  if [[ -n $LOADGEN_PID ]] && kill -0 "$LOADGEN_PID" 2>/dev/null; then
    kill -TERM "$LOADGEN_PID" 2>/dev/null || true
    wait "$LOADGEN_PID" 2>/dev/null || true
  fi
  "$ROOT/scripts/cluster.sh" stop >/dev/null 2>&1 || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Sleeps until $1 seconds after the start of the steady state.
at() {
  local left=$((STEADY + $1 * 1000 - $(date +%s%3N)))
  if ((left > 0)); then sleep "$((left / 1000)).$(printf '%03d' $((left % 1000)))"; fi
}

stall_redis() {
  local pid
  pid=$(pid_of redis)
  kill -STOP "$pid"
  event "Redis stopped (SIGSTOP, pid $pid) for ${STALL} s"
  sleep "$STALL"
  kill -CONT "$pid"
  event "Redis continued (SIGCONT)"
}

"$ROOT/scripts/cluster.sh" start 3 --port "$LB_PORT" --base-port "$BASE_PORT" \
  --redis-port "$REDIS_PORT" -- --heartbeat "$HEARTBEAT" >"$DIR/cluster.txt"
event "cluster up: redis :$REDIS_PORT, nodes :$BASE_PORT-$((BASE_PORT + 2)), haproxy :$LB_PORT (--heartbeat $HEARTBEAT)"

"$LOADGEN" --url "ws://127.0.0.1:$LB_PORT/ws" --metrics-url "http://127.0.0.1:$BASE_PORT/metrics" \
  --users "$USERS" --devices 1:60,2:30,3:10 --rooms 20 --rooms-per-user 2 --rate "$RATE" \
  --churn "$CHURN" --ramp "$RAMP" --duration "$DURATION" --drain 30 --max-errors none \
  --json "$DIR/report.json" --quiet >"$DIR/report.txt" 2>"$DIR/loadgen.err" &
LOADGEN_PID=$!
event "hub-loadgen started (pid $LOADGEN_PID): $USERS users, --rate $RATE, --churn $CHURN, ${DURATION} s"
STEADY=$(($(date +%s%3N) + RAMP * 1000))

# The faults, at 15, 40 and 55 s: $CHAOS_FAULTS leaves some out (e.g. "stall - -" to find which
# one costs what); "-" is a pause.
read -r -a faults <<<"${CHAOS_FAULTS:-stall kill stall}"
times=(15 40 55)
for i in 0 1 2; do
  at "${times[$i]}"
  case ${faults[$i]:--} in
    stall) stall_redis ;;
    kill)
      kill -KILL "$(pid_of node3)"
      event "node3 killed (SIGKILL)"
      ;;
    -) ;;
    *) echo "chaos-cluster.sh: unknown fault '${faults[$i]}'" >&2; exit 2 ;;
  esac
done

set +e
wait "$LOADGEN_PID"
lg_status=$?
set -e
LOADGEN_PID=""
event "hub-loadgen ended (exit $lg_status)"

cat "$DIR/report.txt"
[[ -s $DIR/report.json ]] || { echo "chaos-cluster.sh: no report (see $DIR/loadgen.err)" >&2; exit 1; }
# The verdict, from the report: "lost" counts every message of a room up to its final seq that a
# member's device neither received (live or replayed) nor was told it cannot have ("unrecoverable":
# resumed complete:false); acknowledged or not, so it covers every acknowledged one.
python3 - "$DIR/report.json" "$DIR/events.log" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
d, s, c, rs = r["deliveries"], r["sent"], r["connections"], r["resume"]
print(f"chaos: publishes {s['publish']}: {s['publish_acked']} acknowledged, "
      f"{s['publish_rejected']} refused, {s['publish_unknown']} unanswered")
print(f"chaos: deliveries {d['expected']} expected, {d['received']} received "
      f"({d['live']} live, {d['replayed']} replayed), lost {d['lost']}, "
      f"told incomplete {d['unrecoverable']}, duplicated {d['duplicated']}, "
      f"out of order {d['out_of_order']}")
print(f"chaos: connections {c['connects']} connects, {c['reconnects']} reconnects, "
      f"{c['churn_drops']} churn drops, {c['lost_connections']} lost by the server; "
      f"{rs['resumes']} room resumes ({rs['incomplete']} incomplete)")
print(f"chaos: errors {r['errors']['total']} {json.dumps(r['errors']['by_kind'])}")
if d["lost"] == 0:
    print(f"chaos-cluster.sh: PASS: 0 acknowledged messages lost (events: {sys.argv[2]})")
    sys.exit(0)
print(f"chaos-cluster.sh: FAIL: {d['lost']} deliveries lost", file=sys.stderr)
sys.exit(1)
EOF
