/* test-dispatcher-rooms.c: rooms (PROTOCOL.md §4) and history/resume (§6)
 * through the dispatcher. */
#include <check.h>

#include "hub-test-node.h"

static TestNode *node;

static void
setup (void)
{
  node = test_node_new (NULL);
}

static void
teardown (void)
{
  test_node_free (node);
}

static void
no_auto_create (HubConfig *config)
{
  config->auto_create = FALSE;
}

static void
small_limits (HubConfig *config)
{
  config->max_rooms_per_user = 2;
  config->history_size = 5;
}

static gint64
publish (TestClient *c, const char *room, int n)
{
  g_autofree char *json = g_strdup_printf (
      "{\"type\":\"publish\",\"id\":1,\"room\":\"%s\",\"payload\":{\"n\":%d}}", room, n);
  g_autoptr (JsonObject) r = test_client_req (c, json);

  ck_assert_reply_ok (r);
  return json_object_get_int_member (r, "seq");
}

/* --- create / join / leave ------------------------------------------------------ */

START_TEST (test_create)
{
  TestClient *c = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r1 =
      test_client_req (c, "{\"type\":\"create\",\"id\":1,\"room\":\"general\"}");
  g_autoptr (JsonObject) r2 = test_client_req (
      c, "{\"type\":\"create\",\"id\":1,\"room\":\"tech\",\"name\":\"Tech talk ☕\"}");
  g_autoptr (JsonObject) r3 =
      test_client_req (c, "{\"type\":\"create\",\"id\":1,\"room\":\"general\"}");
  g_autoptr (JsonObject) r4 =
      test_client_req (c, "{\"type\":\"create\",\"id\":1,\"room\":\"no spaces\"}");
  g_autoptr (JsonObject) rooms = test_client_req (c, "{\"type\":\"rooms\",\"id\":1}");

  ck_assert_reply_ok (r1);
  ck_assert_str_eq (json_object_get_string_member (r1, "room"), "general");
  ck_assert_str_eq (json_object_get_string_member (r1, "name"), "general");
  ck_assert_str_eq (json_object_get_string_member (r2, "name"), "Tech talk ☕");
  ck_assert_reply_error (r3, "room_exists");
  ck_assert_reply_error (r4, "invalid_name");
  ck_assert_int_eq (json_array_get_length (json_object_get_array_member (rooms, "rooms")), 0);
}
END_TEST

START_TEST (test_join_result)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r = NULL;
  JsonArray *members;

  test_client_join (a, "general");
  publish (a, "general", 1);
  publish (a, "general", 2);
  r = test_client_req (b, "{\"type\":\"join\",\"id\":1,\"room\":\"general\",\"name\":\"ignored\"}");
  ck_assert_reply_ok (r);
  ck_assert_str_eq (json_object_get_string_member (r, "name"), "general");
  ck_assert_int_eq (json_object_get_int_member (r, "seq"), 2);
  members = json_object_get_array_member (r, "members");
  ck_assert_int_eq (json_array_get_length (members), 2);
  for (guint i = 0; i < 2; i++) {
    JsonObject *m = json_array_get_object_element (members, i);

    ck_assert_str_eq (json_object_get_string_member (m, "status"), "online");
  }
}
END_TEST

START_TEST (test_join_creates_with_name)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r =
      test_client_req (a, "{\"type\":\"join\",\"id\":1,\"room\":\"lobby\",\"name\":\"The Lobby\"}");

  ck_assert_str_eq (json_object_get_string_member (r, "name"), "The Lobby");
  ck_assert_int_eq (json_object_get_int_member (r, "seq"), 0);
}
END_TEST

START_TEST (test_join_presence_events)
{
  TestClient *a1 = test_client_hello (node, "alice", "phone");
  TestClient *a2 = test_client_hello (node, "alice", "laptop");
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *c = test_client_hello (node, "charlie", NULL);
  g_autoptr (JsonObject) ev = NULL;

  test_client_join (a1, "general");
  ck_assert_int_eq (test_client_count (a1, "presence"), 1);
  ck_assert_int_eq (test_client_count (a2, "presence"), 1);
  test_client_clear (a1);
  test_client_clear (a2);
  test_client_join (b, "general");
  ev = test_client_next (a2, "presence");
  ck_assert_str_eq (json_object_get_string_member (ev, "event"), "join");
  ck_assert_str_eq (json_object_get_string_member (ev, "room"), "general");
  ck_assert_str_eq (json_object_get_string_member (ev, "user"), "bob");
  ck_assert_int_eq (test_client_count (a1, "presence"), 1);
  ck_assert_int_eq (test_client_count (b, "presence"), 1);
  ck_assert_int_eq (test_client_count (c, "presence"), 0);
}
END_TEST

START_TEST (test_join_twice_no_event)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *a2 = test_client_hello (node, "alice", "two");

  test_client_join (a, "general");
  test_client_clear (a);
  test_client_clear (a2);
  test_client_join (a2, "general");
  ck_assert_int_eq (test_client_count (a, "presence"), 0);
  ck_assert_int_eq (test_client_count (a2, "presence"), 0);
}
END_TEST

START_TEST (test_join_no_auto_create)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r1 =
      test_client_req (a, "{\"type\":\"join\",\"id\":1,\"room\":\"general\"}");
  g_autoptr (JsonObject) r2 =
      test_client_req (a, "{\"type\":\"create\",\"id\":1,\"room\":\"general\"}");

  ck_assert_reply_error (r1, "room_not_found");
  ck_assert_reply_ok (r2);
  test_client_join (a, "general");
}
END_TEST

START_TEST (test_too_many_rooms)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r = NULL;

  test_client_join (a, "r1");
  test_client_join (a, "r2");
  test_client_join (a, "r2"); /* a repeat at the limit is still a no-op success */
  r = test_client_req (a, "{\"type\":\"join\",\"id\":1,\"room\":\"r3\"}");
  ck_assert_reply_error (r, "too_many_rooms");
}
END_TEST

START_TEST (test_leave)
{
  TestClient *a1 = test_client_hello (node, "alice", "phone");
  TestClient *a2 = test_client_hello (node, "alice", "laptop");
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r = NULL, ev = NULL;

  test_client_join (a1, "general");
  test_client_join (b, "general");
  test_client_clear (a1);
  test_client_clear (a2);
  test_client_clear (b);
  r = test_client_req (a1, "{\"type\":\"leave\",\"id\":1,\"room\":\"general\"}");
  ck_assert_reply_ok (r);
  ck_assert_str_eq (json_object_get_string_member (r, "room"), "general");
  ev = test_client_next (a2, "presence");
  ck_assert_msg (ev != NULL, "the leaver's other device gets the leave event");
  ck_assert_str_eq (json_object_get_string_member (ev, "event"), "leave");
  ck_assert_int_eq (test_client_count (a1, "presence"), 1);
  ck_assert_int_eq (test_client_count (b, "presence"), 1);
  ck_assert_msg (!test_node_is_member (node, "alice", "general"), "membership of all devices ends");
  /* Later messages do not reach the leaver's devices. */
  test_client_clear (a2);
  publish (b, "general", 1);
  ck_assert_int_eq (test_client_count (a2, "message"), 0);
}
END_TEST

START_TEST (test_leave_errors)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r1 =
      test_client_req (a, "{\"type\":\"leave\",\"id\":1,\"room\":\"nowhere\"}");
  g_autoptr (JsonObject) r2 = NULL;

  ck_assert_reply_error (r1, "room_not_found");
  test_client_join (b, "general");
  r2 = test_client_req (a, "{\"type\":\"leave\",\"id\":1,\"room\":\"general\"}");
  ck_assert_reply_error (r2, "not_member");
}
END_TEST

START_TEST (test_last_leave_deletes_room)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r1 = NULL, info = NULL, j = NULL;

  test_client_join (a, "temp");
  publish (a, "temp", 1);
  publish (a, "temp", 2);
  r1 = test_client_req (a, "{\"type\":\"leave\",\"id\":1,\"room\":\"temp\"}");
  ck_assert_reply_ok (r1);
  info = test_client_req (a, "{\"type\":\"room_info\",\"id\":1,\"room\":\"temp\"}");
  ck_assert_reply_error (info, "room_not_found");
  j = test_client_req (a, "{\"type\":\"join\",\"id\":1,\"room\":\"temp\"}");
  ck_assert_int_eq (json_object_get_int_member (j, "seq"), 0);
  ck_assert_int_eq (publish (a, "temp", 3), 1);
}
END_TEST

START_TEST (test_created_room_without_members_stays)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) c =
      test_client_req (a, "{\"type\":\"create\",\"id\":1,\"room\":\"empty\"}");
  g_autoptr (JsonObject) info = NULL;

  test_node_advance (node, 60000);
  info = test_client_req (a, "{\"type\":\"room_info\",\"id\":1,\"room\":\"empty\"}");
  ck_assert_reply_ok (info);
  ck_assert_int_eq (json_object_get_int_member (info, "members"), 0);
}
END_TEST

START_TEST (test_rooms_list)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r = NULL;
  JsonArray *rooms;
  JsonObject *first;

  test_client_join (a, "beta");
  test_client_join (a, "alpha");
  test_client_join (b, "alpha");
  publish (a, "alpha", 1);
  r = test_client_req (a, "{\"type\":\"rooms\",\"id\":1}");
  rooms = json_object_get_array_member (r, "rooms");
  ck_assert_int_eq (json_array_get_length (rooms), 2);
  first = json_array_get_object_element (rooms, 0);
  ck_assert_str_eq (json_object_get_string_member (first, "room"), "alpha");
  ck_assert_str_eq (json_object_get_string_member (first, "name"), "alpha");
  ck_assert_int_eq (json_object_get_int_member (first, "members"), 2);
  ck_assert_int_eq (json_object_get_int_member (first, "seq"), 1);
}
END_TEST

START_TEST (test_room_info)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *outsider = test_client_hello (node, "zed", NULL);
  gint64 created = hub_clock_unix_ms (node->clock);
  g_autoptr (JsonObject) r = NULL, missing = NULL;

  test_client_join (a, "general");
  publish (a, "general", 1);
  publish (a, "general", 2);
  r = test_client_req (outsider, "{\"type\":\"room_info\",\"id\":1,\"room\":\"general\"}");
  ck_assert_reply_ok (r);
  ck_assert_str_eq (json_object_get_string_member (r, "room"), "general");
  ck_assert_int_eq (json_object_get_int_member (r, "created_ts"), created);
  ck_assert_int_eq (json_object_get_int_member (r, "members"), 1);
  ck_assert_int_eq (json_object_get_int_member (r, "messages"), 2);
  ck_assert_int_eq (json_object_get_int_member (r, "seq"), 2);
  missing = test_client_req (a, "{\"type\":\"room_info\",\"id\":1,\"room\":\"nope\"}");
  ck_assert_reply_error (missing, "room_not_found");
}
END_TEST

START_TEST (test_who)
{
  TestClient *a1 = test_client_hello (node, "alice", "phone");
  TestClient *a2 = test_client_hello (node, "alice", "laptop");
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *z = test_client_hello (node, "zed", NULL);
  g_autoptr (JsonObject) r = NULL, st = NULL, missing = NULL;
  JsonArray *members;
  JsonObject *alice, *bob;

  (void)a2;
  test_client_join (a1, "general");
  test_client_join (b, "general");
  st = test_client_req (b, "{\"type\":\"status\",\"id\":1,\"status\":\"busy\"}");
  r = test_client_req (z, "{\"type\":\"who\",\"id\":1,\"room\":\"general\"}");
  members = json_object_get_array_member (r, "members");
  ck_assert_int_eq (json_array_get_length (members), 2);
  alice = json_array_get_object_element (members, 0);
  bob = json_array_get_object_element (members, 1);
  ck_assert_str_eq (json_object_get_string_member (alice, "user"), "alice");
  ck_assert_int_eq (json_object_get_int_member (alice, "devices"), 2);
  ck_assert_str_eq (json_object_get_string_member (bob, "status"), "busy");
  ck_assert_int_eq (json_object_get_int_member (bob, "devices"), 1);
  missing = test_client_req (z, "{\"type\":\"who\",\"id\":1,\"room\":\"nope\"}");
  ck_assert_reply_error (missing, "room_not_found");
}
END_TEST

START_TEST (test_who_offline_member)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r = NULL;
  JsonObject *bob;

  test_client_join (a, "general");
  test_client_join (b, "general");
  test_client_disconnect (b);
  r = test_client_req (a, "{\"type\":\"who\",\"id\":1,\"room\":\"general\"}");
  bob = json_array_get_object_element (json_object_get_array_member (r, "members"), 1);
  ck_assert_str_eq (json_object_get_string_member (bob, "status"), "offline");
  ck_assert_int_eq (json_object_get_int_member (bob, "devices"), 0);
}
END_TEST

/* --- history and resume (§6) ------------------------------------------------------ */

START_TEST (test_history)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r = NULL;
  JsonArray *msgs;

  test_client_join (a, "general");
  for (int i = 1; i <= 120; i++)
    publish (a, "general", i);
  r = test_client_req (a, "{\"type\":\"history\",\"id\":1,\"room\":\"general\",\"since\":60}");
  ck_assert_reply_ok (r);
  msgs = json_object_get_array_member (r, "messages");
  ck_assert_int_eq (json_array_get_length (msgs), 50); /* default limit */
  ck_assert_int_eq (json_object_get_int_member (json_array_get_object_element (msgs, 0), "seq"),
                    61);
  ck_assert_str_eq (json_object_get_string_member (json_array_get_object_element (msgs, 0), "type"),
                    "message");
  ck_assert_msg (json_object_get_boolean_member (r, "complete"), "nothing after 60 was evicted");
}
END_TEST

START_TEST (test_history_limit_clamped_and_eviction)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) r = NULL, r2 = NULL;
  JsonArray *msgs;

  test_client_join (a, "general");
  for (int i = 1; i <= 150; i++)
    publish (a, "general", i);
  /* History keeps 100 (51..150); asking from 0 with limit 500 gives 100. */
  r = test_client_req (
      a, "{\"type\":\"history\",\"id\":1,\"room\":\"general\",\"since\":0,\"limit\":500}");
  msgs = json_object_get_array_member (r, "messages");
  ck_assert_int_eq (json_array_get_length (msgs), 100);
  ck_assert_int_eq (json_object_get_int_member (json_array_get_object_element (msgs, 0), "seq"),
                    51);
  ck_assert_msg (!json_object_get_boolean_member (r, "complete"), "1..50 were evicted");
  r2 = test_client_req (
      a, "{\"type\":\"history\",\"id\":1,\"room\":\"general\",\"since\":50,\"limit\":3}");
  ck_assert_int_eq (json_array_get_length (json_object_get_array_member (r2, "messages")), 3);
  ck_assert_msg (json_object_get_boolean_member (r2, "complete"), "nothing after 50 evicted");
}
END_TEST

START_TEST (test_history_errors)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) r1 = NULL, r2 = NULL, r3 = NULL, r4 = NULL;

  test_client_join (a, "general");
  r1 = test_client_req (b, "{\"type\":\"history\",\"id\":1,\"room\":\"general\",\"since\":0}");
  ck_assert_reply_error (r1, "not_member");
  r2 = test_client_req (b, "{\"type\":\"history\",\"id\":1,\"room\":\"nope\",\"since\":0}");
  ck_assert_reply_error (r2, "room_not_found");
  r3 = test_client_req (a, "{\"type\":\"history\",\"id\":1,\"room\":\"general\",\"since\":-1}");
  ck_assert_reply_error (r3, "bad_request");
  r4 = test_client_req (a, "{\"type\":\"history\",\"id\":1,\"room\":\"general\"}");
  ck_assert_reply_error (r4, "bad_request");
}
END_TEST

/* §2: a failed request without id still gets `error` (the Redis store once
 * answered nothing); a successful one gets nothing. */
START_TEST (test_history_without_id)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) e1 = NULL, e2 = NULL;

  test_client_join (a, "general");
  test_client_clear (a);
  test_client_send (b, "{\"type\":\"history\",\"room\":\"general\",\"since\":0}");
  e1 = test_client_next (b, "error");
  ck_assert_msg (e1 != NULL, "not_member answered without id");
  ck_assert_reply_error (e1, "not_member");
  ck_assert_msg (!json_object_has_member (e1, "id"), "no id to echo");
  test_client_send (b, "{\"type\":\"history\",\"room\":\"nope\",\"since\":0}");
  e2 = test_client_next (b, "error");
  ck_assert_msg (e2 != NULL, "room_not_found answered without id");
  ck_assert_reply_error (e2, "room_not_found");
  test_client_send (a, "{\"type\":\"history\",\"room\":\"general\",\"since\":0}");
  ck_assert_int_eq (hub_memory_sink_count (a->sink, NULL), 0);
}
END_TEST

START_TEST (test_resume_replays_then_resumed)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *again;
  g_autoptr (JsonObject) w = NULL, done = NULL;

  test_client_join (a, "general");
  test_client_join (b, "general");
  test_client_join (b, "tech");
  publish (a, "general", 1);
  test_client_disconnect (b);
  publish (a, "general", 2);
  publish (a, "general", 3);

  again = test_client_open (node);
  w = test_client_request (again,
                           "{\"type\":\"hello\",\"id\":1,\"user\":\"bob\",\"resume\":{\"general\":"
                           "1,\"tech\":0,\"notmine\":0}}",
                           1);
  ck_assert_str_eq (json_object_get_string_member (w, "type"), "welcome");
  /* general: message 2, message 3, resumed; then tech: resumed (nothing missed). */
  for (gint64 seq = 2; seq <= 3; seq++) {
    g_autoptr (JsonObject) m = hub_memory_sink_pop (again->sink);

    ck_assert_str_eq (json_object_get_string_member (m, "type"), "message");
    ck_assert_int_eq (json_object_get_int_member (m, "seq"), seq);
  }
  done = hub_memory_sink_pop (again->sink);
  ck_assert_str_eq (json_object_get_string_member (done, "type"), "resumed");
  ck_assert_str_eq (json_object_get_string_member (done, "room"), "general");
  ck_assert_int_eq (json_object_get_int_member (done, "from"), 2);
  ck_assert_int_eq (json_object_get_int_member (done, "to"), 3);
  ck_assert_msg (json_object_get_boolean_member (done, "complete"), "complete");
  {
    g_autoptr (JsonObject) tech = hub_memory_sink_pop (again->sink);

    ck_assert_str_eq (json_object_get_string_member (tech, "type"), "resumed");
    ck_assert_str_eq (json_object_get_string_member (tech, "room"), "tech");
    ck_assert_int_eq (json_object_get_int_member (tech, "from"), 1);
    ck_assert_int_eq (json_object_get_int_member (tech, "to"), 0);
  }
  ck_assert_int_eq (test_client_count (again, "resumed"), 0); /* notmine ignored */
  /* Live messages after the replay, no duplicates. */
  test_client_clear (again);
  publish (a, "general", 4);
  ck_assert_int_eq (test_client_count (again, "message"), 1);
}
END_TEST

START_TEST (test_resume_incomplete)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *again;
  g_autoptr (JsonObject) w = NULL, resumed = NULL;

  test_client_join (a, "general");
  test_client_join (b, "general");
  test_client_disconnect (b);
  for (int i = 1; i <= 8; i++)
    publish (a, "general", i);
  again = test_client_open (node);
  w = test_client_request (
      again, "{\"type\":\"hello\",\"id\":1,\"user\":\"bob\",\"resume\":{\"general\":0}}", 1);
  ck_assert_int_eq (test_client_count (again, "message"), 5);
  resumed = test_client_next (again, "resumed");
  ck_assert_int_eq (json_object_get_int_member (resumed, "from"), 4);
  ck_assert_int_eq (json_object_get_int_member (resumed, "to"), 8);
  ck_assert_msg (!json_object_get_boolean_member (resumed, "complete"), "1..3 were evicted");
}
END_TEST

/* A hostile resume past every seq: nothing missed, and no arithmetic past
 * G_MAXINT64 (found by the fuzzer: from = seq + 1 overflowed). */
START_TEST (test_resume_at_int64_max)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *again;
  g_autoptr (JsonObject) w = NULL, resumed = NULL;

  test_client_join (a, "general");
  publish (a, "general", 1);
  test_client_disconnect (a);
  again = test_client_open (node);
  w = test_client_request (again,
                           "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\",\"resume\":"
                           "{\"general\":9223372036854775807}}",
                           1);
  ck_assert_str_eq (json_object_get_string_member (w, "type"), "welcome");
  ck_assert_int_eq (test_client_count (again, "message"), 0);
  resumed = test_client_next (again, "resumed");
  ck_assert_int_eq (json_object_get_int_member (resumed, "to"), G_MAXINT64);
  ck_assert_int_eq (json_object_get_int_member (resumed, "from"), G_MAXINT64);
  ck_assert_msg (json_object_get_boolean_member (resumed, "complete"), "nothing was missed");
}
END_TEST

static void
setup_no_auto (void)
{
  node = test_node_new (no_auto_create);
}

static void
setup_small (void)
{
  node = test_node_new (small_limits);
}

static Suite *
rooms_suite (void)
{
  Suite *s = suite_create ("dispatcher-rooms");
  TCase *tc = tcase_create ("rooms");
  TCase *noauto = tcase_create ("no-auto-create");
  TCase *small = tcase_create ("small-limits");
  TCase *hist = tcase_create ("history");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_create);
  tcase_add_test (tc, test_join_result);
  tcase_add_test (tc, test_join_creates_with_name);
  tcase_add_test (tc, test_join_presence_events);
  tcase_add_test (tc, test_join_twice_no_event);
  tcase_add_test (tc, test_leave);
  tcase_add_test (tc, test_leave_errors);
  tcase_add_test (tc, test_last_leave_deletes_room);
  tcase_add_test (tc, test_created_room_without_members_stays);
  tcase_add_test (tc, test_rooms_list);
  tcase_add_test (tc, test_room_info);
  tcase_add_test (tc, test_who);
  tcase_add_test (tc, test_who_offline_member);
  suite_add_tcase (s, tc);

  tcase_add_checked_fixture (noauto, setup_no_auto, teardown);
  tcase_add_test (noauto, test_join_no_auto_create);
  suite_add_tcase (s, noauto);

  tcase_add_checked_fixture (small, setup_small, teardown);
  tcase_add_test (small, test_too_many_rooms);
  tcase_add_test (small, test_resume_incomplete);
  suite_add_tcase (s, small);

  tcase_add_checked_fixture (hist, setup, teardown);
  tcase_add_test (hist, test_history);
  tcase_add_test (hist, test_history_limit_clamped_and_eviction);
  tcase_add_test (hist, test_history_errors);
  tcase_add_test (hist, test_history_without_id);
  tcase_add_test (hist, test_resume_replays_then_resumed);
  tcase_add_test (hist, test_resume_at_int64_max);
  suite_add_tcase (s, hist);
  return s;
}

int
main (void)
{
  return test_run_suite (rooms_suite ());
}
