#!/usr/bin/env bash
# fuzz.sh: builds tests/fuzz with clang and libFuzzer (into build-fuzz/) and runs the decoder
# fuzzer for a bounded time, seeded with tests/fuzz/corpus/ (copied to a temporary directory,
# so the repository is never modified). Fails on a crash, leak, sanitizer report or timeout;
# the input that caused it is kept in build-fuzz/artifacts/.
#
#   scripts/fuzz.sh [SECONDS]   fuzz for SECONDS (default 60)
#
# Where clang cannot build a libFuzzer target it says so and exits 0, except under CI
# (CI set and not "false"), where the fuzzer must run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-60}
case $seconds in
  -h | --help)
    sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
    ;;
  '' | *[!0-9]*)
    echo "fuzz.sh: SECONDS must be a positive integer, not '$seconds'" >&2
    exit 2
    ;;
esac
seconds=$((10#$seconds))
if [ "$seconds" -eq 0 ]; then # libFuzzer reads -max_total_time=0 as "no limit"
  echo "fuzz.sh: SECONDS must be a positive integer, not 0" >&2
  exit 2
fi

scripts/install-deps.sh

skip ()
{
  if [ -n "${CI:-}" ] && [ "${CI:-}" != false ]; then
    echo "fuzz.sh: cannot fuzz on CI: $*" >&2
    exit 1
  fi
  echo "fuzz.sh: skipped: $*" >&2
  exit 0
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

command -v clang >/dev/null 2>&1 || skip "clang not found"
printf 'int LLVMFuzzerTestOneInput (const unsigned char *d, unsigned long n) { return 0; }\n' \
    >"$tmp/probe.c"
clang -fsanitize=fuzzer,address,undefined "$tmp/probe.c" -o "$tmp/probe" >/dev/null 2>&1 ||
    skip "clang cannot link -fsanitize=fuzzer (is its libFuzzer runtime installed?)"

jobs=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DHUB_FUZZ=ON -DHUB_BUILD_TESTS=OFF -DHUB_SANITIZE=OFF -DHUB_WERROR=OFF
cmake --build build-fuzz --target fuzz-decode -j "$jobs"

corpus=$tmp/corpus
mkdir -p "$corpus" build-fuzz/artifacts
if [ -d tests/fuzz/corpus ]; then
  cp -R tests/fuzz/corpus/. "$corpus"/
fi

# Protocol words, so the fuzzer reaches past the envelope checks sooner.
cat >"$tmp/hub.dict" <<'DICT'
"{"
"}"
"["
"]"
":"
","
"\""
"\\u0000"
"\\ud800"
"null"
"true"
"false"
"-1"
"0"
"1.5"
"1e400"
"9223372036854775807"
"9223372036854775808"
"\"type\""
"\"id\""
"\"user\""
"\"device\""
"\"token\""
"\"resume\""
"\"room\""
"\"name\""
"\"to\""
"\"users\""
"\"payload\""
"\"since\""
"\"limit\""
"\"status\""
"\"hello\""
"\"create\""
"\"join\""
"\"leave\""
"\"rooms\""
"\"room_info\""
"\"who\""
"\"publish\""
"\"direct\""
"\"multicast\""
"\"broadcast\""
"\"typing\""
"\"history\""
"\"subscribe\""
"\"unsubscribe\""
"\"online\""
"\"ping\""
"\"away\""
"\"busy\""
"\"offline\""
"\"@api\""
DICT

# Leaks are failures; GLib's slice allocator would hide leaked nodes, hence always-malloc.
export ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export G_SLICE=always-malloc
export G_DEBUG="gc-friendly${G_DEBUG:+,$G_DEBUG}"

seeds=$(find "$corpus" -type f | wc -l | tr -d ' ')
echo "fuzz.sh: fuzzing hub_codec_decode for ${seconds}s from $seeds seed inputs" \
    "(full log: build-fuzz/fuzz-decode.log)"
rc=0
# The full log goes to the file; the terminal gets it without the per-input progress lines
# and the recommended-dictionary entries.
timeout -k 10 $((seconds + 120)) build-fuzz/tests/fuzz/fuzz-decode \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -dict="$tmp/hub.dict" -artifact_prefix=build-fuzz/artifacts/ -print_final_stats=1 \
    "$corpus" 2>&1 |
    tee build-fuzz/fuzz-decode.log |
    { grep --line-buffered -v -E '^(#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|RELOAD)|".*" # Uses: [0-9]+$)' || true; } ||
    rc=$?
if [ "$rc" -ne 0 ]; then
  echo "fuzz.sh: FAILED (exit $rc). Reproduce with:" >&2
  echo "  build-fuzz/tests/fuzz/fuzz-decode build-fuzz/artifacts/<the crash-/leak-/timeout- file>" >&2
  exit "$rc"
fi
echo "fuzz.sh: no crash in ${seconds}s"
