/* hub-store-redis.c: the Redis store's node in the cluster (PROTOCOL.md §11):
 * the deliveries that come back over this node's pub/sub channel as ready
 * frames, handed to the node's events as they are; liveness and reaping of
 * dead nodes; re-registering what this node holds after Redis came back, was
 * late, or forgot it (and closing the connections that may have missed
 * deliveries meanwhile); presence graces; sync; §13's disconnects and their
 * confirmations; the cluster's figures. The operations themselves are in
 * hub-store-redis-ops.c. */
#include "hub-store-redis-private.h"
#include "hub/hub-event.h"

#include <string.h>

/* A user whose last connection in the cluster closed on this node: once the
 * presence grace runs out, HUB_SCRIPT_GRACE makes it offline unless it came
 * back meanwhile (on any node). The liveness tick of every node does the same
 * for graces whose node died. */
typedef struct {
  HubStoreRedis *s; /* (unowned) */
  char *user;       /* (owned) */
  gint64 deadline;  /* Redis' deadline: identifies this grace */
  guint timer;
} Grace;

/* A sync: done once Redis answered its PUBLISH on the command connection (so
 * every earlier operation was answered: replies come in order) and its
 * message came back on the subscriber connection (so every delivery those
 * operations published to this node came before it). */
typedef struct {
  HubStoreFunc done;
  gpointer data;
  gboolean published;
  gboolean received;
} Sync;

/* §13: a disconnect this node asked. Its script tells each live node that
 * holds some of the user's connections to close them; each confirms on this
 * node's channel once it has. Answered when all told have confirmed (or
 * UNAVAILABLE after DISCONNECT_TIMEOUT_MS, or when Redis is lost). */
typedef struct {
  HubStoreRedis *s; /* (unowned) */
  guint id;
  HubStoreFunc done;
  gpointer data;
  gboolean told;       /* the script answered: @waiting is complete */
  GHashTable *waiting; /* (owned) nodes told, not confirmed yet (owned names) */
  GHashTable *early;   /* (owned) node (owned) → closed: confirmed before the script answered */
  guint closed;
  gboolean cut; /* a live node that holds some could not be told */
  guint timer;
} HubRedisDisconnect;

/* A node that confirms nothing within this long is taken for gone: the
 * disconnect is answered UNAVAILABLE (the connections were unregistered; the
 * caller may ask again). Shorter than the HTTP API's own wait (5 s), so the
 * answer says why. */
#define DISCONNECT_TIMEOUT_MS 3000

#define SELF(store) ((HubStoreRedis *)(store))

HubRedisConn *
hub_redis_conn_new (const char *user, const char *device)
{
  HubRedisConn *c = g_new (HubRedisConn, 1);

  c->user = g_strdup (user);
  c->device = g_strdup (device != NULL ? device : "default");
  return c;
}

void
hub_redis_conn_free (gpointer p)
{
  HubRedisConn *c = p;

  g_free (c->user);
  g_free (c->device);
  g_free (c);
}

/* --- Replies and arguments -------------------------------------------------------------------- */

HubStoreError
hub_store_redis_code (redisReply *reply)
{
  static const struct {
    const char *code;
    HubStoreError error;
  } codes[] = {
      {"room_not_found", HUB_STORE_ROOM_NOT_FOUND},
      {"room_exists", HUB_STORE_ROOM_EXISTS},
      {"not_member", HUB_STORE_NOT_MEMBER},
      {"too_many_rooms", HUB_STORE_TOO_MANY_ROOMS},
      {"user_offline", HUB_STORE_USER_OFFLINE},
      {"forbidden", HUB_STORE_FORBIDDEN},
      {"banned", HUB_STORE_BANNED},
      {"too_many_empty_rooms", HUB_STORE_TOO_MANY_EMPTY_ROOMS},
  };
  const char *first;

  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
      reply->element[0]->type != REDIS_REPLY_STRING)
    return HUB_STORE_UNAVAILABLE;
  /* {"unregistered"} too: unknown codes are unavailable. */
  first = reply->element[0]->str;
  if (strcmp (first, "ok") == 0)
    return HUB_STORE_OK;
  for (guint i = 0; i < G_N_ELEMENTS (codes); i++)
    if (strcmp (first, codes[i].code) == 0)
      return codes[i].error;
  return HUB_STORE_UNAVAILABLE;
}

gboolean
hub_store_redis_is_unregistered (redisReply *reply)
{
  return reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
         reply->element[0]->type == REDIS_REPLY_STRING &&
         strcmp (reply->element[0]->str, "unregistered") == 0;
}

redisReply *
hub_store_redis_elem (redisReply *reply, gsize i)
{
  return reply != NULL && reply->type == REDIS_REPLY_ARRAY && i < reply->elements
             ? reply->element[i]
             : NULL;
}

const char *
hub_store_redis_str (redisReply *reply, gsize i)
{
  redisReply *e = hub_store_redis_elem (reply, i);

  return e != NULL && e->type == REDIS_REPLY_STRING ? e->str : "";
}

gint64
hub_store_redis_int (redisReply *reply, gsize i)
{
  redisReply *e = hub_store_redis_elem (reply, i);

  if (e == NULL)
    return 0;
  if (e->type == REDIS_REPLY_INTEGER)
    return e->integer;
  if (e->type == REDIS_REPLY_STRING)
    return g_ascii_strtoll (e->str, NULL, 10);
  return 0;
}

GPtrArray *
hub_store_redis_args (void)
{
  return g_ptr_array_new_with_free_func (g_free);
}

void
hub_store_redis_add (GPtrArray *args, const char *s)
{
  g_ptr_array_add (args, g_strdup (s));
}

void
hub_store_redis_add_int (GPtrArray *args, gint64 v)
{
  g_ptr_array_add (args, g_strdup_printf ("%" G_GINT64_FORMAT, v));
}

/* --- Deliveries from pub/sub ------------------------------------------------------------------ */

static void
sync_answer (HubStoreRedis *s, gpointer id, HubStoreError error)
{
  Sync *sync = g_hash_table_lookup (s->syncs, id);
  HubStoreResult r = {.error = error};

  if (sync == NULL || (error == HUB_STORE_OK && !(sync->published && sync->received)))
    return;
  g_hash_table_steal (s->syncs, id);
  sync->done (&r, sync->data);
  g_free (sync);
}

static void disconnect_confirmed (HubStoreRedis *s, guint id, const char *node, guint closed);
static void disconnect_here (HubStoreRedis *s, const char *id, const char *origin,
                             const char *conns);
/* A notice on the broadcast channel (never a frame, which starts with '{'):
 * "N <node>\n<figures>", a node registered (RESYNC), or "G <node>\n", a node
 * stopped (DOWN). /api/stats lists a node from its registration on (§10),
 * without waiting for the next liveness refresh of this one. */
static void
on_notice (HubStoreRedis *s, const char *data, gsize len)
{
  const char *nl = memchr (data, '\n', len);
  g_autofree char *node = NULL;

  if (nl == NULL || nl - data < 3 || data[1] != ' ')
    return;
  node = g_strndup (data + 2, (gsize)(nl - data - 2));
  if (data[0] == 'N') {
    char *figures = g_strndup (nl + 1, len - (gsize)(nl + 1 - data));

    if (s->ticking)
      g_hash_table_replace (s->announced, g_strdup (node), g_strdup (figures));
    g_hash_table_replace (s->nodes, g_steal_pointer (&node), figures);
  } else if (data[0] == 'G') {
    g_hash_table_remove (s->announced, node);
    g_hash_table_remove (s->nodes, node);
  }
}

/* "<kind> <room> <seq> <except conn> <user,user…>\n<body>" (hub-redis-scripts.c);
 * kinds: m (a room message), e (ephemeral), n (not ephemeral), s (a status
 * change: body is the status), y (a sync: seq is its id), d (§13: close the
 * connections listed in place of the users, and confirm to the node named in
 * place of the except conn; seq is the disconnect's id), k (a node, named in
 * place of the users, confirms disconnect seq: body is how many it closed). */
static void
on_message (gpointer user_data, gboolean broadcast, const char *data, gsize len)
{
  HubStoreRedis *s = user_data;
  const char *nl;
  g_autofree char *header = NULL;
  g_auto (GStrv) f = NULL;
  g_auto (GStrv) users = NULL;
  g_autoptr (HubFrame) frame = NULL;
  const char *body;
  gsize body_len;
  HubDelivery delivery = {0};
  char kind;

  if (s->events == NULL)
    return;
  if (broadcast && len > 0 && data[0] != '{') {
    on_notice (s, data, len);
    return;
  }
  if (broadcast) {
    frame = hub_frame_new (data, len, HUB_FRAME_FLAG_NONE);
    s->events->deliver_all (s->node_data, frame);
    return;
  }
  nl = memchr (data, '\n', len);
  if (nl == NULL)
    return;
  header = g_strndup (data, (gsize)(nl - data));
  f = g_strsplit (header, " ", 5);
  if (g_strv_length (f) != 5 || f[0][0] == '\0')
    return;
  body = nl + 1;
  body_len = len - (gsize)(body - data);
  kind = f[0][0];
  if (kind == 'y') {
    gpointer id = GUINT_TO_POINTER ((guint)g_ascii_strtoull (f[2], NULL, 10));
    Sync *sync = g_hash_table_lookup (s->syncs, id);

    if (sync != NULL) {
      sync->received = TRUE;
      sync_answer (s, id, HUB_STORE_OK);
    }
    return;
  }
  if (kind == 'd') {
    disconnect_here (s, f[2], f[3], f[4]);
    return;
  }
  if (kind == 'k') {
    g_autofree char *closed = g_strndup (body, body_len);

    disconnect_confirmed (s, (guint)g_ascii_strtoull (f[2], NULL, 10), f[4],
                          (guint)g_ascii_strtoull (closed, NULL, 10));
    return;
  }
  if (kind == 's') {
    g_autofree char *word = g_strndup (body, body_len);
    HubStatus status = HUB_STATUS_OFFLINE;

    hub_status_from_string (word, &status);
    s->events->status (s->node_data, f[4], status);
    return;
  }
  frame =
      hub_frame_new (body, body_len, kind == 'e' ? HUB_FRAME_FLAG_EPHEMERAL : HUB_FRAME_FLAG_NONE);
  users = g_strsplit (f[4], ",", -1);
  delivery.frame = frame;
  delivery.users = (const char *const *)users;
  delivery.except_conn = strcmp (f[3], "-") == 0 ? NULL : f[3];
  if (kind == 'm') {
    delivery.room = f[1];
    delivery.seq = g_ascii_strtoll (f[2], NULL, 10);
  }
  s->events->deliver (s->node_data, &delivery);
}

typedef struct {
  HubStoreRedis *s;
  guint id;
} Publishing;

static void
sync_published (redisReply *reply, gpointer data)
{
  Publishing *p = data;
  HubStoreRedis *s = p->s;
  gpointer id = GUINT_TO_POINTER (p->id);
  Sync *sync = g_hash_table_lookup (s->syncs, id);

  g_free (p);
  if (sync == NULL)
    return;
  /* Not published: the message will not come. */
  if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
    sync_answer (s, id, HUB_STORE_UNAVAILABLE);
    return;
  }
  sync->published = TRUE;
  sync_answer (s, id, HUB_STORE_OK);
}

void
hub_store_redis_sync (HubStore *store, HubStoreFunc done, gpointer data)
{
  HubStoreRedis *s = SELF (store);
  Sync *sync = g_new (Sync, 1);
  Publishing *p = g_new (Publishing, 1);
  g_autofree char *message = NULL;
  const char *argv[3];

  if (++s->next_sync == 0) /* wrapped: 0 is no key */
    ++s->next_sync;
  sync->done = done;
  sync->data = data;
  sync->published = sync->received = FALSE;
  g_hash_table_insert (s->syncs, GUINT_TO_POINTER (s->next_sync), sync);
  /* Published after everything this node asked before (one command
   * connection, in order), so it comes back after their deliveries. */
  message = g_strdup_printf ("y - %u - -\n", s->next_sync);
  argv[0] = "PUBLISH";
  argv[1] = hub_redis_node_channel (s->redis);
  argv[2] = message;
  p->s = s;
  p->id = s->next_sync;
  hub_redis_command (s->redis, argv, G_N_ELEMENTS (argv), sync_published, p);
}

static gint
compare_ids (gconstpointer a, gconstpointer b)
{
  guint x = GPOINTER_TO_UINT (a), y = GPOINTER_TO_UINT (b);

  return x < y ? -1 : x > y;
}

/* Answers every waiting sync with @error, oldest first (the subscriber
 * connection went: their messages may never come). */
static void
syncs_fail (HubStoreRedis *s, HubStoreError error)
{
  g_autoptr (GList) ids = g_hash_table_get_keys (s->syncs);

  ids = g_list_sort (ids, compare_ids);
  for (GList *l = ids; l != NULL; l = l->next)
    sync_answer (s, l->data, error);
}

/* --- §13 Disconnects -------------------------------------------------------------------------- */

static void
disconnect_answer (HubRedisDisconnect *dc, HubStoreError error)
{
  HubStoreResult r = {.error = error, .delivered = dc->closed};

  g_hash_table_remove (dc->s->disconnects, GUINT_TO_POINTER (dc->id));
  if (dc->timer != 0)
    hub_clock_cancel (dc->s->clock, dc->timer);
  if (dc->done != NULL)
    dc->done (&r, dc->data);
  g_hash_table_unref (dc->waiting);
  g_hash_table_unref (dc->early);
  g_free (dc);
}

/* Answers @dc once every node told has confirmed. */
static void
disconnect_maybe_done (HubRedisDisconnect *dc)
{
  if (dc->told && g_hash_table_size (dc->waiting) == 0)
    disconnect_answer (dc, dc->cut ? HUB_STORE_UNAVAILABLE : HUB_STORE_OK);
}

static void
disconnect_timeout (gpointer data)
{
  HubRedisDisconnect *dc = data;

  dc->timer = 0;
  disconnect_answer (dc, HUB_STORE_UNAVAILABLE);
}

guint
hub_store_redis_disconnect_new (HubStoreRedis *s, HubStoreFunc done, gpointer data)
{
  HubRedisDisconnect *dc = g_new0 (HubRedisDisconnect, 1);

  if (++s->next_disconnect == 0) /* wrapped: 0 is no key */
    ++s->next_disconnect;
  dc->s = s;
  dc->id = s->next_disconnect;
  dc->done = done;
  dc->data = data;
  dc->waiting = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  dc->early = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  dc->timer = hub_clock_add_timeout (s->clock, DISCONNECT_TIMEOUT_MS, disconnect_timeout, dc);
  g_hash_table_insert (s->disconnects, GUINT_TO_POINTER (dc->id), dc);
  return dc->id;
}

void
hub_store_redis_disconnect_told (HubStoreRedis *s, guint id, HubStoreError error,
                                 const char *const *told, guint n_told, gboolean cut)
{
  HubRedisDisconnect *dc = g_hash_table_lookup (s->disconnects, GUINT_TO_POINTER (id));

  /* Gone meanwhile (timed out, or Redis lost). */
  if (dc == NULL)
    return;
  if (error != HUB_STORE_OK) {
    disconnect_answer (dc, error);
    return;
  }
  dc->told = TRUE;
  dc->cut = cut;
  for (guint i = 0; i < n_told; i++) {
    gpointer closed;

    if (g_hash_table_lookup_extended (dc->early, told[i], NULL, &closed))
      dc->closed += GPOINTER_TO_UINT (closed);
    else
      g_hash_table_add (dc->waiting, g_strdup (told[i]));
  }
  disconnect_maybe_done (dc);
}

static void
disconnect_confirmed (HubStoreRedis *s, guint id, const char *node, guint closed)
{
  HubRedisDisconnect *dc = g_hash_table_lookup (s->disconnects, GUINT_TO_POINTER (id));

  if (dc == NULL)
    return;
  if (!dc->told) { /* before the script's answer, which names the nodes told */
    g_hash_table_replace (dc->early, g_strdup (node), GUINT_TO_POINTER (closed));
    return;
  }
  if (!g_hash_table_remove (dc->waiting, node))
    return;
  dc->closed += closed;
  disconnect_maybe_done (dc);
}

/* A disconnect's confirmation was published (or not: the asking node then
 * answers UNAVAILABLE when its wait runs out). */
static void
confirm_sent (redisReply *reply, gpointer data)
{
}

/* Another node's (or this node's own) disconnect names connections of this
 * node: closed, then confirmed to the node that asked. */
static void
disconnect_here (HubStoreRedis *s, const char *id, const char *origin, const char *conns)
{
  g_auto (GStrv) ids = g_strsplit (conns, ",", -1);
  guint closed =
      s->events->disconnect (s->node_data, (const char *const *)ids, g_strv_length (ids));
  g_autofree char *channel = g_strdup_printf ("%sch:node:%s", hub_redis_prefix (s->redis), origin);
  g_autofree char *message = g_strdup_printf ("k - %s - %s\n%u", id, s->node, closed);
  const char *argv[] = {"PUBLISH", channel, message};

  hub_redis_command (s->redis, argv, G_N_ELEMENTS (argv), confirm_sent, NULL);
}

/* Answers every waiting disconnect UNAVAILABLE (the confirmations may never
 * come). */
static void
disconnects_fail (HubStoreRedis *s)
{
  GHashTableIter iter;
  gpointer value;
  g_autoptr (GPtrArray) all = g_ptr_array_new ();

  g_hash_table_iter_init (&iter, s->disconnects);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (all, value);
  for (guint i = 0; i < all->len; i++)
    disconnect_answer (g_ptr_array_index (all, i), HUB_STORE_UNAVAILABLE);
}

/* --- Graces ----------------------------------------------------------------------------------- */

static void
grace_free (gpointer p)
{
  Grace *g = p;

  if (g->timer != 0)
    hub_clock_cancel (g->s->clock, g->timer);
  g_free (g->user);
  g_free (g);
}

static void
ignore_reply (redisReply *reply, gpointer data)
{
}

static void
on_grace_over (gpointer data)
{
  Grace *g = data;
  HubStoreRedis *s = g->s;
  g_autoptr (GPtrArray) args = hub_store_redis_args ();

  g->timer = 0;
  hub_store_redis_add (args, g->user);
  hub_store_redis_add_int (args, g->deadline);
  /* When Redis is down this is lost; a liveness tick expires the grace later. */
  hub_redis_eval (s->redis, HUB_SCRIPT_GRACE, args, ignore_reply, NULL);
  g_hash_table_remove (s->graces, g->user);
}

void
hub_store_redis_start_grace (HubStoreRedis *s, const char *user, gint64 deadline)
{
  Grace *g = g_new0 (Grace, 1);

  g->s = s;
  g->user = g_strdup (user);
  g->deadline = deadline;
  g->timer = hub_clock_add_timeout (s->clock, s->grace_ms, on_grace_over, g);
  g_hash_table_replace (s->graces, g->user, g);
}

/* --- Liveness, resync, figures ---------------------------------------------------------------- */

static guint
ttl_ms (HubStoreRedis *s)
{
  /* Refreshed every tick (at most a quarter heartbeat); a dead node is
   * noticed by the next refresh of another node after this: within 3 ×
   * heartbeat in all (§11). */
  return MAX (s->heartbeat_s, 1u) * 2000;
}

/* The liveness refresh, which also reads the other nodes' figures: every
 * quarter heartbeat, and at least twice a second, so /api/stats shows every
 * node's figures at most a second old (§10: at most 2 s). */
static guint
tick_ms (HubStoreRedis *s)
{
  return MIN (MAX (s->heartbeat_s, 1u) * 250, 500u);
}

static char *
node_stats (HubStoreRedis *s)
{
  return s->events != NULL ? s->events->node_stats (s->node_data) : g_strdup ("{}");
}

static void tick (HubStoreRedis *s);

/* A RESYNC under way: the connections it registers. */
typedef struct {
  HubStoreRedis *s;
  GPtrArray *conn_ids; /* (owned) */
} Resync;

static void
resync_done (redisReply *reply, gpointer data)
{
  Resync *r = data;
  HubStoreRedis *s = r->s;
  g_autoptr (GPtrArray) conn_ids = r->conn_ids;
  g_autoptr (GPtrArray) ids = g_ptr_array_new ();
  redisReply *refused;

  g_free (r);
  if (s->redis == NULL)
    return;
  s->resyncing = FALSE;
  if (hub_store_redis_code (reply) != HUB_STORE_OK) {
    /* Down or late: again once it is up or answers again; an error: again
     * at the next tick, which finds this node unknown. */
    return;
  }
  s->registered = TRUE;
  s->resyncs++;
  if (hub_store_redis_int (reply, 1) != 0 && conn_ids->len > 0) {
    /* This node was reaped, a delivery to it found nobody listening, or
     * Redis lost its data (memberships and history with it): RESYNC did not
     * register these connections again; they close, and their clients
     * resume what they missed, or learn from welcome what is gone (their
     * byes find nothing). */
    g_warning ("cluster: node %s may have missed deliveries while cut off (reaped, or Redis "
               "lost its data); closing its %u connections so that they resume",
               s->node, conn_ids->len);
    for (guint i = 0; i < conn_ids->len; i++)
      g_hash_table_remove (s->conns, g_ptr_array_index (conn_ids, i));
    if (s->events != NULL)
      s->events->lost (s->node_data, (const char *const *)conn_ids->pdata, conn_ids->len);
  }
  /* §13: users banned while this node was cut off from Redis: not
   * registered again (the others were, unless all were lost above), and
   * closed; their byes unregister them here. */
  refused = hub_store_redis_elem (reply, 2);
  for (gsize i = 0; refused != NULL && refused->type == REDIS_REPLY_ARRAY && i < refused->elements;
       i++)
    g_ptr_array_add (ids, (gpointer)hub_store_redis_str (refused, i));
  if (ids->len > 0 && s->events != NULL)
    s->events->disconnect (s->node_data, (const char *const *)ids->pdata, ids->len);
  /* The figures of the other nodes at once, not a tick later. */
  tick (s);
}

/* Makes Redis hold exactly this node's connections and watches (after a
 * reconnect, a stall of Redis, or when Redis no longer knew this node). */
static void
resync (HubStoreRedis *s)
{
  g_autoptr (GPtrArray) args = hub_store_redis_args ();
  g_autofree char *stats = node_stats (s);
  Resync *r = g_new (Resync, 1);
  GHashTableIter iter;
  gpointer key, value;

  r->s = s;
  r->conn_ids = g_ptr_array_new_with_free_func (g_free);
  s->resyncing = TRUE;
  hub_store_redis_add_int (args, ttl_ms (s));
  hub_store_redis_add (args, stats);
  /* Registered before: a Redis that no longer knows this node lost its data. */
  hub_store_redis_add_int (args, s->resyncs > 0 ? 1 : 0);
  hub_store_redis_add_int (args, g_hash_table_size (s->conns));
  g_hash_table_iter_init (&iter, s->conns);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    const HubRedisConn *c = value;

    hub_store_redis_add (args, key);
    hub_store_redis_add (args, c->user);
    hub_store_redis_add (args, c->device);
    g_ptr_array_add (r->conn_ids, g_strdup (key));
  }
  g_hash_table_iter_init (&iter, s->watched);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    hub_store_redis_add (args, key);
  hub_redis_eval (s->redis, HUB_SCRIPT_RESYNC, args, resync_done, r);
}

void
hub_store_redis_reregister (HubStoreRedis *s)
{
  /* Every operation sent from now on runs after the RESYNC (one connection,
   * in order): nothing of this node runs unregistered. Those already sent
   * are refused the same way, and answered unavailable. */
  s->registered = FALSE;
  if (!s->resyncing)
    resync (s);
}

static void
on_up (gpointer user_data)
{
  HubStoreRedis *s = user_data;

  s->resyncing = FALSE; /* a RESYNC sent before the loss was answered NULL */
  resync (s);
}

static void disconnects_fail (HubStoreRedis *s);

static void
on_down (gpointer user_data)
{
  HubStoreRedis *s = user_data;

  s->registered = FALSE;
  /* Their messages may never come. */
  syncs_fail (s, HUB_STORE_UNAVAILABLE);
  disconnects_fail (s);
}

static void
on_caught_up (gpointer user_data)
{
  HubStoreRedis *s = user_data;

  /* Calls answered at their deadline may have run since (a hello that
   * registered a connection its node then dropped, a bye that did not):
   * make Redis hold what this node holds. */
  if (!s->resyncing)
    resync (s);
}

/* The nodes this tick's script found dead and removed (§11), one warning
 * each: their users' connections are gone from the cluster. */
static void
log_reaped (redisReply *reaped)
{
  for (gsize i = 0; reaped != NULL && reaped->type == REDIS_REPLY_ARRAY && i < reaped->elements;
       i++)
    hub_event_log (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "node_reaped",
                   "cluster: a node stopped refreshing its liveness key; its connections were "
                   "removed and their users' offline events sent",
                   "node", hub_store_redis_str (reaped, i), NULL);
}

static void
tick_done (redisReply *reply, gpointer data)
{
  HubStoreRedis *s = data;
  redisReply *stats;
  GHashTableIter iter;
  gpointer name, figures;

  if (s->redis == NULL)
    return;
  s->ticking = FALSE;
  if (hub_store_redis_code (reply) != HUB_STORE_OK)
    return;
  if (hub_store_redis_int (reply, 1) == 0 || !s->registered) {
    /* Declared dead (or Redis lost its data), or the last RESYNC failed
     * (Redis answered an error: LOADING while it reads its data back):
     * register again. */
    hub_store_redis_reregister (s);
  }
  s->cluster_rooms = (guint)hub_store_redis_int (reply, 2);
  s->cluster_online = (guint)hub_store_redis_int (reply, 3);
  stats = hub_store_redis_elem (reply, 4);
  g_hash_table_remove_all (s->nodes);
  for (gsize i = 0; stats != NULL && stats->type == REDIS_REPLY_ARRAY && i + 1 < stats->elements;
       i += 2)
    g_hash_table_replace (s->nodes, g_strdup (hub_store_redis_str (stats, i)),
                          g_strdup (hub_store_redis_str (stats, i + 1)));
  g_hash_table_iter_init (&iter, s->announced);
  while (g_hash_table_iter_next (&iter, &name, &figures))
    if (!g_hash_table_contains (s->nodes, name))
      g_hash_table_insert (s->nodes, g_strdup (name), g_strdup (figures));
  g_hash_table_remove_all (s->announced);
  log_reaped (hub_store_redis_elem (reply, 5));
}

static void
tick (HubStoreRedis *s)
{
  g_autoptr (GPtrArray) args = hub_store_redis_args ();
  g_autofree char *stats = NULL;

  /* One at a time, and none while Redis is late: it would only queue. */
  if (s->ticking || !hub_redis_is_up (s->redis) || hub_redis_is_late (s->redis))
    return;
  stats = node_stats (s);
  hub_store_redis_add_int (args, ttl_ms (s));
  hub_store_redis_add (args, stats);
  s->ticking = TRUE;
  g_hash_table_remove_all (s->announced);
  hub_redis_eval (s->redis, HUB_SCRIPT_TICK, args, tick_done, s);
  hub_store_redis_expire (s);
}

static void
on_tick_timer (gpointer data)
{
  HubStoreRedis *s = data;

  s->tick_timer = hub_clock_add_timeout (s->clock, tick_ms (s), on_tick_timer, s);
  tick (s);
}

gboolean
hub_store_redis_is_up (HubStore *store)
{
  HubStoreRedis *s = SELF (store);

  return s->registered && hub_redis_is_up (s->redis) && !hub_redis_is_late (s->redis);
}

static void
rooms_read (redisReply *reply, gpointer data)
{
  HubStoreRedis *s = data;

  if (s->redis == NULL)
    return;
  s->rooms_reading = FALSE;
  if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
    s->cluster_rooms = (guint)reply->integer;
}

guint
hub_store_redis_n_rooms (HubStore *store)
{
  HubStoreRedis *s = SELF (store);

  /* The last count read; each read asks again (one at a time), so figures
   * read twice are fresh and a scrape costs one SCARD, not more. */
  if (!s->rooms_reading && hub_redis_is_up (s->redis)) {
    g_autofree char *key = g_strdup_printf ("%srooms", hub_redis_prefix (s->redis));
    const char *argv[] = {"ZCARD", key};

    s->rooms_reading = TRUE;
    hub_redis_command (s->redis, argv, G_N_ELEMENTS (argv), rooms_read, s);
  }
  return s->cluster_rooms;
}

gboolean
hub_store_redis_get_figures (HubStore *store, HubStoreFigures *out)
{
  HubStoreRedis *s = SELF (store);
  GString *json = g_string_new (NULL);
  g_autoptr (GList) names = g_hash_table_get_keys (s->nodes);
  g_autofree char *own = NULL;

  /* Sorted by name; this node's own figures as they are now. */
  names = g_list_sort (names, (GCompareFunc)strcmp);
  for (GList *l = names; l != NULL; l = l->next) {
    const char *figures = g_hash_table_lookup (s->nodes, l->data);

    if (strcmp (l->data, s->node) == 0)
      figures = own = node_stats (s);
    g_string_append_printf (json, "%s\"%s\":%s", json->len > 0 ? "," : "", (const char *)l->data,
                            figures);
  }
  g_free (s->nodes_json);
  s->nodes_json = g_string_free (json, FALSE);
  out->up = hub_store_redis_is_up (store);
  out->nodes = g_hash_table_size (s->nodes);
  out->rooms = s->cluster_rooms;
  out->users_online = s->cluster_online;
  out->resyncs = s->resyncs;
  out->nodes_json = s->nodes_json;
  return TRUE;
}

/* --- Life cycle ------------------------------------------------------------------------------- */

void
hub_store_redis_attach (HubStore *store, const HubStoreEvents *events, gpointer node)
{
  HubStoreRedis *s = SELF (store);

  s->events = events;
  s->node_data = node;
  s->tick_timer = hub_clock_add_timeout (s->clock, tick_ms (s), on_tick_timer, s);
  hub_redis_start (s->redis);
}

void
hub_store_redis_free (HubStore *store)
{
  HubStoreRedis *s = SELF (store);

  if (s->redis != NULL && hub_redis_is_up (s->redis)) {
    /* Shutting down: unregister at once (blocking, bounded), so the other
     * nodes send the offline events now. */
    redisReply *reply = hub_redis_eval_sync (s->redis, HUB_SCRIPT_DOWN, NULL);

    if (reply != NULL)
      freeReplyObject (reply);
  }
  hub_clock_cancel (s->clock, s->tick_timer);
  g_hash_table_remove_all (s->graces);
  syncs_fail (s, HUB_STORE_UNAVAILABLE);
  disconnects_fail (s);
  /* Answers every pending operation (UNAVAILABLE) before it returns. */
  g_clear_pointer (&s->redis, hub_redis_free);
  syncs_fail (s, HUB_STORE_UNAVAILABLE);
  disconnects_fail (s);
  g_hash_table_unref (s->graces);
  g_hash_table_unref (s->syncs);
  g_hash_table_unref (s->disconnects);
  g_hash_table_unref (s->conns);
  g_hash_table_unref (s->watched);
  g_hash_table_unref (s->nodes);
  g_hash_table_unref (s->announced);
  hub_clock_unref (s->clock);
  g_free (s->node);
  g_free (s->nodes_json);
  g_free (s);
}

HubStore *
hub_store_redis_new (const HubConfig *config, HubClock *clock, const char *url, const char *prefix,
                     GError **error)
{
  static const HubRedisEvents events = {on_message, on_up, on_down, on_caught_up};
  HubStoreRedis *s;
  HubRedis *redis;

  g_return_val_if_fail (config != NULL && clock != NULL && url != NULL, NULL);
  s = g_new0 (HubStoreRedis, 1);
  redis =
      hub_redis_new (url, prefix != NULL ? prefix : "hub:", config->node,
                     config->presence_grace_s * 1000, config->store_timeout_ms, &events, s, error);
  if (redis == NULL) {
    g_free (s);
    return NULL;
  }
  s->parent.vtable = &hub_store_redis_vtable;
  s->redis = redis;
  s->clock = hub_clock_ref (clock);
  s->node = g_strdup (config->node);
  s->history_size = config->history_size;
  s->max_rooms_per_user = config->max_rooms_per_user;
  hub_store_redis_ops_init (s, config);
  s->auto_create = config->auto_create;
  s->grace_ms = config->presence_grace_s * 1000;
  s->heartbeat_s = config->heartbeat_s;
  s->conns = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, hub_redis_conn_free);
  s->watched = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  s->graces = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, grace_free);
  s->syncs = g_hash_table_new (g_direct_hash, g_direct_equal);
  s->disconnects = g_hash_table_new (g_direct_hash, g_direct_equal);
  s->nodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  s->announced = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  s->nodes_json = g_strdup ("");
  return &s->parent;
}
