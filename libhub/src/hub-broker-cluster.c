/* hub-broker-cluster.c: the dispatcher's cluster mode (PROTOCOL.md §11): the
 * deliveries that come back over this node's pub/sub channel as ready frames
 * (handed to the broadcaster as they are), hello with resume, closing,
 * liveness and reaping, and the figures. The requests themselves are in
 * hub-broker-requests.c. The in-memory mode never enters this file. */
#include "hub-broker-cluster.h"

#include <string.h>

#include "hub-broker-call.h"
#include "hub/hub-event.h"
#include "hub/hub-version.h"

/* How long an HTTP publish waits for Redis before answering 503. */
#define API_PUBLISH_TIMEOUT_MS 5000

/* A frame that arrived for a connection whose hello is still in Redis: kept
 * until its welcome and replay are out. */
typedef struct {
  HubFrame *frame; /* (owned) */
  char *room;      /* (owned) (nullable) room of a `message` */
  gint64 seq;
} Held;

/* Per connection, from its hello on. */
typedef struct {
  char *user;   /* (owned) (nullable) set when the hello went to Redis */
  char *device; /* (owned) */
  gboolean admin;
  gboolean hello_pending;
  GPtrArray *held;   /* (owned) Held* while hello_pending */
  GPtrArray *queued; /* (owned) GBytes*: requests sent before the welcome */
  guint calls;       /* requests of this connection waiting for Redis */
} ConnState;

struct _HubCluster {
  HubBroker parent;
  HubRedis *redis;           /* (owned) */
  GHashTable *states;        /* (owned) HubConnection* (unowned) → ConnState* (owned) */
  GHashTable *pending_hello; /* (owned) user → GPtrArray of HubConnection* (unowned) */
  GHashTable *graces;        /* (owned) user → Grace*: offline pending on this node's timer */
  GHashTable *api_pending;   /* (owned) set of HubApiPublish* waiting for Redis */
  /* What the last liveness refresh read from Redis. */
  guint cluster_rooms;
  guint cluster_online;
  guint cluster_nodes;
  char *nodes_json; /* (owned) "\"name\":{…},…" */
  guint64 resyncs;
};

/* A user whose last connection in the cluster closed on this node: once the
 * presence grace runs out, HUB_SCRIPT_GRACE makes it offline unless it came
 * back meanwhile (on any node). The liveness tick of every node does the same
 * for graces whose node died. */
typedef struct {
  HubDispatcher *d; /* (unowned) */
  char *user;       /* (owned) */
  gint64 deadline;  /* Redis' deadline: identifies this grace */
  guint timer;
} Grace;

static void
grace_free (gpointer p)
{
  Grace *g = p;

  if (g->timer != 0)
    hub_clock_cancel (g->d->clock, g->timer);
  g_free (g->user);
  g_free (g);
}

static void
held_free (gpointer p)
{
  Held *h = p;

  hub_frame_unref (h->frame);
  g_free (h->room);
  g_free (h);
}

static void
conn_state_free (gpointer p)
{
  ConnState *s = p;

  g_free (s->user);
  g_free (s->device);
  g_clear_pointer (&s->held, g_ptr_array_unref);
  g_clear_pointer (&s->queued, g_ptr_array_unref);
  g_free (s);
}

static ConnState *
conn_state (HubDispatcher *d, HubConnection *conn, gboolean create)
{
  ConnState *s = g_hash_table_lookup (hub_cluster_of (d)->states, conn);

  if (s == NULL && create) {
    s = g_new0 (ConnState, 1);
    g_hash_table_insert (hub_cluster_of (d)->states, conn, s);
  }
  return s;
}

void
hub_cluster_count_call (HubDispatcher *d, HubConnection *conn, gint delta)
{
  ConnState *s = hub_cluster_of (d) != NULL ? conn_state (d, conn, FALSE) : NULL;

  /* None once the connection closed: nothing is answered any more. */
  if (s != NULL)
    s->calls = (guint)((gint)s->calls + delta);
}

guint
hub_cluster_calls_pending (HubDispatcher *d, HubConnection *conn)
{
  ConnState *s = conn_state (d, conn, FALSE);

  return s != NULL ? s->calls : 0;
}

/* --- Deliveries from pub/sub --------------------------------------------------------- */

static void
deliver_to_user (HubDispatcher *d, const char *user, HubFrame *frame, const char *except,
                 const char *room, gint64 seq)
{
  GPtrArray *conns = hub_connection_manager_get_user_connections (d->conns, user);
  GPtrArray *pending = g_hash_table_lookup (hub_cluster_of (d)->pending_hello, user);

  for (guint i = 0; conns != NULL && i < conns->len; i++) {
    HubConnection *conn = g_ptr_array_index (conns, i);

    if (except == NULL || strcmp (except, hub_connection_get_id (conn)) != 0)
      hub_broadcaster_to_connection (d->broadcaster, conn, frame);
  }
  for (guint i = 0; pending != NULL && i < pending->len; i++) {
    HubConnection *conn = g_ptr_array_index (pending, i);
    ConnState *s = conn_state (d, conn, FALSE);
    Held *h;

    if (s == NULL || !s->hello_pending ||
        (except != NULL && strcmp (except, hub_connection_get_id (conn)) == 0))
      continue;
    h = g_new0 (Held, 1);
    h->frame = hub_frame_ref (frame);
    h->room = g_strdup (room);
    h->seq = seq;
    g_ptr_array_add (s->held, h);
  }
}

/* "<kind> <room> <seq> <except conn> <user,user…>\n<frame>" (hub-broker-scripts.c). */
static void
on_message (gpointer user_data, gboolean broadcast, const char *data, gsize len)
{
  HubDispatcher *d = user_data;
  const char *nl;
  g_autofree char *header = NULL;
  g_auto (GStrv) f = NULL;
  g_auto (GStrv) users = NULL;
  g_autoptr (HubFrame) frame = NULL;
  gboolean room_message;

  if (broadcast) {
    frame = hub_frame_new (data, len, HUB_FRAME_FLAG_NONE);
    hub_broadcaster_to_all (d->broadcaster, frame);
    return;
  }
  nl = memchr (data, '\n', len);
  if (nl == NULL)
    return;
  header = g_strndup (data, (gsize)(nl - data));
  f = g_strsplit (header, " ", 5);
  if (g_strv_length (f) != 5 || f[0][0] == '\0')
    return;
  frame = hub_frame_new (nl + 1, len - (gsize)(nl + 1 - data),
                         f[0][0] == 'e' || f[0][0] == 's' ? HUB_FRAME_FLAG_EPHEMERAL
                                                          : HUB_FRAME_FLAG_NONE);
  if (f[0][0] == 's') {
    GHashTable *subscribers = hub_presence_get_subscribers (d->presence, f[4]);

    if (subscribers != NULL)
      hub_broadcaster_to_set (d->broadcaster, subscribers, frame);
    return;
  }
  room_message = f[0][0] == 'm';
  /* Delivered with to_connection below: sampled for the delivery lag here. */
  hub_broadcaster_sample (d->broadcaster, &frame);
  users = g_strsplit (f[4], ",", -1);
  for (guint i = 0; users[i] != NULL; i++)
    deliver_to_user (d, users[i], frame, strcmp (f[3], "-") == 0 ? NULL : f[3],
                     room_message ? f[1] : NULL,
                     room_message ? g_ascii_strtoll (f[2], NULL, 10) : 0);
}

/* --- Hello, resume, close --------------------------------------------------------------------- */

gboolean
hub_cluster_hello_pending (HubDispatcher *d, HubConnection *conn)
{
  ConnState *s = conn_state (d, conn, FALSE);

  return s != NULL && s->hello_pending;
}

void
hub_cluster_queue_request (HubDispatcher *d, HubConnection *conn, const char *data, gsize len)
{
  ConnState *s = conn_state (d, conn, FALSE);

  g_ptr_array_add (s->queued, g_bytes_new (data, len));
}

static void
pending_remove (HubDispatcher *d, const char *user, HubConnection *conn)
{
  GPtrArray *pending = g_hash_table_lookup (hub_cluster_of (d)->pending_hello, user);

  if (pending == NULL)
    return;
  g_ptr_array_remove (pending, conn);
  if (pending->len == 0)
    g_hash_table_remove (hub_cluster_of (d)->pending_hello, user);
}

/* The requests that came while the hello was in Redis, in order. */
static void
run_queued (HubDispatcher *d, HubConnection *conn, GPtrArray *queued)
{
  for (guint i = 0; queued != NULL && i < queued->len; i++) {
    gsize len;
    const char *bytes = g_bytes_get_data (g_ptr_array_index (queued, i), &len);

    if (!hub_cluster_conn_alive (d, conn))
      break;
    hub_dispatcher_receive_decoded (d, conn, bytes, len);
  }
}

static void
hello_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;
  HubDispatcher *d = call->d;
  HubConnection *conn = call->conn;
  ConnState *s;
  redisReply *rooms, *resumed;
  g_autoptr (GPtrArray) room_ids = g_ptr_array_new ();
  g_autoptr (GHashTable) replayed = NULL;
  g_autoptr (GPtrArray) held = NULL;
  g_autoptr (GPtrArray) queued = NULL;
  g_autoptr (HubFrame) frame = NULL;
  HubWelcome welcome = {0};

  if (!hub_cluster_conn_alive (d, conn))
    return;
  s = conn_state (d, conn, FALSE);
  if (s == NULL || !s->hello_pending)
    return;
  s->hello_pending = FALSE;
  pending_remove (d, s->user, conn);
  held = g_steal_pointer (&s->held);
  queued = g_steal_pointer (&s->queued);
  if (hub_reply_code (reply) != HUB_ERROR_NONE) {
    /* Not past hello: the client may retry (§3). What it sent meanwhile is
     * answered (not_authenticated), not dropped. */
    g_clear_pointer (&s->user, g_free);
    hub_dispatcher_reply_error (conn, call->req->id_json, HUB_ERROR_INTERNAL,
                                HUB_CLUSTER_UNAVAILABLE);
    run_queued (d, conn, queued);
    return;
  }

  hub_clock_cancel (d->clock, hub_connection_get_hello_timer (conn));
  hub_connection_set_hello_timer (conn, 0);
  hub_connection_authenticate (conn, s->user, s->device, s->admin);
  hub_connection_manager_bind_user (d->conns, conn);

  rooms = hub_reply_elem (reply, 1);
  for (gsize i = 0; rooms != NULL && rooms->type == REDIS_REPLY_ARRAY && i < rooms->elements; i++)
    g_ptr_array_add (room_ids, (gpointer)hub_reply_str (rooms, i));
  g_ptr_array_add (room_ids, NULL);
  welcome.conn = hub_connection_get_id (conn);
  welcome.user = s->user;
  welcome.device = s->device;
  welcome.node = d->config.node;
  welcome.server = "hub-server " HUB_VERSION;
  welcome.heartbeat_s = (gint)d->config.heartbeat_s;
  welcome.max_message_bytes = (gint64)d->config.max_message_bytes;
  welcome.rooms = (const char *const *)room_ids->pdata;
  welcome.n_rooms = room_ids->len - 1;
  frame = hub_encode_welcome (call->req->id_json, &welcome);
  hub_dispatcher_send (conn, frame);

  /* §6: the missed messages, then `resumed`, per room; what arrived live
   * meanwhile follows, without what the replay already sent. */
  replayed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  resumed = hub_reply_elem (reply, 2);
  for (gsize i = 0; resumed != NULL && resumed->type == REDIS_REPLY_ARRAY && i < resumed->elements;
       i++) {
    redisReply *entry = resumed->element[i];
    g_autoptr (HubFrame) done = NULL;
    gint64 to = hub_reply_int (entry, 2);

    for (gsize j = 4; j < entry->elements; j++) {
      g_autoptr (HubFrame) missed =
          hub_frame_new (entry->element[j]->str, entry->element[j]->len, HUB_FRAME_FLAG_NONE);

      hub_broadcaster_to_connection (d->broadcaster, conn, missed);
    }
    done = hub_encode_resumed (hub_reply_str (entry, 0), hub_reply_int (entry, 1), to,
                               hub_reply_int (entry, 3) != 0);
    hub_dispatcher_send (conn, done);
    {
      gint64 *last = g_new (gint64, 1);

      *last = to;
      g_hash_table_insert (replayed, g_strdup (hub_reply_str (entry, 0)), last);
    }
  }
  for (guint i = 0; held != NULL && i < held->len; i++) {
    Held *h = g_ptr_array_index (held, i);
    gint64 *to = h->room != NULL ? g_hash_table_lookup (replayed, h->room) : NULL;

    if (to == NULL || h->seq > *to)
      hub_broadcaster_to_connection (d->broadcaster, conn, h->frame);
  }
  run_queued (d, conn, queued);
}

void
hub_cluster_hello (HubDispatcher *d, HubConnection *conn, HubRequest *req, const char *user,
                   const char *device, gboolean admin)
{
  ConnState *s = conn_state (d, conn, TRUE);
  g_autoptr (GPtrArray) args = hub_args_new ();
  g_autoptr (GPtrArray) rooms = g_ptr_array_new ();
  GPtrArray *pending;

  if (!hub_redis_is_up (hub_cluster_get_redis (hub_cluster_of (d)))) {
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_INTERNAL, HUB_CLUSTER_UNAVAILABLE);
    hub_request_free (req);
    return;
  }
  g_free (s->user);
  g_free (s->device);
  s->user = g_strdup (user);
  s->device = g_strdup (device);
  s->admin = admin;
  s->hello_pending = TRUE;
  s->held = g_ptr_array_new_with_free_func (held_free);
  s->queued = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  pending = g_hash_table_lookup (hub_cluster_of (d)->pending_hello, user);
  if (pending == NULL) {
    pending = g_ptr_array_new ();
    g_hash_table_insert (hub_cluster_of (d)->pending_hello, g_strdup (user), pending);
  }
  g_ptr_array_add (pending, conn);

  hub_args_add (args, user);
  hub_args_add (args, hub_connection_get_id (conn));
  if (req->resume != NULL) {
    GHashTableIter iter;
    gpointer room;

    g_hash_table_iter_init (&iter, req->resume);
    while (g_hash_table_iter_next (&iter, &room, NULL))
      g_ptr_array_add (rooms, room);
    g_ptr_array_sort (rooms, (GCompareFunc)hub_cluster_compare_strings);
    for (guint i = 0; i < rooms->len; i++) {
      hub_args_add (args, g_ptr_array_index (rooms, i));
      hub_args_add_int (args, *(gint64 *)g_hash_table_lookup (req->resume, rooms->pdata[i]));
    }
  }
  hub_redis_eval (hub_cluster_get_redis (hub_cluster_of (d)), HUB_SCRIPT_HELLO, args, hello_done,
                  hub_call_new (d, conn, req));
}

static void
ignore_reply (redisReply *reply, gpointer data)
{
}

static void
on_grace_over (gpointer data)
{
  Grace *g = data;
  g_autoptr (GPtrArray) args = hub_args_new ();

  g->timer = 0;
  hub_args_add (args, g->user);
  hub_args_add_int (args, g->deadline);
  /* When Redis is down this is lost; a liveness tick expires the grace later. */
  hub_redis_eval (hub_cluster_get_redis (hub_cluster_of (g->d)), HUB_SCRIPT_GRACE, args,
                  ignore_reply, NULL);
  g_hash_table_remove (hub_cluster_of (g->d)->graces, g->user);
}

typedef struct {
  HubDispatcher *d;
  char *user; /* (owned) */
} Bye;

static void
bye_done (redisReply *reply, gpointer data)
{
  Bye *bye = data;
  HubDispatcher *d = bye->d;
  gint64 deadline = hub_reply_code (reply) == HUB_ERROR_NONE ? hub_reply_int (reply, 1) : 0;

  /* NULL while the dispatcher is being freed (hub_redis_free fails what is pending). */
  if (deadline > 0 && hub_cluster_of (d) != NULL) {
    Grace *g = g_new0 (Grace, 1);

    g->d = d;
    g->user = g_strdup (bye->user);
    g->deadline = deadline;
    g->timer =
        hub_clock_add_timeout (d->clock, d->config.presence_grace_s * 1000, on_grace_over, g);
    g_hash_table_replace (hub_cluster_of (d)->graces, g->user, g);
  }
  g_free (bye->user);
  g_free (bye);
}

void
hub_cluster_connection_closed (HubDispatcher *d, HubConnection *conn)
{
  ConnState *s = conn_state (d, conn, FALSE);
  g_autoptr (GPtrArray) args = NULL;
  g_autoptr (GPtrArray) unwatched = hub_cluster_unsubscribe_local (d, conn, NULL);
  Bye *bye;

  if (s == NULL || s->user == NULL) {
    if (s != NULL)
      g_hash_table_remove (hub_cluster_of (d)->states, conn);
    return;
  }
  if (s->hello_pending)
    pending_remove (d, s->user, conn);
  args = hub_args_new ();
  hub_args_add (args, s->user);
  hub_args_add (args, hub_connection_get_id (conn));
  for (guint i = 0; i < unwatched->len; i++)
    hub_args_add (args, g_ptr_array_index (unwatched, i));
  /* When Redis is down this is lost; the resync after reconnecting drops the
   * connections this node no longer has. */
  bye = g_new0 (Bye, 1);
  bye->d = d;
  bye->user = g_strdup (s->user);
  hub_redis_eval (hub_cluster_get_redis (hub_cluster_of (d)), HUB_SCRIPT_BYE, args, bye_done, bye);
  g_hash_table_remove (hub_cluster_of (d)->states, conn);
}

/* --- Liveness, resync, figures ------------------------------------------------------------------
 */

static guint
ttl_ms (HubDispatcher *d)
{
  /* Refreshed every heartbeat/4; a dead node is noticed by the next refresh
   * of another node after this: within 3 × heartbeat in all (§11). */
  return MAX (d->config.heartbeat_s, 1u) * 2000;
}

typedef struct {
  GPtrArray *pairs;    /* conn id, user, … */
  GHashTable *watched; /* set of users (unowned) */
} Collect;

static void
collect_one (HubConnection *conn, gpointer user_data)
{
  Collect *c = user_data;
  GHashTableIter iter;
  gpointer user;

  hub_args_add (c->pairs, hub_connection_get_id (conn));
  hub_args_add (c->pairs, hub_connection_get_user (conn));
  g_hash_table_iter_init (&iter, hub_connection_get_subscriptions (conn));
  while (g_hash_table_iter_next (&iter, &user, NULL))
    g_hash_table_add (c->watched, user);
}

static void
resync_done (redisReply *reply, gpointer data)
{
  HubDispatcher *d = data;

  if (hub_reply_code (reply) != HUB_ERROR_NONE)
    return;
  hub_cluster_of (d)->resyncs++;
  /* The figures of the other nodes at once, not a tick later. */
  hub_cluster_tick (d);
}

/* Makes Redis hold exactly this node's connections and watches (after a
 * reconnect, or when the others declared this node dead). */
static void
resync (HubDispatcher *d)
{
  g_autoptr (GPtrArray) args = hub_args_new ();
  g_autofree char *stats = hub_dispatcher_render_node_stats_json (d);
  Collect c = {hub_args_new (), g_hash_table_new (g_str_hash, g_str_equal)};
  GHashTableIter iter;
  gpointer user;

  hub_connection_manager_foreach_authenticated (d->conns, collect_one, &c);
  hub_args_add_int (args, ttl_ms (d));
  hub_args_add (args, stats);
  hub_args_add_int (args, c.pairs->len / 2);
  for (guint i = 0; i < c.pairs->len; i++)
    hub_args_add (args, g_ptr_array_index (c.pairs, i));
  g_hash_table_iter_init (&iter, c.watched);
  while (g_hash_table_iter_next (&iter, &user, NULL))
    hub_args_add (args, user);
  hub_redis_eval (hub_cluster_get_redis (hub_cluster_of (d)), HUB_SCRIPT_RESYNC, args, resync_done,
                  d);
  g_ptr_array_unref (c.pairs);
  g_hash_table_unref (c.watched);
}

static void
on_up (gpointer user_data)
{
  resync (user_data);
}

static void
on_down (gpointer user_data)
{
}

/* The nodes this tick's script found dead and removed (§11), one warning
 * each: their users' connections are gone from the cluster. */
static void
hub_cluster_log_reaped (redisReply *reaped)
{
  for (gsize i = 0; reaped != NULL && reaped->type == REDIS_REPLY_ARRAY && i < reaped->elements;
       i++)
    hub_event_log (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "node_reaped",
                   "cluster: a node stopped refreshing its liveness key; its connections were "
                   "removed and their users' offline events sent",
                   "node", hub_reply_str (reaped, i), NULL);
}

static void
tick_done (redisReply *reply, gpointer data)
{
  HubDispatcher *d = data;
  HubCluster *c = hub_cluster_of (d);
  redisReply *stats;
  GString *json;

  if (hub_reply_code (reply) != HUB_ERROR_NONE)
    return;
  if (hub_reply_int (reply, 1) == 0) {
    /* Declared dead (or Redis lost its data): register again. */
    resync (d);
  }
  c->cluster_rooms = (guint)hub_reply_int (reply, 2);
  c->cluster_online = (guint)hub_reply_int (reply, 3);
  stats = hub_reply_elem (reply, 4);
  json = g_string_new (NULL);
  c->cluster_nodes = 0;
  for (gsize i = 0; stats != NULL && stats->type == REDIS_REPLY_ARRAY && i + 1 < stats->elements;
       i += 2) {
    g_string_append_printf (json, "%s\"%s\":%s", json->len > 0 ? "," : "", hub_reply_str (stats, i),
                            hub_reply_str (stats, i + 1));
    c->cluster_nodes++;
  }
  g_free (c->nodes_json);
  c->nodes_json = g_string_free (json, FALSE);
  hub_cluster_log_reaped (hub_reply_elem (reply, 5));
}

void
hub_cluster_tick (HubDispatcher *d)
{
  g_autoptr (GPtrArray) args = hub_args_new ();
  g_autofree char *stats = NULL;

  if (!hub_redis_is_up (hub_cluster_get_redis (hub_cluster_of (d))))
    return;
  stats = hub_dispatcher_render_node_stats_json (d);
  hub_args_add_int (args, ttl_ms (d));
  hub_args_add (args, stats);
  hub_redis_eval (hub_cluster_get_redis (hub_cluster_of (d)), HUB_SCRIPT_TICK, args, tick_done, d);
}

static void api_cancel_all (HubCluster *c);
static void hub_cluster_free (HubCluster *c);
static const HubBrokerVTable cluster_vtable;

static HubCluster *
hub_cluster_new (HubDispatcher *d, const char *url, const char *prefix, GError **error)
{
  static const HubRedisEvents events = {on_message, on_up, on_down};
  HubCluster *c = g_new0 (HubCluster, 1);

  c->parent.vtable = &cluster_vtable;
  c->parent.d = d;
  c->states = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, conn_state_free);
  c->pending_hello =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
  c->graces = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, grace_free);
  c->api_pending = g_hash_table_new (g_direct_hash, g_direct_equal);
  c->nodes_json = g_strdup ("");
  c->redis = hub_redis_new (url, prefix, d->config.node, d->config.presence_grace_s * 1000, &events,
                            d, error);
  if (c->redis == NULL) {
    hub_cluster_free (c);
    return NULL;
  }
  return c;
}

static void
hub_cluster_free (HubCluster *c)
{
  if (c == NULL)
    return;
  if (c->redis != NULL && hub_redis_is_up (c->redis)) {
    /* Shutting down: unregister at once (blocking, bounded), so the other
     * nodes send the offline events now. */
    redisReply *reply = hub_redis_eval_sync (c->redis, HUB_SCRIPT_DOWN, NULL);

    if (reply != NULL)
      freeReplyObject (reply);
  }
  g_hash_table_unref (c->graces);
  /* No answer after this: freed when hub_redis_free fails their calls. */
  api_cancel_all (c);
  g_clear_pointer (&c->redis, hub_redis_free);
  g_hash_table_unref (c->api_pending);
  g_hash_table_unref (c->states);
  g_hash_table_unref (c->pending_hello);
  g_free (c->nodes_json);
  g_free (c);
}

static char *
api_error (guint *http_status, guint status, HubErrorCode code)
{
  *http_status = status;
  return g_strdup_printf ("{\"code\":\"%s\",\"message\":\"%s\"}", hub_error_code_to_string (code),
                          hub_cluster_error_text (code));
}

/* The script and its arguments for an HTTP publish to @room or @to. */
static GPtrArray *
api_args (HubDispatcher *d, const char *room, const char *to, JsonNode *payload, const char *sender,
          const char *device, HubScript *script)
{
  gint64 now = hub_clock_unix_ms (d->clock);
  GPtrArray *args = hub_args_new ();
  g_autoptr (HubFrame) frame = NULL;

  if (room != NULL) {
    frame = hub_encode_message (room, 0, sender, device, now, payload);
    hub_args_add (args, sender);
    hub_args_add (args, room);
    hub_args_add_message_halves (args, frame);
    hub_args_add_int (args, d->config.history_size);
    *script = HUB_SCRIPT_PUBLISH;
  } else {
    frame = hub_encode_direct (sender, to, now, payload);
    hub_args_add (args, sender);
    hub_args_add (args, to);
    hub_args_add (args, "-");
    hub_args_add_frame (args, frame);
    *script = HUB_SCRIPT_DIRECT;
  }
  return args;
}

/* The HTTP answer to the script's @reply (NULL: Redis did not answer). */
static char *
api_answer (HubDispatcher *d, gboolean room, redisReply *reply, guint *http_status)
{
  HubErrorCode code = hub_reply_code (reply);

  if (code == HUB_ERROR_INTERNAL)
    return api_error (http_status, 503, code);
  if (code != HUB_ERROR_NONE)
    return api_error (http_status, 404, code);
  d->messages_in_total++;
  *http_status = 200;
  return g_strdup_printf ("{\"%s\":%" G_GINT64_FORMAT "}", room ? "seq" : "delivered",
                          hub_reply_int (reply, 1));
}

/* The answer to a broadcast that Redis took (§5: this node's connections). */
static char *
api_broadcast_answer (HubDispatcher *d, guint *http_status)
{
  d->messages_in_total++;
  *http_status = 200;
  return g_strdup_printf ("{\"delivered\":%u}", hub_connection_manager_n_authenticated (d->conns));
}

char *
hub_cluster_api_publish (HubDispatcher *d, const char *room, const char *to, gboolean broadcast,
                         JsonNode *payload, const char *sender, const char *device,
                         guint *http_status)
{
  g_autoptr (GPtrArray) args = NULL;
  HubScript script;
  redisReply *reply;
  char *out;

  if (broadcast) {
    g_autoptr (HubFrame) frame =
        hub_encode_broadcast (sender, hub_clock_unix_ms (d->clock), payload);

    if (!hub_redis_broadcast_sync (hub_cluster_get_redis (hub_cluster_of (d)),
                                   hub_frame_payload (frame, NULL)))
      return api_error (http_status, 503, HUB_ERROR_INTERNAL);
    return api_broadcast_answer (d, http_status);
  }
  args = api_args (d, room, to, payload, sender, device, &script);
  reply = hub_redis_eval_sync (hub_cluster_get_redis (hub_cluster_of (d)), script, args);
  out = api_answer (d, room != NULL, reply, http_status);
  if (reply != NULL)
    freeReplyObject (reply);
  return out;
}

/* An HTTP publish waiting for Redis. Freed once Redis answered (always,
 * maybe with NULL) and the caller's handle is done with (answered or
 * cancelled). */
struct _HubApiPublish {
  HubDispatcher *d; /* (unowned) */
  HubApiPublishFunc func;
  gpointer user_data;
  gboolean room;      /* the answer is a seq (else delivered) */
  gboolean broadcast; /* a PUBLISH on the broadcast channel */
  guint timer;
  gboolean starting; /* inside hub_cluster_api_publish_async */
  gboolean redis_done;
  gboolean answered;
  gboolean cancelled;
};

static void
api_maybe_free (HubApiPublish *p)
{
  if (p->starting || !p->redis_done || !(p->answered || p->cancelled))
    return;
  if (hub_cluster_of (p->d) != NULL)
    g_hash_table_remove (hub_cluster_of (p->d)->api_pending, p);
  g_free (p);
}

static void
api_answer_now (HubApiPublish *p, guint status, const char *body)
{
  if (p->timer != 0)
    hub_clock_cancel (p->d->clock, p->timer);
  p->timer = 0;
  p->answered = TRUE;
  p->func (status, body, p->user_data);
}

static void
api_timeout (gpointer data)
{
  HubApiPublish *p = data;
  guint status;
  g_autofree char *body = api_error (&status, 503, HUB_ERROR_INTERNAL);

  p->timer = 0;
  /* Redis may still run it: the client cannot know, as with a lost reply. */
  api_answer_now (p, status, body);
}

static void
api_done (redisReply *reply, gpointer data)
{
  HubApiPublish *p = data;

  p->redis_done = TRUE;
  if (!p->answered && !p->cancelled) {
    guint status;
    g_autofree char *body = NULL;

    if (!p->broadcast)
      body = api_answer (p->d, p->room, reply, &status);
    else if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
      body = api_error (&status, 503, HUB_ERROR_INTERNAL);
    else
      body = api_broadcast_answer (p->d, &status);
    api_answer_now (p, status, body);
  }
  api_maybe_free (p);
}

HubApiPublish *
hub_cluster_api_publish_async (HubDispatcher *d, const char *room, const char *to,
                               gboolean broadcast, JsonNode *payload, const char *sender,
                               const char *device, HubApiPublishFunc func, gpointer user_data)
{
  HubApiPublish *p = g_new0 (HubApiPublish, 1);
  HubRedis *redis = hub_cluster_get_redis (hub_cluster_of (d));

  p->d = d;
  p->func = func;
  p->user_data = user_data;
  p->room = room != NULL;
  p->broadcast = broadcast;
  p->starting = TRUE;
  g_hash_table_add (hub_cluster_of (d)->api_pending, p);
  p->timer = hub_clock_add_timeout (d->clock, API_PUBLISH_TIMEOUT_MS, api_timeout, p);
  if (broadcast) {
    g_autoptr (HubFrame) frame =
        hub_encode_broadcast (sender, hub_clock_unix_ms (d->clock), payload);
    g_autofree char *channel = g_strdup_printf ("%sch:all", hub_redis_prefix (redis));
    const char *argv[3] = {"PUBLISH", channel, hub_frame_payload (frame, NULL)};

    hub_redis_command (redis, argv, 3, api_done, p);
  } else {
    HubScript script;
    g_autoptr (GPtrArray) args = api_args (d, room, to, payload, sender, device, &script);

    hub_redis_eval (redis, script, args, api_done, p);
  }
  p->starting = FALSE;
  if (p->answered) { /* Redis down: answered already */
    api_maybe_free (p);
    return NULL;
  }
  return p;
}

static void
api_cancel_all (HubCluster *c)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, c->api_pending);
  while (g_hash_table_iter_next (&iter, &key, NULL)) {
    HubApiPublish *p = key;

    if (p->timer != 0)
      hub_clock_cancel (p->d->clock, p->timer);
    p->timer = 0;
    p->cancelled = TRUE;
  }
}

void
hub_cluster_api_publish_cancel (HubDispatcher *d, HubApiPublish *p)
{
  if (p->timer != 0)
    hub_clock_cancel (d->clock, p->timer);
  p->timer = 0;
  p->cancelled = TRUE;
  api_maybe_free (p);
}

HubRedis *
hub_cluster_get_redis (HubCluster *c)
{
  return c->redis;
}

int
hub_cluster_compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/* --- The broker: the dispatcher's calls ------------------------------------------------- */

HubCluster *
hub_cluster_of (HubDispatcher *d)
{
  return d->broker != NULL && d->broker->vtable == &cluster_vtable ? (HubCluster *)d->broker : NULL;
}

static void
cluster_free (HubBroker *b)
{
  hub_cluster_free ((HubCluster *)b);
}

static void
cluster_hello (HubBroker *b, HubConnection *conn, HubRequest *req, const char *user,
               const char *device, gboolean admin)
{
  hub_cluster_hello (b->d, conn, req, user, device, admin);
}

static gboolean
cluster_hello_pending (HubBroker *b, HubConnection *conn)
{
  return hub_cluster_hello_pending (b->d, conn);
}

static void
cluster_queue_request (HubBroker *b, HubConnection *conn, const char *data, gsize len)
{
  hub_cluster_queue_request (b->d, conn, data, len);
}

static void
cluster_execute (HubBroker *b, HubConnection *conn, HubRequest *req)
{
  hub_cluster_execute (b->d, conn, req);
}

static void
cluster_connection_closed (HubBroker *b, HubConnection *conn)
{
  /* Presence lives in Redis: unregister the connection there. */
  hub_cluster_connection_closed (b->d, conn);
  hub_connection_manager_remove (b->d->conns, conn);
}

static void
cluster_tick (HubBroker *b)
{
  hub_cluster_tick (b->d);
}

static gboolean
cluster_is_up (HubBroker *b)
{
  return hub_redis_is_up (((HubCluster *)b)->redis);
}

static void
cluster_get_counts (HubBroker *b, guint *rooms, guint *users_online)
{
  /* Rooms are the cluster's; users online are this node's (§10). */
  *rooms = ((HubCluster *)b)->cluster_rooms;
  *users_online = hub_connection_manager_n_users (b->d->conns);
}

static gboolean
cluster_get_figures (HubBroker *b, HubClusterFigures *out)
{
  HubCluster *c = (HubCluster *)b;

  out->up = hub_redis_is_up (c->redis);
  out->nodes = c->cluster_nodes;
  out->rooms = c->cluster_rooms;
  out->users_online = c->cluster_online;
  out->resyncs = c->resyncs;
  out->nodes_json = c->nodes_json;
  return TRUE;
}

static char *
cluster_api_publish (HubBroker *b, const char *room, const char *to, gboolean broadcast,
                     JsonNode *payload, guint *http_status)
{
  return hub_cluster_api_publish (b->d, room, to, broadcast, payload, HUB_API_SENDER,
                                  HUB_API_DEVICE, http_status);
}

static HubApiPublish *
cluster_api_publish_async (HubBroker *b, const char *room, const char *to, gboolean broadcast,
                           JsonNode *payload, HubApiPublishFunc func, gpointer user_data)
{
  return hub_cluster_api_publish_async (b->d, room, to, broadcast, payload, HUB_API_SENDER,
                                        HUB_API_DEVICE, func, user_data);
}

static void
cluster_api_publish_cancel (HubBroker *b, HubApiPublish *publish)
{
  hub_cluster_api_publish_cancel (b->d, publish);
}

static const HubBrokerVTable cluster_vtable = {
    .free = cluster_free,
    .hello = cluster_hello,
    .hello_pending = cluster_hello_pending,
    .queue_request = cluster_queue_request,
    .execute = cluster_execute,
    .connection_closed = cluster_connection_closed,
    .tick = cluster_tick,
    .is_up = cluster_is_up,
    .get_counts = cluster_get_counts,
    .get_cluster_figures = cluster_get_figures,
    .api_publish = cluster_api_publish,
    .api_publish_async = cluster_api_publish_async,
    .api_publish_cancel = cluster_api_publish_cancel,
};

HubBroker *
hub_broker_cluster_new (HubDispatcher *d, const char *url, const char *prefix, GError **error)
{
  HubCluster *c = hub_cluster_new (d, url, prefix, error);

  return c != NULL ? &c->parent : NULL;
}
