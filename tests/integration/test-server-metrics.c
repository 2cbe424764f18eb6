/* test-server-metrics.c: /metrics for operators (issue 15): every family is
 * there from the start in Prometheus' naming, and errors by code, closes by
 * code, request latency by type and the sampled delivery lag move by exactly
 * what the test did; the process_* figures are this process's; every refusal
 * of the guard's bounds (PROTOCOL.md §8: connections in all, per user,
 * subscriptions, the fan-out budget, the HTTP deadline, a refused admin
 * token, an invalid close code) is counted once. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <hub/hub.h>
#include <string.h>

static char *
scrape (guint16 port)
{
  g_autoptr (HubTestHttpResponse) r = hub_test_http_get (port, "/metrics");

  ck_assert_int_eq (r->status, 200);
  return g_strdup (r->body);
}

/* A sample's value; fails the test when it is absent. */
static double
value (const char *text, const char *name)
{
  double v = -1;

  ck_assert_msg (hub_test_metric_value (text, name, &v), "/metrics has no sample %s:\n%s", name,
                 text);
  return v;
}

/* Scrapes until @name is @expected (a count the server makes after the client
 * saw the cause, e.g. a close it counts once the socket is gone): at most 5 s. */
static void
await_value (guint16 port, const char *name, double expected)
{
  double v = -1;

  for (int i = 0; i < 250; i++) {
    g_autofree char *m = scrape (port);

    v = value (m, name);
    if (v == expected)
      return;
    hub_test_ws_service (20);
  }
  ck_abort_msg ("%s is %g, expected %g", name, v, expected);
}

START_TEST (families_are_there_from_the_start)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *m = scrape (hub_test_server_port (server));
  static const char *const zero[] = {
      "hub_errors_total{code=\"bad_request\"}",
      "hub_errors_total{code=\"internal\"}",
      "hub_closes_total{code=\"1000\"}",
      "hub_closes_total{code=\"4009\"}",
      "hub_request_duration_seconds_count{type=\"publish\"}",
      "hub_request_duration_seconds_bucket{type=\"hello\",le=\"+Inf\"}",
      "hub_delivery_lag_seconds_count",
      "hub_connections_opened_total",
      "hub_closes_total{code=\"1002\"}",
      "hub_limit_refusals_total{limit=\"fanout_rate\"}",
      "hub_limit_refusals_total{limit=\"max_connections_per_user\"}",
      "hub_connections_refused_total{reason=\"max_connections\"}",
      "hub_connections_refused_total{reason=\"http_timeout\"}",
      "hub_http_responses_total{code=\"401\"}",
  };
  static const char *const types[] = {
      "# TYPE hub_errors_total counter",
      "# TYPE hub_closes_total counter",
      "# TYPE hub_request_duration_seconds histogram",
      "# TYPE hub_delivery_lag_seconds histogram",
      "# TYPE process_cpu_seconds_total counter",
      "# TYPE process_resident_memory_bytes gauge",
  };
  double start = value (m, "process_start_time_seconds");
  double now = g_get_real_time () / 1e6;

  for (guint i = 0; i < G_N_ELEMENTS (zero); i++)
    ck_assert_msg (value (m, zero[i]) == 0, "%s starts at 0", zero[i]);
  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    ck_assert_msg (strstr (m, types[i]) != NULL, "/metrics says \"%s\"", types[i]);
  ck_assert_msg (start > now - 60 && start <= now + 1,
                 "process_start_time_seconds is when the server started: %.0f, now %.0f", start,
                 now);
  ck_assert_msg (value (m, "process_resident_memory_bytes") > 1024 * 1024, "resident memory");
  /* Present wherever the system counts them (wine answers 0 handles: left out). */
  if (hub_test_platform_can_limit_open_files () || strstr (m, "\nprocess_open_fds ") != NULL)
    ck_assert_msg (value (m, "process_open_fds") >= 3,
                   "a server holds a few descriptors (handles)");
  /* Windows has no limit on them (README: Platforms): no process_max_fds there. */
  if (hub_test_platform_can_limit_open_files ())
    ck_assert_msg (value (m, "process_max_fds") >= value (m, "process_open_fds"), "max_fds");
  else
    ck_assert_msg (strstr (m, "process_max_fds") == NULL, "no process_max_fds without a limit");
  ck_assert_msg (value (m, "process_cpu_seconds_total") >= 0, "cpu seconds");
}
END_TEST

START_TEST (errors_closes_requests_and_lag_move)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  g_autofree char *m = NULL;
  double opened_before;

  {
    g_autofree char *m0 = scrape (port);

    opened_before = value (m0, "hub_connections_opened_total");
    ck_assert_msg (opened_before == 2, "two connections opened, counted %g", opened_before);
  }
  /* One error of each of two codes. */
  hub_test_ws_err (alice, "unknown_type", "{'type':'no-such-request'}");
  hub_test_ws_err (alice, "room_not_found", "{'type':'room_info','room':'nowhere'}");
  /* Three pings, two joins, twenty publishes to a room of two. */
  for (int i = 0; i < 3; i++)
    json_object_unref (hub_test_ws_call (alice, "{'type':'ping'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'r'}"));
  for (int i = 0; i < 20; i++)
    json_object_unref (
        hub_test_ws_ok (alice, "{'type':'publish','room':'r','payload':{'n':%d}}", i));
  /* Bob has every message (so every frame was written), then leaves: 1000. */
  for (int i = 0; i < 20;) {
    g_autoptr (JsonObject) f = hub_test_ws_recv_json (bob, HUB_TEST_WS_TIMEOUT_MS);

    ck_assert_msg (f != NULL, "bob: message %d of 20", i + 1);
    if (g_strcmp0 (hub_test_json_string (f, "type"), "message") == 0)
      i++;
  }
  hub_test_ws_close (bob, 1000);
  hub_test_ws_drain (alice); /* one more ping */

  m = scrape (port);
  ck_assert_int_eq (value (m, "hub_errors_total{code=\"unknown_type\"}"), 1);
  ck_assert_int_eq (value (m, "hub_errors_total{code=\"room_not_found\"}"), 1);
  ck_assert_int_eq (value (m, "hub_errors_total{code=\"bad_request\"}"), 0);
  ck_assert_int_eq (value (m, "hub_request_duration_seconds_count{type=\"ping\"}"), 3 + 1);
  ck_assert_int_eq (value (m, "hub_request_duration_seconds_count{type=\"join\"}"), 2);
  ck_assert_int_eq (value (m, "hub_request_duration_seconds_count{type=\"publish\"}"), 20);
  ck_assert_int_eq (value (m, "hub_request_duration_seconds_count{type=\"hello\"}"), 2);
  ck_assert_int_eq (value (m, "hub_request_duration_seconds_bucket{type=\"publish\",le=\"+Inf\"}"),
                    20);
  ck_assert_msg (value (m, "hub_request_duration_seconds_sum{type=\"publish\"}") < 20 * 1.0,
                 "in memory a publish takes far less than a second");
  ck_assert_int_eq (value (m, "hub_closes_total{code=\"1000\"}"), 1);
  /* Fan-outs 1 and 17 of 20 (1 in 16) are sampled: two recipients each. */
  ck_assert_int_eq (value (m, "hub_delivery_lag_seconds_count"), 4);
  ck_assert_int_eq (value (m, "hub_delivery_lag_seconds_bucket{le=\"+Inf\"}"), 4);
  ck_assert_msg (value (m, "hub_delivery_lag_seconds_sum") >= 0 &&
                     value (m, "hub_delivery_lag_seconds_sum") < 4 * 5.0,
                 "lags are seconds, small here");
}
END_TEST

START_TEST (server_closes_are_counted_by_their_code)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--max-message-bytes", "100", "--hello-timeout", "1", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *big = hub_test_ws_login (port, "big", NULL);
  HubTestWs *silent = hub_test_ws_open (port);
  g_autofree char *pad = g_strnfill (200, 'x');
  g_autofree char *m = NULL;

  hub_test_ws_sendf (big, "{'type':'ping','pad':'%s'}", pad);
  ck_assert_int_eq (hub_test_ws_wait_closed (big, HUB_TEST_WS_TIMEOUT_MS), 1009);
  ck_assert_int_eq (hub_test_ws_wait_closed (silent, HUB_TEST_WS_TIMEOUT_MS), 4000);
  m = scrape (port);
  ck_assert_int_eq (value (m, "hub_closes_total{code=\"1009\"}"), 1);
  ck_assert_int_eq (value (m, "hub_closes_total{code=\"4000\"}"), 1);
}
END_TEST

/* Each bound the guard added refuses once, and each refusal is counted once,
 * by its bound and by what the client got (an error code, an HTTP status, a
 * close code). */
START_TEST (guard_refusals_are_counted)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (
      "--max-connections", "3", "--max-connections-per-user", "1", "--max-subscriptions-per-user",
      "1", "--fanout-rate", "100", "--http-timeout", "1", NULL);
  guint16 port = hub_test_server_port (server);
  static const char upgrade[] = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Protocol: hub.v1\r\n\r\n";
  g_autofree char *pad = g_strnfill (300, 'x');
  g_autofree char *m = NULL;
  HubTestWs *alice, *bob, *again;
  double served_503;

  /* An invalid close code from a client: answered, and counted, 1002. */
  {
    g_autoptr (HubTestRawWs) raw = hub_test_raw_ws_new (port, NULL);
    static const guint8 code[2] = {5000 >> 8, 5000 & 0xff};

    ck_assert_uint_eq (hub_test_raw_ws_handshake (raw, "/ws", "hub.v1"), 101);
    ck_assert (hub_test_raw_ws_send_frame (raw, 0x8, code, 2));
    ck_assert_uint_eq (hub_test_raw_ws_wait_closed (raw, 5000), 1002);
  }
  await_value (port, "hub_closes_total{code=\"1002\"}", 1);
  /* The server saw it go: three places again. */
  alice = hub_test_ws_login (port, "alice", NULL);
  bob = hub_test_ws_login (port, "bob", NULL);
  again = hub_test_ws_open (port);
  /* A second connection of alice's: its hello is refused (the bound per user). */
  hub_test_ws_err (again, "rate_limited", "{'type':'hello','user':'alice'}");
  /* A fourth WebSocket: 503 (the bound in all). (A cluster node's /healthz
   * may have answered 503 while it was coming up: counted from here.) */
  {
    g_autofree char *m0 = scrape (port);

    served_503 = value (m0, "hub_http_responses_total{code=\"503\"}");
  }
  ck_assert_uint_eq (hub_test_raw_http (port, upgrade, sizeof upgrade - 1, 5000, NULL), 503);
  /* Two subscriptions for a user who may have one. */
  hub_test_ws_err (alice, "bad_request", "{'type':'subscribe','users':['bob','carol']}");
  /* 300 bytes to bob spend more than a second's 100: the next one waits. */
  json_object_unref (
      hub_test_ws_ok (alice, "{'type':'direct','to':'bob','payload':{'pad':'%s'}}", pad));
  hub_test_ws_err (alice, "rate_limited", "{'type':'direct','to':'bob','payload':{'pad':'%s'}}",
                   pad);
  /* Half a request, then nothing: cut at the HTTP deadline. */
  {
    g_autoptr (GSocketConnection) conn = hub_test_tcp_connect (port, NULL);
    GSocket *sock = g_socket_connection_get_socket (conn);
    static const char half[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    char buf[64];

    ck_assert_int_eq (g_socket_send (sock, half, sizeof half - 1, NULL, NULL), sizeof half - 1);
    ck_assert_msg (
        g_socket_condition_timed_wait (sock, G_IO_IN | G_IO_HUP, 5 * G_USEC_PER_SEC, NULL, NULL) &&
            g_socket_receive (sock, buf, sizeof buf, NULL, NULL) <= 0,
        "a half request is cut, unanswered, at the deadline");
  }
  await_value (port, "hub_connections_refused_total{reason=\"http_timeout\"}", 1);
  (void)bob;

  m = scrape (port);
  ck_assert_int_eq (value (m, "hub_limit_refusals_total{limit=\"max_connections_per_user\"}"), 1);
  ck_assert_int_eq (value (m, "hub_limit_refusals_total{limit=\"max_subscriptions_per_user\"}"), 1);
  ck_assert_int_eq (value (m, "hub_limit_refusals_total{limit=\"fanout_rate\"}"), 1);
  ck_assert_int_eq (value (m, "hub_limit_refusals_total{limit=\"rate\"}"), 0);
  ck_assert_int_eq (value (m, "hub_errors_total{code=\"rate_limited\"}"), 2);
  ck_assert_int_eq (value (m, "hub_errors_total{code=\"bad_request\"}"), 1);
  ck_assert_int_eq (value (m, "hub_connections_refused_total{reason=\"max_connections\"}"), 1);
  ck_assert_int_eq (
      value (m, "hub_connections_refused_total{reason=\"max_connections_per_address\"}"), 0);
  ck_assert_int_eq (value (m, "hub_http_responses_total{code=\"503\"}"), served_503 + 1);
  ck_assert_int_eq (value (m, "hub_closes_total{code=\"1002\"}"), 1);
}
END_TEST

/* An admin route refused at its headers: 401 without a valid token, 403 for a
 * user's, each counted by status. */
START_TEST (refused_admin_tokens_are_counted)
{
  static const char secret[] = "itest-metrics-secret-0123456789abcdef";
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", secret, NULL);
  guint16 port = hub_test_server_port (server);
  g_autofree char *user_token = hub_auth_mint (secret, strlen (secret), "alice", FALSE, 0);
  g_autoptr (HubTestHttpResponse) none = hub_test_http_post (port, "/api/publish", NULL, "{}");
  g_autoptr (HubTestHttpResponse) user =
      hub_test_http_post (port, "/api/publish", user_token, "{}");
  g_autofree char *m = NULL;

  ck_assert_int_eq (none->status, 401);
  ck_assert_int_eq (user->status, 403);
  m = scrape (port);
  ck_assert_int_eq (value (m, "hub_http_responses_total{code=\"401\"}"), 1);
  ck_assert_int_eq (value (m, "hub_http_responses_total{code=\"403\"}"), 1);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("server-metrics");

  HUB_TEST_ADD (suite, families_are_there_from_the_start, 30);
  HUB_TEST_ADD (suite, errors_closes_requests_and_lag_move, 30);
  HUB_TEST_ADD (suite, server_closes_are_counted_by_their_code, 30);
  HUB_TEST_ADD (suite, guard_refusals_are_counted, 60);
  HUB_TEST_ADD (suite, refused_admin_tokens_are_counted, 30);
  return hub_test_run (suite);
}
