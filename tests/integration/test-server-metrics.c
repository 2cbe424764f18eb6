/* test-server-metrics.c: /metrics for operators (issue 15): every family is
 * there from the start in Prometheus' naming, and errors by code, closes by
 * code, request latency by type and the sampled delivery lag move by exactly
 * what the test did; the process_* figures are this process's. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

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
  ck_assert_msg (value (m, "process_open_fds") >= 3, "a server holds a few descriptors (handles)");
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

int
main (void)
{
  Suite *suite = suite_create ("server-metrics");

  HUB_TEST_ADD (suite, families_are_there_from_the_start, 30);
  HUB_TEST_ADD (suite, errors_closes_requests_and_lag_move, 30);
  HUB_TEST_ADD (suite, server_closes_are_counted_by_their_code, 30);
  return hub_test_run (suite);
}
