#!/usr/bin/env bash
# bench.sh: hub-server's regression bench (issue 7, "no regression without notice"). Builds
# hub-server, hub-loadgen and hub-client optimised, runs a fixed set of hub-loadgen scenarios,
# each against a fresh server on 127.0.0.1, and counts the instructions hub-server executes per
# delivered frame under valgrind's callgrind (repeatable on a noisy machine, unlike timings),
# then the instructions hub-loadgen's receive path executes per frame it receives in the same
# cases (issue 19: the loadgen must out-run what it measures), and both CPUs per delivery.
# Writes a Markdown table and a JSON file that a later run can be compared with; the
# instruction counts are the gate, timings are informational. docs/performance.md explains it.
#
#   scripts/bench.sh                          everything (4–5 minutes on the 2-core dev VM)
#   scripts/bench.sh --compare OLD.json       run, then compare: exit 3 when instructions per
#                                             frame grew by more than 5 % in any case
#   scripts/bench.sh --compare OLD.json NEW.json   compare two results only, run nothing
#   scripts/bench.sh --only load|callgrind    run one half (callgrind: server and loadgen)
#   scripts/bench.sh --threshold 3            regression threshold in percent (default 5)
#
# Environment: BUILD_DIR (default build-bench, configured Release), BENCH_OUT (results, default
# $BUILD_DIR/results), BENCH_PIN=0 (do not pin the server to CPU 0 and its clients to CPU 1).
# Exit status: 0 fine; 1 a scenario failed (lost deliveries, a server that died, callgrind
# counts that do not add up); 2 bad usage, a missing tool or a failed build; 3 a regression
# against --compare. Without valgrind (macOS) the callgrind half is skipped with a message.
# Ends only the processes it started.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say () { printf 'bench.sh: %s\n' "$*" >&2; }
log () { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
usage ()
{
  if [ "${1:-2}" -eq 0 ]; then
    sed -n '2,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
  else
    say "usage: scripts/bench.sh [--compare OLD.json [NEW.json]] [--only load|callgrind] [--threshold PCT]"
  fi
  exit "${1:-2}"
}

# --- arguments -------------------------------------------------------------------------------

compare_old="" compare_new="" only="" threshold=${BENCH_THRESHOLD:-5}
command_line="scripts/bench.sh${*:+ $*}"
while [ $# -gt 0 ]; do
  case $1 in
    --compare)
      [ $# -ge 2 ] || usage
      compare_old=$2
      shift 2
      if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
        compare_new=$1
        shift
      fi
      ;;
    --only)
      [ $# -ge 2 ] || usage
      case $2 in load | callgrind) only=$2 ;; *) usage ;; esac
      shift 2
      ;;
    --threshold)
      [ $# -ge 2 ] || usage
      threshold=$2
      shift 2
      ;;
    -h | --help) usage 0 ;;
    *)
      say "unknown argument: $1 (try --help)"
      exit 2
      ;;
  esac
done
case $threshold in '' | *[!0-9.]*)
  say "--threshold wants a percentage such as 5"
  exit 2
  ;;
esac
command -v jq >/dev/null 2>&1 || {
  say "jq is required (scripts/install-deps.sh installs it)"
  exit 2
}
if [ -n "$compare_old" ] && [ ! -r "$compare_old" ]; then
  say "cannot read $compare_old"
  exit 2
fi

# --- comparing two results -------------------------------------------------------------------

# compare OLD NEW: prints the deltas as Markdown; returns 3 when instructions per frame grew
# by more than $threshold % in a callgrind case both files have.
compare ()
{
  local old=$1 new=$2
  jq -r -n --slurpfile o "$old" --slurpfile n "$new" --argjson thr "$threshold" '
    def r1: if . == null then null else . * 10 | round / 10 end;
    def num(x): if x == null then "–" else (x | r1 | tostring) end;
    def pct(a; b): if (a // 0) == 0 or b == null then "n/a"
                   else ((b - a) * 100 / a | r1) as $d
                   | if $d == 0 then "0 %" else (if $d > 0 then "+" else "" end) + ($d | tostring) + " %" end
                   end;
    def ipf: if (.frames // 0) > 0 then .ir / .frames else null end;
    $o[0] as $o | $n[0] as $n |
    "## Compared with \($o.date) (commit \($o.commit))",
    "",
    "| callgrind case | Ir / frame before | now | change | verdict (threshold \($thr) %) |",
    "|---|---:|---:|---:|---|",
    (($n.callgrind + [($n.callgrind_loadgen // [])[] | .name = "loadgen " + .name]) as $nc |
     ($o.callgrind + [($o.callgrind_loadgen // [])[] | .name = "loadgen " + .name]) as $oc |
     $nc[] as $c | ([$oc[] | select(.name == $c.name)] | first) as $p |
      if $p == null or ($p | ipf) == null or ($c | ipf) == null then
        "| \($c.name) | – | \(num($c | ipf)) | – | not comparable |"
      else
        ((($c | ipf) - ($p | ipf)) * 100 / ($p | ipf)) as $d |
        "| \($c.name) | \(num($p | ipf)) | \(num($c | ipf)) | \(pct($p | ipf; $c | ipf)) | \(if $d > $thr then "**REGRESSION**" elif $d < -$thr then "better" else "same" end) |"
      end)),
    ([$n.scenarios[].name] - ([$n.scenarios[].name] - [$o.scenarios[].name])) as $both |
    if ($both | length) > 0 then
      "",
      "| scenario (timings: informational) | deliveries/s | p99 ms | server CPU s | server peak RSS KiB |",
      "|---|---:|---:|---:|---:|"
    else empty end,
    ($n.scenarios[] as $s | ([$o.scenarios[] | select(.name == $s.name)] | first) as $p |
      select($p != null) |
      "| \($s.name) | \(num($p.deliveries_per_s)) → \(num($s.deliveries_per_s)) (\(pct($p.deliveries_per_s; $s.deliveries_per_s))) | \(num($p.p99_ms)) → \(num($s.p99_ms)) | \(num($p.server_cpu_s)) → \(num($s.server_cpu_s)) | \(num($p.server_peak_rss_kib)) → \(num($s.server_peak_rss_kib)) |")'
  if jq -e -n --slurpfile o "$old" --slurpfile n "$new" --argjson thr "$threshold" '
      def ipf: if (.frames // 0) > 0 then .ir / .frames else null end;
      def cases(r): r.callgrind + [(r.callgrind_loadgen // [])[] | .name = "loadgen " + .name];
      [cases($n[0])[] as $c | cases($o[0])[] | select(.name == $c.name)
       | select(ipf != null and ($c | ipf) != null)
       | select(($c | ipf) > ipf * (1 + $thr / 100))] | length > 0' >/dev/null; then
    say "instructions per delivered frame regressed by more than $threshold %"
    return 3
  fi
  return 0
}

if [ -n "$compare_new" ]; then
  compare "$compare_old" "$compare_new"
  exit $?
fi

# --- tools, build ----------------------------------------------------------------------------

if command -v timeout >/dev/null 2>&1; then
  TIMEOUT=timeout
elif command -v gtimeout >/dev/null 2>&1; then
  TIMEOUT=gtimeout
else
  say "needs timeout(1) (GNU coreutils)"
  exit 2
fi
have_valgrind=0
if command -v valgrind >/dev/null 2>&1 && command -v callgrind_control >/dev/null 2>&1 &&
  command -v callgrind_annotate >/dev/null 2>&1; then
  have_valgrind=1
fi

build=${BUILD_DIR:-$root/build-bench}
case $build in /*) ;; *) build=$root/$build ;; esac
out=${BENCH_OUT:-$build/results}
jobs=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
log "building hub-server, hub-loadgen and hub-client (Release) in $build"
if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DHUB_BUILD_TESTS=OFF \
  -DHUB_SANITIZE=OFF >"$build.cmake.log" 2>&1 ||
  ! cmake --build "$build" --target hub-server hub-loadgen hub-client -j "$jobs" \
    >>"$build.cmake.log" 2>&1; then
  say "build failed; see $build.cmake.log"
  exit 2
fi
rm -f "$build.cmake.log"
SERVER=$build/hub-server/hub-server
LOADGEN=$build/hub-loadgen/hub-loadgen
CLIENT=$build/hub-client/hub-client

stamp=$(date -u +%Y%m%d-%H%M%S)
work=$out/bench-$stamp
mkdir -p "$work"
md=$out/bench-$stamp.md
json=$out/bench-$stamp.json
cgtxt=$out/bench-$stamp-callgrind.txt

# Every connection is a descriptor, in the loadgen and in the server: use all we may.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Server on CPU 0, its clients on CPU 1, when there are two CPUs to pin to.
PIN_SERVER=() PIN_CLIENTS=()
if [ "${BENCH_PIN:-1}" != 0 ] && [ "$jobs" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
  PIN_SERVER=(taskset -c 0)
  PIN_CLIENTS=(taskset -c 1)
fi
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)

# --- processes -------------------------------------------------------------------------------

started=() # (pids) every background process this script started, for the trap
fifo_open=0
# shellcheck disable=SC2317  # run by the trap
cleanup ()
{
  local p c
  [ "$fifo_open" -eq 1 ] && exec 3>&-
  # `timeout` passes the TERM on to its program; a server under valgrind may take a few
  # seconds to close its connections.
  for p in "${started[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${started[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
      c=$(child_of "$p")
      [ -n "$c" ] && kill -KILL "$c" 2>/dev/null
      kill -KILL "$p" 2>/dev/null || true
    fi
    wait "$p" 2>/dev/null || true
  done
}
# forget PID: it was waited for (its number may be reused: never signal it again).
forget ()
{
  local p kept=()
  for p in "${started[@]}"; do
    [ "$p" = "$1" ] || kept+=("$p")
  done
  started=("${kept[@]}")
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The child of a `timeout` (the program it runs): that is the process to measure and signal.
child_of ()
{
  local c=""
  for _ in $(seq 100); do
    c=$(cat "/proc/$1/task/$1/children" 2>/dev/null || pgrep -P "$1" 2>/dev/null || true)
    c=${c%% *}
    [ -n "$c" ] && break
    sleep 0.02
  done
  echo "${c// /}"
}

# CPU ticks (utime + stime) of a process; its peak and current RSS in KiB.
cpu_ticks () { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
status_kib () { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# start_server DIR LIMIT_S PREFIX_CMD... -- ARGS...: starts hub-server (behind the prefix
# command, e.g. valgrind) on a free loopback port; sets SRV_TPID (its `timeout`), SRV_PID,
# SRV_URL and SRV_PORT.
start_server ()
{
  local dir=$1 limit=$2 prefix=()
  shift 2
  while [ "$1" != -- ]; do
    prefix+=("$1")
    shift
  done
  shift
  : >"$dir.server.out"
  "$TIMEOUT" -k 5 "$limit" "${PIN_SERVER[@]}" "${prefix[@]}" "$SERVER" --host 127.0.0.1 \
    --port 0 "$@" >"$dir.server.out" 2>"$dir.server.err" &
  SRV_TPID=$!
  started+=("$SRV_TPID")
  SRV_PID=$(child_of "$SRV_TPID")
  SRV_URL=""
  for _ in $(seq 600); do
    SRV_URL=$(sed -n '1s|^hub-server listening on \(ws://[^ ]*\) .*|\1|p' "$dir.server.out")
    [ -n "$SRV_URL" ] && break
    kill -0 "$SRV_TPID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$SRV_URL" ] || [ -z "$SRV_PID" ]; then
    say "hub-server did not start; see $dir.server.err"
    exit 1
  fi
  SRV_PORT=${SRV_URL#ws://127.0.0.1:}
  SRV_PORT=${SRV_PORT%%/*}
}

# stop_server: SIGTERM (hub-server closes its connections and exits; callgrind writes its
# file), then SIGKILL after 30 s. Returns the server's status.
stop_server ()
{
  local rc=0
  kill -TERM "$SRV_PID" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SRV_PID" 2>/dev/null || true
  wait "$SRV_TPID" 2>/dev/null || rc=$?
  forget "$SRV_TPID"
  return "$rc"
}

# metrics: the server's /metrics (plain HTTP over bash's /dev/tcp: curl is not needed).
metrics ()
{
  local text
  # shellcheck disable=SC2016  # $1 is the inner shell's
  text=$("$TIMEOUT" 10 bash -c 'exec 5<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&5
    cat <&5' _ "$SRV_PORT" 2>/dev/null) || true
  printf '%s\n' "$text" | tr -d '\r'
}

# wait_quiet CONNECTIONS LIMIT_S: until the server holds CONNECTIONS (if not empty) and has
# neither used CPU nor received a frame for a whole second. Returns 1 after LIMIT_S.
wait_quiet ()
{
  local want=$1 limit=$2 end=$((SECONDS + $2)) last="" now stable=0 m conns
  while [ "$SECONDS" -lt "$end" ]; do
    m=$(metrics)
    conns=$(printf '%s\n' "$m" | awk '$1 == "hub_connections" { print $2 }')
    now="$(cpu_ticks "$SRV_PID") $(printf '%s\n' "$m" | awk '$1 == "hub_frames_in_total" { print $2 }')"
    if { [ -z "$want" ] || [ "$conns" = "$want" ]; } && [ "$now" = "$last" ]; then
      stable=$((stable + 1))
      [ "$stable" -ge 4 ] && return 0
    else
      stable=0
    fi
    last=$now
    sleep 0.25
  done
  say "the server did not settle within ${limit}s (connections ${conns:-?}, want ${want:-any})"
  return 1
}

# --- the load scenarios ----------------------------------------------------------------------

# Sized for a 2-core machine where hub-loadgen (which spends about 3× the server's CPU per
# delivery) shares the cores with the server: about 100 s in all. Fields: name, description,
# hub-server flags, hub-loadgen flags (--seed, --prefix and --json are added). hub-loadgen's
# verdict is kept for losses only (--max-errors none): errors are shown, a loss fails the run.
SCENARIOS=(
  "chat|chat: 1,000 users × 2 devices in 100 rooms (~20 connections each), 1,000 publishes/s, 20 s|--heartbeat 30|--users 1000 --devices 2 --rooms 100 --room-skew 0 --rate 1 --ramp 5s --duration 20s --drain 5s"
  "fanout|fan-out: one room of 500 users, 100 publishes/s (50,000 deliveries/s), 10 s|--heartbeat 30|--users 500 --rooms 1 --rate 0.2 --arrival uniform --ramp 5s --duration 10s --drain 5s"
  "mix|mix: 2,000 users × 1–2 devices in 2 of 200 rooms each, 40 % directs, 20 % typing and status, 30 % of devices dropped and resumed per minute, 10 s|--heartbeat 30|--users 2000 --devices 1:50,2:50 --rooms 200 --rooms-per-user 2 --room-skew 0.6 --rate 0.5 --mix publish=40,direct=40,typing=10,status=10 --churn 30 --ramp 10s --duration 10s --drain 5s"
  "idle|idle: 5,000 connections in rooms of 100, nothing sent, server heartbeat every 5 s, 10 s|--heartbeat 5|--users 5000 --rooms 50 --room-skew 0 --rate 0 --ramp 10s --duration 10s --drain 1s"
)

# Busy and total jiffies of the whole machine (/proc/stat), to tell how much other tasks ran.
machine_jiffies () { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat 2>/dev/null || echo "0 0"; }
# Sets CHILDREN_MS to the CPU milliseconds used by this shell's waited-for children so far
# (bash's `times`, which must run in this shell: a subshell has children of its own).
children_cpu ()
{
  times >"$work/times.txt"
  CHILDREN_MS=$(awk 'NR == 2 {
    t = 0
    for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] }
    printf "%d\n", t * 1000 }' "$work/times.txt")
}
now_ms () { echo $(($(date +%s%N) / 1000000)); }

# run_load NAME DESCRIPTION SERVER_ARGS LOADGEN_ARGS: one scenario; appends its result to
# $work/scenarios.jsonl.
run_load ()
{
  local name=$1 desc=$2 sargs lgargs dir=$work/$1 rc=0 cpu0 cpu1 t0 t1 base hwm alive=1
  local lg0 lg1 mj0 mj1
  read -r -a sargs <<<"$3"
  read -r -a lgargs <<<"$4"
  log "scenario $name: $desc"
  start_server "$dir" 300 -- "${sargs[@]}"
  base=$(status_kib "$SRV_PID" VmRSS)
  cpu0=$(cpu_ticks "$SRV_PID")
  children_cpu
  lg0=$CHILDREN_MS
  mj0=$(machine_jiffies)
  t0=$(now_ms)
  "$TIMEOUT" -k 5 180 "${PIN_CLIENTS[@]}" "$LOADGEN" --url "$SRV_URL" "${lgargs[@]}" \
    --max-errors none --seed 20261128 --prefix "$name-" --quiet --json "$dir.loadgen.json" \
    >"$dir.loadgen.txt" 2>&1 || rc=$?
  t1=$(now_ms)
  mj1=$(machine_jiffies)
  children_cpu
  lg1=$CHILDREN_MS
  cpu1=$(cpu_ticks "$SRV_PID")
  hwm=$(status_kib "$SRV_PID" VmHWM)
  kill -0 "$SRV_PID" 2>/dev/null || alive=0
  stop_server || true
  if [ ! -s "$dir.loadgen.json" ]; then
    say "scenario $name: hub-loadgen wrote no report (exit $rc); see $dir.loadgen.txt"
    printf '{}' >"$dir.loadgen.json"
  fi
  # Other tasks: the machine's busy CPU time minus the server's and the loadgen's.
  jq -c --arg name "$name" --arg desc "$desc" --argjson rc "$rc" --argjson alive "$alive" \
    --argjson cpu "$(((cpu1 - cpu0) * 1000 / HZ))" --argjson wall "$((t1 - t0))" \
    --argjson lg "$((lg1 - lg0))" \
    --argjson busy "$(((${mj1% *} - ${mj0% *}) * 1000 / HZ))" \
    --argjson hwm "${hwm:-0}" --argjson base "${base:-0}" '
    def r1: . * 10 | round / 10;
    (.population.devices // 0) as $conns |
    {name: $name, description: $desc,
     passed: ($rc == 0 and $alive == 1 and (.passed // false)),
     failures: ((.failures // ["no report"]) + (if $alive == 1 then [] else ["the server died"] end)),
     connections: $conns,
     connections_ready: .connections.ready_at_end,
     deliveries_per_s: ((.steps[0].delivered_per_s // 0) | round),
     deliveries: (.deliveries.received // 0),
     p50_ms: .latency_ms.p50, p99_ms: .latency_ms.p99, max_ms: .latency_ms.max,
     lost: .deliveries.lost, errors: .errors.total, error_kinds: (.errors.by_kind // {}),
     server_deliveries: .server.delta.hub_deliveries_total,
     server_agrees: .server.agreement.deliveries.match,
     run_s: ($wall / 1000 | r1),
     server_cpu_s: ($cpu / 1000),
     server_cpu_pct: (if $wall > 0 then ($cpu * 100 / $wall | r1) else null end),
     loadgen_cpu_s: ($lg / 1000),
     # CPU per delivered frame (the server count of message and direct frames), each side.
     server_us_per_delivery: (if (.server.delta.hub_deliveries_total // 0) > 0
       then ($cpu * 1000 / .server.delta.hub_deliveries_total * 100 | round / 100) else null end),
     loadgen_us_per_delivery: (if (.server.delta.hub_deliveries_total // 0) > 0
       then ($lg * 1000 / .server.delta.hub_deliveries_total * 100 | round / 100) else null end),
     loadgen_to_server: (if $cpu > 0 then ($lg / $cpu * 100 | round / 100) else null end),
     other_tasks_cpu_pct: (if $wall > 0 then ([($busy - $cpu - $lg), 0] | max) * 100 / $wall | r1
                           else null end),
     loadgen_transport: (.transport.kind // "libwebsockets"),
     server_peak_rss_kib: $hwm,
     rss_per_connection_b: (if $conns > 0 then (($hwm - $base) * 1024 / $conns | round) else null end)}
    ' "$dir.loadgen.json" >>"$work/scenarios.jsonl"
}

# --- the instruction count per delivered frame ------------------------------------------------

# What is counted: everything hub-server executes inside its lws protocol callback (a request
# read, parsed, dispatched, encoded once and queued to every recipient) and inside the flush
# that writes the queued frames (gathering, lws_write, the send() wrapper), for a fixed batch
# of publishes. Not counted: the event loops' own iteration cost and lws's ping handling.
# That keeps the count exact on a shared machine: every HubClient (hub-loadgen's devices and
# hub-client) pings the server 20 s after its last pong, so with a thousand of them idle a
# ping arrives every few ms, whenever the window is. If hub-server renames these functions
# (callback in hub-ws-transport.c, flush_dispatch in hub-ws-send.c), the count drops to 0 and
# the case fails: update them here (and add the write path's new home if frames come to be
# written outside flush_dispatch).
CALLGRIND_FUNCTIONS=(callback flush_dispatch)

# cg_oks: the `ok` replies the publisher (hub-client --json) has received so far.
cg_oks () { grep -c '"type":"ok"' "$1" 2>/dev/null || true; }

# cg_wait_oks FILE N LIMIT_S CLIENT_PID: until FILE holds N ok replies. Returns 1 if not.
cg_wait_oks ()
{
  local end=$((SECONDS + $3))
  while [ "$SECONDS" -lt "$end" ]; do
    [ "$(cg_oks "$1")" -ge "$2" ] && return 0
    kill -0 "$4" 2>/dev/null || break
    sleep 0.1
  done
  [ "$(cg_oks "$1")" -ge "$2" ]
}

# run_callgrind NAME DESCRIPTION USERS DEVICES ROOMS ROOMS_USED MESSAGES CONNECT_RATE:
# hub-server runs under callgrind with instrumentation off. hub-loadgen connects USERS ×
# DEVICES, each user in one of ROOMS, and then stays idle (--rate 0); a hub-client (user
# cg-pub) joins ROOMS_USED of the rooms. Then instrumentation goes on, the client publishes
# MESSAGES (round robin over its rooms, each after the previous reply), then asks one more
# question (/rooms), and instrumentation goes off when that reply is in: the server handles a
# request only after the previous loop iteration wrote its frames, so the window holds all of
# that traffic and nothing else. /metrics says how many frames were delivered; the loadgen's
# devices must have received them. Appends to $work/callgrind.jsonl.
run_callgrind ()
{
  local name=$1 desc=$2 users=$3 devices=$4 rooms=$5 used=$6 msgs=$7 rate=$8
  local dir=$work/cg-$name conns=$(($3 * $4)) lg_tpid cl_tpid i r want m0 m1 d0 d1 n0 n1
  local ir status=ok live=0 typing=0 pad toggles=() f t0
  for f in "${CALLGRIND_FUNCTIONS[@]}"; do
    toggles+=("--toggle-collect=$f")
  done
  log "callgrind $name: $desc"
  t0=$SECONDS
  # No server pings (heartbeat) and no rate limit in the window.
  start_server "$dir" 1200 valgrind --tool=callgrind --instr-atstart=no "${toggles[@]}" \
    --callgrind-out-file="$dir.callgrind.out" -- --heartbeat 3600 --rate 100000 --burst 100000
  "$TIMEOUT" -k 5 1100 "${PIN_CLIENTS[@]}" "$LOADGEN" --url "$SRV_URL" --users "$users" \
    --devices "$devices" --rooms "$rooms" --room-skew 0 --rate 0 --connect-rate "$rate/s" \
    --duration 1000s --drain 1s --max-errors none --seed 20261128 --prefix cg- --quiet \
    --json "$dir.loadgen.json" >"$dir.loadgen.txt" 2>&1 &
  lg_tpid=$!
  started+=("$lg_tpid")
  wait_quiet "$conns" 600 || status="the loadgen's $conns connections did not settle"
  log "  $conns connections ready after $((SECONDS - t0)) s"

  rm -f "$dir.fifo"
  mkfifo "$dir.fifo"
  "$TIMEOUT" -k 5 1000 "${PIN_CLIENTS[@]}" "$CLIENT" "$SRV_URL" --user cg-pub --batch --json \
    <"$dir.fifo" >"$dir.client.out" 2>"$dir.client.err" &
  cl_tpid=$!
  started+=("$cl_tpid")
  exec 3>"$dir.fifo"
  fifo_open=1
  for ((r = 0; r < used; r++)); do
    echo "/join cg-r$r" >&3
  done
  echo "/rooms" >&3
  want=$((used + 1))
  cg_wait_oks "$dir.client.out" "$want" 300 "$cl_tpid" || status="hub-client could not join"

  m0=$(metrics)
  d0=$(printf '%s\n' "$m0" | awk '$1 == "hub_deliveries_total" { print $2 }')
  n0=$(printf '%s\n' "$m0" | awk '$1 == "hub_messages_in_total" { print $2 }')
  callgrind_control -i on "$SRV_PID" >/dev/null
  # The same ~100 bytes of payload text every time: the same bytes every run.
  pad=$(printf '%080d' 0)
  for ((i = 0; i < msgs; i++)); do
    [ "$used" -gt 1 ] && echo "/room cg-r$((i % used))" >&3
    printf 'bench %06d %s\n' "$i" "$pad" >&3
  done
  echo "/rooms" >&3
  want=$((want + msgs + 1))
  cg_wait_oks "$dir.client.out" "$want" 600 "$cl_tpid" ||
    status="hub-client got $(cg_oks "$dir.client.out") of $want replies"
  callgrind_control -i off "$SRV_PID" >/dev/null
  m1=$(metrics)
  d1=$(printf '%s\n' "$m1" | awk '$1 == "hub_deliveries_total" { print $2 }')
  n1=$(printf '%s\n' "$m1" | awk '$1 == "hub_messages_in_total" { print $2 }')
  log "  $msgs messages measured; $((SECONDS - t0)) s so far"

  exec 3>&-
  fifo_open=0
  wait "$cl_tpid" 2>/dev/null || true
  forget "$cl_tpid"
  # The devices' receipts are in the loadgen's report, written when it is interrupted.
  sleep 1
  kill -INT "$(child_of "$lg_tpid")" 2>/dev/null || true
  wait "$lg_tpid" 2>/dev/null || true
  forget "$lg_tpid"
  stop_server || true
  rm -f "$dir.fifo"

  ir=$(awk '$1 == "totals:" { print $2 }' "$dir.callgrind.out" 2>/dev/null || true)
  [ -n "$ir" ] || ir=$(awk '$1 == "summary:" { print $2 }' "$dir.callgrind.out" 2>/dev/null || true)
  live=$(jq '.deliveries.live // 0' "$dir.loadgen.json" 2>/dev/null || echo 0)
  typing=$(jq '.ephemeral_received.typing // 0' "$dir.loadgen.json" 2>/dev/null || echo 0)
  # The frames must add up: every message accepted, the server's deliveries equal to what the
  # loadgen's devices received plus the publisher's own copies, and nothing else sent.
  if [ "$status" = ok ]; then
    if [ -z "$ir" ] || [ "$ir" -eq 0 ]; then
      status="no instructions counted in ${CALLGRIND_FUNCTIONS[*]} (renamed?)"
    elif [ "$((n1 - n0))" -ne "$msgs" ]; then
      status="the server accepted $((n1 - n0)) messages, not $msgs"
    elif [ "$((d1 - d0))" -ne "$((live + msgs))" ]; then
      status="the server delivered $((d1 - d0)) frames, the devices received $((live + msgs))"
    elif [ "$typing" -ne 0 ]; then
      status="the devices received $typing typing frames"
    fi
  fi
  ir=${ir:-0}
  {
    printf '==== %s: %s\n' "$name" "$desc"
    printf '(Ir counted inside %s only; %s frames)\n\n' "${CALLGRIND_FUNCTIONS[*]}" "$((d1 - d0))"
    # The first lines of the inclusive list are the loop frames above the counted functions.
    printf -- '-- top 20 by inclusive Ir\n'
    callgrind_annotate --inclusive=yes "$dir.callgrind.out" 2>/dev/null |
      sed -n '/file:function/,$p' | sed -n '3,22p'
    printf '\n-- top 15 by self Ir\n'
    callgrind_annotate "$dir.callgrind.out" 2>/dev/null | sed -n '/file:function/,$p' |
      sed -n '3,17p'
    printf '\n'
  } >>"$cgtxt"
  jq -c -n --arg name "$name" --arg desc "$desc" --arg status "$status" --argjson msgs "$msgs" \
    --argjson frames "$((d1 - d0))" --argjson ir "$ir" --argjson conns "$conns" \
    --argjson secs "$((SECONDS - t0))" '
    {name: $name, description: $desc, connections: $conns, messages: $msgs, frames: $frames,
     ir: $ir,
     ir_per_frame: (if $frames > 0 then ($ir / $frames | round) else null end),
     ir_per_message: ($ir / $msgs | round), seconds: $secs, check: $status}' \
    >>"$work/callgrind.jsonl"
  [ "$status" = ok ] || say "callgrind $name: $status"
}

# --- the same cases, hub-loadgen's receive path under callgrind ------------------------------

# What is counted in hub-loadgen: everything its receive dispatch does (hub-lg-wire's source:
# io_uring_enter and its completions, or epoll_wait and recv(), the frames walked, HubClient's
# peeked path, the accounting). Not counted, as for the server: the event loop's own
# iteration, and the sends (there are none in these cases: the publisher is hub-client).
# With HUB_LOADGEN_TRANSPORT=lws (HubClient's libwebsockets transport, the one hub-loadgen used
# before hub-lg-wire and still uses on macOS, Windows and for wss://) the count is inside
# lws_service_fd_tsi instead: a ready socket's read, lws's frame parsing, HubClient's callback
# and the accounting (libuv's poll not counted). BENCH_LOADGEN_FUNCTIONS="f …" counts other
# functions, e.g. lws_service_fd_tsi for an older hub-loadgen that had no hub-lg-wire.
LOADGEN_CALLGRIND_FUNCTIONS=(wire_loop_dispatch)
if [ -n "${BENCH_LOADGEN_FUNCTIONS:-}" ]; then
  read -r -a LOADGEN_CALLGRIND_FUNCTIONS <<<"$BENCH_LOADGEN_FUNCTIONS"
elif [ "${HUB_LOADGEN_TRANSPORT:-}" = lws ]; then
  LOADGEN_CALLGRIND_FUNCTIONS=(lws_service_fd_tsi)
fi

# lg_worker_ticks PID: CPU ticks of hub-loadgen's worker threads (hub-lg-N).
lg_worker_ticks ()
{
  local t total=0
  for t in /proc/"$1"/task/*; do
    if grep -q '^hub-lg-' "$t/comm" 2>/dev/null; then
      total=$((total + $(awk '{ print $14 + $15 }' "$t/stat" 2>/dev/null || echo 0)))
    fi
  done
  echo "$total"
}

# lg_settled PID LOG LIMIT_S: until hub-loadgen (its progress in LOG) is past its ramp, has
# read every byte the server sent (no Recv-Q on its sockets) and its workers are idle (at
# most 5 ticks a second, their keepalive walk) for 3 seconds in a row. Returns 1 after LIMIT_S.
lg_settled ()
{
  local pid=$1 log=$2 end=$((SECONDS + $3)) stable=0 q t last=""
  while [ "$SECONDS" -lt "$end" ]; do
    q=$(ss -tnH state established "( dport = :$SRV_PORT )" 2>/dev/null | awk '{ s += $2 } END { print s + 0 }')
    t=$(lg_worker_ticks "$pid")
    if [ "$q" = 0 ] && grep -q ' steady ' "$log" && [ -n "$last" ] && [ $((t - last)) -le 5 ]; then
      stable=$((stable + 1))
      [ "$stable" -ge 3 ] && return 0
    else
      stable=0
    fi
    last=$t
    sleep 1
  done
  return 1
}

# run_callgrind_loadgen NAME …: as run_callgrind, with hub-server running natively and
# hub-loadgen under callgrind (instrumentation off until its devices are ready and quiet). The
# window closes once hub-loadgen has read and accounted for every frame. The frames counted
# are the server's deliveries in the window minus the publisher's own copies, and they must
# equal what the loadgen's devices received. Appends to $work/callgrind-loadgen.jsonl.
run_callgrind_loadgen ()
{
  local name=$1 desc=$2 users=$3 devices=$4 rooms=$5 used=$6 msgs=$7 rate=$8
  local dir=$work/cgl-$name conns=$(($3 * $4)) lg_tpid lg_pid cl_tpid i r want m0 m1 d0 d1 n0 n1
  local ir status=ok live=0 pad toggles=() f t0
  for f in "${LOADGEN_CALLGRIND_FUNCTIONS[@]}"; do
    toggles+=("--toggle-collect=$f")
  done
  log "callgrind (loadgen) $name: $desc"
  t0=$SECONDS
  start_server "$dir" 1200 -- --heartbeat 3600 --rate 100000 --burst 100000
  "$TIMEOUT" -k 5 1100 "${PIN_CLIENTS[@]}" valgrind --tool=callgrind --instr-atstart=no \
    "${toggles[@]}" --callgrind-out-file="$dir.callgrind.out" "$LOADGEN" --url "$SRV_URL" \
    --users "$users" --devices "$devices" --rooms "$rooms" --room-skew 0 --rate 0 \
    --connect-rate "$rate/s" --duration 1000s --drain 1s --max-errors none --seed 20261128 \
    --prefix cg- --json "$dir.loadgen.json" >"$dir.loadgen.txt" 2>&1 &
  lg_tpid=$!
  started+=("$lg_tpid")
  lg_pid=$(child_of "$lg_tpid")
  wait_quiet "$conns" 600 || status="the loadgen's $conns connections did not settle"
  lg_settled "$lg_pid" "$dir.loadgen.txt" 600 || status="the loadgen did not settle"
  log "  $conns connections ready after $((SECONDS - t0)) s"

  rm -f "$dir.fifo"
  mkfifo "$dir.fifo"
  "$TIMEOUT" -k 5 1000 "${PIN_CLIENTS[@]}" "$CLIENT" "$SRV_URL" --user cg-pub --batch --json \
    <"$dir.fifo" >"$dir.client.out" 2>"$dir.client.err" &
  cl_tpid=$!
  started+=("$cl_tpid")
  exec 3>"$dir.fifo"
  fifo_open=1
  for ((r = 0; r < used; r++)); do
    echo "/join cg-r$r" >&3
  done
  echo "/rooms" >&3
  want=$((used + 1))
  cg_wait_oks "$dir.client.out" "$want" 300 "$cl_tpid" || status="hub-client could not join"
  # The publisher's joins sent a presence frame to every member: let the loadgen take them.
  lg_settled "$lg_pid" "$dir.loadgen.txt" 600 || status="the loadgen did not settle"

  m0=$(metrics)
  d0=$(printf '%s\n' "$m0" | awk '$1 == "hub_deliveries_total" { print $2 }')
  n0=$(printf '%s\n' "$m0" | awk '$1 == "hub_messages_in_total" { print $2 }')
  callgrind_control -i on "$lg_pid" >/dev/null
  pad=$(printf '%080d' 0)
  for ((i = 0; i < msgs; i++)); do
    [ "$used" -gt 1 ] && echo "/room cg-r$((i % used))" >&3
    printf 'bench %06d %s\n' "$i" "$pad" >&3
  done
  echo "/rooms" >&3
  want=$((want + msgs + 1))
  cg_wait_oks "$dir.client.out" "$want" 600 "$cl_tpid" ||
    status="hub-client got $(cg_oks "$dir.client.out") of $want replies"
  lg_settled "$lg_pid" "$dir.loadgen.txt" 900 || status="the loadgen did not take every frame"
  callgrind_control -i off "$lg_pid" >/dev/null
  m1=$(metrics)
  d1=$(printf '%s\n' "$m1" | awk '$1 == "hub_deliveries_total" { print $2 }')
  n1=$(printf '%s\n' "$m1" | awk '$1 == "hub_messages_in_total" { print $2 }')
  log "  $msgs messages measured; $((SECONDS - t0)) s so far"

  exec 3>&-
  fifo_open=0
  wait "$cl_tpid" 2>/dev/null || true
  forget "$cl_tpid"
  kill -INT "$lg_pid" 2>/dev/null || true
  wait "$lg_tpid" 2>/dev/null || true
  forget "$lg_tpid"
  stop_server || true
  rm -f "$dir.fifo"

  ir=$(awk '$1 == "totals:" { print $2 }' "$dir.callgrind.out" 2>/dev/null || true)
  [ -n "$ir" ] || ir=$(awk '$1 == "summary:" { print $2 }' "$dir.callgrind.out" 2>/dev/null || true)
  live=$(jq '.deliveries.live // 0' "$dir.loadgen.json" 2>/dev/null || echo 0)
  if [ "$status" = ok ]; then
    if [ -z "$ir" ] || [ "$ir" -eq 0 ]; then
      status="no instructions counted in ${LOADGEN_CALLGRIND_FUNCTIONS[*]} (renamed?)"
    elif [ "$((n1 - n0))" -ne "$msgs" ]; then
      status="the server accepted $((n1 - n0)) messages, not $msgs"
    elif [ "$((d1 - d0))" -ne "$((live + msgs))" ]; then
      status="the server delivered $((d1 - d0)) frames, the devices received $((live + msgs))"
    fi
  fi
  ir=${ir:-0}
  {
    printf '==== loadgen %s: %s\n' "$name" "$desc"
    printf '(Ir counted inside %s only; %s frames)\n\n' "${LOADGEN_CALLGRIND_FUNCTIONS[*]}" \
      "$((d1 - d0 - msgs))"
    printf -- '-- top 20 by inclusive Ir\n'
    callgrind_annotate --inclusive=yes "$dir.callgrind.out" 2>/dev/null |
      sed -n '/file:function/,$p' | sed -n '3,22p'
    printf '\n-- top 15 by self Ir\n'
    callgrind_annotate "$dir.callgrind.out" 2>/dev/null | sed -n '/file:function/,$p' |
      sed -n '3,17p'
    printf '\n'
  } >>"$cgtxt"
  jq -c -n --arg name "$name" --arg desc "$desc" --arg status "$status" --argjson msgs "$msgs" \
    --argjson frames "$((d1 - d0 - msgs))" --argjson ir "$ir" --argjson conns "$conns" \
    --argjson secs "$((SECONDS - t0))" --arg counted "${LOADGEN_CALLGRIND_FUNCTIONS[*]}" \
    --arg transport "$(jq -r '.transport.kind // "libwebsockets"' "$dir.loadgen.json" 2>/dev/null ||
      echo unknown)" '
    {name: $name, description: $desc, connections: $conns, messages: $msgs, frames: $frames,
     ir: $ir, counted_in: $counted, transport: $transport,
     ir_per_frame: (if $frames > 0 then ($ir / $frames | round) else null end),
     seconds: $secs, check: $status}' \
    >>"$work/callgrind-loadgen.jsonl"
  [ "$status" = ok ] || say "callgrind (loadgen) $name: $status"
}

CALLGRIND=(
  "fanout-1000|one room of 1,000 users, 50 publishes (1,001 frames each)|1000|1|1|1|50|100"
  "chat-small-rooms|1,000 users × 2 devices in 100 rooms, 500 publishes over 10 rooms (~20 frames each)|1000|2|100|10|500|200"
)

# --- run -------------------------------------------------------------------------------------

started_at=$SECONDS
started_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
: >"$work/scenarios.jsonl"
: >"$work/callgrind.jsonl"
: >"$work/callgrind-loadgen.jsonl"
: >"$cgtxt"
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
if [ "$only" != callgrind ]; then
  for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r n d sa la <<<"$s"
    run_load "$n" "$d" "$sa" "$la"
  done
fi
if [ "$only" != load ]; then
  if [ "$have_valgrind" -eq 1 ]; then
    for c in "${CALLGRIND[@]}"; do
      IFS='|' read -r n d u dv ro us ms cr <<<"$c"
      run_callgrind "$n" "$d" "$u" "$dv" "$ro" "$us" "$ms" "$cr"
    done
    for c in "${CALLGRIND[@]}"; do
      IFS='|' read -r n d u dv ro us ms cr <<<"$c"
      run_callgrind_loadgen "$n" "$d" "$u" "$dv" "$ro" "$us" "$ms" "$cr"
    done
  else
    say "valgrind (callgrind_control, callgrind_annotate) not found: skipping the instruction" \
      "counts (Debian: apt-get install valgrind; Homebrew has none for macOS)"
  fi
fi
elapsed=$((SECONDS - started_at))

# --- the report ------------------------------------------------------------------------------

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
[ -n "$cpu_model" ] || cpu_model=$(sysctl -n machdep.cpu.brand_string 2>/dev/null || echo unknown)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=false
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && dirty=true
jq -n --slurpfile s "$work/scenarios.jsonl" --slurpfile c "$work/callgrind.jsonl" \
  --slurpfile cl "$work/callgrind-loadgen.jsonl" \
  --arg date "$started_date" --arg commit "$commit" --argjson dirty "$dirty" \
  --arg cpu "$cpu_model" --argjson nproc "$jobs" --arg kernel "$(uname -srm)" \
  --arg load "$load_at_start" --arg command "$command_line" --argjson seconds "$elapsed" \
  --arg valgrind "$(valgrind --version 2>/dev/null || echo none)" '
  {schema: "hub-bench/1", date: $date, commit: $commit, dirty: $dirty, command: $command,
   machine: {cpu: $cpu, nproc: $nproc, kernel: $kernel, load_average_at_start: $load},
   valgrind: $valgrind, seconds: $seconds, scenarios: $s, callgrind: $c,
   callgrind_loadgen: $cl}' >"$json"

jq -r '
  def n(x): if x == null then "–" else (x | tostring) end;
  def ms(x): if x == null then "–" else (x * 100 | round / 100 | tostring) end;
  def th: tostring | if test("^[0-9]{4,}$") then
            explode | reverse | [recurse(.[3:]; length > 0) | .[:3] | reverse | implode]
            | reverse | join(",") else . end;
  "## hub-server bench, \(.date)",
  "",
  "Commit `\(.commit)`\(if .dirty then " (with uncommitted changes)" else "" end); \(.machine.cpu), \(.machine.nproc) CPUs (`nproc`), \(.machine.kernel); load average \(.machine.load_average_at_start) at the start; \(.seconds) s. Command: `\(.command)`.",
  "",
  (if (.scenarios | length) > 0 then
    "| scenario | connections | deliveries/s | p50 ms | p99 ms | max ms | lost | errors | server CPU s (% of a core) | loadgen CPU s (transport) | CPU µs per delivery: server / loadgen (ratio) | other tasks (% of a CPU) | server peak RSS (per connection) | |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    (.scenarios[] |
      (if .deliveries > 0 then . else .p50_ms = null | .p99_ms = null | .max_ms = null end) |
      "| \(.description) | \(if (.connections_ready // .connections) < .connections then "\(.connections_ready | th) of " else "" end)\(.connections | th) | \(.deliveries_per_s | th) | \(ms(.p50_ms)) | \(ms(.p99_ms)) | \(ms(.max_ms)) | \(n(.lost)) | \(n(.errors)) | \(.server_cpu_s) (\(n(.server_cpu_pct)) %) | \(.loadgen_cpu_s) (\(.loadgen_transport // "?")) | \(n(.server_us_per_delivery)) / \(n(.loadgen_us_per_delivery)) (\(n(.loadgen_to_server))×) | \(n(.other_tasks_cpu_pct)) % | \((.server_peak_rss_kib / 1024 * 10 | round / 10)) MiB (\(n(.rss_per_connection_b)) B) | \(if .passed then "ok" else "FAIL: " + (.failures | join("; ")) end)\(if (.errors // 0) > 0 then " (" + (.error_kinds | to_entries | map("\(.key) ×\(.value)") | join(", ")) + ")" else "" end) |"),
    "",
    ([.scenarios[].other_tasks_cpu_pct // 0] | max) as $other |
    if $other > 20 then
      "Other tasks used up to \($other) % of a CPU during these scenarios: their timings say little.",
      ""
    else empty end
   else empty end),
  (if (.callgrind | length) > 0 then
    "| callgrind: hub-server instructions | connections | messages | frames delivered (/metrics) | Ir | **Ir per frame** | Ir per message | |",
    "|---|---:|---:|---:|---:|---:|---:|---|",
    (.callgrind[] |
      "| \(.name): \(.description) | \(.connections | th) | \(.messages | th) | \(.frames | th) | \(.ir | th) | **\(n(.ir_per_frame) | th)** | \(.ir_per_message | th) | \(if .check == "ok" then "ok" else "FAIL: " + .check end) |"),
    ""
   elif .valgrind == "none" then "Instruction counts: skipped (no valgrind).", ""
   else empty end),
  ((.callgrind_loadgen // []) as $l | .callgrind as $srv | if ($l | length) > 0 then
    "| callgrind: hub-loadgen receive path, same cases | frames received | Ir | **Ir per frame** | the server'"'"'s per frame | loadgen ÷ server | |",
    "|---|---:|---:|---:|---:|---:|---|",
    ($l[] as $c | ([$srv[] | select(.name == $c.name)] | first) as $p |
      "| \($c.name) (\($c.transport // "?"), Ir in \($c.counted_in // "wire_loop_dispatch")) | \($c.frames | th) | \($c.ir | th) | **\(n($c.ir_per_frame) | th)** | \(if $p != null then (n($p.ir_per_frame) | th) else "–" end) | \(if $p != null and ($p.ir_per_frame // 0) > 0 and $c.ir_per_frame != null then ($c.ir_per_frame / $p.ir_per_frame * 100 | round / 100 | tostring) + "×" else "–" end) | \(if $c.check == "ok" then "ok" else "FAIL: " + $c.check end) |"),
    ""
   else empty end)' "$json" | tee "$md"
[ -s "$cgtxt" ] || rm -f "$cgtxt"
if [ -s "$cgtxt" ]; then
  say "results: $md and $json; top functions: $cgtxt; logs: $work (${elapsed}s)"
else
  say "results: $md and $json; logs: $work (${elapsed}s)"
fi

status=0
if jq -e '([.scenarios[] | select(.passed | not)] + [.callgrind[] | select(.check != "ok")]
           + [(.callgrind_loadgen // [])[] | select(.check != "ok")]) | length > 0' "$json" \
  >/dev/null; then
  say "some scenario failed (see the table)"
  status=1
fi
if [ -n "$compare_old" ]; then
  echo
  compare "$compare_old" "$json" | tee -a "$md" || status=$?
fi
exit "$status"
