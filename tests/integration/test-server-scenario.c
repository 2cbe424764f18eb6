/* test-scenario.c: the foundation scenario end to end over real sockets:
 * two rooms, alice on two devices, bob and charlie; broadcast, room message,
 * direct, statuses, typing and disconnects. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

typedef struct {
  HubTestWs *a1, *a2, *bob, *charlie;
} Cast;

static void
expect_from (HubTestWs *ws, const char *who, const char *type, const char *from, gint64 n)
{
  g_autoptr (JsonObject) frame = hub_test_ws_expect_type (ws, type, HUB_TEST_WS_TIMEOUT_MS);
  g_autofree char *text = hub_test_json_encode (frame);

  ck_assert_msg (g_strcmp0 (hub_test_json_string (frame, "from"), from) == 0 &&
                     hub_test_json_int (hub_test_json_object (frame, "payload"), "n") == n,
                 "%s: expected %s #%" G_GINT64_FORMAT " from %s, got %s", who, type, n, from, text);
}

static void
expect_status (HubTestWs *ws, const char *who, const char *user, const char *status)
{
  g_autoptr (JsonObject) frame = hub_test_ws_expect_type (ws, "status", HUB_TEST_WS_TIMEOUT_MS);
  g_autofree char *text = hub_test_json_encode (frame);

  ck_assert_msg (g_strcmp0 (hub_test_json_string (frame, "user"), user) == 0 &&
                     g_strcmp0 (hub_test_json_string (frame, "status"), status) == 0,
                 "%s: expected %s %s, got %s", who, user, status, text);
}

static void
quiet (Cast *cast)
{
  HubTestWs *all[] = {cast->a1, cast->a2, cast->bob, cast->charlie};

  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    if (all[i] != NULL)
      hub_test_ws_barrier (all[i]);
}

START_TEST (foundation_scenario)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  Cast cast;
  g_autoptr (JsonObject) broadcast = NULL;
  g_autoptr (JsonObject) published = NULL;
  g_autoptr (JsonObject) direct = NULL;
  g_autoptr (JsonObject) typing = NULL;
  g_autoptr (JsonObject) who = NULL;
  g_autoptr (JsonObject) statuses = NULL;

  cast.a1 = hub_test_ws_login (port, "alice", "phone");
  cast.a2 = hub_test_ws_login (port, "alice", "laptop");
  cast.bob = hub_test_ws_login (port, "bob", NULL);
  cast.charlie = hub_test_ws_login (port, "charlie", NULL);

  json_object_unref (hub_test_ws_ok (cast.a1, "{'type':'create','room':'general'}"));
  json_object_unref (hub_test_ws_ok (cast.a1, "{'type':'create','room':'tech'}"));
  json_object_unref (hub_test_ws_ok (cast.a1, "{'type':'join','room':'general'}"));
  json_object_unref (hub_test_ws_ok (cast.bob, "{'type':'join','room':'general'}"));
  json_object_unref (hub_test_ws_ok (cast.charlie, "{'type':'join','room':'tech'}"));
  json_object_unref (hub_test_ws_ok (cast.a2, "{'type':'join','room':'tech'}"));
  json_object_unref (hub_test_ws_ok (cast.bob, "{'type':'subscribe','users':['alice']}"));
  json_object_unref (hub_test_ws_ok (cast.charlie, "{'type':'subscribe','users':['alice']}"));
  json_object_unref (hub_test_ws_ok (cast.a1, "{'type':'subscribe','users':['bob']}"));
  /* Each has the last presence event owed to it (§11: they may lag the replies). */
  hub_test_ws_await_presence (cast.a1, "join", "tech", "alice");
  hub_test_ws_await_presence (cast.a2, "join", "tech", "alice");
  hub_test_ws_await_presence (cast.bob, "join", "general", "bob");
  hub_test_ws_await_presence (cast.charlie, "join", "tech", "alice");

  /* A broadcast reaches all four connections. */
  broadcast = hub_test_ws_ok (cast.charlie, "{'type':'broadcast','payload':{'n':1}}");
  ck_assert_int_eq (hub_test_json_int (broadcast, "delivered"), 4);
  expect_from (cast.a1, "alice/phone", "broadcast", "charlie", 1);
  expect_from (cast.a2, "alice/laptop", "broadcast", "charlie", 1);
  expect_from (cast.bob, "bob", "broadcast", "charlie", 1);
  expect_from (cast.charlie, "charlie", "broadcast", "charlie", 1);
  quiet (&cast);

  /* A message to general reaches alice's two devices and bob, not charlie. */
  published = hub_test_ws_ok (cast.bob, "{'type':'publish','room':'general','payload':{'n':2}}");
  ck_assert_int_eq (hub_test_json_int (published, "seq"), 1);
  expect_from (cast.a1, "alice/phone", "message", "bob", 2);
  expect_from (cast.a2, "alice/laptop", "message", "bob", 2);
  expect_from (cast.bob, "bob", "message", "bob", 2);
  quiet (&cast);

  /* A direct from alice to bob reaches bob and alice's other device. */
  direct = hub_test_ws_ok (cast.a1, "{'type':'direct','to':'bob','payload':{'n':3}}");
  ck_assert_int_eq (hub_test_json_int (direct, "delivered"), 1);
  expect_from (cast.bob, "bob", "direct", "alice", 3);
  expect_from (cast.a2, "alice/laptop", "direct", "alice", 3);
  quiet (&cast);

  /* Statuses reach subscribers. */
  json_object_unref (hub_test_ws_ok (cast.a2, "{'type':'status','status':'away'}"));
  expect_status (cast.bob, "bob", "alice", "away");
  expect_status (cast.charlie, "charlie", "alice", "away");
  json_object_unref (hub_test_ws_ok (cast.bob, "{'type':'status','status':'busy'}"));
  expect_status (cast.a1, "alice/phone", "bob", "busy");
  quiet (&cast);

  /* Typing reaches the other members only. */
  typing = hub_test_ws_ok (cast.a1, "{'type':'typing','room':'tech'}");
  {
    g_autoptr (JsonObject) frame =
        hub_test_ws_expect_type (cast.charlie, "typing", HUB_TEST_WS_TIMEOUT_MS);

    ck_assert_str_eq (hub_test_json_string (frame, "user"), "alice");
    ck_assert_str_eq (hub_test_json_string (frame, "room"), "tech");
  }
  quiet (&cast);

  /* Alice's second device goes: she stays online (away), nobody is told. */
  hub_test_ws_drop (cast.a2);
  cast.a2 = NULL;
  for (int i = 0; i < 100; i++) {
    JsonObject *alice;

    g_clear_pointer (&who, json_object_unref);
    who = hub_test_ws_ok (cast.charlie, "{'type':'who','room':'tech'}");
    alice = hub_test_json_array_find (hub_test_json_array (who, "members"), "user", "alice");
    ck_assert_ptr_nonnull (alice);
    if (hub_test_json_int (alice, "devices") == 1)
      break;
    hub_test_ws_service (20);
  }
  statuses = hub_test_ws_ok (cast.charlie, "{'type':'subscribe','users':['alice']}");
  ck_assert_str_eq (hub_test_json_string (hub_test_json_object (statuses, "statuses"), "alice"),
                    "away");
  quiet (&cast);

  /* The last one goes: subscribers learn she is offline. */
  hub_test_ws_close (cast.a1, 1000);
  cast.a1 = NULL;
  expect_status (cast.bob, "bob", "alice", "offline");
  expect_status (cast.charlie, "charlie", "alice", "offline");
  quiet (&cast);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("scenario");

  HUB_TEST_ADD (suite, foundation_scenario, 60);
  return hub_test_run (suite);
}
