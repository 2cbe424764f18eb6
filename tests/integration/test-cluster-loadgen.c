/* test-cluster-loadgen.c: hub-loadgen through haproxy in front of three
 * cluster nodes on one Redis: a mixed run with multi-device users spread
 * over the nodes must report zero loss, no duplicate, nothing out of order,
 * and its counts must agree with the cluster-wide sums one scrape through
 * haproxy reads (the report says "cluster"). */
#include <check.h>

#include "hub-test-redis.h"
#include "test-loadgen-util.h"

START_TEST (loadgen_through_haproxy_over_three_nodes_loses_nothing)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", NULL);
  g_autoptr (HubTestServer) c = hub_test_redis_node (redis, "nc", NULL);
  guint16 ports[] = {hub_test_server_port (a), hub_test_server_port (b), hub_test_server_port (c)};
  guint16 lb = hub_test_haproxy_start (ports, G_N_ELEMENTS (ports));
  g_autofree char *url = g_strdup_printf ("--url=ws://127.0.0.1:%u/ws", lb);
  const char *args[] = {url,
                        "--users=40",
                        "--devices=1:50,2:50",
                        "--rooms=6",
                        "--rooms-per-user=2",
                        "--rate=3",
                        "--ramp=1",
                        "--duration=3",
                        "--mix=publish=85,direct=5,typing=5,status=5",
                        "--seed=11",
                        "--quiet",
                        NULL};
  LoadgenRun run;
  gint64 expected;
  g_autoptr (HubTestHttpResponse) sa = NULL;
  g_autoptr (JsonObject) stats = NULL;

  loadgen_run (&run, args, 90000);
  ck_assert_msg (run.status == 0, "a clean cluster run exits 0, got %d; stdout:\n%s\nstderr:\n%s",
                 run.status, run.out, run.err);
  expected = report_int (&run, "deliveries", "expected");
  ck_assert_msg (expected > 100, "deliveries were expected (%" G_GINT64_FORMAT ")", expected);
  ck_assert_msg (report_int (&run, "deliveries", "received") == expected,
                 "every expected delivery was received");
  ck_assert_msg (report_int (&run, "deliveries", "lost") == 0, "nothing lost:\n%s", run.out);
  ck_assert_msg (report_int (&run, "deliveries", "duplicated") == 0 &&
                     report_int (&run, "deliveries", "out_of_order") == 0,
                 "no duplicate, nothing out of order:\n%s", run.out);
  ck_assert_msg (report_int (&run, "errors", "total") == 0, "no error:\n%s", run.out);
  ck_assert_msg (report_int (&run, "direct", "received") == report_int (&run, "direct", "expected"),
                 "every direct the cluster promised arrived");
  /* The balancer spread the devices: every node held some. */
  sa = hub_test_http_get (ports[0], "/api/stats");
  stats = hub_test_http_response_json (sa);
  ck_assert_msg (json_object_get_size (hub_test_json_object (stats, "nodes")) == 3,
                 "expected 3 live nodes in /api/stats: %s", sa->body);
  for (guint i = 0; i < G_N_ELEMENTS (ports); i++) {
    g_autoptr (HubTestHttpResponse) m = hub_test_http_get (ports[i], "/metrics");
    double in = 0;

    ck_assert (hub_test_metric_value (m->body, "hub_messages_in_total", &in));
    ck_assert_msg (in > 0, "expected node %u to have accepted messages (leastconn spreads)", i);
  }
  /* One /metrics through haproxy answers for the three nodes. */
  {
    JsonObject *server = hub_test_json_object (run.report, "server");
    JsonObject *agree = hub_test_json_object (server, "agreement");

    ck_assert_str_eq (hub_test_json_string (server, "scope"), "cluster");
    ck_assert_msg (hub_test_json_bool (hub_test_json_object (agree, "messages_in"), "match"),
                   "accepted messages agree with the cluster's sum:\n%s", run.out);
    ck_assert_msg (hub_test_json_bool (hub_test_json_object (agree, "deliveries"), "match"),
                   "deliveries agree with the cluster's sum:\n%s", run.out);
    ck_assert_msg (strstr (run.out, "cluster deliveries") != NULL &&
                       strstr (run.out, "live, agree)") != NULL,
                   "the table says the cluster's deliveries agree:\n%s", run.out);
  }
  loadgen_run_clear (&run);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("cluster-loadgen");

  hub_test_skip_without ("redis-server");
  hub_test_skip_without ("haproxy");
  HUB_TEST_ADD (suite, loadgen_through_haproxy_over_three_nodes_loses_nothing, 120);
  return hub_test_run (suite);
}
