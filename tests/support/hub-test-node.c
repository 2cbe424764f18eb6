/* hub-test-node.c: see hub-test-node.h. */
#include "hub-test-node.h"

#include <check.h>

#define TEST_START_MS G_GINT64_CONSTANT (1732752000000)

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
  return node;
}

void
test_node_free (TestNode *node)
{
  g_ptr_array_unref (node->clients);
  hub_dispatcher_free (node->dispatcher);
  hub_clock_unref (node->clock);
  g_free (node);
}

TestClient *
test_client_open (TestNode *node)
{
  TestClient *c = g_new0 (TestClient, 1);

  c->node = node;
  c->sink = hub_memory_sink_new ();
  c->conn = hub_dispatcher_connection_open (node->dispatcher, hub_memory_sink_vtable (), c->sink);
  c->sink->conn = c->conn;
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
