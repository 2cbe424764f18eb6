/* test-server-api.c: PROTOCOL.md §13, the server API, over real sockets: every
 * route and its answer, every error and the order of the checks (404, 405,
 * the admin token, the body or query, the state), hostile bodies, paths and
 * query strings, each of which changes nothing; a grant set by /api/join on
 * every device and after reconnects; a disconnect that has closed what it
 * names before its reply, and a ban. In both modes: test-server-api@redis
 * runs it again with the server's state in Redis. */
#include "hub-test-platform.h"
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <hub/hub-auth.h>
#include <string.h>

#define SECRET "itest-api-secret-0123456789abcdef"

/* --- Helpers -----------------------------------------------------------------------------------
 */

static char *
token_for (const char *sub, gboolean admin, const char *rooms)
{
  g_autoptr (JsonObject) claims = json_object_new ();

  json_object_set_string_member (claims, "sub", sub);
  json_object_set_int_member (claims, "exp", g_get_real_time () / G_USEC_PER_SEC + 600);
  if (admin)
    json_object_set_boolean_member (claims, "admin", TRUE);
  if (rooms != NULL) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_autofree char *json = g_strdelimit (g_strdup (rooms), "'", '"');

    ck_assert (json_parser_load_from_data (parser, json, -1, NULL));
    json_object_set_member (claims, "rooms", json_node_copy (json_parser_get_root (parser)));
  }
  return hub_auth_mint_claims (SECRET, strlen (SECRET), claims);
}

/* The bearer token of every call of this file; NULL: none sent. */
static char *admin;

/* An API request: @body's ' stand for " (NULL: no body). (transfer full) */
static HubTestHttpResponse *
api (guint16 port, const char *method, const char *path, const char *token, const char *body)
{
  g_autofree char *auth =
      token != NULL ? g_strdup_printf ("Authorization: Bearer %s", token) : NULL;
  const char *headers[] = {auth, NULL};
  g_autofree char *json = body != NULL ? g_strdelimit (g_strdup (body), "'", '"') : NULL;
  g_autoptr (GError) error = NULL;
  HubTestHttpResponse *response =
      hub_test_http_request (port, method, path, auth != NULL ? headers : NULL, json, &error);

  ck_assert_msg (response != NULL, "%s %s: %s", method, path, error ? error->message : "?");
  return response;
}

/* 200 and the body's object. (transfer full) */
static JsonObject *
api_ok (guint16 port, const char *method, const char *path, const char *body)
{
  g_autoptr (HubTestHttpResponse) response = api (port, method, path, admin, body);

  ck_assert_msg (response->status == 200, "%s %s %s: expected 200, got %s: %s", method, path,
                 body ? body : "", response->status_line, response->body);
  return hub_test_http_response_json (response);
}

static void
expect_error (HubTestHttpResponse *response, guint status, const char *code, const char *what)
{
  g_autoptr (JsonObject) obj = NULL;

  ck_assert_msg (response->status == status, "%s: expected %u %s, got %s: %s", what, status, code,
                 response->status_line, response->body);
  obj = hub_test_http_response_json (response);
  ck_assert_msg (g_strcmp0 (hub_test_json_string (obj, "code"), code) == 0,
                 "%s: expected code %s, got %s", what, code, response->body);
  ck_assert_msg (hub_test_json_string (obj, "message") != NULL, "%s: errors carry a message: %s",
                 what, response->body);
}

/* The call answers @status {"code": @code, …}, with the admin token. */
static void
api_err (guint16 port, const char *method, const char *path, const char *body, guint status,
         const char *code)
{
  g_autoptr (HubTestHttpResponse) response = api (port, method, path, admin, body);
  g_autofree char *what = g_strdup_printf ("%s %s %s", method, path, body ? body : "");

  expect_error (response, status, code, what);
}

/* A server with the secret (and @first_arg…): every call carries the admin token. */
static HubTestServer *
start (const char *first_arg, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  va_list ap;

  g_ptr_array_add (args, "--secret");
  g_ptr_array_add (args, SECRET);
  va_start (ap, first_arg);
  for (const char *a = first_arg; a != NULL; a = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer)a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  g_free (admin);
  admin = token_for ("ops", TRUE, NULL);
  {
    g_autoptr (GError) error = NULL;
    HubTestServer *server = hub_test_server_startv ((const char *const *)args->pdata, &error);

    ck_assert_msg (server != NULL, "hub-server: %s", error ? error->message : "?");
    return server;
  }
}

/* A connection of @user on @device with a token (@rooms: its claim, NULL:
 * none); fails unless welcomed. @welcome gets the welcome (nullable). */
static HubTestWs *
login (guint16 port, const char *user, const char *device, const char *rooms, JsonObject **welcome)
{
  g_autofree char *token = token_for (user, FALSE, rooms);
  HubTestWs *ws = hub_test_ws_open (port);
  JsonObject *reply =
      hub_test_ws_call (ws, "{'type':'hello','device':'%s','token':'%s'}", device, token);

  ck_assert_msg (g_strcmp0 (hub_test_json_string (reply, "type"), "welcome") == 0,
                 "%s/%s expected welcome, got %s", user, device, hub_test_json_encode (reply));
  if (welcome != NULL)
    *welcome = reply;
  else
    json_object_unref (reply);
  return ws;
}

/* The user's details: GET /api/users/@user. (transfer full) */
static JsonObject *
user_details (guint16 port, const char *user)
{
  g_autofree char *path = g_strdup_printf ("/api/users/%s", user);

  return api_ok (port, "GET", path, NULL);
}

static guint
n_rooms (guint16 port)
{
  g_autoptr (JsonObject) list = api_ok (port, "GET", "/api/rooms", NULL);

  return (guint)hub_test_json_int (list, "count");
}

/* Takes frames until @ws has received a `message` of @room with @seq; fails
 * when none comes in 5 s. */
static void
await_message (HubTestWs *ws, const char *room, gint64 seq)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;

  while (g_get_monotonic_time () < deadline) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (ws, 200);

    if (frame != NULL && g_strcmp0 (hub_test_json_string (frame, "type"), "message") == 0 &&
        g_strcmp0 (hub_test_json_string (frame, "room"), room) == 0 &&
        hub_test_json_int (frame, "seq") == seq)
      return;
  }
  ck_abort_msg ("message %s #%" G_GINT64_FORMAT " did not come", room, seq);
}

/* @ws is open and answered: a ping gets its pong. */
static void
assert_alive (HubTestWs *ws)
{
  g_autoptr (JsonObject) pong = hub_test_ws_call (ws, "{'type':'ping'}");

  ck_assert_str_eq (hub_test_json_string (pong, "type"), "pong");
  ck_assert (!hub_test_ws_is_closed (ws));
}

/* --- POST /api/join ----------------------------------------------------------------------------
 */

/* The user becomes a member, with the usual presence event on each of its
 * connections; the grant ("jp" by default) holds on every device, on a
 * connection made afterwards, after a reconnect, and is replaced by the next
 * join; the room is created with it. */
START_TEST (join_sets_a_grant_for_every_device)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  /* Their tokens allow nothing in team.x. */
  g_autoptr (HubTestWs) phone = login (port, "alice", "phone", "{'lobby':'j'}", NULL);
  g_autoptr (HubTestWs) laptop = login (port, "alice", "laptop", "{'lobby':'j'}", NULL);
  g_autoptr (HubTestWs) later = NULL;
  g_autoptr (JsonObject) joined = NULL;
  g_autoptr (JsonObject) welcome = NULL;
  g_autoptr (JsonObject) again = NULL;

  hub_test_ws_err (phone, "forbidden", "{'type':'join','room':'team.x'}");
  joined = api_ok (port, "POST", "/api/join", "{'room':'team.x','user':'alice'}");
  ck_assert_str_eq (hub_test_json_string (joined, "room"), "team.x");
  ck_assert_str_eq (hub_test_json_string (joined, "name"), "team.x");
  ck_assert_int_eq (hub_test_json_int (joined, "seq"), 0);
  hub_test_ws_await_presence (phone, "join", "team.x", "alice");
  hub_test_ws_await_presence (laptop, "join", "team.x", "alice");

  /* j and p on both devices, not c (the room exists: a join again is a no-op). */
  json_object_unref (
      hub_test_ws_ok (phone, "{'type':'publish','room':'team.x','payload':{'from':'phone'}}"));
  await_message (laptop, "team.x", 1);
  json_object_unref (hub_test_ws_ok (laptop, "{'type':'history','room':'team.x','since':0}"));
  json_object_unref (hub_test_ws_ok (laptop, "{'type':'who','room':'team.x'}"));
  hub_test_ws_err (laptop, "forbidden", "{'type':'create','room':'team.x'}");

  /* A connection made afterwards, and one that reconnects with resume. */
  later = login (port, "alice", "tablet", "{'lobby':'j'}", &welcome);
  ck_assert (hub_test_json_array_has_string (hub_test_json_array (welcome, "rooms"), "team.x"));
  json_object_unref (
      hub_test_ws_ok (later, "{'type':'publish','room':'team.x','payload':{'from':'tablet'}}"));
  hub_test_ws_drop (phone);
  g_clear_pointer (&phone, hub_test_ws_free);
  {
    g_autofree char *token = token_for ("alice", FALSE, "{'lobby':'j'}");
    g_autoptr (JsonObject) reply = NULL;

    phone = hub_test_ws_open (port);
    reply = hub_test_ws_call (
        phone, "{'type':'hello','device':'phone','token':'%s','resume':{'team.x':1}}", token);
    ck_assert_str_eq (hub_test_json_string (reply, "type"), "welcome");
    await_message (phone, "team.x", 2); /* the replay: j holds for resume */
    json_object_unref (hub_test_ws_expect_type (phone, "resumed", HUB_TEST_WS_TIMEOUT_MS));
  }
  json_object_unref (
      hub_test_ws_ok (phone, "{'type':'publish','room':'team.x','payload':{'from':'again'}}"));

  /* The next join replaces the grant, on every device. */
  again = api_ok (port, "POST", "/api/join", "{'room':'team.x','user':'alice','allow':'j'}");
  ck_assert_int_eq (hub_test_json_int (again, "seq"), 3);
  hub_test_ws_err (laptop, "forbidden", "{'type':'publish','room':'team.x','payload':{}}");
  hub_test_ws_err (phone, "forbidden", "{'type':'typing','room':'team.x'}");
  json_object_unref (hub_test_ws_ok (later, "{'type':'history','room':'team.x','since':0}"));
  /* No second presence event for a join again. */
  hub_test_ws_drain (laptop);
  json_object_unref (api_ok (port, "POST", "/api/join", "{'room':'team.x','user':'alice'}"));
  hub_test_ws_barrier (laptop);
  json_object_unref (
      hub_test_ws_ok (laptop, "{'type':'publish','room':'team.x','payload':{'back':'jp'}}"));
}
END_TEST

/* Other members hear of the join; `name` of a room created by it is its id. */
START_TEST (join_tells_the_members)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) bob = login (port, "bob", "d", NULL, NULL);
  g_autoptr (JsonObject) users = NULL;

  hub_test_ws_join (bob, "bob", "general");
  json_object_unref (api_ok (port, "POST", "/api/join", "{'room':'general','user':'carol'}"));
  hub_test_ws_await_presence (bob, "join", "general", "carol");
  users = user_details (port, "carol");
  ck_assert (hub_test_json_array_has_string (hub_test_json_array (users, "rooms"), "general"));
  ck_assert (!hub_test_json_bool (users, "online"));
}
END_TEST

/* Auto-create off: 404 room_not_found and no room; beyond max_rooms_per_user:
 * 400 too_many_rooms and no membership. */
START_TEST (join_state_errors)
{
  g_autoptr (HubTestServer) server = start ("--no-auto-create", "--max-rooms-per-user", "1", NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) ws = login (port, "alice", "d", NULL, NULL);
  g_autoptr (JsonObject) users = NULL;

  api_err (port, "POST", "/api/join", "{'room':'nowhere','user':'alice'}", 404, "room_not_found");
  ck_assert_uint_eq (n_rooms (port), 0);
  json_object_unref (hub_test_ws_ok (ws, "{'type':'create','room':'one'}"));
  json_object_unref (hub_test_ws_ok (ws, "{'type':'create','room':'two'}"));
  json_object_unref (api_ok (port, "POST", "/api/join", "{'room':'one','user':'alice'}"));
  api_err (port, "POST", "/api/join", "{'room':'two','user':'alice'}", 400, "too_many_rooms");
  users = user_details (port, "alice");
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (users, "rooms")), 1);
  ck_assert (hub_test_json_array_has_string (hub_test_json_array (users, "rooms"), "one"));
}
END_TEST

/* --- POST /api/remove --------------------------------------------------------------------------
 */

/* As if the user had sent leave: the same presence events to every member
 * and to the user's own connections; its membership (and grant) ends. */
START_TEST (remove_is_a_leave)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) alice = login (port, "alice", "d", NULL, NULL);
  g_autoptr (HubTestWs) bob = login (port, "bob", "d", NULL, NULL);
  g_autoptr (JsonObject) removed = NULL;
  g_autoptr (JsonObject) users = NULL;

  hub_test_ws_join (alice, "alice", "general");
  hub_test_ws_join (bob, "bob", "general");
  hub_test_ws_await_presence (alice, "join", "general", "bob");
  removed = api_ok (port, "POST", "/api/remove", "{'room':'general','user':'alice'}");
  ck_assert_str_eq (hub_test_json_string (removed, "room"), "general");
  hub_test_ws_await_presence (alice, "leave", "general", "alice");
  hub_test_ws_await_presence (bob, "leave", "general", "alice");
  hub_test_ws_err (alice, "not_member", "{'type':'publish','room':'general','payload':{}}");
  users = user_details (port, "alice");
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (users, "rooms")), 0);

  api_err (port, "POST", "/api/remove", "{'room':'general','user':'alice'}", 404, "not_member");
  api_err (port, "POST", "/api/remove", "{'room':'nowhere','user':'alice'}", 404, "room_not_found");
  /* The last member's removal deletes the room, as its leave would. */
  json_object_unref (api_ok (port, "POST", "/api/remove", "{'room':'general','user':'bob'}"));
  ck_assert_uint_eq (n_rooms (port), 0);
}
END_TEST

/* --- POST /api/disconnect ----------------------------------------------------------------------
 */

/* Only the connections of the device named, then all of the user's: each is
 * closed with 4010 before the reply (the user's details, read right after,
 * show none of them; a message published right after reaches none of them),
 * the others stay. */
START_TEST (disconnect_closes_before_the_reply)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) phone = login (port, "alice", "phone", NULL, NULL);
  g_autoptr (HubTestWs) phone2 = login (port, "alice", "phone", NULL, NULL);
  g_autoptr (HubTestWs) laptop = login (port, "alice", "laptop", NULL, NULL);
  g_autoptr (HubTestWs) bob = login (port, "bob", "phone", NULL, NULL);
  g_autoptr (JsonObject) reply = NULL;
  g_autoptr (JsonObject) users = NULL;
  g_autoptr (JsonObject) sent = NULL;
  JsonArray *conns;

  hub_test_ws_join (laptop, "alice", "general");
  hub_test_ws_join (bob, "bob", "general");
  hub_test_ws_drain (phone);
  hub_test_ws_drain (phone2);

  reply = api_ok (port, "POST", "/api/disconnect", "{'user':'alice','device':'phone'}");
  ck_assert_int_eq (hub_test_json_int (reply, "disconnected"), 2);
  users = user_details (port, "alice");
  conns = hub_test_json_array (users, "connections");
  ck_assert_uint_eq (json_array_get_length (conns), 1);
  ck_assert_str_eq (hub_test_json_string (json_array_get_object_element (conns, 0), "device"),
                    "laptop");
  sent = api_ok (port, "POST", "/api/publish", "{'room':'general','payload':{'after':1}}");
  ck_assert_uint_eq (hub_test_ws_wait_closed (phone, 5000), 4010);
  ck_assert_uint_eq (hub_test_ws_wait_closed (phone2, 5000), 4010);
  {
    HubTestWs *closed[] = {phone, phone2};

    for (guint i = 0; i < G_N_ELEMENTS (closed); i++) {
      JsonObject *frame;

      /* What came before the close: never the message published after the reply. */
      while ((frame = hub_test_ws_recv_json (closed[i], 0)) != NULL) {
        ck_assert_msg (g_strcmp0 (hub_test_json_string (frame, "type"), "message") != 0,
                       "a disconnected connection got %s", hub_test_json_encode (frame));
        json_object_unref (frame);
      }
    }
  }
  await_message (laptop, "general", hub_test_json_int (sent, "seq"));
  assert_alive (bob);

  g_clear_pointer (&reply, json_object_unref);
  g_clear_pointer (&users, json_object_unref);
  reply = api_ok (port, "POST", "/api/disconnect", "{'user':'alice'}");
  ck_assert_int_eq (hub_test_json_int (reply, "disconnected"), 1);
  users = user_details (port, "alice");
  ck_assert (!hub_test_json_bool (users, "online"));
  ck_assert_str_eq (hub_test_json_string (users, "status"), "offline");
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (users, "connections")), 0);
  /* Still a member: a disconnect ends connections, not memberships. */
  ck_assert (hub_test_json_array_has_string (hub_test_json_array (users, "rooms"), "general"));
  ck_assert_uint_eq (hub_test_ws_wait_closed (laptop, 5000), 4010);
  assert_alive (bob);
  ck_assert (!hub_test_ws_is_closed (bob));

  /* Nobody to close: 0, and nothing else happens. */
  g_clear_pointer (&reply, json_object_unref);
  reply = api_ok (port, "POST", "/api/disconnect", "{'user':'nobody'}");
  ck_assert_int_eq (hub_test_json_int (reply, "disconnected"), 0);
  /* Welcome again: no ban was asked. */
  g_clear_pointer (&phone, hub_test_ws_free);
  phone = login (port, "alice", "phone", NULL, NULL);
}
END_TEST

/* A watcher sees the user go offline when its last connection is closed. */
START_TEST (disconnect_sends_the_offline_status)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) alice = login (port, "alice", "d", NULL, NULL);
  g_autoptr (HubTestWs) bob = login (port, "bob", "d", NULL, NULL);
  g_autoptr (JsonObject) statuses = hub_test_ws_ok (bob, "{'type':'subscribe','users':['alice']}");
  g_autoptr (JsonObject) status = NULL;

  ck_assert_str_eq (hub_test_json_string (hub_test_json_object (statuses, "statuses"), "alice"),
                    "online");
  json_object_unref (api_ok (port, "POST", "/api/disconnect", "{'user':'alice'}"));
  status = hub_test_ws_expect_type (bob, "status", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_str_eq (hub_test_json_string (status, "user"), "alice");
  ck_assert_str_eq (hub_test_json_string (status, "status"), "offline");
  ck_assert_uint_eq (hub_test_ws_wait_closed (alice, 5000), 4010);
}
END_TEST

/* With ban_s, every hello of the user is refused (unauthorized, 4001) for
 * that long, then welcomed again; other users are not touched. */
START_TEST (ban_refuses_hello_for_its_time)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) alice = login (port, "alice", "d", NULL, NULL);
  g_autoptr (HubTestWs) bob = login (port, "bob", "d", NULL, NULL);
  g_autoptr (JsonObject) reply =
      api_ok (port, "POST", "/api/disconnect", "{'user':'alice','ban_s':2}");
  g_autofree char *token = token_for ("alice", FALSE, NULL);
  gint64 banned_at = g_get_monotonic_time ();
  gint64 deadline = banned_at + 8 * G_TIME_SPAN_SECOND;
  gboolean welcomed = FALSE;
  guint refused = 0;

  ck_assert_int_eq (hub_test_json_int (reply, "disconnected"), 1);
  ck_assert_uint_eq (hub_test_ws_wait_closed (alice, 5000), 4010);
  /* Refused at once, and until the ban runs out (bounded: 8 s for a 2 s ban). */
  while (!welcomed && g_get_monotonic_time () < deadline) {
    g_autoptr (HubTestWs) ws = hub_test_ws_open (port);
    g_autoptr (JsonObject) answer =
        hub_test_ws_call (ws, "{'type':'hello','device':'d','token':'%s'}", token);

    if (g_strcmp0 (hub_test_json_string (answer, "type"), "welcome") == 0) {
      welcomed = TRUE;
      break;
    }
    ck_assert_str_eq (hub_test_json_string (answer, "code"), "unauthorized");
    ck_assert_uint_eq (hub_test_ws_wait_closed (ws, 5000), 4001);
    refused++;
    hub_test_ws_service (200);
  }
  ck_assert_msg (refused >= 1, "the first hello after the ban must be refused");
  ck_assert_msg (welcomed, "the ban should have run out after 2 s");
  ck_assert_msg (g_get_monotonic_time () - banned_at >= 2 * G_TIME_SPAN_SECOND - 100000,
                 "welcomed before the ban ran out");
  assert_alive (bob);
}
END_TEST

/* --- GET /api/rooms ----------------------------------------------------------------------------
 */

START_TEST (rooms_sorted_by_id_with_count)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  const char *ids[] = {"b.2", "a.10", "a.1", "c", "a.2", "B"};
  g_autoptr (JsonObject) all = NULL;
  g_autoptr (JsonObject) page = NULL;
  g_autoptr (JsonObject) none = NULL;
  g_autoptr (JsonObject) count_only = NULL;
  g_autoptr (JsonObject) huge = NULL;
  JsonArray *rooms;

  for (guint i = 0; i < G_N_ELEMENTS (ids); i++) {
    g_autofree char *body = g_strdup_printf ("{'room':'%s','user':'u%u'}", ids[i], i);

    json_object_unref (api_ok (port, "POST", "/api/join", body));
  }
  json_object_unref (api_ok (port, "POST", "/api/join", "{'room':'a.1','user':'z'}"));
  json_object_unref (api_ok (port, "POST", "/api/publish", "{'room':'a.1','payload':{}}"));

  all = api_ok (port, "GET", "/api/rooms", NULL);
  ck_assert_int_eq (hub_test_json_int (all, "count"), 6);
  rooms = hub_test_json_array (all, "rooms");
  ck_assert_uint_eq (json_array_get_length (rooms), 6);
  {
    const char *want[] = {"B", "a.1", "a.10", "a.2", "b.2", "c"}; /* byte order */

    for (guint i = 0; i < 6; i++)
      ck_assert_str_eq (hub_test_json_string (json_array_get_object_element (rooms, i), "room"),
                        want[i]);
  }
  {
    JsonObject *a1 = json_array_get_object_element (rooms, 1);

    ck_assert_str_eq (hub_test_json_string (a1, "name"), "a.1");
    ck_assert_int_eq (hub_test_json_int (a1, "members"), 2);
    ck_assert_int_eq (hub_test_json_int (a1, "seq"), 1);
  }
  /* Each with its stream epoch, as `rooms` over WebSocket: no two rooms share one. */
  for (guint i = 0; i < 6; i++) {
    gint64 epoch = hub_test_json_int (json_array_get_object_element (rooms, i), "epoch");

    ck_assert_msg (epoch > 0, "room #%u has an epoch", i);
    for (guint j = 0; j < i; j++)
      ck_assert_msg (hub_test_json_int (json_array_get_object_element (rooms, j), "epoch") != epoch,
                     "rooms #%u and #%u share an epoch", j, i);
  }

  page = api_ok (port, "GET", "/api/rooms?prefix=a.&limit=2&unknown=ignored", NULL);
  ck_assert_int_eq (hub_test_json_int (page, "count"), 3);
  rooms = hub_test_json_array (page, "rooms");
  ck_assert_uint_eq (json_array_get_length (rooms), 2);
  ck_assert_str_eq (hub_test_json_string (json_array_get_object_element (rooms, 0), "room"), "a.1");
  ck_assert_str_eq (hub_test_json_string (json_array_get_object_element (rooms, 1), "room"),
                    "a.10");

  none = api_ok (port, "GET", "/api/rooms?prefix=zz", NULL);
  ck_assert_int_eq (hub_test_json_int (none, "count"), 0);
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (none, "rooms")), 0);
  count_only = api_ok (port, "GET", "/api/rooms?limit=0", NULL);
  ck_assert_int_eq (hub_test_json_int (count_only, "count"), 6);
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (count_only, "rooms")), 0);
  /* Above 1000 is clamped; so is a number beyond 64 bits. */
  huge = api_ok (port, "GET", "/api/rooms?limit=123456789012345678901234567890", NULL);
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (huge, "rooms")), 6);
}
END_TEST

/* limit's default is 100; count counts them all. */
START_TEST (rooms_default_limit)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (JsonObject) list = NULL;
  g_autoptr (JsonObject) rest = NULL;

  for (guint i = 0; i < 105; i++) {
    g_autofree char *body = g_strdup_printf ("{'room':'r%03u','user':'u'}", i);

    json_object_unref (api_ok (port, "POST", "/api/join", body));
  }
  list = api_ok (port, "GET", "/api/rooms", NULL);
  ck_assert_int_eq (hub_test_json_int (list, "count"), 105);
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (list, "rooms")), 100);
  rest = api_ok (port, "GET", "/api/rooms?prefix=r10", NULL);
  ck_assert_int_eq (hub_test_json_int (rest, "count"), 5);
}
END_TEST

/* --- GET /api/rooms/ROOM -----------------------------------------------------------------------
 */

/* Members as an administrator sees them: an invisible user is `offline` with
 * its devices (a member's `who` shows it 0 devices). */
START_TEST (room_details_as_an_administrator_sees_them)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) alice = login (port, "alice", "a", NULL, NULL);
  g_autoptr (HubTestWs) alice2 = login (port, "alice", "b", NULL, NULL);
  g_autoptr (HubTestWs) bob = login (port, "bob", "d", NULL, NULL);
  g_autoptr (JsonObject) info = NULL;
  g_autoptr (JsonObject) details = NULL;
  JsonArray *members;
  JsonObject *a, *b, *c;

  hub_test_ws_join (alice, "alice", "general");
  hub_test_ws_join (bob, "bob", "general");
  json_object_unref (api_ok (port, "POST", "/api/join", "{'room':'general','user':'carol'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'status','status':'offline'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'status','status':'away'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'publish','room':'general','payload':{'t':1}}"));
  info = hub_test_ws_ok (bob, "{'type':'room_info','room':'general'}");

  details = api_ok (port, "GET", "/api/rooms/general", NULL);
  ck_assert_str_eq (hub_test_json_string (details, "room"), "general");
  ck_assert_str_eq (hub_test_json_string (details, "name"), "general");
  ck_assert_int_eq (hub_test_json_int (details, "created_ts"),
                    hub_test_json_int (info, "created_ts"));
  ck_assert_int_eq (hub_test_json_int (details, "seq"), 1);
  ck_assert_int_eq (hub_test_json_int (details, "messages"), 1);
  members = hub_test_json_array (details, "members");
  ck_assert_uint_eq (json_array_get_length (members), 3);
  a = hub_test_json_array_find (members, "user", "alice");
  b = hub_test_json_array_find (members, "user", "bob");
  c = hub_test_json_array_find (members, "user", "carol");
  ck_assert (a != NULL && b != NULL && c != NULL);
  ck_assert_str_eq (hub_test_json_string (a, "status"), "offline");
  ck_assert_int_eq (hub_test_json_int (a, "devices"), 2);
  ck_assert_str_eq (hub_test_json_string (b, "status"), "away");
  ck_assert_int_eq (hub_test_json_int (b, "devices"), 1);
  ck_assert_str_eq (hub_test_json_string (c, "status"), "offline");
  ck_assert_int_eq (hub_test_json_int (c, "devices"), 0);

  api_err (port, "GET", "/api/rooms/nowhere", NULL, 404, "room_not_found");
  api_err (port, "GET", "/api/rooms/@api", NULL, 400, "invalid_name");
  api_err (port, "GET", "/api/rooms/a:b", NULL, 400, "invalid_name");
}
END_TEST

/* --- GET /api/rooms/ROOM/history ---------------------------------------------------------------
 */

/* As §6: the oldest messages after `since`, ascending, paged with `more`
 * until it is false; `complete` false once older ones were evicted; the same
 * frames as a member's history; any room, member or not. */
START_TEST (history_pages)
{
  g_autoptr (HubTestServer) server = start ("--history", "8", NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) bob = login (port, "bob", "d", NULL, NULL);
  g_autoptr (JsonObject) first = NULL;
  g_autoptr (JsonObject) ws_history = NULL;
  gint64 since = 0;
  guint pages = 0, seen = 0;
  gboolean more = TRUE;

  hub_test_ws_join (bob, "bob", "general");
  for (int i = 1; i <= 6; i++)
    json_object_unref (
        hub_test_ws_ok (bob, "{'type':'publish','room':'general','payload':{'i':%d}}", i));

  first = api_ok (port, "GET", "/api/rooms/general/history", NULL);
  ws_history = hub_test_ws_ok (bob, "{'type':'history','room':'general','since':0}");
  ck_assert (!hub_test_json_bool (first, "more"));
  ck_assert (hub_test_json_bool (first, "complete"));
  {
    JsonArray *a = hub_test_json_array (first, "messages");
    JsonArray *b = hub_test_json_array (ws_history, "messages");

    ck_assert_uint_eq (json_array_get_length (a), 6);
    for (guint i = 0; i < 6; i++) {
      g_autofree char *x = hub_test_json_encode (json_array_get_object_element (a, i));
      g_autofree char *y = hub_test_json_encode (json_array_get_object_element (b, i));

      ck_assert_str_eq (x, y);
    }
  }

  while (more) {
    g_autofree char *path =
        g_strdup_printf ("/api/rooms/general/history?limit=4&since=%" G_GINT64_FORMAT, since);
    g_autoptr (JsonObject) page = api_ok (port, "GET", path, NULL);
    JsonArray *messages = hub_test_json_array (page, "messages");

    ck_assert_uint_le (json_array_get_length (messages), 4);
    for (guint i = 0; i < json_array_get_length (messages); i++) {
      gint64 seq = hub_test_json_int (json_array_get_object_element (messages, i), "seq");

      ck_assert_int_eq (seq, since + 1);
      since = seq;
      seen++;
    }
    more = hub_test_json_bool (page, "more");
    ck_assert_msg (++pages <= 3, "paging must end");
  }
  ck_assert_uint_eq (seen, 6);
  ck_assert_uint_eq (pages, 2);

  /* 10 messages in a history of 8: from 0, two were evicted. */
  for (int i = 7; i <= 10; i++)
    json_object_unref (
        hub_test_ws_ok (bob, "{'type':'publish','room':'general','payload':{'i':%d}}", i));
  {
    g_autoptr (JsonObject) evicted = api_ok (port, "GET", "/api/rooms/general/history", NULL);
    g_autoptr (JsonObject) kept = api_ok (port, "GET", "/api/rooms/general/history?since=2", NULL);
    JsonArray *messages = hub_test_json_array (evicted, "messages");

    ck_assert (!hub_test_json_bool (evicted, "complete"));
    ck_assert_uint_eq (json_array_get_length (messages), 8);
    ck_assert_int_eq (hub_test_json_int (json_array_get_object_element (messages, 0), "seq"), 3);
    ck_assert (hub_test_json_bool (kept, "complete"));
  }
  api_err (port, "GET", "/api/rooms/nowhere/history", NULL, 404, "room_not_found");
}
END_TEST

/* A page holds at most half of max_queue_bytes of messages (one at least),
 * as §6's history: more says what was left. */
START_TEST (history_pages_are_bounded_in_bytes)
{
  g_autoptr (HubTestServer) server = start ("--max-queue-bytes", "16384", NULL);
  guint16 port = hub_test_server_port (server);
  g_autofree char *filler = g_strnfill (3000, 'x');
  gint64 since = 0;
  guint pages = 0;
  gboolean more = TRUE;

  json_object_unref (api_ok (port, "POST", "/api/join", "{'room':'general','user':'bob'}"));
  for (int i = 1; i <= 10; i++) {
    g_autofree char *body =
        g_strdup_printf ("{'room':'general','payload':{'i':%d,'filler':'%s'}}", i, filler);

    json_object_unref (api_ok (port, "POST", "/api/publish", body));
  }
  while (more) {
    g_autofree char *path =
        g_strdup_printf ("/api/rooms/general/history?limit=1000&since=%" G_GINT64_FORMAT, since);
    g_autoptr (HubTestHttpResponse) response = api (port, "GET", path, admin, NULL);
    g_autoptr (JsonObject) page = hub_test_http_response_json (response);
    JsonArray *messages = hub_test_json_array (page, "messages");
    guint n = json_array_get_length (messages);

    ck_assert_uint_ge (n, 1);
    ck_assert_msg (n == 1 || response->body_len <= 8192 + 100, "a page of %u bytes",
                   (guint)response->body_len);
    since = hub_test_json_int (json_array_get_object_element (messages, n - 1), "seq");
    more = hub_test_json_bool (page, "more");
    ck_assert_msg (++pages <= 10, "paging must end");
  }
  ck_assert_int_eq (since, 10);
  ck_assert_uint_ge (pages, 4);
}
END_TEST

/* --- GET /api/users/USER -----------------------------------------------------------------------
 */

START_TEST (user_details_with_connections)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (JsonObject) w1 = NULL;
  g_autoptr (JsonObject) w2 = NULL;
  g_autoptr (HubTestWs) phone = login (port, "alice", "phone", NULL, &w1);
  g_autoptr (HubTestWs) laptop = login (port, "alice", "laptop", NULL, &w2);
  g_autoptr (JsonObject) users = NULL;
  g_autoptr (JsonObject) invisible = NULL;
  g_autoptr (JsonObject) nobody = NULL;
  JsonArray *conns;
  JsonObject *c;

  hub_test_ws_join (phone, "alice", "b-room");
  hub_test_ws_join (phone, "alice", "a-room");
  json_object_unref (hub_test_ws_ok (laptop, "{'type':'status','status':'busy'}"));
  users = user_details (port, "alice");
  ck_assert_str_eq (hub_test_json_string (users, "user"), "alice");
  ck_assert (hub_test_json_bool (users, "online"));
  ck_assert_str_eq (hub_test_json_string (users, "status"), "busy");
  conns = hub_test_json_array (users, "connections");
  ck_assert_uint_eq (json_array_get_length (conns), 2);
  c = hub_test_json_array_find (conns, "conn", hub_test_json_string (w1, "conn"));
  ck_assert (c != NULL);
  ck_assert_str_eq (hub_test_json_string (c, "device"), "phone");
  ck_assert_str_eq (hub_test_json_string (c, "node"), hub_test_json_string (w1, "node"));
  c = hub_test_json_array_find (conns, "conn", hub_test_json_string (w2, "conn"));
  ck_assert (c != NULL);
  ck_assert_str_eq (hub_test_json_string (c, "device"), "laptop");
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (users, "rooms")), 2);
  ck_assert_str_eq (json_array_get_string_element (hub_test_json_array (users, "rooms"), 0),
                    "a-room");

  /* Invisible: online (connected), status offline. */
  json_object_unref (hub_test_ws_ok (laptop, "{'type':'status','status':'offline'}"));
  invisible = user_details (port, "alice");
  ck_assert (hub_test_json_bool (invisible, "online"));
  ck_assert_str_eq (hub_test_json_string (invisible, "status"), "offline");

  /* No connection, no room: not 404. */
  nobody = user_details (port, "nobody");
  ck_assert (!hub_test_json_bool (nobody, "online"));
  ck_assert_str_eq (hub_test_json_string (nobody, "status"), "offline");
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (nobody, "connections")), 0);
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (nobody, "rooms")), 0);
  api_err (port, "GET", "/api/users/@api", NULL, 400, "invalid_name");
  api_err (port, "GET", "/api/users/a%20b", NULL, 400, "invalid_name");
}
END_TEST

/* --- Authorization and the order of the checks -------------------------------------------------
 */

/* Each route with a request the body or query check refuses: @bad_path
 * (its path, or another with a bad query or name) with @bad_body. */
static const struct {
  const char *method, *path, *body;
  const char *bad_path, *bad_body, *bad_code;
} routes[] = {
    {"POST", "/api/join", "{'room':'r','user':'u'}", "/api/join", "[1,2]", "bad_request"},
    {"POST", "/api/remove", "{'room':'r','user':'u'}", "/api/remove", "{'room':'r'}",
     "bad_request"},
    {"POST", "/api/disconnect", "{'user':'u'}", "/api/disconnect", "{'user':'u','ban_s':0}",
     "bad_request"},
    {"GET", "/api/rooms", NULL, "/api/rooms?limit=1&limit=2", NULL, "bad_request"},
    {"GET", "/api/rooms/r", NULL, "/api/rooms/r!", NULL, "invalid_name"},
    {"GET", "/api/rooms/r/history", NULL, "/api/rooms/r/history?since=-1", NULL, "bad_request"},
    {"GET", "/api/users/u", NULL, "/api/users/u!", NULL, "invalid_name"},
};

/* Unknown path 404 and another method 405, whatever the token; then no
 * token or a bad one 401, a token without admin 403, whatever the body;
 * then the body or query 400, then the state 404. Refusals change nothing. */
START_TEST (checks_in_order)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autofree char *user_token = token_for ("alice", FALSE, NULL);
  g_autofree char *other_secret = NULL;
  g_autoptr (HubTestWs) alice = login (port, "alice", "d", NULL, NULL);

  {
    g_autoptr (JsonObject) claims = json_object_new ();

    json_object_set_string_member (claims, "sub", "ops");
    json_object_set_boolean_member (claims, "admin", TRUE);
    other_secret = hub_auth_mint_claims ("another-secret", 14, claims);
  }
  for (guint i = 0; i < G_N_ELEMENTS (routes); i++) {
    const char *m = routes[i].method, *p = routes[i].path, *b = routes[i].body;
    const char *bad_path = routes[i].bad_path, *bad_body = routes[i].bad_body;
    const char *other = strcmp (m, "GET") == 0 ? "POST" : "GET";
    g_autofree char *unknown = g_strdup_printf ("%s/x/y", p);
    g_autofree char *what = g_strdup_printf ("%s %s", m, p);

    {
      g_autoptr (HubTestHttpResponse) r = api (port, m, unknown, NULL, b);

      expect_error (r, 404, "not_found", unknown);
    }
    {
      g_autoptr (HubTestHttpResponse) r = api (port, other, p, NULL, b);

      expect_error (r, 405, "method_not_allowed", what);
      ck_assert_str_eq (hub_test_http_response_header (r, "allow"), m);
    }
    /* The token before the request: a bad request without an admin token
     * is 401 or 403. */
    {
      g_autoptr (HubTestHttpResponse) r = api (port, m, bad_path, NULL, bad_body);

      expect_error (r, 401, "unauthorized", what);
    }
    {
      g_autoptr (HubTestHttpResponse) r = api (port, m, bad_path, "not.a.token", bad_body);

      expect_error (r, 401, "unauthorized", what);
    }
    {
      g_autoptr (HubTestHttpResponse) r = api (port, m, bad_path, other_secret, bad_body);

      expect_error (r, 401, "unauthorized", what);
    }
    {
      g_autoptr (HubTestHttpResponse) r = api (port, m, bad_path, user_token, bad_body);

      expect_error (r, 403, "forbidden", what);
    }
    /* The request before the state: room r does not exist. */
    api_err (port, m, bad_path, bad_body, 400, routes[i].bad_code);
  }
  /* A well-formed request about a room that does not exist: the state's 404. */
  api_err (port, "POST", "/api/remove", "{'room':'r','user':'u'}", 404, "room_not_found");
  api_err (port, "GET", "/api/rooms/r/history", NULL, 404, "room_not_found");
  /* Nothing happened: no room, alice still connected and welcome. */
  ck_assert_uint_eq (n_rooms (port), 0);
  assert_alive (alice);
  ck_assert (!hub_test_ws_is_closed (alice));
  /* /api/stats stays open. */
  {
    g_autoptr (HubTestHttpResponse) r = api (port, "GET", "/api/stats", NULL, NULL);

    ck_assert_uint_eq (r->status, 200);
  }
}
END_TEST

/* The admin token is read from the headers: a §13 request without a valid
 * one is answered 401 or 403 before a byte of its (announced, never sent)
 * body; an admin's is bounded by its length (413, 411, 400) before it is
 * read. HEAD is GET without the body; another method is 405 with Allow;
 * one libwebsockets does not know it refuses itself (403). Nothing changes. */
START_TEST (refused_at_the_headers)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autofree char *user_token = token_for ("alice", FALSE, NULL);
  static const char *const posts[] = {"/api/join", "/api/remove", "/api/disconnect"};
  static const char *const gets[] = {"/api/rooms", "/api/rooms/r", "/api/rooms/r/history",
                                     "/api/users/u"};

  for (guint i = 0; i < G_N_ELEMENTS (posts); i++) {
    const char *p = posts[i];
    g_autofree char *no_token =
        g_strdup_printf ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n", p);
    g_autofree char *not_admin =
        g_strdup_printf ("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                         "Content-Length: 60000\r\n\r\n",
                         p, user_token);
    g_autofree char *too_long =
        g_strdup_printf ("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                         "Content-Length: 100000000\r\n\r\n",
                         p, admin);
    g_autofree char *bad_length =
        g_strdup_printf ("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                         "Content-Length: -5\r\n\r\n",
                         p, admin);
    g_autofree char *chunked =
        g_strdup_printf ("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
                         p, admin);

    ck_assert_msg (hub_test_raw_http (port, no_token, strlen (no_token), 5000, NULL) == 401,
                   "%s without a token, before its body", p);
    ck_assert_msg (hub_test_raw_http (port, not_admin, strlen (not_admin), 5000, NULL) == 403,
                   "%s without admin, before its body", p);
    ck_assert_msg (hub_test_raw_http (port, too_long, strlen (too_long), 5000, NULL) == 413,
                   "%s with 100 MB announced", p);
    ck_assert_msg (hub_test_raw_http (port, bad_length, strlen (bad_length), 5000, NULL) == 400,
                   "%s with a negative length", p);
    ck_assert_msg (hub_test_raw_http (port, chunked, strlen (chunked), 5000, NULL) == 411,
                   "%s chunked", p);
    {
      g_autoptr (HubTestHttpResponse) r = api (port, "PUT", p, admin, "{}");

      expect_error (r, 405, "method_not_allowed", p);
      ck_assert_str_eq (hub_test_http_response_header (r, "allow"), "POST");
    }
  }
  for (guint i = 0; i < G_N_ELEMENTS (gets); i++) {
    const char *p = gets[i];
    g_autofree char *head = g_strdup_printf ("HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n", p);
    g_autofree char *brew = g_strdup_printf (
        "BREW %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", p, admin);

    ck_assert_msg (hub_test_raw_http (port, head, strlen (head), 5000, NULL) == 401,
                   "HEAD %s without a token", p);
    {
      g_autoptr (HubTestHttpResponse) r = api (port, "DELETE", p, admin, NULL);

      expect_error (r, 405, "method_not_allowed", p);
      ck_assert_str_eq (hub_test_http_response_header (r, "allow"), "GET");
    }
    ck_assert_msg (hub_test_raw_http (port, brew, strlen (brew), 5000, NULL) == 403,
                   "BREW %s: libwebsockets' refusal", p);
  }
  /* An admin's HEAD: GET's status and length, no body. */
  json_object_unref (api_ok (port, "POST", "/api/join", "{'room':'r','user':'u'}"));
  {
    g_autoptr (HubTestHttpResponse) get = api (port, "GET", "/api/users/u", admin, NULL);
    g_autoptr (HubTestHttpResponse) head = api (port, "HEAD", "/api/users/u", admin, NULL);

    ck_assert_uint_eq (get->status, 200);
    ck_assert_uint_eq (head->status, 200);
    ck_assert_uint_eq (head->body_len, 0);
    ck_assert_str_eq (hub_test_http_response_header (head, "content-length"),
                      hub_test_http_response_header (get, "content-length"));
  }
  /* Nothing else happened: one room, one member, and the server answers. */
  ck_assert_uint_eq (n_rooms (port), 1);
  {
    g_autoptr (JsonObject) room = api_ok (port, "GET", "/api/rooms/r", NULL);

    ck_assert_uint_eq (json_array_get_length (hub_test_json_array (room, "members")), 1);
  }
}
END_TEST

/* Clients that send a whole request and leave before its answer (a cluster
 * node answers later, from Redis): the answer is dropped, what was asked is
 * done, and the server stops cleanly (under AddressSanitizer a leak of the
 * pending calls would fail its exit). */
START_TEST (clients_that_leave_before_the_answer)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  static const struct {
    const char *method, *path, *body;
  } calls[] = {
      {"POST", "/api/join", "{\"room\":\"left\",\"user\":\"u%u\"}"},
      {"POST", "/api/remove", "{\"room\":\"left\",\"user\":\"v%u\"}"},
      {"POST", "/api/disconnect", "{\"user\":\"w%u\"}"},
      {"GET", "/api/rooms", NULL},
      {"GET", "/api/rooms/left", NULL},
      {"GET", "/api/rooms/left/history", NULL},
      {"GET", "/api/users/u1", NULL},
  };
  int status = -1;

  for (guint round = 0; round < 20; round++) {
    for (guint i = 0; i < G_N_ELEMENTS (calls); i++) {
      g_autoptr (GSocketConnection) conn = hub_test_tcp_connect (port, NULL);
      g_autofree char *body = calls[i].body != NULL ? g_strdup_printf (calls[i].body, round) : NULL;
      g_autofree char *request =
          g_strdup_printf ("%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                           "Content-Length: %" G_GSIZE_FORMAT "\r\n\r\n%s",
                           calls[i].method, calls[i].path, admin, body != NULL ? strlen (body) : 0,
                           body != NULL ? body : "");

      ck_assert_ptr_nonnull (conn);
      ck_assert (g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                            request, strlen (request), NULL, NULL, NULL));
      /* Gone at once: the connection closes with the request unanswered. */
    }
  }
  /* The joins were done: 20 members (a join is answered once its member is in). */
  {
    gint64 deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;
    guint members = 0;

    for (guint tries = 0; members < 20 && tries < 1000 && g_get_monotonic_time () < deadline;
         tries++) {
      g_autoptr (HubTestHttpResponse) r = api (port, "GET", "/api/rooms/left", admin, NULL);
      g_autoptr (JsonObject) room = NULL;

      if (r->status != 200)
        continue;
      room = hub_test_http_response_json (r);
      members = json_array_get_length (hub_test_json_array (room, "members"));
    }
    ck_assert_uint_eq (members, 20);
  }
  ck_assert (hub_test_server_stop (server, 10000, &status, NULL));
  ck_assert_int_eq (status, 0);
}
END_TEST

/* Without a secret the API is open, bans included. */
START_TEST (open_without_a_secret)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) alice = hub_test_ws_login (port, "alice", "d");
  g_autoptr (HubTestWs) bob = NULL;
  g_autoptr (JsonObject) reply = NULL;

  g_clear_pointer (&admin, g_free);
  json_object_unref (api_ok (port, "POST", "/api/join", "{'room':'general','user':'alice'}"));
  hub_test_ws_await_presence (alice, "join", "general", "alice");
  reply = api_ok (port, "POST", "/api/disconnect", "{'user':'alice','ban_s':60}");
  ck_assert_int_eq (hub_test_json_int (reply, "disconnected"), 1);
  ck_assert_uint_eq (hub_test_ws_wait_closed (alice, 5000), 4010);
  {
    g_autoptr (HubTestWs) again = hub_test_ws_open (port);
    g_autoptr (JsonObject) answer = hub_test_ws_call (again, "{'type':'hello','user':'alice'}");

    ck_assert_str_eq (hub_test_json_string (answer, "type"), "error");
    ck_assert_str_eq (hub_test_json_string (answer, "code"), "unauthorized");
    ck_assert_uint_eq (hub_test_ws_wait_closed (again, 5000), 4001);
  }
  bob = hub_test_ws_login (port, "bob", "d");
  assert_alive (bob);
}
END_TEST

/* --- Hostile input -----------------------------------------------------------------------------
 */

/* Bodies of the wrong shape: 400 with the code the spec names, and nothing
 * changes (no membership, no grant, no connection closed, no ban). */
START_TEST (bad_bodies_change_nothing)
{
  HUB_TEST_SKIP_OPEN_DEFECT ("api-hostile-bodies");
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) alice = login (port, "alice", "d", "{'lobby':'j'}", NULL);
  static const struct {
    const char *path, *body, *code;
  } cases[] = {
      {"/api/join", "", "bad_request"},
      {"/api/join", "null", "bad_request"},
      {"/api/join", "[]", "bad_request"},
      {"/api/join", "'room'", "bad_request"},
      {"/api/join", "{'room':'r','user':'alice'", "bad_request"},
      {"/api/join", "{}", "bad_request"},
      {"/api/join", "{'room':'r'}", "bad_request"},
      {"/api/join", "{'room':null,'user':'alice'}", "bad_request"},
      {"/api/join", "{'room':5,'user':'alice'}", "bad_request"},
      {"/api/join", "{'room':['r'],'user':'alice'}", "bad_request"},
      {"/api/join", "{'room':'r','user':{'id':'alice'}}", "bad_request"},
      {"/api/join", "{'room':'a room','user':'alice'}", "invalid_name"},
      {"/api/join", "{'room':'','user':'alice'}", "invalid_name"},
      {"/api/join", "{'room':'r','user':'@api'}", "invalid_name"},
      {"/api/join", "{'room':'r','user':'alice','allow':'jpx'}", "bad_request"},
      {"/api/join", "{'room':'r','user':'alice','allow':'JP'}", "bad_request"},
      {"/api/join", "{'room':'r','user':'alice','allow':7}", "bad_request"},
      {"/api/join", "{'room':'r','user':'alice','allow':['j']}", "bad_request"},
      {"/api/join",
       "{'room':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','user':'alice'"
       "}",
       "invalid_name"},
      {"/api/remove", "{'room':'r'}", "bad_request"},
      {"/api/remove", "{'user':'alice'}", "bad_request"},
      {"/api/remove", "{'room':'r','user':'al ice'}", "invalid_name"},
      {"/api/disconnect", "{}", "bad_request"},
      {"/api/disconnect", "{'user':true}", "bad_request"},
      {"/api/disconnect", "{'user':'al/ice'}", "invalid_name"},
      {"/api/disconnect", "{'user':'alice','device':3}", "bad_request"},
      {"/api/disconnect", "{'user':'alice','device':'a b'}", "invalid_name"},
      {"/api/disconnect", "{'user':'alice','ban_s':0}", "bad_request"},
      {"/api/disconnect", "{'user':'alice','ban_s':-5}", "bad_request"},
      {"/api/disconnect", "{'user':'alice','ban_s':1.5}", "bad_request"},
      {"/api/disconnect", "{'user':'alice','ban_s':1e3}", "bad_request"},
      {"/api/disconnect", "{'user':'alice','ban_s':'60'}", "bad_request"},
      {"/api/disconnect", "{'user':'alice','ban_s':true}", "bad_request"},
      {"/api/disconnect", "{'user':'alice','ban_s':315360001}", "bad_request"},
      {"/api/disconnect", "{'user':'alice','ban_s':99999999999999999999}", "bad_request"},
      {"/api/disconnect", "{'user':'alice','ban_s':{}}", "bad_request"},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    api_err (port, "POST", cases[i].path, cases[i].body, 400, cases[i].code);
  /* Not UTF-8. */
  api_err (port, "POST", "/api/join", "{'room':'r\xff','user':'alice'}", 400, "bad_request");
  /* Nested 20,000 deep, within max_message_bytes: a JSON value, not an object. */
  {
    g_autofree char *open = g_strnfill (20000, '[');
    g_autofree char *close = g_strnfill (20000, ']');
    g_autofree char *deep = g_strconcat (open, close, NULL);

    api_err (port, "POST", "/api/disconnect", deep, 400, "bad_request");
  }
  /* Nothing changed: no room, no membership, alice still connected, no ban. */
  ck_assert_uint_eq (n_rooms (port), 0);
  {
    g_autoptr (JsonObject) users = user_details (port, "alice");

    ck_assert_uint_eq (json_array_get_length (hub_test_json_array (users, "rooms")), 0);
    ck_assert_uint_eq (json_array_get_length (hub_test_json_array (users, "connections")), 1);
  }
  assert_alive (alice);
  ck_assert (!hub_test_ws_is_closed (alice));
  hub_test_ws_err (alice, "forbidden", "{'type':'join','room':'r'}");
  {
    g_autoptr (HubTestWs) again = login (port, "alice", "e", NULL, NULL);
  }
  /* ban_s at its bounds is taken. */
  json_object_unref (
      api_ok (port, "POST", "/api/disconnect", "{'user':'carol','ban_s':315360000}"));
  json_object_unref (api_ok (port, "POST", "/api/disconnect", "{'user':'dave','ban_s':1}"));
}
END_TEST

/* Junk in paths and query strings: the error the spec names (or, where
 * libwebsockets refuses the request line itself, its own), the server
 * unharmed, nothing changed. */
START_TEST (junk_paths_and_queries)
{
  g_autoptr (HubTestServer) server = start (NULL);
  guint16 port = hub_test_server_port (server);
  static const struct {
    const char *path;
    guint status;
    const char *code;
  } cases[] = {
      {"/api/rooms?limit=abc", 400, "bad_request"},
      {"/api/rooms?limit=-1", 400, "bad_request"},
      {"/api/rooms?limit=+1", 400, "bad_request"},
      {"/api/rooms?limit=1.5", 400, "bad_request"},
      {"/api/rooms?limit=1e3", 400, "bad_request"},
      {"/api/rooms?limit=", 400, "bad_request"},
      {"/api/rooms?limit", 400, "bad_request"},
      {"/api/rooms?limit=%31%32", 200, NULL}, /* "12", percent-encoded */
      {"/api/rooms?limit=1&limit=1", 400, "bad_request"},
      {"/api/rooms?prefix=a&prefix=b", 400, "bad_request"},
      {"/api/rooms?prefix=%ff", 400, "bad_request"},
      {"/api/rooms?prefix=%c3%a9&x=%ff", 200, NULL}, /* unknown parameters are ignored */
      {"/api/rooms?&&prefix=g&", 200, NULL},
      {"/api/rooms/general/history?since=-1", 400, "bad_request"},
      {"/api/rooms/general/history?since=x", 400, "bad_request"},
      {"/api/rooms/general/history?since=1&since=2", 400, "bad_request"},
      {"/api/rooms/general/history?limit=0x10", 400, "bad_request"},
      {"/api/rooms/general/history?since=99999999999999999999999", 200, NULL},
      {"/api/rooms/general/history?limit=0", 200, NULL},
      {"/api/rooms/gen%2Feral", 404, "not_found"}, /* an encoded / is a / */
      {"/api/rooms/general/history/x", 404, "not_found"},
      {"/api/rooms/", 404, "not_found"},
      {"/api/users/", 404, "not_found"},
      {"/api/users/a/b", 404, "not_found"},
      {"/api/rooms/..%2F..%2Fapi%2Fusers", 404, "not_found"},
      {"/api/rooms/%40api", 400, "invalid_name"},
      {"/api/users/%C3%A9", 400, "invalid_name"},
  };
  g_autoptr (JsonObject) before = NULL;

  json_object_unref (api_ok (port, "POST", "/api/join", "{'room':'general','user':'bob'}"));
  before = api_ok (port, "GET", "/api/rooms/general", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (HubTestHttpResponse) r = api (port, "GET", cases[i].path, admin, NULL);

    if (cases[i].code != NULL)
      expect_error (r, cases[i].status, cases[i].code, cases[i].path);
    else
      ck_assert_msg (r->status == 200, "%s: expected 200, got %s: %s", cases[i].path,
                     r->status_line, r->body);
  }
  /* A percent sign that does not encode a byte: libwebsockets answers 403
   * before hub sees the request. */
  {
    g_autoptr (HubTestHttpResponse) r = api (port, "GET", "/api/rooms?prefix=%zz", admin, NULL);

    ck_assert_msg (r->status == 403 || r->status == 400, "bad percent-encoding: %s",
                   r->status_line);
  }
  /* Unharmed, and the room as it was. */
  {
    g_autoptr (JsonObject) after = api_ok (port, "GET", "/api/rooms/general", NULL);
    g_autofree char *x = hub_test_json_encode (before);
    g_autofree char *y = hub_test_json_encode (after);

    ck_assert_str_eq (x, y);
  }
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("server-api");
  int failed;

  HUB_TEST_ADD (suite, join_sets_a_grant_for_every_device, 60);
  HUB_TEST_ADD (suite, join_tells_the_members, 60);
  HUB_TEST_ADD (suite, join_state_errors, 60);
  HUB_TEST_ADD (suite, remove_is_a_leave, 60);
  HUB_TEST_ADD (suite, disconnect_closes_before_the_reply, 60);
  HUB_TEST_ADD (suite, disconnect_sends_the_offline_status, 60);
  HUB_TEST_ADD (suite, ban_refuses_hello_for_its_time, 60);
  HUB_TEST_ADD (suite, rooms_sorted_by_id_with_count, 60);
  HUB_TEST_ADD (suite, rooms_default_limit, 120);
  HUB_TEST_ADD (suite, room_details_as_an_administrator_sees_them, 60);
  HUB_TEST_ADD (suite, history_pages, 60);
  HUB_TEST_ADD (suite, history_pages_are_bounded_in_bytes, 60);
  HUB_TEST_ADD (suite, user_details_with_connections, 60);
  HUB_TEST_ADD (suite, checks_in_order, 120);
  HUB_TEST_ADD (suite, refused_at_the_headers, 60);
  HUB_TEST_ADD (suite, clients_that_leave_before_the_answer, 60);
  HUB_TEST_ADD (suite, open_without_a_secret, 60);
  HUB_TEST_ADD (suite, bad_bodies_change_nothing, 60);
  HUB_TEST_ADD (suite, junk_paths_and_queries, 60);
  failed = hub_test_run (suite);
  g_free (admin);
  return failed;
}
