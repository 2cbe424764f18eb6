/* test-cluster-api.c: PROTOCOL.md §13 across a cluster (§11: "bans and the
 * server API act on every node"), with a real redis-server and two hub-server
 * nodes: a disconnect asked of one node has closed the connections it names
 * on both before its reply (the reply counts what each node closed; a node
 * that cannot confirm makes it 503, not 200), a ban asked of one node refuses
 * hello on the other, a join or remove asked of one node is heard and holds
 * on the other, a user's details list its connections on every node. */
#include "hub-test-redis.h"
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <hub/hub-auth.h>
#include <string.h>

#define SECRET  "itest-cluster-api-secret-0123456789"
#define WAIT_MS 5000

/* A token for @sub; every user's but the admin's carries a `rooms` claim
 * that allows nothing but the lobby (§12), so what they may do in other
 * rooms is what a grant gives. */
static char *
token_for (const char *sub, gboolean admin)
{
  g_autoptr (JsonObject) claims = json_object_new ();

  json_object_set_string_member (claims, "sub", sub);
  json_object_set_int_member (claims, "exp", g_get_real_time () / G_USEC_PER_SEC + 600);
  if (admin) {
    json_object_set_boolean_member (claims, "admin", TRUE);
  } else {
    JsonObject *rooms = json_object_new ();

    json_object_set_string_member (rooms, "lobby", "j");
    json_object_set_object_member (claims, "rooms", rooms);
  }
  return hub_auth_mint_claims (SECRET, strlen (SECRET), claims);
}

static HubTestServer *
node (HubTestRedis *redis, const char *name)
{
  return hub_test_redis_node (redis, name, "--secret", SECRET, NULL);
}

/* An API call with the admin token; @body's ' stand for ". (transfer full) */
static HubTestHttpResponse *
api (HubTestServer *server, const char *method, const char *path, const char *body)
{
  g_autofree char *token = token_for ("ops", TRUE);
  g_autofree char *auth = g_strdup_printf ("Authorization: Bearer %s", token);
  const char *headers[] = {auth, NULL};
  g_autofree char *json = body != NULL ? g_strdelimit (g_strdup (body), "'", '"') : NULL;
  g_autoptr (GError) error = NULL;
  HubTestHttpResponse *response =
      hub_test_http_request (hub_test_server_port (server), method, path, headers, json, &error);

  ck_assert_msg (response != NULL, "%s %s: %s", method, path, error ? error->message : "?");
  return response;
}

static JsonObject *
api_ok (HubTestServer *server, const char *method, const char *path, const char *body)
{
  g_autoptr (HubTestHttpResponse) response = api (server, method, path, body);

  ck_assert_msg (response->status == 200, "%s %s on %s: expected 200, got %s: %s", method, path,
                 hub_test_server_node (server), response->status_line, response->body);
  return hub_test_http_response_json (response);
}

static HubTestWs *
login (HubTestServer *server, const char *user, const char *device, JsonObject **welcome)
{
  g_autofree char *token = token_for (user, FALSE);
  HubTestWs *ws = hub_test_ws_open (hub_test_server_port (server));
  JsonObject *reply =
      hub_test_ws_call (ws, "{'type':'hello','device':'%s','token':'%s'}", device, token);

  ck_assert_msg (g_strcmp0 (hub_test_json_string (reply, "type"), "welcome") == 0,
                 "%s/%s on %s: expected welcome, got %s", user, device,
                 hub_test_server_node (server), hub_test_json_encode (reply));
  if (welcome != NULL)
    *welcome = reply;
  else
    json_object_unref (reply);
  return ws;
}

/* Takes frames until a `message` of @room with @seq; fails when none comes. */
static void
await_message (HubTestWs *ws, const char *room, gint64 seq)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_MS * G_TIME_SPAN_MILLISECOND;

  while (g_get_monotonic_time () < deadline) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (ws, 100);

    if (frame != NULL && g_strcmp0 (hub_test_json_string (frame, "type"), "message") == 0 &&
        g_strcmp0 (hub_test_json_string (frame, "room"), room) == 0 &&
        hub_test_json_int (frame, "seq") == seq)
      return;
  }
  ck_abort_msg ("message %s #%" G_GINT64_FORMAT " did not come", room, seq);
}

/* @ws is closed with 4010 and received no `message` before it (what it had
 * was read before the disconnect). */
static void
closed_without_messages (HubTestWs *ws)
{
  JsonObject *frame;

  ck_assert_uint_eq (hub_test_ws_wait_closed (ws, WAIT_MS), 4010);
  while ((frame = hub_test_ws_recv_json (ws, 0)) != NULL) {
    ck_assert_msg (g_strcmp0 (hub_test_json_string (frame, "type"), "message") != 0,
                   "a disconnected connection got %s", hub_test_json_encode (frame));
    json_object_unref (frame);
  }
}

/* alice has a phone on each node and a laptop on nb. A disconnect of her
 * phones asked of nb answers 2 (one closed by each node: the reply waited for
 * na); right after it, na lists her laptop alone and a message published
 * through na reaches the laptop and neither phone. Then all of hers, asked
 * of na: 1, the laptop on nb. Bob, on both nodes, is not touched. */
START_TEST (disconnect_reaches_both_nodes_before_its_reply)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = node (redis, "na");
  g_autoptr (HubTestServer) b = node (redis, "nb");
  g_autoptr (HubTestWs) phone_a = login (a, "alice", "phone", NULL);
  g_autoptr (HubTestWs) phone_b = login (b, "alice", "phone", NULL);
  g_autoptr (HubTestWs) laptop = login (b, "alice", "laptop", NULL);
  g_autoptr (HubTestWs) bob_a = login (a, "bob", "phone", NULL);
  g_autoptr (HubTestWs) bob_b = login (b, "bob", "phone", NULL);
  g_autoptr (JsonObject) reply = NULL;
  g_autoptr (JsonObject) users = NULL;
  g_autoptr (JsonObject) sent = NULL;
  JsonArray *conns;

  json_object_unref (api_ok (a, "POST", "/api/join", "{'room':'r','user':'alice'}"));
  json_object_unref (api_ok (a, "POST", "/api/join", "{'room':'r','user':'bob'}"));
  hub_test_ws_await_presence (phone_a, "join", "r", "bob");
  hub_test_ws_await_presence (phone_b, "join", "r", "bob");
  hub_test_ws_await_presence (laptop, "join", "r", "bob");
  hub_test_ws_await_presence (bob_b, "join", "r", "bob");

  reply = api_ok (b, "POST", "/api/disconnect", "{'user':'alice','device':'phone'}");
  ck_assert_int_eq (hub_test_json_int (reply, "disconnected"), 2);
  users = api_ok (a, "GET", "/api/users/alice", NULL);
  conns = hub_test_json_array (users, "connections");
  ck_assert_uint_eq (json_array_get_length (conns), 1);
  ck_assert_str_eq (hub_test_json_string (json_array_get_object_element (conns, 0), "device"),
                    "laptop");
  ck_assert_str_eq (hub_test_json_string (json_array_get_object_element (conns, 0), "node"), "nb");
  sent = api_ok (a, "POST", "/api/publish", "{'room':'r','payload':{'after':1}}");
  closed_without_messages (phone_a);
  closed_without_messages (phone_b);
  await_message (laptop, "r", hub_test_json_int (sent, "seq"));
  await_message (bob_a, "r", hub_test_json_int (sent, "seq"));
  await_message (bob_b, "r", hub_test_json_int (sent, "seq"));

  g_clear_pointer (&reply, json_object_unref);
  g_clear_pointer (&users, json_object_unref);
  reply = api_ok (a, "POST", "/api/disconnect", "{'user':'alice'}");
  ck_assert_int_eq (hub_test_json_int (reply, "disconnected"), 1);
  users = api_ok (b, "GET", "/api/users/alice", NULL);
  ck_assert (!hub_test_json_bool (users, "online"));
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (users, "connections")), 0);
  ck_assert_uint_eq (hub_test_ws_wait_closed (laptop, WAIT_MS), 4010);
  ck_assert (!hub_test_ws_is_closed (bob_a));
  ck_assert (!hub_test_ws_is_closed (bob_b));
  {
    g_autoptr (JsonObject) pong = hub_test_ws_call (bob_b, "{'type':'ping'}");

    ck_assert_str_eq (hub_test_json_string (pong, "type"), "pong");
  }
}
END_TEST

/* A node that holds some of the connections but cannot confirm (paused):
 * the disconnect is not answered 200 (503 once its 3 s wait runs out); the
 * node closes them once it runs again. */
START_TEST (disconnect_is_not_ok_without_every_node)
{
  HubTestRedis *redis = hub_test_redis_start ();
  /* A heartbeat longer than the pause: nb stays alive in Redis (the
   * disconnect waits for it) and, once resumed, does not take its
   * connections for dead (4002) before it reads the disconnect. */
  g_autoptr (HubTestServer) a =
      hub_test_redis_node (redis, "na", "--secret", SECRET, "--heartbeat", "10", NULL);
  g_autoptr (HubTestServer) b =
      hub_test_redis_node (redis, "nb", "--secret", SECRET, "--heartbeat", "10", NULL);
  g_autoptr (HubTestWs) phone = login (b, "alice", "phone", NULL);
  g_autoptr (HubTestHttpResponse) response = NULL;
  gint64 start;

  if (!hub_test_server_pause (b, TRUE)) {
    fprintf (stderr, "%s: skipped: hub-server cannot be paused on this platform\n", __func__);
    return;
  }
  start = g_get_monotonic_time ();
  response = api (a, "POST", "/api/disconnect", "{'user':'alice'}");
  ck_assert (hub_test_server_pause (b, FALSE));
  ck_assert_msg (response->status == 503, "expected 503 while nb cannot confirm, got %s: %s",
                 response->status_line, response->body);
  ck_assert_msg (g_get_monotonic_time () - start >= 3 * G_TIME_SPAN_SECOND - 100000,
                 "the disconnect should have waited 3 s for nb");
  ck_assert_uint_eq (hub_test_ws_wait_closed (phone, 10000), 4010);
}
END_TEST

/* A ban asked of na refuses alice's hello on nb (unauthorized, 4001) while it
 * runs, not bob's; then she is welcomed on nb again. */
START_TEST (ban_refuses_hello_on_the_other_node)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = node (redis, "na");
  g_autoptr (HubTestServer) b = node (redis, "nb");
  g_autoptr (HubTestWs) bob = login (b, "bob", "d", NULL);
  g_autoptr (JsonObject) reply =
      api_ok (a, "POST", "/api/disconnect", "{'user':'alice','ban_s':2}");
  g_autofree char *token = token_for ("alice", FALSE);
  gint64 banned_at = g_get_monotonic_time ();
  gint64 deadline = banned_at + 8 * G_TIME_SPAN_SECOND;
  guint refused = 0;
  gboolean welcomed = FALSE;

  ck_assert_int_eq (hub_test_json_int (reply, "disconnected"), 0);
  while (!welcomed && g_get_monotonic_time () < deadline) {
    g_autoptr (HubTestWs) ws = hub_test_ws_open (hub_test_server_port (b));
    g_autoptr (JsonObject) answer =
        hub_test_ws_call (ws, "{'type':'hello','device':'d','token':'%s'}", token);

    if (g_strcmp0 (hub_test_json_string (answer, "type"), "welcome") == 0) {
      welcomed = TRUE;
      break;
    }
    ck_assert_str_eq (hub_test_json_string (answer, "code"), "unauthorized");
    ck_assert_uint_eq (hub_test_ws_wait_closed (ws, WAIT_MS), 4001);
    refused++;
    hub_test_ws_service (200);
  }
  ck_assert_msg (refused >= 1, "nb must refuse alice's first hello");
  ck_assert_msg (welcomed, "the ban should have run out after 2 s");
  ck_assert_msg (g_get_monotonic_time () - banned_at >= 2 * G_TIME_SPAN_SECOND - 100000,
                 "welcomed on nb before the ban ran out");
  ck_assert (!hub_test_ws_is_closed (bob));
}
END_TEST

/* A join asked of na: members on nb hear it, and its grant holds for alice's
 * publish on nb; a remove asked of nb: members on na hear it, and alice is
 * no member on either node, her grant gone with it. Her details, asked of either node, list her
 * connections on both. */
START_TEST (join_remove_and_details_across_nodes)
{
  HubTestRedis *redis = hub_test_redis_start ();
  g_autoptr (HubTestServer) a = node (redis, "na");
  g_autoptr (HubTestServer) b = node (redis, "nb");
  g_autoptr (JsonObject) wa = NULL;
  g_autoptr (JsonObject) wb = NULL;
  g_autoptr (HubTestWs) alice_a = login (a, "alice", "phone", &wa);
  g_autoptr (HubTestWs) alice_b = login (b, "alice", "laptop", &wb);
  g_autoptr (HubTestWs) bob_b = login (b, "bob", "d", NULL);
  g_autoptr (JsonObject) published = NULL;
  g_autoptr (JsonObject) users = NULL;
  JsonArray *conns;

  json_object_unref (api_ok (b, "POST", "/api/join", "{'room':'r','user':'bob'}"));
  hub_test_ws_await_presence (bob_b, "join", "r", "bob");
  hub_test_ws_err (alice_b, "forbidden", "{'type':'join','room':'r'}");
  json_object_unref (api_ok (a, "POST", "/api/join", "{'room':'r','user':'alice','allow':'jp'}"));
  hub_test_ws_await_presence (bob_b, "join", "r", "alice");
  hub_test_ws_await_presence (alice_a, "join", "r", "alice");
  hub_test_ws_await_presence (alice_b, "join", "r", "alice");
  published = hub_test_ws_ok (alice_b, "{'type':'publish','room':'r','payload':{'n':1}}");
  await_message (alice_a, "r", hub_test_json_int (published, "seq"));

  users = api_ok (a, "GET", "/api/users/alice", NULL);
  ck_assert (hub_test_json_bool (users, "online"));
  conns = hub_test_json_array (users, "connections");
  ck_assert_uint_eq (json_array_get_length (conns), 2);
  {
    JsonObject *ca = hub_test_json_array_find (conns, "conn", hub_test_json_string (wa, "conn"));
    JsonObject *cb = hub_test_json_array_find (conns, "conn", hub_test_json_string (wb, "conn"));

    ck_assert (ca != NULL && cb != NULL);
    ck_assert_str_eq (hub_test_json_string (ca, "node"), "na");
    ck_assert_str_eq (hub_test_json_string (ca, "device"), "phone");
    ck_assert_str_eq (hub_test_json_string (cb, "node"), "nb");
    ck_assert_str_eq (hub_test_json_string (cb, "device"), "laptop");
  }
  ck_assert (hub_test_json_array_has_string (hub_test_json_array (users, "rooms"), "r"));

  json_object_unref (api_ok (b, "POST", "/api/remove", "{'room':'r','user':'alice'}"));
  hub_test_ws_await_presence (alice_a, "leave", "r", "alice");
  hub_test_ws_await_presence (bob_b, "leave", "r", "alice");
  /* Her grant went with the membership: her token alone does not allow r. */
  hub_test_ws_err (alice_a, "forbidden", "{'type':'publish','room':'r','payload':{}}");
  hub_test_ws_err (alice_b, "forbidden", "{'type':'history','room':'r','since':0}");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("cluster-api");

  hub_test_skip_without ("redis-server");
  HUB_TEST_ADD (suite, disconnect_reaches_both_nodes_before_its_reply, 60);
  HUB_TEST_ADD (suite, disconnect_is_not_ok_without_every_node, 60);
  HUB_TEST_ADD (suite, ban_refuses_hello_on_the_other_node, 60);
  HUB_TEST_ADD (suite, join_remove_and_details_across_nodes, 60);
  return hub_test_run (suite);
}
