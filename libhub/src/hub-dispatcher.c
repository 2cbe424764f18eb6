/* hub-dispatcher.c: the node's request engine. This file holds the connection
 * life cycle (open, authenticate, close), liveness, the figures for /metrics
 * and /api/stats, and the node's side of the store: the events through which
 * the store hands deliveries and status changes back (HubStoreEvents). Hello
 * and resume are in hub-dispatcher-hello.c, the requests in
 * hub-dispatcher-requests.c. */
#include "hub-dispatcher-private.h"

#include <string.h>

/* The liveness tick runs TICKS_PER_HEARTBEAT times per heartbeat. Each
 * connection is pinged on one tick of the cycle, its slot (a hash of the
 * connection), so a heartbeat's pings are spread over it: pinging every
 * connection on one tick made a burst of one ping and one pong per connection
 * (18,000 of them in capacity-19k.sh) that held every other frame up for
 * 0.3–0.7 s every heartbeat. A dead connection is closed at most one tick
 * after its 3 × heartbeat ran out. The store's tick (cluster liveness in
 * Redis, with the figures every node publishes) runs every quarter heartbeat
 * or every second, whichever is more often: the cluster-wide sums of
 * /metrics are then at most about a second old, so a load run can check its
 * counts against them (docs/operations.md). */
#define TICKS_PER_HEARTBEAT  32
#define TICKS_PER_STORE_TICK (TICKS_PER_HEARTBEAT / 4)

/* Dispatcher ticks per store tick: at most a quarter heartbeat, at most
 * about a second. */
static guint
ticks_per_store_tick (HubDispatcher *d)
{
  guint tick_ms = MAX (d->config.heartbeat_s * 1000 / TICKS_PER_HEARTBEAT, 1u);

  return CLAMP (1000 / tick_ms, 1u, (guint)TICKS_PER_STORE_TICK);
}

static void schedule_tick (HubDispatcher *d);

/* --- The store's events: deliveries to this node's connections -------------------------------- */

/* @delivery's frame to @user's connections here (but except_conn), and to a
 * connection of @user whose hello is still pending. @replays: a replay is
 * under way on this node and @delivery is a room message. */
static void
deliver_to_user (HubDispatcher *d, const char *user, const HubDelivery *delivery, gboolean replays)
{
  GPtrArray *conns = hub_connection_manager_get_user_connections (d->conns, user);

  for (guint i = 0; conns != NULL && i < conns->len; i++) {
    HubConnection *conn = g_ptr_array_index (conns, i);

    if (delivery->except_conn != NULL &&
        strcmp (delivery->except_conn, hub_connection_get_id (conn)) == 0)
      continue;
    /* §6: a message its replay sends is not sent twice. */
    if (G_UNLIKELY (replays) && hub_dispatcher_replay_skips (d, conn, delivery))
      continue;
    hub_broadcaster_to_connection (d->broadcaster, conn, delivery->frame);
  }
  if (g_hash_table_size (d->hello_users) > 0)
    hub_dispatcher_hello_hold (d, user, delivery);
}

/* Both stores' deliveries arrive here, so both modes are measured alike: a
 * sample of them carries a stamped copy of the frame for the delivery lag
 * (hub_broadcaster_sample; the store's own frame, a room's history, stays
 * unstamped). */
static void
on_deliver (gpointer node, const HubDelivery *given)
{
  HubDispatcher *d = node;
  g_autoptr (HubFrame) frame = hub_frame_ref (given->frame);
  HubDelivery sampled = *given;
  const HubDelivery *delivery = &sampled;
  const char *except = delivery->except_user;
  gboolean replays = delivery->seq > 0 && g_hash_table_size (d->replays) > 0;

  hub_broadcaster_sample (d->broadcaster, &frame);
  sampled.frame = frame;
  if (delivery->members != NULL) {
    GHashTableIter iter;
    gpointer user;

    g_hash_table_iter_init (&iter, delivery->members);
    while (g_hash_table_iter_next (&iter, &user, NULL))
      if (except == NULL || strcmp (user, except) != 0)
        deliver_to_user (d, user, delivery, replays);
    return;
  }
  for (guint i = 0; delivery->users != NULL && delivery->users[i] != NULL; i++)
    if (except == NULL || strcmp (delivery->users[i], except) != 0)
      deliver_to_user (d, delivery->users[i], delivery, replays);
}

static void
on_deliver_all (gpointer node, HubFrame *frame)
{
  HubDispatcher *d = node;

  hub_broadcaster_to_all (d->broadcaster, frame);
}

static void
on_status (gpointer node, const char *user, HubStatus status)
{
  HubDispatcher *d = node;
  GHashTable *watchers = hub_watchers_get (d->watchers, user);
  g_autoptr (HubFrame) frame = NULL;

  if (watchers == NULL)
    return;
  frame = hub_encode_status (user, status);
  hub_broadcaster_to_set (d->broadcaster, watchers, frame);
}

static char *
on_node_stats (gpointer node)
{
  return hub_dispatcher_render_node_stats_json (node);
}

/* §13: the server API's disconnect reached this node. */
static guint
on_disconnect (gpointer node, const char *const *conn_ids, guint n_conn_ids)
{
  HubDispatcher *d = node;
  guint closed = 0;

  for (guint i = 0; i < n_conn_ids; i++) {
    HubConnection *conn = hub_connection_manager_lookup (d->conns, conn_ids[i]);

    if (conn == NULL || hub_connection_is_closing (conn))
      continue;
    hub_connection_close (conn, HUB_CLOSE_DISCONNECTED, "disconnected by the server API");
    closed++;
  }
  return closed;
}

static void
on_connections (gpointer node, const char *user, GArray *out)
{
  HubDispatcher *d = node;
  GPtrArray *conns = hub_connection_manager_get_user_connections (d->conns, user);

  for (guint i = 0; conns != NULL && i < conns->len; i++) {
    HubConnection *conn = g_ptr_array_index (conns, i);
    HubStoreConnection c = {
        .conn = hub_connection_get_id (conn),
        .device = hub_connection_get_device (conn),
        .node = d->config.node,
    };

    if (!hub_connection_is_closing (conn))
      g_array_append_val (out, c);
  }
}

static void
on_lost (gpointer node, const char *const *conn_ids, guint n_conn_ids)
{
  HubDispatcher *d = node;

  /* After the replies already due: the requests before the close are
   * answered (unavailable, most of them), then the client resumes. 1001 is
   * §9's "reconnect and resume"; RFC 6455's later "service restart" (1012)
   * would say it better, but lws 4.1 clients (HubClient) take any code
   * between 1012 and 2999 for a protocol error. */
  for (guint i = 0; i < n_conn_ids; i++) {
    HubConnection *conn = hub_connection_manager_lookup (d->conns, conn_ids[i]);

    if (conn != NULL && hub_connection_is_authenticated (conn))
      hub_connection_close_after_replies (conn, HUB_CLOSE_GOING_AWAY,
                                          "deliveries may be missing: resume");
  }
}

static char *
base36 (guint64 v)
{
  char buf[16];
  int i = (int)sizeof buf - 1;

  buf[i] = '\0';
  do {
    buf[--i] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
    v /= 36;
  } while (v > 0 && i > 0);
  return g_strdup (buf + i);
}

/* §12: the token's deadline came without a refresh. */
static void
on_deadline (HubConnection *conn, gpointer user_data)
{
  hub_connection_close (conn, HUB_CLOSE_TOKEN_EXPIRED, "token expired");
}

HubDispatcher *
hub_dispatcher_new (const HubConfig *config, HubClock *clock)
{
  HubDispatcher *d = g_new0 (HubDispatcher, 1);
  g_autofree char *start = NULL;

  g_return_val_if_fail (config != NULL && clock != NULL, NULL);

  hub_config_copy (&d->config, config);
  d->clock = hub_clock_ref (clock);
  d->conns = hub_connection_manager_new ();
  d->watchers = hub_watchers_new ();
  d->broadcaster = hub_broadcaster_new (d->conns);
  d->deadlines = hub_deadlines_new (clock, on_deadline, d);
  d->hellos = g_hash_table_new (g_direct_hash, g_direct_equal);
  d->replays = g_hash_table_new (g_direct_hash, g_direct_equal);
  d->hello_users =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
  d->events = (HubStoreEvents){
      .deliver = on_deliver,
      .deliver_all = on_deliver_all,
      .status = on_status,
      .node_stats = on_node_stats,
      .disconnect = on_disconnect,
      .connections = on_connections,
      .lost = on_lost,
  };
  hub_dispatcher_ops_init (d);
  hub_dispatcher_use_store (d, hub_store_memory_new (config, clock));
  hub_dispatcher_guard_init (&d->guard, &d->config);
  d->started_mono_us = hub_clock_monotonic_us (clock);
  /* Connection ids stay unique across restarts of a node and across nodes. */
  start = base36 ((guint64)hub_clock_unix_ms (clock));
  d->conn_id_prefix = g_strdup_printf ("%s-%s-", d->config.node, start);
  schedule_tick (d);
  return d;
}

static void
detach_one (HubConnection *conn, gpointer user_data)
{
  HubDispatcher *d = user_data;

  hub_clock_cancel (d->clock, hub_connection_get_hello_timer (conn));
  hub_connection_set_hello_timer (conn, 0);
  hub_connection_detach (conn);
}

void
hub_dispatcher_free (HubDispatcher *d)
{
  if (d == NULL)
    return;
  hub_clock_cancel (d->clock, d->tick_timer);
  hub_connection_manager_foreach (d->conns, detach_one, d);
  /* The store answers what is pending (unavailable) as it goes: nobody is
   * left to answer, and its events must not find a half-freed node. */
  d->freeing = TRUE;
  g_clear_pointer (&d->store, hub_store_free);
  g_clear_pointer (&d->hellos, g_hash_table_unref);
  g_clear_pointer (&d->deadlines, hub_deadlines_free);
  g_clear_pointer (&d->hello_users, g_hash_table_unref);
  /* Empty: every connection was detached above, which released its replay. */
  g_clear_pointer (&d->replays, g_hash_table_unref);
  g_clear_pointer (&d->broadcaster, hub_broadcaster_free);
  g_clear_pointer (&d->watchers, hub_watchers_free);
  g_clear_pointer (&d->conns, hub_connection_manager_free);
  g_clear_pointer (&d->clock, hub_clock_unref);
  hub_dispatcher_guard_clear (&d->guard);
  g_free (d->conn_id_prefix);
  hub_dispatcher_ops_clear (d);
  hub_config_clear (&d->config);
  g_free (d);
}

/* --- Connection life cycle -------------------------------------------------------------------- */

static void
on_hello_timeout (gpointer user_data)
{
  HubConnection *conn = user_data;

  hub_connection_set_hello_timer (conn, 0);
  if (!hub_connection_is_authenticated (conn))
    hub_connection_close (conn, HUB_CLOSE_HELLO_TIMEOUT, "no hello in time");
}

HubConnection *
hub_dispatcher_connection_open (HubDispatcher *d, const HubSinkVTable *sink, gpointer sink_data)
{
  g_autofree char *id =
      g_strdup_printf ("%s%" G_GUINT64_FORMAT, d->conn_id_prefix, ++d->next_conn_serial);
  g_autoptr (HubConnection) conn =
      hub_connection_new (id, d->clock, d->config.max_queue_bytes, sink, sink_data);
  guint timer;

  hub_rate_limiter_init (hub_connection_get_rate_limiter (conn), d->config.rate_per_s,
                         d->config.burst, hub_clock_monotonic_us (d->clock));
  hub_connection_set_error_metric (conn, d->errors);
  hub_connection_manager_add (d->conns, conn);
  /* The manager's reference keeps conn alive until connection_closed(), which
   * cancels this timer. */
  timer =
      hub_clock_add_timeout (d->clock, d->config.hello_timeout_s * 1000, on_hello_timeout, conn);
  hub_connection_set_hello_timer (conn, timer);
  return conn;
}

void
hub_dispatcher_touch (HubDispatcher *d, HubConnection *conn)
{
  hub_connection_touch (conn);
}

gboolean
hub_dispatcher_conn_alive (HubDispatcher *d, HubConnection *conn)
{
  return !d->freeing && !hub_connection_is_closing (conn) &&
         hub_connection_manager_lookup (d->conns, hub_connection_get_id (conn)) == conn;
}

/* Drops @conn's watches of @users (all of them when NULL) and returns the
 * users no connection of this node watches any more. (transfer full) */
GPtrArray *
hub_dispatcher_unwatch (HubDispatcher *d, HubConnection *conn, GPtrArray *users)
{
  GHashTable *subs = hub_connection_get_subscriptions (conn);
  g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *unwatched = g_ptr_array_new_with_free_func (g_free);

  if (users != NULL) {
    for (guint i = 0; i < users->len; i++)
      if (g_hash_table_contains (subs, g_ptr_array_index (users, i)))
        g_ptr_array_add (list, g_strdup (g_ptr_array_index (users, i)));
  } else {
    GHashTableIter iter;
    gpointer user;

    g_hash_table_iter_init (&iter, subs);
    while (g_hash_table_iter_next (&iter, &user, NULL))
      g_ptr_array_add (list, g_strdup (user));
  }
  for (guint i = 0; i < list->len; i++) {
    const char *user = g_ptr_array_index (list, i);

    g_hash_table_remove (subs, user);
    if (hub_watchers_remove (d->watchers, conn, user))
      g_ptr_array_add (unwatched, g_strdup (user));
  }
  return unwatched;
}

void
hub_dispatcher_connection_closed (HubDispatcher *d, HubConnection *conn)
{
  g_autoptr (HubConnection) keep = NULL;
  g_autoptr (GPtrArray) unwatched = NULL;
  HubStoreSession bye = {0};

  if (hub_connection_manager_lookup (d->conns, hub_connection_get_id (conn)) != conn)
    return;
  keep = hub_connection_ref (conn);
  hub_clock_cancel (d->clock, hub_connection_get_hello_timer (conn));
  hub_connection_set_hello_timer (conn, 0);
  hub_connection_detach (conn);
  hub_deadlines_set (d->deadlines, conn, 0);
  hub_dispatcher_hello_closed (d, conn);
  unwatched = hub_dispatcher_unwatch (d, conn, NULL);
  /* Removed first, so the offline event (if any) goes to the others only. */
  hub_connection_manager_remove (d->conns, conn);
  if (!hub_connection_is_authenticated (conn))
    return;
  bye.user = hub_connection_get_user (conn);
  bye.conn_id = hub_connection_get_id (conn);
  bye.device = hub_connection_get_device (conn);
  bye.unwatch = (const char *const *)unwatched->pdata;
  bye.n_unwatch = unwatched->len;
  d->store->vtable->bye (d->store, &bye, NULL, NULL);
}

typedef struct {
  guint16 code;
  const char *reason;
} CloseAll;

static void
close_one (HubConnection *conn, gpointer user_data)
{
  const CloseAll *how = user_data;

  hub_connection_close (conn, how->code, how->reason);
}

void
hub_dispatcher_close_all (HubDispatcher *d, guint16 code, const char *reason)
{
  CloseAll how = {code, reason};

  hub_connection_manager_foreach (d->conns, close_one, &how);
}

/* --- Hello ------------------------------------------------------------------------------------ */

int
hub_dispatcher_compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

static void
reject_hello (HubDispatcher *d, HubConnection *conn, const char *id_json, const char *message)
{
  hub_dispatcher_reply_error_now (conn, id_json, HUB_ERROR_UNAUTHORIZED, message);
  hub_connection_close_after_replies (conn, HUB_CLOSE_UNAUTHORIZED, "unauthorized");
}

void
hub_dispatcher_set_deadline (HubDispatcher *d, HubConnection *conn)
{
  hub_deadlines_set (d->deadlines, conn, hub_connection_get_expires_ms (conn));
}

/* §3: authenticates; the store registers the connection (hub-dispatcher-hello.c). */
static void
handle_hello (HubDispatcher *d, HubConnection *conn, HubRequest **reqp)
{
  HubRequest *req = *reqp;
  g_autoptr (HubAuthClaims) claims = NULL;
  const char *user = req->user;
  const char *device = req->device != NULL ? req->device : "default";
  gboolean admin = TRUE;

  if (hub_connection_is_authenticated (conn) || hub_dispatcher_hello_pending (d, conn)) {
    hub_dispatcher_reply_error_now (conn, req->id_json, HUB_ERROR_BAD_REQUEST,
                                    "already said hello");
    return;
  }
  if (d->config.secret != NULL) {
    g_autoptr (GError) error = NULL;

    if (req->token == NULL) {
      reject_hello (d, conn, req->id_json,
                    req->token_not_string ? "field 'token' must be a string" : "token required");
      return;
    }
    claims = hub_dispatcher_verify_token (d, req->token, &error);
    if (claims == NULL) {
      reject_hello (d, conn, req->id_json, error->message);
      return;
    }
    if (user != NULL && strcmp (user, claims->sub) != 0) {
      reject_hello (d, conn, req->id_json, "user does not match the token's sub");
      return;
    }
    user = claims->sub;
    admin = claims->admin;
    /* §12: what the token allows, from now on (resume's entries are checked
     * against it); its deadline is armed with the welcome. */
    hub_connection_set_token_rights (conn, admin, claims->rooms,
                                     hub_auth_claims_expires_ms (claims));
  } else if (user == NULL) {
    hub_dispatcher_reply_error_now (conn, req->id_json, HUB_ERROR_BAD_REQUEST,
                                    "field 'user' is required");
    return;
  }

  if (!hub_dispatcher_guard_hello (d, conn, user, req->id_json))
    return;
  {
    g_autofree char *who = g_strdup (user); /* user may point into claims or req */

    hub_dispatcher_hello (d, conn, hub_connection_take_reply_slot (conn), g_steal_pointer (reqp),
                          who, device, admin);
  }
}

/* --- Receiving -------------------------------------------------------------------------------- */

void
hub_dispatcher_receive (HubDispatcher *d, HubConnection *conn, const char *data, gsize len)
{
  HubRateVerdict verdict;

  if (hub_connection_is_ending (conn))
    return;
  hub_connection_note_received (conn, len);
  d->frames_in_total++;

  verdict = hub_rate_limiter_check (hub_connection_get_rate_limiter (conn),
                                    hub_clock_monotonic_us (d->clock));
  if (verdict == HUB_RATE_ABUSE) {
    hub_connection_close (conn, HUB_CLOSE_RATE_ABUSE, "rate limit abuse");
    return;
  }

  if (verdict == HUB_RATE_LIMITED) {
    /* Not executed; answered in its turn, behind a pending hello's requests too. */
    if (hub_dispatcher_hello_pending (d, conn))
      hub_dispatcher_hello_queue (d, conn, data, len, TRUE);
    else
      hub_dispatcher_reply_rate_limited (d, conn, data, len);
    return;
  }
  if (!hub_connection_is_authenticated (conn) &&
      hub_dispatcher_refuse_before_hello (d, conn, data, len))
    return;
  hub_dispatcher_receive_decoded (d, conn, data, len);
}

void
hub_dispatcher_reply_rate_limited (HubDispatcher *d, HubConnection *conn, const char *data,
                                   gsize len)
{
  HubPeek peek;

  /* Not decoded (hub-dispatcher-guard.c): its id comes from a scan, and is
   * left out only when reading it needs decoding. */
  hub_codec_peek (data, len, &peek);
  hub_dispatcher_note_limit (d, conn, NULL, "rate");
  hub_dispatcher_reply_error_now (conn, peek.sure ? peek.id_json : NULL, HUB_ERROR_RATE_LIMITED,
                                  "too many requests: slow down");
  hub_peek_clear (&peek);
}

void
hub_dispatcher_receive_decoded (HubDispatcher *d, HubConnection *conn, const char *data, gsize len)
{
  HubDecodeResult res = {0};

  if (hub_dispatcher_hello_pending (d, conn)) {
    /* Runs once the welcome and the replay are out, in order. */
    hub_dispatcher_hello_queue (d, conn, data, len, FALSE);
    return;
  }
  hub_codec_decode (data, len, &res);
  if (res.request != NULL)
    hub_dispatcher_track_request (d, res.request);
  if (!res.envelope_ok) {
    hub_dispatcher_reply_error_now (conn, res.id_json, res.code, res.message);
  } else if (!hub_connection_is_authenticated (conn) && res.type != HUB_REQ_HELLO) {
    hub_dispatcher_reply_error_now (conn, res.id_json, HUB_ERROR_NOT_AUTHENTICATED,
                                    "say hello first");
  } else if (res.code != HUB_ERROR_NONE) {
    hub_dispatcher_reply_error_now (conn, res.id_json, res.code, res.message);
  } else if (res.type == HUB_REQ_HELLO) {
    handle_hello (d, conn, &res.request);
  } else if (hub_dispatcher_guard_request (d, conn, res.request, len)) {
    hub_dispatcher_execute (d, conn, g_steal_pointer (&res.request));
  }
  hub_decode_result_clear (&res);
}

void
hub_dispatcher_reject (HubDispatcher *d, HubConnection *conn, guint16 code, const char *reason)
{
  if (hub_connection_is_ending (conn))
    return;
  d->frames_in_total++;
  /* §1: the requests before it are answered first, whenever the store answers. */
  hub_connection_close_after_replies (conn, code, reason);
}

/* --- Liveness --------------------------------------------------------------------------------- */

static void
on_tick (gpointer user_data)
{
  HubDispatcher *d = user_data;

  d->tick_timer = 0;
  d->tick_count++;
  hub_dispatcher_liveness_tick (d, d->tick_count % TICKS_PER_HEARTBEAT, TICKS_PER_HEARTBEAT);
  if (d->store->vtable->tick != NULL && d->tick_count % ticks_per_store_tick (d) == 0)
    d->store->vtable->tick (d->store);
  schedule_tick (d);
}

static void
schedule_tick (HubDispatcher *d)
{
  guint interval_ms = MAX (d->config.heartbeat_s * 1000 / TICKS_PER_HEARTBEAT, 1u);

  if (d->config.heartbeat_s == 0)
    return;
  d->tick_timer = hub_clock_add_timeout (d->clock, interval_ms, on_tick, d);
  hub_dispatcher_liveness_scheduled (d, interval_ms);
}

/* --- Figures ---------------------------------------------------------------------------------- */

void
hub_dispatcher_get_stats (HubDispatcher *d, HubStats *stats)
{
  const HubBroadcasterStats *b = hub_broadcaster_get_stats (d->broadcaster);

  stats->uptime_s = (hub_clock_monotonic_us (d->clock) - d->started_mono_us) / G_USEC_PER_SEC;
  stats->connections = hub_connection_manager_n_connections (d->conns);
  /* This node's users, the rooms of all (§10: in a cluster, the cluster's). */
  stats->users_online = hub_connection_manager_n_users (d->conns);
  stats->rooms = d->store->vtable->n_rooms (d->store);
  stats->frames_in_total = d->frames_in_total;
  stats->messages_in_total = d->messages_in_total;
  stats->deliveries_total = b->deliveries;
  stats->slow_consumer_closes_total = b->slow_consumer_closes;
  stats->dropped_total = b->dropped;
}

static gboolean
cluster_figures (HubDispatcher *d, HubStoreFigures *f)
{
  return d->store->vtable->get_figures != NULL && d->store->vtable->get_figures (d->store, f);
}

char *
hub_dispatcher_render_metrics (HubDispatcher *d)
{
  HubStats s;
  HubStoreFigures f;
  GString *out = g_string_sized_new (1024);

  hub_dispatcher_get_stats (d, &s);
#define GAUGE(name, help, value)                                                                   \
  g_string_append_printf (                                                                         \
      out, "# HELP " name " " help "\n# TYPE " name " gauge\n" name " %" G_GUINT64_FORMAT "\n",    \
      (guint64)(value))
#define COUNTER(name, help, value)                                                                 \
  g_string_append_printf (                                                                         \
      out, "# HELP " name " " help "\n# TYPE " name " counter\n" name " %" G_GUINT64_FORMAT "\n",  \
      (guint64)(value))
  GAUGE ("hub_connections", "Open WebSocket connections.", s.connections);
  GAUGE ("hub_users_online", "Users with at least one connection.", s.users_online);
  GAUGE ("hub_rooms", "Rooms that exist.", s.rooms);
  GAUGE ("hub_uptime_seconds", "Seconds since the node started.", s.uptime_s);
  COUNTER ("hub_frames_in_total", "Client text/binary messages received.", s.frames_in_total);
  COUNTER ("hub_messages_in_total", "Accepted publish/direct/multicast/broadcast.",
           s.messages_in_total);
  COUNTER ("hub_deliveries_total", "Message frames queued to connections.", s.deliveries_total);
  COUNTER ("hub_slow_consumer_closes_total", "Connections closed with 4009.",
           s.slow_consumer_closes_total);
  COUNTER ("hub_dropped_total", "Ephemeral frames dropped under backpressure.", s.dropped_total);
  hub_dispatcher_render_ops_metrics (d, out, cluster_figures (d, &f) ? f.nodes_json : NULL);
  if (cluster_figures (d, &f)) {
    GAUGE ("hub_cluster_up", "1 while this node is connected to Redis.", f.up ? 1 : 0);
    GAUGE ("hub_cluster_nodes", "Live nodes in the cluster.", f.nodes);
    GAUGE ("hub_cluster_rooms", "Rooms in the cluster.", f.rooms);
    GAUGE ("hub_cluster_users_online", "Users with a connection on any node.", f.users_online);
    COUNTER ("hub_cluster_resyncs_total", "Re-registrations of this node's connections in Redis.",
             f.resyncs);
  }
#undef GAUGE
#undef COUNTER
  return g_string_free (out, FALSE);
}

char *
hub_dispatcher_render_node_stats_json (HubDispatcher *d)
{
  HubStats s;

  hub_dispatcher_get_stats (d, &s);
  return g_strdup_printf (
      "{\"node\":\"%s\",\"uptime_s\":%" G_GINT64_FORMAT ",\"connections\":%u,"
      "\"users_online\":%u,\"rooms\":%u,\"frames_in_total\":%" G_GUINT64_FORMAT
      ",\"messages_in_total\":%" G_GUINT64_FORMAT ",\"deliveries_total\":%" G_GUINT64_FORMAT
      ",\"slow_consumer_closes_total\":%" G_GUINT64_FORMAT ",\"dropped_total\":%" G_GUINT64_FORMAT
      "}",
      d->config.node, s.uptime_s, s.connections, s.users_online, s.rooms, s.frames_in_total,
      s.messages_in_total, s.deliveries_total, s.slow_consumer_closes_total, s.dropped_total);
}

char *
hub_dispatcher_render_stats_json (HubDispatcher *d)
{
  g_autofree char *node = hub_dispatcher_render_node_stats_json (d);
  HubStoreFigures f;

  /* In a cluster: the same figures of every live node, as each last
   * published them with its liveness refresh. */
  if (!cluster_figures (d, &f))
    return g_steal_pointer (&node);
  node[strlen (node) - 1] = '\0';
  return g_strdup_printf ("%s,\"cluster\":{\"up\":%s,\"nodes\":%u,\"rooms\":%u,"
                          "\"users_online\":%u},\"nodes\":{%s}}",
                          node, f.up ? "true" : "false", f.nodes, f.rooms, f.users_online,
                          f.nodes_json);
}

void
hub_dispatcher_use_store (HubDispatcher *d, HubStore *store)
{
  g_return_if_fail (d != NULL && store != NULL);
  g_return_if_fail (hub_connection_manager_n_connections (d->conns) == 0);
  g_clear_pointer (&d->store, hub_store_free);
  d->store = store;
  store->vtable->attach (store, &d->events, d);
}

gboolean
hub_dispatcher_is_clustered (HubDispatcher *d)
{
  return d->store->vtable->get_figures != NULL;
}

gboolean
hub_dispatcher_is_healthy (HubDispatcher *d)
{
  return d->store->vtable->is_up (d->store);
}

typedef struct {
  HubDispatcher *d;
  HubDispatcherSyncFunc func;
  gpointer user_data;
} HubDispatcherSync;

static void
synced (const HubStoreResult *result, gpointer data)
{
  HubDispatcherSync *sync = data;
  HubDispatcher *d = sync->d;

  /* What the answers before it asked of the store (a hello's resume, the
   * requests it queued) was asked after this sync: once more, then. */
  if (result->error == HUB_STORE_OK && d->in_flight > 0 && !d->freeing) {
    d->store->vtable->sync (d->store, synced, sync);
    return;
  }
  sync->func (result->error == HUB_STORE_OK, sync->user_data);
  g_free (sync);
}

void
hub_dispatcher_sync (HubDispatcher *d, HubDispatcherSyncFunc func, gpointer user_data)
{
  HubDispatcherSync *sync = g_new (HubDispatcherSync, 1);

  sync->d = d;
  sync->func = func;
  sync->user_data = user_data;
  d->store->vtable->sync (d->store, synced, sync);
}

char *
hub_dispatcher_render_health (HubDispatcher *d, guint *http_status)
{
  if (hub_dispatcher_is_healthy (d)) {
    *http_status = 200;
    return g_strdup_printf ("{\"status\":\"ok\",\"node\":\"%s\"}", d->config.node);
  }
  *http_status = 503;
  return g_strdup_printf ("{\"status\":\"degraded\",\"node\":\"%s\","
                          "\"reason\":\"cluster broker unavailable\"}",
                          d->config.node);
}

const HubConfig *
hub_dispatcher_get_config (HubDispatcher *d)
{
  return &d->config;
}

HubClock *
hub_dispatcher_get_clock (HubDispatcher *d)
{
  return d->clock;
}

HubConnectionManager *
hub_dispatcher_get_connections (HubDispatcher *d)
{
  return d->conns;
}
