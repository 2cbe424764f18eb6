/* test-scenario.c: the foundation scenario end to end through the dispatcher,
 * with in-memory connections: two rooms, a user on two devices, broadcast,
 * room messages, direct messages, statuses, typing, disconnects, statistics. */
#include <check.h>

#include "hub-test-node.h"

static TestNode *node;
static TestClient *alice1, *alice2, *bob, *charlie;

static void
clear_all (void)
{
  test_client_clear (alice1);
  test_client_clear (alice2);
  test_client_clear (bob);
  test_client_clear (charlie);
}

static void
setup (void)
{
  node = test_node_new (NULL);
  alice1 = test_client_hello (node, "alice", "phone");
  alice2 = test_client_hello (node, "alice", "laptop");
  bob = test_client_hello (node, "bob", NULL);
  charlie = test_client_hello (node, "charlie", NULL);
  {
    g_autoptr (JsonObject) g =
        test_client_req (alice1, "{\"type\":\"create\",\"id\":1,\"room\":\"general\"}");
    g_autoptr (JsonObject) t =
        test_client_req (alice1, "{\"type\":\"create\",\"id\":1,\"room\":\"tech\"}");

    ck_assert_reply_ok (g);
    ck_assert_reply_ok (t);
  }
  test_client_join (alice1, "general");
  test_client_join (bob, "general");
  test_client_join (charlie, "tech");
  test_client_join (alice2, "tech");
  clear_all ();
}

static void
teardown (void)
{
  test_node_free (node);
}

START_TEST (test_membership)
{
  g_autoptr (JsonObject) alice_rooms = test_client_req (alice1, "{\"type\":\"rooms\",\"id\":1}");

  ck_assert_int_eq (json_array_get_length (json_object_get_array_member (alice_rooms, "rooms")), 2);
  ck_assert_msg (test_node_is_member (node, "bob", "general"), "bob in general");
  ck_assert_msg (!test_node_is_member (node, "bob", "tech"), "bob not in tech");
  ck_assert_msg (test_node_is_member (node, "charlie", "tech"), "charlie in tech");
}
END_TEST

START_TEST (test_broadcast_reaches_all_four)
{
  g_autoptr (JsonObject) r = test_client_req (
      bob, "{\"type\":\"broadcast\",\"id\":1,\"payload\":{\"news\":\"hello all\"}}");

  ck_assert_int_eq (json_object_get_int_member (r, "delivered"), 4);
  for (TestClient **c = (TestClient *[]){alice1, alice2, bob, charlie, NULL}; *c != NULL; c++)
    ck_assert_int_eq (test_client_count (*c, "broadcast"), 1);
}
END_TEST

START_TEST (test_room_message)
{
  g_autoptr (JsonObject) r = test_client_req (
      bob, "{\"type\":\"publish\",\"id\":1,\"room\":\"general\",\"payload\":{\"text\":\"hi\"}}");

  ck_assert_reply_ok (r);
  ck_assert_int_eq (test_client_count (alice1, "message"), 1);
  ck_assert_int_eq (test_client_count (alice2, "message"), 1);
  ck_assert_int_eq (test_client_count (bob, "message"), 1);
  ck_assert_int_eq (test_client_count (charlie, "message"), 0);
}
END_TEST

START_TEST (test_direct_message)
{
  g_autoptr (JsonObject) r = test_client_req (
      alice1, "{\"type\":\"direct\",\"id\":1,\"to\":\"bob\",\"payload\":{\"text\":\"psst\"}}");

  ck_assert_int_eq (json_object_get_int_member (r, "delivered"), 1);
  ck_assert_int_eq (test_client_count (bob, "direct"), 1);
  ck_assert_int_eq (test_client_count (alice2, "direct"), 1);
  ck_assert_int_eq (test_client_count (alice1, "direct"), 0);
  ck_assert_int_eq (test_client_count (charlie, "direct"), 0);
}
END_TEST

START_TEST (test_statuses_reach_subscribers)
{
  g_autoptr (JsonObject) s1 =
      test_client_req (bob, "{\"type\":\"subscribe\",\"id\":1,\"users\":[\"alice\"]}");
  g_autoptr (JsonObject) s2 =
      test_client_req (charlie, "{\"type\":\"subscribe\",\"id\":1,\"users\":[\"alice\"]}");
  g_autoptr (JsonObject) away =
      test_client_req (alice1, "{\"type\":\"status\",\"id\":1,\"status\":\"away\"}");
  g_autoptr (JsonObject) busy =
      test_client_req (alice2, "{\"type\":\"status\",\"id\":1,\"status\":\"busy\"}");
  g_autoptr (JsonObject) e1 = NULL, e2 = NULL;

  ck_assert_int_eq (test_client_count (bob, "status"), 2);
  ck_assert_int_eq (test_client_count (charlie, "status"), 2);
  e1 = test_client_next (bob, "status");
  e2 = test_client_next (bob, "status");
  ck_assert_str_eq (json_object_get_string_member (e1, "status"), "away");
  ck_assert_str_eq (json_object_get_string_member (e2, "status"), "busy");
  ck_assert_int_eq (test_client_count (alice1, "status"), 0);
}
END_TEST

START_TEST (test_typing_reaches_other_members)
{
  g_autoptr (JsonObject) r =
      test_client_req (alice2, "{\"type\":\"typing\",\"id\":1,\"room\":\"tech\"}");

  ck_assert_reply_ok (r);
  ck_assert_int_eq (test_client_count (charlie, "typing"), 1);
  ck_assert_int_eq (test_client_count (alice1, "typing"), 0);
  ck_assert_int_eq (test_client_count (alice2, "typing"), 0);
  ck_assert_int_eq (test_client_count (bob, "typing"), 0);
}
END_TEST

START_TEST (test_disconnects)
{
  g_autoptr (JsonObject) s =
      test_client_req (bob, "{\"type\":\"subscribe\",\"id\":1,\"users\":[\"alice\"]}");
  g_autoptr (JsonObject) ev = NULL;
  g_autoptr (JsonObject) on = NULL, off = NULL;

  test_client_disconnect (alice2);
  on = test_client_req (charlie, "{\"type\":\"online\",\"id\":1}");
  ck_assert_msg (test_json_array_has (on, "users", "alice"), "alice stays online on her phone");
  ck_assert_int_eq (test_client_count (bob, "status"), 0);
  test_client_disconnect (alice1);
  off = test_client_req (charlie, "{\"type\":\"online\",\"id\":1}");
  ck_assert_msg (!test_json_array_has (off, "users", "alice"), "alice is offline");
  ev = test_client_next (bob, "status");
  ck_assert_msg (ev != NULL, "bob hears that alice went offline");
  ck_assert_str_eq (json_object_get_string_member (ev, "user"), "alice");
  ck_assert_str_eq (json_object_get_string_member (ev, "status"), "offline");
}
END_TEST

START_TEST (test_connection_statistics)
{
  gint64 before = hub_clock_unix_ms (node->clock);
  const HubConnectionStats *st;
  guint64 frames_in;

  test_node_advance (node, 2500);
  st = hub_connection_get_stats (bob->conn);
  frames_in = st->frames_in; /* hello + join */
  ck_assert_int_eq (frames_in, 2);
  ck_assert_int_eq (st->connected_unix_ms, before);
  for (int i = 0; i < 3; i++)
    test_client_send (bob, "{\"type\":\"publish\",\"room\":\"general\",\"payload\":{}}");
  ck_assert_int_eq (st->frames_in, frames_in + 3);
  ck_assert_int_eq (st->messages_in, 3);
  ck_assert_int_eq (st->last_activity_unix_ms, before + 2500);
  ck_assert_int_eq (hub_connection_get_stats (alice1->conn)->messages_in, 0);
  ck_assert_int_ge (hub_connection_get_stats (alice1->conn)->frames_out, 3);
}
END_TEST

static Suite *
scenario_suite (void)
{
  Suite *s = suite_create ("scenario");
  TCase *tc = tcase_create ("foundation");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_membership);
  tcase_add_test (tc, test_broadcast_reaches_all_four);
  tcase_add_test (tc, test_room_message);
  tcase_add_test (tc, test_direct_message);
  tcase_add_test (tc, test_statuses_reach_subscribers);
  tcase_add_test (tc, test_typing_reaches_other_members);
  tcase_add_test (tc, test_disconnects);
  tcase_add_test (tc, test_connection_statistics);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return test_run_suite (scenario_suite ());
}
