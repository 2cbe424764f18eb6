/* hub-redis-scripts.h: the Lua scripts of the Redis store (hub-redis-scripts.c),
 * one per operation that reads or changes shared state, each run atomically
 * in Redis. They check the state and return codes ({"ok", …} or
 * {"<store error>"}, e.g. {"not_member"}); which error a request gets and
 * its text are the request handlers' (libhub/src/hub-dispatcher-requests.c). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  HUB_SCRIPT_HELLO,
  HUB_SCRIPT_RESUME,
  HUB_SCRIPT_BYE,
  HUB_SCRIPT_GRACE,
  HUB_SCRIPT_RESYNC,
  HUB_SCRIPT_TICK,
  HUB_SCRIPT_CREATE,
  HUB_SCRIPT_JOIN,
  HUB_SCRIPT_LEAVE,
  HUB_SCRIPT_ROOMS,
  HUB_SCRIPT_INFO,
  HUB_SCRIPT_WHO,
  HUB_SCRIPT_PUBLISH,
  HUB_SCRIPT_TYPING,
  HUB_SCRIPT_HISTORY,
  HUB_SCRIPT_DIRECT,
  HUB_SCRIPT_MULTICAST,
  HUB_SCRIPT_STATUS,
  HUB_SCRIPT_SUBSCRIBE,
  HUB_SCRIPT_UNWATCH,
  HUB_SCRIPT_ONLINE,
  HUB_SCRIPT_DOWN,
  HUB_SCRIPT_EXPIRE,
  HUB_SCRIPT_N
} HubScript;

/* The Lua text of @script, helpers included. (transfer none) */
const char *hub_redis_script_source (HubScript script);

G_END_DECLS
