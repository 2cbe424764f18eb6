/* test-history.c: PROTOCOL.md §6 over real sockets: history with since,
 * limit and eviction, and resume in hello after a reconnect. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <string.h>

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

/* A payload of about @bytes: {"n":N,"pad":"xxx…"}. */
static char *
big_payload (guint n, gsize bytes)
{
  g_autofree char *pad = g_strnfill (bytes, 'x');

  return g_strdup_printf ("{\"n\":%u,\"pad\":\"%s\"}", n, pad);
}

/* Publishes @count messages of about @bytes each (n = first…), taking the
 * sender's own copies one by one (its queue is bounded too). */
static void
publish_big (HubTestWs *ws, const char *room, guint first, guint count, gsize bytes)
{
  for (guint i = first; i < first + count; i++) {
    g_autofree char *payload = big_payload (i, bytes);
    g_autofree char *request = g_strdup_printf (
        "{\"type\":\"publish\",\"id\":\"p%u\",\"room\":\"%s\",\"payload\":%s}", i, room, payload);
    g_autoptr (JsonObject) reply = hub_test_ws_request (ws, request, HUB_TEST_WS_TIMEOUT_MS);

    ck_assert_msg (reply != NULL && g_strcmp0 (hub_test_json_string (reply, "type"), "ok") == 0,
                   "publish %u of %" G_GSIZE_FORMAT " bytes: expected ok", i, bytes);
    json_object_unref (hub_test_ws_expect_type (ws, "message", HUB_TEST_WS_TIMEOUT_MS));
  }
}

/* The next frame, read as a slow client does: in bursts of a few frames,
 * the socket left unread for @pause_ms between them. */
typedef struct {
  HubTestWs *ws;
  guint burst;    /* frames read before the next pause */
  guint pause_ms; /* unread this long */
  guint in_burst;
  guint pauses;
} SlowReader;

static JsonObject *
slow_next (SlowReader *r, guint timeout_ms)
{
  if (r->in_burst == r->burst) {
    hub_test_ws_pause_reading (r->ws, TRUE);
    hub_test_ws_service (r->pause_ms);
    hub_test_ws_pause_reading (r->ws, FALSE);
    r->in_burst = 0;
    r->pauses++;
  }
  r->in_burst++;
  return hub_test_ws_recv_json (r->ws, timeout_ms);
}

/* PROTOCOL.md §6, §8 (issue 14's done-when): a resume whose replay is 100
 * messages of 60 KiB, to a client with a 64 KiB queue bound that reads
 * slowly, arrives whole and in order, then `resumed`, then the live
 * messages published meanwhile, none missing or twice; the connection is
 * never closed (before the paced replay, this closed with 4009 before the
 * welcome was read). */
START_TEST (resume_replay_larger_than_queue_is_paced)
{
  const gsize pad = 60 * 1024;
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--max-queue-bytes", "65536", "--history-bytes", "8388608", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", "general");
  HubTestWs *bob = member (port, "bob", "general");
  SlowReader reader = {.burst = 4, .pause_ms = 20};
  gint64 expected = 1, started, replayed_us = 0, total_us;
  gboolean resumed = FALSE;

  hub_test_ws_await_presence (alice, "join", "general", "bob");
  hub_test_ws_drop (alice);
  publish_big (bob, "general", 1, 100, pad);

  alice = hub_test_ws_open (port);
  reader.ws = alice;
  /* Not reading from the start: the replay must wait for the client. */
  hub_test_ws_pause_reading (alice, TRUE);
  started = g_get_monotonic_time ();
  hub_test_ws_sendf (alice, "{'type':'hello','id':1,'user':'alice','resume':{'general':0}}");
  hub_test_ws_service (300);
  /* Live messages while the replay waits: they queue behind it. */
  publish_n (bob, "general", 101, 5);
  hub_test_ws_pause_reading (alice, FALSE);
  json_object_unref (hub_test_ws_expect_type (alice, "welcome", 10000));
  while (expected <= 105) {
    g_autoptr (JsonObject) frame = slow_next (&reader, 10000);
    g_autofree char *text = NULL;
    const char *type;

    ck_assert_msg (frame != NULL, "seq %" G_GINT64_FORMAT " never came (closed: %d, code %u)",
                   expected, hub_test_ws_is_closed (alice), hub_test_ws_wait_closed (alice, 0));
    type = hub_test_json_string (frame, "type");
    if (g_strcmp0 (type, "resumed") == 0) {
      text = hub_test_json_encode (frame);
      ck_assert_msg (!resumed && expected == 101, "resumed after seq 100 only: %s", text);
      ck_assert_int_eq (hub_test_json_int (frame, "from"), 1);
      ck_assert_int_eq (hub_test_json_int (frame, "to"), 100);
      ck_assert (hub_test_json_bool (frame, "complete"));
      resumed = TRUE;
      replayed_us = g_get_monotonic_time () - started;
      continue;
    }
    ck_assert_msg (g_strcmp0 (type, "message") == 0 && hub_test_json_int (frame, "seq") == expected,
                   "expected message seq %" G_GINT64_FORMAT ", got %s", expected,
                   text = hub_test_json_encode (frame));
    {
      JsonObject *payload = hub_test_json_object (frame, "payload");

      ck_assert_int_eq (hub_test_json_int (payload, "n"), expected);
      if (expected <= 100)
        ck_assert_uint_eq (strlen (hub_test_json_string (payload, "pad")), pad);
    }
    expected++;
  }
  total_us = g_get_monotonic_time () - started;
  ck_assert_msg (resumed, "a resumed frame came");
  ck_assert_msg (!hub_test_ws_is_closed (alice), "the connection stays open");
  hub_test_ws_barrier (alice);
  g_print ("resume_replay_larger_than_queue_is_paced (%s): 100 x 60 KiB replayed through a 64 KiB "
           "queue in %.2f s (%u pauses of %u ms while reading), live messages after it at %.2f s\n",
           g_getenv ("HUB_TEST_STORE") ? g_getenv ("HUB_TEST_STORE") : "memory", replayed_us / 1e6,
           reader.pauses, reader.pause_ms, total_us / 1e6);
}
END_TEST

/* §8's slow consumer, end to end: a device that stops reading is closed with
 * 4009; it reconnects, resumes from the last seq it saw, and ends with every
 * message exactly once. */
START_TEST (slow_consumer_closed_resumes_and_loses_nothing)
{
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--max-queue-bytes", "65536", "--history", "2000", "--history-bytes",
                             "0", "--rate", "1000", "--burst", "1000", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", "general");
  HubTestWs *bob = member (port, "bob", "general");
  g_autoptr (GArray) seqs = g_array_new (FALSE, FALSE, sizeof (gint64));
  gint64 last = 0, published = 0;
  guint code;
  g_autofree char *hello = NULL;

  hub_test_ws_await_presence (alice, "join", "general", "bob");
  hub_test_ws_pause_reading (alice, TRUE);
  /* 16 KB messages until the server gives up on alice (her queue holds 64
   * KiB; the sockets' buffers hold some MB first). */
  for (;;) {
    g_autoptr (HubTestHttpResponse) metrics = NULL;
    double closes = 0;

    publish_big (bob, "general", (guint)published + 1, 20, 16000);
    published += 20;
    metrics = hub_test_http_get (port, "/metrics");
    if (hub_test_metric_value (metrics->body, "hub_slow_consumer_closes_total", &closes) &&
        closes >= 1)
      break;
    ck_assert_msg (published < 1900, "alice was never closed as a slow consumer");
  }
  hub_test_ws_pause_reading (alice, FALSE);
  /* What reached alice before the close, then the close: 4009. */
  for (;;) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (alice, 2000);

    if (frame == NULL)
      break;
    if (g_strcmp0 (hub_test_json_string (frame, "type"), "message") == 0) {
      gint64 seq = hub_test_json_int (frame, "seq");

      ck_assert_msg (seq == last + 1, "in order before the close: %" G_GINT64_FORMAT, seq);
      last = seq;
      g_array_append_val (seqs, seq);
    }
  }
  code = hub_test_ws_wait_closed (alice, 5000);
  ck_assert_msg (code == 4009, "the stalled device was closed with 4009 (got %u)", code);
  ck_assert_msg (last < published,
                 "it did not get everything before the close (%" G_GINT64_FORMAT ")", last);

  g_print ("slow_consumer_closed_resumes_and_loses_nothing (%s): closed with 4009 after "
           "%" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " messages of 16 KB\n",
           g_getenv ("HUB_TEST_STORE") ? g_getenv ("HUB_TEST_STORE") : "memory", last, published);
  /* Back, resuming from the last seq it saw; bob goes on meanwhile. */
  alice = hub_test_ws_open (port);
  hello = g_strdup_printf (
      "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\",\"resume\":{\"general\":%" G_GINT64_FORMAT
      "}}",
      last);
  hub_test_ws_send_text (alice, hello);
  publish_n (bob, "general", (guint)published + 1, 10);
  published += 10;
  json_object_unref (hub_test_ws_expect_type (alice, "welcome", 5000));
  while (last < published) {
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (alice, 5000);
    const char *type;

    ck_assert_msg (frame != NULL, "seq %" G_GINT64_FORMAT " never came", last + 1);
    type = hub_test_json_string (frame, "type");
    if (g_strcmp0 (type, "resumed") == 0) {
      ck_assert (hub_test_json_bool (frame, "complete"));
      continue;
    }
    ck_assert_str_eq (type, "message");
    ck_assert_int_eq (hub_test_json_int (frame, "seq"), last + 1);
    last++;
    g_array_append_val (seqs, last);
  }
  /* Every seq exactly once across both connections. */
  ck_assert_uint_eq (seqs->len, published);
  for (guint i = 0; i < seqs->len; i++)
    ck_assert_int_eq (g_array_index (seqs, gint64, i), i + 1);
  hub_test_ws_barrier (alice);
}
END_TEST

/* Pages through a history of large messages: each reply holds at most half
 * of max_queue_bytes of messages (one at least), `more` until the end. */
START_TEST (history_pages_large_messages_with_more)
{
  const gsize pad = 20 * 1024;
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--max-queue-bytes", "131072", "--history-bytes", "0", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", "general");
  gint64 since = 0;
  guint pages = 0;

  publish_big (alice, "general", 1, 30, pad);
  for (;;) {
    g_autoptr (JsonObject) page = history (alice, since, 100);
    JsonArray *messages = hub_test_json_array (page, "messages");
    guint n = json_array_get_length (messages);
    gsize bytes = 0;

    pages++;
    ck_assert_msg (n >= 1, "a page holds one message at least");
    for (guint i = 0; i < n; i++) {
      JsonObject *m = json_array_get_object_element (messages, i);
      g_autofree char *text = hub_test_json_encode (m);

      ck_assert_int_eq (hub_test_json_int (m, "seq"), since + 1 + i);
      bytes += strlen (text);
    }
    ck_assert_msg (bytes <= 131072 / 2, "at most half of max_queue_bytes: %" G_GSIZE_FORMAT, bytes);
    ck_assert (hub_test_json_bool (page, "complete"));
    since += n;
    if (!hub_test_json_bool (page, "more"))
      break;
    ck_assert_msg (pages < 30, "paging ends");
  }
  ck_assert_int_eq (since, 30);
  ck_assert_msg (pages >= 10, "20 KiB messages, 64 KiB a page: 3 a page (got %u pages)", pages);
}
END_TEST

/* A single history of large messages with the default bound (1 MiB) does
 * not close its own connection: 100 of 60 KiB (6 MB) come in pages. */
START_TEST (history_of_large_messages_keeps_the_connection)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--history-bytes", "8388608", "--rate",
                                                            "1000", "--burst", "1000", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = member (port, "alice", "general");
  g_autoptr (JsonObject) page = NULL;

  publish_big (alice, "general", 1, 100, 60 * 1024);
  page = history (alice, 0, 100);
  ck_assert_msg (json_array_get_length (hub_test_json_array (page, "messages")) <= 9,
                 "at most 512 KiB of 60 KiB messages");
  ck_assert (hub_test_json_bool (page, "more"));
  hub_test_ws_barrier (alice);
  ck_assert (!hub_test_ws_is_closed (alice));
}
END_TEST

/* History bytes are bounded in all (issue 17: one token pinned 653 MiB of
 * history): beyond --history-total-bytes the oldest messages of any room
 * go first, and the rooms that lost some say so (`complete: false`). */
START_TEST (history_bytes_bounded_in_all_rooms)
{
  const gsize pad = 60 * 1024;
  g_autoptr (HubTestServer) server =
      hub_test_server_start ("--history-total-bytes", "1048576", "--history-bytes", "0", "--rate",
                             "1000", "--burst", "1000", NULL);
  guint16 port = hub_test_server_port (server);
  HubTestWs *alice = hub_test_ws_login (port, "alice", NULL);
  gint64 stored = 0;

  for (guint r = 0; r < 8; r++) {
    g_autofree char *room = g_strdup_printf ("r%u", r);

    hub_test_ws_join (alice, "alice", room);
    publish_big (alice, room, 1, 6, pad); /* 48 of 60 KiB in all: 2.9 MB */
  }
  for (guint r = 0; r < 8; r++) {
    g_autoptr (JsonObject) info = hub_test_ws_ok (alice, "{'type':'room_info','room':'r%u'}", r);
    g_autoptr (JsonObject) all =
        hub_test_ws_ok (alice, "{'type':'history','room':'r%u','since':0,'limit':100}", r);
    gint64 messages = hub_test_json_int (info, "messages");

    stored += messages;
    /* Oldest first: the rooms written last keep theirs. */
    if (r == 7)
      ck_assert_int_eq (messages, 6);
    if (r == 0)
      ck_assert_int_eq (messages, 0);
    ck_assert_msg (hub_test_json_bool (all, "complete") == (messages == 6),
                   "room r%u: complete only when nothing went (%" G_GINT64_FORMAT " stored)", r,
                   messages);
  }
  ck_assert_msg (stored * (gint64)pad <= 1048576 && stored >= 15,
                 "1 MiB holds 16 of 60 KiB at most, and about that (%" G_GINT64_FORMAT ")", stored);
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
  HUB_TEST_ADD (suite, resume_replay_larger_than_queue_is_paced, 120);
  HUB_TEST_ADD (suite, slow_consumer_closed_resumes_and_loses_nothing, 60);
  HUB_TEST_ADD (suite, history_pages_large_messages_with_more, 60);
  HUB_TEST_ADD (suite, history_of_large_messages_keeps_the_connection, 60);
  HUB_TEST_ADD (suite, history_bytes_bounded_in_all_rooms, 60);
  return hub_test_run (suite);
}
