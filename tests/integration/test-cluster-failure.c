/* test-cluster-failure.c: the failure cases of cluster mode: a node killed
 * with SIGKILL (its users go offline elsewhere within 3 × heartbeat), Redis
 * stopped and restarted under traffic (degraded answers, /healthz 503, no
 * accepted message lost, recovery), and Redis losing its data (the nodes
 * register again and close their connections with 1001). */
#include "hub-test-redis.h"
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <string.h>

#define WAIT_MS 5000

static JsonObject *
next_of_type (HubTestWs *ws, const char *type, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + timeout_ms * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
    JsonObject *frame;

    ck_assert_msg (left > 0, "expected a '%s' frame within %u ms", type, timeout_ms);
    frame = hub_test_ws_recv_json (ws, (guint)left);
    ck_assert_msg (frame != NULL, "expected a '%s' frame within %u ms", type, timeout_ms);
    if (g_strcmp0 (hub_test_json_string (frame, "type"), type) == 0)
      return frame;
    json_object_unref (frame);
  }
}

/* Sends a raw Redis command line to @port and returns the first line of the answer. */
static char *
redis_command (guint16 port, const char *line)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) conn = NULL;
  char buf[256] = {0};
  gssize n;

  g_socket_client_set_timeout (client, 5);
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, NULL);
  ck_assert_msg (conn != NULL, "expected to reach redis on %u", port);
  ck_assert (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), line,
                                        strlen (line), NULL, NULL, NULL));
  n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), buf, sizeof buf - 1,
                           NULL, NULL);
  ck_assert_msg (n > 0, "expected an answer from redis to %s", line);
  return g_strdup (buf);
}

START_TEST (node_killed_its_users_go_offline_elsewhere)
{
  HubTestRedis *redis = hub_test_redis_start ();
  /* Heartbeat 2 s: the 3 × heartbeat bound keeps a margin on a loaded machine. */
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", "--heartbeat", "2", NULL);
  HubTestServer *b = hub_test_redis_node (redis, "nb", "--heartbeat", "2", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (hub_test_server_port (a), "alice", NULL);
  g_autoptr (HubTestWs) bob = hub_test_ws_login (hub_test_server_port (b), "bob", NULL);
  g_autoptr (JsonObject) sub = NULL;
  g_autoptr (JsonObject) status = NULL;
  g_autoptr (JsonObject) online = NULL;
  g_autoptr (JsonObject) who = NULL;
  JsonObject *entry;
  gint64 killed_at, elapsed_ms;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'r'}"));
  sub = hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob']}");
  ck_assert_str_eq (hub_test_json_string (hub_test_json_object (sub, "statuses"), "bob"), "online");

  hub_test_server_kill (b); /* SIGKILL: no goodbye to Redis */
  killed_at = g_get_monotonic_time ();
  /* §11: within 3 × heartbeat (2 s here). */
  status = next_of_type (alice, "status", 7000);
  elapsed_ms = (g_get_monotonic_time () - killed_at) / 1000;
  ck_assert_str_eq (hub_test_json_string (status, "user"), "bob");
  ck_assert_str_eq (hub_test_json_string (status, "status"), "offline");
  ck_assert_msg (elapsed_ms <= 6000,
                 "expected bob offline within 3 x 2 s, took %" G_GINT64_FORMAT " ms", elapsed_ms);

  online = hub_test_ws_ok (alice, "{'type':'online'}");
  ck_assert_int_eq (hub_test_json_int (online, "count"), 1);
  who = hub_test_ws_ok (alice, "{'type':'who','room':'r'}");
  entry = hub_test_json_array_find (hub_test_json_array (who, "members"), "user", "bob");
  ck_assert_ptr_nonnull (entry);
  ck_assert_str_eq (hub_test_json_string (entry, "status"), "offline");
  ck_assert_int_eq (hub_test_json_int (entry, "devices"), 0);
  hub_test_ws_err (alice, "user_offline", "{'type':'direct','to':'bob','payload':{}}");
  /* Membership belongs to the user: bob is still a member. */
  ck_assert_int_eq (json_array_get_length (hub_test_json_array (who, "members")), 2);
}
END_TEST

/* Publishes with an id until the reply is ok (returns its seq) or, when
 * @until_error, until an `internal` error (returns 0). */
static gint64
publish (HubTestWs *ws, int n, GArray *accepted)
{
  g_autoptr (JsonObject) reply =
      hub_test_ws_call (ws, "{'type':'publish','room':'r','payload':{'n':%d}}", n);
  const char *type = hub_test_json_string (reply, "type");

  if (g_strcmp0 (type, "ok") == 0) {
    gint64 seq = hub_test_json_int (reply, "seq");

    g_array_append_val (accepted, seq);
    return seq;
  }
  ck_assert_str_eq (type, "error");
  ck_assert_str_eq (hub_test_json_string (reply, "code"), "internal");
  ck_assert_str_eq (hub_test_json_string (reply, "message"), "cluster broker unavailable");
  return 0;
}

START_TEST (redis_restart_under_traffic_loses_no_accepted_message)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", "--event-loop", "uv", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", "--event-loop", "glib", NULL);
  guint16 pa = hub_test_server_port (a), pb = hub_test_server_port (b);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (pa, "alice", NULL);
  g_autoptr (HubTestWs) bob = hub_test_ws_login (pb, "bob", NULL);
  g_autoptr (GArray) accepted = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (HubTestHttpResponse) health = NULL;
  g_autoptr (JsonObject) health_json = NULL;
  g_autoptr (JsonObject) history = NULL;
  g_autoptr (JsonObject) pong = NULL;
  JsonArray *messages;
  guint errors = 0;
  int n = 0;
  gint64 deadline;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'r'}"));
  for (; n < 20; n++)
    ck_assert_int_gt (publish (alice, n, accepted), 0);

  hub_test_redis_stop (redis);
  ck_assert_msg (hub_test_wait_health (pa, 503, WAIT_MS), "expected /healthz 503 without Redis");
  health = hub_test_http_get (pa, "/healthz");
  health_json = hub_test_http_response_json (health);
  ck_assert_str_eq (hub_test_json_string (health_json, "status"), "degraded");
  /* Requests that need Redis are refused, not accepted and lost. */
  for (int i = 0; i < 10; i++, n++)
    if (publish (alice, n, accepted) == 0)
      errors++;
  ck_assert_uint_eq (errors, 10);
  hub_test_ws_err (bob, "internal", "{'type':'join','room':'x'}");
  pong = hub_test_ws_call (bob, "{'type':'ping'}");
  ck_assert_str_eq (hub_test_json_string (pong, "type"), "pong");

  hub_test_redis_restart (redis);
  ck_assert_msg (hub_test_wait_health (pa, 200, 10000), "expected na healthy again");
  ck_assert_msg (hub_test_wait_health (pb, 200, 10000), "expected nb healthy again");
  /* Traffic goes on: every publish is answered, ok or internal, never lost. */
  deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;
  for (guint ok = 0; ok < 20; n++) {
    ck_assert_msg (g_get_monotonic_time () < deadline, "expected publishes to succeed again");
    if (publish (alice, n, accepted) != 0)
      ok++;
  }
  /* The live path works again across nodes (nb re-subscribed and re-registered bob). */
  json_object_unref (hub_test_ws_ok (alice, "{'type':'direct','to':'bob','payload':{'n':-1}}"));
  json_object_unref (next_of_type (bob, "direct", WAIT_MS));

  /* Every accepted seq is in the room's history, in one gapless order. */
  history = hub_test_ws_ok (bob, "{'type':'history','room':'r','since':0,'limit':100}");
  messages = hub_test_json_array (history, "messages");
  ck_assert_uint_eq (json_array_get_length (messages), accepted->len);
  for (guint i = 0; i < accepted->len; i++) {
    JsonObject *m = json_array_get_object_element (messages, i);

    ck_assert_int_eq (json_object_get_int_member (m, "seq"), g_array_index (accepted, gint64, i));
    ck_assert_int_eq (json_object_get_int_member (m, "seq"), (gint64)i + 1);
  }
  /* Nothing above may have cost a node its life (a crash during the restart
   * shows here even when the other checks pass). */
  ck_assert_msg (hub_test_server_is_running (a), "expected node na (uv loop) still running");
  ck_assert_msg (hub_test_server_is_running (b), "expected node nb (glib loop) still running");
}
END_TEST

/* Polls /metrics of the node at @port until hub_cluster_resyncs_total >= @n. */
static void
wait_resyncs (guint16 port, double n)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    g_autoptr (HubTestHttpResponse) m = hub_test_http_get (port, "/metrics");
    double v = 0;

    if (hub_test_metric_value (m->body, "hub_cluster_resyncs_total", &v) && v >= n)
      return;
    ck_assert_msg (g_get_monotonic_time () < deadline,
                   "expected node on %u to register again (resyncs %g < %g)", port, v, n);
    g_usleep (20 * G_TIME_SPAN_MILLISECOND);
  }
}

/* Redis lost its data (FLUSHALL here; a restart without persistence is
 * the same, test-cluster-faults): memberships and history are gone, so the
 * nodes' connections would no longer get their rooms' messages, and nothing
 * would tell them. Each node, registering again, finds Redis no longer knows
 * it and closes its connections with 1001 (§9: reconnect and resume); a
 * client back with `resume` learns from welcome that it is in no room any
 * more (as after the restart of a single node), and presence, watches and
 * the live path work again. */
START_TEST (redis_losing_its_data_closes_connections_so_clients_learn)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", NULL);
  guint16 pa = hub_test_server_port (a), pb = hub_test_server_port (b);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (pa, "alice", NULL);
  g_autoptr (HubTestWs) bob = hub_test_ws_login (pb, "bob", NULL);
  /* A watcher on bob's own node. */
  g_autoptr (HubTestWs) carol = hub_test_ws_login (pb, "carol", NULL);
  g_autoptr (JsonObject) welcome = NULL;
  g_autofree char *answer = NULL;
  HubTestWs **clients[] = {&alice, &bob, &carol};
  const guint16 ports[] = {pa, pb, pb};
  const char *const names[] = {"alice", "bob", "carol"};

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'publish','room':'r','payload':{}}"));
  json_object_unref (next_of_type (bob, "message", WAIT_MS));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob']}"));
  json_object_unref (hub_test_ws_ok (carol, "{'type':'subscribe','users':['bob']}"));
  answer = redis_command (hub_test_redis_port (redis), "FLUSHALL\r\n");
  ck_assert_str_eq (answer, "+OK\r\n");
  /* Within a liveness refresh each node notices it is unknown, registers
   * again, and tells its clients. */
  for (guint i = 0; i < G_N_ELEMENTS (clients); i++) {
    guint code = hub_test_ws_wait_closed (*clients[i], WAIT_MS);

    ck_assert_msg (code == 1001, "expected %s closed with 1001, got %u", names[i], code);
    g_clear_pointer (clients[i], hub_test_ws_free);
  }
  wait_resyncs (pa, 2);
  wait_resyncs (pb, 2);

  /* bob comes back with resume: his welcome says he is in no room (a
   * HubClient then asks room_info and joins r again, as after the restart
   * of a single node). */
  bob = hub_test_ws_open (pb);
  hub_test_ws_send_text (bob,
                         "{\"type\":\"hello\",\"id\":1,\"user\":\"bob\",\"resume\":{\"r\":1}}");
  welcome = hub_test_ws_expect_type (bob, "welcome", WAIT_MS);
  ck_assert_msg (!hub_test_json_array_has_string (hub_test_json_array (welcome, "rooms"), "r"),
                 "expected bob's welcome to list no room r: Redis forgot it");
  alice = hub_test_ws_login (ports[0], "alice", NULL);
  carol = hub_test_ws_login (ports[2], "carol", NULL);
  json_object_unref (hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob']}"));
  json_object_unref (hub_test_ws_ok (carol, "{'type':'subscribe','users':['bob']}"));
  /* The live path and the watches work again, across nodes and on bob's own. */
  json_object_unref (hub_test_ws_ok (alice, "{'type':'direct','to':'bob','payload':{'n':1}}"));
  json_object_unref (next_of_type (bob, "direct", WAIT_MS));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'status','status':'busy'}"));
  for (guint i = 0; i < 2; i++) {
    HubTestWs *watcher = i == 0 ? alice : carol;

    for (;;) {
      g_autoptr (JsonObject) status = next_of_type (watcher, "status", WAIT_MS);

      if (g_strcmp0 (hub_test_json_string (status, "status"), "busy") == 0)
        break;
    }
  }
}
END_TEST

/* Redis closes the subscriber connections only (CLIENT KILL TYPE pubsub): each
 * node drops its command connection too and reconnects both, and the live
 * path works again with every message delivered once. */
START_TEST (one_redis_connection_killed_both_are_renewed)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", "--event-loop", "uv", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", "--event-loop", "glib", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (hub_test_server_port (a), "alice", NULL);
  g_autoptr (HubTestWs) bob = hub_test_ws_login (hub_test_server_port (b), "bob", NULL);
  g_autofree char *answer = NULL;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'r'}"));
  answer = redis_command (hub_test_redis_port (redis), "CLIENT KILL TYPE pubsub\r\n");
  ck_assert_str_eq (answer, ":2\r\n");
  /* Each node registers again once it is back (the first time was at start). */
  wait_resyncs (hub_test_server_port (a), 2);
  wait_resyncs (hub_test_server_port (b), 2);
  /* Two messages reach bob in order, each once: a second delivery of the
   * first would come before the second. */
  for (gint64 n = 0; n < 2; n++) {
    g_autoptr (JsonObject) ok =
        hub_test_ws_ok (alice, "{'type':'publish','room':'r','payload':{}}");
    g_autoptr (JsonObject) message = next_of_type (bob, "message", WAIT_MS);

    ck_assert_int_eq (hub_test_json_int (message, "seq"), hub_test_json_int (ok, "seq"));
  }
  ck_assert_msg (hub_test_server_is_running (a), "expected node na (uv loop) still running");
  ck_assert_msg (hub_test_server_is_running (b), "expected node nb (glib loop) still running");
}
END_TEST

START_TEST (node_stopped_cleanly_unregisters_at_once)
{
  /* A clean stop is what this tests: hub_test_server_stop sends SIGTERM, or Ctrl-C where
   * Ctrl-Break cannot be delivered (wine), so it needs one of them at least. */
  HUB_TEST_REQUIRE_STOP_REQUEST (HUB_TEST_STOP_INT);

  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", "--heartbeat", "30", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", "--heartbeat", "30", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (hub_test_server_port (a), "alice", NULL);
  g_autoptr (HubTestWs) bob = hub_test_ws_login (hub_test_server_port (b), "bob", NULL);
  g_autoptr (JsonObject) status = NULL;
  int exit_status = -1;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob']}"));
  ck_assert (hub_test_server_stop (b, 5000, &exit_status, NULL));
  ck_assert_int_eq (exit_status, 0);
  /* Long before 3 × 30 s: the node said it was going. */
  status = next_of_type (alice, "status", 2000);
  ck_assert_str_eq (hub_test_json_string (status, "user"), "bob");
  ck_assert_str_eq (hub_test_json_string (status, "status"), "offline");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("cluster-failure");

  hub_test_skip_without ("redis-server");
  HUB_TEST_ADD (suite, node_killed_its_users_go_offline_elsewhere, 30);
  HUB_TEST_ADD (suite, redis_restart_under_traffic_loses_no_accepted_message, 60);
  HUB_TEST_ADD (suite, redis_losing_its_data_closes_connections_so_clients_learn, 30);
  HUB_TEST_ADD (suite, one_redis_connection_killed_both_are_renewed, 30);
  HUB_TEST_ADD (suite, node_stopped_cleanly_unregisters_at_once, 30);
  return hub_test_run (suite);
}
