/* hub-dispatcher.c: the node's request engine. This file holds the connection
 * life cycle (open, hello, resume, close), liveness and the figures for
 * /metrics and /api/stats; the requests themselves are in hub-dispatcher-requests.c. */
#include "hub-dispatcher-private.h"
#include "hub/hub-broker.h"
#include "hub/hub-version.h"

#include <string.h>

/* The liveness tick runs TICKS_PER_HEARTBEAT times per heartbeat. Each
 * connection is pinged on one tick of the cycle, its slot (a hash of the
 * connection), so a heartbeat's pings are spread over it: pinging every
 * connection on one tick made a burst of one ping and one pong per connection
 * (18,000 of them in capacity-19k.sh) that held every other frame up for
 * 0.3–0.7 s every heartbeat. A dead connection is closed at most one tick
 * after its 3 × heartbeat ran out. The broker's tick (cluster liveness in
 * Redis, with the figures every node publishes) runs every quarter heartbeat
 * or every second, whichever is more often: the cluster-wide sums of
 * /metrics are then at most about a second old, so a load run can check its
 * counts against them (docs/operations.md). */
#define TICKS_PER_HEARTBEAT   32
#define TICKS_PER_BROKER_TICK (TICKS_PER_HEARTBEAT / 4)

/* Dispatcher ticks per broker tick: at most a quarter heartbeat, at most
 * about a second. */
static guint
ticks_per_broker_tick (HubDispatcher *d)
{
  guint tick_ms = MAX (d->config.heartbeat_s * 1000 / TICKS_PER_HEARTBEAT, 1u);

  return CLAMP (1000 / tick_ms, 1u, (guint)TICKS_PER_BROKER_TICK);
}

static void schedule_tick (HubDispatcher *d);

static void
on_presence_change (const char *user, HubStatus status, gpointer user_data)
{
  HubDispatcher *d = user_data;
  GHashTable *subscribers = hub_presence_get_subscribers (d->presence, user);
  g_autoptr (HubFrame) frame = NULL;

  if (subscribers == NULL || g_hash_table_size (subscribers) == 0)
    return;
  frame = hub_encode_status (user, status);
  hub_broadcaster_to_set (d->broadcaster, subscribers, frame);
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

HubDispatcher *
hub_dispatcher_new (const HubConfig *config, HubClock *clock)
{
  HubDispatcher *d = g_new0 (HubDispatcher, 1);
  g_autofree char *start = NULL;

  g_return_val_if_fail (config != NULL && clock != NULL, NULL);

  hub_config_copy (&d->config, config);
  d->clock = hub_clock_ref (clock);
  d->conns = hub_connection_manager_new ();
  d->rooms =
      hub_room_manager_new (config->history_size, config->max_rooms_per_user, config->auto_create);
  d->presence = hub_presence_new (clock, config->presence_grace_s * 1000, on_presence_change, d);
  d->broadcaster = hub_broadcaster_new (d->conns, d->rooms);
  d->broker = hub_broker_memory_new (d);
  hub_dispatcher_ops_init (d);
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
  /* Its pending replies are dropped (the connections are detached). */
  g_clear_pointer (&d->broker, hub_broker_free);
  /* Presence first: its timers and notifications refer to the broadcaster. */
  g_clear_pointer (&d->presence, hub_presence_free);
  g_clear_pointer (&d->broadcaster, hub_broadcaster_free);
  g_clear_pointer (&d->conns, hub_connection_manager_free);
  g_clear_pointer (&d->rooms, hub_room_manager_free);
  g_clear_pointer (&d->clock, hub_clock_unref);
  g_free (d->conn_id_prefix);
  hub_dispatcher_ops_clear (d);
  hub_config_clear (&d->config);
  g_free (d);
}

/* --- Replies ------------------------------------------------------------ */

void
hub_dispatcher_send (HubConnection *conn, HubFrame *frame)
{
  hub_connection_send (conn, frame);
}

void
hub_dispatcher_reply_ok (HubConnection *conn, const char *id_json, JsonObject *result)
{
  if (id_json != NULL) {
    g_autoptr (HubFrame) frame = hub_encode_ok (id_json, result);

    hub_dispatcher_send (conn, frame);
  }
  if (result != NULL)
    json_object_unref (result);
}

void
hub_dispatcher_reply_error (HubConnection *conn, const char *id_json, HubErrorCode code,
                            const char *message)
{
  g_autoptr (HubFrame) frame = hub_encode_error (id_json, code, message);

  hub_dispatcher_note_error (conn, code, message);
  hub_dispatcher_send (conn, frame);
}

void
hub_dispatcher_reply_gerror (HubConnection *conn, const char *id_json, const GError *error)
{
  HubErrorCode code = HUB_ERROR_INTERNAL;

  if (error->domain == HUB_ERROR && error->code > HUB_ERROR_NONE && error->code < HUB_ERROR_N_CODES)
    code = (HubErrorCode)error->code;
  hub_dispatcher_reply_error (conn, id_json, code, error->message);
}

HubStatus
hub_dispatcher_status_seen_by (HubDispatcher *d, const char *viewer, const char *user)
{
  if (viewer != NULL && strcmp (viewer, user) == 0)
    return hub_presence_get_own_status (d->presence, user);
  return hub_presence_get_visible_status (d->presence, user);
}

/* --- Connection life cycle ---------------------------------------------- */

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

void
hub_dispatcher_connection_closed (HubDispatcher *d, HubConnection *conn)
{
  g_autoptr (HubConnection) keep = NULL;

  if (hub_connection_manager_lookup (d->conns, hub_connection_get_id (conn)) != conn)
    return;
  keep = hub_connection_ref (conn);
  hub_clock_cancel (d->clock, hub_connection_get_hello_timer (conn));
  hub_connection_set_hello_timer (conn, 0);
  hub_connection_detach (conn);

  /* The broker forgets it (presence, subscriptions) and removes it from the
   * connection manager. */
  d->broker->vtable->connection_closed (d->broker, conn);
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

/* --- Hello and resume ---------------------------------------------------- */

int
hub_dispatcher_compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

static void
reject_hello (HubConnection *conn, const char *id_json, const char *message)
{
  hub_dispatcher_reply_error (conn, id_json, HUB_ERROR_UNAUTHORIZED, message);
  hub_connection_close (conn, HUB_CLOSE_UNAUTHORIZED, "unauthorized");
}

static void
handle_hello (HubDispatcher *d, HubConnection *conn, HubRequest **reqp)
{
  HubRequest *req = *reqp;
  g_autoptr (HubAuthClaims) claims = NULL;
  const char *user = req->user;
  const char *device = req->device != NULL ? req->device : "default";
  gboolean admin = TRUE;
  HubBroker *b = d->broker;

  if (hub_connection_is_authenticated (conn) ||
      (b->vtable->hello_pending != NULL && b->vtable->hello_pending (b, conn))) {
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_BAD_REQUEST, "already said hello");
    return;
  }
  if (d->config.secret != NULL) {
    g_autoptr (GError) error = NULL;

    if (req->token == NULL) {
      reject_hello (conn, req->id_json,
                    req->token_not_string ? "field 'token' must be a string" : "token required");
      return;
    }
    claims = hub_dispatcher_verify_token (d, req->token, &error);
    if (claims == NULL) {
      reject_hello (conn, req->id_json, error->message);
      return;
    }
    if (user != NULL && strcmp (user, claims->sub) != 0) {
      reject_hello (conn, req->id_json, "user does not match the token's sub");
      return;
    }
    user = claims->sub;
    admin = claims->admin;
  } else if (user == NULL) {
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_BAD_REQUEST,
                                "field 'user' is required");
    return;
  }

  {
    g_autofree char *who = g_strdup (user); /* user may point into claims or req */

    b->vtable->hello (b, conn, g_steal_pointer (reqp), who, device, admin);
  }
}

/* --- Receiving ----------------------------------------------------------- */

void
hub_dispatcher_receive (HubDispatcher *d, HubConnection *conn, const char *data, gsize len)
{
  HubRateVerdict verdict;

  if (hub_connection_is_closing (conn))
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
    HubDecodeResult res = {0};

    hub_codec_decode (data, len, &res);
    hub_dispatcher_reply_error (conn, res.id_json, HUB_ERROR_RATE_LIMITED,
                                "too many requests: slow down");
    hub_decode_result_clear (&res);
    return;
  }
  hub_dispatcher_receive_decoded (d, conn, data, len);
}

void
hub_dispatcher_receive_decoded (HubDispatcher *d, HubConnection *conn, const char *data, gsize len)
{
  HubDecodeResult res = {0};
  HubBroker *b = d->broker;

  if (b->vtable->hello_pending != NULL && b->vtable->hello_pending (b, conn)) {
    /* Runs once the welcome is out, in order. */
    b->vtable->queue_request (b, conn, data, len);
    return;
  }
  hub_codec_decode (data, len, &res);
  if (res.request != NULL)
    hub_dispatcher_track_request (d, res.request);
  if (!res.envelope_ok) {
    hub_dispatcher_reply_error (conn, res.id_json, res.code, res.message);
  } else if (!hub_connection_is_authenticated (conn) && res.type != HUB_REQ_HELLO) {
    hub_dispatcher_reply_error (conn, res.id_json, HUB_ERROR_NOT_AUTHENTICATED, "say hello first");
  } else if (res.code != HUB_ERROR_NONE) {
    hub_dispatcher_reply_error (conn, res.id_json, res.code, res.message);
  } else if (res.type == HUB_REQ_HELLO) {
    handle_hello (d, conn, &res.request);
  } else {
    b->vtable->execute (b, conn, g_steal_pointer (&res.request));
  }
  hub_decode_result_clear (&res);
}

void
hub_dispatcher_reject (HubDispatcher *d, HubConnection *conn, guint16 code, const char *reason)
{
  if (hub_connection_is_closing (conn))
    return;
  d->frames_in_total++;
  hub_connection_close (conn, code, reason);
}

/* --- Liveness -------------------------------------------------------------- */

typedef struct {
  gint64 now_ms;
  gint64 dead_after_ms;
  guint slot; /* connections of this slot are pinged */
} Sweep;

/* A connection's tick within the heartbeat's cycle: the top bits of a
 * Fibonacci hash of its address, which is stable for its life and spreads
 * connections made together (a reconnect storm) over the whole cycle. */
static guint
ping_slot (HubConnection *conn)
{
  G_STATIC_ASSERT ((TICKS_PER_HEARTBEAT & (TICKS_PER_HEARTBEAT - 1)) == 0);
  return (guint)((((guint64)(guintptr)conn) * G_GUINT64_CONSTANT (0x9E3779B97F4A7C15)) >> 32) %
         TICKS_PER_HEARTBEAT;
}

static void
sweep_one (HubConnection *conn, gpointer user_data)
{
  const Sweep *sweep = user_data;
  const HubConnectionStats *stats = hub_connection_get_stats (conn);

  if (hub_connection_is_closing (conn))
    return;
  if (sweep->now_ms - stats->last_activity_unix_ms >= sweep->dead_after_ms)
    hub_connection_close (conn, HUB_CLOSE_LIVENESS, "liveness timeout");
  else if (ping_slot (conn) == sweep->slot)
    hub_connection_ping (conn);
}

static void
on_tick (gpointer user_data)
{
  HubDispatcher *d = user_data;
  Sweep sweep;

  d->tick_timer = 0;
  d->tick_count++;
  sweep.now_ms = hub_clock_unix_ms (d->clock);
  sweep.dead_after_ms = 3 * (gint64)d->config.heartbeat_s * 1000;
  sweep.slot = d->tick_count % TICKS_PER_HEARTBEAT;
  hub_connection_manager_foreach (d->conns, sweep_one, &sweep);
  if (d->broker->vtable->tick != NULL && d->tick_count % ticks_per_broker_tick (d) == 0)
    d->broker->vtable->tick (d->broker);
  schedule_tick (d);
}

static void
schedule_tick (HubDispatcher *d)
{
  guint interval_ms = MAX (d->config.heartbeat_s * 1000 / TICKS_PER_HEARTBEAT, 1u);

  if (d->config.heartbeat_s == 0)
    return;
  d->tick_timer = hub_clock_add_timeout (d->clock, interval_ms, on_tick, d);
}

/* --- Figures --------------------------------------------------------------- */

void
hub_dispatcher_get_stats (HubDispatcher *d, HubStats *stats)
{
  const HubBroadcasterStats *b = hub_broadcaster_get_stats (d->broadcaster);

  stats->uptime_s = (hub_clock_monotonic_us (d->clock) - d->started_mono_us) / G_USEC_PER_SEC;
  stats->connections = hub_connection_manager_n_connections (d->conns);
  /* In a cluster: the cluster's rooms and this node's users (§10). */
  d->broker->vtable->get_counts (d->broker, &stats->rooms, &stats->users_online);
  stats->frames_in_total = d->frames_in_total;
  stats->messages_in_total = d->messages_in_total;
  stats->deliveries_total = b->deliveries;
  stats->slow_consumer_closes_total = b->slow_consumer_closes;
  stats->dropped_total = b->dropped;
}

static gboolean
cluster_figures (HubDispatcher *d, HubClusterFigures *f)
{
  HubBroker *b = d->broker;

  return b->vtable->get_cluster_figures != NULL && b->vtable->get_cluster_figures (b, f);
}

char *
hub_dispatcher_render_metrics (HubDispatcher *d)
{
  HubStats s;
  HubClusterFigures f;
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
  HubClusterFigures f;

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

gboolean
hub_dispatcher_use_redis (HubDispatcher *d, const char *url, const char *prefix, GError **error)
{
  HubBroker *cluster;

  g_return_val_if_fail (!hub_dispatcher_is_clustered (d), FALSE);
  cluster = hub_broker_cluster_new (d, url, prefix != NULL ? prefix : "hub:", error);
  if (cluster == NULL)
    return FALSE;
  hub_broker_free (d->broker);
  d->broker = cluster;
  return TRUE;
}

gboolean
hub_dispatcher_is_clustered (HubDispatcher *d)
{
  return d->broker->vtable->get_cluster_figures != NULL;
}

gboolean
hub_dispatcher_is_healthy (HubDispatcher *d)
{
  return d->broker->vtable->is_up (d->broker);
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

HubConnectionManager *
hub_dispatcher_get_connections (HubDispatcher *d)
{
  return d->conns;
}

HubRoomManager *
hub_dispatcher_get_rooms (HubDispatcher *d)
{
  return d->rooms;
}

HubPresence *
hub_dispatcher_get_presence (HubDispatcher *d)
{
  return d->presence;
}
