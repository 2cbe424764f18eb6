/* hub-test-node.c: see hub-test-node.h. */
#include "hub-test-node.h"
#include "hub-test-redis.h"

#include <check.h>
#include <hub/hub-store-redis.h>

#define TEST_START_MS G_GINT64_CONSTANT (1732752000000)
#define WAIT_MS       10000

/* Nodes alive in this test process on the test's redis-server (redis mode). */
static guint redis_nodes;

static gboolean
wait_timeout (gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the default main context (where the Redis store's connections are)
 * until *@done, at most WAIT_MS; FALSE on timeout. */
static gboolean
run_until (const gboolean *done)
{
  gboolean timed_out = FALSE;
  guint timer;

  if (*done)
    return TRUE;
  timer = g_timeout_add (WAIT_MS, wait_timeout, &timed_out);
  while (!*done && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timer);
  return *done;
}

static void
test_client_free (TestClient *c)
{
  if (!c->gone)
    test_client_disconnect (c);
  hub_memory_sink_free (c->sink);
  g_free (c);
}

TestNode *
test_node_new (void (*tweak) (HubConfig *config))
{
  TestNode *node = g_new0 (TestNode, 1);
  HubConfig config;

  hub_config_init (&config);
  g_free (config.node);
  config.node = g_strdup ("test-node");
  if (tweak != NULL)
    tweak (&config);
  node->clock = hub_clock_new_fake (TEST_START_MS);
  node->dispatcher = hub_dispatcher_new (&config, node->clock);
  node->clients = g_ptr_array_new_with_free_func ((GDestroyNotify)test_client_free);
  hub_config_clear (&config);
  if (hub_test_store_is_redis ()) {
    g_autoptr (GError) error = NULL;
    g_autofree char *prefix = hub_test_redis_unique_prefix ();
    gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

    ck_assert_msg (
        hub_dispatcher_use_redis (node->dispatcher, hub_test_store_redis_url (), prefix, &error),
        "expected the node to take the Redis store: %s", error ? error->message : "");
    redis_nodes++;
    while (!hub_dispatcher_is_healthy (node->dispatcher)) {
      ck_assert_msg (g_get_monotonic_time () < deadline,
                     "expected the node to reach Redis within %d ms", WAIT_MS);
      g_main_context_iteration (NULL, TRUE);
    }
  }
  return node;
}

void
test_node_free (TestNode *node)
{
  gboolean on_redis = hub_dispatcher_is_clustered (node->dispatcher);

  g_ptr_array_unref (node->clients);
  hub_dispatcher_free (node->dispatcher);
  hub_clock_unref (node->clock);
  g_free (node);
  if (on_redis && --redis_nodes == 0)
    hub_test_redis_free_all ();
}

static void
synced (gboolean ok, gpointer data)
{
  *(gboolean *)data = TRUE;
}

void
test_node_sync (TestNode *node)
{
  gboolean done = FALSE;

  hub_dispatcher_sync (node->dispatcher, synced, &done);
  ck_assert_msg (run_until (&done), "expected the store to answer a sync within %d ms", WAIT_MS);
}

void
test_node_advance (TestNode *node, gint64 ms)
{
  hub_fake_clock_advance (node->clock, ms);
  test_node_sync (node);
}

gboolean
test_node_is_member (TestNode *node, const char *user, const char *room)
{
  TestClient *observer = test_client_hello (node, "zz-observer", NULL);
  g_autofree char *json = g_strdup_printf ("{\"type\":\"who\",\"id\":1,\"room\":\"%s\"}", room);
  g_autoptr (JsonObject) r = test_client_req (observer, json);
  gboolean member = FALSE;

  if (g_strcmp0 (json_object_get_string_member (r, "type"), "ok") == 0) {
    JsonArray *members = json_object_get_array_member (r, "members");

    for (guint i = 0; i < json_array_get_length (members); i++)
      if (g_strcmp0 (
              json_object_get_string_member (json_array_get_object_element (members, i), "user"),
              user) == 0)
        member = TRUE;
  } else {
    ck_assert_reply_error (r, "room_not_found");
  }
  test_client_disconnect (observer);
  return member;
}

TestClient *
test_client_open (TestNode *node)
{
  TestClient *c = g_new0 (TestClient, 1);

  c->node = node;
  c->sink = hub_memory_sink_new ();
  c->conn = hub_dispatcher_connection_open (node->dispatcher, hub_memory_sink_vtable (), c->sink);
  c->sink->conn = c->conn;
  c->sink->auto_flush = TRUE;
  g_ptr_array_add (node->clients, c);
  return c;
}

TestClient *
test_client_hello (TestNode *node, const char *user, const char *device)
{
  TestClient *c = test_client_open (node);
  g_autofree char *json =
      device != NULL
          ? g_strdup_printf ("{\"type\":\"hello\",\"id\":0,\"user\":\"%s\",\"device\":\"%s\"}",
                             user, device)
          : g_strdup_printf ("{\"type\":\"hello\",\"id\":0,\"user\":\"%s\"}", user);
  g_autoptr (JsonObject) welcome = test_client_request (c, json, 0);

  ck_assert_msg (g_strcmp0 (json_object_get_string_member (welcome, "type"), "welcome") == 0,
                 "hello as %s: expected welcome, got %s", user, test_json (welcome));
  test_client_clear (c);
  return c;
}

void
test_client_send (TestClient *c, const char *json)
{
  ck_assert_msg (!c->gone, "sending on a disconnected client");
  hub_dispatcher_receive (c->node->dispatcher, c->conn, json, strlen (json));
  test_node_sync (c->node);
}

static gboolean
is_reply (JsonObject *obj, gint64 id)
{
  const char *type = json_object_get_string_member (obj, "type");
  JsonNode *id_node = json_object_get_member (obj, "id");

  if (id_node == NULL || json_node_get_value_type (id_node) != G_TYPE_INT64 ||
      json_node_get_int (id_node) != id)
    return FALSE;
  return g_strcmp0 (type, "ok") == 0 || g_strcmp0 (type, "error") == 0 ||
         g_strcmp0 (type, "welcome") == 0 || g_strcmp0 (type, "pong") == 0;
}

JsonObject *
test_client_request (TestClient *c, const char *json, gint64 id)
{
  test_client_send (c, json);
  for (guint i = 0; i < c->sink->frames->len; i++) {
    JsonObject *obj = hub_memory_sink_nth (c->sink, i);

    if (is_reply (obj, id)) {
      g_ptr_array_remove_index (c->sink->frames, i);
      return obj;
    }
    json_object_unref (obj);
  }
  ck_abort_msg ("no reply with id %" G_GINT64_FORMAT " to %s", id, json);
  return NULL;
}

JsonObject *
test_client_req (TestClient *c, const char *json)
{
  return test_client_request (c, json, 1);
}

void
test_client_join (TestClient *c, const char *room)
{
  g_autofree char *json = g_strdup_printf ("{\"type\":\"join\",\"id\":1,\"room\":\"%s\"}", room);
  g_autoptr (JsonObject) r = test_client_req (c, json);

  ck_assert_reply_ok (r);
}

int
test_run_suite (Suite *suite)
{
  /* The @redis variants hold the store to the same cases: skipped (77) only
   * where the platform has no redis-server at all (Windows). */
  if (hub_test_store_is_redis ())
    hub_test_skip_without ("redis-server");
  SRunner *sr = srunner_create (suite);
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}

JsonObject *
test_client_next (TestClient *c, const char *type)
{
  JsonObject *obj;

  while ((obj = hub_memory_sink_pop (c->sink)) != NULL) {
    if (g_strcmp0 (json_object_get_string_member (obj, "type"), type) == 0)
      return obj;
    json_object_unref (obj);
  }
  return NULL;
}

guint
test_client_count (TestClient *c, const char *type)
{
  return hub_memory_sink_count (c->sink, type);
}

void
test_client_clear (TestClient *c)
{
  hub_memory_sink_clear (c->sink);
}

void
test_client_disconnect (TestClient *c)
{
  if (c->gone)
    return;
  c->gone = TRUE;
  hub_dispatcher_connection_closed (c->node->dispatcher, c->conn);
  c->conn = NULL;
  c->sink->conn = NULL;
  test_node_sync (c->node);
}

const char *
test_json (JsonObject *obj)
{
  static char *last;
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), obj);

  g_free (last);
  last = json_to_string (node, FALSE);
  return last;
}

gboolean
test_json_array_has (JsonObject *obj, const char *member, const char *value)
{
  JsonArray *array = json_object_get_array_member (obj, member);

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    if (g_strcmp0 (json_array_get_string_element (array, i), value) == 0)
      return TRUE;
  return FALSE;
}
