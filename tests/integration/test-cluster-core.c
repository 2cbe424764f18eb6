/* test-cluster-core.c: PROTOCOL.md §11 with a real redis-server and two or
 * three hub-server nodes: rooms, publish, direct, multicast, broadcast,
 * typing, presence, statuses, history and resume behave as one server
 * whichever node each client is on. */
#include "hub-test-redis.h"
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <string.h>

#define WAIT_MS 5000

/* The next frame of @type, skipping frames of other types (events of other
 * users may interleave across nodes); fails the test on timeout. */
static JsonObject *
next_of_type (HubTestWs *ws, const char *type)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
    JsonObject *frame;

    ck_assert_msg (left > 0, "expected a '%s' frame within %d ms", type, WAIT_MS);
    frame = hub_test_ws_recv_json (ws, (guint)left);
    ck_assert_msg (frame != NULL, "expected a '%s' frame within %d ms", type, WAIT_MS);
    if (g_strcmp0 (hub_test_json_string (frame, "type"), type) == 0)
      return frame;
    json_object_unref (frame);
  }
}

/* No frame of @type arrives within @ms (other frames are discarded). */
static void
none_of_type (HubTestWs *ws, const char *type, guint ms)
{
  gint64 deadline = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
    g_autoptr (JsonObject) frame = NULL;

    if (left <= 0)
      return;
    frame = hub_test_ws_recv_json (ws, (guint)left);
    if (frame == NULL)
      return;
    ck_assert_msg (g_strcmp0 (hub_test_json_string (frame, "type"), type) != 0,
                   "expected no '%s' frame, got %s", type, hub_test_json_encode (frame));
  }
}

static void
expect_message (HubTestWs *ws, const char *room, gint64 seq, const char *from, gint64 n)
{
  g_autoptr (JsonObject) frame = next_of_type (ws, "message");

  ck_assert_str_eq (hub_test_json_string (frame, "room"), room);
  ck_assert_int_eq (hub_test_json_int (frame, "seq"), seq);
  ck_assert_str_eq (hub_test_json_string (frame, "from"), from);
  ck_assert_int_eq (hub_test_json_int (hub_test_json_object (frame, "payload"), "n"), n);
}

static void
expect_status (HubTestWs *ws, const char *user, const char *status)
{
  g_autoptr (JsonObject) frame = next_of_type (ws, "status");

  ck_assert_str_eq (hub_test_json_string (frame, "user"), user);
  ck_assert_str_eq (hub_test_json_string (frame, "status"), status);
}

static guint16
port_of (HubTestServer *node)
{
  return hub_test_server_port (node);
}

START_TEST (welcome_names_each_node_and_ids_are_unique)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", NULL);
  g_autoptr (HubTestWs) wa = hub_test_ws_open (port_of (a));
  g_autoptr (HubTestWs) wb = hub_test_ws_open (port_of (b));
  g_autoptr (JsonObject) welcome_a = hub_test_ws_hello (wa, "alice", "phone");
  g_autoptr (JsonObject) welcome_b = hub_test_ws_hello (wb, "alice", "laptop");

  ck_assert_str_eq (hub_test_json_string (welcome_a, "node"), "na");
  ck_assert_str_eq (hub_test_json_string (welcome_b, "node"), "nb");
  ck_assert_str_ne (hub_test_json_string (welcome_a, "conn"),
                    hub_test_json_string (welcome_b, "conn"));
  ck_assert_str_eq (hub_test_server_first_line (a) + strlen (hub_test_server_first_line (a)) -
                        strlen ("mode=cluster"),
                    "mode=cluster");
}
END_TEST

START_TEST (publish_across_two_nodes_one_seq_order)
{
  HubTestRedis *redis = hub_test_redis_start ();
  /* One node on each event loop: Redis' source works on both. */
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", "--event-loop", "glib", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", "--event-loop", "uv", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (port_of (a), "alice", "phone");
  g_autoptr (HubTestWs) bob = hub_test_ws_login (port_of (b), "bob", "phone");
  g_autoptr (JsonObject) joined = NULL;
  g_autoptr (JsonObject) presence = NULL;
  g_autoptr (JsonObject) ok = NULL;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'general'}"));
  joined = hub_test_ws_ok (bob, "{'type':'join','room':'general'}");
  ck_assert_int_eq (json_array_get_length (hub_test_json_array (joined, "members")), 2);
  /* alice, on the other node, hears her own join, then bob's. */
  presence = next_of_type (alice, "presence");
  ck_assert_str_eq (hub_test_json_string (presence, "user"), "alice");
  g_clear_pointer (&presence, json_object_unref);
  presence = next_of_type (alice, "presence");
  ck_assert_str_eq (hub_test_json_string (presence, "user"), "bob");
  ck_assert_str_eq (hub_test_json_string (presence, "event"), "join");

  ok = hub_test_ws_ok (alice, "{'type':'publish','room':'general','payload':{'n':1}}");
  ck_assert_int_eq (hub_test_json_int (ok, "seq"), 1);
  expect_message (bob, "general", 1, "alice", 1);
  expect_message (alice, "general", 1, "alice", 1);
  json_object_unref (hub_test_ws_ok (bob, "{'type':'publish','room':'general','payload':{'n':2}}"));
  expect_message (alice, "general", 2, "bob", 2);
  expect_message (bob, "general", 2, "bob", 2);

  /* Errors come from the shared state too. */
  hub_test_ws_err (bob, "room_not_found", "{'type':'history','room':'nope','since':0}");
  json_object_unref (hub_test_ws_ok (alice, "{'type':'create','room':'made'}"));
  hub_test_ws_err (bob, "room_exists", "{'type':'create','room':'made'}");
  hub_test_ws_err (bob, "not_member", "{'type':'publish','room':'made','payload':{}}");
}
END_TEST

START_TEST (interleaved_publishes_from_three_nodes_have_no_gap)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", NULL);
  g_autoptr (HubTestServer) c = hub_test_redis_node (redis, "nc", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (port_of (a), "alice", NULL);
  g_autoptr (HubTestWs) bob = hub_test_ws_login (port_of (b), "bob", NULL);
  g_autoptr (HubTestWs) carol = hub_test_ws_login (port_of (c), "carol", NULL);
  HubTestWs *readers[] = {alice, bob, carol};
  const guint per_sender = 60;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (carol, "{'type':'join','room':'r'}"));
  /* Fire-and-forget from two nodes at once: Redis orders them. */
  for (guint i = 0; i < per_sender; i++) {
    hub_test_ws_sendf (alice, "{'type':'publish','room':'r','payload':{'n':%u}}", i);
    hub_test_ws_sendf (bob, "{'type':'publish','room':'r','payload':{'n':%u}}", i);
  }
  for (guint r = 0; r < G_N_ELEMENTS (readers); r++)
    for (gint64 seq = 1; seq <= 2 * per_sender; seq++) {
      g_autoptr (JsonObject) frame = next_of_type (readers[r], "message");

      ck_assert_msg (hub_test_json_int (frame, "seq") == seq,
                     "expected reader %u to get seq %" G_GINT64_FORMAT " next, got %s", r, seq,
                     hub_test_json_encode (frame));
    }
}
END_TEST

START_TEST (direct_multicast_broadcast_across_three_nodes)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", NULL);
  g_autoptr (HubTestServer) c = hub_test_redis_node (redis, "nc", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (port_of (a), "alice", "phone");
  g_autoptr (HubTestWs) alice2 = hub_test_ws_login (port_of (c), "alice", "laptop");
  g_autoptr (HubTestWs) bob = hub_test_ws_login (port_of (b), "bob", NULL);
  g_autoptr (HubTestWs) carol = hub_test_ws_login (port_of (c), "carol", NULL);
  g_autoptr (JsonObject) ok = NULL;
  g_autoptr (JsonObject) mc = NULL;
  g_autoptr (JsonObject) frame = NULL;
  JsonArray *offline;

  ok = hub_test_ws_ok (alice, "{'type':'direct','to':'bob','payload':{'n':7}}");
  ck_assert_int_eq (hub_test_json_int (ok, "delivered"), 1);
  frame = next_of_type (bob, "direct");
  ck_assert_str_eq (hub_test_json_string (frame, "from"), "alice");
  g_clear_pointer (&frame, json_object_unref);
  /* The sender's other device, on another node, gets a copy. */
  frame = next_of_type (alice2, "direct");
  ck_assert_str_eq (hub_test_json_string (frame, "to"), "bob");
  g_clear_pointer (&frame, json_object_unref);
  hub_test_ws_err (alice, "user_offline", "{'type':'direct','to':'dave','payload':{}}");

  mc = hub_test_ws_ok (alice,
                       "{'type':'multicast','to':['bob','carol','dave','bob'],'payload':{'n':8}}");
  ck_assert_int_eq (hub_test_json_int (mc, "delivered"), 2);
  offline = hub_test_json_array (mc, "offline");
  ck_assert_int_eq (json_array_get_length (offline), 1);
  ck_assert_str_eq (json_array_get_string_element (offline, 0), "dave");
  json_object_unref (next_of_type (bob, "multicast"));
  json_object_unref (next_of_type (carol, "multicast"));

  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (bob, "{'type':'broadcast','payload':{'n':9}}");
  ck_assert_int_eq (hub_test_json_int (ok, "delivered"), 1); /* bob's node holds only bob */
  json_object_unref (next_of_type (alice, "broadcast"));
  json_object_unref (next_of_type (alice2, "broadcast"));
  json_object_unref (next_of_type (bob, "broadcast"));
  json_object_unref (next_of_type (carol, "broadcast"));
}
END_TEST

START_TEST (typing_presence_and_statuses_across_nodes)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (port_of (a), "alice", NULL);
  g_autoptr (HubTestWs) bob = NULL;
  g_autoptr (JsonObject) sub = NULL;
  g_autoptr (JsonObject) frame = NULL;
  g_autoptr (JsonObject) online = NULL;
  g_autoptr (JsonObject) who = NULL;
  JsonObject *bob_entry;

  sub = hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob']}");
  ck_assert_str_eq (hub_test_json_string (hub_test_json_object (sub, "statuses"), "bob"),
                    "offline");
  bob = hub_test_ws_login (port_of (b), "bob", NULL);
  expect_status (alice, "bob", "online");

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'typing','room':'r'}"));
  frame = next_of_type (alice, "typing");
  ck_assert_str_eq (hub_test_json_string (frame, "user"), "bob");
  none_of_type (bob, "typing", 300); /* not to the typer */

  json_object_unref (hub_test_ws_ok (bob, "{'type':'status','status':'away'}"));
  expect_status (alice, "bob", "away");
  online = hub_test_ws_ok (alice, "{'type':'online'}");
  ck_assert_int_eq (hub_test_json_int (online, "count"), 2);
  who = hub_test_ws_ok (alice, "{'type':'who','room':'r'}");
  bob_entry = hub_test_json_array_find (hub_test_json_array (who, "members"), "user", "bob");
  ck_assert_ptr_nonnull (bob_entry);
  ck_assert_str_eq (hub_test_json_string (bob_entry, "status"), "away");
  ck_assert_int_eq (hub_test_json_int (bob_entry, "devices"), 1);

  json_object_unref (hub_test_ws_ok (bob, "{'type':'leave','room':'r'}"));
  g_clear_pointer (&frame, json_object_unref);
  frame = next_of_type (alice, "presence");
  ck_assert_str_eq (hub_test_json_string (frame, "event"), "leave");
  ck_assert_str_eq (hub_test_json_string (frame, "user"), "bob");

  hub_test_ws_close (bob, 1000);
  expect_status (alice, "bob", "offline");
}
END_TEST

/* PROTOCOL.md §7 with --presence-grace 2: a user whose last connection goes
 * and who comes back within the grace on the other node never went offline
 * (no event, its status kept); one that does not come back goes offline once
 * the grace is over, not before. */
START_TEST (presence_grace_holds_across_nodes)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", "--presence-grace", "2", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", "--presence-grace", "2", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (port_of (b), "alice", NULL);
  g_autoptr (HubTestWs) bob = hub_test_ws_login (port_of (a), "bob", NULL);
  g_autoptr (HubTestWs) bob2 = NULL;
  g_autoptr (JsonObject) sub = NULL;
  g_autoptr (JsonObject) online = NULL;
  gint64 closed_at, offline_after_ms;

  sub = hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob']}");
  ck_assert_str_eq (hub_test_json_string (hub_test_json_object (sub, "statuses"), "bob"), "online");
  json_object_unref (hub_test_ws_ok (bob, "{'type':'status','status':'away'}"));
  expect_status (alice, "bob", "away");

  /* bob's only connection (node na) goes; he is back on nb within 2 s. */
  hub_test_ws_close (bob, 1000);
  none_of_type (alice, "status", 500);
  bob2 = hub_test_ws_login (port_of (b), "bob", NULL);
  none_of_type (alice, "status", 2500); /* past the first grace: no offline, no online */
  g_clear_pointer (&sub, json_object_unref);
  sub = hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob']}");
  ck_assert_msg (
      g_strcmp0 (hub_test_json_string (hub_test_json_object (sub, "statuses"), "bob"), "away") == 0,
      "bob came back within the grace: still 'away', got %s", hub_test_json_encode (sub));

  /* Now he stays away: offline after the grace, with the other node's timer. */
  hub_test_ws_close (bob2, 1000);
  closed_at = g_get_monotonic_time ();
  online = hub_test_ws_ok (alice, "{'type':'online'}");
  ck_assert_int_eq (hub_test_json_int (online, "count"), 2); /* within grace: still online */
  expect_status (alice, "bob", "offline");
  offline_after_ms = (g_get_monotonic_time () - closed_at) / 1000;
  ck_assert_msg (offline_after_ms >= 1800 && offline_after_ms <= 3500,
                 "expected 'offline' about 2 s after the close, got it after %" G_GINT64_FORMAT
                 " ms",
                 offline_after_ms);
  g_clear_pointer (&online, json_object_unref);
  online = hub_test_ws_ok (alice, "{'type':'online'}");
  ck_assert_int_eq (hub_test_json_int (online, "count"), 1);
}
END_TEST

START_TEST (history_resume_and_rooms_across_nodes)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (port_of (a), "alice", NULL);
  g_autoptr (HubTestWs) bob = hub_test_ws_login (port_of (b), "bob", NULL);
  g_autoptr (HubTestWs) bob2 = NULL;
  g_autoptr (JsonObject) history = NULL;
  g_autoptr (JsonObject) info = NULL;
  g_autoptr (JsonObject) rooms = NULL;
  g_autoptr (JsonObject) welcome = NULL;
  g_autoptr (JsonObject) resumed = NULL;
  JsonArray *messages;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r','name':'Room R'}"));
  for (int i = 1; i <= 3; i++)
    json_object_unref (
        hub_test_ws_ok (alice, "{'type':'publish','room':'r','payload':{'n':%d}}", i));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'r'}"));
  history = hub_test_ws_ok (bob, "{'type':'history','room':'r','since':1}");
  messages = hub_test_json_array (history, "messages");
  ck_assert_int_eq (json_array_get_length (messages), 2);
  ck_assert_int_eq (json_object_get_int_member (json_array_get_object_element (messages, 0), "seq"),
                    2);
  ck_assert (hub_test_json_bool (history, "complete"));

  info = hub_test_ws_ok (bob, "{'type':'room_info','room':'r'}");
  ck_assert_str_eq (hub_test_json_string (info, "name"), "Room R");
  ck_assert_int_eq (hub_test_json_int (info, "members"), 2);
  ck_assert_int_eq (hub_test_json_int (info, "messages"), 3);
  ck_assert_int_eq (hub_test_json_int (info, "seq"), 3);
  rooms = hub_test_ws_ok (bob, "{'type':'rooms'}");
  ck_assert_int_eq (json_array_get_length (hub_test_json_array (rooms, "rooms")), 1);

  /* bob drops; two messages later he comes back on the other node. */
  hub_test_ws_close (bob, 1000);
  for (int i = 4; i <= 5; i++)
    json_object_unref (
        hub_test_ws_ok (alice, "{'type':'publish','room':'r','payload':{'n':%d}}", i));
  bob2 = hub_test_ws_open (port_of (a));
  hub_test_ws_sendf (bob2, "{'type':'hello','id':1,'user':'bob','resume':{'r':3}}");
  welcome = hub_test_ws_expect_type (bob2, "welcome", WAIT_MS);
  ck_assert (hub_test_json_array_has_string (hub_test_json_array (welcome, "rooms"), "r"));
  expect_message (bob2, "r", 4, "alice", 4);
  expect_message (bob2, "r", 5, "alice", 5);
  resumed = hub_test_ws_expect_type (bob2, "resumed", WAIT_MS);
  ck_assert_int_eq (hub_test_json_int (resumed, "from"), 4);
  ck_assert_int_eq (hub_test_json_int (resumed, "to"), 5);
  ck_assert (hub_test_json_bool (resumed, "complete"));

  /* The last member leaving deletes the room everywhere. */
  json_object_unref (hub_test_ws_ok (alice, "{'type':'leave','room':'r'}"));
  json_object_unref (hub_test_ws_ok (bob2, "{'type':'leave','room':'r'}"));
  hub_test_ws_err (bob2, "room_not_found", "{'type':'room_info','room':'r'}");
}
END_TEST

START_TEST (stats_metrics_and_health_show_the_cluster)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (port_of (a), "alice", NULL);
  g_autoptr (HubTestHttpResponse) health = hub_test_http_get (port_of (a), "/healthz");
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;
  g_autoptr (JsonObject) stats = NULL;
  g_autoptr (HubTestHttpResponse) metrics = NULL;
  double nodes = 0;

  ck_assert_uint_eq (health->status, 200);
  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  /* Each node publishes its figures with its liveness refresh (every 250 ms here). */
  for (;;) {
    g_autoptr (HubTestHttpResponse) res = hub_test_http_get (port_of (b), "/api/stats");
    JsonObject *all;

    g_clear_pointer (&stats, json_object_unref);
    stats = hub_test_http_response_json (res);
    all = hub_test_json_object (stats, "nodes");
    if (json_object_has_member (all, "na") && json_object_has_member (all, "nb") &&
        hub_test_json_int (json_object_get_object_member (all, "na"), "connections") == 1 &&
        hub_test_json_int (stats, "rooms") == 1)
      break;
    ck_assert_msg (g_get_monotonic_time () < deadline,
                   "expected /api/stats of nb to list na (1 connection) and nb, 1 room: %s",
                   res->body);
    g_usleep (50 * G_TIME_SPAN_MILLISECOND);
  }
  ck_assert_str_eq (hub_test_json_string (stats, "node"), "nb");
  ck_assert_int_eq (hub_test_json_int (stats, "connections"), 0);
  metrics = hub_test_http_get (port_of (a), "/metrics");
  ck_assert (hub_test_metric_value (metrics->body, "hub_cluster_nodes", &nodes));
  ck_assert_msg (nodes == 2, "expected hub_cluster_nodes 2, got %g", nodes);
}
END_TEST

/* The figures node @from's /api/stats holds for node @node (NULL when it
 * lists no such node). (transfer full) */
static JsonObject *
figures_of (guint16 from, const char *node)
{
  g_autoptr (HubTestHttpResponse) res = hub_test_http_get (from, "/api/stats");
  g_autoptr (JsonObject) stats = NULL;
  JsonObject *nodes;

  ck_assert_uint_eq (res->status, 200);
  stats = hub_test_http_response_json (res);
  nodes = hub_test_json_object (stats, "nodes");
  if (!json_object_has_member (nodes, node))
    return NULL;
  return json_object_ref (json_object_get_object_member (nodes, node));
}

/* §10: every node's /api/stats lists a node from its start (its first
 * /healthz 200), and every node's figures there are at most 2 s old. With the
 * default heartbeat (30 s) the liveness refresh, which carried the figures,
 * came every 7.5 s: a new node was listed elsewhere seconds late, and figures
 * were as old. */
START_TEST (stats_list_a_node_from_its_start_with_fresh_figures)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", "--heartbeat", "30", NULL);
  /* Returns at nb's first /healthz 200. */
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", "--heartbeat", "30", NULL);
  g_autoptr (JsonObject) listed = figures_of (port_of (a), "nb");
  g_autoptr (JsonObject) self = figures_of (port_of (b), "nb");
  g_autoptr (HubTestWs) alice = NULL;
  gint64 connected, fresh_ms;

  ck_assert_msg (listed != NULL, "expected na's /api/stats to list nb once nb is healthy");
  ck_assert_msg (self != NULL, "expected nb's /api/stats to list nb itself");
  ck_assert_int_eq (hub_test_json_int (listed, "connections"), 0);
  /* A change on nb shows on na within 2 s. */
  alice = hub_test_ws_login (port_of (b), "alice", NULL);
  connected = g_get_monotonic_time ();
  for (;;) {
    g_autoptr (JsonObject) figures = figures_of (port_of (a), "nb");

    fresh_ms = (g_get_monotonic_time () - connected) / 1000;
    if (figures != NULL && hub_test_json_int (figures, "connections") == 1)
      break;
    ck_assert_msg (fresh_ms <= 2000,
                   "expected nb's new connection in na's /api/stats within 2 s (%" G_GINT64_FORMAT
                   " ms)",
                   fresh_ms);
    g_usleep (20 * G_TIME_SPAN_MILLISECOND);
  }
  fprintf (stderr, "nb's new connection listed by na after %" G_GINT64_FORMAT " ms\n", fresh_ms);
  /* A node stopped cleanly leaves the list at once. */
  if (hub_test_server_request_stop (b, HUB_TEST_STOP_TERM)) {
    int status = -1;

    ck_assert (hub_test_server_wait (b, 5000, &status));
    g_clear_pointer (&listed, json_object_unref);
    listed = figures_of (port_of (a), "nb");
    ck_assert_msg (listed == NULL, "expected nb gone from na's /api/stats once it stopped");
  }
}
END_TEST

START_TEST (http_publish_on_one_node_reaches_the_others)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (port_of (a), "alice", NULL);
  g_autoptr (HubTestHttpResponse) res = NULL;
  g_autoptr (JsonObject) body = NULL;
  g_autoptr (JsonObject) frame = NULL;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'publish','room':'r','payload':{'n':1}}"));
  res = hub_test_http_post (port_of (b), "/api/publish", NULL,
                            "{\"room\":\"r\",\"payload\":{\"n\":2}}");
  ck_assert_uint_eq (res->status, 200);
  body = hub_test_http_response_json (res);
  ck_assert_int_eq (hub_test_json_int (body, "seq"), 2);
  expect_message (alice, "r", 1, "alice", 1);
  expect_message (alice, "r", 2, "@api", 2);
  g_clear_pointer (&res, hub_test_http_response_free);
  g_clear_pointer (&body, json_object_unref);

  res = hub_test_http_post (port_of (b), "/api/publish", NULL,
                            "{\"to\":\"alice\",\"payload\":{\"n\":3}}");
  ck_assert_uint_eq (res->status, 200);
  body = hub_test_http_response_json (res);
  ck_assert_int_eq (hub_test_json_int (body, "delivered"), 1);
  frame = next_of_type (alice, "direct");
  ck_assert_str_eq (hub_test_json_string (frame, "from"), "@api");
  g_clear_pointer (&res, hub_test_http_response_free);

  res = hub_test_http_post (port_of (b), "/api/publish", NULL,
                            "{\"broadcast\":true,\"payload\":{\"n\":4}}");
  ck_assert_uint_eq (res->status, 200);
  json_object_unref (next_of_type (alice, "broadcast"));
  g_clear_pointer (&res, hub_test_http_response_free);

  res =
      hub_test_http_post (port_of (b), "/api/publish", NULL, "{\"room\":\"nope\",\"payload\":{}}");
  ck_assert_uint_eq (res->status, 404);
  g_clear_pointer (&res, hub_test_http_response_free);
  res =
      hub_test_http_post (port_of (b), "/api/publish", NULL, "{\"to\":\"nobody\",\"payload\":{}}");
  ck_assert_uint_eq (res->status, 404);
}
END_TEST

START_TEST (requests_pipelined_after_hello_run_after_the_welcome)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestWs) ws = hub_test_ws_open (port_of (a));
  g_autoptr (JsonObject) welcome = NULL;
  g_autoptr (JsonObject) joined = NULL;
  g_autoptr (JsonObject) published = NULL;

  /* No wait between them: the join and publish wait for the welcome, in order. */
  hub_test_ws_sendf (ws, "{'type':'hello','id':1,'user':'alice'}");
  hub_test_ws_sendf (ws, "{'type':'join','id':2,'room':'r'}");
  hub_test_ws_sendf (ws, "{'type':'publish','id':3,'room':'r','payload':{'n':1}}");
  welcome = hub_test_ws_expect_type (ws, "welcome", WAIT_MS);
  joined = next_of_type (ws, "ok");
  ck_assert_int_eq (hub_test_json_int (joined, "id"), 2);
  published = next_of_type (ws, "ok");
  ck_assert_int_eq (hub_test_json_int (published, "id"), 3);
  ck_assert_int_eq (hub_test_json_int (published, "seq"), 1);
}
END_TEST

/* A connection's replies come in the order of its requests, as on one node:
 * a ping sent right after a publish is answered after the publish, although
 * the publish waits for Redis and a ping does not need it. */
START_TEST (pong_never_overtakes_a_reply_waiting_for_redis)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (port_of (a), "alice", NULL);
  g_autoptr (JsonObject) pong = NULL;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  for (int i = 1; i <= 20; i++) {
    hub_test_ws_sendf (alice, "{'type':'publish','id':%d,'room':'r','payload':{'n':%d}}", 1000 + i,
                       i);
    hub_test_ws_sendf (alice, "{'type':'ping','id':%d}", 2000 + i);
    hub_test_ws_sendf (alice, "{'type':'room_info','id':%d,'room':'r'}", 3000 + i);
    hub_test_ws_sendf (alice, "{'type':'ping','id':%d}", 4000 + i);
    for (int k = 1; k <= 4; k++) {
      g_autoptr (JsonObject) reply = NULL;

      /* Skip the events (alice's own messages, her join's presence). */
      do {
        g_clear_pointer (&reply, json_object_unref);
        reply = hub_test_ws_recv_json (alice, WAIT_MS);
        ck_assert_msg (reply != NULL, "expected reply %d of round %d", k, i);
      } while (!json_object_has_member (reply, "id"));
      ck_assert_msg (hub_test_json_int (reply, "id") == k * 1000 + i,
                     "round %d: expected the reply to id %d, got %s", i, k * 1000 + i,
                     hub_test_json_encode (reply));
    }
  }
  /* Nothing waiting: a ping is still answered. */
  pong = hub_test_ws_call (alice, "{'type':'ping'}");
  ck_assert_str_eq (hub_test_json_string (pong, "type"), "pong");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("cluster-core");

  hub_test_skip_without ("redis-server");
  HUB_TEST_ADD (suite, welcome_names_each_node_and_ids_are_unique, 30);
  HUB_TEST_ADD (suite, publish_across_two_nodes_one_seq_order, 30);
  HUB_TEST_ADD (suite, interleaved_publishes_from_three_nodes_have_no_gap, 60);
  HUB_TEST_ADD (suite, direct_multicast_broadcast_across_three_nodes, 30);
  HUB_TEST_ADD (suite, typing_presence_and_statuses_across_nodes, 30);
  HUB_TEST_ADD (suite, presence_grace_holds_across_nodes, 30);
  HUB_TEST_ADD (suite, history_resume_and_rooms_across_nodes, 30);
  HUB_TEST_ADD (suite, stats_metrics_and_health_show_the_cluster, 30);
  HUB_TEST_ADD (suite, stats_list_a_node_from_its_start_with_fresh_figures, 30);
  HUB_TEST_ADD (suite, http_publish_on_one_node_reaches_the_others, 30);
  HUB_TEST_ADD (suite, requests_pipelined_after_hello_run_after_the_welcome, 30);
  HUB_TEST_ADD (suite, pong_never_overtakes_a_reply_waiting_for_redis, 30);
  return hub_test_run (suite);
}
