/* test-history.c: PROTOCOL.md §6 over real sockets: history with since,
 * limit and eviction, and resume in hello after a reconnect. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

/* Publishes @count messages {"n": first…} to @room, taking the sender's own
 * copies. */
static void
publish_n (HubTestWs *ws, const char *room, guint first, guint count)
{
  for (guint i = first; i < first + count; i++) {
    json_object_unref (
        hub_test_ws_ok (ws, "{'type':'publish','room':'%s','payload':{'n':%u}}", room, i));
    json_object_unref (hub_test_ws_expect_type (ws, "message", HUB_TEST_WS_TIMEOUT_MS));
  }
}

/* Asserts that history's messages carry seq @first…@last in order. */
static void
check_messages (JsonObject *reply, gint64 first, gint64 last)
{
  JsonArray *messages = hub_test_json_array (reply, "messages");
  g_autofree char *text = hub_test_json_encode (reply);

  ck_assert_msg (json_array_get_length (messages) == (guint)(last - first + 1),
                 "expected seq %" G_GINT64_FORMAT "…%" G_GINT64_FORMAT ", got %s", first, last,
                 text);
  for (guint i = 0; i < json_array_get_length (messages); i++) {
    JsonObject *m = json_array_get_object_element (messages, i);

    ck_assert_str_eq (hub_test_json_string (m, "type"), "message");
    ck_assert_str_eq (hub_test_json_string (m, "room"), "general");
    ck_assert_int_eq (hub_test_json_int (m, "seq"), first + i);
    ck_assert_int_eq (hub_test_json_int (hub_test_json_object (m, "payload"), "n"), first + i);
    ck_assert_str_eq (hub_test_json_string (m, "from"), "alice");
  }
}

static JsonObject *
history (HubTestWs *ws, gint64 since, gint64 limit)
{
  if (limit < 0)
    return hub_test_ws_ok (ws, "{'type':'history','room':'general','since':%" G_GINT64_FORMAT "}",
                           since);
  return hub_test_ws_ok (ws,
                         "{'type':'history','room':'general','since':%" G_GINT64_FORMAT
                         ",'limit':%" G_GINT64_FORMAT "}",
                         since, limit);
}

static HubTestWs *
member (guint16 port, const char *user, const char *room)
{
  HubTestWs *ws = hub_test_ws_login (port, user, NULL);

  hub_test_ws_join (ws, user, room);
  return ws;
}

START_TEST (history_since_and_limit)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestWs *alice = member (hub_test_server_port (server), "alice", "general");
  g_autoptr (JsonObject) all = NULL, tail = NULL, oldest = NULL, none = NULL;

  publish_n (alice, "general", 1, 5);
  all = history (alice, 0, -1);
  check_messages (all, 1, 5);
  ck_assert (hub_test_json_bool (all, "complete"));
  tail = history (alice, 3, -1);
  check_messages (tail, 4, 5);
  oldest = history (alice, 0, 2);
  check_messages (oldest, 1, 2);
  ck_assert (hub_test_json_bool (oldest, "complete"));
  none = history (alice, 5, -1);
  check_messages (none, 6, 5);
  ck_assert (hub_test_json_bool (none, "complete"));
}
END_TEST

START_TEST (history_eviction)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--history", "5", NULL);
  HubTestWs *alice = member (hub_test_server_port (server), "alice", "general");
  g_autoptr (JsonObject) all = NULL, from3 = NULL, from2 = NULL, limited = NULL, info = NULL;

  publish_n (alice, "general", 1, 8);
  all = history (alice, 0, -1);
  check_messages (all, 4, 8);
  ck_assert_msg (!hub_test_json_bool (all, "complete"), "seq 1–3 were evicted: complete false");
  from3 = history (alice, 3, -1);
  check_messages (from3, 4, 8);
  ck_assert_msg (hub_test_json_bool (from3, "complete"), "nothing after seq 3 was evicted");
  from2 = history (alice, 2, -1);
  check_messages (from2, 4, 8);
  ck_assert_msg (!hub_test_json_bool (from2, "complete"), "seq 3 was evicted");
  limited = history (alice, 0, 2);
  check_messages (limited, 4, 5);
  ck_assert (!hub_test_json_bool (limited, "complete"));
  info = hub_test_ws_ok (alice, "{'type':'room_info','room':'general'}");
  ck_assert_int_eq (hub_test_json_int (info, "messages"), 5);
  ck_assert_int_eq (hub_test_json_int (info, "seq"), 8);
}
END_TEST

START_TEST (history_limit_default_and_clamp)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--history", "150", "--rate", "10000", "--burst", "10000", NULL);
  HubTestWs *alice = member (hub_test_server_port (server), "alice", "general");
  g_autoptr (JsonObject) by_default = NULL, clamped = NULL;

  publish_n (alice, "general", 1, 120);
  by_default = history (alice, 0, -1);
  check_messages (by_default, 1, 50);
  clamped = history (alice, 0, 500);
  check_messages (clamped, 1, 100);
}
END_TEST

START_TEST (history_errors)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", "general");
  HubTestWs *carol = hub_test_ws_login (port, "carol", NULL);

  publish_n (alice, "general", 1, 1);
  hub_test_ws_err (carol, "not_member", "{'type':'history','room':'general','since':0}");
  hub_test_ws_err (carol, "room_not_found", "{'type':'history','room':'nowhere','since':0}");
  hub_test_ws_err (carol, "invalid_name", "{'type':'history','room':'no pe','since':0}");
}
END_TEST

/* §2: a request without id that fails still gets `error` (without id). A
 * successful history without id has nothing to answer: a ping after it gets
 * the next frame. The two stores once disagreed here (the Redis one answered
 * nothing at all). */
START_TEST (history_without_id_fails_with_error)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", "general");
  HubTestWs *carol = hub_test_ws_login (port, "carol", NULL);
  const char *const requests[][2] = {
      {"{\"type\":\"history\",\"room\":\"general\",\"since\":0}", "not_member"},
      {"{\"type\":\"history\",\"room\":\"nowhere\",\"since\":0}", "room_not_found"},
  };

  publish_n (alice, "general", 1, 1);
  for (guint i = 0; i < G_N_ELEMENTS (requests); i++) {
    g_autoptr (JsonObject) error = NULL;
    g_autofree char *text = NULL;

    hub_test_ws_send_text (carol, requests[i][0]);
    error = hub_test_ws_expect_type (carol, "error", HUB_TEST_WS_TIMEOUT_MS);
    text = hub_test_json_encode (error);
    ck_assert_str_eq (hub_test_json_string (error, "code"), requests[i][1]);
    ck_assert_msg (!json_object_has_member (error, "id"), "no id to echo: %s", text);
  }
  hub_test_ws_send_text (alice, "{\"type\":\"history\",\"room\":\"general\",\"since\":0}");
  hub_test_ws_barrier (alice);
}
END_TEST

/* Reads frames after a welcome until a `resumed` for @room: checks the
 * replayed messages are @from…@to in order, and returns the resumed frame. */
static JsonObject *
expect_replay (HubTestWs *ws, const char *room, gint64 from, gint64 to)
{
  for (gint64 seq = from; seq <= to; seq++) {
    g_autoptr (JsonObject) m = hub_test_ws_expect_type (ws, "message", HUB_TEST_WS_TIMEOUT_MS);

    ck_assert_str_eq (hub_test_json_string (m, "room"), room);
    ck_assert_int_eq (hub_test_json_int (m, "seq"), seq);
  }
  {
    JsonObject *resumed = hub_test_ws_expect_type (ws, "resumed", HUB_TEST_WS_TIMEOUT_MS);

    ck_assert_str_eq (hub_test_json_string (resumed, "room"), room);
    ck_assert_int_eq (hub_test_json_int (resumed, "from"), from);
    ck_assert_int_eq (hub_test_json_int (resumed, "to"), to);
    return resumed;
  }
}

/* One line per frame: "message general 2", "resumed general 2-4 complete". */
static char *
describe (JsonObject *frame)
{
  const char *type = hub_test_json_string (frame, "type");

  if (g_strcmp0 (type, "message") == 0)
    return g_strdup_printf ("message %s %" G_GINT64_FORMAT, hub_test_json_string (frame, "room"),
                            hub_test_json_int (frame, "seq"));
  if (g_strcmp0 (type, "resumed") == 0)
    return g_strdup_printf ("resumed %s %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT " %s",
                            hub_test_json_string (frame, "room"), hub_test_json_int (frame, "from"),
                            hub_test_json_int (frame, "to"),
                            hub_test_json_bool (frame, "complete") ? "complete" : "incomplete");
  return hub_test_json_encode (frame);
}

START_TEST (resume_replays_what_was_missed)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", "general");
  HubTestWs *bob = member (port, "bob", "general");
  g_autoptr (JsonObject) welcome = NULL;
  g_autoptr (GString) general = g_string_new (NULL);
  g_autoptr (GString) tech = g_string_new (NULL);
  guint resumed = 0;

  hub_test_ws_await_presence (alice, "join", "general", "bob");
  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'tech'}"));
  publish_n (bob, "general", 1, 1);
  hub_test_ws_drop (alice);
  publish_n (bob, "general", 2, 3);

  alice = hub_test_ws_open (port);
  welcome =
      hub_test_ws_call (alice, "{'type':'hello','user':'alice','resume':{'general':1,'tech':0}}");
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  /* Each room's replay in order; the rooms may come in either order. */
  while (resumed < 2) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (alice, HUB_TEST_WS_TIMEOUT_MS);
    g_autofree char *line = NULL;

    ck_assert_msg (frame != NULL, "replay incomplete: general [%s] tech [%s]", general->str,
                   tech->str);
    line = describe (frame);
    if (g_strcmp0 (hub_test_json_string (frame, "type"), "resumed") == 0)
      resumed++;
    g_string_append_printf (g_strcmp0 (hub_test_json_string (frame, "room"), "tech") == 0 ? tech
                                                                                          : general,
                            "%s;", line);
  }
  ck_assert_str_eq (general->str, "message general 2;message general 3;message general 4;"
                                  "resumed general 2-4 complete;");
  /* Nothing missed: from = given + 1, to = given. */
  ck_assert_str_eq (tech->str, "resumed tech 1-0 complete;");
  hub_test_ws_barrier (alice);
}
END_TEST

START_TEST (resume_general_only)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", "general");
  HubTestWs *bob = member (port, "bob", "general");
  g_autoptr (JsonObject) welcome = NULL;
  g_autoptr (JsonObject) resumed = NULL;

  hub_test_ws_await_presence (alice, "join", "general", "bob");
  publish_n (bob, "general", 1, 1);
  hub_test_ws_drop (alice);
  publish_n (bob, "general", 2, 3);
  alice = hub_test_ws_open (port);
  welcome = hub_test_ws_call (alice, "{'type':'hello','user':'alice','resume':{'general':1}}");
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  resumed = expect_replay (alice, "general", 2, 4);
  ck_assert (hub_test_json_bool (resumed, "complete"));
  hub_test_ws_barrier (alice);
}
END_TEST

START_TEST (resume_nothing_missed)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", "general");
  g_autoptr (JsonObject) welcome = NULL;
  g_autoptr (JsonObject) resumed = NULL;

  publish_n (alice, "general", 1, 4);
  hub_test_ws_drop (alice);
  alice = hub_test_ws_open (port);
  welcome = hub_test_ws_call (alice, "{'type':'hello','user':'alice','resume':{'general':4}}");
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  resumed = hub_test_ws_expect_type (alice, "resumed", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_str_eq (hub_test_json_string (resumed, "room"), "general");
  ck_assert_int_eq (hub_test_json_int (resumed, "from"), 5);
  ck_assert_int_eq (hub_test_json_int (resumed, "to"), 4);
  ck_assert (hub_test_json_bool (resumed, "complete"));
  hub_test_ws_barrier (alice);
}
END_TEST

START_TEST (resume_incomplete_after_eviction)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--history", "5", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", "general");
  HubTestWs *bob = member (port, "bob", "general");
  g_autoptr (JsonObject) welcome = NULL;
  g_autoptr (JsonObject) resumed = NULL;

  hub_test_ws_await_presence (alice, "join", "general", "bob");
  hub_test_ws_drop (alice);
  publish_n (bob, "general", 1, 8);
  alice = hub_test_ws_open (port);
  welcome = hub_test_ws_call (alice, "{'type':'hello','user':'alice','resume':{'general':0}}");
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  resumed = expect_replay (alice, "general", 4, 8);
  ck_assert_msg (!hub_test_json_bool (resumed, "complete"), "seq 1–3 were evicted");
}
END_TEST

START_TEST (resume_ignores_other_rooms_and_bad_values)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", "general");
  HubTestWs *bob = member (port, "bob", "others");
  g_autoptr (JsonObject) welcome = NULL;
  g_autoptr (JsonObject) resumed = NULL;

  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'left'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'neg'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'join','room':'str'}"));
  json_object_unref (hub_test_ws_ok (alice, "{'type':'leave','room':'left'}"));
  publish_n (bob, "others", 1, 2);
  hub_test_ws_drop (alice);
  alice = hub_test_ws_open (port);
  welcome = hub_test_ws_call (alice, "{'type':'hello','user':'alice','resume':{'others':0,'left':0,"
                                     "'nowhere':0,'neg':-1,'str':'3','general':0}}");
  ck_assert_str_eq (hub_test_json_string (welcome, "type"), "welcome");
  resumed = hub_test_ws_expect_type (alice, "resumed", HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_str_eq (hub_test_json_string (resumed, "room"), "general");
  ck_assert_int_eq (hub_test_json_int (resumed, "from"), 1);
  ck_assert_int_eq (hub_test_json_int (resumed, "to"), 0);
  hub_test_ws_barrier (alice);
}
END_TEST

START_TEST (resume_while_messages_flow)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--rate", "100000", "--burst", "100000", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", "general");
  HubTestWs *bob = member (port, "bob", "general");
  gint64 expected = 11, replay_to = -1;
  gboolean resumed_seen = FALSE;
  guint replayed = 0;

  hub_test_ws_await_presence (alice, "join", "general", "bob");
  publish_n (bob, "general", 1, 10);
  hub_test_ws_drop (alice);
  alice = hub_test_ws_open (port);
  /* Bob keeps publishing (pipelined) while alice says hello with resume 10. */
  for (guint i = 0; i < 150; i++) {
    g_autofree char *request = g_strdup_printf (
        "{\"type\":\"publish\",\"room\":\"general\",\"payload\":{\"n\":%u}}", 11 + i);

    hub_test_ws_send_text (bob, request);
    if (i == 50)
      hub_test_ws_sendf (alice, "{'type':'hello','id':1,'user':'alice','resume':{'general':10}}");
  }
  json_object_unref (hub_test_ws_expect_type (alice, "welcome", HUB_TEST_WS_TIMEOUT_MS));
  /* Every seq from 11 to 160 exactly once, in order; `resumed` closes the
   * replay: only replayed messages (seq ≤ to) before it, only live ones after. */
  while (expected <= 160) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (alice, HUB_TEST_WS_TIMEOUT_MS);
    g_autofree char *text = NULL;

    ck_assert_msg (frame != NULL, "alice: seq %" G_GINT64_FORMAT " never arrived", expected);
    text = hub_test_json_encode (frame);
    if (g_strcmp0 (hub_test_json_string (frame, "type"), "resumed") == 0) {
      ck_assert_msg (!resumed_seen, "one resumed per room: %s", text);
      resumed_seen = TRUE;
      replay_to = hub_test_json_int (frame, "to");
      ck_assert_int_eq (hub_test_json_int (frame, "from"), 11);
      ck_assert_msg (replay_to == expected - 1,
                     "resumed.to is the last replayed seq (%" G_GINT64_FORMAT "): %s", expected - 1,
                     text);
      continue;
    }
    ck_assert_msg (g_strcmp0 (hub_test_json_string (frame, "type"), "message") == 0 &&
                       hub_test_json_int (frame, "seq") == expected,
                   "expected message seq %" G_GINT64_FORMAT ", got %s", expected, text);
    if (!resumed_seen)
      replayed++;
    expected++;
  }
  if (!resumed_seen) { /* the hello came after every publish: all replayed */
    g_autoptr (JsonObject) last = hub_test_ws_expect_type (alice, "resumed", 5000);

    ck_assert_int_eq (hub_test_json_int (last, "from"), 11);
    ck_assert_int_eq (hub_test_json_int (last, "to"), 160);
    ck_assert_uint_eq (replayed, 150);
  }
  hub_test_ws_barrier (alice);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("history");

  HUB_TEST_ADD (suite, history_since_and_limit, 30);
  HUB_TEST_ADD (suite, history_eviction, 30);
  HUB_TEST_ADD (suite, history_limit_default_and_clamp, 60);
  HUB_TEST_ADD (suite, history_errors, 30);
  HUB_TEST_ADD (suite, history_without_id_fails_with_error, 30);
  HUB_TEST_ADD (suite, resume_replays_what_was_missed, 30);
  HUB_TEST_ADD (suite, resume_general_only, 30);
  HUB_TEST_ADD (suite, resume_nothing_missed, 30);
  HUB_TEST_ADD (suite, resume_incomplete_after_eviction, 30);
  HUB_TEST_ADD (suite, resume_ignores_other_rooms_and_bad_values, 30);
  HUB_TEST_ADD (suite, resume_while_messages_flow, 60);
  return hub_test_run (suite);
}
