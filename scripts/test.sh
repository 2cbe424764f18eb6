#!/usr/bin/env bash
# test.sh: installs what is missing, builds hub with warnings as errors and runs every test
# with ctest. The README's test command; CI runs it too.
#
#   scripts/test.sh                     build into build/, run the whole suite
#   scripts/test.sh --sanitize          build into build-asan/ with ASan + UBSan, same suite
#   scripts/test.sh [--sanitize] ARGS   ARGS go to ctest, e.g. -L unit, -R frame, -V
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

sanitize=0
ctest_args=()
for arg in "$@"; do
  case $arg in
    --sanitize) sanitize=1 ;;
    -h | --help)
      sed -n '2,8s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) ctest_args+=("$arg") ;;
  esac
done

scripts/install-deps.sh

if [ "$sanitize" -eq 1 ]; then
  dir=build-asan
  # Any error is fatal: leaks fail the test, UBSan stops at the first report. GLib's slice
  # allocator would hide leaked nodes from LeakSanitizer, hence always-malloc.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  export G_SLICE=always-malloc
  export G_DEBUG="gc-friendly${G_DEBUG:+,$G_DEBUG}"
else
  dir=build
fi
jobs=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUB_WERROR=ON -DHUB_BUILD_TESTS=ON \
    -DHUB_SANITIZE="$([ "$sanitize" -eq 1 ] && echo ON || echo OFF)"
cmake --build "$dir" -j "$jobs"

cd "$dir"
# ctest passes when it finds no test at all; an empty suite here means a broken build setup
# or a filter that matches nothing, and must not look like success.
if ctest -N ${ctest_args[@]+"${ctest_args[@]}"} | grep -q '^Total Tests: 0$'; then
  echo "test.sh: no test matches (ctest -N ${ctest_args[*]-})" >&2
  exit 1
fi
ctest --output-on-failure -j2 ${ctest_args[@]+"${ctest_args[@]}"}
