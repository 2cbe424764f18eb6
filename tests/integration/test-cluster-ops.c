/* test-cluster-ops.c: cluster mode for the people who run it (issue 15): a
 * warning when Redis is lost and when it is back, in text and in JSON, one
 * when a node is reaped; and the cluster-wide sums on /metrics, which one
 * scrape through any node (or the load balancer) can check a load run
 * against. Real redis-server (hub-test-redis.h). */
#include "hub-test-redis.h"
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <string.h>

#define WAIT_MS 15000

static void
expect_output (HubTestServer *server, const char *text, guint count)
{
  if (!hub_test_server_wait_output (server, text, count, WAIT_MS)) {
    g_autofree char *out = hub_test_server_output (server);

    ck_abort_msg ("expected \"%s\" (%u times) in the node's log within %d ms; output:\n%s", text,
                  count, WAIT_MS, out);
  }
}

/* The first JSON log line of @server with "event" @event, polled. (transfer full) */
static JsonObject *
json_event (HubTestServer *server, const char *event)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    g_autofree char *out = hub_test_server_output (server);
    g_auto (GStrv) lines = g_strsplit (out, "\n", -1);

    for (guint i = 0; lines[i] != NULL; i++) {
      g_autoptr (JsonObject) o = NULL;

      if (lines[i][0] == '\0')
        continue;
      o = hub_test_json_parse (lines[i], strlen (lines[i]));
      ck_assert_msg (o != NULL, "a JSON log line: %s", lines[i]);
      if (g_strcmp0 (hub_test_json_string (o, "event"), event) == 0)
        return g_steal_pointer (&o);
    }
    ck_assert_msg (g_get_monotonic_time () < deadline, "no JSON line with event %s:\n%s", event,
                   out);
    g_usleep (20 * G_TIME_SPAN_MILLISECOND);
  }
}

START_TEST (redis_lost_and_back_are_logged)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) text = hub_test_redis_node (redis, "text", NULL);
  g_autoptr (HubTestServer) json =
      hub_test_redis_node (redis, "json", "--log-format", "json", NULL);
  g_autofree char *where = g_strdup_printf ("127.0.0.1:%u", hub_test_redis_port (redis));
  g_autoptr (JsonObject) down = NULL;
  g_autoptr (JsonObject) up = NULL;

  hub_test_redis_stop (redis);
  ck_assert (hub_test_wait_health (hub_test_server_port (text), 503, WAIT_MS));
  expect_output (text, "cluster: lost Redis", 1);
  expect_output (text, "event=redis_down", 1);
  down = json_event (json, "redis_down");
  ck_assert_str_eq (hub_test_json_string (down, "level"), "warning");
  ck_assert_str_eq (hub_test_json_string (down, "redis"), where);
  ck_assert_msg (hub_test_json_string (down, "reason") != NULL, "the reason is given");

  hub_test_redis_restart (redis);
  ck_assert (hub_test_wait_health (hub_test_server_port (text), 200, WAIT_MS));
  expect_output (text, "cluster: Redis is back", 1);
  up = json_event (json, "redis_up");
  ck_assert_str_eq (hub_test_json_string (up, "level"), "warning");
  /* One line per change, not one per reconnection attempt. */
  ck_assert_int_eq (hub_test_server_count_output (text, "event=redis_down"), 1);
}
END_TEST

START_TEST (unreachable_redis_at_start_is_logged)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) node = NULL;
  g_autofree char *url = g_strdup (hub_test_redis_url (redis));

  /* The node starts on a Redis that is gone (the port is free again). */
  hub_test_redis_stop (redis);
  node = hub_test_server_start ("--redis", url, "--node", "lonely", "--heartbeat", "1", NULL);
  expect_output (node, "cluster: cannot reach Redis", 1);
  ck_assert (hub_test_wait_health (hub_test_server_port (node), 503, WAIT_MS));
}
END_TEST

START_TEST (reaped_node_is_logged)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "survivor", NULL);
  HubTestServer *b = hub_test_redis_node (redis, "victim", NULL);

  hub_test_server_kill (b); /* SIGKILL: no goodbye to Redis */
  expect_output (a, "event=node_reaped node=victim", 1);
}
END_TEST

static double
metric (guint16 port, const char *name)
{
  g_autoptr (HubTestHttpResponse) r = hub_test_http_get (port, "/metrics");
  double v = -1;

  ck_assert_msg (hub_test_metric_value (r->body, name, &v), "/metrics of %u has %s:\n%s", port,
                 name, r->body);
  return v;
}

START_TEST (cluster_sums_agree_with_every_node)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", NULL);
  guint16 pa = hub_test_server_port (a), pb = hub_test_server_port (b);
  HubTestWs *alice = hub_test_ws_login (pa, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (pb, "bob", NULL);
  double sum_a = -1, sum_b = -1, own = 0;
  gint64 deadline;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'r'}"));
  for (int i = 0; i < 5; i++) {
    json_object_unref (hub_test_ws_ok (alice, "{'type':'publish','room':'r','payload':{}}"));
    json_object_unref (hub_test_ws_ok (bob, "{'type':'publish','room':'r','payload':{}}"));
  }
  /* 10 messages to 2 members: 20 deliveries, 10 on each node. The sums use
   * each node's figures as last published (at most a tick, 0.25 s here). */
  deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;
  while (g_get_monotonic_time () < deadline) {
    own = metric (pa, "hub_deliveries_total") + metric (pb, "hub_deliveries_total");
    sum_a = metric (pa, "hub_cluster_deliveries_total");
    sum_b = metric (pb, "hub_cluster_deliveries_total");
    if (own == 20 && sum_a == own && sum_b == own)
      break;
    hub_test_ws_service (50);
  }
  ck_assert_msg (own == 20, "20 deliveries on the two nodes, counted %g", own);
  ck_assert_msg (sum_a == own && sum_b == own,
                 "each node's hub_cluster_deliveries_total is the sum (%g): %g and %g", own, sum_a,
                 sum_b);
  ck_assert_int_eq (metric (pa, "hub_cluster_messages_in_total"), 10);
  ck_assert_int_eq (metric (pb, "hub_cluster_connections"), 2);
  /* The delivery lag is sampled in a cluster too: the first fan-out (from
   * Redis) of each node reached its one member there. */
  ck_assert_msg (metric (pa, "hub_delivery_lag_seconds_count") >= 1 &&
                     metric (pb, "hub_delivery_lag_seconds_count") >= 1,
                 "each node measured the lag of a sampled delivery");
}
END_TEST

/* Every hub_* and process_* series an expression of the dashboard names has
 * samples on a cluster node that served traffic. */
START_TEST (grafana_dashboard_names_only_served_series)
{
  const char *path = g_getenv ("HUB_GRAFANA_DASHBOARD");
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  guint16 port = hub_test_server_port (a);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GRegex) name_re = g_regex_new ("\\b(hub|process)_[a-z_]+", 0, 0, NULL);
  g_autoptr (GRegex) expr_re =
      g_regex_new ("\"(expr|query)\":\\s*\"([^\"\\\\]|\\\\.)*\"", 0, 0, NULL);
  g_autoptr (GMatchInfo) exprs = NULL;
  g_autofree char *text = NULL;
  g_autofree char *metrics = NULL;
  guint checked = 0;

  ck_assert_msg (path != NULL, "HUB_GRAFANA_DASHBOARD names the dashboard (tests/CMakeLists.txt)");
  ck_assert_msg (json_parser_load_from_file (parser, path, &error), "%s is JSON: %s", path,
                 error ? error->message : "");
  ck_assert (g_file_get_contents (path, &text, NULL, NULL));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'r'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'publish','room':'r','payload':{}}"));
  {
    g_autoptr (HubTestHttpResponse) r = hub_test_http_get (port, "/metrics");

    metrics = g_strconcat ("\n", r->body, NULL);
  }
  g_regex_match (expr_re, text, 0, &exprs);
  while (g_match_info_matches (exprs)) {
    g_autofree char *expr = g_match_info_fetch (exprs, 0);
    g_autoptr (GMatchInfo) names = NULL;

    g_regex_match (name_re, expr, 0, &names);
    while (g_match_info_matches (names)) {
      g_autofree char *name = g_match_info_fetch (names, 0);
      g_autofree char *plain = g_strconcat ("\n", name, " ", NULL);
      g_autofree char *labelled = g_strconcat ("\n", name, "{", NULL);

      ck_assert_msg (strstr (metrics, plain) != NULL || strstr (metrics, labelled) != NULL,
                     "the dashboard asks for %s, which /metrics does not serve", name);
      checked++;
      g_match_info_next (names, NULL);
    }
    g_match_info_next (exprs, NULL);
  }
  ck_assert_msg (checked >= 20, "the dashboard's expressions were read (%u names)", checked);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("cluster-ops");

  hub_test_skip_without ("redis-server");
  HUB_TEST_ADD (suite, redis_lost_and_back_are_logged, 60);
  HUB_TEST_ADD (suite, unreachable_redis_at_start_is_logged, 60);
  HUB_TEST_ADD (suite, reaped_node_is_logged, 60);
  HUB_TEST_ADD (suite, cluster_sums_agree_with_every_node, 60);
  HUB_TEST_ADD (suite, grafana_dashboard_names_only_served_series, 60);
  return hub_test_run (suite);
}
