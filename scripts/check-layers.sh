#!/usr/bin/env bash
# check-layers.sh: fails when an #include crosses libhub's layers the wrong way (README.md,
# Architecture). Dependencies point one way, towards the core:
#   - the core (libhub/src, libhub/include/hub) includes no libwebsockets.h, hiredis.h (or
#     hiredis/...), uv.h, no platform header (hub-net.h, hub-signals.h, hub-lws-glib*.h) and no
#     header of the client (libhub/client) or of the Redis store (libhub/redis);
#   - no file outside libhub/client includes the client's private headers (libhub/client/*.h),
#     but the unit tests (tests/unit: white-box by design).
# Which files may include system headers is check-portability.sh's business.
#
#   scripts/check-layers.sh          check this tree
#   scripts/check-layers.sh ROOT     check the tree at ROOT (scripts/test-check-layers.sh)
# Prints FILE:LINE: what for each finding and exits 1 if there is any.
#
# HUB_LAYERS_PENDING: core files still allowed their hiredis and hub-net includes, space
# separated, for a move done in steps (none by default: the Redis store lives in libhub/redis).
set -euo pipefail

if [ "$#" -gt 0 ] && { [ "$1" = -h ] || [ "$1" = --help ]; }; then
  sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
  exit 0
fi
root=${1:-$(dirname "${BASH_SOURCE[0]}")/..}
cd "$root"
pending=${HUB_LAYERS_PENDING-}

# The parts whose headers the core must not see, and the client's private headers.
part_headers=()
client_headers=()
for dir in libhub/client libhub/redis; do
  [ -d "$dir" ] || continue
  while IFS= read -r -d '' h; do
    part_headers+=("${h##*/}")
    [ "$dir" = libhub/client ] && client_headers+=("${h##*/}")
  done < <(find "$dir" -name '*.h' -type f -print0)
done
# A regex alternative of names, dots escaped (when there is none, one that only an empty name
# matches).
alternatives ()
{
  local out="" name
  for name in "$@"; do
    out+="${out:+|}${name//./\\.}"
  done
  printf '%s' "${out:-^$}"
}
external='libwebsockets\.h|hiredis\.h|hiredis/[A-Za-z0-9_/]+\.h|uv\.h|uv/[A-Za-z0-9_/]+\.h'
platform='hub-net\.h|hub-signals\.h|hub-lws-glib[A-Za-z0-9_-]*\.h'
redis='hiredis\.h|hiredis/[A-Za-z0-9_/]+\.h|hub-net\.h'
parts=$(alternatives "${part_headers[@]+"${part_headers[@]}"}")
client=$(alternatives "${client_headers[@]+"${client_headers[@]}"}")

# scan FILE CORE(0|1) CLIENT_OK(0|1) PENDING(0|1): prints the findings of one file. The
# #include lines only, outside block comments; the included name is compared by its last
# path component (what a relative path or an -I directory reaches).
scan ()
{
  awk -v core="$2" -v client_ok="$3" -v pending="$4" -v ext="^(${external})$" \
      -v plat="^(${platform})$" -v parts="^(${parts})$" -v client="^(${client})$" \
      -v redis="^(${redis})$" '
    {
      line = $0
      if (in_comment) {
        if (index (line, "*/") == 0) next
        line = substr (line, index (line, "*/") + 2); in_comment = 0
      }
      while (match (line, /\/\*/)) {
        rest = substr (line, RSTART + 2)
        if (index (rest, "*/") == 0) { line = substr (line, 1, RSTART - 1); in_comment = 1; break }
        line = substr (line, 1, RSTART - 1) " " substr (rest, index (rest, "*/") + 2)
      }
      if (!match (line, /^[ \t]*#[ \t]*include[ \t]*[<"][^>"]+[>"]/)) next
      name = line; sub (/^[ \t]*#[ \t]*include[ \t]*[<"]/, "", name); sub (/[>"].*$/, "", name)
      full = name; base = name; sub (/^.*\//, "", base)
      if (core && pending && (full ~ redis || base ~ redis)) next
      if (core && (full ~ ext || base ~ ext))
        print FILENAME ":" FNR ": the core includes " full " (GLib and json-glib only): " $0
      else if (core && base ~ plat)
        print FILENAME ":" FNR ": the core includes the platform layer (" base "): " $0
      else if (core && base ~ parts)
        print FILENAME ":" FNR ": the core includes " base ", a header of a part that uses it: " $0
      else if (!core && !client_ok && base ~ client)
        print FILENAME ":" FNR ": includes " base ", private to libhub/client: " $0
    }' "$1"
}

status=0
while IFS= read -r -d '' f; do
  f=${f#./}
  core=0 client_ok=0 is_pending=0
  case $f in
    libhub/src/* | libhub/include/hub/*) core=1 ;;
    libhub/client/* | tests/unit/*) client_ok=1 ;;
  esac
  for p in $pending; do
    [ "$f" = "$p" ] && is_pending=1
  done
  hits=$(scan "$f" "$core" "$client_ok" "$is_pending")
  if [ -n "$hits" ]; then
    printf '%s\n' "$hits"
    status=1
  fi
done < <(find . \( -name .git -o -name 'build*' -o -name node_modules \) -prune -o \
              \( -name '*.c' -o -name '*.h' -o -name '*.h.in' \) -type f -print0 | sort -z)

if [ "$status" -ne 0 ]; then
  echo "check-layers.sh: an include against libhub's layers (README.md, Architecture)" >&2
fi
exit "$status"
