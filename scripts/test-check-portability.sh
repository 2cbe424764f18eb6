#!/usr/bin/env bash
# test-check-portability.sh: check-portability.sh on fixtures: it must flag POSIX-only headers,
# calls (clocks and processes too) and signals outside *-unix.c, socket calls outside either
# kind of platform file, Windows headers outside *-win32.c, and nothing in comments, strings,
# longer names or the files allowed to have them. Exit 0 when it does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail () { echo "test-check-portability.sh: FAIL: $*" >&2; exit 1; }

cat >"$dir/clean.c" <<'C'
/* kill (pid) and #include <unistd.h> in a comment; isatty (0) too */
#include <signal.h>
static const char *s = "fork ( pipe (";
static int f (void) { g_usleep (1); g_signal_connect (0, "x", 0, 0); return SIGTERM + SIGINT; }
static int g (struct p *p) { return p->poll (1) + hub_net_poll_new (0, 0) != 0; } // select (
static gint64 h (void) { return g_get_monotonic_time () + hub_times (2) + w->send (3); }
/* clock_gettime (CLOCK_MONOTONIC, &ts) and getpid () in a comment */
C
cat >"$dir/bad.c" <<'C'
#include <unistd.h>
#include <windows.h>
static int f (void) { return isatty (0); }
static int g (void) { return SIGPIPE; }
static long h (struct timespec *ts) { return clock_gettime (CLOCK_MONOTONIC, ts); }
static long i (void) { return getpid () + gettimeofday (0, 0); }
static long j (int fd) { return send (fd, "x", 1, 0); }
C
cp "$dir/bad.c" "$dir/bad-unix.c"
cp "$dir/bad.c" "$dir/bad-win32.c"

scripts/check-portability.sh "$dir/clean.c" >/dev/null 2>&1 || fail "clean.c was flagged"
out=$(scripts/check-portability.sh "$dir" 2>/dev/null) && fail "exit 0 with bad files"
expect=("bad.c:1: POSIX-only header" "bad.c:2: Windows-only header" "bad.c:3: POSIX-only call isatty()"
        "bad.c:4: POSIX-only signal SIGPIPE" "bad.c:5: POSIX-only call clock_gettime()"
        "bad.c:6: POSIX-only call getpid()" "bad.c:7: socket call send() outside the platform layer"
        "bad-unix.c:2: Windows-only header"
        "bad-win32.c:1: POSIX-only header" "bad-win32.c:3: POSIX-only call isatty()"
        "bad-win32.c:4: POSIX-only signal SIGPIPE" "bad-win32.c:5: POSIX-only call clock_gettime()"
        "bad-win32.c:6: POSIX-only call getpid()")
for e in "${expect[@]}"; do
  grep -qF "$dir/$e" <<<"$out" || fail "missing: $e"
done
[ "$(wc -l <<<"$out")" -eq "${#expect[@]}" ] || fail "unexpected findings: $out"
echo "test-check-portability.sh: ok"
