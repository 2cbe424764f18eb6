/* hub-broker-call.h: what the cluster mode's files share, private to libhub:
 * a request waiting for Redis (the connection ref'd, the request kept), and
 * readers of the Lua scripts' replies ({"ok", …} or {"<error code>"}). */
#pragma once

#include "hub-broker-cluster.h"
#include "hub-broker-redis.h"
#include "hub-dispatcher-private.h"

G_BEGIN_DECLS

#define HUB_CLUSTER_UNAVAILABLE "cluster broker unavailable"

typedef struct {
  HubDispatcher *d;
  HubConnection *conn; /* (owned) */
  HubRequest *req;     /* (owned) */
} HubCall;

/* Refs @conn, takes @req. Counts as one of @conn's calls waiting for Redis
 * until freed. */
HubCall *hub_call_new (HubDispatcher *d, HubConnection *conn, HubRequest *req);
void hub_call_free (HubCall *call);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubCall, hub_call_free)
/* Runs @script for @call; @done gets the reply and @call (and frees it). */
void hub_call_run (HubCall *call, HubScript script, GPtrArray *args, HubRedisReplyFunc done);
/* FALSE after answering the script's error (or when the connection is gone). */
gboolean hub_call_check (HubCall *call, redisReply *reply);

/* HUB_ERROR_NONE for {"ok", …}; HUB_ERROR_INTERNAL when Redis did not answer. */
HubErrorCode hub_reply_code (redisReply *reply);
/* The @i-th element (NULL), as a string ("") or an integer (0). */
redisReply *hub_reply_elem (redisReply *reply, gsize i);
const char *hub_reply_str (redisReply *reply, gsize i);
gint64 hub_reply_int (redisReply *reply, gsize i);
/* The human text of an error code a script returned. */
const char *hub_cluster_error_text (HubErrorCode code);

/* Script arguments: a GPtrArray of owned strings. */
GPtrArray *hub_args_new (void);
void hub_args_add (GPtrArray *args, const char *s);
void hub_args_add_int (GPtrArray *args, gint64 v);
void hub_args_add_frame (GPtrArray *args, HubFrame *frame);
/* A message frame encoded with seq 0, as the two halves around that 0. */
void hub_args_add_message_halves (GPtrArray *args, HubFrame *frame);

/* @conn's requests waiting for Redis (HubCall), counted by hub_call_new and
 * hub_call_free. */
void hub_cluster_count_call (HubDispatcher *d, HubConnection *conn, gint delta);
guint hub_cluster_calls_pending (HubDispatcher *d, HubConnection *conn);

/* TRUE while @conn is one of this node's open connections. */
gboolean hub_cluster_conn_alive (HubDispatcher *d, HubConnection *conn);
HubRedis *hub_cluster_get_redis (HubCluster *c);
/* Drops @conn's subscriptions to @users (all when NULL); returns the users
 * this node no longer watches. (transfer full) */
GPtrArray *hub_cluster_unsubscribe_local (HubDispatcher *d, HubConnection *conn, GPtrArray *users);

G_END_DECLS
