#!/usr/bin/env bash
# check-portability.sh: fails when C code outside the platform layer uses a POSIX-only header
# or call (clocks, timers, processes, signals, descriptors), a socket call, or a Windows-only
# header outside a *-win32.c file. The platform layer is the *-unix.c / *-unix.h files (POSIX
# allowed) and the *-win32.c / *-win32.h files (Windows allowed; sockets in either); everything
# else must build on Linux, macOS and Windows (MSYS2, mingw-w64) alike.
#
#   scripts/check-portability.sh            scan libhub hub-server hub-client hub-loadgen tests
#   scripts/check-portability.sh DIR...     scan these directories (or files) only
# Prints FILE:LINE: what for each finding and exits 1 if there is any.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "$#" -gt 0 ] && { [ "$1" = -h ] || [ "$1" = --help ]; }; then
  sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
  exit 0
fi
dirs=("$@")
[ "${#dirs[@]}" -gt 0 ] || dirs=(libhub hub-server hub-client hub-loadgen tests)

# POSIX-only headers: <unistd.h>, <sys/...>, <netinet/...>, <arpa/...> and the like.
posix_headers='unistd\.h|sys/[a-z_/]+\.h|netinet/[a-z_]+\.h|arpa/[a-z_]+\.h|termios\.h|pthread\.h'
posix_headers+='|poll\.h|fcntl\.h|netdb\.h|pty\.h|pwd\.h|grp\.h|dlfcn\.h|glib-unix\.h|gio/gunix[a-z]*\.h'
posix_headers+='|spawn\.h|syslog\.h|util\.h|libutil\.h|dirent\.h|ifaddrs\.h|net/if\.h|readline/[a-z]+\.h'
# POSIX-only calls (a name followed by an opening parenthesis).
posix_calls='fork|vfork|execv|execvp|execl|execlp|kill|killpg|sigaction|sigprocmask|sigemptyset|raise'
posix_calls+='|waitpid|wait3|setrlimit|getrlimit|tcsetattr|tcgetattr|isatty|ttyname|pipe|pipe2|socketpair'
posix_calls+='|fcntl|ioctl|poll|select|dup|dup2|forkpty|openpty|getuid|geteuid|getpwuid|setsid|alarm'
posix_calls+='|usleep|sleep|nanosleep|mkfifo|realpath|getaddrinfo|inet_pton|inet_ntop'
posix_calls+='|g_unix_[a-z_]+|g_source_add_unix_fd'
# POSIX clocks, timers and process calls (mingw-w64's msvcrt has none of them: hub-loadgen's
# clock_gettime() once broke the Windows link; GLib has g_get_monotonic_time, g_get_real_time).
posix_calls+='|clock_gettime|clock_getres|clock_nanosleep|gettimeofday|timer_create|timer_settime'
posix_calls+='|timerfd_create|getrusage|times|getpid|getppid|getpgid|setpgid|sysconf|mmap|munmap'
posix_calls+='|sched_yield|sched_setaffinity|posix_spawn|posix_spawnp'
posix_calls+='|epoll_create1|epoll_ctl|epoll_wait|eventfd'
# Socket calls: both systems have them (BSD sockets, Winsock) but with other types and errors
# (int vs SOCKET, errno vs WSAGetLastError): allowed in either kind of platform file
# (hub-net-unix.c, hub-net-win32.c behind hub-net.h), elsewhere GIO or hub-net.h.
socket_calls='socket|accept|accept4|bind|listen|connect|setsockopt|getsockopt|getsockname'
socket_calls+='|getpeername|recv|recvfrom|recvmsg|send|sendto|sendmsg|shutdown'
# Signals Windows does not have (<signal.h> and SIGINT/SIGTERM are ISO C and exist there).
posix_signals='SIGPIPE|SIGHUP|SIGKILL|SIGWINCH|SIGCHLD|SIGUSR1|SIGUSR2|SIGALRM|SIGSTOP|SIGCONT|SIGQUIT'
# Windows-only headers.
win_headers='windows\.h|winsock2?\.h|ws2tcpip\.h|io\.h|process\.h|direct\.h|conio\.h|wincon\.h'

files=()
while IFS= read -r -d '' f; do
  files+=("$f")
done < <(find "${dirs[@]}" \( -name '*.c' -o -name '*.h' \) -type f -print0 | sort -z)

status=0
for f in "${files[@]}"; do
  base=${f##*/}
  case $base in
    *-unix.c | *-unix.h) posix_ok=1 ;;
    *) posix_ok=0 ;;
  esac
  case $base in
    *-win32.c | *-win32.h) win_ok=1 ;;
    *) win_ok=0 ;;
  esac
  # Comments and string literals are not code: blank them (line by line, so
  # numbers stay right) before looking. A crude C lexer, enough for our sources.
  hits=$(awk -v posix_ok="$posix_ok" -v win_ok="$win_ok" \
      -v ph="^[ \t]*#[ \t]*include[ \t]*<(${posix_headers})>" \
      -v wh="^[ \t]*#[ \t]*include[ \t]*<(${win_headers})>" \
      -v pc="(^|[^A-Za-z0-9_.>])(${posix_calls})[ \t]*\\\\(" \
      -v sc="(^|[^A-Za-z0-9_.>])(${socket_calls})[ \t]*\\\\(" \
      -v ps="(^|[^A-Za-z0-9_])(${posix_signals})([^A-Za-z0-9_]|$)" '
    {
      line = $0; out = ""; i = 1; n = length (line)
      while (i <= n) {
        c = substr (line, i, 1); c2 = substr (line, i, 2)
        if (in_comment) {
          if (c2 == "*/") { in_comment = 0; i += 2 } else i++
          continue
        }
        if (c2 == "/*") { in_comment = 1; i += 2; continue }
        if (c2 == "//") break
        if (c == "\"" || c == "\047") {
          q = c; out = out q; i++
          while (i <= n && substr (line, i, 1) != q) { if (substr (line, i, 1) == "\\") i++; i++ }
          out = out q; i++; continue
        }
        out = out c; i++
      }
      if (!posix_ok && match ($0, ph)) print FILENAME ":" FNR ": POSIX-only header: " $0
      else if (!win_ok && match ($0, wh)) print FILENAME ":" FNR ": Windows-only header: " $0
      else if (!posix_ok && out !~ /^[ \t]*#[ \t]*include/ && match (out, pc)) {
        call = substr (out, RSTART, RLENGTH); sub (/^[^A-Za-z_]/, "", call); sub (/[ \t]*\($/, "", call)
        print FILENAME ":" FNR ": POSIX-only call " call "(): " $0
      } else if (!posix_ok && !win_ok && out !~ /^[ \t]*#[ \t]*include/ && match (out, sc)) {
        call = substr (out, RSTART, RLENGTH); sub (/^[^A-Za-z_]/, "", call); sub (/[ \t]*\($/, "", call)
        print FILENAME ":" FNR ": socket call " call "() outside the platform layer: " $0
      } else if (!posix_ok && match (out, ps)) {
        sig = substr (out, RSTART, RLENGTH); gsub (/[^A-Z0-9]/, "", sig)
        print FILENAME ":" FNR ": POSIX-only signal " sig ": " $0
      }
    }' "$f")
  if [ -n "$hits" ]; then
    printf '%s\n' "$hits"
    status=1
  fi
done

if [ "$status" -ne 0 ]; then
  echo "check-portability.sh: platform-specific code outside the platform layer (*-unix.c," \
       "*-win32.c: see README.md, Platforms)" >&2
fi
exit "$status"
