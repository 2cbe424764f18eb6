/* hub-redis.h: the Redis store's connection to Redis: two asynchronous hiredis
 * contexts on the GLib main loop (one for commands and scripts, one
 * subscribed to this node's channel and the broadcast channel), reconnection
 * with backoff, and the Lua scripts of hub-redis-scripts.c. Private to
 * libhub/redis/, the only code of hub that includes hiredis. */
#pragma once

#include <glib.h>
#include <hiredis/hiredis.h>

G_BEGIN_DECLS

#include "hub-redis-scripts.h"

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
  /* Every call that passed its deadline has had its late answer from Redis:
   * Redis answers again (what those calls did there is unknown to their
   * callers, who were answered NULL at the deadline). */
  void (*caught_up) (gpointer user_data);
} HubRedisEvents;

/* Parses @url (redis://HOST:PORT[/DB]). Every call is answered within
 * @timeout_ms (its deadline): NULL when Redis has not answered by then. NULL
 * with @error for a bad URL. */
HubRedis *hub_redis_new (const char *url, const char *prefix, const char *node, guint grace_ms,
                         guint timeout_ms, const HubRedisEvents *events, gpointer user_data,
                         GError **error);
/* Starts connecting (the first `up` comes from the main loop). */
void hub_redis_start (HubRedis *redis);
/* Pending callbacks run with a NULL reply before this returns. */
void hub_redis_free (HubRedis *redis);
gboolean hub_redis_is_up (HubRedis *redis);
/* TRUE while a call is past its deadline and Redis has not answered it yet:
 * Redis (or the way to it) is stalled. Meanwhile every new call is answered
 * NULL at once, without being sent (it would only queue behind the others).
 * A call is judged at its deadline's dispatch, after reading what Redis sent;
 * one whose deadline passed while this node itself stalled gets a new one. */
gboolean hub_redis_is_late (HubRedis *redis);
const char *hub_redis_prefix (HubRedis *redis);

/* Runs @script with ARGV = prefix, node, grace_ms, @args (char*, NUL-terminated
 * strings). @func is always called exactly once (maybe before this returns,
 * with NULL, when Redis is down or late), and with NULL at the deadline if
 * Redis has not answered by then (the script may still run later). */
void hub_redis_eval (HubRedis *redis, HubScript script, GPtrArray *args, HubRedisReplyFunc func,
                     gpointer data);
/* A plain command (argv of NUL-terminated strings); same contract. */
void hub_redis_command (HubRedis *redis, const char *const *argv, guint argc,
                        HubRedisReplyFunc func, gpointer data);

/* Same as hub_redis_eval, but blocking (a node shutting down unregisters at
 * once): on a separate connection made on first use, at most 1 s per step.
 * NULL when Redis is down or did not answer in time. (transfer full:
 * freeReplyObject) */
redisReply *hub_redis_eval_sync (HubRedis *redis, HubScript script, GPtrArray *args);
/* This node's channel and the broadcast channel. (transfer none) */
const char *hub_redis_node_channel (HubRedis *redis);
const char *hub_redis_all_channel (HubRedis *redis);

G_END_DECLS
