/* test-server-guard.c: the bounds of PROTOCOL.md §8 and the HTTP hardening
 * over real sockets, one behaviour each: connections in all, per address and
 * per user; the small limit before hello; welcome's limits; 414 and 431;
 * h2c answered in HTTP/1.1; the admin token checked at the headers; the
 * request deadline; invalid close codes answered 1002. (test-abuse.c attacks
 * the same bounds at scale and measures the server meanwhile.) */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <hub/hub.h>
#include <string.h>

/* The HTTP status of GET /healthz, or 0. */
static guint
healthz (guint16 port)
{
  static const char request[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

  return hub_test_raw_http (port, request, sizeof request - 1, 5000, NULL);
}

/* An upgrade by the test's WebSocket client: its HTTP status (101 or the refusal). */
static guint
upgrade_status (guint16 port, HubTestRawWs **kept)
{
  HubTestRawWs *raw = hub_test_raw_ws_new (port, NULL);
  guint status;

  ck_assert_ptr_nonnull (raw);
  status = hub_test_raw_ws_handshake (raw, "/ws", "hub.v1");
  if (kept != NULL && status == 101)
    *kept = raw;
  else
    hub_test_raw_ws_free (raw);
  return status;
}

START_TEST (max_connections_refused_503_healthz_answers)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--max-connections", "5", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestRawWs *open[5] = {NULL};
  g_autofree char *head = NULL;
  static const char upgrade[] = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

  for (int i = 0; i < 5; i++)
    ck_assert_uint_eq (upgrade_status (port, &open[i]), 101);
  ck_assert_uint_eq (hub_test_raw_http (port, upgrade, sizeof upgrade - 1, 5000, &head), 503);
  {
    g_autofree char *lower = g_ascii_strdown (head, -1);

    ck_assert_msg (strstr (lower, "\r\nretry-after:") != NULL, "503 says when to retry:\n%s", head);
  }
  ck_assert_uint_eq (healthz (port), 200);
  hub_test_raw_ws_free (open[0]);
  /* A place is free again once the server saw the first one go. */
  for (int i = 0; i < 100 && upgrade_status (port, &open[0]) != 101; i++)
    hub_test_ws_service (20);
  ck_assert_ptr_nonnull (open[0]);
  for (int i = 0; i < 5; i++)
    hub_test_raw_ws_free (open[i]);
}
END_TEST

START_TEST (per_address_bound_503)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--max-connections-per-address", "3",
                                                            "--address-limit-exempt", "none", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestRawWs *open[3] = {NULL};

  for (int i = 0; i < 3; i++)
    ck_assert_uint_eq (upgrade_status (port, &open[i]), 101);
  ck_assert_uint_eq (upgrade_status (port, NULL), 503);
  ck_assert_uint_eq (healthz (port), 200);
  for (int i = 0; i < 3; i++)
    hub_test_raw_ws_free (open[i]);
}
END_TEST

/* Loopback is exempt by default: a local proxy or load generator. */
START_TEST (loopback_exempt_by_default)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--max-connections-per-address", "2", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestRawWs *open[4] = {NULL};

  for (int i = 0; i < 4; i++)
    ck_assert_uint_eq (upgrade_status (port, &open[i]), 101);
  for (int i = 0; i < 4; i++)
    hub_test_raw_ws_free (open[i]);
}
END_TEST

START_TEST (per_user_bound_at_hello)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--max-connections-per-user", "2", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *a = hub_test_ws_login (port, "alice", "one");
  HubTestWs *b = hub_test_ws_login (port, "alice", "two");
  HubTestWs *c = hub_test_ws_open (port);
  g_autoptr (JsonObject) refused = NULL;
  g_autoptr (JsonObject) welcome = NULL;

  (void)a;
  (void)b;
  refused = hub_test_ws_call (c, "{'type':'hello','user':'alice','device':'three'}");
  ck_assert_str_eq (hub_test_json_string (refused, "code"), "rate_limited");
  ck_assert_msg (strstr (hub_test_json_string (refused, "message"), "at most 2") != NULL, "%s",
                 hub_test_json_string (refused, "message"));
  hub_test_ws_drop (a);
  /* The server forgets the dropped one: the retry succeeds (§3). */
  for (int i = 0; i < 100 && welcome == NULL; i++) {
    g_autoptr (JsonObject) r =
        hub_test_ws_call (c, "{'type':'hello','user':'alice','device':'three'}");

    if (g_strcmp0 (hub_test_json_string (r, "type"), "welcome") == 0)
      welcome = json_object_ref (r);
    else
      hub_test_ws_service (20);
  }
  ck_assert_ptr_nonnull (welcome);
}
END_TEST

START_TEST (welcome_reports_limits)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--max-connections-per-user", "7", "--fanout-rate", "1000", NULL);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  g_autoptr (JsonObject) welcome = hub_test_ws_hello (ws, "alice", NULL);
  JsonObject *limits = hub_test_json_object (welcome, "limits");

  ck_assert_int_eq (hub_test_json_int (limits, "max_connections_per_user"), 7);
  ck_assert_int_eq (hub_test_json_int (limits, "fanout_bytes_per_s"), 1000);
  ck_assert_int_eq (hub_test_json_int (limits, "max_subscriptions_per_user"), 10000);
  ck_assert_int_eq (hub_test_json_int (limits, "rate_per_s"), 100);
  ck_assert_int_eq (hub_test_json_int (limits, "burst"), 200);
}
END_TEST

/* Before hello 8 KiB is the most, but for the first message (a hello with a
 * long resume): a larger one closes 1009, saying why. */
START_TEST (pre_hello_frame_limit_1009)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestRawWs) raw = hub_test_raw_ws_new (port, NULL);
  GString *big = g_string_new ("{\"type\":\"ping\",\"x\":\"");
  g_autoptr (GBytes) payload = NULL;
  int opcode = 0;
  HubTestWs *ok = hub_test_ws_login (port, "alice", NULL);
  g_autofree char *pad = g_strnfill (9000, 'x');
  g_autofree char *after = g_strdup_printf ("{\"type\":\"ping\",\"id\":1,\"x\":\"%s\"}", pad);

  while (big->len < 9000)
    g_string_append_c (big, 'x');
  g_string_append (big, "\"}");
  ck_assert_uint_eq (hub_test_raw_ws_handshake (raw, "/ws", "hub.v1"), 101);
  ck_assert (hub_test_raw_ws_send_text (raw, big->str)); /* the first: not_authenticated */
  ck_assert (hub_test_raw_ws_send_text (raw, big->str));
  for (int i = 0; i < 50 && opcode != 0x8; i++) {
    g_clear_pointer (&payload, g_bytes_unref);
    opcode = hub_test_raw_ws_read_frame (raw, 100, &payload);
  }
  ck_assert_int_eq (opcode, 0x8);
  {
    gsize len = 0;
    const guint8 *p = g_bytes_get_data (payload, &len);
    g_autofree char *reason = g_strndup ((const char *)p + 2, len - 2);

    ck_assert_uint_eq ((guint)(p[0] << 8 | p[1]), 1009);
    ck_assert_str_eq (reason, "message too big before hello");
  }
  /* After hello, the same frame is fine. */
  hub_test_ws_send_text (ok, after);
  json_object_unref (hub_test_ws_expect_type (ok, "pong", HUB_TEST_WS_TIMEOUT_MS));
  g_string_free (big, TRUE);
}
END_TEST

/* A hello resuming 500 rooms (about 12 KB) is welcome as the first message. */
START_TEST (large_first_hello_accepted)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  GString *hello = g_string_new ("{\"type\":\"hello\",\"id\":1,\"user\":\"alice\",\"resume\":{");
  g_autoptr (JsonObject) welcome = NULL;

  for (int i = 0; i < 500; i++)
    g_string_append_printf (hello, "%s\"a-room-of-mine-%d\":%d", i ? "," : "", i, i);
  g_string_append (hello, "}}");
  ck_assert_uint_gt (hello->len, 8192);
  welcome = hub_test_ws_request (ws, hello->str, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  g_string_free (hello, TRUE);
}
END_TEST

START_TEST (oversized_target_414_header_431)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autofree char *long_path = g_strnfill (9000, 'a');
  g_autofree char *req414 =
      g_strdup_printf ("GET /healthz?%s HTTP/1.1\r\nHost: x\r\n\r\n", long_path);
  g_autofree char *cookie = g_strnfill (20000, 'c');
  g_autofree char *req431 =
      g_strdup_printf ("GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: %s\r\n\r\n", cookie);
  g_autofree char *ws431 = g_strdup_printf (
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Cookie: %s\r\n\r\n",
      cookie);

  ck_assert_uint_eq (hub_test_raw_http (port, req414, strlen (req414), 5000, NULL), 414);
  ck_assert_uint_eq (hub_test_raw_http (port, req431, strlen (req431), 5000, NULL), 431);
  ck_assert_uint_eq (hub_test_raw_http (port, ws431, strlen (ws431), 5000, NULL), 431);
  ck_assert_uint_eq (healthz (port), 200);
}
END_TEST

START_TEST (h2c_answered_in_http_1_1)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  static const char request[] =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, "
      "HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n";
  g_autofree char *head = NULL;

  ck_assert_uint_eq (hub_test_raw_http (port, request, sizeof request - 1, 5000, &head), 200);
  ck_assert_msg (g_str_has_prefix (head, "HTTP/1.1 200"),
                 "answered in HTTP/1.1, not 101 to h2c: %s", head);
}
END_TEST

/* The token is checked at the headers: a 401 comes before any body byte. */
START_TEST (publish_refused_before_its_body)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", "s3cret", NULL);
  guint16 port = hub_test_server_port (server);
  static const char no_token[] = "POST /api/publish HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Length: 60000\r\n\r\n";
  static const char bad_token[] =
      "POST /api/publish HTTP/1.1\r\nHost: x\r\n"
      "Authorization: Bearer not.a.token\r\nContent-Length: 60000\r\n\r\n";
  g_autofree char *user_token = hub_auth_mint ("s3cret", 6, "alice", FALSE, 0);
  g_autofree char *not_admin =
      g_strdup_printf ("POST /api/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                       "Content-Length: 60000\r\n\r\n",
                       user_token);

  ck_assert_uint_eq (hub_test_raw_http (port, no_token, sizeof no_token - 1, 5000, NULL), 401);
  ck_assert_uint_eq (hub_test_raw_http (port, bad_token, sizeof bad_token - 1, 5000, NULL), 401);
  ck_assert_uint_eq (hub_test_raw_http (port, not_admin, strlen (not_admin), 5000, NULL), 403);
}
END_TEST

/* One byte every 300 ms keeps lws's own timeout at bay; ours is for the
 * whole request. */
START_TEST (request_deadline_for_headers_and_body)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--http-timeout", "2", NULL);
  guint16 port = hub_test_server_port (server);
  static const char *const starts[] = {
      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ",
      "POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"room\":",
  };

  for (guint k = 0; k < G_N_ELEMENTS (starts); k++) {
    g_autoptr (GSocketConnection) conn = hub_test_tcp_connect (port, NULL);
    GSocket *sock = g_socket_connection_get_socket (conn);
    gint64 start = g_get_monotonic_time ();
    gboolean closed = FALSE;

    g_socket_send (sock, starts[k], strlen (starts[k]), NULL, NULL);
    while (!closed && g_get_monotonic_time () - start < 6 * G_TIME_SPAN_SECOND) {
      char buf[256];

      g_socket_send (sock, "a", 1, NULL, NULL);
      if (g_socket_condition_timed_wait (sock, G_IO_IN | G_IO_HUP, 300 * 1000, NULL, NULL))
        closed = g_socket_receive (sock, buf, sizeof buf, NULL, NULL) <= 0;
    }
    ck_assert_msg (closed, "request %u: a trickle of bytes is cut after the deadline", k);
    ck_assert_msg (g_get_monotonic_time () - start >= 1900 * G_TIME_SPAN_MILLISECOND &&
                       g_get_monotonic_time () - start < 4 * G_TIME_SPAN_SECOND,
                   "request %u: cut after %" G_GINT64_FORMAT " ms, the deadline is 2 s", k,
                   (g_get_monotonic_time () - start) / 1000);
  }
  ck_assert_uint_eq (healthz (port), 200);
}
END_TEST

/* RFC 6455 §7.4: a close code a client may not send is a protocol error. */
START_TEST (invalid_close_codes_answered_1002)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  static const guint codes[][2] = {{5000, 1002}, {65535, 1002}, {1005, 1002},
                                   {1006, 1002}, {1015, 1002},  {999, 1002},
                                   {1000, 1000}, {3000, 3000},  {4999, 4999}};

  for (guint i = 0; i < G_N_ELEMENTS (codes); i++) {
    g_autoptr (HubTestRawWs) raw = hub_test_raw_ws_new (port, NULL);
    guint8 payload[2] = {(guint8)(codes[i][0] >> 8), (guint8)codes[i][0]};
    guint got;

    ck_assert_uint_eq (hub_test_raw_ws_handshake (raw, "/ws", "hub.v1"), 101);
    ck_assert (hub_test_raw_ws_send_frame (raw, 0x8, payload, 2));
    got = hub_test_raw_ws_wait_closed (raw, 5000);
    ck_assert_msg (got == codes[i][1], "close %u from the client: expected %u back, got %u",
                   codes[i][0], codes[i][1], got);
  }
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("server-guard");

  HUB_TEST_ADD (s, max_connections_refused_503_healthz_answers, 30);
  HUB_TEST_ADD (s, per_address_bound_503, 30);
  HUB_TEST_ADD (s, loopback_exempt_by_default, 30);
  HUB_TEST_ADD (s, per_user_bound_at_hello, 30);
  HUB_TEST_ADD (s, welcome_reports_limits, 30);
  HUB_TEST_ADD (s, pre_hello_frame_limit_1009, 30);
  HUB_TEST_ADD (s, large_first_hello_accepted, 30);
  HUB_TEST_ADD (s, oversized_target_414_header_431, 30);
  HUB_TEST_ADD (s, h2c_answered_in_http_1_1, 30);
  HUB_TEST_ADD (s, publish_refused_before_its_body, 30);
  HUB_TEST_ADD (s, request_deadline_for_headers_and_body, 30);
  HUB_TEST_ADD (s, invalid_close_codes_answered_1002, 30);
  return hub_test_run (s);
}
