/* test-server-shutdown.c: PROTOCOL.md §9 over real sockets: each stop request
 * closes every connection with 1001 after flushing, and the server exits 0 in
 * 5 s. The requests go through hub-test-platform.h: "term" is SIGTERM on Unix
 * and Ctrl-Break on Windows, "int" SIGINT and Ctrl-C; each case runs with both,
 * and says it is skipped where one cannot be delivered (Ctrl-Break under wine). */
#include "hub-test-platform.h"
#include "hub-test-server.h"
#include "hub-test-ws.h"

#define request_name hub_test_platform_stop_name

/* Asks the server to stop (@how; NULL: already asked), then reads
 * every client to its close (so the server can finish its close handshakes)
 * and waits for its exit. */
static void
shut_down (HubTestServer *server, const HubTestStopRequest *how, HubTestWs **clients, guint n)
{
  gint64 start = g_get_monotonic_time (), elapsed;
  const char *name = how != NULL ? request_name (*how) : "the stop request";
  int status = -1;

  if (how != NULL)
    ck_assert_msg (hub_test_server_request_stop (server, *how), "%s should reach the server", name);
  for (guint i = 0; i < n; i++) {
    guint code = hub_test_ws_wait_closed (clients[i], 5000);

    ck_assert_msg (code == 1001, "client %u: expected close 1001 on %s, got %u", i, name, code);
  }
  ck_assert_msg (hub_test_server_wait (server, 6000, &status),
                 "the server should exit within 5 s of %s", name);
  elapsed = (g_get_monotonic_time () - start) / G_TIME_SPAN_MILLISECOND;
  ck_assert_msg (elapsed <= 5000, "exit took %" G_GINT64_FORMAT " ms, more than 5 s", elapsed);
  ck_assert_msg (status == 0, "exit status should be 0, got %d", status);
}

static void
closes_every_connection_1001 (HubTestStopRequest how)
{
  g_autoptr (HubTestServer) server = NULL;
  guint16 port;
  HubTestWs *clients[4];

  HUB_TEST_REQUIRE_STOP_REQUEST (how);
  server = hub_test_server_start (NULL);
  port = hub_test_server_port (server);

  clients[0] = hub_test_ws_open (port); /* before hello */
  clients[1] = hub_test_ws_login (port, "alice", "one");
  clients[2] = hub_test_ws_login (port, "alice", "two");
  clients[3] = hub_test_ws_login (port, "bob", NULL);
  json_object_unref (hub_test_ws_ok (clients[3], "{'type':'join','room':'general'}"));
  shut_down (server, &how, clients, G_N_ELEMENTS (clients));
}

START_TEST (term_closes_every_connection_1001)
{
  closes_every_connection_1001 (HUB_TEST_STOP_TERM);
}
END_TEST

START_TEST (int_closes_every_connection_1001)
{
  closes_every_connection_1001 (HUB_TEST_STOP_INT);
}
END_TEST

static void
idle_server_exits_0 (HubTestStopRequest how)
{
  g_autoptr (HubTestServer) server = NULL;

  HUB_TEST_REQUIRE_STOP_REQUEST (how);
  server = hub_test_server_start (NULL);
  shut_down (server, &how, NULL, 0);
}

START_TEST (term_idle_server_exits_0)
{
  idle_server_exits_0 (HUB_TEST_STOP_TERM);
}
END_TEST

START_TEST (int_idle_server_exits_0)
{
  idle_server_exits_0 (HUB_TEST_STOP_INT);
}
END_TEST

static void
flushes_queued_messages (HubTestStopRequest how)
{
  const guint count = 200;
  g_autoptr (HubTestServer) server = NULL;
  guint16 port;
  HubTestWs *alice, *bob;
  HubTestWs *clients[1];
  g_autofree char *pad = g_strnfill (2000, 'p');
  guint acked = 0, received = 0;

  HUB_TEST_REQUIRE_STOP_REQUEST (how);
  server = hub_test_server_start ("--rate", "100000", "--burst", "100000", NULL);
  port = hub_test_server_port (server);
  alice = hub_test_ws_login (port, "alice", NULL);
  bob = hub_test_ws_login (port, "bob", NULL);
  clients[0] = bob;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'general'}"));
  hub_test_ws_join (bob, "bob", "general");
  /* Bob stops reading so the server holds messages for him when the request comes. */
  hub_test_ws_pause_reading (bob, TRUE);
  for (guint i = 1; i <= count; i++) {
    g_autofree char *request = g_strdup_printf (
        "{\"type\":\"publish\",\"id\":%u,\"room\":\"general\",\"payload\":{\"n\":%u,\"p\":\"%s\"}}",
        i, i, pad);

    hub_test_ws_send_text (alice, request);
  }
  while (acked < count) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (alice, HUB_TEST_WS_TIMEOUT_MS);

    ck_assert_msg (frame != NULL, "alice: reply %u of %u missing", acked + 1, count);
    if (g_strcmp0 (hub_test_json_string (frame, "type"), "ok") == 0)
      acked++;
  }
  ck_assert_msg (hub_test_server_request_stop (server, how), "%s should reach the server",
                 request_name (how));
  hub_test_ws_pause_reading (bob, FALSE);
  shut_down (server, NULL, clients, 1);
  /* Every accepted message reached bob before the close. */
  for (;;) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (bob, 0);

    if (frame == NULL)
      break;
    if (g_strcmp0 (hub_test_json_string (frame, "type"), "message") == 0) {
      ck_assert_int_eq (hub_test_json_int (frame, "seq"), received + 1);
      received++;
    }
  }
  ck_assert_msg (received == count, "bob should get all %u messages before 1001 (%s), got %u",
                 count, request_name (how), received);
}

START_TEST (term_flushes_queued_messages)
{
  flushes_queued_messages (HUB_TEST_STOP_TERM);
}
END_TEST

START_TEST (int_flushes_queued_messages)
{
  flushes_queued_messages (HUB_TEST_STOP_INT);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("shutdown");

  HUB_TEST_ADD (suite, term_closes_every_connection_1001, 30);
  HUB_TEST_ADD (suite, int_closes_every_connection_1001, 30);
  HUB_TEST_ADD (suite, term_idle_server_exits_0, 30);
  HUB_TEST_ADD (suite, int_idle_server_exits_0, 30);
  HUB_TEST_ADD (suite, term_flushes_queued_messages, 30);
  HUB_TEST_ADD (suite, int_flushes_queued_messages, 30);
  return hub_test_run (suite);
}
