/* test-dispatcher-replay.c: what a room's history holds and how it is read,
 * through the dispatcher, in both stores: the resume's replay paced by the
 * client (PROTOCOL.md §6, §8), history cut in bytes with `more`, stream
 * epochs across a history loss, history bytes bounded per room and in all,
 * and rooms that never had a member (§4, §8). */
#include <check.h>
#include <string.h>

#include "hub-test-node.h"

static TestNode *node;

/* A 4 KiB queue: a replay of 20 messages of 1 KB is five times that. */
static void
small_queue (HubConfig *config)
{
  config->max_queue_bytes = 4096;
}

static void
setup (void)
{
  node = test_node_new (small_queue);
}

static void
teardown (void)
{
  test_node_free (node);
}

/* Publishes {"n":n,"pad":"x…"} of about @bytes and returns its seq. */
static gint64
publish (TestClient *c, const char *room, int n, gsize bytes)
{
  g_autofree char *pad = g_strnfill (bytes, 'x');
  g_autofree char *json = g_strdup_printf ("{\"type\":\"publish\",\"id\":1,\"room\":\"%s\","
                                           "\"payload\":{\"n\":%d,\"pad\":\"%s\"}}",
                                           room, n, pad);
  g_autoptr (JsonObject) r = test_client_req (c, json);

  ck_assert_reply_ok (r);
  return json_object_get_int_member (r, "seq");
}

/* The frames @c received, one line each: "welcome", "message general 3",
 * "resumed general 1-20 complete". */
static char *
received (TestClient *c)
{
  GString *out = g_string_new (NULL);

  for (guint i = 0; i < c->sink->frames->len; i++) {
    g_autoptr (JsonObject) f = hub_memory_sink_nth (c->sink, i);
    const char *type = json_object_get_string_member (f, "type");

    if (out->len > 0)
      g_string_append_c (out, ';');
    if (g_strcmp0 (type, "message") == 0)
      g_string_append_printf (out, "message %s %" G_GINT64_FORMAT,
                              json_object_get_string_member (f, "room"),
                              json_object_get_int_member (f, "seq"));
    else if (g_strcmp0 (type, "resumed") == 0)
      g_string_append_printf (
          out, "resumed %s %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT " %s",
          json_object_get_string_member (f, "room"), json_object_get_int_member (f, "from"),
          json_object_get_int_member (f, "to"),
          json_object_get_boolean_member (f, "complete") ? "complete" : "incomplete");
    else
      g_string_append (out, type);
  }
  return g_string_free (out, FALSE);
}

static char *
messages_line (const char *room, gint64 from, gint64 to)
{
  GString *out = g_string_new (NULL);

  for (gint64 seq = from; seq <= to; seq++)
    g_string_append_printf (out, "%smessage %s %" G_GINT64_FORMAT, out->len > 0 ? ";" : "", room,
                            seq);
  return g_string_free (out, FALSE);
}

/* --- §6, §8: the paced replay ----------------------------------------------------------- */

START_TEST (test_replay_waits_for_the_client)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *again;
  g_autofree char *got = NULL, *replay = NULL, *want = NULL;
  guint while_blocked;

  test_client_join (a, "general");
  test_client_join (b, "general");
  test_client_disconnect (a);
  for (int i = 1; i <= 20; i++)
    publish (b, "general", i, 1000);
  again = test_client_open (node);
  again->sink->blocked = TRUE; /* a client that does not read */
  test_client_send (again,
                    "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\",\"resume\":{\"general\":0}}");
  /* Live ones meanwhile: 21 and 22 wait behind the replay. */
  publish (b, "general", 21, 10);
  publish (b, "general", 22, 10);
  test_node_sync (node);
  ck_assert_msg (!hub_connection_is_closing (again->conn),
                 "a replay of 20 KB through a 4 KiB queue does not close the connection");
  while_blocked = hub_connection_queued_frames (again->conn);
  ck_assert_msg (while_blocked <= 4,
                 "only the welcome and what came behind the replay are queued (%u frames)",
                 while_blocked);
  hub_memory_sink_unblock (again->sink);
  test_node_sync (node); /* in a cluster, each page is read from Redis as the client reads */
  got = received (again);
  replay = messages_line ("general", 1, 20);
  want = g_strdup_printf ("welcome;%s;resumed general 1-20 complete;message general 21;"
                          "message general 22",
                          replay);
  ck_assert_str_eq (got, want);
  ck_assert (!hub_connection_has_source (again->conn));
}
END_TEST

/* The client reads a frame at a time: every pull of the replay waits for it,
 * and a 4009 never comes. */
START_TEST (test_replay_read_a_frame_at_a_time)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *again;
  guint rounds = 0;
  gsize ahead, max_ahead = 0;

  test_client_join (a, "general");
  test_client_join (b, "general");
  test_client_join (a, "tech");
  test_client_disconnect (a);
  for (int i = 1; i <= 10; i++) {
    publish (b, "general", i, 1500);
    publish (b, "general", 100 + i, 10);
  }
  again = test_client_open (node);
  again->sink->writes_left = 0;
  test_client_send (again, "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\",\"resume\":"
                           "{\"general\":0,\"tech\":0}}");
  test_node_sync (node);
  while (hub_connection_has_source (again->conn)) {
    /* One frame, then the sink refuses again. */
    again->sink->writes_left = 1;
    hub_connection_flush (again->conn);
    test_node_sync (node);
    ck_assert (!hub_connection_is_closing (again->conn));
    /* Read from the history a pull at a time (a cursor per room), not the
     * whole replay at once: 1.5 KB messages through a 2 KiB budget. */
    ahead = hub_connection_source_ahead_bytes (again->conn);
    ck_assert_msg (ahead <= hub_connection_source_budget (again->conn),
                   "a pull's worth ahead at most (%" G_GSIZE_FORMAT " bytes)", ahead);
    max_ahead = MAX (max_ahead, ahead);
    ck_assert_msg (++rounds < 100, "the replay ends");
  }
  again->sink->writes_left = -1;
  hub_connection_flush (again->conn);
  ck_assert_msg (rounds >= 20, "a frame at a time (%u rounds)", rounds);
  ck_assert_msg (max_ahead > 0, "the replay was pulled ahead of the client");
  {
    g_autofree char *got = received (again);
    g_autofree char *general = messages_line ("general", 1, 20);
    g_autofree char *want = g_strdup_printf (
        "welcome;%s;resumed general 1-20 complete;resumed tech 1-0 complete", general);

    ck_assert_str_eq (got, want);
  }
  ck_assert (!hub_connection_is_closing (again->conn));
}
END_TEST

/* Frames that come for the connection during its replay count against
 * max_queue_bytes as usual: too many, and it is a slow consumer. */
START_TEST (test_frames_behind_the_replay_count)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *again;

  test_client_join (a, "general");
  test_client_join (b, "general");
  test_client_disconnect (a);
  for (int i = 1; i <= 10; i++)
    publish (b, "general", i, 1000);
  again = test_client_open (node);
  again->sink->blocked = TRUE;
  test_client_send (again,
                    "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\",\"resume\":{\"general\":0}}");
  for (int i = 11; i <= 16 && !hub_connection_is_closing (again->conn); i++)
    publish (b, "general", i, 1000);
  test_node_sync (node);
  ck_assert_msg (hub_connection_is_closing (again->conn), "6 KB of live messages behind it: 4009");
  ck_assert_uint_eq (hub_connection_get_close_code (again->conn), HUB_CLOSE_SLOW_CONSUMER);
}
END_TEST

/* Requests sent during the replay are answered behind it. */
START_TEST (test_requests_during_the_replay_answered_behind_it)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  TestClient *again;
  g_autoptr (JsonObject) last = NULL;

  test_client_join (a, "general");
  test_client_join (b, "general");
  test_client_disconnect (a);
  for (int i = 1; i <= 6; i++)
    publish (b, "general", i, 1000);
  again = test_client_open (node);
  again->sink->blocked = TRUE;
  test_client_send (again,
                    "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\",\"resume\":{\"general\":2}}");
  test_client_send (again, "{\"type\":\"ping\",\"id\":7}");
  hub_memory_sink_unblock (again->sink);
  test_node_sync (node);
  {
    g_autofree char *got = received (again);

    ck_assert_str_eq (got, "welcome;message general 3;message general 4;message general 5;"
                           "message general 6;resumed general 3-6 complete;pong");
  }
  last = hub_memory_sink_last (again->sink, "pong");
  ck_assert_int_eq (json_object_get_int_member (last, "id"), 7);
}
END_TEST

/* --- §6: history in bytes --------------------------------------------------------------- */

START_TEST (test_history_cut_at_half_the_queue)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  gint64 since = 0;
  guint pages = 0;

  test_client_join (a, "general");
  for (int i = 1; i <= 10; i++)
    publish (a, "general", i, 800);
  while (since < 10) {
    g_autofree char *json = g_strdup_printf (
        "{\"type\":\"history\",\"id\":1,\"room\":\"general\",\"since\":%" G_GINT64_FORMAT "}",
        since);
    g_autoptr (JsonObject) r = test_client_req (a, json);
    JsonArray *messages = json_object_get_array_member (r, "messages");
    guint n = json_array_get_length (messages);

    ck_assert_reply_ok (r);
    ck_assert_msg (n == 2, "two of ~900 bytes in 2048 (got %u)", n);
    ck_assert_int_eq (
        json_object_get_int_member (json_array_get_object_element (messages, 0), "seq"), since + 1);
    ck_assert_msg (json_object_get_boolean_member (r, "more") == (since + n < 10), "more: %s",
                   test_json (r));
    ck_assert (json_object_get_boolean_member (r, "complete"));
    since += n;
    pages++;
  }
  ck_assert_uint_eq (pages, 5);
  {
    /* One at least, however large. */
    g_autoptr (JsonObject) r = NULL;

    publish (a, "general", 11, 3000);
    r = test_client_req (a, "{\"type\":\"history\",\"id\":1,\"room\":\"general\",\"since\":10}");
    ck_assert_uint_eq (json_array_get_length (json_object_get_array_member (r, "messages")), 1);
    ck_assert (!json_object_get_boolean_member (r, "more"));
  }
  ck_assert (!hub_connection_is_closing (a->conn));
}
END_TEST

/* --- §6: a stream epoch per room -------------------------------------------------------- */

static gint64
epoch_of (JsonObject *r)
{
  ck_assert_msg (json_object_has_member (r, "epoch"), "an epoch in %s", test_json (r));
  return json_object_get_int_member (r, "epoch");
}

START_TEST (test_epoch_in_replies)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) join = test_client_req (a, "{\"type\":\"join\",\"id\":1,\"room\":\"g\"}");
  g_autoptr (JsonObject) info =
      test_client_req (a, "{\"type\":\"room_info\",\"id\":1,\"room\":\"g\"}");
  g_autoptr (JsonObject) rooms = test_client_req (a, "{\"type\":\"rooms\",\"id\":1}");
  g_autoptr (JsonObject) left = test_client_req (a, "{\"type\":\"leave\",\"id\":1,\"room\":\"g\"}");
  g_autoptr (JsonObject) again = test_client_req (a, "{\"type\":\"join\",\"id\":1,\"room\":\"g\"}");
  gint64 e = epoch_of (join);

  ck_assert_msg (e > 0 && e < (G_GINT64_CONSTANT (1) << 53), "a positive epoch below 2^53");
  ck_assert_int_eq (epoch_of (info), e);
  ck_assert_int_eq (
      epoch_of (json_array_get_object_element (json_object_get_array_member (rooms, "rooms"), 0)),
      e);
  ck_assert_reply_ok (left);
  ck_assert_msg (epoch_of (again) != e, "created again: another stream");
}
END_TEST

/* The room was deleted and created again while the phone was away, and the
 * user is a member again (from the laptop): the phone's resume from seq 5
 * of the old stream gets everything of the new one, incomplete, and learns
 * the new epoch in its welcome, before the replay. */
START_TEST (test_resume_across_a_new_stream)
{
  TestClient *phone = test_client_hello (node, "alice", "phone");
  TestClient *laptop = test_client_hello (node, "alice", "laptop");
  TestClient *bob = test_client_hello (node, "bob", NULL);
  TestClient *back, *old;
  g_autoptr (JsonObject) j1 =
      test_client_req (laptop, "{\"type\":\"join\",\"id\":1,\"room\":\"g\"}");
  g_autoptr (JsonObject) j2 = NULL, welcome = NULL, w2 = NULL, left = NULL, resumed = NULL;
  g_autofree char *hello = NULL, *got = NULL;
  gint64 e1 = epoch_of (j1), e2;

  for (int i = 1; i <= 5; i++)
    publish (laptop, "g", i, 10);
  test_client_disconnect (phone);
  left = test_client_req (laptop, "{\"type\":\"leave\",\"id\":1,\"room\":\"g\"}");
  ck_assert_reply_ok (left);
  j2 = test_client_req (laptop, "{\"type\":\"join\",\"id\":1,\"room\":\"g\"}");
  e2 = epoch_of (j2);
  ck_assert_int_ne (e1, e2);
  test_client_join (bob, "g");
  for (int i = 1; i <= 3; i++)
    publish (bob, "g", i, 10);

  back = test_client_open (node);
  hello = g_strdup_printf ("{\"type\":\"hello\",\"id\":1,\"user\":\"alice\",\"device\":\"phone\","
                           "\"resume\":{\"g\":5},\"epochs\":{\"g\":%" G_GINT64_FORMAT "}}",
                           e1);
  test_client_send (back, hello);
  got = received (back);
  ck_assert_str_eq (got, "welcome;message g 1;message g 2;message g 3;resumed g 1-3 incomplete");
  welcome = hub_memory_sink_nth (back->sink, 0);
  ck_assert_int_eq (
      json_object_get_int_member (json_object_get_object_member (welcome, "epochs"), "g"), e2);
  resumed = hub_memory_sink_last (back->sink, "resumed");
  ck_assert_int_eq (epoch_of (resumed), e2);

  /* Without epochs (a 1.1 client), as before: seq 5 is past 3, nothing missed. */
  old = test_client_open (node);
  w2 = test_client_request (
      old, "{\"type\":\"hello\",\"id\":1,\"user\":\"alice\",\"resume\":{\"g\":5}}", 1);
  ck_assert_msg (!json_object_has_member (w2, "epochs"), "no epochs asked, none told");
  {
    g_autoptr (JsonObject) r = test_client_next (old, "resumed");

    ck_assert_int_eq (json_object_get_int_member (r, "from"), 6);
    ck_assert (json_object_get_boolean_member (r, "complete"));
  }
}
END_TEST

/* The same epoch: an ordinary resume, nothing in welcome's epochs. */
START_TEST (test_resume_same_stream)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) j = test_client_req (a, "{\"type\":\"join\",\"id\":1,\"room\":\"g\"}");
  TestClient *back;
  g_autofree char *hello = NULL, *got = NULL;
  g_autoptr (JsonObject) welcome = NULL;

  publish (a, "g", 1, 10);
  publish (a, "g", 2, 10);
  test_client_disconnect (a);
  back = test_client_open (node);
  hello = g_strdup_printf ("{\"type\":\"hello\",\"id\":1,\"user\":\"alice\","
                           "\"resume\":{\"g\":1},\"epochs\":{\"g\":%" G_GINT64_FORMAT "}}",
                           epoch_of (j));
  test_client_send (back, hello);
  got = received (back);
  ck_assert_str_eq (got, "welcome;message g 2;resumed g 2-2 complete");
  welcome = hub_memory_sink_nth (back->sink, 0);
  ck_assert (!json_object_has_member (welcome, "epochs"));
}
END_TEST

/* --- §8: history bytes ------------------------------------------------------------------ */

static void
small_history (HubConfig *config)
{
  config->history_room_bytes = 4000;
  config->history_total_bytes = 5000;
}

static void
setup_small_history (void)
{
  node = test_node_new (small_history);
}

START_TEST (test_history_bytes_per_room)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) h0 = NULL, h3 = NULL, info = NULL;

  test_client_join (a, "g");
  for (int i = 1; i <= 5; i++)
    publish (a, "g", i, 900); /* ~1 KB each: three fit in 4000 */
  info = test_client_req (a, "{\"type\":\"room_info\",\"id\":1,\"room\":\"g\"}");
  ck_assert_int_eq (json_object_get_int_member (info, "messages"), 3);
  h0 = test_client_req (a, "{\"type\":\"history\",\"id\":1,\"room\":\"g\",\"since\":1}");
  ck_assert_msg (!json_object_get_boolean_member (h0, "complete"), "2 went: %s", test_json (h0));
  h3 = test_client_req (a, "{\"type\":\"history\",\"id\":1,\"room\":\"g\",\"since\":2}");
  ck_assert (json_object_get_boolean_member (h3, "complete"));
  ck_assert_uint_eq (json_array_get_length (json_object_get_array_member (h3, "messages")), 3);
}
END_TEST

START_TEST (test_history_bytes_in_all_oldest_first)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  g_autoptr (JsonObject) ia = NULL, ib = NULL, ha = NULL;

  test_client_join (a, "ra");
  test_client_join (a, "rb");
  publish (a, "ra", 1, 900);
  publish (a, "ra", 2, 900);
  publish (a, "rb", 1, 900);
  publish (a, "rb", 2, 900);
  publish (a, "rb", 3, 900); /* five of ~1 KB: over 5000 in all, ra's first goes */
  ia = test_client_req (a, "{\"type\":\"room_info\",\"id\":1,\"room\":\"ra\"}");
  ib = test_client_req (a, "{\"type\":\"room_info\",\"id\":1,\"room\":\"rb\"}");
  ck_assert_int_eq (json_object_get_int_member (ia, "messages"), 1);
  ck_assert_int_eq (json_object_get_int_member (ib, "messages"), 3);
  ha = test_client_req (a, "{\"type\":\"history\",\"id\":1,\"room\":\"ra\",\"since\":0}");
  ck_assert (!json_object_get_boolean_member (ha, "complete"));
}
END_TEST

/* --- §4, §8: rooms that never had a member ----------------------------------------------- */

static void
few_empty_rooms (HubConfig *config)
{
  config->max_empty_rooms_per_user = 2;
  config->empty_room_ttl_s = 600;
}

static void
setup_few_empty_rooms (void)
{
  node = test_node_new (few_empty_rooms);
}

static JsonObject *
create (TestClient *c, const char *room)
{
  g_autofree char *json = g_strdup_printf ("{\"type\":\"create\",\"id\":1,\"room\":\"%s\"}", room);

  return test_client_req (c, json);
}

static gboolean
exists (TestClient *c, const char *room)
{
  g_autofree char *json =
      g_strdup_printf ("{\"type\":\"room_info\",\"id\":1,\"room\":\"%s\"}", room);
  g_autoptr (JsonObject) r = test_client_req (c, json);

  return g_strcmp0 (json_object_get_string_member (r, "type"), "ok") == 0;
}

START_TEST (test_create_counts_rooms_never_joined)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *b = test_client_hello (node, "bob", NULL);
  g_autoptr (JsonObject) c1 = create (a, "e1");
  g_autoptr (JsonObject) c2 = create (a, "e2");
  g_autoptr (JsonObject) c3 = create (a, "e3");
  g_autoptr (JsonObject) cb = create (b, "b1");
  g_autoptr (JsonObject) c4 = NULL;

  ck_assert_reply_ok (c1);
  ck_assert_reply_ok (c2);
  ck_assert_reply_error (c3, "too_many_rooms");
  ck_assert_reply_ok (cb);
  ck_assert_msg (!exists (a, "e3"), "nothing created");
  /* bob joins e1: an ordinary room now, alice may create another. */
  test_client_join (b, "e1");
  c4 = create (a, "e3");
  ck_assert_reply_ok (c4);
}
END_TEST

START_TEST (test_room_never_joined_expires)
{
  TestClient *a = test_client_hello (node, "alice", NULL);
  TestClient *later, *again;
  g_autoptr (JsonObject) c1 = create (a, "lonely");
  g_autoptr (JsonObject) c2 = create (a, "joined");
  g_autoptr (JsonObject) c3 = NULL;

  ck_assert_reply_ok (c1);
  ck_assert_reply_ok (c2);
  test_client_join (a, "joined");
  test_client_disconnect (a); /* silent for minutes: the heartbeat would close it */
  test_node_advance (node, 599 * 1000);
  later = test_client_hello (node, "carol", NULL);
  ck_assert_msg (exists (later, "lonely"), "before empty_room_ttl_s");
  test_client_disconnect (later);
  /* The memory store's timer is due at 600 s; a cluster's next liveness
   * tick (every quarter heartbeat) finds it. */
  test_node_advance (node, 2 * 1000);
  test_node_advance (node, 10 * 1000);
  again = test_client_hello (node, "alice", "other");
  ck_assert_msg (!exists (again, "lonely"), "deleted after empty_room_ttl_s");
  ck_assert_msg (exists (again, "joined"), "a room that had a member stays");
  /* It counts no more. */
  c3 = create (again, "lonely");
  ck_assert_reply_ok (c3);
}
END_TEST

static Suite *
replay_suite (void)
{
  Suite *s = suite_create ("dispatcher-replay");
  TCase *replay = tcase_create ("replay");
  TCase *streams = tcase_create ("streams");
  TCase *bytes = tcase_create ("history-bytes");
  TCase *empty = tcase_create ("empty-rooms");

  tcase_add_checked_fixture (replay, setup, teardown);
  tcase_add_test (replay, test_replay_waits_for_the_client);
  tcase_add_test (replay, test_replay_read_a_frame_at_a_time);
  tcase_add_test (replay, test_frames_behind_the_replay_count);
  tcase_add_test (replay, test_requests_during_the_replay_answered_behind_it);
  tcase_add_test (replay, test_history_cut_at_half_the_queue);
  suite_add_tcase (s, replay);

  tcase_add_checked_fixture (streams, setup, teardown);
  tcase_add_test (streams, test_epoch_in_replies);
  tcase_add_test (streams, test_resume_across_a_new_stream);
  tcase_add_test (streams, test_resume_same_stream);
  suite_add_tcase (s, streams);

  tcase_add_checked_fixture (bytes, setup_small_history, teardown);
  tcase_add_test (bytes, test_history_bytes_per_room);
  tcase_add_test (bytes, test_history_bytes_in_all_oldest_first);
  suite_add_tcase (s, bytes);

  tcase_add_checked_fixture (empty, setup_few_empty_rooms, teardown);
  tcase_add_test (empty, test_create_counts_rooms_never_joined);
  tcase_add_test (empty, test_room_never_joined_expires);
  suite_add_tcase (s, empty);
  return s;
}

int
main (void)
{
  return test_run_suite (replay_suite ());
}
