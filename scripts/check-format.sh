#!/usr/bin/env bash
# check-format.sh: fails when a tracked C file (*.c, *.h) differs from what clang-format makes
# of it with the root .clang-format. CI runs it first.
#
#   scripts/check-format.sh         check, list the offending lines, exit 1 if any
#   scripts/check-format.sh --fix   reformat those files in place instead
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=check
case ${1:-} in
  '') ;;
  --fix) mode=fix ;;
  -h | --help)
    sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    exit 0
    ;;
  *)
    echo "check-format.sh: unknown argument: $1 (try --help)" >&2
    exit 2
    ;;
esac

if ! command -v clang-format >/dev/null 2>&1; then
  echo "check-format.sh: clang-format not found (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

files=()
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while IFS= read -r -d '' f; do
    [ -f "$f" ] && files+=("$f") # skip tracked files deleted in the work tree
  done < <(git ls-files -z -- '*.c' '*.h')
else # not a git checkout (an unpacked archive): every C file but the build directories
  while IFS= read -r -d '' f; do
    files+=("$f")
  done < <(find . \( -path './build*' -o -path './.git' \) -prune -o \
                -type f \( -name '*.c' -o -name '*.h' \) -print0)
fi
[ "${#files[@]}" -eq 0 ] && exit 0

if [ "$mode" = fix ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run -Werror "${files[@]}"; then
  echo "check-format.sh: not formatted (scripts/check-format.sh --fix rewrites them):" >&2
  for f in "${files[@]}"; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "  $f" >&2
  done
  exit 1
fi
