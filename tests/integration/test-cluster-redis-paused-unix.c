/* test-cluster-redis-paused-unix.c: cluster mode while Redis is paused
 * (SIGSTOP: its connections stay open and nothing is answered): the node keeps
 * serving its clients, and POST /api/publish waits for Redis without blocking
 * it. Unix: Redis is paused with a signal and the test waits until it is
 * stopped (moved out of test-cluster-failure.c for that). */
#include "hub-test-redis.h"
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>

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
  /* Pings back to back for 1.5 s: far above the default rate limit. The
   * publish waits for the paused Redis within a deadline well beyond it
   * (test-cluster-faults tests the deadline itself). */
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", "--rate", "100000", "--burst",
                                                     "100000", "--redis-timeout", "10000", NULL);
  guint16 pa = hub_test_server_port (a);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (pa, "alice", NULL);
  g_autoptr (JsonObject) message = NULL;
  g_autoptr (JsonObject) body = NULL;
  g_autoptr (HubTestHttpResponse) down = NULL;
  Post post = {pa, NULL, 0};
  GThread *thread;
  gint64 paused_until, worst_us = 0;
  guint pings = 0;
  pid_t redis_stopped;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  redis_stopped = redis_pid (hub_test_redis_port (redis));
  if (!hub_test_redis_pause (redis, TRUE)) {
    fprintf (stderr, "%s: skipped: redis-server cannot be paused on this platform\n", __func__);
    return;
  }
  wait_stopped (redis_stopped);
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
  Suite *suite = suite_create ("cluster-redis-paused");

  HUB_TEST_ADD (suite, http_publish_waits_for_redis_without_stalling_the_node, 30);
  return hub_test_run (suite);
}
