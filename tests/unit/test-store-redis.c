/* test-store-redis.c: the Redis store (hub-store-redis.h) without a running
 * Redis: malformed URLs are refused, and a cluster node that has no Redis yet
 * is degraded: /healthz 503, every request needing Redis (hello included)
 * answered `internal` "cluster broker unavailable", never accepted. (With a
 * running Redis, every dispatcher case runs on it: ctest's @redis variants.) */
#include <check.h>

#include <hub/hub-store-redis.h>
#include <string.h>

#include "hub-test-node.h"

static TestNode *node;

static void
setup (void)
{
  node = test_node_new (NULL);
}

static void
teardown (void)
{
  test_node_free (node);
}

START_TEST (test_memory_mode_is_healthy)
{
  guint status = 0;
  g_autofree char *body = hub_dispatcher_render_health (node->dispatcher, &status);

  ck_assert_msg (!hub_dispatcher_is_clustered (node->dispatcher), "the memory store by default");
  ck_assert_uint_eq (status, 200);
  ck_assert_str_eq (body, "{\"status\":\"ok\",\"node\":\"test-node\"}");
}
END_TEST

START_TEST (test_bad_urls_are_refused)
{
  const char *bad[] = {"http://127.0.0.1:6379", "redis://",
                       "redis://host:0",        "redis://host:99999",
                       "redis://host:6379/x",   "redis://host:port"};

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;

    ck_assert_msg (!hub_dispatcher_use_redis (node->dispatcher, bad[i], "hub:", &error),
                   "expected '%s' to be refused", bad[i]);
    ck_assert_ptr_nonnull (error);
    ck_assert_msg (!hub_dispatcher_is_clustered (node->dispatcher),
                   "a refused URL leaves the node in memory mode");
  }
}
END_TEST

/* Port 1 on loopback: nothing listens; and no main loop runs here anyway. */
static void
use_unreachable_redis (void)
{
  g_autoptr (GError) error = NULL;

  ck_assert_msg (hub_dispatcher_use_redis (node->dispatcher, "redis://127.0.0.1:1/2", "t:", &error),
                 "a well-formed URL is accepted: %s", error != NULL ? error->message : "");
}

START_TEST (test_degraded_without_redis)
{
  guint status = 0;
  g_autofree char *body = NULL;
  g_autofree char *metrics = NULL;
  g_autofree char *stats = NULL;

  use_unreachable_redis ();
  ck_assert (hub_dispatcher_is_clustered (node->dispatcher));
  ck_assert_msg (!hub_dispatcher_is_healthy (node->dispatcher), "not connected: degraded");
  body = hub_dispatcher_render_health (node->dispatcher, &status);
  ck_assert_uint_eq (status, 503);
  ck_assert_msg (strstr (body, "\"status\":\"degraded\"") != NULL, "body says degraded: %s", body);
  metrics = hub_dispatcher_render_metrics (node->dispatcher);
  ck_assert_msg (strstr (metrics, "\nhub_cluster_up 0\n") != NULL, "metrics say hub_cluster_up 0");
  stats = hub_dispatcher_render_stats_json (node->dispatcher);
  ck_assert_msg (strstr (stats, "\"cluster\":{\"up\":false") != NULL &&
                     strstr (stats, "\"nodes\":{}") != NULL,
                 "stats carry the cluster part: %s", stats);
}
END_TEST

START_TEST (test_hello_refused_while_degraded_and_may_be_retried)
{
  TestClient *c;
  g_autoptr (JsonObject) first = NULL;
  g_autoptr (JsonObject) second = NULL;
  g_autoptr (JsonObject) other = NULL;

  use_unreachable_redis ();
  c = test_client_open (node);
  first = test_client_req (c, "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\"}");
  ck_assert_reply_error (first, "internal");
  ck_assert_str_eq (json_object_get_string_member (first, "message"), "cluster broker unavailable");
  ck_assert_msg (!hub_connection_is_authenticated (c->conn), "not past hello");
  ck_assert_msg (!hub_connection_is_closing (c->conn), "the connection stays open");
  second = test_client_req (c, "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\"}");
  ck_assert_reply_error (second, "internal");
  other = test_client_req (c, "{\"type\":\"join\",\"id\":1,\"room\":\"r\"}");
  ck_assert_reply_error (other, "not_authenticated");
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("store-redis");
  TCase *tc;

  tc = tcase_create ("memory mode");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_memory_mode_is_healthy);
  suite_add_tcase (s, tc);

  tc = tcase_create ("urls");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_bad_urls_are_refused);
  suite_add_tcase (s, tc);

  tc = tcase_create ("degraded");
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_degraded_without_redis);
  tcase_add_test (tc, test_hello_refused_while_degraded_and_may_be_retried);
  suite_add_tcase (s, tc);

  return test_run_suite (s);
}
