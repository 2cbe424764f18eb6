#!/usr/bin/env bash
# capacity-cpus.sh: issue 19's publish-capacity run, with both processes' CPU at every step —
# which of the two runs out first, the server or the loadgen that measures it. One in-memory
# hub-server pinned to CPU 0, hub-loadgen pinned to CPU 1, 1,000 users in 500 rooms (2 each, so
# rooms of about 4), publishes only, `--find-capacity --max-p99-ms 100` from 2 actions/s per user.
# A sampler reads both processes' CPU time and both CPUs' busy time every half second; the
# table gives, per step, the rate, what was delivered, the p99, the verdict and the % of its core
# each process used (and how busy each CPU was, other tasks included: the machine is shared).
# Writes everything to $OUT (default build-release/capacity-cpus/).
#
#   scripts/capacity-cpus.sh                      build (Release, build-release/) and run (~5 min)
#   BUILD=build-bench SKIP_BUILD=1 scripts/capacity-cpus.sh   binaries built elsewhere
#   scripts/capacity-cpus.sh --duration 20s       any hub-loadgen flag overrides the scenario
#   SERVER_ARGS="--redis redis://127.0.0.1:6379" scripts/capacity-cpus.sh
#
# Ends only the processes it started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=${BUILD:-build-release}
out=${OUT:-$build/capacity-cpus}
mkdir -p "$out"
if [ -z "${SKIP_BUILD:-}" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DHUB_SANITIZE=OFF >/dev/null
  cmake --build "$build" --target hub-server hub-loadgen -j "$(nproc)" >/dev/null
fi
command -v jq >/dev/null || { echo "capacity-cpus.sh: needs jq" >&2; exit 2; }
command -v taskset >/dev/null || { echo "capacity-cpus.sh: needs taskset" >&2; exit 2; }
[ "$(nproc)" -ge 2 ] || { echo "capacity-cpus.sh: needs two CPUs" >&2; exit 2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
hz=$(getconf CLK_TCK)

server_pid='' sampler_pid=''
cleanup ()
{
  local p
  for p in $sampler_pid $server_pid; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

read -r -a server_args <<<"${SERVER_ARGS:-}"
taskset -c 0 "$build/hub-server/hub-server" --host 127.0.0.1 --port 0 "${server_args[@]}" \
  >"$out/server.out" 2>"$out/server.err" &
server_pid=$!
url=''
for _ in $(seq 1 100); do
  url=$(sed -n '1s|^hub-server listening on \(ws://[^ ]*\) .*|\1|p' "$out/server.out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "capacity-cpus.sh: hub-server did not start; see $out/server.err" >&2; exit 2; }

# ticks PID: utime + stime (all threads); cpu N: busy and total jiffies of CPU N.
ticks () { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
cpu () { awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

# The sampler: seconds since the loadgen started, the two processes' ticks, both CPUs' jiffies.
: >"$out/cpu.tsv"
sample ()
{
  local lg=$1 t0=$2 now
  while kill -0 "$lg" 2>/dev/null; do
    now=$(awk '{ print $1 }' /proc/uptime)
    printf '%s\t%s\t%s\t%s\t%s\n' "$(awk -v a="$now" -v b="$t0" 'BEGIN { print a - b }')" \
      "$(ticks "$server_pid")" "$(ticks "$lg")" "$(cpu 0 | tr ' ' '\t')" "$(cpu 1 | tr ' ' '\t')" \
      >>"$out/cpu.tsv"
    sleep 0.5
  done
}

{
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -srm), $(nproc) CPUs, commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/report.txt"
t0=$(awk '{ print $1 }' /proc/uptime)
status=0
taskset -c 1 "$build/hub-loadgen/hub-loadgen" --url "$url" --users 1000 --rooms 500 \
  --rooms-per-user 2 --room-skew 0 --mix publish=100 --rate 2 --ramp 5s --duration 10s \
  --drain 5s --find-capacity --max-p99-ms 100 --step-factor 1.5 --seed 20261128 \
  --prefix "cpus$(date +%s)-" --quiet --json "$out/report.json" "$@" >>"$out/report.txt" &
lg_pid=$!
sample "$lg_pid" "$t0" &
sampler_pid=$!
wait "$lg_pid" || status=$?
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=''
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/report.txt"

# Per step: the window of its steady samples in the series, and the CPU used within it.
jq -r '.series[] | select(.phase == "steady") | [.step, .t] | @tsv' "$out/report.json" |
  awk -F'\t' '{ if (!($1 in a)) a[$1] = $2; b[$1] = $2 } END { for (s in a) print s "\t" a[s] - 1 "\t" b[s] }' |
  sort -n >"$out/windows.tsv"
{
  printf '\n| step | actions/s per user | offered/s | delivered/s | p99 ms | held | server CPU (%% of CPU 0) | loadgen CPU (%% of CPU 1) | CPU 0 busy | CPU 1 busy |\n'
  printf '|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n'
  while IFS=$'\t' read -r step from to; do
    row=$(awk -F'\t' -v from="$from" -v to="$to" -v hz="$hz" '
      $1 >= from && !s { s = 1; t0 = $1; a0 = $2; b0 = $3; c0 = $4; d0 = $5; e0 = $6; f0 = $7 }
      $1 <= to { t1 = $1; a1 = $2; b1 = $3; c1 = $4; d1 = $5; e1 = $6; f1 = $7 }
      END {
        dt = t1 - t0
        if (dt <= 0 || d1 == d0 || f1 == f0) { print "–\t–\t–\t–"; exit }
        printf "%.0f %%\t%.0f %%\t%.0f %%\t%.0f %%\n", 100 * (a1 - a0) / hz / dt,
          100 * (b1 - b0) / hz / dt, 100 * (c1 - c0) / (d1 - d0), 100 * (e1 - e0) / (f1 - f0)
      }' "$out/cpu.tsv")
    jq -r --argjson step "$step" --arg cpu "$row" '
      .steps[$step - 1] as $s | ($cpu | split("\t")) as $c |
      "| \($step) | \($s.rate * 1000 | round / 1000) | \($s.offered_per_s | round) | \($s.delivered_per_s | round) | \($s.p99_ms) | \(if $s.held then "yes" else "no: " + $s.why end) | \($c[0]) | \($c[1]) | \($c[2]) | \($c[3]) |"' \
      "$out/report.json"
  done <"$out/windows.tsv"
  jq -r '"\ncapacity: " + (if .capacity == null then "none (the first rate broke)" else "\(.capacity.rate) actions/s per user (\(.capacity.offered_per_s | round)/s offered)" end)' "$out/report.json"
} | tee -a "$out/report.txt"
echo "capacity-cpus.sh: report in $out/report.txt, samples in $out/cpu.tsv (exit $status)" >&2
exit "$status"
