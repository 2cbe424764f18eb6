/* test-server-logs.c: hub-server's log lines for operators (issue 15), in
 * both formats: a connection opened and closed (peer, user, device, code,
 * duration), a refused token (the reason, never the token), a 4009, the
 * guard's refusals (a full server at warning; a bound per user, a refused
 * admin token and the HTTP deadline at info), and the flood control that
 * writes a count instead of more lines of one kind. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <hub/hub-auth.h>
#include <string.h>

#define SECRET       "itest-logs-secret-0123456789abcdef"
#define WRONG_SECRET "itest-logs-wrong-secret-0123456789"
#define WAIT_MS      10000

/* Every stderr line of a --log-format json server, parsed; fails the test on
 * a line that is not one JSON object. (transfer full) */
static GPtrArray *
json_lines (HubTestServer *server)
{
  g_autofree char *out = hub_test_server_output (server);
  g_auto (GStrv) lines = g_strsplit (out, "\n", -1);
  GPtrArray *objects = g_ptr_array_new_with_free_func ((GDestroyNotify)json_object_unref);

  for (guint i = 0; lines[i] != NULL; i++) {
    JsonObject *o;

    if (lines[i][0] == '\0')
      continue;
    o = hub_test_json_parse (lines[i], strlen (lines[i]));
    ck_assert_msg (o != NULL, "every log line is one JSON object, not: %s", lines[i]);
    ck_assert_msg (hub_test_json_string (o, "time") != NULL &&
                       hub_test_json_string (o, "level") != NULL &&
                       hub_test_json_string (o, "message") != NULL,
                   "a JSON line has time, level and message: %s", lines[i]);
    g_ptr_array_add (objects, o);
  }
  return objects;
}

/* The first JSON line whose "event" is @event and, when @key is not NULL,
 * whose string member @key is @value; polls for at most WAIT_MS. (transfer full) */
static JsonObject *
wait_json_event (HubTestServer *server, const char *event, const char *key, const char *value)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    g_autoptr (GPtrArray) lines = json_lines (server);

    for (guint i = 0; i < lines->len; i++) {
      JsonObject *o = g_ptr_array_index (lines, i);

      if (g_strcmp0 (hub_test_json_string (o, "event"), event) == 0 &&
          (key == NULL || g_strcmp0 (hub_test_json_string (o, key), value) == 0))
        return json_object_ref (o);
    }
    if (g_get_monotonic_time () >= deadline)
      break;
    hub_test_ws_service (20);
  }
  {
    g_autofree char *out = hub_test_server_output (server);

    ck_abort_msg ("no JSON line with event %s%s%s%s within %d ms; output:\n%s", event,
                  key != NULL ? " and " : "", key != NULL ? key : "", key != NULL ? value : "",
                  WAIT_MS, out);
  }
  return NULL;
}

static void
expect_output (HubTestServer *server, const char *text)
{
  if (!hub_test_server_wait_output (server, text, 1, WAIT_MS)) {
    g_autofree char *out = hub_test_server_output (server);

    ck_abort_msg ("expected \"%s\" in the server's log within %d ms; output:\n%s", text, WAIT_MS,
                  out);
  }
}

/* A hello with a token signed by another secret: refused, closed 4001. */
static void
refused_token (guint16 port, const char *token)
{
  HubTestWs *ws = hub_test_ws_open (port);
  g_autofree char *hello = g_strdup_printf (
      "{\"type\":\"hello\",\"id\":1,\"user\":\"mallory\",\"token\":\"%s\"}", token);
  g_autoptr (JsonObject) reply = hub_test_ws_request (ws, hello, HUB_TEST_WS_TIMEOUT_MS);

  ck_assert_msg (reply != NULL, "the hello is answered");
  ck_assert_str_eq (hub_test_json_string (reply, "code"), "unauthorized");
  ck_assert_int_eq (hub_test_ws_wait_closed (ws, HUB_TEST_WS_TIMEOUT_MS), 4001);
}

START_TEST (refused_token_text)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--secret", SECRET, "--log-level", "info", NULL);
  g_autofree char *token = hub_auth_mint (WRONG_SECRET, strlen (WRONG_SECRET), "mallory", FALSE, 0);
  g_autofree char *out = NULL;

  refused_token (hub_test_server_port (server), token);
  expect_output (server, "hello refused event=hello_refused");
  expect_output (server, "code=unauthorized reason=\"bad signature\"");
  expect_output (server, "code=4001 reason=unauthorized by=server");
  expect_output (server, "connection opened event=open");
  out = hub_test_server_output (server);
  ck_assert_msg (strstr (out, token) == NULL && strstr (out, SECRET) == NULL,
                 "neither the token nor the secret is ever logged:\n%s", out);
  ck_assert_msg (strstr (out, "peer=127.0.0.1:") != NULL, "the peer's address is logged:\n%s", out);
}
END_TEST

START_TEST (refused_token_json)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, "--log-level",
                                                            "info", "--log-format", "json", NULL);
  g_autofree char *token = hub_auth_mint (WRONG_SECRET, strlen (WRONG_SECRET), "mallory", FALSE, 0);
  g_autoptr (JsonObject) refused = NULL;
  g_autoptr (JsonObject) closed = NULL;
  g_autoptr (JsonObject) opened = NULL;
  g_autofree char *out = NULL;
  const char *conn;

  refused_token (hub_test_server_port (server), token);
  refused = wait_json_event (server, "hello_refused", NULL, NULL);
  ck_assert_str_eq (hub_test_json_string (refused, "level"), "info");
  ck_assert_str_eq (hub_test_json_string (refused, "code"), "unauthorized");
  ck_assert_str_eq (hub_test_json_string (refused, "reason"), "bad signature");
  conn = hub_test_json_string (refused, "conn");
  ck_assert_msg (conn != NULL, "the refusal names the connection");
  opened = wait_json_event (server, "open", "conn", conn);
  ck_assert_msg (g_str_has_prefix (hub_test_json_string (opened, "peer"), "127.0.0.1:"),
                 "the open line has the peer");
  closed = wait_json_event (server, "close", "conn", conn);
  ck_assert_int_eq (hub_test_json_int (closed, "code"), 4001);
  ck_assert_str_eq (hub_test_json_string (closed, "by"), "server");
  ck_assert_str_eq (hub_test_json_string (closed, "peer"), hub_test_json_string (opened, "peer"));
  ck_assert_msg (json_object_has_member (closed, "duration_s") &&
                     json_node_get_value_type (json_object_get_member (closed, "duration_s")) ==
                         G_TYPE_DOUBLE,
                 "duration_s is a number");
  out = hub_test_server_output (server);
  ck_assert_msg (strstr (out, token) == NULL, "the token is never logged:\n%s", out);
}
END_TEST

START_TEST (connection_lines_name_user_device_and_code)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--log-level", "info", "--log-format", "json", NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", "phone");
  g_autoptr (JsonObject) closed = NULL;

  hub_test_ws_close (ws, 1000);
  closed = wait_json_event (server, "close", "user", "alice");
  ck_assert_str_eq (hub_test_json_string (closed, "device"), "phone");
  ck_assert_int_eq (hub_test_json_int (closed, "code"), 1000);
  ck_assert_str_eq (hub_test_json_string (closed, "by"), "client");
  ck_assert_str_eq (hub_test_json_string (closed, "level"), "info");
}
END_TEST

START_TEST (warning_level_writes_no_connection_lines)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autofree char *out = NULL;

  /* The open line would be written before the welcome, the close line
   * before the close frame: both would be there once the close is done. */
  hub_test_ws_close (ws, 1000);
  out = hub_test_server_output (server);
  ck_assert_msg (strstr (out, "connection opened") == NULL &&
                     strstr (out, "connection closed") == NULL,
                 "no connection lines at warning:\n%s", out);
}
END_TEST

/* Fills a paused reader's queue until the server closes it with 4009 (as
 * test-server-limits.c does). The reader reads again once the server gave up
 * on it (hub_slow_consumer_closes_total, counted when it decides; the close
 * frame then waits behind what is queued), not before: reading earlier would
 * let it catch up (under ASan on a loaded machine the server may still be
 * working through the publishes when the last is sent). */
static void
provoke_4009 (guint16 port)
{
  HubTestWs *slow = hub_test_ws_login (port, "slow", "tablet");
  HubTestWs *carol = hub_test_ws_login (port, "carol", NULL);
  g_autofree char *pad = g_strnfill (32000, 'p');
  double closed = 0;

  json_object_unref (hub_test_ws_ok (slow, "{'type':'join','room':'flood'}"));
  json_object_unref (hub_test_ws_ok (carol, "{'type':'join','room':'flood'}"));
  hub_test_ws_drain (slow);
  hub_test_ws_pause_reading (slow, TRUE);
  for (guint sent = 1; sent <= 400 && closed < 1; sent++) {
    g_autofree char *request = g_strdup_printf (
        "{\"type\":\"publish\",\"room\":\"flood\",\"payload\":{\"n\":%u,\"pad\":\"%s\"}}", sent,
        pad);

    hub_test_ws_send_text (carol, request);
    if (sent % 10 == 0) {
      g_autoptr (HubTestHttpResponse) r = hub_test_http_get (port, "/metrics");

      hub_test_metric_value (r->body, "hub_slow_consumer_closes_total", &closed);
    }
  }
  for (gint64 end = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
       closed < 1 && g_get_monotonic_time () < end;) {
    g_autoptr (HubTestHttpResponse) r = NULL;

    hub_test_ws_service (100);
    r = hub_test_http_get (port, "/metrics");
    hub_test_metric_value (r->body, "hub_slow_consumer_closes_total", &closed);
  }
  ck_assert_msg (closed >= 1, "the server closes the paused reader with 4009 within 60 s");
  hub_test_ws_pause_reading (slow, FALSE);
  ck_assert_int_eq (hub_test_ws_wait_closed (slow, 30000), 4009);
}

START_TEST (slow_consumer_4009_text)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--max-queue-bytes", "262144", "--rate", "100000", "--burst", "100000",
                             "--log-level", "info", NULL);

  provoke_4009 (hub_test_server_port (server));
  expect_output (server, "connection closed event=close_slow_consumer");
  expect_output (server, "user=slow device=tablet code=4009 reason=\"slow consumer\" by=server");
}
END_TEST

START_TEST (slow_consumer_4009_json)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--max-queue-bytes", "262144", "--rate", "100000", "--burst", "100000",
                             "--log-level", "info", "--log-format", "json", NULL);
  g_autoptr (JsonObject) line = NULL;

  provoke_4009 (hub_test_server_port (server));
  line = wait_json_event (server, "close_slow_consumer", NULL, NULL);
  ck_assert_int_eq (hub_test_json_int (line, "code"), 4009);
  ck_assert_str_eq (hub_test_json_string (line, "user"), "slow");
  ck_assert_str_eq (hub_test_json_string (line, "reason"), "slow consumer");
}
END_TEST

/* 20 requests before hello on one connection: 20 "request before hello"
 * lines of one kind at once, against --log-rate 5. */
START_TEST (flood_of_one_kind_becomes_a_count)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--log-level", "debug", "--log-format",
                                                            "json", "--log-rate", "5", NULL);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  guint written = 0;
  gint64 counted = 0;
  g_autoptr (GPtrArray) lines = NULL;

  for (int i = 0; i < 20; i++)
    hub_test_ws_sendf (ws, "{'type':'rooms','id':%d}", i);
  for (int i = 0; i < 20; i++) {
    g_autoptr (JsonObject) reply = hub_test_ws_recv_json (ws, HUB_TEST_WS_TIMEOUT_MS);

    ck_assert_msg (reply != NULL, "reply %d of 20", i);
    ck_assert_str_eq (hub_test_json_string (reply, "code"), "not_authenticated");
  }
  /* The count comes at the latest a second after its window: wait for it. */
  json_object_unref (wait_json_event (server, "log_suppressed", "kind", "not_authenticated"));
  lines = json_lines (server);
  for (guint i = 0; i < lines->len; i++) {
    JsonObject *o = g_ptr_array_index (lines, i);

    if (g_strcmp0 (hub_test_json_string (o, "event"), "not_authenticated") == 0)
      written++;
    else if (g_strcmp0 (hub_test_json_string (o, "event"), "log_suppressed") == 0 &&
             g_strcmp0 (hub_test_json_string (o, "kind"), "not_authenticated") == 0)
      counted += hub_test_json_int (o, "count");
  }
  ck_assert_msg (written >= 5 && written < 20, "the first 5 of a second are written, not all: %u",
                 written);
  ck_assert_msg (written + counted == 20,
                 "written (%u) and counted (%" G_GINT64_FORMAT ") lines make the 20 events",
                 written, counted);
}
END_TEST

START_TEST (guard_refusals_json)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (
      "--secret", SECRET, "--log-level", "info", "--log-format", "json", "--max-connections", "2",
      "--max-connections-per-user", "1", "--http-timeout", "1", NULL);
  guint16 port = hub_test_server_port (server);
  g_autofree char *alice = hub_auth_mint (SECRET, strlen (SECRET), "alice", FALSE, 0);
  static const char upgrade[] = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Protocol: hub.v1\r\n\r\n";
  static const char half[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  HubTestWs *first = hub_test_ws_open (port);
  HubTestWs *second = hub_test_ws_open (port);
  g_autoptr (JsonObject) limit = NULL;
  g_autoptr (JsonObject) full = NULL;
  g_autoptr (JsonObject) http = NULL;
  g_autoptr (JsonObject) timeout = NULL;
  g_autoptr (HubTestHttpResponse) refused = NULL;
  g_autofree char *out = NULL;

  json_object_unref (hub_test_ws_call (first, "{'type':'hello','token':'%s'}", alice));
  /* alice's second connection: the bound per user, named with the user. */
  hub_test_ws_err (second, "rate_limited", "{'type':'hello','token':'%s'}", alice);
  limit = wait_json_event (server, "limit_refused", "limit", "max_connections_per_user");
  ck_assert_str_eq (hub_test_json_string (limit, "level"), "info");
  ck_assert_str_eq (hub_test_json_string (limit, "user"), "alice");
  /* Both places are taken: a full server is a warning. */
  ck_assert_uint_eq (hub_test_raw_http (port, upgrade, sizeof upgrade - 1, 5000, NULL), 503);
  full = wait_json_event (server, "connection_refused", "reason", "max_connections");
  ck_assert_str_eq (hub_test_json_string (full, "level"), "warning");
  ck_assert_str_eq (hub_test_json_string (full, "peer"), "127.0.0.1");
  /* A user's token on an admin route: 403, with the reason. */
  refused = hub_test_http_post (port, "/api/publish", alice, "{}");
  ck_assert_int_eq (refused->status, 403);
  http = wait_json_event (server, "http_refused", NULL, NULL);
  ck_assert_str_eq (hub_test_json_string (http, "level"), "info");
  ck_assert_int_eq (hub_test_json_int (http, "status"), 403);
  /* Half a request: cut unanswered at the deadline, said at info. */
  ck_assert_uint_eq (hub_test_raw_http (port, half, sizeof half - 1, 5000, NULL), 0);
  timeout = wait_json_event (server, "connection_refused", "reason", "http_timeout");
  ck_assert_str_eq (hub_test_json_string (timeout, "level"), "info");
  out = hub_test_server_output (server);
  ck_assert_msg (strstr (out, alice) == NULL, "the token is never logged:\n%s", out);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("server-logs");

  HUB_TEST_ADD (suite, refused_token_text, 30);
  HUB_TEST_ADD (suite, refused_token_json, 30);
  HUB_TEST_ADD (suite, connection_lines_name_user_device_and_code, 30);
  HUB_TEST_ADD (suite, warning_level_writes_no_connection_lines, 30);
  HUB_TEST_ADD (suite, slow_consumer_4009_text, 90);
  HUB_TEST_ADD (suite, slow_consumer_4009_json, 90);
  HUB_TEST_ADD (suite, flood_of_one_kind_becomes_a_count, 30);
  HUB_TEST_ADD (suite, guard_refusals_json, 30);
  return hub_test_run (suite);
}
