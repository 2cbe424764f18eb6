/* test-messages.c: PROTOCOL.md §5 over real sockets: publish, direct,
 * multicast, broadcast, typing, and per-room ordering. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <hub/hub-auth.h>
#include <string.h>

#define SECRET "itest-secret-messages"

static void
check_ts (JsonObject *frame)
{
  gint64 ts = hub_test_json_int (frame, "ts");
  gint64 now = g_get_real_time () / 1000;

  ck_assert_msg (ts > now - 10000 && ts <= now + 1000,
                 "ts is the server's Unix time in ms, got %" G_GINT64_FORMAT
                 " (now %" G_GINT64_FORMAT ")",
                 ts, now);
}

/* The next frame of @ws must be message @seq of @room from @from/@device with
 * payload {"n": @n}. */
static void
expect_message (HubTestWs *ws, const char *room, gint64 seq, const char *from, const char *device,
                gint64 n)
{
  g_autoptr (JsonObject) frame = hub_test_ws_expect_type (ws, "message", HUB_TEST_WS_TIMEOUT_MS);
  g_autofree char *text = hub_test_json_encode (frame);

  ck_assert_msg (g_strcmp0 (hub_test_json_string (frame, "room"), room) == 0 &&
                     hub_test_json_int (frame, "seq") == seq &&
                     g_strcmp0 (hub_test_json_string (frame, "from"), from) == 0 &&
                     g_strcmp0 (hub_test_json_string (frame, "device"), device) == 0,
                 "expected message %" G_GINT64_FORMAT " of %s in %s from %s/%s, got %s", seq, from,
                 room, from, device, text);
  ck_assert_int_eq (hub_test_json_int (hub_test_json_object (frame, "payload"), "n"), n);
  check_ts (frame);
}

/* The next frame of @ws must be a @type frame from @from with payload {"n": @n}. */
static JsonObject *
expect_delivery (HubTestWs *ws, const char *type, const char *from, gint64 n)
{
  JsonObject *frame = hub_test_ws_expect_type (ws, type, HUB_TEST_WS_TIMEOUT_MS);

  ck_assert_str_eq (hub_test_json_string (frame, "from"), from);
  ck_assert_int_eq (hub_test_json_int (hub_test_json_object (frame, "payload"), "n"), n);
  check_ts (frame);
  return frame;
}

/* Logs in and joins @room, up to its own presence event. */
static HubTestWs *
member (guint16 port, const char *user, const char *device, const char *room)
{
  HubTestWs *ws = hub_test_ws_login (port, user, device);

  hub_test_ws_join (ws, user, room);
  return ws;
}

START_TEST (publish_reaches_every_member_connection)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *a1 = member (port, "alice", "phone", "general");
  HubTestWs *a2 = hub_test_ws_login (port, "alice", "laptop");
  HubTestWs *bob = member (port, "bob", NULL, "general");
  HubTestWs *charlie = hub_test_ws_login (port, "charlie", NULL);
  g_autoptr (JsonObject) first = NULL;
  g_autoptr (JsonObject) second = NULL;

  hub_test_ws_await_presence (a1, "join", "general", "bob");
  hub_test_ws_await_presence (a2, "join", "general", "bob");
  first = hub_test_ws_ok (a1, "{'type':'publish','room':'general','payload':{'n':1,'text':'hi'}}");
  ck_assert_int_eq (hub_test_json_int (first, "seq"), 1);
  expect_message (a1, "general", 1, "alice", "phone", 1);
  expect_message (a2, "general", 1, "alice", "phone", 1);
  expect_message (bob, "general", 1, "alice", "phone", 1);
  second = hub_test_ws_ok (bob, "{'type':'publish','room':'general','payload':{'n':2}}");
  ck_assert_int_eq (hub_test_json_int (second, "seq"), 2);
  expect_message (a1, "general", 2, "bob", "default", 2);
  expect_message (a2, "general", 2, "bob", "default", 2);
  expect_message (bob, "general", 2, "bob", "default", 2);
  hub_test_ws_barrier (charlie);
  hub_test_ws_barrier (a1);
}
END_TEST

START_TEST (publish_errors)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", NULL, "general");
  HubTestWs *charlie = hub_test_ws_login (port, "charlie", NULL);
  g_autoptr (JsonObject) ok = NULL;

  hub_test_ws_err (charlie, "not_member", "{'type':'publish','room':'general','payload':{}}");
  hub_test_ws_err (charlie, "room_not_found", "{'type':'publish','room':'nowhere','payload':{}}");
  hub_test_ws_err (charlie, "invalid_name", "{'type':'publish','room':'a b','payload':{}}");
  hub_test_ws_barrier (alice);
  /* The failures consumed no seq. */
  ok = hub_test_ws_ok (alice, "{'type':'publish','room':'general','payload':{'n':1}}");
  ck_assert_int_eq (hub_test_json_int (ok, "seq"), 1);
}
END_TEST

START_TEST (direct_reaches_recipient_and_senders_other_devices)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *a1 = hub_test_ws_login (port, "alice", "phone");
  HubTestWs *a2 = hub_test_ws_login (port, "alice", "laptop");
  HubTestWs *b1 = hub_test_ws_login (port, "bob", "phone");
  HubTestWs *b2 = hub_test_ws_login (port, "bob", "laptop");
  HubTestWs *charlie = hub_test_ws_login (port, "charlie", NULL);
  g_autoptr (JsonObject) ok = hub_test_ws_ok (a1, "{'type':'direct','to':'bob','payload':{'n':7}}");
  JsonObject *frame;

  ck_assert_int_eq (hub_test_json_int (ok, "delivered"), 2);
  frame = expect_delivery (b1, "direct", "alice", 7);
  ck_assert_str_eq (hub_test_json_string (frame, "to"), "bob");
  json_object_unref (frame);
  json_object_unref (expect_delivery (b2, "direct", "alice", 7));
  frame = expect_delivery (a2, "direct", "alice", 7);
  ck_assert_str_eq (hub_test_json_string (frame, "to"), "bob");
  json_object_unref (frame);
  hub_test_ws_barrier (a1);
  hub_test_ws_barrier (charlie);
}
END_TEST

START_TEST (direct_to_oneself)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *a1 = hub_test_ws_login (port, "alice", "phone");
  HubTestWs *a2 = hub_test_ws_login (port, "alice", "laptop");
  HubTestWs *a3 = hub_test_ws_login (port, "alice", "tablet");
  g_autoptr (JsonObject) ok =
      hub_test_ws_ok (a1, "{'type':'direct','to':'alice','payload':{'n':3}}");
  HubTestWs *solo = hub_test_ws_login (port, "solo", NULL);
  g_autoptr (JsonObject) alone = NULL;

  ck_assert_int_eq (hub_test_json_int (ok, "delivered"), 2);
  json_object_unref (expect_delivery (a2, "direct", "alice", 3));
  json_object_unref (expect_delivery (a3, "direct", "alice", 3));
  hub_test_ws_barrier (a1);
  hub_test_ws_barrier (a2);
  /* With a single connection, nobody else gets it. */
  alone = hub_test_ws_ok (solo, "{'type':'direct','to':'solo','payload':{'n':1}}");
  ck_assert_int_eq (hub_test_json_int (alone, "delivered"), 0);
  hub_test_ws_barrier (solo);
}
END_TEST

START_TEST (direct_user_offline)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  g_autoptr (JsonObject) status = NULL;

  hub_test_ws_err (alice, "user_offline", "{'type':'direct','to':'zed','payload':{}}");
  json_object_unref (hub_test_ws_ok (alice, "{'type':'subscribe','users':['bob']}"));
  hub_test_ws_drop (bob);
  status = hub_test_ws_expect_type (alice, "status", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_str_eq (hub_test_json_string (status, "status"), "offline");
  hub_test_ws_err (alice, "user_offline", "{'type':'direct','to':'bob','payload':{}}");
  /* Nothing was stored for bob: he gets nothing when he comes back. */
  bob = hub_test_ws_login (port, "bob", NULL);
  hub_test_ws_barrier (bob);
}
END_TEST

START_TEST (direct_to_invisible_user_is_delivered)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  g_autoptr (JsonObject) ok = NULL;

  json_object_unref (hub_test_ws_ok (bob, "{'type':'status','status':'offline'}"));
  ok = hub_test_ws_ok (alice, "{'type':'direct','to':'bob','payload':{'n':5}}");
  ck_assert_int_eq (hub_test_json_int (ok, "delivered"), 1);
  json_object_unref (expect_delivery (bob, "direct", "alice", 5));
}
END_TEST

START_TEST (multicast_counts)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *b1 = hub_test_ws_login (port, "bob", "one");
  HubTestWs *b2 = hub_test_ws_login (port, "bob", "two");
  HubTestWs *charlie = hub_test_ws_login (port, "charlie", NULL);
  HubTestWs *erin = hub_test_ws_login (port, "erin", NULL);
  g_autoptr (JsonObject) ok = hub_test_ws_ok (
      alice, "{'type':'multicast','to':['bob','charlie','dave'],'payload':{'n':4}}");
  JsonNode *offline;

  ck_assert_int_eq (hub_test_json_int (ok, "delivered"), 3);
  offline = json_object_get_member (ok, "offline");
  ck_assert_msg (offline != NULL, "multicast's ok carries offline");
  if (JSON_NODE_HOLDS_ARRAY (offline)) {
    ck_assert_int_eq (json_array_get_length (json_node_get_array (offline)), 1);
    ck_assert (hub_test_json_array_has_string (json_node_get_array (offline), "dave"));
  } else {
    ck_assert_int_eq (hub_test_json_int (ok, "offline"), 1);
  }
  json_object_unref (expect_delivery (b1, "multicast", "alice", 4));
  json_object_unref (expect_delivery (b2, "multicast", "alice", 4));
  json_object_unref (expect_delivery (charlie, "multicast", "alice", 4));
  hub_test_ws_barrier (alice);
  hub_test_ws_barrier (erin);
}
END_TEST

static char *
user_list (guint n)
{
  GString *list = g_string_new ("[");

  for (guint i = 0; i < n; i++)
    g_string_append_printf (list, "%s'u%u'", i ? "," : "", i);
  g_string_append (list, "]");
  return g_string_free (list, FALSE);
}

START_TEST (multicast_limit_is_1000)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  HubTestWs *u0 = hub_test_ws_login (port, "u0", NULL);
  g_autofree char *thousand = user_list (1000);
  g_autofree char *too_many = user_list (1001);
  g_autoptr (JsonObject) ok = NULL;

  hub_test_ws_err (alice, "bad_request", "{'type':'multicast','to':%s,'payload':{'n':1}}",
                   too_many);
  hub_test_ws_barrier (u0);
  ok = hub_test_ws_ok (alice, "{'type':'multicast','to':%s,'payload':{'n':2}}", thousand);
  ck_assert_int_eq (hub_test_json_int (ok, "delivered"), 1);
  json_object_unref (expect_delivery (u0, "multicast", "alice", 2));
}
END_TEST

START_TEST (broadcast_in_dev_mode)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *a1 = hub_test_ws_login (port, "alice", "one");
  HubTestWs *a2 = hub_test_ws_login (port, "alice", "two");
  HubTestWs *bob = hub_test_ws_login (port, "bob", NULL);
  HubTestWs *anonymous = hub_test_ws_open (port);
  g_autoptr (JsonObject) ok = hub_test_ws_ok (bob, "{'type':'broadcast','payload':{'n':9}}");

  ck_assert_int_eq (hub_test_json_int (ok, "delivered"), 3);
  json_object_unref (expect_delivery (a1, "broadcast", "bob", 9));
  json_object_unref (expect_delivery (a2, "broadcast", "bob", 9));
  json_object_unref (expect_delivery (bob, "broadcast", "bob", 9));
  /* Not past hello: nothing, the reply to a later request comes first. */
  hub_test_ws_err (anonymous, "not_authenticated", "{'type':'ping'}");
  ck_assert_uint_eq (hub_test_ws_pending (anonymous), 0);
}
END_TEST

START_TEST (broadcast_needs_admin_with_secret)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", SECRET, NULL);
  guint16 port = hub_test_server_port (server);
  gint64 exp = g_get_real_time () / G_USEC_PER_SEC + 600;
  g_autofree char *user_token = hub_auth_mint (SECRET, strlen (SECRET), "alice", FALSE, exp);
  g_autofree char *admin_token = hub_auth_mint (SECRET, strlen (SECRET), "root", TRUE, exp);
  HubTestWs *alice = hub_test_ws_open (port);
  HubTestWs *root = hub_test_ws_open (port);
  g_autoptr (JsonObject) ok = NULL;

  json_object_unref (hub_test_ws_call (alice, "{'type':'hello','token':'%s'}", user_token));
  json_object_unref (hub_test_ws_call (root, "{'type':'hello','token':'%s'}", admin_token));
  hub_test_ws_err (alice, "forbidden", "{'type':'broadcast','payload':{'n':1}}");
  hub_test_ws_barrier (root);
  ok = hub_test_ws_ok (root, "{'type':'broadcast','payload':{'n':2}}");
  ck_assert_int_eq (hub_test_json_int (ok, "delivered"), 2);
  json_object_unref (expect_delivery (alice, "broadcast", "root", 2));
  json_object_unref (expect_delivery (root, "broadcast", "root", 2));
}
END_TEST

START_TEST (typing_reaches_other_members_only)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *a1 = member (port, "alice", "one", "general");
  HubTestWs *a2 = hub_test_ws_login (port, "alice", "two");
  HubTestWs *b1 = member (port, "bob", "one", "general");
  HubTestWs *b2 = hub_test_ws_login (port, "bob", "two");
  HubTestWs *charlie = hub_test_ws_login (port, "charlie", NULL);
  g_autoptr (JsonObject) ok = NULL;
  JsonObject *frame;

  hub_test_ws_await_presence (a1, "join", "general", "bob");
  hub_test_ws_await_presence (a2, "join", "general", "bob");
  ok = hub_test_ws_ok (a1, "{'type':'typing','room':'general'}");
  for (guint i = 0; i < 2; i++) {
    frame = hub_test_ws_expect_type (i == 0 ? b1 : b2, "typing", HUB_TEST_WS_TIMEOUT_MS);
    ck_assert_str_eq (hub_test_json_string (frame, "room"), "general");
    ck_assert_str_eq (hub_test_json_string (frame, "user"), "alice");
    ck_assert_msg (!json_object_has_member (frame, "seq"), "typing carries no seq");
    json_object_unref (frame);
  }
  hub_test_ws_barrier (a1);
  hub_test_ws_barrier (a2);
  hub_test_ws_barrier (charlie);
  /* Fire-and-forget typing is silent for the sender. */
  hub_test_ws_sendf (b2, "{'type':'typing','room':'general'}");
  hub_test_ws_barrier (b2);
  json_object_unref (hub_test_ws_expect_type (a1, "typing", HUB_TEST_WS_TIMEOUT_MS));
  json_object_unref (hub_test_ws_expect_type (a2, "typing", HUB_TEST_WS_TIMEOUT_MS));
  hub_test_ws_barrier (b1);
  hub_test_ws_err (charlie, "not_member", "{'type':'typing','room':'general'}");
  hub_test_ws_err (charlie, "room_not_found", "{'type':'typing','room':'nowhere'}");
  hub_test_ws_barrier (b1);
}
END_TEST

/* Reads @count message frames of @room from @ws, which must carry seq 1…count
 * in order. */
static void
expect_in_order (HubTestWs *ws, const char *who, guint count)
{
  for (guint i = 1; i <= count; i++) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (ws, 10000);
    g_autofree char *text = NULL;

    ck_assert_msg (frame != NULL, "%s: message %u of %u did not arrive", who, i, count);
    text = hub_test_json_encode (frame);
    ck_assert_msg (g_strcmp0 (hub_test_json_string (frame, "type"), "message") == 0 &&
                       hub_test_json_int (frame, "seq") == i,
                   "%s: expected message seq %u, got %s", who, i, text);
    ck_assert_int_eq (hub_test_json_int (hub_test_json_object (frame, "payload"), "n"), i);
  }
}

START_TEST (five_hundred_publishes_in_order)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--rate", "100000", "--burst", "100000", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", NULL, "general");
  HubTestWs *bob = member (port, "bob", NULL, "general");
  HubTestWs *carol = member (port, "carol", NULL, "general");
  guint oks = 0;
  gint64 last_seq = 0;

  hub_test_ws_await_presence (alice, "join", "general", "carol");
  hub_test_ws_await_presence (bob, "join", "general", "carol");
  /* Pipelined: every request is on the wire before any reply is read. */
  for (guint i = 1; i <= 500; i++) {
    g_autofree char *request = g_strdup_printf (
        "{\"type\":\"publish\",\"id\":%u,\"room\":\"general\",\"payload\":{\"n\":%u}}", i, i);

    hub_test_ws_send_text (alice, request);
  }
  expect_in_order (bob, "bob", 500);
  expect_in_order (carol, "carol", 500);
  /* The sender gets its 500 replies (seq = id) and its 500 messages, in order. */
  for (guint i = 0; i < 1000; i++) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (alice, 10000);

    ck_assert_msg (frame != NULL, "alice: frame %u of 1000 did not arrive", i);
    if (g_strcmp0 (hub_test_json_string (frame, "type"), "ok") == 0) {
      ck_assert_int_eq (hub_test_json_int (frame, "seq"), hub_test_json_int (frame, "id"));
      oks++;
    } else {
      ck_assert_str_eq (hub_test_json_string (frame, "type"), "message");
      ck_assert_int_eq (hub_test_json_int (frame, "seq"), last_seq + 1);
      last_seq++;
    }
  }
  ck_assert_uint_eq (oks, 500);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("messages");

  HUB_TEST_ADD (suite, publish_reaches_every_member_connection, 30);
  HUB_TEST_ADD (suite, publish_errors, 30);
  HUB_TEST_ADD (suite, direct_reaches_recipient_and_senders_other_devices, 30);
  HUB_TEST_ADD (suite, direct_to_oneself, 30);
  HUB_TEST_ADD (suite, direct_user_offline, 30);
  HUB_TEST_ADD (suite, direct_to_invisible_user_is_delivered, 30);
  HUB_TEST_ADD (suite, multicast_counts, 30);
  HUB_TEST_ADD (suite, multicast_limit_is_1000, 30);
  HUB_TEST_ADD (suite, broadcast_in_dev_mode, 30);
  HUB_TEST_ADD (suite, broadcast_needs_admin_with_secret, 30);
  HUB_TEST_ADD (suite, typing_reaches_other_members_only, 30);
  HUB_TEST_ADD (suite, five_hundred_publishes_in_order, 60);
  return hub_test_run (suite);
}
