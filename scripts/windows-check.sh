#!/usr/bin/env bash
# windows-check.sh: verifies hub for Windows. On Debian: cross-builds it with mingw-w64 against
# a prefix of its dependencies built for Windows, and runs the whole ctest suite under wine
# (the servers and clients the tests start are the .exe's), then hub-loadgen.exe against
# hub-server.exe (nothing may be lost) and a hub-client.exe batch session. In MSYS2's UCRT64
# shell (GitHub Actions' Windows job) the same build settings and steps, natively.
#
#   scripts/windows-check.sh                  everything (installs what is missing first)
#   scripts/windows-check.sh --prefix-only    only make sure the dependency prefix is built
#   scripts/windows-check.sh --build-only     the prefix, the build and wine, no tests
#   scripts/windows-check.sh --cache-status   print "warm" or "cold" (is the prefix built?)
#   scripts/windows-check.sh --env            print the wine environment of build-win/ (eval it)
#   scripts/windows-check.sh ARGS             other ARGS go to ctest, e.g. -R frame
#
# The prefix (GLib, json-glib, libwebsockets with TLS, OpenSSL, Check, hiredis; 16-25 min on
# 2 cores) is built once by ../shared/windows/recipe/build-prefix.sh into a cache outside the
# work tree, keyed on the recipe's content, its sources and the mingw-w64 compiler:
# $HUB_WINDOWS_CACHE (default ~/.cache/hub-windows)/<key>/. HUB_WINDOWS_SHARED overrides
# where the recipe is (default ../shared/windows beside the repository); HUB_WINDOWS_PREFIX
# names a prefix built by hand instead (used as it is).
# Build: build-win/ in the work tree; wine's own prefix: build-win/wine (made on first use).
# Every wait is bounded; the script stops only the processes it started, by PID.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
T0=$SECONDS

say () { echo "[$(date +%T)] windows-check.sh: $*" >&2; }
die () { say "FAILED: $*"; exit 1; }
elapsed () { local s=$((SECONDS - T0)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

mode=all
ctest_args=()
for arg in "$@"; do
  case $arg in
    --prefix-only) mode=prefix ;;
    --build-only) mode=build ;;
    --cache-status) mode=status ;;
    --env) mode=env ;;
    -h | --help)
      sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *) ctest_args+=("$arg") ;;
  esac
done

# cross: Debian, mingw-w64 + wine; native: Windows itself, MSYS2.
case $(uname -s) in
  MINGW* | MSYS* | UCRT*) KIND=native ;;
  *) KIND=cross ;;
esac
HOST=x86_64-w64-mingw32
BUILD=$ROOT/build-win
PIDS=$BUILD/pids

# ---- the dependency prefix (cross only) --------------------------------------------------------

# The recipe: $HUB_WINDOWS_SHARED, else shared/windows beside the clone (CI, the lead's
# checkout), else two levels up (a worktree under /work/wt/NAME), else /work/shared/windows.
find_recipe ()
{
  local d
  SHARED=${HUB_WINDOWS_SHARED:-}
  if [ -z "$SHARED" ]; then
    for d in "$ROOT/../shared/windows" "$ROOT/../../shared/windows" /work/shared/windows; do
      if [ -f "$d/recipe/build-prefix.sh" ]; then
        SHARED=$(cd "$d" && pwd)
        break
      fi
    done
  fi
  [ -n "$SHARED" ] && [ -f "$SHARED/recipe/build-prefix.sh" ] \
    || die "no recipe in ${HUB_WINDOWS_SHARED:-../shared/windows}/recipe/build-prefix.sh (set HUB_WINDOWS_SHARED)"
}

# The cache key: every file of the recipe and its sources (path and content) and the
# compiler that builds them, so a changed recipe or toolchain builds a new prefix.
prefix_key ()
{
  {
    (cd "$SHARED" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    "$HOST-gcc" --version 2>/dev/null | head -1
    echo "$RECIPE_PATCH"
  } | sha256sum | cut -c1-16
}

CACHE=${HUB_WINDOWS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hub-windows}

# What this script adds to the recipe (in a copy, ../shared being read-only): OpenSSL's
# command-line program and its openssl.cnf, because test-client-chat makes its certificate
# with `openssl req` as it does on Linux and MSYS2 (whose openssl package has the program).
# Part of the cache key: bump it when the patch changes.
RECIPE_PATCH="openssl.exe-1"
patch_recipe ()
{
  local dir=$1 f=$1/recipe/build-prefix.sh
  rm -rf "$dir"
  mkdir -p "$dir/recipe"
  cp "$SHARED/recipe/"* "$dir/recipe/"
  chmod -R u+w "$dir/recipe"
  ln -s "$SHARED/sources" "$dir/sources"
  sed -i -e 's|make -j"$J" build_libs >make.log|make -j"$J" build_libs build_programs >make.log|' \
      -e 's|make install_dev install_runtime_libs >install.log 2>&1)|make install_dev install_runtime_libs install_ssldirs >install.log 2>\&1 \&\& cp apps/openssl.exe "$P/bin/")|' \
      "$f"
  grep -q 'build_libs build_programs' "$f" && grep -q 'apps/openssl.exe' "$f" \
    || die "the recipe's OpenSSL step changed: cannot add OpenSSL's program (see patch_recipe)"
}

if [ "$mode" = status ]; then
  if [ "$KIND" = native ]; then
    echo warm # nothing to build: MSYS2's packages
  else
    find_recipe
    if command -v "$HOST-gcc" >/dev/null 2>&1 && [ -f "$CACHE/$(prefix_key)/.hub-prefix-done" ]; then
      echo warm
    else
      echo cold
    fi
  fi
  exit 0
fi

# The environment that runs build-win/'s programs under wine (cross, after a build).
wine_env ()
{
  local gcc_dll_dir
  gcc_dll_dir=$(dirname "$("$HOST-gcc" -print-libgcc-file-name)")
  export WINEPREFIX=$BUILD/wine WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
  WINEPATH="$(winpath "$PREFIX/bin");$(winpath "/usr/$HOST/lib");$(winpath "$gcc_dll_dir")"
  export WINEPATH
}

# Builds the prefix unless it is there. One build at a time per cache (flock), so two runs
# on one machine wait for each other instead of building into the same folder.
ensure_prefix ()
{
  exec 9>"$CACHE/.lock-$KEY"
  if ! flock -w 3600 9; then
    die "waited an hour for another build of $PREFIX"
  fi
  if [ -f "$PREFIX/.hub-prefix-done" ]; then
    say "prefix: $PREFIX (cached)"
  else
    local work=$CACHE/work-$KEY log=$CACHE/build-$KEY.log t=$SECONDS
    say "prefix: building $PREFIX (16-25 min on 2 cores; log: $log)"
    rm -rf "$work" "$PREFIX"
    patch_recipe "$CACHE/recipe-$KEY"
    if ! WINEPREFIX="$work/wine" timeout -k 30 5400 \
        bash "$CACHE/recipe-$KEY/recipe/build-prefix.sh" "$PREFIX" "$work" >"$log" 2>&1; then
      tail -n 40 "$log" >&2
      WINEPREFIX="$work/wine" timeout -k 5 30 wineserver -k >/dev/null 2>&1 || true
      die "the prefix did not build (log: $log)"
    fi
    [ -f "$PREFIX/.hub-prefix-done" ] || die "the recipe ended without .hub-prefix-done"
    # The recipe's wine prefix (meson and cmake run test programs in it): end its processes.
    WINEPREFIX="$work/wine" timeout -k 5 30 wineserver -k >/dev/null 2>&1 || true
    rm -rf "$work" "$CACHE/recipe-$KEY"
    say "prefix: built in $(((SECONDS - t) / 60))m$(((SECONDS - t) % 60))s"
  fi
  flock -u 9
  exec 9>&-
}

cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUB_WERROR=ON -DHUB_BUILD_TESTS=ON)
if [ "$KIND" = cross ]; then
  find_recipe
  say "installing what is missing (scripts/install-deps.sh --windows)"
  scripts/install-deps.sh --windows
  if [ -n "${HUB_WINDOWS_PREFIX:-}" ]; then
    # A prefix built by hand (the recipe's README), used as it is.
    PREFIX=$(cd "$HUB_WINDOWS_PREFIX" && pwd)
    [ -f "$PREFIX/.hub-prefix-done" ] || die "HUB_WINDOWS_PREFIX=$PREFIX: no .hub-prefix-done"
    say "prefix: $PREFIX (HUB_WINDOWS_PREFIX)"
  else
    KEY=$(prefix_key)
    PREFIX=$CACHE/$KEY
    mkdir -p "$CACHE"
    ensure_prefix
  fi
  if [ "$mode" = prefix ]; then
    say "done ($(elapsed))"
    exit 0
  fi
  export PKG_CONFIG_LIBDIR=$PREFIX/lib/pkgconfig
  cmake_args+=("-DCMAKE_TOOLCHAIN_FILE=$PREFIX/toolchain-mingw64.cmake")
  RUN=(wine)
  # A path as a Windows program sees it: wine maps / to drive Z:.
  winpath () { local p=${1//\//\\}; echo "Z:$p"; }
  if [ "$mode" = env ]; then
    wine_env
    printf 'export WINEPREFIX=%q WINEDEBUG=%q WINEDLLOVERRIDES=%q WINEPATH=%q\n' \
        "$WINEPREFIX" "$WINEDEBUG" "$WINEDLLOVERRIDES" "$WINEPATH"
    exit 0
  fi
else
  say "installing what is missing (scripts/install-deps.sh)"
  scripts/install-deps.sh
  [ "$mode" = prefix ] && { say "no prefix to build here (MSYS2's packages)"; exit 0; }
  RUN=()
  winpath () { cygpath -w "$1"; }
fi

# ---- the build -------------------------------------------------------------------------------

# The settings of scripts/test.sh (RelWithDebInfo, warnings as errors, the tests) with Ninja;
# .github/workflows/ci.yml's Windows job runs this same script.
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$BUILD"
# A build configured against another prefix keeps that prefix's paths in its CMake cache:
# configure it afresh (the wine prefix stays).
if [ "$KIND" = cross ] && [ -f "$BUILD/CMakeCache.txt" ] \
    && [ "$(cat "$BUILD/.hub-prefix" 2>/dev/null)" != "$PREFIX" ]; then
  say "build-win/ was configured against another prefix: configuring it afresh"
  rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
fi
[ "$KIND" = cross ] && echo "$PREFIX" >"$BUILD/.hub-prefix"
say "building hub ($KIND) into build-win/"
cmake -S . -B "$BUILD" "${cmake_args[@]}" >"$BUILD/configure.log" 2>&1 \
  || { tail -n 40 "$BUILD/configure.log" >&2; die "cmake configure (log: build-win/configure.log)"; }
timeout -k 10 1800 cmake --build "$BUILD" -j "$jobs" >"$BUILD/build.log" 2>&1 \
  || { grep -E 'error|warning' "$BUILD/build.log" | head -n 40 >&2; tail -n 20 "$BUILD/build.log" >&2
       die "cmake --build (log: build-win/build.log)"; }
say "built ($(elapsed))"

# ---- processes we start ----------------------------------------------------------------------

mkdir -p "$PIDS"

# alive PID: TRUE while the process runs.
alive () { kill -0 "$1" 2>/dev/null; }

# wait_gone PID TENTHS: waits at most TENTHS tenths of a second for PID to end.
wait_gone ()
{
  local i
  for ((i = 0; i < $2; i++)); do
    alive "$1" || return 0
    sleep 0.1
  done
  ! alive "$1"
}

# stop_pid FILE: stops the process whose PID FILE holds (we started it): SIGINT (under wine a
# console Ctrl-C), SIGKILL 10 s later; removes FILE.
stop_pid ()
{
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if alive "$pid"; then
    kill -INT "$pid" 2>/dev/null || true
    wait_gone "$pid" 100 || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

cleanup ()
{
  local f
  for f in "$PIDS"/*.pid; do
    [ -e "$f" ] || continue
    [ "$f" = "$PIDS/wineserver.pid" ] || stop_pid "$f"
  done
  if [ -f "$PIDS/wineserver.pid" ]; then
    # Our own wine prefix's server: `wineserver -k` ends every process of that prefix (wine's
    # services.exe, winedevice.exe and the like outlive a server that is only killed), then
    # the server itself; its PID is the fallback.
    timeout -k 5 30 wineserver -k >/dev/null 2>&1 || true
    wait_gone "$(cat "$PIDS/wineserver.pid")" 50 || kill -KILL "$(cat "$PIDS/wineserver.pid")" 2>/dev/null || true
    rm -f "$PIDS/wineserver.pid"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- wine (cross only) -----------------------------------------------------------------------

if [ "$KIND" = cross ]; then
  # A wine prefix of this build's own (made on first use, ~15 s; mono and gecko not asked
  # for), and one wineserver for the whole run, started here in the foreground mode so that
  # its PID is ours to stop: without a persistent server wine's background services inherit
  # ctest's pipes (a passing test then looks like a 120 s timeout) and a server shutting down
  # between two tests fails the next one at its start.
  wine_env
  mkdir -p "$WINEPREFIX"
  wineserver -f -p </dev/null >"$BUILD/wineserver.log" 2>&1 &
  echo $! >"$PIDS/wineserver.pid"
  t=$SECONDS
  timeout -k 10 300 wine wineboot --init </dev/null >"$BUILD/wineboot.log" 2>&1 \
    || die "wineboot --init (log: build-win/wineboot.log)"
  timeout -k 10 60 wine cmd /c exit </dev/null >/dev/null 2>&1 || die "wine cmd /c exit"
  say "$(wine --version 2>/dev/null) ready in $((SECONDS - t))s (WINEPREFIX=build-win/wine)"
fi

if [ "$mode" = build ]; then
  say "done ($(elapsed))"
  exit 0
fi

# ---- the test suite --------------------------------------------------------------------------

# Cross: the toolchain file's CMAKE_CROSSCOMPILING_EMULATOR runs every test as
# `wine test-….exe`, and the tests start hub-server.exe, hub-client.exe and hub-loadgen.exe
# ($HUB_*_BIN) under it.
say "ctest ($KIND): the whole suite, unit and integration"
cd "$BUILD"
if ctest -N ${ctest_args[@]+"${ctest_args[@]}"} | grep -q '^Total Tests: 0$'; then
  die "no test matches (ctest -N ${ctest_args[*]-})"
fi
t=$SECONDS
ctest_rc=0
# Under wine every socket call costs tens of times more: the tests' bounded waits are
# scaled (hub-test-ws.h, HUB_TEST_TIME_SCALE); natively they stay as on Linux.
[ "$KIND" = cross ] && export HUB_TEST_TIME_SCALE=${HUB_TEST_TIME_SCALE:-4}
timeout -k 30 3600 ctest --output-on-failure -j2 ${ctest_args[@]+"${ctest_args[@]}"} || ctest_rc=$?
ctest_s=$((SECONDS - t))
# What was skipped and why: whole programs (ctest's "Skipped": exit 77) and single cases
# (a "skipped:" line in a test's output).
skips=$(awk '/^[0-9]+\/[0-9]+ Testing: / { name = $3 }
             /skipped: / { sub (/^.*skipped: /, ""); print "  " name ": " $0 }' \
        Testing/Temporary/LastTest.log | sort -u)
cd "$ROOT"
if [ -n "$skips" ]; then
  say "skipped, with their reasons:"
  printf '%s\n' "$skips" >&2
fi
[ "$ctest_rc" -eq 0 ] || die "ctest (exit $ctest_rc, ${ctest_s}s)"
say "ctest passed in ${ctest_s}s"

# ---- hub-server.exe, hub-loadgen.exe, hub-client.exe -------------------------------------------

server_exe=$BUILD/hub-server/hub-server.exe
loadgen_exe=$BUILD/hub-loadgen/hub-loadgen.exe
client_exe=$BUILD/hub-client/hub-client.exe
out=$BUILD/check
rm -rf "$out"
mkdir -p "$out"

# Starts hub-server.exe on a free port and sets PORT from its first line (at most 30 s).
start_server ()
{
  local i pid line=
  ${RUN[@]+"${RUN[@]}"} "$server_exe" --host 127.0.0.1 --port 0 "$@" \
      </dev/null >"$out/server.out" 2>"$out/server.err" &
  pid=$!
  echo "$pid" >"$PIDS/server.pid"
  for ((i = 0; i < 300; i++)); do
    line=$(head -n 1 "$out/server.out" 2>/dev/null || true)
    case $line in *listening*) break ;; esac
    alive "$pid" || { cat "$out/server.err" >&2; die "hub-server.exe exited at start"; }
    sleep 0.1
  done
  PORT=$(sed -n 's|.*ws://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' <<<"$line")
  [ -n "$PORT" ] || die "hub-server.exe did not say where it listens within 30 s: '$line'"
}

# Stops it as a Windows user would, with Ctrl-C (under wine kill -INT arrives as one), and
# checks that it exits 0 within 10 s. Natively (MSYS2) a signal cannot reach a Windows
# program: it is ended instead (its Ctrl-C and Ctrl-Break are tested by test-server-shutdown).
stop_server ()
{
  local pid rc=0
  pid=$(cat "$PIDS/server.pid")
  if [ "$KIND" = native ]; then
    stop_pid "$PIDS/server.pid"
    return 0
  fi
  kill -INT "$pid"
  wait_gone "$pid" 100 || die "hub-server.exe still running 10 s after Ctrl-C"
  wait "$pid" || rc=$?
  rm -f "$PIDS/server.pid"
  [ "$rc" -eq 0 ] || { cat "$out/server.err" >&2; die "hub-server.exe exited $rc after Ctrl-C"; }
  say "hub-server.exe stopped on Ctrl-C, exit 0"
}

start_server
say "hub-server.exe listening on 127.0.0.1:$PORT; hub-loadgen.exe for 15 s"
t=$SECONDS
lg_rc=0
timeout -k 10 180 ${RUN[@]+"${RUN[@]}"} "$loadgen_exe" --url "ws://127.0.0.1:$PORT/ws" \
    --users 200 --devices 1:70,2:30 --rooms 20 --rooms-per-user 2 --rate 1 \
    --mix publish=90,direct=10 --ramp 3 --duration 15 --drain 10 \
    --json "$(winpath "$out/loadgen.json")" --quiet \
    </dev/null >"$out/loadgen.txt" 2>"$out/loadgen.err" || lg_rc=$?
cat "$out/loadgen.txt"
[ "$lg_rc" -eq 0 ] || { cat "$out/loadgen.err" >&2; die "hub-loadgen.exe exit $lg_rc"; }
read -r received lost p99 < <(jq -r '"\(.deliveries.received) \(.deliveries.lost) \(.latency_ms.p99)"' "$out/loadgen.json")
[ "$lost" = 0 ] && [ "$received" -gt 0 ] \
  || die "hub-loadgen.exe: $received received, $lost lost (report: build-win/check/loadgen.json)"
say "hub-loadgen.exe: $received deliveries, 0 lost, p99 $p99 ms ($((SECONDS - t))s)"

# A batch session: dave publishes to a room, then carol joins it and reads the message back
# from the room's history (no timing between the two: the history holds it). Commands come
# from a file, as `hub-client.exe --batch < FILE` in cmd.exe: under wine a Unix pipe is no
# Windows pipe (PeekNamedPipe fails), so GLib's channel on a piped stdin reads nothing.
url="ws://127.0.0.1:$PORT/ws"
printf '/join wine\nhello from hub-client.exe\n' >"$out/dave.in"
printf '/join wine\n/history 5\n/stats\n' >"$out/carol.in"
timeout -k 5 60 ${RUN[@]+"${RUN[@]}"} "$client_exe" "$url" --user dave --batch \
    <"$out/dave.in" >"$out/dave.txt" 2>&1 \
  || { cat "$out/dave.txt" >&2; die "hub-client.exe (dave) failed"; }
timeout -k 5 60 ${RUN[@]+"${RUN[@]}"} "$client_exe" "$url" --user carol --batch --json \
    <"$out/carol.in" >"$out/carol.txt" 2>&1 \
  || { cat "$out/carol.txt" >&2; die "hub-client.exe (carol) failed"; }
grep -q '"text":"hello from hub-client.exe"' "$out/carol.txt" \
  || { cat "$out/carol.txt" >&2; die "carol's history lacks dave's message"; }
grep -q '"type":"stats"\|"connections"' "$out/carol.txt" \
  || { cat "$out/carol.txt" >&2; die "carol's /stats printed nothing"; }
say "hub-client.exe: a batch session published, another read it back from the history"

stop_server
say "passed ($KIND): the whole suite, hub-loadgen.exe 0 lost, hub-client.exe; took $(elapsed)"
