#!/usr/bin/env bash
# cluster.sh: a local hub cluster on 127.0.0.1 for trying cluster mode: one
# redis-server, N hub-server nodes on consecutive ports, and haproxy in front
# (balance leastconn, WebSocket-friendly timeouts, /healthz checks).
#
#   scripts/cluster.sh start [N] [--port P] [--base-port B] [--redis-port R] [-- hub-server args…]
#   scripts/cluster.sh status
#   scripts/cluster.sh stop
#
# Everything lives in the run directory ($HUB_CLUSTER_DIR, default
# /tmp/hub-cluster-$USER): PID files, logs, haproxy.cfg, Redis' data. `stop`
# kills exactly the processes whose PID files `start` wrote; a `start` that
# fails (a port in use, a node that does not come up) stops what it started.
# $HUB_SERVER_BIN names the hub-server binary (default: build*/hub-server/).

set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${HUB_CLUSTER_DIR:-/tmp/hub-cluster-${USER:-$(id -un)}}
N=3
LB_PORT=8080
BASE_PORT=9001
REDIS_PORT=6390
EXTRA=()

# Set once start() has launched something: a failure then stops it all.
STARTED=0

die() {
  echo "cluster.sh: $*" >&2
  if [[ $STARTED == 1 ]]; then
    echo "cluster.sh: stopping what this start started" >&2
    STARTED=0
    stop >&2
  fi
  exit 1
}

# True when something accepts connections on 127.0.0.1:$1.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

find_server() {
  if [[ -n ${HUB_SERVER_BIN:-} ]]; then
    echo "$HUB_SERVER_BIN"
    return
  fi
  for b in "$ROOT/build/hub-server/hub-server" "$ROOT"/build*/hub-server/hub-server; do
    [[ -x $b ]] && { echo "$b"; return; }
  done
  die "no hub-server binary: build first (cmake -S . -B build && cmake --build build) or set HUB_SERVER_BIN"
}

need() {
  command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 || -x /usr/bin/$1 ]] ||
    die "$1 not found: scripts/install-deps.sh installs it"
}

bin_of() {
  if command -v "$1" >/dev/null 2>&1; then command -v "$1"; elif [[ -x /usr/sbin/$1 ]]; then
    echo "/usr/sbin/$1"
  else echo "/usr/bin/$1"; fi
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Waits (at most $2 tenths of a second) for the command in $1 to succeed.
# wait_for CMD TENTHS: until CMD succeeds, for at most TENTHS tenths of a second of the clock
# (not of tries: on a loaded machine one try of redis-cli can take longer than its sleep).
wait_for() {
  local deadline=$(($(date +%s%3N) + $2 * 100))
  while :; do
    eval "$1" && return 0
    (($(date +%s%3N) < deadline)) || return 1
    sleep 0.1
  done
}

start() {
  need redis-server
  need redis-cli
  need haproxy
  local server
  server=$(find_server)
  mkdir -p "$RUN"
  if ls "$RUN"/*.pid >/dev/null 2>&1; then
    for p in "$RUN"/*.pid; do
      alive "$p" && die "already running (see '$0 status'; '$0 stop' first)"
    done
    rm -f "$RUN"/*.pid
  fi
  local port
  for port in "$LB_PORT" "$REDIS_PORT" $(seq "$BASE_PORT" $((BASE_PORT + N - 1))); do
    port_busy "$port" && die "port $port is in use by another program" \
      "(choose others with --port, --base-port, --redis-port)"
  done

  STARTED=1
  "$(bin_of redis-server)" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN" --save '' \
    --appendonly yes --daemonize yes --pidfile "$RUN/redis.pid" --logfile "$RUN/redis.log"
  # 20 s: with appendonly, a loaded machine (test-cluster-script beside other suites) took more
  # than 5 s to answer the first ping.
  wait_for "$(bin_of redis-cli) -p $REDIS_PORT ping >/dev/null 2>&1" 200 ||
    die "redis-server did not answer on port $REDIS_PORT (see $RUN/redis.log)"
  echo "redis      127.0.0.1:$REDIS_PORT (pid $(cat "$RUN/redis.pid"))"

  local servers=""
  for ((i = 1; i <= N; i++)); do
    local port=$((BASE_PORT + i - 1)) log="$RUN/node$i.log"
    nohup "$server" --host 127.0.0.1 --port "$port" --node "node$i" \
      --redis "redis://127.0.0.1:$REDIS_PORT" "${EXTRA[@]}" >"$log" 2>&1 </dev/null &
    echo $! >"$RUN/node$i.pid"
    # Up when it says so; a node that exits (its port taken after all) fails at once.
    wait_for "grep -q 'listening on' '$log' || ! alive '$RUN/node$i.pid'" 100
    grep -q 'listening on' "$log" ||
      die "node$i did not start on port $port: $(tail -n 1 "$log" 2>/dev/null) (see $log)"
    echo "node$i      ws://127.0.0.1:$port/ws (pid $(cat "$RUN/node$i.pid"))"
    servers+="  server node$i 127.0.0.1:$port check inter 1s fall 2 rise 1"$'\n'
  done

  # Two descriptors per proxied connection, within this shell's open-file limit.
  local maxconn=$((($(ulimit -n) - 200) / 2))
  ((maxconn > 50000)) && maxconn=50000
  cat >"$RUN/haproxy.cfg" <<EOF
global
  maxconn $maxconn

defaults
  mode http
  timeout connect 5s
  # WebSockets: the client and server timeouts cover the upgrade; the tunnel
  # timeout then covers idle connections (hub pings every heartbeat).
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  timeout client-fin 5s
  option dontlognull

frontend hub
  bind 127.0.0.1:$LB_PORT
  maxconn $maxconn
  default_backend nodes

backend nodes
  balance leastconn
  option httpchk GET /healthz
  http-check expect status 200
$servers
EOF
  "$(bin_of haproxy)" -D -f "$RUN/haproxy.cfg" -p "$RUN/haproxy.pid" ||
    die "haproxy did not start (config: $RUN/haproxy.cfg)"
  wait_for "alive '$RUN/haproxy.pid'" 50 || die "haproxy did not write its PID file"
  echo "haproxy    ws://127.0.0.1:$LB_PORT/ws (pid $(cat "$RUN/haproxy.pid"))"
  echo "run dir    $RUN   (stop: $0 stop)"
}

status() {
  local any=0
  for p in "$RUN"/redis.pid "$RUN"/node*.pid "$RUN"/haproxy.pid; do
    [[ -f $p ]] || continue
    any=1
    local name
    name=$(basename "$p" .pid)
    if alive "$p"; then echo "$name: running (pid $(cat "$p"))"; else echo "$name: dead"; fi
  done
  [[ $any == 1 ]] || echo "not running (no PID files in $RUN)"
}

stop() {
  local p pid
  # The balancer first, Redis last: nodes then shut down cleanly (1001).
  for p in "$RUN"/haproxy.pid "$RUN"/node*.pid "$RUN"/redis.pid; do
    [[ -f $p ]] || continue
    pid=$(cat "$p")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      wait_for "! kill -0 $pid 2>/dev/null" 60 || kill -KILL "$pid" 2>/dev/null || true
      echo "stopped $(basename "$p" .pid) (pid $pid)"
    fi
    rm -f "$p"
  done
}

cmd=${1:-}
shift || true
case $cmd in
  start)
    if [[ ${1:-} =~ ^[0-9]+$ ]]; then
      N=$1
      shift
    fi
    while [[ $# -gt 0 ]]; do
      case $1 in
        --port) LB_PORT=$2; shift 2 ;;
        --base-port) BASE_PORT=$2; shift 2 ;;
        --redis-port) REDIS_PORT=$2; shift 2 ;;
        --) shift; EXTRA=("$@"); break ;;
        *) die "unknown option '$1'" ;;
      esac
    done
    ((N >= 1 && N <= 64)) || die "N must be 1-64"
    start
    ;;
  stop) stop ;;
  status) status ;;
  *)
    # The comment block at the top, up to its first blank line.
    sed -n '2,/^$/p' "$0" | sed -e '/^$/d' -e 's/^# \{0,1\}//'
    exit 2
    ;;
esac
