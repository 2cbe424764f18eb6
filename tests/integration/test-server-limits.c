/* test-limits.c: PROTOCOL.md §8 over real sockets: application ping, rate
 * limiting and abuse (4008), slow consumers (4009) and the heartbeat (4002). */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <string.h>

static double
stat_value (guint16 port, const char *name)
{
  g_autoptr (HubTestHttpResponse) response = hub_test_http_get (port, "/api/stats");
  g_autoptr (JsonObject) stats = hub_test_http_response_json (response);

  return (double)hub_test_json_int (stats, name);
}

START_TEST (app_ping_pong)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autoptr (JsonObject) pong = hub_test_ws_call (ws, "{'type':'ping'}");
  gint64 now = g_get_real_time () / 1000, ts;

  ck_assert_str_eq (hub_test_json_string (pong, "type"), "pong");
  ts = hub_test_json_int (pong, "ts");
  ck_assert_msg (ts > now - 10000 && ts < now + 10000, "pong ts is Unix ms, got %" G_GINT64_FORMAT,
                 ts);
}
END_TEST

START_TEST (requests_beyond_the_burst_are_rate_limited)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--rate", "5", "--burst", "5", NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  gboolean limited[12] = {FALSE};
  guint ok = 0, rate_limited = 0;
  int first_limited = -1, first_ok = -1;
  gint64 sending;
  guint refill;
  g_autoptr (JsonObject) not_created = NULL;
  g_autoptr (JsonObject) created = NULL;

  /* Twelve creates on the wire at once (a few ms), against a bucket of 5. */
  sending = g_get_monotonic_time ();
  for (int i = 0; i < 12; i++) {
    g_autofree char *request =
        g_strdup_printf ("{\"type\":\"create\",\"id\":%d,\"room\":\"r%d\"}", i, i);

    hub_test_ws_send_text (ws, request);
  }
  /* Tokens that may have come back while sending (5/s), rounded up. */
  refill = (guint)((g_get_monotonic_time () - sending) * 5 / G_TIME_SPAN_SECOND) + 1;
  for (int i = 0; i < 12; i++) {
    g_autoptr (JsonObject) reply = NULL;
    g_autofree char *text = NULL;

    /* Replies in request order; each carries its request's id. */
    reply = hub_test_ws_recv_json (ws, HUB_TEST_WS_TIMEOUT_MS);
    ck_assert_msg (reply != NULL, "reply %d of 12 missing", i);
    text = hub_test_json_encode (reply);
    ck_assert_msg (hub_test_json_int (reply, "id") == i, "expected the reply to id %d, got %s", i,
                   text);
    if (g_strcmp0 (hub_test_json_string (reply, "type"), "ok") == 0) {
      ok++;
      if (first_ok < 0)
        first_ok = i;
    } else {
      ck_assert_msg (g_strcmp0 (hub_test_json_string (reply, "code"), "rate_limited") == 0,
                     "expected ok or rate_limited, got %s", text);
      limited[i] = TRUE;
      rate_limited++;
      if (first_limited < 0)
        first_limited = i;
    }
  }
  ck_assert_msg (ok >= 4 && ok <= 5 + refill,
                 "the burst (5, less the hello) passes, plus at most %u refilled; %u did", refill,
                 ok);
  ck_assert_msg (ok + rate_limited == 12, "the rest is rate_limited, %u were", rate_limited);
  ck_assert_msg (rate_limited >= 3, "12 requests at once exceed a burst of 5");
  ck_assert_int_eq (first_ok, 0);
  ck_assert_msg (!limited[0] && first_limited > 0, "the first passes, later ones are limited");

  /* Rate-limited requests were not executed. After a refill (5/s), check one
   * of each kind. */
  hub_test_ws_service (1100);
  not_created = hub_test_ws_call (ws, "{'type':'room_info','room':'r11'}");
  ck_assert_str_eq (hub_test_json_string (not_created, "code"), "room_not_found");
  created = hub_test_ws_call (ws, "{'type':'room_info','room':'r0'}");
  ck_assert_str_eq (hub_test_json_string (created, "type"), "ok");
}
END_TEST

START_TEST (flood_closes_4008)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--rate", "5", "--burst", "5", NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  HubTestWs *calm = hub_test_ws_login (hub_test_server_port (server), "bob", NULL);
  gint64 start = g_get_monotonic_time ();
  gint64 deadline = start + 6 * G_TIME_SPAN_SECOND;
  guint sent = 0, code;

  /* About 300 requests/s, far above 10 × 5/s, until the server closes. */
  while (!hub_test_ws_is_closed (ws) && g_get_monotonic_time () < deadline) {
    for (int i = 0; i < 15; i++)
      if (hub_test_ws_try_send_text (ws, "{\"type\":\"ping\",\"id\":1}"))
        sent++;
    hub_test_ws_service (50);
  }
  code = hub_test_ws_wait_closed (ws, 1000);
  ck_assert_msg (code == 4008, "a flood of %u requests should be closed with 4008, got %u", sent,
                 code);
  ck_assert_msg (g_get_monotonic_time () - start >= 900 * G_TIME_SPAN_MILLISECOND,
                 "4008 needs two consecutive seconds of abuse");
  /* Others are unaffected. */
  hub_test_ws_barrier (calm);
}
END_TEST

/* Reads @ws's next frame: message @seq + 1 of room flood, in order. */
static void
expect_next_message (HubTestWs *ws, const char *who, guint *seq, guint sent)
{
  g_autoptr (JsonObject) frame = hub_test_ws_recv_json (ws, 10000);
  g_autofree char *text = NULL;

  ck_assert_msg (frame != NULL, "%s: message %u of %u missing", who, *seq + 1, sent);
  text = hub_test_json_encode (frame);
  ck_assert_msg (g_strcmp0 (hub_test_json_string (frame, "type"), "message") == 0 &&
                     hub_test_json_int (frame, "seq") == *seq + 1,
                 "%s: expected message %u, got %.200s", who, *seq + 1, text);
  (*seq)++;
}

START_TEST (slow_consumer_closed_4009_others_keep_receiving)
{
  const guint count = 400;
  g_autoptr (HubTestServer) server = hub_test_server_start ("--max-queue-bytes", "262144", "--rate",
                                                            "100000", "--burst", "100000", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *slow = hub_test_ws_login (port, "slow", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  HubTestWs *carol = hub_test_ws_login (port, "carol", NULL);
  g_autofree char *pad = g_strnfill (32000, 'p');
  guint carol_seq = 0, bob_seq = 0, sent;
  gint64 slow_seq = 0;
  guint code;

  json_object_unref (hub_test_ws_ok (slow, "{'type':'join','room':'flood'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'flood'}"));
  json_object_unref (hub_test_ws_ok (carol, "{'type':'join','room':'flood'}"));
  hub_test_ws_await_presence (slow, "join", "flood", "carol");
  hub_test_ws_await_presence (bob, "join", "flood", "carol");
  hub_test_ws_await_presence (carol, "join", "flood", "carol");
  hub_test_ws_pause_reading (slow, TRUE);

  /* Up to 13 MB, more than socket buffers and the 256 KiB queue hold, until
   * the server gives up on the slow one (it counts it in /api/stats). */
  for (sent = 0; sent < count;) {
    g_autofree char *request = NULL;

    sent++;
    request = g_strdup_printf (
        "{\"type\":\"publish\",\"room\":\"flood\",\"payload\":{\"n\":%u,\"pad\":\"%s\"}}", sent,
        pad);
    hub_test_ws_send_text (carol, request);
    /* Paced by bob, who reads everything: carol stays a few messages ahead
     * of the server, so the close is seen here within a few messages (the
     * slow one then has what is left of its 5 s to read up to its close
     * frame), not after the megabytes carol's own socket can hold (under
     * wine, 4 MB: the server had long closed it when this saw it). */
    while (bob_seq + 8 < sent)
      expect_next_message (bob, "bob", &bob_seq, sent);
    if (sent % 10 == 0 && stat_value (port, "slow_consumer_closes_total") >= 1)
      break;
  }
  for (int i = 0; i < 100 && stat_value (port, "slow_consumer_closes_total") < 1; i++)
    hub_test_ws_service (50);
  ck_assert_msg (stat_value (port, "slow_consumer_closes_total") >= 1,
                 "slow_consumer_closes_total should count the slow consumer (%u messages sent)",
                 sent);
  /* Reading again at once (well within 5 s), it finds an in-order prefix,
   * then close 4009. */
  hub_test_ws_pause_reading (slow, FALSE);
  code = hub_test_ws_wait_closed (slow, 10000);
  ck_assert_msg (code == 4009, "the slow consumer should be closed with 4009, got %u", code);
  /* The others get everything, in order. */
  while (bob_seq < sent)
    expect_next_message (bob, "bob", &bob_seq, sent);
  while (carol_seq < sent) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (carol, 10000);

    ck_assert_msg (frame != NULL, "carol: message %u of %u missing", carol_seq + 1, sent);
    ck_assert_str_eq (hub_test_json_string (frame, "type"), "message");
    ck_assert_int_eq (hub_test_json_int (frame, "seq"), carol_seq + 1);
    carol_seq++;
  }
  for (;;) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (slow, 0);

    if (frame == NULL)
      break;
    if (g_strcmp0 (hub_test_json_string (frame, "type"), "message") == 0) {
      ck_assert_int_eq (hub_test_json_int (frame, "seq"), slow_seq + 1);
      slow_seq++;
    }
  }
  ck_assert_msg (slow_seq < sent, "the slow consumer cannot have received everything");
}
END_TEST

START_TEST (silent_raw_client_closed_by_heartbeat)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--heartbeat", "1", NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestRawWs) raw = hub_test_raw_ws_new (port, NULL);
  HubTestWs *lively = NULL;
  gint64 start, elapsed;
  guint pings = 0, code = 0;

  ck_assert_ptr_nonnull (raw);
  ck_assert_uint_eq (hub_test_raw_ws_handshake (raw, "/ws", "hub.v1"), 101);
  ck_assert (hub_test_raw_ws_send_text (raw, "{\"type\":\"hello\",\"id\":1,\"user\":\"mute\"}"));
  start = g_get_monotonic_time ();
  lively = hub_test_ws_login (port, "alice", NULL); /* answers pings: lws does */
  /* Read everything the server sends to the raw client, answering nothing. */
  while (code == 0 && g_get_monotonic_time () - start < 8 * G_TIME_SPAN_SECOND) {
    g_autoptr (GBytes) payload = NULL;
    int opcode = hub_test_raw_ws_read_frame (raw, 20, &payload);

    if (opcode == 0x9)
      pings++;
    else if (opcode == 0x8) {
      gsize len = 0;
      const guint8 *p = g_bytes_get_data (payload, &len);

      code = len >= 2 ? (guint)(p[0] << 8 | p[1]) : 1005;
    } else if (opcode == -2)
      code = HUB_TEST_WS_CLOSED_ABNORMALLY;
    hub_test_ws_service (5);
  }
  elapsed = (g_get_monotonic_time () - start) / G_TIME_SPAN_MILLISECOND;
  ck_assert_msg (
      code == 4002 || code == HUB_TEST_WS_CLOSED_ABNORMALLY,
      "a client silent for 3 heartbeats is closed (4002 or dropped), got %u after %" G_GINT64_FORMAT
      " ms",
      code, elapsed);
  ck_assert_msg (elapsed >= 2000 && elapsed <= 6000,
                 "closed after about 3 × 1 s of silence, took %" G_GINT64_FORMAT " ms", elapsed);
  ck_assert_msg (pings >= 1, "the server pings every heartbeat_s (got %u pings)", pings);
  /* The client that answers pings outlives 3 heartbeats. */
  hub_test_ws_service (MAX (0, 4000 - elapsed));
  hub_test_ws_barrier (lively);
  ck_assert (!hub_test_ws_is_closed (lively));
}
END_TEST

START_TEST (paused_client_closed_by_heartbeat)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--heartbeat", "1", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *paused = hub_test_ws_login (port, "alice", NULL);
  gint64 start = g_get_monotonic_time (), elapsed;
  double before = stat_value (port, "connections");
  guint code;

  hub_test_ws_pause_reading (paused, TRUE);
  /* The server counts its connections; it ends the unresponsive one. */
  while (stat_value (port, "connections") >= before &&
         g_get_monotonic_time () - start < 8 * G_TIME_SPAN_SECOND)
    hub_test_ws_service (100);
  elapsed = (g_get_monotonic_time () - start) / G_TIME_SPAN_MILLISECOND;
  ck_assert_msg (elapsed >= 2000 && elapsed <= 6000,
                 "an unresponsive client goes after about 3 s, took %" G_GINT64_FORMAT " ms",
                 elapsed);
  hub_test_ws_pause_reading (paused, FALSE);
  code = hub_test_ws_wait_closed (paused, 5000);
  ck_assert_msg (code == 4002 || code == HUB_TEST_WS_CLOSED_ABNORMALLY,
                 "expected 4002 (or a dropped connection), got %u", code);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("limits");

  HUB_TEST_ADD (suite, app_ping_pong, 30);
  HUB_TEST_ADD (suite, requests_beyond_the_burst_are_rate_limited, 30);
  HUB_TEST_ADD (suite, flood_closes_4008, 30);
  HUB_TEST_ADD (suite, slow_consumer_closed_4009_others_keep_receiving, 90);
  HUB_TEST_ADD (suite, silent_raw_client_closed_by_heartbeat, 30);
  HUB_TEST_ADD (suite, paused_client_closed_by_heartbeat, 30);
  return hub_test_run (suite);
}
