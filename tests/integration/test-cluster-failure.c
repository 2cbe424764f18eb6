/* test-cluster-failure.c: the failure cases of cluster mode: a node killed
 * with SIGKILL (its users go offline elsewhere within 3 × heartbeat), Redis
 * stopped and restarted under traffic (degraded answers, /healthz 503, no
 * accepted message lost, recovery), and Redis losing its data (the nodes
 * register their connections again). */
#include "hub-test-redis.h"
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <string.h>
#ifdef G_OS_UNIX
#include <sys/wait.h>
#endif

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

#ifdef G_OS_UNIX
/* The process id of the redis-server on @port (INFO server). */
static pid_t
redis_pid (guint16 port)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) conn = NULL;
  g_autoptr (GString) info = g_string_new (NULL);
  const char *at = NULL;

  g_socket_client_set_timeout (client, 5);
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, NULL);
  ck_assert_msg (conn != NULL, "expected to reach redis on %u", port);
  ck_assert (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                        "INFO server\r\n", strlen ("INFO server\r\n"), NULL, NULL,
                                        NULL));
  /* The field is near the start: read until its line is complete. */
  while (info->len < 16384 &&
         ((at = strstr (info->str, "\r\nprocess_id:")) == NULL || strchr (at + 2, '\r') == NULL)) {
    char buf[1024];
    gssize n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), buf,
                                    sizeof buf, NULL, NULL);

    ck_assert_msg (n > 0, "expected INFO server from redis, got '%s'", info->str);
    g_string_append_len (info, buf, n);
  }
  ck_assert_msg (at != NULL, "expected process_id in INFO server, got '%s'", info->str);
  return (pid_t)g_ascii_strtoll (at + strlen ("\r\nprocess_id:"), NULL, 10);
}

/* Waits until @pid (a child of this process) is stopped: hub_test_redis_pause()
 * only asks GLib's worker thread to send SIGSTOP, and on a loaded machine it
 * can come after the request the test means to leave unanswered. WNOWAIT
 * leaves the stop to be reported again; GLib's reaper only looks for exits. */
static void
wait_stopped (pid_t pid)
{
  siginfo_t si;

  ck_assert_msg (waitid (P_PID, (id_t)pid, &si, WSTOPPED | WNOWAIT) == 0,
                 "expected process %d to stop: %s", (int)pid, g_strerror (errno));
}
#endif

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

START_TEST (redis_losing_its_data_is_repopulated_by_the_nodes)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", NULL);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (hub_test_server_port (a), "alice", NULL);
  g_autoptr (HubTestWs) bob = hub_test_ws_login (hub_test_server_port (b), "bob", NULL);
  g_autofree char *answer = NULL;
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob']}"));
  answer = redis_command (hub_test_redis_port (redis), "FLUSHALL\r\n");
  ck_assert_str_eq (answer, "+OK\r\n");
  /* Both nodes register again (their first registration was at start). */
  wait_resyncs (hub_test_server_port (a), 2);
  wait_resyncs (hub_test_server_port (b), 2);
  /* Within a liveness refresh each node notices it is unknown and registers
   * its connections and watches again. */
  for (;;) {
    g_autoptr (JsonObject) reply =
        hub_test_ws_call (alice, "{'type':'direct','to':'bob','payload':{'n':1}}");

    if (g_strcmp0 (hub_test_json_string (reply, "type"), "ok") == 0)
      break;
    ck_assert_str_eq (hub_test_json_string (reply, "code"), "user_offline");
    ck_assert_msg (g_get_monotonic_time () < deadline, "expected bob to be registered again");
    g_usleep (50 * G_TIME_SPAN_MILLISECOND);
  }
  json_object_unref (next_of_type (bob, "direct", WAIT_MS));
  /* alice's subscription is back too: bob's status change reaches her. */
  json_object_unref (hub_test_ws_ok (bob, "{'type':'status','status':'busy'}"));
  for (;;) {
    g_autoptr (JsonObject) status = next_of_type (alice, "status", WAIT_MS);

    if (g_strcmp0 (hub_test_json_string (status, "status"), "busy") == 0)
      break;
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
  HUB_TEST_REQUIRE_STOP_REQUEST (); /* a clean stop is what this tests */

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

typedef struct {
  guint16 port;
  HubTestHttpResponse *response; /* (owned) (nullable) */
  gint done;
} Post;

static gpointer
post_room_message (gpointer data)
{
  Post *post = data;

  post->response = hub_test_http_request (post->port, "POST", "/api/publish", NULL,
                                          "{\"room\":\"r\",\"payload\":{\"n\":1}}", NULL);
  g_atomic_int_set (&post->done, 1);
  return NULL;
}

/* POST /api/publish waits for Redis without blocking the node: while Redis
 * is paused (SIGSTOP) the node keeps answering its WebSocket clients at once,
 * and the HTTP answer comes when Redis does. Without Redis: 503. */
START_TEST (http_publish_waits_for_redis_without_stalling_the_node)
{
  HubTestRedis *redis = hub_test_redis_start ();
  /* Pings back to back for 1.5 s: far above the default rate limit. */
  g_autoptr (HubTestServer) a =
      hub_test_redis_node (redis, "na", "--rate", "100000", "--burst", "100000", NULL);
  guint16 pa = hub_test_server_port (a);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (pa, "alice", NULL);
  g_autoptr (JsonObject) message = NULL;
  g_autoptr (JsonObject) body = NULL;
  g_autoptr (HubTestHttpResponse) down = NULL;
  Post post = {pa, NULL, 0};
  GThread *thread;
  gint64 paused_until, worst_us = 0;
  guint pings = 0;
#ifdef G_OS_UNIX
  pid_t redis_stopped;
#endif

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
#ifdef G_OS_UNIX
  redis_stopped = redis_pid (hub_test_redis_port (redis));
#endif
  if (!hub_test_redis_pause (redis, TRUE)) {
    fprintf (stderr, "%s: skipped: redis-server cannot be paused on this platform\n", __func__);
    return;
  }
#ifdef G_OS_UNIX
  wait_stopped (redis_stopped);
#endif
  thread = g_thread_new ("post", post_room_message, &post);
  /* 1.5 s of pings, one after the other: each answered at once. */
  paused_until = g_get_monotonic_time () + 1500 * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < paused_until) {
    gint64 sent = g_get_monotonic_time ();

    g_autoptr (JsonObject) pong = hub_test_ws_call (alice, "{'type':'ping'}");

    ck_assert_str_eq (hub_test_json_string (pong, "type"), "pong");
    worst_us = MAX (worst_us, g_get_monotonic_time () - sent);
    pings++;
  }
  ck_assert_msg (
      worst_us < 500 * G_TIME_SPAN_MILLISECOND,
      "expected every pong within 500 ms while Redis is paused, the slowest took %" G_GINT64_FORMAT
      " ms",
      worst_us / 1000);
  ck_assert_msg (!g_atomic_int_get (&post.done),
                 "expected the HTTP publish to wait for the paused Redis (%u pings meanwhile)",
                 pings);
  hub_test_redis_pause (redis, FALSE);
  g_thread_join (thread);
  ck_assert_msg (post.response != NULL, "expected an answer to the HTTP publish");
  ck_assert_uint_eq (post.response->status, 200);
  body = hub_test_http_response_json (post.response);
  ck_assert_int_eq (hub_test_json_int (body, "seq"), 1);
  message = next_of_type (alice, "message", WAIT_MS);
  ck_assert_int_eq (hub_test_json_int (message, "seq"), 1);
  hub_test_http_response_free (post.response);

  hub_test_redis_stop (redis);
  ck_assert_msg (hub_test_wait_health (pa, 503, WAIT_MS), "expected /healthz 503 without Redis");
  down = hub_test_http_post (pa, "/api/publish", NULL, "{\"room\":\"r\",\"payload\":{}}");
  ck_assert_uint_eq (down->status, 503);
  g_clear_pointer (&body, json_object_unref);
  body = hub_test_http_response_json (down);
  ck_assert_str_eq (hub_test_json_string (body, "code"), "internal");
  ck_assert_str_eq (hub_test_json_string (body, "message"), "cluster broker unavailable");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("cluster-failure");

  HUB_TEST_ADD (suite, node_killed_its_users_go_offline_elsewhere, 30);
  HUB_TEST_ADD (suite, redis_restart_under_traffic_loses_no_accepted_message, 60);
  HUB_TEST_ADD (suite, redis_losing_its_data_is_repopulated_by_the_nodes, 30);
  HUB_TEST_ADD (suite, one_redis_connection_killed_both_are_renewed, 30);
  HUB_TEST_ADD (suite, node_stopped_cleanly_unregisters_at_once, 30);
  HUB_TEST_ADD (suite, http_publish_waits_for_redis_without_stalling_the_node, 30);
  return hub_test_run (suite);
}
