/* test-cluster-faults-unix.c: cluster mode under faults, with real processes
 * (redis-server, hub-server nodes) and real clients publishing all along: Redis
 * stalled (SIGSTOP for 20 s), a node killed (SIGKILL), a node stalled for 20 s
 * (reaped while alive; its clients move to another node, one stays and is told
 * with 1001 when it resumes). Every acknowledged message reaches every member,
 * or the member is told: its resume says `complete: false` for what it cannot
 * replay (PROTOCOL.md §6, §11). Unix: processes are stopped and resumed with
 * signals, and the test waits until a stopped one really is (waitid). */
#include "hub-test-redis.h"
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#define ROOM              "r"
#define PUBLISH_EVERY_MS  20  /* per publisher: 50 publishes/s */
#define PING_EVERY_MS     500 /* every member: activity, so stalls are judged on the stall alone */
#define HELLO_RETRY_MS    100
#define DRAIN_MS          15000
#define STORE_DEADLINE_MS 2000 /* hub-server's default --redis-timeout */
#define STALL_S           20   /* how long Redis, or a node, is stopped */
#define CLOSED_BY_CLIENT  0    /* in Member.closes: the client gave up on a silent node */

/* --- Processes ------------------------------------------------------------------------------ */

/* SIGSTOP, then waits until @pid (a child of this process) is stopped: the
 * test's timeline starts from a stop that happened. WNOWAIT leaves the stop to
 * be reported again; GLib's child watch only looks for exits. */
static void
stop_process (guint pid)
{
  siginfo_t si;

  ck_assert_uint_gt (pid, 0);
  ck_assert_int_eq (kill ((pid_t)pid, SIGSTOP), 0);
  ck_assert_msg (waitid (P_PID, (id_t)pid, &si, WSTOPPED | WNOWAIT) == 0,
                 "expected process %u to stop: %s", pid, g_strerror (errno));
}

static void
continue_process (guint pid)
{
  ck_assert_int_eq (kill ((pid_t)pid, SIGCONT), 0);
}

static guint
health_of (guint16 port)
{
  g_autoptr (HubTestHttpResponse) r = hub_test_http_get (port, "/healthz");

  return r != NULL ? r->status : 0;
}

/* --- Members: clients that account for every message of the room ------------------------------ */

typedef struct {
  gint64 from, to;
} Range;

typedef struct {
  char *user;          /* (owned) */
  guint16 port;        /* the node it (re)connects to */
  HubTestWs *ws;       /* (owned) (nullable) while reconnecting */
  gboolean member;     /* in the room: accounted for */
  gboolean publisher;  /* publishes every PUBLISH_EVERY_MS */
  GHashTable *seen;    /* set of seqs received (GINT64_TO_POINTER) */
  gint64 max_seen;     /* the resume point */
  GArray *told;        /* Range: what a resume said it could not replay */
  GArray *closes;      /* guint: every close code the server sent it */
  GHashTable *pending; /* publish id → send time (µs) */
  gint64 next_id;
  gint64 next_publish_us, next_ping_us;
  gboolean held;          /* closed: comes back only once this is cleared */
  gboolean hello_pending; /* a reconnect's hello awaits its welcome */
  gint64 hello_retry_us;  /* 0, or when to say hello again (refused: node not ready) */
  gint64 resumed_from;    /* the seq given in the last resume */
  GPtrArray *statuses;    /* "user status" of every `status` frame (owned strings) */
  /* As a client library does (HubClient: 3 x heartbeat): nothing received
   * for @silence_ms (0: never) while pinging every PING_EVERY_MS, the client
   * gives up on the connection and comes back with `resume` on the node at
   * @failover (another node, as a load balancer would pick). */
  guint silence_ms;
  guint16 failover;
  gint64 last_rx_us;
  guint replayed; /* messages received between a resume's welcome and its `resumed` */
  gboolean replaying;
  guint welcomes;       /* of reconnects */
  gboolean room_listed; /* the last welcome listed ROOM among the user's rooms */
} Member;

typedef struct {
  GPtrArray *members; /* Member* (owned) */
  GHashTable *acked;  /* set of seqs acknowledged with `ok` */
  guint64 refused;    /* publishes answered `internal` */
  guint64 unanswered; /* publishes whose connection closed before the reply */
  gint64 worst_reply_us;
  gboolean traffic;
  gint64 stalled_since;        /* Redis stopped at (0: running) */
  guint64 acked_while_stalled; /* `ok` to a publish sent after Redis stopped, before it went on */
} Cluster;

static void
member_free (gpointer p)
{
  Member *m = p;

  g_clear_pointer (&m->ws, hub_test_ws_free);
  g_hash_table_unref (m->seen);
  g_hash_table_unref (m->pending);
  g_array_unref (m->told);
  g_array_unref (m->closes);
  g_ptr_array_unref (m->statuses);
  g_free (m->user);
  g_free (m);
}

static Cluster *
cluster_new (void)
{
  Cluster *c = g_new0 (Cluster, 1);

  c->members = g_ptr_array_new_with_free_func (member_free);
  c->acked = g_hash_table_new (g_direct_hash, g_direct_equal);
  return c;
}

static void
cluster_free (Cluster *c)
{
  g_ptr_array_unref (c->members);
  g_hash_table_unref (c->acked);
  g_free (c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Cluster, cluster_free)

/* A client of @user on the node at @port: a member of the room (joined
 * before any traffic, so every message is owed to it), and a publisher if
 * @publisher; or, with @member FALSE, a watcher of @watch (subscribed). */
static Member *
add_client (Cluster *c, guint16 port, const char *user, gboolean member, gboolean publisher,
            const char *const *watch)
{
  Member *m = g_new0 (Member, 1);

  m->user = g_strdup (user);
  m->port = port;
  m->member = member;
  m->publisher = publisher;
  m->seen = g_hash_table_new (g_direct_hash, g_direct_equal);
  m->pending = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  m->told = g_array_new (FALSE, FALSE, sizeof (Range));
  m->closes = g_array_new (FALSE, FALSE, sizeof (guint));
  m->statuses = g_ptr_array_new_with_free_func (g_free);
  m->next_id = 1000;
  m->last_rx_us = g_get_monotonic_time ();
  m->ws = hub_test_ws_login (port, user, "d");
  if (member)
    hub_test_ws_join (m->ws, user, ROOM);
  if (watch != NULL) {
    g_autoptr (GString) list = g_string_new (NULL);

    for (guint i = 0; watch[i] != NULL; i++)
      g_string_append_printf (list, "%s'%s'", i > 0 ? "," : "", watch[i]);
    json_object_unref (hub_test_ws_ok (m->ws, "{'type':'subscribe','users':[%s]}", list->str));
  }
  hub_test_ws_drain (m->ws);
  g_ptr_array_add (c->members, m);
  return m;
}

static void
send_hello (Member *m)
{
  g_autofree char *hello =
      g_strdup_printf ("{\"type\":\"hello\",\"id\":\"h\",\"user\":\"%s\","
                       "\"device\":\"d\",\"resume\":{\"" ROOM "\":%" G_GINT64_FORMAT "}}",
                       m->user, m->max_seen);

  hub_test_ws_try_send_text (m->ws, hello);
  m->resumed_from = m->max_seen;
  m->hello_pending = TRUE;
  m->hello_retry_us = 0;
}

/* A closed connection: the close code is kept, and the member comes back on
 * its node with `resume` from the last seq it saw (§6): the server replays
 * what it missed, or says complete:false. A watcher only comes back. */
static void
reconnect (Member *m, gboolean gave_up)
{
  guint code = gave_up ? CLOSED_BY_CLIENT : hub_test_ws_wait_closed (m->ws, 0);
  g_autoptr (GError) error = NULL;
  HubTestWs *ws;

  g_array_append_val (m->closes, code);
  if (gave_up && m->failover != 0)
    m->port = m->failover;
  m->hello_pending = FALSE;
  m->hello_retry_us = 0;
  m->last_rx_us = g_get_monotonic_time ();
  /* Replies lost with the connection: not acknowledged. */
  g_clear_pointer (&m->ws, hub_test_ws_free);
  ws = hub_test_ws_connect (m->port, "/ws", HUB_TEST_WS_SUBPROTOCOL, &error);
  ck_assert_msg (ws != NULL, "expected %s to reconnect to the node on %u: %s", m->user, m->port,
                 error->message);
  m->ws = ws;
  if (m->member) {
    send_hello (m);
  } else {
    g_autoptr (JsonObject) welcome = hub_test_ws_hello (m->ws, m->user, "d");
  }
}

static void
handle_frame (Cluster *c, Member *m, JsonObject *frame)
{
  const char *type = hub_test_json_string (frame, "type");
  JsonNode *id = json_object_get_member (frame, "id");
  gint64 now = g_get_monotonic_time ();

  m->last_rx_us = now;
  /* ok, or refused (the request was not executed: not acknowledged). */
  if (g_strcmp0 (type, "message") == 0) {
    gint64 seq = hub_test_json_int (frame, "seq");

    g_hash_table_add (m->seen, GINT_TO_POINTER ((gint)seq));
    m->max_seen = MAX (m->max_seen, seq);
    if (m->replaying)
      m->replayed++;
  } else if (g_strcmp0 (type, "resumed") == 0) {
    gint64 from = hub_test_json_int (frame, "from");

    m->replaying = FALSE;
    /* What lies between the seq given and the first one replayed is gone. */
    if (!hub_test_json_bool (frame, "complete") && from > m->resumed_from + 1) {
      Range told = {m->resumed_from + 1, from - 1};

      g_array_append_val (m->told, told);
    }
  } else if (g_strcmp0 (type, "status") == 0) {
    g_ptr_array_add (m->statuses, g_strdup_printf ("%s %s", hub_test_json_string (frame, "user"),
                                                   hub_test_json_string (frame, "status")));
  } else if (id != NULL && JSON_NODE_HOLDS_VALUE (id) &&
             json_node_get_value_type (id) == G_TYPE_STRING) {
    /* The reconnect's hello: welcome, or refused while the node is not
     * ready again (internal): said again shortly. */
    m->hello_pending = FALSE;
    if (g_strcmp0 (type, "error") == 0) {
      ck_assert_str_eq (hub_test_json_string (frame, "code"), "internal");
      m->hello_retry_us = now + HELLO_RETRY_MS * G_TIME_SPAN_MILLISECOND;
    } else {
      m->replaying = TRUE; /* the replay, if any, comes before `resumed` (§6) */
      m->welcomes++;
      m->room_listed = hub_test_json_array_has_string (hub_test_json_array (frame, "rooms"), ROOM);
    }
  } else if (id != NULL && JSON_NODE_HOLDS_VALUE (id)) {
    gpointer key = GINT_TO_POINTER ((gint)json_node_get_int (id));
    gint64 *sent = g_hash_table_lookup (m->pending, key);
    gint64 sent_us;

    if (sent == NULL)
      return;
    sent_us = *sent;
    c->worst_reply_us = MAX (c->worst_reply_us, now - sent_us);
    g_hash_table_remove (m->pending, key);
    if (g_strcmp0 (type, "ok") == 0) {
      g_hash_table_add (c->acked, GINT_TO_POINTER ((gint)hub_test_json_int (frame, "seq")));
      if (c->stalled_since != 0 && sent_us >= c->stalled_since)
        c->acked_while_stalled++;
    } else {
      g_autofree char *text = hub_test_json_encode (frame);

      ck_assert_msg (g_strcmp0 (hub_test_json_string (frame, "code"), "internal") == 0 ||
                         g_strcmp0 (hub_test_json_string (frame, "code"), "rate_limited") == 0,
                     "expected a publish to be acknowledged or refused `internal`, got %s", text);
      c->refused++;
    }
  }
}

/* Publishes and pings as due, services every connection for a few ms, and
 * takes every frame received; reconnects the closed ones. */
static void
pump (Cluster *c)
{
  gint64 now = g_get_monotonic_time ();

  for (guint i = 0; i < c->members->len; i++) {
    Member *m = g_ptr_array_index (c->members, i);

    if (m->ws == NULL || hub_test_ws_is_closed (m->ws))
      continue;
    if (m->hello_retry_us != 0 && now >= m->hello_retry_us)
      send_hello (m);
    if (m->hello_pending || m->hello_retry_us != 0)
      continue;
    if (c->traffic && m->publisher && now >= m->next_publish_us) {
      gint64 id = m->next_id++;
      gint64 *sent = g_new (gint64, 1);

      *sent = now;
      g_hash_table_insert (m->pending, GINT_TO_POINTER ((gint)id), sent);
      g_autofree char *publish =
          g_strdup_printf ("{\"type\":\"publish\",\"id\":%" G_GINT64_FORMAT ",\"room\":\"" ROOM
                           "\",\"payload\":{\"from\":\"%s\"}}",
                           id, m->user);

      /* A connection the server is closing may refuse it: no reply comes. */
      hub_test_ws_try_send_text (m->ws, publish);
      m->next_publish_us = now + PUBLISH_EVERY_MS * G_TIME_SPAN_MILLISECOND;
    }
    if (now >= m->next_ping_us) {
      hub_test_ws_try_send_text (m->ws, "{\"type\":\"ping\"}");
      m->next_ping_us = now + PING_EVERY_MS * G_TIME_SPAN_MILLISECOND;
    }
  }
  hub_test_ws_service (5);
  for (guint i = 0; i < c->members->len; i++) {
    Member *m = g_ptr_array_index (c->members, i);
    JsonObject *frame;

    if (m->ws == NULL)
      continue;
    while ((frame = hub_test_ws_recv_json (m->ws, 0)) != NULL) {
      handle_frame (c, m, frame);
      json_object_unref (frame);
    }
    if (hub_test_ws_is_closed (m->ws) && !m->held) {
      c->unanswered += g_hash_table_size (m->pending);
      g_hash_table_remove_all (m->pending);
      reconnect (m, FALSE);
    } else if (m->silence_ms != 0 && !hub_test_ws_is_closed (m->ws) &&
               g_get_monotonic_time () - m->last_rx_us > m->silence_ms * G_TIME_SPAN_MILLISECOND) {
      /* A silent node: its pongs stopped. The client gives up on it. */
      hub_test_ws_drop (m->ws);
      c->unanswered += g_hash_table_size (m->pending);
      g_hash_table_remove_all (m->pending);
      reconnect (m, TRUE);
    }
  }
}

static void
pump_for (Cluster *c, guint ms)
{
  gint64 until = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;

  while (g_get_monotonic_time () < until)
    pump (c);
}

static gboolean
told_of (Member *m, gint64 seq)
{
  for (guint i = 0; i < m->told->len; i++) {
    Range *r = &g_array_index (m->told, Range, i);

    if (seq >= r->from && seq <= r->to)
      return TRUE;
  }
  return FALSE;
}

/* Acknowledged messages that @m neither received nor was told about. */
static guint
missing_for (Cluster *c, Member *m, gint64 *example)
{
  GHashTableIter iter;
  gpointer seq;
  guint missing = 0;

  g_hash_table_iter_init (&iter, c->acked);
  while (g_hash_table_iter_next (&iter, &seq, NULL)) {
    if (g_hash_table_contains (m->seen, seq) || told_of (m, GPOINTER_TO_INT (seq)))
      continue;
    if (missing++ == 0)
      *example = GPOINTER_TO_INT (seq);
  }
  return missing;
}

static guint
told_count (Member *m)
{
  guint n = 0;

  for (guint i = 0; i < m->told->len; i++)
    n += (guint)(g_array_index (m->told, Range, i).to - g_array_index (m->told, Range, i).from + 1);
  return n;
}

/* Stops publishing, waits (bounded) for the last replies and deliveries,
 * then asserts that every member holds every acknowledged message or was
 * told; prints the figures. */
static void
assert_nothing_lost (Cluster *c, const char *what)
{
  gint64 deadline = g_get_monotonic_time () + DRAIN_MS * G_TIME_SPAN_MILLISECOND;
  guint total_missing = 0, told = 0;

  c->traffic = FALSE;
  for (;;) {
    gboolean settled = TRUE;
    gint64 example = 0;

    pump (c);
    for (guint i = 0; i < c->members->len && settled; i++) {
      Member *m = g_ptr_array_index (c->members, i);

      settled = g_hash_table_size (m->pending) == 0 && !m->hello_pending &&
                m->hello_retry_us == 0 && (!m->member || missing_for (c, m, &example) == 0);
    }
    if (settled || g_get_monotonic_time () > deadline)
      break;
  }
  for (guint i = 0; i < c->members->len; i++) {
    Member *m = g_ptr_array_index (c->members, i);
    gint64 example = 0;
    guint missing;

    if (!m->member)
      continue;
    missing = missing_for (c, m, &example);
    told += told_count (m);
    if (missing > 0)
      fprintf (stderr,
               "%s: %s (node on %u) lacks %u acknowledged messages, seq %" G_GINT64_FORMAT
               " the first found, after %u closes\n",
               what, m->user, m->port, missing, example, m->closes->len);
    total_missing += missing;
  }
  fprintf (stderr,
           "%s: %u acknowledged, %" G_GUINT64_FORMAT " refused internal, %" G_GUINT64_FORMAT
           " unanswered (closed), slowest reply %" G_GINT64_FORMAT
           " ms; %u members: %u missing, %u told incomplete\n",
           what, g_hash_table_size (c->acked), c->refused, c->unanswered, c->worst_reply_us / 1000,
           c->members->len, total_missing, told);
  ck_assert_msg (g_hash_table_size (c->acked) > 0, "expected acknowledged messages");
  ck_assert_msg (total_missing == 0,
                 "expected every acknowledged message delivered to every member or the member "
                 "told, %u missing",
                 total_missing);
}

/* Whether @m saw a `status` event saying @user is @status. */
static gboolean
saw_status (Member *m, const char *user, const char *status)
{
  g_autofree char *line = g_strdup_printf ("%s %s", user, status);

  for (guint i = 0; i < m->statuses->len; i++)
    if (strcmp (g_ptr_array_index (m->statuses, i), line) == 0)
      return TRUE;
  return FALSE;
}

/* --- Redis stalled ------------------------------------------------------------------------------
 */

/* Whether the node's output so far holds @text. */
static gboolean
logged (HubTestServer *server, const char *text)
{
  g_autofree char *out = hub_test_server_output (server);

  return strstr (out, text) != NULL;
}

/* Redis paused for STALL_S (20 s) under traffic, two nodes, --heartbeat 2
 * (liveness TTL 4 s: every node's key expires during the stall). Every
 * request is answered within its deadline (internal while Redis is silent:
 * none is acknowledged), /healthz says 503 from the deadline on and for the
 * whole stall, then 200 again, and each node logs both; on resume no node
 * reaps the other (their keys expired for the same reason), so no connection
 * is dropped from Redis and every acknowledged message reaches all 10
 * members, with no offline event for anyone. On main: /healthz stayed 200,
 * replies waited the whole stall, and one node reaped the other, whose
 * members then missed the messages acknowledged right after. */
START_TEST (redis_stalled_under_traffic_loses_nothing)
{
  HubTestRedis *redis = hub_test_redis_start ();
  /* info: the log says when Redis answers again too (a warning when it is late). */
  g_autoptr (HubTestServer) a =
      hub_test_redis_node (redis, "na", "--heartbeat", "2", "--log-level", "info", NULL);
  g_autoptr (HubTestServer) b =
      hub_test_redis_node (redis, "nb", "--heartbeat", "2", "--log-level", "info", NULL);
  HubTestServer *nodes[] = {a, b};
  guint16 pa = hub_test_server_port (a), pb = hub_test_server_port (b);
  g_autoptr (Cluster) c = cluster_new ();
  const char *const users[] = {"a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3", "b4", NULL};
  Member *wa, *wb;
  guint pid = hub_test_redis_pid (redis);
  gint64 degraded[2] = {0, 0};
  guint healthy_while_degraded[2] = {0, 0}, answered_during_stall = 0;

  for (guint i = 0; users[i] != NULL; i++)
    add_client (c, users[i][0] == 'a' ? pa : pb, users[i], TRUE, users[i][1] == '0', NULL);
  wa = add_client (c, pa, "wa", FALSE, FALSE, users);
  wb = add_client (c, pb, "wb", FALSE, FALSE, users);
  c->traffic = TRUE;
  pump_for (c, 1000);

  stop_process (pid);
  c->stalled_since = g_get_monotonic_time ();
  /* STALL_S of traffic against a silent Redis, /healthz read every 100 ms:
   * 503 within the deadline of the calls, and from then on until Redis goes on. */
  while (g_get_monotonic_time () - c->stalled_since < STALL_S * G_TIME_SPAN_SECOND) {
    gint64 since = g_get_monotonic_time () - c->stalled_since;
    guint64 refused = c->refused;

    pump_for (c, 100);
    answered_during_stall += (guint)(c->refused - refused);
    for (guint n = 0; n < 2; n++) {
      guint status = health_of (hub_test_server_port (nodes[n]));

      if (degraded[n] == 0 && status == 503)
        degraded[n] = since;
      else if (degraded[n] != 0 && status != 503)
        healthy_while_degraded[n]++;
    }
  }
  continue_process (pid);
  fprintf (stderr,
           "redis stalled %d s: /healthz 503 after %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT
           " ms; %u publishes refused during the stall, %" G_GUINT64_FORMAT
           " acknowledged, slowest reply %" G_GINT64_FORMAT " ms\n",
           STALL_S, degraded[0] / 1000, degraded[1] / 1000, answered_during_stall,
           c->acked_while_stalled, c->worst_reply_us / 1000);
  for (guint n = 0; n < 2; n++) {
    ck_assert_msg (
        degraded[n] > 0 && degraded[n] < (STORE_DEADLINE_MS + 1500) * 1000,
        "expected node %s's /healthz 503 within the deadline of its calls (%" G_GINT64_FORMAT
        " ms)",
        hub_test_server_node (nodes[n]), degraded[n] / 1000);
    ck_assert_msg (
        healthy_while_degraded[n] == 0,
        "expected node %s's /healthz 503 for the rest of the stall, %u reads said otherwise",
        hub_test_server_node (nodes[n]), healthy_while_degraded[n]);
  }
  /* Every request answered within its deadline, with an error while Redis is silent. */
  ck_assert_msg (c->worst_reply_us < (STORE_DEADLINE_MS + 1500) * 1000,
                 "expected every request answered within its deadline, one took %" G_GINT64_FORMAT
                 " ms",
                 c->worst_reply_us / 1000);
  ck_assert_msg (answered_during_stall > 0, "expected publishes refused during the stall");
  ck_assert_msg (c->acked_while_stalled == 0,
                 "expected no publish sent to a silent Redis acknowledged, %" G_GUINT64_FORMAT
                 " were",
                 c->acked_while_stalled);
  c->stalled_since = 0;

  /* Healthy again, and serving. */
  for (gint64 until = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
       health_of (pa) != 200 || health_of (pb) != 200;) {
    ck_assert_msg (g_get_monotonic_time () < until, "expected both nodes healthy again");
    pump_for (c, 50);
  }
  pump_for (c, 2000);
  assert_nothing_lost (c, "redis stalled");
  for (guint i = 0; i < c->members->len; i++)
    ck_assert_msg (g_hash_table_size (((Member *)g_ptr_array_index (c->members, i))->pending) == 0,
                   "expected every publish answered");
  ck_assert_msg (c->unanswered == 0,
                 "expected every publish answered (none lost with a connection), %" G_GUINT64_FORMAT
                 " were not",
                 c->unanswered);
  for (guint i = 0; i < c->members->len; i++) {
    Member *m = g_ptr_array_index (c->members, i);

    ck_assert_msg (m->closes->len == 0, "expected %s's connection kept (closed with %u)", m->user,
                   m->closes->len > 0 ? g_array_index (m->closes, guint, 0) : 0);
    ck_assert_msg (m->told->len == 0, "expected %s told of no gap", m->user);
  }
  /* Nobody was reaped: no watcher saw anyone go offline. */
  for (guint i = 0; users[i] != NULL; i++) {
    ck_assert_msg (!saw_status (wa, users[i], "offline"), "expected no offline for %s on a",
                   users[i]);
    ck_assert_msg (!saw_status (wb, users[i], "offline"), "expected no offline for %s on b",
                   users[i]);
  }
  /* What an operator reads: the deadline passed, then Redis answered again. */
  for (guint n = 0; n < 2; n++) {
    ck_assert_msg (logged (nodes[n], "has not answered within 2000 ms; degraded until it does"),
                   "expected node %s to log that Redis is late", hub_test_server_node (nodes[n]));
    ck_assert_msg (logged (nodes[n], "answers again"),
                   "expected node %s to log that Redis answers again",
                   hub_test_server_node (nodes[n]));
  }
}
END_TEST

/* --- Redis killed, restarted empty ---------------------------------------------------------------
 */

/* Redis killed (SIGKILL) under traffic, two nodes: every request is answered
 * within its deadline (internal: Redis is gone), /healthz says 503, and what
 * was acknowledged before reached every member. Redis then comes back empty
 * (no persistence, a lost disk): rooms, memberships and history are gone.
 * The nodes register again, find that Redis no longer knows them, and close
 * every connection with 1001, so no client stays in a room that no longer
 * exists without a word: each one's resume is answered by a welcome that
 * lists no room (a HubClient then joins again, as after the restart of one
 * node). Joined again, the members get every message acknowledged from then
 * on. */
START_TEST (redis_restarted_empty_clients_are_told)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", "--heartbeat", "2", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", "--heartbeat", "2", NULL);
  guint16 pa = hub_test_server_port (a), pb = hub_test_server_port (b);
  g_autoptr (Cluster) c = cluster_new ();
  const char *const users[] = {"a0", "a1", "a2", "b0", "b1", "b2", NULL};
  guint pid = hub_test_redis_pid (redis);
  gint64 killed, until;
  gboolean all_back = FALSE;

  for (guint i = 0; users[i] != NULL; i++)
    add_client (c, users[i][0] == 'a' ? pa : pb, users[i], TRUE, users[i][1] == '0', NULL);
  c->traffic = TRUE;
  pump_for (c, 1000);

  ck_assert_int_eq (kill ((pid_t)pid, SIGKILL), 0);
  hub_test_redis_stop (redis); /* reaps it */
  killed = g_get_monotonic_time ();
  c->stalled_since = killed;
  pump_for (c, 500);
  ck_assert_msg (health_of (pa) == 503 && health_of (pb) == 503,
                 "expected /healthz 503 on both nodes without Redis");
  pump_for (c, 2500);
  ck_assert_msg (c->refused > 0, "expected publishes refused without Redis");
  ck_assert_msg (c->acked_while_stalled == 0,
                 "expected nothing acknowledged without Redis, %" G_GUINT64_FORMAT " were",
                 c->acked_while_stalled);
  ck_assert_msg (c->worst_reply_us < (STORE_DEADLINE_MS + 1500) * 1000,
                 "expected every request answered within its deadline, one took %" G_GINT64_FORMAT
                 " ms",
                 c->worst_reply_us / 1000);
  /* What was acknowledged before reached everyone. */
  assert_nothing_lost (c, "redis killed");
  c->stalled_since = 0;

  hub_test_redis_restart_empty (redis);
  /* Both nodes healthy again, every member closed with 1001 and welcomed back. */
  until = g_get_monotonic_time () + 15 * G_TIME_SPAN_SECOND;
  while (!all_back && g_get_monotonic_time () < until) {
    pump_for (c, 100);
    all_back = health_of (pa) == 200 && health_of (pb) == 200;
    for (guint i = 0; i < c->members->len && all_back; i++) {
      Member *m = g_ptr_array_index (c->members, i);

      all_back = m->welcomes >= 1 && !m->hello_pending && m->hello_retry_us == 0;
    }
  }
  fprintf (stderr,
           "redis restarted empty: nodes healthy and members back after %" G_GINT64_FORMAT
           " ms from the kill\n",
           (g_get_monotonic_time () - killed) / 1000);
  ck_assert_msg (all_back, "expected both nodes healthy and every member welcomed back");
  for (guint i = 0; i < c->members->len; i++) {
    Member *m = g_ptr_array_index (c->members, i);

    ck_assert_msg (m->closes->len == 1 && g_array_index (m->closes, guint, 0) == 1001,
                   "expected %s closed once with 1001 (got %u closes, first %u)", m->user,
                   m->closes->len, m->closes->len > 0 ? g_array_index (m->closes, guint, 0) : 0);
    ck_assert_msg (!m->room_listed, "expected %s's welcome to list no room %s: Redis forgot it",
                   m->user, ROOM);
  }

  /* Joined again (the room starts again at seq 1): accounted afresh. */
  g_hash_table_remove_all (c->acked);
  for (guint i = 0; i < c->members->len; i++) {
    Member *m = g_ptr_array_index (c->members, i);

    json_object_unref (hub_test_ws_ok (m->ws, "{'type':'join','room':'" ROOM "'}"));
    g_hash_table_remove_all (m->seen);
    m->max_seen = 0;
  }
  c->traffic = TRUE;
  pump_for (c, 2000);
  assert_nothing_lost (c, "after the restart");
}
END_TEST

/* --- A node killed ------------------------------------------------------------------------------
 */

/* Three nodes, --heartbeat 2; the third is killed (SIGKILL) under traffic:
 * its users go offline on the others within 3 × heartbeat (§11), the
 * members on the surviving nodes lack no acknowledged message, and the dead
 * node's members, back on a surviving node with `resume`, get what they
 * missed. */
START_TEST (node_killed_under_traffic_loses_nothing)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", "--heartbeat", "2", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", "--heartbeat", "2", NULL);
  HubTestServer *k = hub_test_redis_node (redis, "nk", "--heartbeat", "2", NULL);
  guint16 pa = hub_test_server_port (a), pb = hub_test_server_port (b),
          pk = hub_test_server_port (k);
  g_autoptr (Cluster) c = cluster_new ();
  const char *const killed[] = {"k0", "k1", "k2", NULL};
  const char *const others[] = {"a0", "a1", "a2", "b0", "b1", "b2", NULL};
  Member *watcher;
  gint64 killed_at, offline_ms = -1;

  for (guint i = 0; others[i] != NULL; i++)
    add_client (c, others[i][0] == 'a' ? pa : pb, others[i], TRUE, others[i][1] == '0', NULL);
  for (guint i = 0; killed[i] != NULL; i++)
    add_client (c, pk, killed[i], TRUE, FALSE, NULL);
  watcher = add_client (c, pa, "w", FALSE, FALSE, killed);
  c->traffic = TRUE;
  pump_for (c, 1000);

  /* The dead node's members stay away until they are offline (a connection
   * elsewhere would keep them online), then come back on node a. */
  for (guint i = 0; i < c->members->len; i++) {
    Member *m = g_ptr_array_index (c->members, i);

    if (m->port == pk) {
      m->port = pa;
      m->held = TRUE;
    }
  }
  hub_test_server_kill (k);
  killed_at = g_get_monotonic_time ();
  while (g_get_monotonic_time () - killed_at < 8 * G_TIME_SPAN_SECOND) {
    pump_for (c, 50);
    if (offline_ms < 0 && saw_status (watcher, "k0", "offline") &&
        saw_status (watcher, "k1", "offline") && saw_status (watcher, "k2", "offline"))
      offline_ms = (g_get_monotonic_time () - killed_at) / 1000;
    if (offline_ms >= 0)
      for (guint i = 0; i < c->members->len; i++)
        ((Member *)g_ptr_array_index (c->members, i))->held = FALSE;
  }
  fprintf (stderr, "node killed: its users offline after %" G_GINT64_FORMAT " ms\n", offline_ms);
  ck_assert_msg (offline_ms >= 0 && offline_ms <= 6000,
                 "expected the dead node's users offline within 3 x 2 s, took %" G_GINT64_FORMAT
                 " ms",
                 offline_ms);
  assert_nothing_lost (c, "node killed");
}
END_TEST

/* --- A node stalled -----------------------------------------------------------------------------
 */

/* Node b stalls (SIGSTOP) for STALL_S (20 s) under traffic, --heartbeat 2:
 * node a rightly takes b for dead (TTL 4 s) and reaps it, so its users go
 * offline and the messages a acknowledges meanwhile cannot reach b's
 * connections. b's clients do what a client library does when its node falls
 * silent for 3 x heartbeat: they give up on it and come back elsewhere (node
 * a) with `resume`, which replays what they missed; b0, a publisher, goes on
 * publishing there. One member, b3, stays on b: when b goes on it must not
 * acknowledge anything unregistered and must tell its clients, so b3 is
 * closed with 1001 and its resume on b replays the whole stall. The history
 * holds the whole stall, so nobody may be told of a gap: every acknowledged
 * message reaches every member. */
START_TEST (node_stalled_its_clients_resume_elsewhere)
{
  HubTestRedis *redis = hub_test_redis_start ();
  /* A history that holds the whole stall (50 publishes/s), so the resumes
   * replay it all; a burst that lets the publishes b's clients buffered
   * meanwhile run. */
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", "--heartbeat", "2", "--history",
                                                     "5000", "--burst", "1000", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", "--heartbeat", "2", "--history",
                                                     "5000", "--burst", "1000", NULL);
  guint16 pa = hub_test_server_port (a), pb = hub_test_server_port (b);
  g_autoptr (Cluster) c = cluster_new ();
  const char *const on_b[] = {"b0", "b1", "b2", "b3", NULL};
  const char *const users[] = {"a0", "a1", "a2", "b0", "b1", "b2", "b3", NULL};
  Member *wa, *stayer = NULL;
  guint pid = hub_test_server_pid (b);
  gint64 stopped;
  guint moved = 0;

  for (guint i = 0; users[i] != NULL; i++) {
    Member *m =
        add_client (c, users[i][0] == 'a' ? pa : pb, users[i], TRUE, users[i][1] == '0', NULL);

    if (strcmp (users[i], "b3") == 0) {
      stayer = m;
    } else if (users[i][0] == 'b') {
      m->silence_ms = 3 * 2000;
      m->failover = pa;
    }
  }
  wa = add_client (c, pa, "wa", FALSE, FALSE, on_b);
  add_client (c, pb, "wb", FALSE, FALSE, users);
  c->traffic = TRUE;
  pump_for (c, 1000);

  stop_process (pid);
  stopped = g_get_monotonic_time ();
  pump_for (c, STALL_S * 1000);
  fprintf (stderr, "node stalled %d s: b's clients moved to a after", STALL_S);
  for (guint i = 0; i < c->members->len; i++) {
    Member *m = g_ptr_array_index (c->members, i);

    if (m->failover == 0)
      continue;
    ck_assert_msg (m->port == pa && m->closes->len == 1 &&
                       g_array_index (m->closes, guint, 0) == CLOSED_BY_CLIENT,
                   "expected %s to give up on the silent node and move to node a", m->user);
    ck_assert_msg (!m->hello_pending && m->hello_retry_us == 0, "expected %s welcomed on node a",
                   m->user);
    moved++;
  }
  fprintf (stderr, " %u moved; b3 still on b\n", moved);
  ck_assert_uint_eq (moved, 3);
  ck_assert_msg (saw_status (wa, "b3", "offline"),
                 "expected node b reaped while it was stopped (b3 offline on a)");
  ck_assert_msg (stayer->closes->len == 0, "expected b3 to stay on the stopped node");
  continue_process (pid);
  fprintf (stderr, "node b went on after %" G_GINT64_FORMAT " ms\n",
           (g_get_monotonic_time () - stopped) / 1000);
  pump_for (c, 4000);
  assert_nothing_lost (c, "node stalled");

  for (guint i = 0; i < c->members->len; i++) {
    Member *m = g_ptr_array_index (c->members, i);

    /* Replayed, never told of a gap: nothing acknowledged is lost. */
    ck_assert_msg (m->told->len == 0, "expected %s told of no gap (history holds the stall)",
                   m->user);
    if (m->failover != 0)
      ck_assert_msg (m->replayed > 0, "expected %s's resume on node a to replay what it missed",
                     m->user);
  }
  ck_assert_msg (stayer->closes->len >= 1 && g_array_index (stayer->closes, guint, 0) == 1001,
                 "expected b3, on the reaped node, closed with 1001 (got %u closes, first %u)",
                 stayer->closes->len,
                 stayer->closes->len > 0 ? g_array_index (stayer->closes, guint, 0) : 0);
  ck_assert_msg (stayer->replayed > 0, "expected b3's resume on b to replay the stall");
  ck_assert_msg (logged (b, "may have missed deliveries while cut off"),
                 "expected node b to log why it closes its connections");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("cluster-faults");

  HUB_TEST_ADD (suite, redis_stalled_under_traffic_loses_nothing, 120);
  HUB_TEST_ADD (suite, redis_restarted_empty_clients_are_told, 60);
  HUB_TEST_ADD (suite, node_killed_under_traffic_loses_nothing, 60);
  HUB_TEST_ADD (suite, node_stalled_its_clients_resume_elsewhere, 120);
  return hub_test_run (suite);
}
