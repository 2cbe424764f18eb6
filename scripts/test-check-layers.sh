#!/usr/bin/env bash
# test-check-layers.sh: check-layers.sh on a fixture tree: it must flag the core including
# libwebsockets, hiredis, libuv, the platform layer or a header of the client or the Redis
# store, and a file outside the client (and its unit tests) including the client's private
# headers; and nothing in comments, in the files allowed, or in the pending files while they
# are pending. Exit 0 when it does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
check=$PWD/scripts/check-layers.sh

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail () { echo "test-check-layers.sh: FAIL: $*" >&2; exit 1; }

mkdir -p "$dir"/libhub/{src,include/hub,client,redis,platform} "$dir"/hub-server \
         "$dir"/tests/{unit,integration}
cat >"$dir/libhub/client/hub-client-private.h" <<'C'
#include <libwebsockets.h>
#include "hub-lws-glib.h"
C
cp "$dir/libhub/client/hub-client-private.h" "$dir/libhub/client/hub-client.c"
echo '#include <hiredis/hiredis.h>' >"$dir/libhub/redis/hub-redis-store.h"
echo '#include "hub-net.h"' >"$dir/hub-server/hub-listener.c"
cat >"$dir/libhub/src/clean.c" <<'C'
/* #include <libwebsockets.h> in a comment,
 * #include "hub-client-private.h" over lines */
#include <glib.h>
#include <json-glib/json-glib.h>
#include "hub/hub-codec.h" /* not <uv.h> */
static const char *s = "#include <uv.h>";
C
cat >"$dir/libhub/src/bad.c" <<'C'
#include <libwebsockets.h>
#include <hiredis/async.h>
#include <uv.h>
#include "hub-net.h"
#include "hub-client-private.h"
#include "../redis/hub-redis-store.h"
  #  include   "hiredis.h"
C
echo '#include <uv.h>' >"$dir/libhub/include/hub/hub-bad.h"
cp "$dir/libhub/src/bad.c" "$dir/libhub/src/pending.c"
echo '#include "hub-client-private.h"' >"$dir/hub-server/leak.c"
echo '#include "../../libhub/client/hub-client-private.h"' >"$dir/tests/integration/test-leak.c"
echo '#include "../../libhub/client/hub-client-private.h"' >"$dir/tests/unit/test-client-x.c"

out=$(HUB_LAYERS_PENDING="libhub/src/pending.c" "$check" "$dir" 2>/dev/null) &&
  fail "exit 0 with bad files"
expect=("libhub/src/bad.c:1: the core includes libwebsockets.h"
        "libhub/src/bad.c:2: the core includes hiredis/async.h"
        "libhub/src/bad.c:3: the core includes uv.h"
        "libhub/src/bad.c:4: the core includes the platform layer (hub-net.h)"
        "libhub/src/bad.c:5: the core includes hub-client-private.h, a header of a part"
        "libhub/src/bad.c:6: the core includes hub-redis-store.h, a header of a part"
        "libhub/src/bad.c:7: the core includes hiredis.h"
        "libhub/include/hub/hub-bad.h:1: the core includes uv.h"
        "libhub/src/pending.c:1: the core includes libwebsockets.h"
        "libhub/src/pending.c:3: the core includes uv.h"
        "libhub/src/pending.c:5: the core includes hub-client-private.h"
        "libhub/src/pending.c:6: the core includes hub-redis-store.h"
        "hub-server/leak.c:1: includes hub-client-private.h, private to libhub/client"
        "tests/integration/test-leak.c:1: includes hub-client-private.h, private to libhub/client")
for e in "${expect[@]}"; do
  grep -qF "$e" <<<"$out" || fail "missing: $e (got: $out)"
done
[ "$(wc -l <<<"$out")" -eq "${#expect[@]}" ] || fail "unexpected findings: $out"

# Without the bad files the tree passes: the client, its unit test, the Redis store and the
# programs may include what they include.
rm "$dir"/libhub/src/{bad,pending}.c "$dir/libhub/include/hub/hub-bad.h" "$dir/hub-server/leak.c" \
   "$dir/tests/integration/test-leak.c"
out=$(HUB_LAYERS_PENDING='' "$check" "$dir" 2>&1) || fail "a clean tree was flagged: $out"
echo "test-check-layers.sh: ok"
