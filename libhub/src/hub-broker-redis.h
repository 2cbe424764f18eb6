/* hub-broker-redis.h: libhub's connection to Redis for cluster mode: two
 * asynchronous hiredis contexts on the GLib main loop (one for commands and
 * scripts, one subscribed to this node's channel and the broadcast channel),
 * reconnection with backoff, and the Lua scripts of hub-broker-scripts.c.
 * Private to libhub: only hub-broker-*.c include hiredis. */
#pragma once

#include <glib.h>
#include <hiredis/hiredis.h>

G_BEGIN_DECLS

typedef enum {
  HUB_SCRIPT_HELLO,
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
  HUB_SCRIPT_N
} HubScript;

/* The Lua text of @script, helpers included. (transfer none) */
const char *hub_broker_script_source (HubScript script);

typedef struct _HubRedis HubRedis;

/* @reply is NULL when Redis could not answer (down, or the connection was lost
 * before the answer came): the caller must then assume nothing about whether
 * the command ran. */
typedef void (*HubRedisReplyFunc) (redisReply *reply, gpointer data);

typedef struct {
  /* A message on this node's channel (@broadcast FALSE) or on the broadcast
   * channel; @data is not NUL-terminated. */
  void (*message) (gpointer user_data, gboolean broadcast, const char *data, gsize len);
  /* Both contexts connected and subscribed: re-register what this node owns. */
  void (*up) (gpointer user_data);
  /* Lost Redis (or could not reach it): every later command fails until up. */
  void (*down) (gpointer user_data);
} HubRedisEvents;

/* Parses @url (redis://HOST:PORT[/DB]); starts connecting at once (the first
 * `up` comes from the main loop). NULL with @error for a bad URL. */
HubRedis *hub_redis_new (const char *url, const char *prefix, const char *node, guint grace_ms,
                         const HubRedisEvents *events, gpointer user_data, GError **error);
/* Pending callbacks run with a NULL reply before this returns. */
void hub_redis_free (HubRedis *redis);
gboolean hub_redis_is_up (HubRedis *redis);
const char *hub_redis_prefix (HubRedis *redis);

/* Runs @script with ARGV = prefix, node, grace_ms, @args (char*, NUL-terminated
 * strings). @func is always called exactly once (maybe before this returns,
 * with NULL, when Redis is down). */
void hub_redis_eval (HubRedis *redis, HubScript script, GPtrArray *args, HubRedisReplyFunc func,
                     gpointer data);
/* A plain command (argv of NUL-terminated strings); same contract. */
void hub_redis_command (HubRedis *redis, const char *const *argv, guint argc,
                        HubRedisReplyFunc func, gpointer data);

/* Same as hub_redis_eval, but blocking (for the synchronous HTTP publish): on
 * a separate connection made on first use, at most 1 s per step. NULL when
 * Redis is down or did not answer in time. (transfer full: freeReplyObject) */
redisReply *hub_redis_eval_sync (HubRedis *redis, HubScript script, GPtrArray *args);
/* PUBLISH @message on the broadcast channel, blocking likewise; FALSE on failure. */
gboolean hub_redis_broadcast_sync (HubRedis *redis, const char *message);

G_END_DECLS
