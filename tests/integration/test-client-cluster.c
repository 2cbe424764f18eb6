/* test-client-cluster.c: hub-client's scriptable mode against a cluster of
 * two nodes (a real redis-server), where a publish's `ok` may come before the
 * message itself, which travels through Redis: --json must still print the
 * script's own last message every time (it waits for the copy whose seq the
 * `ok` gave). */
#include "test-client-util.h"

#include "hub-test-redis.h"

START_TEST (json_has_the_own_last_message)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = hub_test_redis_node (redis, "na", NULL);
  g_autoptr (HubTestServer) b = hub_test_redis_node (redis, "nb", NULL);
  const char *args[] = {"--user", "scribe", "--json", NULL};

  for (guint i = 0; i < 15; i++) {
    /* Alternately on either node; a room of its own each time. */
    g_autofree char *script = g_strdup_printf ("/join r%u\nlast words %u\n", i, i);
    g_autofree char *needle = g_strdup_printf ("\"payload\":{\"text\":\"last words %u\"}", i);
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = client_run (hub_test_server_port (i % 2 ? b : a), script, args, &out, &err);

    ck_assert_msg (status == 0, "run %u: exit 0, got %d:\n%s", i, status, err);
    ck_assert_msg (strstr (out, needle) != NULL && strstr (out, "\"type\":\"message\"") != NULL,
                   "run %u: the script's own message is in --json's output:\n%s", i, out);
  }
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("client-cluster");

  HUB_TEST_ADD (suite, json_has_the_own_last_message, 120);
  hub_test_skip_without ("redis-server");
  return hub_test_run (suite);
}
