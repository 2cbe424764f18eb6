#!/usr/bin/env bash
# install-deps.sh: installs what hub needs to build and test, and only what is missing.
# Prints nothing and exits 0 when everything is already there, so the other scripts call it
# every time. Debian/Ubuntu (apt-get), macOS (Homebrew), Windows under MSYS2 UCRT64 (pacman).
#
#   scripts/install-deps.sh           install what is missing
#   scripts/install-deps.sh --check   list what is missing, install nothing (exit 1 if any)
#   scripts/install-deps.sh --windows [--check]   the same for the Windows cross-build on Debian
#                                     (mingw-w64 + wine: scripts/windows-check.sh)
set -euo pipefail

# libreadline-dev: hub-client's line editing (optional in CMake, installed so every machine
# builds the same client); openssl: the integration tests make a TLS certificate with it;
# liburing-dev: hub-server's batched sends (--io-uring, Linux only; optional in CMake);
# valgrind: scripts/bench.sh counts hub-server's instructions per frame with callgrind
# (not on Homebrew, whose formula is Linux-only: bench.sh then skips the counts).
# help2man: the man pages, generated from each program's --help at build time (without it
# CMake skips them); man-db: the install test reads the installed page with `man`;
# systemd: `systemd-analyze verify` of the installed unit (nothing is started by it).
# Homebrew: readline is GNU readline (macOS's own is libedit); libuv for hub-server's default
# loop. MSYS2 (UCRT64): no readline and no libuv, which hub does not use on Windows (README.md,
# Windows); names are the package names after the mingw-w64-ucrt-x86_64- prefix, `toolchain`
# being the group with gcc, make and the headers. .github/workflows/ci.yml relies on these.
# glib-networking: GIO's TLS, with which hub-client and hub-loadgen say why a wss:// connection
# failed (hub-client-probe.h). chromium (Debian only): the test that opens hub-loadgen's --html
# report headless and checks that its charts render (skipped where it is missing).
APT_PACKAGES=(build-essential cmake pkg-config libwebsockets-dev libuv1-dev libglib2.0-dev libjson-glib-dev
              check libhiredis-dev redis-server haproxy clang clang-format jq python3
              libreadline-dev openssl liburing-dev valgrind glib-networking chromium help2man man-db
              systemd)
BREW_PACKAGES=(libwebsockets libuv glib json-glib check hiredis redis haproxy cmake pkg-config
               clang-format jq readline openssl@3 glib-networking help2man)
# --windows (Debian only): what scripts/windows-check.sh needs to cross-build hub and its
# dependencies for x86_64-w64-mingw32 (../shared/windows/recipe/build-prefix.sh) and run the
# result under wine: wine is the `wine` command, wine64 its 64-bit loader; openssl and
# python3 make the tests' TLS certificate and read the loadgen's report, as on Linux.
APT_WINDOWS_PACKAGES=(mingw-w64 wine wine64 meson ninja-build cmake pkg-config libz-mingw-w64-dev
                      xz-utils openssl python3 jq)
MSYS2_PREFIX=mingw-w64-ucrt-x86_64
MSYS2_PACKAGES=(toolchain cmake ninja pkgconf libwebsockets glib2 json-glib check hiredis
                openssl glib-networking jq)

say () { echo "install-deps.sh: $*" >&2; }

# Runs "$@" as root: directly when we are root (CI, containers), else through sudo.
as_root ()
{
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    say "need root to run: $* (run as root or install sudo)"
    exit 1
  fi
}

# --- Debian / Ubuntu -------------------------------------------------------------------------

deb_installed () { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# Prints the packages among "$@" that are not installed.
deb_missing ()
{
  local p
  for p in "$@"; do
    deb_installed "$p" || echo "$p"
  done
}

# Major version of the distribution's `clang` package (14 on Debian 12): the installed one,
# else the candidate apt would install. Empty when unknown (no package lists yet).
deb_clang_major ()
{
  local v
  if deb_installed clang; then
    v=$(dpkg-query -W -f='${Version}' clang)
  else
    v=$(apt-cache policy clang 2>/dev/null | awk '/Candidate:/ { print $2 }')
  fi
  v=${v#*:}   # drop the epoch: 1:14.0-55.7~deb12u1 -> 14.0-55.7~deb12u1
  v=${v%%[.~+-]*}
  case $v in '' | *[!0-9]*) ;; *) echo "$v" ;; esac
}

# TRUE when clang N's libFuzzer/sanitizer runtime is installed: the libclang-rt-N-dev package
# (Debian 12, Ubuntu 23.04 and later) or, on older releases, the file that package would carry.
deb_clang_rt_present ()
{
  local n=$1
  deb_installed "libclang-rt-$n-dev" && return 0
  compgen -G "/usr/lib/llvm-$n/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a" >/dev/null
}

# The package holding clang N's runtime: libclang-rt-N-dev where it exists, else (older
# releases) libclang-common-N-dev. Needs package lists.
deb_clang_rt_package ()
{
  local n=$1
  if apt-cache show --no-all-versions "libclang-rt-$n-dev" >/dev/null 2>&1; then
    echo "libclang-rt-$n-dev"
  else
    echo "libclang-common-$n-dev"
  fi
}

install_debian ()
{
  local check_only=$1 major rt_ok=1 missing
  mapfile -t missing < <(deb_missing "${APT_PACKAGES[@]}")
  major=$(deb_clang_major)
  if [ -z "$major" ] || ! deb_clang_rt_present "$major"; then
    rt_ok=0
  fi
  [ "${#missing[@]}" -eq 0 ] && [ "$rt_ok" -eq 1 ] && return 0

  if [ "$check_only" -eq 1 ]; then
    [ "$rt_ok" -eq 1 ] || missing+=("clang runtime (libclang-rt-${major:-N}-dev)")
    say "missing: ${missing[*]}"
    return 1
  fi

  export DEBIAN_FRONTEND=noninteractive
  say "apt-get update"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -qq update
  if [ "$rt_ok" -eq 0 ]; then
    major=$(deb_clang_major)
    if [ -z "$major" ]; then
      say "cannot tell which clang version apt would install"
      return 1
    fi
    deb_clang_rt_present "$major" || missing+=("$(deb_clang_rt_package "$major")")
  fi
  say "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -qq -y install --no-install-recommends \
      "${missing[@]}" >/dev/null
}

# The Windows cross-build's packages (--windows): no clang runtime, nothing else to work out.
install_debian_windows ()
{
  local check_only=$1 missing
  mapfile -t missing < <(deb_missing "${APT_WINDOWS_PACKAGES[@]}")
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$check_only" -eq 1 ]; then
    say "missing: ${missing[*]}"
    return 1
  fi
  say "apt-get update"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -qq update
  say "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -qq -y install --no-install-recommends \
      "${missing[@]}" >/dev/null
}

# --- macOS (Homebrew) ------------------------------------------------------------------------

install_macos ()
{
  local check_only=$1 p missing=()
  if ! command -v brew >/dev/null 2>&1; then
    say "Homebrew is needed on macOS: https://brew.sh"
    return 1
  fi
  for p in "${BREW_PACKAGES[@]}"; do
    brew list --versions "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$check_only" -eq 1 ]; then
    say "missing: ${missing[*]}"
    return 1
  fi
  say "installing: ${missing[*]}"
  brew install --quiet "${missing[@]}"
}

# --- Windows (MSYS2, UCRT64 environment) -----------------------------------------------------

install_msys2 ()
{
  local check_only=$1 p name missing=()
  for p in "${MSYS2_PACKAGES[@]}"; do
    name="$MSYS2_PREFIX-$p"
    # `toolchain` is a group, the others are packages.
    pacman -Q "$name" >/dev/null 2>&1 || pacman -Qg "$name" >/dev/null 2>&1 || missing+=("$name")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$check_only" -eq 1 ]; then
    say "missing: ${missing[*]}"
    return 1
  fi
  say "installing: ${missing[*]}"
  pacman -S --needed --noconfirm "${missing[@]}"
}

main ()
{
  local check_only=0 windows=0 a
  for a in "$@"; do
    case $a in
      --check) check_only=1 ;;
      --windows) windows=1 ;;
      -h | --help)
        sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
        return 0
        ;;
      *)
        say "unknown argument: $a (try --help)"
        return 2
        ;;
    esac
  done

  if [ "$windows" -eq 1 ]; then
    if [ "$(uname -s)" = Linux ] && command -v dpkg-query >/dev/null 2>&1 \
        && command -v apt-get >/dev/null 2>&1; then
      install_debian_windows "$check_only"
      return
    fi
    say "--windows is the cross-build on Debian/Ubuntu; on Windows itself use MSYS2 (no option)"
    return 1
  fi

  case $(uname -s) in
    Linux)
      if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
        install_debian "$check_only"
      else
        say "this Linux has no apt-get: install by hand the equivalents of: ${APT_PACKAGES[*]}"
        return 1
      fi
      ;;
    Darwin) install_macos "$check_only" ;;
    MINGW* | MSYS* | UCRT*) install_msys2 "$check_only" ;;
    *)
      say "unsupported system $(uname -s): see README.md, Platforms"
      return 1
      ;;
  esac
}

# Sourcing this file (for a test) defines the functions without running anything.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
