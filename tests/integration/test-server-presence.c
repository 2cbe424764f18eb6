/* test-presence.c: PROTOCOL.md §7 over real sockets: status, subscribe,
 * unsubscribe, online, invisibility, disconnects and the presence grace. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

static void
expect_status (HubTestWs *ws, const char *user, const char *status)
{
  g_autoptr (JsonObject) frame = hub_test_ws_expect_type (ws, "status", HUB_TEST_WS_TIMEOUT_MS);
  g_autofree char *text = hub_test_json_encode (frame);

  ck_assert_msg (g_strcmp0 (hub_test_json_string (frame, "user"), user) == 0 &&
                     g_strcmp0 (hub_test_json_string (frame, "status"), status) == 0,
                 "expected status %s of %s, got %s", status, user, text);
  ck_assert_msg (!json_object_has_member (frame, "seq"), "status carries no seq: %s", text);
}

static void
subscribe (HubTestWs *ws, const char *user)
{
  json_object_unref (hub_test_ws_ok (ws, "{'type':'subscribe','users':['%s']}", user));
}

static void
set_status (HubTestWs *ws, const char *status)
{
  json_object_unref (hub_test_ws_ok (ws, "{'type':'status','status':'%s'}", status));
}

/* The number of connections /api/stats reports. */
static gint64
connections (guint16 port)
{
  g_autoptr (HubTestHttpResponse) response = hub_test_http_get (port, "/api/stats");
  g_autoptr (JsonObject) stats = hub_test_http_response_json (response);

  return hub_test_json_int (stats, "connections");
}

/* Waits (bounded) until the server counts @n WebSocket connections: it has
 * processed the disconnects before. */
static void
wait_connections (guint16 port, gint64 n)
{
  gint64 now = -1;

  for (int i = 0; i < 250 && (now = connections (port)) != n; i++)
    hub_test_ws_service (20);
  ck_assert_msg (now == n,
                 "expected %" G_GINT64_FORMAT " connections, /api/stats says %" G_GINT64_FORMAT, n,
                 now);
}

START_TEST (subscribe_returns_statuses)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  HubTestWs *carol = hub_test_ws_login (port, "carol", NULL);
  g_autoptr (JsonObject) reply = NULL;
  JsonObject *statuses;

  set_status (carol, "away");
  reply = hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob','carol','dave']}");
  statuses = hub_test_json_object (reply, "statuses");
  ck_assert_str_eq (hub_test_json_string (statuses, "bob"), "online");
  ck_assert_str_eq (hub_test_json_string (statuses, "carol"), "away");
  ck_assert_str_eq (hub_test_json_string (statuses, "dave"), "offline");
  hub_test_ws_barrier (alice);
  (void)bob;
}
END_TEST

START_TEST (status_event_once_per_change)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *a1 = hub_test_ws_login (port, "alice", "one");
  HubTestWs *a2 = hub_test_ws_login (port, "alice", "two");
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);

  subscribe (a1, "bob");
  set_status (bob, "away");
  expect_status (a1, "bob", "away");
  set_status (bob, "away");
  hub_test_ws_barrier (a1);
  set_status (bob, "busy");
  expect_status (a1, "bob", "busy");
  set_status (bob, "online");
  expect_status (a1, "bob", "online");
  hub_test_ws_barrier (a1);
  /* Subscriptions belong to the connection; bob is not subscribed to himself. */
  hub_test_ws_barrier (a2);
  hub_test_ws_barrier (bob);
}
END_TEST

START_TEST (status_belongs_to_the_user)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *b1 = hub_test_ws_login (port, "bob", "one");
  HubTestWs *b2 = NULL;
  g_autoptr (JsonObject) reply = NULL;

  subscribe (alice, "bob");
  set_status (b1, "busy");
  expect_status (alice, "bob", "busy");
  /* A new device does not change it. */
  b2 = hub_test_ws_login (port, "bob", "two");
  reply = hub_test_ws_ok (b2, "{'type':'subscribe','users':['bob']}");
  ck_assert_str_eq (hub_test_json_string (hub_test_json_object (reply, "statuses"), "bob"), "busy");
  hub_test_ws_barrier (alice);
  /* Set from one device, it is everybody's. */
  set_status (b2, "away");
  expect_status (alice, "bob", "away");
  expect_status (b2, "bob", "away");
}
END_TEST

START_TEST (last_disconnect_sends_offline)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *b1 = hub_test_ws_login (port, "bob", "one");
  HubTestWs *b2 = hub_test_ws_login (port, "bob", "two");
  g_autoptr (JsonObject) reply = NULL;
  gint64 before;

  subscribe (alice, "bob");
  set_status (b1, "away");
  expect_status (alice, "bob", "away");
  before = connections (port);
  hub_test_ws_drop (b1);
  wait_connections (port, before - 1);
  hub_test_ws_barrier (alice); /* bob still has a device: no event */
  hub_test_ws_close (b2, 1000);
  expect_status (alice, "bob", "offline");
  /* Its status is forgotten: the next connection starts online. */
  b1 = hub_test_ws_login (port, "bob", "three");
  expect_status (alice, "bob", "online");
  reply = hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob']}");
  ck_assert_str_eq (hub_test_json_string (hub_test_json_object (reply, "statuses"), "bob"),
                    "online");
}
END_TEST

START_TEST (invisible_user_appears_offline)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  g_autoptr (JsonObject) statuses = NULL;
  g_autoptr (JsonObject) online = NULL;
  g_autoptr (JsonObject) who = NULL;
  JsonObject *bob_entry;
  gint64 before;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'general'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'general'}"));
  subscribe (alice, "bob");
  hub_test_ws_await_presence (alice, "join", "general", "bob");
  set_status (bob, "offline");
  expect_status (alice, "bob", "offline");

  statuses = hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob']}");
  ck_assert_str_eq (hub_test_json_string (hub_test_json_object (statuses, "statuses"), "bob"),
                    "offline");
  online = hub_test_ws_ok (alice, "{'type':'online'}");
  ck_assert_int_eq (hub_test_json_int (online, "count"), 1);
  ck_assert (!hub_test_json_array_has_string (hub_test_json_array (online, "users"), "bob"));
  ck_assert (hub_test_json_array_has_string (hub_test_json_array (online, "users"), "alice"));
  who = hub_test_ws_ok (alice, "{'type':'who','room':'general'}");
  bob_entry = hub_test_json_array_find (hub_test_json_array (who, "members"), "user", "bob");
  ck_assert_ptr_nonnull (bob_entry);
  ck_assert_str_eq (hub_test_json_string (bob_entry, "status"), "offline");
  ck_assert_int_eq (hub_test_json_int (bob_entry, "devices"), 0);

  /* Its own later disconnect sends no event. */
  before = connections (port);
  hub_test_ws_drop (bob);
  wait_connections (port, before - 1);
  hub_test_ws_barrier (alice);
}
END_TEST

START_TEST (invisible_user_coming_back)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);

  subscribe (alice, "bob");
  set_status (bob, "offline");
  expect_status (alice, "bob", "offline");
  set_status (bob, "away");
  expect_status (alice, "bob", "away");
}
END_TEST

START_TEST (presence_grace_hides_quick_reconnect)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--presence-grace", "1", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  gint64 start;

  subscribe (alice, "bob");
  hub_test_ws_drop (bob);
  bob = hub_test_ws_login (port, "bob", NULL);
  /* Past the grace: still nothing, bob never looked offline. */
  hub_test_ws_service (1600);
  hub_test_ws_barrier (alice);

  start = g_get_monotonic_time ();
  hub_test_ws_drop (bob);
  expect_status (alice, "bob", "offline");
  ck_assert_msg (g_get_monotonic_time () - start >= 700 * G_TIME_SPAN_MILLISECOND,
                 "offline is sent after the 1 s grace, not at once");
}
END_TEST

START_TEST (online_list_and_count)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", "one");
  HubTestWs *alice2 = hub_test_ws_login (port, "alice", "two");
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  HubTestWs *carol = hub_test_ws_login (port, "carol", NULL);
  HubTestWs *anonymous = hub_test_ws_open (port);
  g_autoptr (JsonObject) all = NULL;
  g_autoptr (JsonObject) one = NULL;
  JsonArray *users;

  set_status (carol, "offline");
  set_status (bob, "busy");
  all = hub_test_ws_ok (alice, "{'type':'online'}");
  users = hub_test_json_array (all, "users");
  ck_assert_int_eq (hub_test_json_int (all, "count"), 2);
  ck_assert_int_eq (json_array_get_length (users), 2);
  ck_assert (hub_test_json_array_has_string (users, "alice"));
  ck_assert (hub_test_json_array_has_string (users, "bob"));
  one = hub_test_ws_ok (alice, "{'type':'online','limit':1}");
  ck_assert_int_eq (hub_test_json_int (one, "count"), 2);
  ck_assert_int_eq (json_array_get_length (hub_test_json_array (one, "users")), 1);
  (void)alice2;
  (void)anonymous;
}
END_TEST

START_TEST (bad_status_is_bad_request)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *alice = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);

  hub_test_ws_err (alice, "bad_request", "{'type':'status','status':'sleeping'}");
  hub_test_ws_err (alice, "bad_request", "{'type':'status','status':''}");
  hub_test_ws_err (alice, "bad_request", "{'type':'status','status':'Away'}");
  set_status (alice, "busy");
}
END_TEST

START_TEST (unsubscribe_stops_events)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  HubTestWs *carol = hub_test_ws_login (port, "carol", NULL);

  json_object_unref (hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob','carol']}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'unsubscribe','users':['bob']}"));
  set_status (bob, "away");
  hub_test_ws_barrier (alice);
  set_status (carol, "away");
  expect_status (alice, "carol", "away");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("presence");

  HUB_TEST_ADD (suite, subscribe_returns_statuses, 30);
  HUB_TEST_ADD (suite, status_event_once_per_change, 30);
  HUB_TEST_ADD (suite, status_belongs_to_the_user, 30);
  HUB_TEST_ADD (suite, last_disconnect_sends_offline, 30);
  HUB_TEST_ADD (suite, invisible_user_appears_offline, 30);
  HUB_TEST_ADD (suite, invisible_user_coming_back, 30);
  HUB_TEST_ADD (suite, presence_grace_hides_quick_reconnect, 30);
  HUB_TEST_ADD (suite, online_list_and_count, 30);
  HUB_TEST_ADD (suite, bad_status_is_bad_request, 30);
  HUB_TEST_ADD (suite, unsubscribe_stops_events, 30);
  return hub_test_run (suite);
}
