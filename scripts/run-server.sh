#!/usr/bin/env bash
# run-server.sh: installs what is missing, builds hub-server (optimised, with debug info, into
# build/) and runs it in memory (no Redis) on 127.0.0.1:8080, in development mode (no auth
# secret). Extra arguments go to hub-server after those defaults, so they can override them:
#
#   scripts/run-server.sh                 ws://127.0.0.1:8080/ws
#   scripts/run-server.sh --port 9000     another port
#   scripts/run-server.sh --help          every hub-server flag
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
# Same build type and sanitizer setting as scripts/test.sh, so the two share build/ without
# rebuilding each other's objects.
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHUB_SANITIZE=OFF >/dev/null
cmake --build build --target hub-server -j "$jobs"

exec build/hub-server/hub-server --host 127.0.0.1 --port 8080 "$@"
