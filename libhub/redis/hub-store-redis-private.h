/* hub-store-redis-private.h: the Redis store (hub-store-redis.h), shared by its
 * two files: hub-store-redis.c (the node in the cluster: pub/sub deliveries
 * handed to the node's events, liveness, resync, presence graces, figures)
 * and hub-store-redis-ops.c (the operations of hub-store.h, one script each). */
#pragma once

#include "hub-redis.h"
#include "hub/hub-store-redis.h"

G_BEGIN_DECLS

typedef struct {
  HubStore parent;
  HubRedis *redis; /* (owned) */
  HubClock *clock; /* (owned) */
  char *node;      /* (owned) */
  guint history_size;
  guint max_rooms_per_user;
  /* Rooms and their histories (hub-store-redis-ops.c, hub_store_redis_ops_init). */
  gsize history_room_bytes;
  gsize history_total_bytes;
  guint max_empty_rooms_per_user;
  guint empty_room_ttl_ms;
  gboolean expiring; /* an expiry of empty rooms is under way */
  gboolean auto_create;
  guint grace_ms;
  guint heartbeat_s;
  const HubStoreEvents *events; /* (unowned) the node's, from attach */
  gpointer node_data;
  /* What this node registered in Redis, to register again after a
   * reconnect (or when the others declared it dead). */
  GHashTable *conns;   /* (owned) conn id (owned) → HubRedisConn* (owned) */
  GHashTable *watched; /* (owned) set of users (owned) */
  GHashTable *graces;  /* (owned) user → Grace* (owned): offline pending on this node's timer */
  GHashTable *syncs;   /* (owned) id → Sync* (owned): waiting for their message */
  guint next_sync;
  /* (owned) id → its state (owned, hub-store-redis.c): §13's disconnects
   * this node asked, waiting for the nodes to confirm */
  GHashTable *disconnects;
  guint next_disconnect;
  /* Registered: the last RESYNC succeeded and nothing since said this node
   * is unknown to Redis (healthy only then). */
  gboolean registered;
  gboolean resyncing; /* a RESYNC is under way */
  gboolean ticking;   /* a TICK is under way */
  guint tick_timer;
  /* What the last liveness refresh read from Redis. */
  guint cluster_rooms;
  guint cluster_online;
  GHashTable *nodes; /* (owned) live node → its figures (JSON), both owned */
  /* (owned) nodes announced since the TICK in flight was sent, as in @nodes:
   * its answer, read in Redis before they registered, must not drop them. */
  GHashTable *announced;
  char *nodes_json; /* (owned) "\"name\":{…},…", from @nodes at the last get_figures */
  guint64 resyncs;
  gint64 rooms_read_us; /* when cluster_rooms was last asked for */
  gboolean rooms_reading;
} HubStoreRedis;

/* A connection of this node, as registered (a resync registers it again). */
typedef struct {
  char *user;   /* (owned) */
  char *device; /* (owned) */
} HubRedisConn;

HubRedisConn *hub_redis_conn_new (const char *user, const char *device);
void hub_redis_conn_free (gpointer conn);

/* --- Reading the scripts' replies ({"ok", …} or {"<store error>"}) -------------------- */

/* HUB_STORE_OK for {"ok", …}; UNAVAILABLE when Redis did not answer. */
HubStoreError hub_store_redis_code (redisReply *reply);
/* The @i-th element (NULL), as a string ("") or an integer (0). */
redisReply *hub_store_redis_elem (redisReply *reply, gsize i);
const char *hub_store_redis_str (redisReply *reply, gsize i);
gint64 hub_store_redis_int (redisReply *reply, gsize i);

/* Script arguments: a GPtrArray of owned strings. */
GPtrArray *hub_store_redis_args (void);
void hub_store_redis_add (GPtrArray *args, const char *s);
void hub_store_redis_add_int (GPtrArray *args, gint64 v);

/* The vtable (hub-store-redis-ops.c, with the parts of hub-store-redis.c below). */
extern const HubStoreVTable hub_store_redis_vtable;

/* hub-store-redis.c's parts of the vtable. */
void hub_store_redis_free (HubStore *store);
void hub_store_redis_attach (HubStore *store, const HubStoreEvents *events, gpointer node);
void hub_store_redis_sync (HubStore *store, HubStoreFunc done, gpointer data);
gboolean hub_store_redis_is_up (HubStore *store);
guint hub_store_redis_n_rooms (HubStore *store);
gboolean hub_store_redis_get_figures (HubStore *store, HubStoreFigures *out);
/* hub-store-redis-ops.c's settings from @config (called by hub_store_redis_new). */
void hub_store_redis_ops_init (HubStoreRedis *s, const HubConfig *config);
/* Deletes the rooms that never had a member once empty_room_ttl_s is past
 * their creation (§8); from the liveness tick, one at a time. */
void hub_store_redis_expire (HubStoreRedis *s);
/* bye's aftermath: the grace this node times (deadline > 0). */
void hub_store_redis_start_grace (HubStoreRedis *s, const char *user, gint64 deadline);
/* An operation was refused {"unregistered"}: Redis does not count this node
 * (reaped, or Redis lost its data). Registers it again (once at a time). */
void hub_store_redis_reregister (HubStoreRedis *s);
/* TRUE when @reply is {"unregistered"}. */
gboolean hub_store_redis_is_unregistered (redisReply *reply);

/* §13: registers a disconnect waiting for the nodes that hold its
 * connections, before its script runs (a node may confirm before the
 * script's answer comes); returns its id, which the script publishes. */
guint hub_store_redis_disconnect_new (HubStoreRedis *s, HubStoreFunc done, gpointer data);
/* Its script's answer: the nodes told (@told, of @n_told) and whether a live
 * node holding some could not be told (@cut); @done is called once each
 * confirmed. Nothing when the disconnect was answered already (timed out,
 * Redis lost). */
void hub_store_redis_disconnect_told (HubStoreRedis *s, guint id, HubStoreError error,
                                      const char *const *told, guint n_told, gboolean cut);

G_END_DECLS
