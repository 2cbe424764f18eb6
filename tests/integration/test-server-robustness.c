/* test-robustness.c: hostile connection patterns against a real server:
 * thousands of abrupt drops (half of them mid-handshake), idle TCP
 * connections that never send a handshake. The server must keep serving. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <string.h>

#define BATCH 50

static void
expect_healthy (guint16 port)
{
  g_autoptr (HubTestHttpResponse) health = hub_test_http_get (port, "/healthz");
  HubTestWs *alice, *bob;
  g_autoptr (JsonObject) message = NULL;

  ck_assert_msg (health->status == 200, "/healthz should answer 200, got %s", health->status_line);
  alice = hub_test_ws_login (port, "alice", NULL);
  bob = hub_test_ws_login (port, "bob", NULL);
  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'after'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'after'}"));
  hub_test_ws_await_presence (bob, "join", "after", "bob");
  json_object_unref (hub_test_ws_ok (alice, "{'type':'publish','room':'after','payload':{}}"));
  message = hub_test_ws_expect_type (bob, "message", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_str_eq (hub_test_json_string (message, "from"), "alice");
  hub_test_ws_free (alice);
  hub_test_ws_free (bob);
}

static gint64
stat_connections (guint16 port)
{
  g_autoptr (HubTestHttpResponse) response = hub_test_http_get (port, "/api/stats");
  g_autoptr (JsonObject) stats = hub_test_http_response_json (response);

  return hub_test_json_int (stats, "connections");
}

START_TEST (two_thousand_abrupt_drops)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  gint64 deadline = g_get_monotonic_time () + 90 * G_TIME_SPAN_SECOND;
  const char *half = "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConn";
  guint opened = 0, upgraded = 0;
  gint64 left = -1;

  /* Batches of 50 open at once: 25 stop mid-handshake (half a request, or
   * none at all), 25 complete it (5 also say hello); then all are dropped,
   * half of them with a reset instead of a FIN. */
  while (opened < 2000 && g_get_monotonic_time () < deadline) {
    HubTestRawWs *batch[BATCH];

    for (guint i = 0; i < BATCH; i++) {
      g_autoptr (GError) error = NULL;

      batch[i] = hub_test_raw_ws_new (port, &error);
      ck_assert_msg (batch[i] != NULL, "connection %u: %s", opened + i,
                     error ? error->message : "");
      if (i % 4 == 0) {
        hub_test_raw_ws_send_bytes (batch[i], half, strlen (half)); /* half a request */
      } else if (i % 4 == 2) {
        /* TCP only: not a byte of handshake */
      } else if (hub_test_raw_ws_handshake (batch[i], "/ws", "hub.v1") == 101) {
        upgraded++;
        if (i % 5 == 1)
          hub_test_raw_ws_send_text (batch[i], "{\"type\":\"hello\",\"user\":\"ghost\"}");
      }
    }
    for (guint i = 0; i < BATCH; i++) {
      hub_test_raw_ws_abort (batch[i], (i / 2) % 2 == 0);
      hub_test_raw_ws_free (batch[i]);
    }
    opened += BATCH;
  }
  ck_assert_msg (opened == 2000, "only %u connections within the time limit", opened);
  ck_assert_msg (upgraded == 1000, "every complete handshake gets 101, %u of 1000 did", upgraded);
  ck_assert_msg (hub_test_server_is_running (server), "the server survived");
  expect_healthy (port);
  /* Every dropped connection is forgotten. */
  for (int i = 0; i < 100 && (left = stat_connections (port)) != 0; i++)
    hub_test_ws_service (50);
  ck_assert_msg (left == 0,
                 "the server should count 0 connections after the drops, says %" G_GINT64_FORMAT,
                 left);
}
END_TEST

START_TEST (idle_tcp_connections_do_not_block)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (GPtrArray) idle =
      g_ptr_array_new_with_free_func ((GDestroyNotify)hub_test_raw_ws_free);

  /* Connections that never send a byte, and one that sent half a request. */
  for (guint i = 0; i < 100; i++) {
    HubTestRawWs *raw = hub_test_raw_ws_new (port, NULL);

    ck_assert_ptr_nonnull (raw);
    g_ptr_array_add (idle, raw);
  }
  hub_test_raw_ws_send_bytes (g_ptr_array_index (idle, 0), "GET /ws HT", 10);
  expect_healthy (port);
  ck_assert (hub_test_server_is_running (server));
}
END_TEST

START_TEST (garbage_before_handshake)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);

  for (guint i = 0; i < 20; i++) {
    g_autoptr (HubTestRawWs) raw = hub_test_raw_ws_new (port, NULL);
    guint8 junk[512];

    ck_assert_ptr_nonnull (raw);
    for (guint j = 0; j < sizeof junk; j++)
      junk[j] = (guint8)g_random_int ();
    hub_test_raw_ws_send_bytes (raw, junk, sizeof junk);
    hub_test_raw_ws_abort (raw, i % 2 == 0);
  }
  expect_healthy (port);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("robustness");

  HUB_TEST_ADD (suite, two_thousand_abrupt_drops, 120);
  HUB_TEST_ADD (suite, idle_tcp_connections_do_not_block, 30);
  HUB_TEST_ADD (suite, garbage_before_handshake, 30);
  return hub_test_run (suite);
}
