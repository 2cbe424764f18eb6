/* test-server-permissions.c: PROTOCOL.md §12 over real sockets: the `rooms`
 * claim (patterns, letters, the order of checks), room tokens and the grants
 * they leave on a membership, and that without a secret nothing changes. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <hub/hub-auth.h>
#include <string.h>

#define SECRET "itest-permissions-secret-0123456789abcdef"

static gint64
now_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

/* A connection token for @sub: @rooms is the JSON of its `rooms` claim (NULL:
 * none), @ttl_s its lifetime (0: no exp). (transfer full) */
static char *
token_for (const char *sub, const char *rooms, gboolean admin, gint64 ttl_s)
{
  g_autoptr (JsonObject) claims = json_object_new ();

  json_object_set_string_member (claims, "sub", sub);
  if (admin)
    json_object_set_boolean_member (claims, "admin", TRUE);
  if (ttl_s != 0)
    json_object_set_int_member (claims, "exp", now_s () + ttl_s);
  if (rooms != NULL) {
    g_autoptr (JsonParser) parser = json_parser_new ();

    ck_assert (json_parser_load_from_data (parser, rooms, -1, NULL));
    json_object_set_member (claims, "rooms", json_node_copy (json_parser_get_root (parser)));
  }
  return hub_auth_mint_claims (SECRET, strlen (SECRET), claims);
}

/* A room token (§12): @allow NULL leaves the default, @ttl_s 0 no exp. */
static char *
room_token (const char *sub, const char *room, const char *allow, gint64 ttl_s, const char *secret)
{
  g_autoptr (JsonObject) claims = json_object_new ();

  json_object_set_string_member (claims, "sub", sub);
  json_object_set_string_member (claims, "room", room);
  if (allow != NULL)
    json_object_set_string_member (claims, "allow", allow);
  if (ttl_s != 0)
    json_object_set_int_member (claims, "exp", now_s () + ttl_s);
  return hub_auth_mint_claims (secret, strlen (secret), claims);
}

/* Opens a connection and says hello with @token; fails unless welcomed. */
static HubTestWs *
login_token (guint16 port, const char *token, const char *device)
{
  HubTestWs *ws = hub_test_ws_open (port);
  g_autoptr (JsonObject) welcome =
      hub_test_ws_call (ws, "{'type':'hello','device':'%s','token':'%s'}", device, token);

  ck_assert_msg (g_strcmp0 (hub_test_json_string (welcome, "type"), "welcome") == 0,
                 "expected welcome, got %s", hub_test_json_string (welcome, "type"));
  return ws;
}

static HubTestWs *
login (guint16 port, const char *sub, const char *rooms, const char *device)
{
  g_autofree char *token = token_for (sub, rooms, FALSE, 600);

  return login_token (port, token, device);
}

static HubTestServer *
start_secret (void)
{
  return hub_test_server_start ("--secret", SECRET, NULL);
}

/* A private room: a user whose token does not match it can neither join,
 * publish, read its history, see it, nor type in it; one whose does can. */
START_TEST (private_room)
{
  g_autoptr (HubTestServer) server = start_secret ();
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) alice = login (port, "alice", "{'lobby':'j','team.*':'jpc'}", "d");
  g_autoptr (HubTestWs) bob = login (port, "bob", "{'lobby':'jp'}", "d");
  g_autoptr (JsonObject) joined = hub_test_ws_ok (alice, "{'type':'join','room':'team.a'}");
  g_autoptr (JsonObject) published =
      hub_test_ws_ok (alice, "{'type':'publish','room':'team.a','payload':{'t':1}}");
  g_autoptr (JsonObject) rooms = NULL;

  ck_assert_int_eq (hub_test_json_int (published, "seq"), 1);
  /* Her own copy first: in cluster mode it comes back through Redis, and can
   * arrive after the pong of a ping sent after the publish. */
  for (;;) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (alice, HUB_TEST_WS_TIMEOUT_MS);

    ck_assert_msg (frame != NULL, "alice should get her own message");
    if (g_strcmp0 (hub_test_json_string (frame, "type"), "message") == 0)
      break;
  }
  hub_test_ws_drain (alice);
  hub_test_ws_err (bob, "forbidden", "{'type':'join','room':'team.a'}");
  hub_test_ws_err (bob, "forbidden", "{'type':'publish','room':'team.a','payload':{}}");
  hub_test_ws_err (bob, "forbidden", "{'type':'history','room':'team.a','since':0}");
  hub_test_ws_err (bob, "forbidden", "{'type':'room_info','room':'team.a'}");
  hub_test_ws_err (bob, "forbidden", "{'type':'who','room':'team.a'}");
  hub_test_ws_err (bob, "forbidden", "{'type':'typing','room':'team.a'}");
  hub_test_ws_err (bob, "forbidden", "{'type':'create','room':'team.b'}");
  /* Nothing changed: alice is still the only member, no event reached her. */
  hub_test_ws_barrier (alice);
  rooms = hub_test_ws_ok (alice, "{'type':'who','room':'team.a'}");
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (rooms, "members")), 1);
  /* Without an id, a refusal still answers (§2). */
  hub_test_ws_sendf (bob, "{'type':'typing','room':'team.a'}");
  {
    g_autoptr (JsonObject) error = hub_test_ws_expect_type (bob, "error", HUB_TEST_WS_TIMEOUT_MS);

    ck_assert_str_eq (hub_test_json_string (error, "code"), "forbidden");
  }
}
END_TEST

/* §12: a join that would create the room needs c and j; j alone joins an
 * existing room; p alone publishes but does not join. */
START_TEST (letters_each)
{
  g_autoptr (HubTestServer) server = start_secret ();
  guint16 port = hub_test_server_port (server);
  g_autofree char *root_token = token_for ("root", NULL, TRUE, 600);
  g_autoptr (HubTestWs) root = login_token (port, root_token, "d");
  g_autoptr (HubTestWs) bob = login (port, "bob", "{'lobby':'jp','news':'j','quiet':''}", "d");
  g_autoptr (HubTestWs) carol = login (port, "carol", "{'lobby':'p','lobby2':'c'}", "d");
  g_autoptr (JsonObject) ok = NULL;

  /* lobby does not exist: bob has j and p, not c. */
  hub_test_ws_err (bob, "forbidden", "{'type':'join','room':'lobby'}");
  /* carol may create lobby2 but not join it (create does not make her a member). */
  ok = hub_test_ws_ok (carol, "{'type':'create','room':'lobby2'}");
  hub_test_ws_err (carol, "forbidden", "{'type':'join','room':'lobby2'}");
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (root, "{'type':'create','room':'lobby'}");
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (root, "{'type':'create','room':'news'}");
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (bob, "{'type':'join','room':'lobby'}");
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (bob, "{'type':'publish','room':'lobby','payload':{}}");
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (bob, "{'type':'join','room':'news'}");
  g_clear_pointer (&ok, json_object_unref);
  /* j only: a member that may read but not publish or type. */
  hub_test_ws_err (bob, "forbidden", "{'type':'publish','room':'news','payload':{}}");
  hub_test_ws_err (bob, "forbidden", "{'type':'typing','room':'news'}");
  ok = hub_test_ws_ok (bob, "{'type':'history','room':'news','since':0}");
  g_clear_pointer (&ok, json_object_unref);
  /* carol has p on lobby but is no member: the permission passes, membership does not. */
  hub_test_ws_err (carol, "not_member", "{'type':'publish','room':'lobby','payload':{}}");
  hub_test_ws_err (carol, "forbidden", "{'type':'join','room':'lobby'}");
  /* "" allows nothing. */
  hub_test_ws_err (bob, "forbidden", "{'type':'room_info','room':'quiet'}");
  /* Not restricted by rooms (§12): direct, status, subscribe, online. */
  ok = hub_test_ws_ok (carol, "{'type':'direct','to':'bob','payload':{}}");
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (carol, "{'type':'status','status':'away'}");
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (carol, "{'type':'subscribe','users':['bob']}");
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (carol, "{'type':'online'}");
  g_clear_pointer (&ok, json_object_unref);
  /* broadcast still needs admin, whatever the rooms. */
  hub_test_ws_err (bob, "forbidden", "{'type':'broadcast','payload':{}}");
}
END_TEST

/* §12's order: fields, then permission (whether the room exists or not),
 * then the state of rooms. */
START_TEST (order_of_checks)
{
  g_autoptr (HubTestServer) server = start_secret ();
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) alice = login (port, "alice", "{'team.*':'jpc','lobby':'j'}", "d");
  g_autoptr (HubTestWs) bob = login (port, "bob", "{}", "d");
  g_autoptr (JsonObject) ok = hub_test_ws_ok (alice, "{'type':'create','room':'team.a'}");

  hub_test_ws_err (bob, "bad_request", "{'type':'publish','room':'team.a'}");
  hub_test_ws_err (bob, "invalid_name", "{'type':'join','room':'bad name'}");
  hub_test_ws_err (bob, "bad_request", "{'type':'join','room':'team.a','token':5}");
  hub_test_ws_err (bob, "forbidden", "{'type':'publish','room':'team.missing','payload':{}}");
  hub_test_ws_err (bob, "forbidden", "{'type':'history','room':'team.missing','since':0}");
  /* leave needs no letter (§12: always allowed to a member): the state answers. */
  hub_test_ws_err (bob, "room_not_found", "{'type':'leave','room':'team.missing'}");
  hub_test_ws_err (alice, "room_not_found",
                   "{'type':'publish','room':'team.missing','payload':{}}");
  hub_test_ws_err (alice, "not_member", "{'type':'publish','room':'team.a','payload':{}}");
  hub_test_ws_err (alice, "room_exists", "{'type':'create','room':'team.a'}");
  hub_test_ws_err (alice, "forbidden", "{'type':'create','room':'lobby'}");
  hub_test_ws_err (alice, "room_not_found", "{'type':'room_info','room':'lobby'}");
}
END_TEST

/* A membership made under one token outlives it: messages still arrive on
 * every device, `leave` is always allowed, but requests are checked against
 * the token of the connection that makes them, and resume entries the
 * connection may not `j` are ignored. */
START_TEST (membership_outlives_permission)
{
  g_autoptr (HubTestServer) server = start_secret ();
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) dave = login (port, "dave", "{'proj':'jpc'}", "a");
  g_autoptr (HubTestWs) dave2 = login (port, "dave", "{'other':'j'}", "b");
  g_autoptr (HubTestWs) erin = login (port, "erin", "{'proj':'jp'}", "d");
  g_autoptr (JsonObject) ok = hub_test_ws_ok (dave, "{'type':'join','room':'proj'}");
  g_autoptr (JsonObject) msg = NULL;
  g_autoptr (HubTestWs) dave3 = NULL;
  g_autoptr (JsonObject) welcome = NULL;

  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (erin, "{'type':'join','room':'proj'}");
  g_clear_pointer (&ok, json_object_unref);
  hub_test_ws_drain (dave2);
  ok = hub_test_ws_ok (erin, "{'type':'publish','room':'proj','payload':{'n':1}}");
  /* dave's other device, whose token does not name proj, still gets it. */
  msg = hub_test_ws_expect_type (dave2, "message", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_str_eq (hub_test_json_string (msg, "room"), "proj");
  hub_test_ws_err (dave2, "forbidden", "{'type':'publish','room':'proj','payload':{}}");
  hub_test_ws_err (dave2, "forbidden", "{'type':'history','room':'proj','since':0}");

  /* A new connection resuming proj without j on it: no replay, no resumed. */
  {
    g_autofree char *token = token_for ("dave", "{'other':'j'}", FALSE, 600);

    dave3 = hub_test_ws_open (port);
    welcome = hub_test_ws_call (
        dave3, "{'type':'hello','device':'c','token':'%s','resume':{'proj':0}}", token);
    ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
    ck_assert (hub_test_json_array_has_string (hub_test_json_array (welcome, "rooms"), "proj"));
    hub_test_ws_barrier (dave3);
  }
  /* leave is always allowed to a member. */
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (dave2, "{'type':'leave','room':'proj'}");
}
END_TEST

/* A room token allows the join whatever the connection token says, and its
 * letters become the grant of the membership: every device, after
 * reconnecting, and past the room token's exp; a join with a new room token
 * replaces the grant. */
START_TEST (room_token_grant)
{
  g_autoptr (HubTestServer) server = start_secret ();
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) frank = login (port, "frank", "{}", "a");
  g_autoptr (HubTestWs) frank2 = login (port, "frank", "{}", "b");
  g_autofree char *grant = room_token ("frank", "vip", NULL, 2, SECRET);
  g_autofree char *grant_j = room_token ("frank", "vip", "j", 0, SECRET);
  g_autoptr (JsonObject) ok = NULL;
  gint64 deadline;

  hub_test_ws_err (frank, "forbidden", "{'type':'join','room':'vip'}");
  /* The room does not exist yet: the room token allows creating it by joining. */
  ok = hub_test_ws_ok (frank, "{'type':'join','room':'vip','token':'%s'}", grant);
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (frank2, "{'type':'publish','room':'vip','payload':{'n':1}}");
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (frank2, "{'type':'history','room':'vip','since':0}");
  g_clear_pointer (&ok, json_object_unref);
  /* The grant's default letters are jp: c is not in them. */
  hub_test_ws_err (frank, "forbidden", "{'type':'create','room':'vip2'}");

  /* Past the room token's exp (2 s), the grant holds, on a new connection too. */
  deadline = g_get_monotonic_time () + 3100 * 1000;
  while (g_get_monotonic_time () < deadline)
    hub_test_ws_service (100);
  hub_test_ws_free (g_steal_pointer (&frank2));
  frank2 = login (port, "frank", "{}", "b");
  ok = hub_test_ws_ok (frank2, "{'type':'publish','room':'vip','payload':{'n':2}}");
  ck_assert_int_eq (hub_test_json_int (ok, "seq"), 2);
  g_clear_pointer (&ok, json_object_unref);

  /* The expired room token itself no longer joins; a new one replaces the grant. */
  hub_test_ws_err (frank, "unauthorized", "{'type':'join','room':'vip','token':'%s'}", grant);
  ok = hub_test_ws_ok (frank, "{'type':'join','room':'vip','token':'%s'}", grant_j);
  g_clear_pointer (&ok, json_object_unref);
  hub_test_ws_err (frank2, "forbidden", "{'type':'publish','room':'vip','payload':{}}");
  ok = hub_test_ws_ok (frank2, "{'type':'who','room':'vip'}");
  g_clear_pointer (&ok, json_object_unref);

  /* Leaving ends the grant: joining again needs permission again. */
  ok = hub_test_ws_ok (frank2, "{'type':'leave','room':'vip'}");
  g_clear_pointer (&ok, json_object_unref);
  hub_test_ws_err (frank, "forbidden", "{'type':'join','room':'vip'}");
}
END_TEST

/* Every malformed or foreign room token is unauthorized, the connection stays
 * open, and no membership is made. */
START_TEST (room_token_refused)
{
  g_autoptr (HubTestServer) server = start_secret ();
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) gina = login (port, "gina", "{}", "a");
  g_autofree char *other_user = room_token ("henry", "club", NULL, 0, SECRET);
  g_autofree char *other_room = room_token ("gina", "club2", NULL, 0, SECRET);
  g_autofree char *expired = room_token ("gina", "club", NULL, -5, SECRET);
  g_autofree char *foreign =
      room_token ("gina", "club", NULL, 0, "another-secret-of-sufficient-length");
  g_autofree char *bad_allow = room_token ("gina", "club", "jx", 0, SECRET);
  g_autofree char *connection = token_for ("gina", NULL, FALSE, 600);
  const char *tokens[] = {other_user, other_room,    expired,   foreign,
                          bad_allow,  "not.a.token", "garbage", ""};
  g_autoptr (JsonObject) rooms = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (tokens); i++)
    hub_test_ws_err (gina, "unauthorized", "{'type':'join','room':'club','token':'%s'}", tokens[i]);
  /* A connection token is not a room token (no `room`). */
  hub_test_ws_err (gina, "unauthorized", "{'type':'join','room':'club','token':'%s'}", connection);
  hub_test_ws_err (gina, "bad_request", "{'type':'join','room':'club','token':{}}");
  ck_assert (!hub_test_ws_is_closed (gina));
  rooms = hub_test_ws_ok (gina, "{'type':'rooms'}");
  ck_assert_uint_eq (json_array_get_length (hub_test_json_array (rooms, "rooms")), 0);
}
END_TEST

/* Without a secret, the rooms claim and room tokens mean nothing: 1.0. */
START_TEST (no_secret_allows_everything)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  g_autoptr (HubTestWs) ivan = hub_test_ws_login (port, "ivan", "d");
  g_autoptr (JsonObject) ok =
      hub_test_ws_ok (ivan, "{'type':'join','room':'any','token':'garbage'}");

  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (ivan, "{'type':'publish','room':'any','payload':{}}");
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (ivan, "{'type':'refresh','token':'garbage'}");
  ck_assert_msg (!json_object_has_member (ok, "expires_ts"), "no deadline without a secret");
}
END_TEST

/* admin: true allows everything in every room. */
START_TEST (admin_allows_everything)
{
  g_autoptr (HubTestServer) server = start_secret ();
  guint16 port = hub_test_server_port (server);
  g_autofree char *token = token_for ("root", "{}", TRUE, 600);
  g_autoptr (HubTestWs) root = login_token (port, token, "d");
  g_autoptr (JsonObject) ok = hub_test_ws_ok (root, "{'type':'join','room':'x.y'}");

  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (root, "{'type':'publish','room':'x.y','payload':{}}");
  g_clear_pointer (&ok, json_object_unref);
  ok = hub_test_ws_ok (root, "{'type':'create','room':'x.z'}");
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("permissions");

  HUB_TEST_ADD (suite, private_room, 60);
  HUB_TEST_ADD (suite, letters_each, 60);
  HUB_TEST_ADD (suite, order_of_checks, 60);
  HUB_TEST_ADD (suite, membership_outlives_permission, 60);
  HUB_TEST_ADD (suite, room_token_grant, 60);
  HUB_TEST_ADD (suite, room_token_refused, 60);
  HUB_TEST_ADD (suite, no_secret_allows_everything, 60);
  HUB_TEST_ADD (suite, admin_allows_everything, 60);
  return hub_test_run (suite);
}
