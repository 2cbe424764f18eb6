/* test-rooms.c: PROTOCOL.md §4 over real sockets: create, join, leave, rooms,
 * room_info, who, presence events, room deletion, auto-create and limits. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

static void
expect_presence (HubTestWs *ws, const char *event, const char *room, const char *user)
{
  g_autoptr (JsonObject) frame = hub_test_ws_expect_type (ws, "presence", HUB_TEST_WS_TIMEOUT_MS);
  g_autofree char *text = hub_test_json_encode (frame);

  ck_assert_msg (g_strcmp0 (hub_test_json_string (frame, "event"), event) == 0 &&
                     g_strcmp0 (hub_test_json_string (frame, "room"), room) == 0 &&
                     g_strcmp0 (hub_test_json_string (frame, "user"), user) == 0,
                 "expected presence %s of %s in %s, got %s", event, user, room, text);
  ck_assert_msg (!json_object_has_member (frame, "seq"), "presence carries no seq: %s", text);
}

/* Joins @room and takes the presence join event the joiner's connection gets. */
static JsonObject *
join (HubTestWs *ws, const char *room, const char *user)
{
  JsonObject *reply = hub_test_ws_ok (ws, "{'type':'join','room':'%s'}", room);

  expect_presence (ws, "join", room, user);
  return reply;
}

START_TEST (create_room)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autoptr (JsonObject) plain = hub_test_ws_ok (ws, "{'type':'create','room':'general'}");
  g_autoptr (JsonObject) named =
      hub_test_ws_ok (ws, "{'type':'create','room':'tech','name':'Tech talk'}");
  g_autoptr (JsonObject) rooms = NULL;
  g_autoptr (JsonObject) who = NULL;
  g_autoptr (JsonObject) info = NULL;

  ck_assert_str_eq (hub_test_json_string (plain, "room"), "general");
  ck_assert_str_eq (hub_test_json_string (plain, "name"), "general");
  ck_assert_str_eq (hub_test_json_string (named, "room"), "tech");
  ck_assert_str_eq (hub_test_json_string (named, "name"), "Tech talk");
  hub_test_ws_err (ws, "room_exists", "{'type':'create','room':'general'}");
  hub_test_ws_err (ws, "invalid_name", "{'type':'create','room':'no way'}");
  /* create does not make the caller a member, and sends no presence. */
  rooms = hub_test_ws_ok (ws, "{'type':'rooms'}");
  ck_assert_int_eq (json_array_get_length (hub_test_json_array (rooms, "rooms")), 0);
  who = hub_test_ws_ok (ws, "{'type':'who','room':'general'}");
  ck_assert_int_eq (json_array_get_length (hub_test_json_array (who, "members")), 0);
  info = hub_test_ws_ok (ws, "{'type':'room_info','room':'tech'}");
  ck_assert_str_eq (hub_test_json_string (info, "name"), "Tech talk");
  ck_assert_int_eq (hub_test_json_int (info, "members"), 0);
  hub_test_ws_barrier (ws);
}
END_TEST

START_TEST (room_name_up_to_200_chars)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *ws = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autofree char *name = g_strnfill (200, 'n');
  g_autoptr (JsonObject) reply =
      hub_test_ws_ok (ws, "{'type':'create','room':'big','name':'%s'}", name);

  ck_assert_str_eq (hub_test_json_string (reply, "name"), name);
  /* Any string: spaces and punctuation are fine in a display name. */
  json_object_unref (
      hub_test_ws_ok (ws, "{'type':'create','room':'x','name':'Tea & biscuits, 5pm!'}"));
}
END_TEST

START_TEST (join_reply_fields)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *alice = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (hub_test_server_port (server), "bob", NULL);
  g_autoptr (JsonObject) first =
      hub_test_ws_ok (alice, "{'type':'join','room':'general','name':'General'}");
  g_autoptr (JsonObject) second = NULL;
  JsonArray *members;
  JsonObject *member;

  ck_assert_str_eq (hub_test_json_string (first, "room"), "general");
  ck_assert_str_eq (hub_test_json_string (first, "name"), "General");
  ck_assert_int_eq (hub_test_json_int (first, "seq"), 0);
  members = hub_test_json_array (first, "members");
  ck_assert_int_eq (json_array_get_length (members), 1);
  member = hub_test_json_array_find (members, "user", "alice");
  ck_assert_ptr_nonnull (member);
  ck_assert_str_eq (hub_test_json_string (member, "status"), "online");

  json_object_unref (hub_test_ws_ok (alice, "{'type':'publish','room':'general','payload':{}}"));
  second = hub_test_ws_ok (bob, "{'type':'join','room':'general'}");
  ck_assert_str_eq (hub_test_json_string (second, "name"), "General");
  ck_assert_int_eq (hub_test_json_int (second, "seq"), 1);
  members = hub_test_json_array (second, "members");
  ck_assert_int_eq (json_array_get_length (members), 2);
  ck_assert_ptr_nonnull (hub_test_json_array_find (members, "user", "alice"));
  ck_assert_ptr_nonnull (hub_test_json_array_find (members, "user", "bob"));
}
END_TEST

START_TEST (leave_errors_and_reply)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *alice = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (hub_test_server_port (server), "bob", NULL);
  g_autoptr (JsonObject) joined = join (alice, "general", "alice");
  g_autoptr (JsonObject) left = NULL;

  hub_test_ws_err (bob, "not_member", "{'type':'leave','room':'general'}");
  hub_test_ws_err (bob, "room_not_found", "{'type':'leave','room':'nowhere'}");
  hub_test_ws_err (bob, "invalid_name", "{'type':'leave','room':'a b'}");
  left = hub_test_ws_ok (alice, "{'type':'leave','room':'general'}");
  ck_assert_str_eq (hub_test_json_string (left, "room"), "general");
  expect_presence (alice, "leave", "general", "alice");
  /* The room is gone with its last member. */
  hub_test_ws_err (alice, "room_not_found", "{'type':'leave','room':'general'}");
}
END_TEST

START_TEST (rooms_lists_the_users_rooms)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *alice = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (hub_test_server_port (server), "bob", NULL);
  g_autoptr (JsonObject) reply = NULL;
  JsonArray *rooms;
  JsonObject *general, *tech;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'general','name':'G'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'tech'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'general'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'bobs'}"));
  for (int i = 0; i < 2; i++)
    json_object_unref (
        hub_test_ws_ok (alice, "{'type':'publish','room':'general','payload':{'i':%d}}", i));
  reply = hub_test_ws_ok (alice, "{'type':'rooms'}");
  rooms = hub_test_json_array (reply, "rooms");
  ck_assert_int_eq (json_array_get_length (rooms), 2);
  general = hub_test_json_array_find (rooms, "room", "general");
  tech = hub_test_json_array_find (rooms, "room", "tech");
  ck_assert_ptr_nonnull (general);
  ck_assert_ptr_nonnull (tech);
  ck_assert_ptr_null (hub_test_json_array_find (rooms, "room", "bobs"));
  ck_assert_str_eq (hub_test_json_string (general, "name"), "G");
  ck_assert_int_eq (hub_test_json_int (general, "members"), 2);
  ck_assert_int_eq (hub_test_json_int (general, "seq"), 2);
  ck_assert_str_eq (hub_test_json_string (tech, "name"), "tech");
  ck_assert_int_eq (hub_test_json_int (tech, "members"), 1);
  ck_assert_int_eq (hub_test_json_int (tech, "seq"), 0);
}
END_TEST

START_TEST (room_info_needs_no_membership)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--history", "2", NULL);
  HubTestWs *alice = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  HubTestWs *carol = hub_test_ws_login (hub_test_server_port (server), "carol", NULL);
  gint64 before = g_get_real_time () / 1000;
  g_autoptr (JsonObject) info = NULL;
  gint64 created;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'general','name':'G'}"));
  for (int i = 0; i < 3; i++)
    json_object_unref (
        hub_test_ws_ok (alice, "{'type':'publish','room':'general','payload':{'i':%d}}", i));
  info = hub_test_ws_ok (carol, "{'type':'room_info','room':'general'}");
  ck_assert_str_eq (hub_test_json_string (info, "room"), "general");
  ck_assert_str_eq (hub_test_json_string (info, "name"), "G");
  created = hub_test_json_int (info, "created_ts");
  ck_assert_msg (created >= before - 2000 && created <= g_get_real_time () / 1000 + 2000,
                 "created_ts is Unix ms of now, got %" G_GINT64_FORMAT, created);
  ck_assert_int_eq (hub_test_json_int (info, "members"), 1);
  ck_assert_int_eq (hub_test_json_int (info, "messages"), 2); /* --history 2 */
  ck_assert_int_eq (hub_test_json_int (info, "seq"), 3);
  hub_test_ws_err (carol, "room_not_found", "{'type':'room_info','room':'nowhere'}");
}
END_TEST

START_TEST (who_lists_members_and_devices)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *a1 = hub_test_ws_login (port, "alice", "phone");
  HubTestWs *a2 = hub_test_ws_login (port, "alice", "laptop");
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  HubTestWs *carol = hub_test_ws_login (port, "carol", NULL);
  g_autoptr (JsonObject) who = NULL;
  JsonArray *members;
  JsonObject *alice_entry, *bob_entry;

  json_object_unref (hub_test_ws_ok (a1, "{'type':'join','room':'general'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'general'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'status','status':'busy'}"));
  who = hub_test_ws_ok (carol, "{'type':'who','room':'general'}");
  members = hub_test_json_array (who, "members");
  ck_assert_int_eq (json_array_get_length (members), 2);
  alice_entry = hub_test_json_array_find (members, "user", "alice");
  bob_entry = hub_test_json_array_find (members, "user", "bob");
  ck_assert_ptr_nonnull (alice_entry);
  ck_assert_ptr_nonnull (bob_entry);
  ck_assert_str_eq (hub_test_json_string (alice_entry, "status"), "online");
  ck_assert_int_eq (hub_test_json_int (alice_entry, "devices"), 2);
  ck_assert_str_eq (hub_test_json_string (bob_entry, "status"), "busy");
  ck_assert_int_eq (hub_test_json_int (bob_entry, "devices"), 1);
  hub_test_ws_err (carol, "room_not_found", "{'type':'who','room':'nowhere'}");
  (void)a2;
}
END_TEST

START_TEST (who_shows_disconnected_member_offline)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  g_autoptr (JsonObject) who = NULL;
  g_autoptr (JsonObject) status = NULL;
  JsonObject *bob_entry;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'general'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'general'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob']}"));
  hub_test_ws_await_presence (alice, "join", "general", "bob");
  hub_test_ws_close (bob, 1000);
  /* Once the server saw bob go (the status event), bob is still a member:
   * offline, with no device. */
  status = hub_test_ws_expect_type (alice, "status", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_str_eq (hub_test_json_string (status, "status"), "offline");
  who = hub_test_ws_ok (alice, "{'type':'who','room':'general'}");
  bob_entry = hub_test_json_array_find (hub_test_json_array (who, "members"), "user", "bob");
  ck_assert_ptr_nonnull (bob_entry);
  ck_assert_int_eq (hub_test_json_int (bob_entry, "devices"), 0);
  ck_assert_str_eq (hub_test_json_string (bob_entry, "status"), "offline");
}
END_TEST

START_TEST (presence_events_reach_every_connection)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *a1 = hub_test_ws_login (port, "alice", "phone");
  HubTestWs *a2 = hub_test_ws_login (port, "alice", "laptop");
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  HubTestWs *c1 = hub_test_ws_login (port, "charlie", "one");
  HubTestWs *c2 = hub_test_ws_login (port, "charlie", "two");
  HubTestWs *dave = hub_test_ws_login (port, "dave", NULL);

  json_object_unref (hub_test_ws_ok (a1, "{'type':'join','room':'general'}"));
  expect_presence (a1, "join", "general", "alice");
  expect_presence (a2, "join", "general", "alice");
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'general'}"));
  expect_presence (a1, "join", "general", "bob");
  expect_presence (a2, "join", "general", "bob");
  expect_presence (bob, "join", "general", "bob");

  json_object_unref (hub_test_ws_ok (c1, "{'type':'join','room':'general'}"));
  expect_presence (a1, "join", "general", "charlie");
  expect_presence (a2, "join", "general", "charlie");
  expect_presence (bob, "join", "general", "charlie");
  expect_presence (c1, "join", "general", "charlie");
  expect_presence (c2, "join", "general", "charlie");

  json_object_unref (hub_test_ws_ok (c2, "{'type':'leave','room':'general'}"));
  expect_presence (a1, "leave", "general", "charlie");
  expect_presence (a2, "leave", "general", "charlie");
  expect_presence (bob, "leave", "general", "charlie");
  expect_presence (c1, "leave", "general", "charlie");
  expect_presence (c2, "leave", "general", "charlie");

  /* A non-member hears nothing; the leaver hears nothing more of the room. */
  json_object_unref (hub_test_ws_ok (bob, "{'type':'publish','room':'general','payload':{}}"));
  json_object_unref (hub_test_ws_expect_type (a1, "message", HUB_TEST_WS_TIMEOUT_MS));
  hub_test_ws_barrier (dave);
  hub_test_ws_barrier (c1);
  hub_test_ws_barrier (c2);
}
END_TEST

START_TEST (join_twice_sends_no_second_event)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  g_autoptr (JsonObject) again = NULL;

  json_object_unref (join (alice, "general", "alice"));
  json_object_unref (join (bob, "general", "bob"));
  expect_presence (alice, "join", "general", "bob");
  again = hub_test_ws_ok (bob, "{'type':'join','room':'general'}");
  ck_assert_str_eq (hub_test_json_string (again, "room"), "general");
  ck_assert_int_eq (json_array_get_length (hub_test_json_array (again, "members")), 2);
  hub_test_ws_barrier (bob);
  hub_test_ws_barrier (alice);
}
END_TEST

START_TEST (last_leave_deletes_room)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *alice = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autoptr (JsonObject) rejoined = NULL;
  g_autoptr (JsonObject) published = NULL;
  g_autoptr (JsonObject) history = NULL;
  g_autoptr (JsonObject) message = NULL;

  json_object_unref (join (alice, "general", "alice"));
  for (int i = 0; i < 3; i++) {
    json_object_unref (
        hub_test_ws_ok (alice, "{'type':'publish','room':'general','payload':{'i':%d}}", i));
    json_object_unref (hub_test_ws_expect_type (alice, "message", HUB_TEST_WS_TIMEOUT_MS));
  }
  json_object_unref (hub_test_ws_ok (alice, "{'type':'leave','room':'general'}"));
  expect_presence (alice, "leave", "general", "alice");
  hub_test_ws_err (alice, "room_not_found", "{'type':'room_info','room':'general'}");
  hub_test_ws_err (alice, "room_not_found", "{'type':'who','room':'general'}");

  rejoined = hub_test_ws_ok (alice, "{'type':'join','room':'general'}");
  ck_assert_int_eq (hub_test_json_int (rejoined, "seq"), 0);
  expect_presence (alice, "join", "general", "alice");
  published = hub_test_ws_ok (alice, "{'type':'publish','room':'general','payload':{'new':1}}");
  ck_assert_int_eq (hub_test_json_int (published, "seq"), 1);
  message = hub_test_ws_expect_type (alice, "message", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_int_eq (hub_test_json_int (message, "seq"), 1);
  history = hub_test_ws_ok (alice, "{'type':'history','room':'general','since':0}");
  ck_assert_int_eq (json_array_get_length (hub_test_json_array (history, "messages")), 1);
}
END_TEST

START_TEST (room_without_members_ever_stays)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *alice = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);
  g_autoptr (JsonObject) info = NULL;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'create','room':'lobby'}"));
  json_object_unref (join (alice, "other", "alice"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'leave','room':'other'}"));
  info = hub_test_ws_ok (alice, "{'type':'room_info','room':'lobby'}");
  ck_assert_int_eq (hub_test_json_int (info, "members"), 0);
  ck_assert_int_eq (hub_test_json_int (info, "seq"), 0);
}
END_TEST

START_TEST (no_auto_create)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--no-auto-create", NULL);
  HubTestWs *alice = hub_test_ws_login (hub_test_server_port (server), "alice", NULL);

  hub_test_ws_err (alice, "room_not_found", "{'type':'join','room':'general'}");
  hub_test_ws_err (alice, "room_not_found", "{'type':'room_info','room':'general'}");
  json_object_unref (hub_test_ws_ok (alice, "{'type':'create','room':'general'}"));
  json_object_unref (join (alice, "general", "alice"));
}
END_TEST

START_TEST (too_many_rooms)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--max-rooms-per-user", "2", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *a1 = hub_test_ws_login (port, "alice", "one");
  HubTestWs *a2 = hub_test_ws_login (port, "alice", "two");
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);

  json_object_unref (hub_test_ws_ok (a1, "{'type':'join','room':'r1'}"));
  json_object_unref (hub_test_ws_ok (a1, "{'type':'join','room':'r2'}"));
  hub_test_ws_err (a1, "too_many_rooms", "{'type':'join','room':'r3'}");
  /* The limit is the user's, whatever the device. */
  hub_test_ws_err (a2, "too_many_rooms", "{'type':'join','room':'r3'}");
  /* Joining one of one's rooms again is a no-op, not a third room. */
  json_object_unref (hub_test_ws_ok (a2, "{'type':'join','room':'r1'}"));
  /* Other users have their own count. */
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'r3'}"));
  json_object_unref (hub_test_ws_ok (a1, "{'type':'leave','room':'r2'}"));
  json_object_unref (hub_test_ws_ok (a2, "{'type':'join','room':'r3'}"));
}
END_TEST

START_TEST (membership_survives_disconnect)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  g_autoptr (JsonObject) welcome = NULL;
  g_autoptr (JsonObject) message = NULL;
  JsonArray *rooms;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'general'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'tech'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'gone'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'leave','room':'gone'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'general'}"));
  hub_test_ws_drop (alice);

  alice = hub_test_ws_open (port);
  welcome = hub_test_ws_hello (alice, "alice", "other-device");
  rooms = hub_test_json_array (welcome, "rooms");
  ck_assert_int_eq (json_array_get_length (rooms), 2);
  ck_assert (hub_test_json_array_has_string (rooms, "general"));
  ck_assert (hub_test_json_array_has_string (rooms, "tech"));
  /* And the new connection receives the room's messages. */
  json_object_unref (hub_test_ws_ok (bob, "{'type':'publish','room':'general','payload':{}}"));
  /* In a cluster, bob's join event may still be on its way to this node when
   * the new connection is made (§11: events may lag): skip such events. */
  for (guint i = 0; i < 8 && message == NULL; i++) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (alice, HUB_TEST_WS_TIMEOUT_MS);

    ck_assert_msg (frame != NULL, "expected a message frame");
    if (g_strcmp0 (hub_test_json_string (frame, "type"), "message") == 0)
      message = g_steal_pointer (&frame);
    else
      ck_assert_str_eq (hub_test_json_string (frame, "type"), "presence");
  }
  ck_assert_msg (message != NULL, "expected a message frame");
  ck_assert_str_eq (hub_test_json_string (message, "room"), "general");
}
END_TEST

START_TEST (join_and_leave_apply_to_all_devices)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *a1 = hub_test_ws_login (port, "alice", "one");
  HubTestWs *a2 = hub_test_ws_login (port, "alice", "two");
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  g_autoptr (JsonObject) message = NULL;

  json_object_unref (hub_test_ws_ok (a1, "{'type':'join','room':'general'}"));
  json_object_unref (hub_test_ws_ok (bob, "{'type':'join','room':'general'}"));
  hub_test_ws_await_presence (a2, "join", "general", "bob");
  json_object_unref (hub_test_ws_ok (bob, "{'type':'publish','room':'general','payload':{}}"));
  message = hub_test_ws_expect_type (a2, "message", HUB_TEST_WS_TIMEOUT_MS);
  json_object_unref (hub_test_ws_ok (a2, "{'type':'leave','room':'general'}"));
  hub_test_ws_await_presence (a1, "leave", "general", "alice");
  hub_test_ws_await_presence (a2, "leave", "general", "alice");
  json_object_unref (hub_test_ws_ok (bob, "{'type':'publish','room':'general','payload':{}}"));
  hub_test_ws_barrier (a1);
  hub_test_ws_barrier (a2);
  hub_test_ws_err (a1, "not_member", "{'type':'publish','room':'general','payload':{}}");
}
END_TEST

/* §4, §8: rooms a user created that never had a member are bounded
 * (--max-empty-rooms-per-user) and deleted --empty-room-ttl after their
 * creation; a room with a member is an ordinary room. */
START_TEST (rooms_never_joined_bounded_and_expire)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (
      "--max-empty-rooms-per-user", "3", "--empty-room-ttl", "1", "--heartbeat", "1", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  gint64 deadline;

  for (guint i = 0; i < 3; i++)
    json_object_unref (hub_test_ws_ok (alice, "{'type':'create','room':'e%u'}", i));
  hub_test_ws_err (alice, "too_many_rooms", "{'type':'create','room':'e3'}");
  hub_test_ws_err (alice, "room_not_found", "{'type':'room_info','room':'e3'}");
  /* Another user's are another count. */
  json_object_unref (hub_test_ws_ok (bob, "{'type':'create','room':'b0'}"));
  /* A member makes it an ordinary room: it stays and no longer counts. */
  hub_test_ws_join (bob, "bob", "e0");
  json_object_unref (hub_test_ws_ok (alice, "{'type':'create','room':'e3'}"));
  /* Within a second and a liveness tick, the never-joined ones go. */
  deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  for (;;) {
    g_autoptr (JsonObject) info = hub_test_ws_call (alice, "{'type':'room_info','room':'e1'}");

    if (g_strcmp0 (hub_test_json_string (info, "type"), "error") == 0) {
      ck_assert_str_eq (hub_test_json_string (info, "code"), "room_not_found");
      break;
    }
    ck_assert_msg (g_get_monotonic_time () < deadline, "e1 deleted within 10 s");
    hub_test_ws_service (100);
  }
  hub_test_ws_err (alice, "room_not_found", "{'type':'room_info','room':'b0'}");
  json_object_unref (hub_test_ws_ok (alice, "{'type':'room_info','room':'e0'}"));
  for (guint i = 1; i < 4; i++)
    json_object_unref (hub_test_ws_ok (alice, "{'type':'create','room':'again%u'}", i));
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("rooms");

  HUB_TEST_ADD (suite, create_room, 30);
  HUB_TEST_ADD (suite, room_name_up_to_200_chars, 30);
  HUB_TEST_ADD (suite, join_reply_fields, 30);
  HUB_TEST_ADD (suite, leave_errors_and_reply, 30);
  HUB_TEST_ADD (suite, rooms_lists_the_users_rooms, 30);
  HUB_TEST_ADD (suite, room_info_needs_no_membership, 30);
  HUB_TEST_ADD (suite, who_lists_members_and_devices, 30);
  HUB_TEST_ADD (suite, who_shows_disconnected_member_offline, 30);
  HUB_TEST_ADD (suite, presence_events_reach_every_connection, 30);
  HUB_TEST_ADD (suite, join_twice_sends_no_second_event, 30);
  HUB_TEST_ADD (suite, last_leave_deletes_room, 30);
  HUB_TEST_ADD (suite, room_without_members_ever_stays, 30);
  HUB_TEST_ADD (suite, no_auto_create, 30);
  HUB_TEST_ADD (suite, too_many_rooms, 30);
  HUB_TEST_ADD (suite, membership_survives_disconnect, 30);
  HUB_TEST_ADD (suite, join_and_leave_apply_to_all_devices, 30);
  HUB_TEST_ADD (suite, rooms_never_joined_bounded_and_expire, 60);
  return hub_test_run (suite);
}
