/* test-room-manager.c: HubRoomManager (PROTOCOL.md §4): create, join with and
 * without auto-create, leave and deletion, the per-user room index and limit,
 * and seq numbering across deletion. */
#include <check.h>
#include <string.h>

#include "hub-memory-sink.h"

#define EXPECT_UINT(actual, expected, what)                                                        \
  ck_assert_msg ((guint64)(actual) == (guint64)(expected),                                         \
                 "%s: expected %" G_GUINT64_FORMAT ", got %" G_GUINT64_FORMAT, what,               \
                 (guint64)(expected), (guint64)(actual))
#define EXPECT_INT(actual, expected, what)                                                         \
  ck_assert_msg ((gint64)(actual) == (gint64)(expected),                                           \
                 "%s: expected %" G_GINT64_FORMAT ", got %" G_GINT64_FORMAT, what,                 \
                 (gint64)(expected), (gint64)(actual))
#define EXPECT_ERROR(error, code)                                                                  \
  ck_assert_msg ((error) != NULL && g_error_matches ((error), HUB_ERROR, (code)),                  \
                 "expected HUB_ERROR %s, got %s", hub_error_code_to_string (code),                 \
                 (error) != NULL ? (error)->message : "no error")

#define NOW 1700000000000

static HubRoomManager *mgr;

static void
setup (void)
{
  mgr = hub_room_manager_new (10, 3, TRUE);
}

static void
teardown (void)
{
  g_clear_pointer (&mgr, hub_room_manager_free);
}

static HubRoom *
join (const char *user, const char *room)
{
  g_autoptr (GError) error = NULL;
  gboolean joined = FALSE;
  HubRoom *r = hub_room_manager_join (mgr, user, room, NULL, NOW, &joined, &error);

  ck_assert_msg (r != NULL, "join %s to %s: %s", user, room, error ? error->message : "");
  ck_assert_msg (joined, "%s newly joined %s", user, room);
  return r;
}

static void
leave (const char *user, const char *room, gboolean expect_deleted)
{
  g_autoptr (GError) error = NULL;
  gboolean deleted = !expect_deleted;

  ck_assert_msg (hub_room_manager_leave (mgr, user, room, &deleted, &error), "leave %s %s: %s",
                 user, room, error ? error->message : "");
  ck_assert_msg (deleted == expect_deleted, "room %s deleted: expected %d", room, expect_deleted);
}

/* ---- create ---- */

START_TEST (test_create_defaults)
{
  g_autoptr (GError) error = NULL;
  HubRoom *r = hub_room_manager_create (mgr, "general", NULL, NOW, &error);

  ck_assert_ptr_nonnull (r);
  ck_assert_msg (error == NULL, "no error");
  ck_assert_str_eq (r->id, "general");
  ck_assert_str_eq (r->name, "general");
  ck_assert_msg (r->created_ts == NOW, "created_ts is the given time");
  ck_assert_msg (r->seq == 0, "seq 0 before the first publish");
  EXPECT_UINT (g_hash_table_size (r->members), 0, "create does not add the caller");
  EXPECT_UINT (hub_history_capacity (r->history), 10, "history capacity from the manager");
  ck_assert_ptr_eq (hub_room_manager_lookup (mgr, "general"), r);
  EXPECT_UINT (hub_room_manager_n_rooms (mgr), 1, "rooms");
}
END_TEST

START_TEST (test_create_with_name)
{
  HubRoom *r = hub_room_manager_create (mgr, "tech", "Tech talk", NOW, NULL);

  ck_assert_str_eq (r->name, "Tech talk");
}
END_TEST

START_TEST (test_create_exists)
{
  g_autoptr (GError) error = NULL;
  HubRoom *first = hub_room_manager_create (mgr, "general", "First", NOW, NULL);

  ck_assert_msg (hub_room_manager_create (mgr, "general", "Second", NOW, &error) == NULL,
                 "second create fails");
  EXPECT_ERROR (error, HUB_ERROR_ROOM_EXISTS);
  ck_assert_msg (strlen (error->message) > 0, "a human message");
  ck_assert_str_eq (first->name, "First");
  EXPECT_UINT (hub_room_manager_n_rooms (mgr), 1, "still one room");
}
END_TEST

START_TEST (test_lookup_missing)
{
  ck_assert_msg (hub_room_manager_lookup (mgr, "nope") == NULL, "no such room");
  EXPECT_UINT (hub_room_manager_n_rooms (mgr), 0, "no rooms");
}
END_TEST

/* ---- join ---- */

START_TEST (test_join_auto_creates)
{
  gboolean joined = FALSE;
  HubRoom *r =
      hub_room_manager_join (mgr, "alice", "general", "General chat", NOW + 5, &joined, NULL);

  ck_assert_ptr_nonnull (r);
  ck_assert_msg (joined, "joined");
  ck_assert_str_eq (r->name, "General chat");
  ck_assert_msg (r->created_ts == NOW + 5, "created now");
  ck_assert_msg (g_hash_table_contains (r->members, "alice"), "alice is a member");
  ck_assert_msg (hub_room_manager_is_member (mgr, "alice", "general"), "is_member");
}
END_TEST

START_TEST (test_join_name_ignored_for_existing)
{
  hub_room_manager_create (mgr, "general", "Original", NOW, NULL);
  HubRoom *r = hub_room_manager_join (mgr, "alice", "general", "Renamed", NOW, NULL, NULL);

  ck_assert_str_eq (r->name, "Original");
}
END_TEST

START_TEST (test_join_name_defaults_to_id)
{
  HubRoom *r = join ("alice", "lobby");

  ck_assert_str_eq (r->name, "lobby");
}
END_TEST

START_TEST (test_join_twice_noop)
{
  gboolean joined = TRUE;
  HubRoom *r1 = join ("alice", "general");
  HubRoom *r2 = hub_room_manager_join (mgr, "alice", "general", NULL, NOW, &joined, NULL);

  ck_assert_ptr_eq (r1, r2);
  ck_assert_msg (!joined, "a repeated join reports joined FALSE");
  EXPECT_UINT (g_hash_table_size (r1->members), 1, "one member");
}
END_TEST

START_TEST (test_join_no_auto_create)
{
  g_autoptr (GError) error = NULL;
  HubRoomManager *strict = hub_room_manager_new (10, 3, FALSE);
  gboolean joined = TRUE;

  ck_assert_msg (hub_room_manager_join (strict, "alice", "general", NULL, NOW, &joined, &error) ==
                     NULL,
                 "join of a missing room fails without auto-create");
  EXPECT_ERROR (error, HUB_ERROR_ROOM_NOT_FOUND);
  ck_assert_msg (!joined, "not joined");
  EXPECT_UINT (hub_room_manager_n_rooms (strict), 0, "nothing created");
  ck_assert_msg (hub_room_manager_get_user_rooms (strict, "alice") == NULL, "no index entry");

  hub_room_manager_create (strict, "general", NULL, NOW, NULL);
  ck_assert_ptr_nonnull (hub_room_manager_join (strict, "alice", "general", NULL, NOW, NULL, NULL));
  hub_room_manager_free (strict);
}
END_TEST

START_TEST (test_many_members)
{
  HubRoom *r = join ("alice", "general");

  join ("bob", "general");
  join ("carol", "general");
  EXPECT_UINT (g_hash_table_size (r->members), 3, "three members");
  ck_assert_msg (!hub_room_manager_is_member (mgr, "dave", "general"), "dave is not");
  ck_assert_msg (!hub_room_manager_is_member (mgr, "alice", "other"), "no such room");
}
END_TEST

/* ---- limits ---- */

START_TEST (test_too_many_rooms)
{
  g_autoptr (GError) error = NULL;
  gboolean joined = TRUE;

  join ("alice", "r1");
  join ("alice", "r2");
  join ("alice", "r3");
  ck_assert_msg (hub_room_manager_join (mgr, "alice", "r4", NULL, NOW, &joined, &error) == NULL,
                 "a fourth room is over the limit of 3");
  EXPECT_ERROR (error, HUB_ERROR_TOO_MANY_ROOMS);
  ck_assert_msg (!joined, "not joined");
  ck_assert_msg (hub_room_manager_lookup (mgr, "r4") == NULL, "the refused join created nothing");
  EXPECT_UINT (g_hash_table_size (hub_room_manager_get_user_rooms (mgr, "alice")), 3,
               "still three rooms");
}
END_TEST

START_TEST (test_rejoin_at_limit_is_noop)
{
  g_autoptr (GError) error = NULL;
  gboolean joined = TRUE;

  join ("alice", "r1");
  join ("alice", "r2");
  join ("alice", "r3");
  ck_assert_ptr_nonnull (hub_room_manager_join (mgr, "alice", "r2", NULL, NOW, &joined, &error));
  ck_assert_msg (error == NULL, "no error for a repeated join at the limit");
  ck_assert_msg (!joined, "no-op");
}
END_TEST

START_TEST (test_limit_frees_after_leave)
{
  join ("alice", "r1");
  join ("alice", "r2");
  join ("alice", "r3");
  leave ("alice", "r2", TRUE);
  join ("alice", "r4");
  ck_assert_msg (hub_room_manager_is_member (mgr, "alice", "r4"), "joined after leaving one");
}
END_TEST

START_TEST (test_limit_is_per_user)
{
  join ("alice", "r1");
  join ("alice", "r2");
  join ("alice", "r3");
  join ("bob", "r1");
  join ("bob", "r2");
  join ("bob", "r3");
  EXPECT_UINT (g_hash_table_size (hub_room_manager_lookup (mgr, "r1")->members), 2, "both in r1");
}
END_TEST

/* ---- leave ---- */

START_TEST (test_leave_errors)
{
  g_autoptr (GError) e1 = NULL;
  g_autoptr (GError) e2 = NULL;
  gboolean deleted = TRUE;

  ck_assert_msg (!hub_room_manager_leave (mgr, "alice", "nope", &deleted, &e1),
                 "leaving a missing room fails");
  EXPECT_ERROR (e1, HUB_ERROR_ROOM_NOT_FOUND);
  ck_assert_msg (!deleted, "nothing deleted");

  join ("bob", "general");
  deleted = TRUE;
  ck_assert_msg (!hub_room_manager_leave (mgr, "alice", "general", &deleted, &e2),
                 "leaving a room one is not in fails");
  EXPECT_ERROR (e2, HUB_ERROR_NOT_MEMBER);
  ck_assert_msg (!deleted, "nothing deleted");
  ck_assert_msg (hub_room_manager_is_member (mgr, "bob", "general"), "bob still there");
}
END_TEST

START_TEST (test_leave_keeps_room_with_members)
{
  HubRoom *r = join ("alice", "general");

  join ("bob", "general");
  leave ("alice", "general", FALSE);
  ck_assert_ptr_eq (hub_room_manager_lookup (mgr, "general"), r);
  ck_assert_msg (!hub_room_manager_is_member (mgr, "alice", "general"), "alice left");
  ck_assert_msg (hub_room_manager_is_member (mgr, "bob", "general"), "bob stays");
}
END_TEST

START_TEST (test_last_leave_deletes)
{
  HubRoom *r = join ("alice", "general");
  g_autoptr (HubFrame) frame = hub_frame_new ("{\"type\":\"message\"}", 18, HUB_FRAME_FLAG_NONE);

  hub_history_push (r->history, hub_room_next_seq (r), frame);
  leave ("alice", "general", TRUE);
  ck_assert_msg (hub_room_manager_lookup (mgr, "general") == NULL, "room deleted");
  EXPECT_UINT (hub_room_manager_n_rooms (mgr), 0, "no rooms");
  ck_assert_msg (hub_room_manager_get_user_rooms (mgr, "alice") == NULL,
                 "alice's index entry dropped with her last room");
}
END_TEST

START_TEST (test_created_room_without_members_stays)
{
  hub_room_manager_create (mgr, "empty", NULL, NOW, NULL);
  join ("alice", "other");
  leave ("alice", "other", TRUE);
  ck_assert_ptr_nonnull (hub_room_manager_lookup (mgr, "empty"));
  EXPECT_UINT (hub_room_manager_n_rooms (mgr), 1, "the never-joined room stays");
}
END_TEST

START_TEST (test_leave_with_own_keys)
{
  /* Passing the manager's own strings (room id, index keys) must be safe. */
  HubRoom *r = join ("alice", "general");
  GHashTableIter iter;
  gpointer user;

  g_hash_table_iter_init (&iter, r->members);
  ck_assert (g_hash_table_iter_next (&iter, &user, NULL));
  leave (user, r->id, TRUE);
  ck_assert_msg (hub_room_manager_lookup (mgr, "general") == NULL, "deleted");
}
END_TEST

/* ---- seq ---- */

START_TEST (test_seq_starts_at_one)
{
  HubRoom *r = join ("alice", "general");

  ck_assert_msg (hub_room_next_seq (r) == 1, "first seq 1");
  ck_assert_msg (hub_room_next_seq (r) == 2, "then 2");
  ck_assert_msg (hub_room_next_seq (r) == 3, "then 3");
  ck_assert_msg (r->seq == 3, "seq field holds the last assigned");
}
END_TEST

START_TEST (test_seq_restarts_after_deletion)
{
  HubRoom *r = join ("alice", "general");

  for (int i = 0; i < 5; i++)
    hub_room_next_seq (r);
  leave ("alice", "general", TRUE);
  r = join ("bob", "general");
  ck_assert_msg (r->seq == 0, "a recreated room starts from scratch");
  ck_assert_msg (hub_room_next_seq (r) == 1, "seq 1 again");
  EXPECT_UINT (hub_history_length (r->history), 0, "history not carried over");
}
END_TEST

/* ---- user index ---- */

START_TEST (test_user_rooms_sorted)
{
  join ("alice", "zeta");
  join ("alice", "alpha");
  join ("alice", "mid");
  join ("bob", "mid");
  g_auto (GStrv) rooms = hub_room_manager_list_user_rooms (mgr, "alice");

  EXPECT_UINT (g_strv_length (rooms), 3, "three rooms");
  ck_assert_str_eq (rooms[0], "alpha");
  ck_assert_str_eq (rooms[1], "mid");
  ck_assert_str_eq (rooms[2], "zeta");
  ck_assert_msg (rooms[3] == NULL, "NULL-terminated");

  GHashTable *set = hub_room_manager_get_user_rooms (mgr, "bob");
  EXPECT_UINT (g_hash_table_size (set), 1, "bob's rooms");
  ck_assert_msg (g_hash_table_contains (set, "mid"), "bob is in mid");
}
END_TEST

START_TEST (test_user_rooms_empty)
{
  g_auto (GStrv) rooms = hub_room_manager_list_user_rooms (mgr, "nobody");

  ck_assert_ptr_nonnull (rooms);
  ck_assert_msg (rooms[0] == NULL, "an empty list for a user in no room");
  ck_assert_msg (hub_room_manager_get_user_rooms (mgr, "nobody") == NULL, "no set");
}
END_TEST

START_TEST (test_user_rooms_after_leave)
{
  join ("alice", "a");
  join ("alice", "b");
  join ("bob", "a");
  leave ("alice", "a", FALSE);
  g_auto (GStrv) rooms = hub_room_manager_list_user_rooms (mgr, "alice");

  EXPECT_UINT (g_strv_length (rooms), 1, "one room left");
  ck_assert_str_eq (rooms[0], "b");
}
END_TEST

START_TEST (test_unlimited_when_zero)
{
  HubRoomManager *free_mgr = hub_room_manager_new (0, 0, TRUE);

  for (int i = 0; i < 50; i++) {
    g_autofree char *room = g_strdup_printf ("room-%d", i);

    ck_assert_ptr_nonnull (hub_room_manager_join (free_mgr, "alice", room, NULL, NOW, NULL, NULL));
  }
  EXPECT_UINT (g_hash_table_size (hub_room_manager_get_user_rooms (free_mgr, "alice")), 50,
               "max_rooms_per_user 0 means no limit");
  hub_room_manager_free (free_mgr);
}
END_TEST

/* ---- rooms that never had a member (§8), epochs (§6) ---- */

START_TEST (test_empty_rooms_counted_per_creator)
{
  g_autoptr (GError) error = NULL;

  hub_room_manager_set_max_empty_rooms (mgr, 2);
  ck_assert_ptr_nonnull (hub_room_manager_create_by (mgr, "alice", "e1", NULL, NOW, NULL));
  ck_assert_ptr_nonnull (hub_room_manager_create_by (mgr, "alice", "e2", NULL, NOW, NULL));
  ck_assert_msg (hub_room_manager_create_by (mgr, "alice", "e3", NULL, NOW, &error) == NULL,
                 "a third empty room of alice's is refused");
  EXPECT_ERROR (error, HUB_ERROR_TOO_MANY_ROOMS);
  ck_assert_ptr_nonnull (hub_room_manager_create_by (mgr, "bob", "b1", NULL, NOW, NULL));
  EXPECT_UINT (hub_room_manager_count_empty (mgr, "alice"), 2, "alice's");
  /* A member makes it an ordinary room: it no longer counts. */
  join ("carol", "e1");
  EXPECT_UINT (hub_room_manager_count_empty (mgr, "alice"), 1, "e1 had a member");
  ck_assert_ptr_nonnull (hub_room_manager_create_by (mgr, "alice", "e3", NULL, NOW, NULL));
  /* Uncounted without a creator. */
  ck_assert_ptr_nonnull (hub_room_manager_create (mgr, "free", NULL, NOW, NULL));
  EXPECT_UINT (hub_room_manager_count_empty (mgr, "alice"), 2, "alice's again");
}
END_TEST

START_TEST (test_empty_rooms_expire_in_creation_order)
{
  hub_room_manager_create_by (mgr, "alice", "e1", NULL, NOW, NULL);
  hub_room_manager_create_by (mgr, "alice", "e2", NULL, NOW + 10, NULL);
  hub_room_manager_create_by (mgr, "alice", "e3", NULL, NOW + 20, NULL);
  join ("bob", "e2");
  leave ("bob", "e2", TRUE); /* it had a member: deleted with its last one */
  EXPECT_INT (hub_room_manager_oldest_empty (mgr), NOW, "e1 first");
  EXPECT_UINT (hub_room_manager_expire_empty (mgr, NOW + 5), 1, "e1 only");
  ck_assert_ptr_null (hub_room_manager_lookup (mgr, "e1"));
  ck_assert_ptr_nonnull (hub_room_manager_lookup (mgr, "e3"));
  EXPECT_UINT (hub_room_manager_count_empty (mgr, "alice"), 1, "e3 counts still");
  EXPECT_INT (hub_room_manager_oldest_empty (mgr), NOW + 20, "e3 next");
  EXPECT_UINT (hub_room_manager_expire_empty (mgr, NOW + 20), 1, "e3");
  EXPECT_INT (hub_room_manager_oldest_empty (mgr), -1, "none left");
  EXPECT_UINT (hub_room_manager_count_empty (mgr, "alice"), 0, "nothing counts");
  EXPECT_UINT (hub_room_manager_n_rooms (mgr), 0, "no room left");
}
END_TEST

START_TEST (test_epoch_differs_when_created_again)
{
  HubRoom *r = join ("alice", "general");
  gint64 first = r->epoch;

  ck_assert_msg (first > 0, "an epoch");
  leave ("alice", "general", TRUE);
  r = join ("alice", "general"); /* same clock: still another epoch */
  ck_assert_msg (r->epoch != first && r->epoch > first, "another stream: %" G_GINT64_FORMAT,
                 r->epoch);
  ck_assert_msg (hub_room_manager_create (mgr, "other", NULL, NOW, NULL)->epoch != r->epoch,
                 "no two rooms share one");
}
END_TEST

START_TEST (test_history_bounds_from_manager)
{
  g_autoptr (HubFrame) frame = NULL;
  g_autofree char *pad = g_strnfill (200, 'x');
  g_autofree char *json = g_strdup_printf ("{\"type\":\"message\",\"p\":\"%s\"}", pad);
  HubRoom *a, *b;

  hub_room_manager_bound_history (mgr, 500, 800);
  frame = hub_frame_new (json, strlen (json), HUB_FRAME_FLAG_NONE);
  a = join ("alice", "a");
  b = join ("alice", "b");
  for (int i = 0; i < 3; i++)
    hub_history_push (a->history, hub_room_next_seq (a), frame);
  EXPECT_UINT (hub_history_length (a->history), 2, "a's 500 bytes hold two");
  for (int i = 0; i < 3; i++)
    hub_history_push (b->history, hub_room_next_seq (b), frame);
  EXPECT_UINT (hub_room_manager_history_bytes (mgr), 3 * strlen (json), "800 in all hold three");
  EXPECT_UINT (hub_history_length (a->history), 1, "a's oldest went for b's");
  leave ("alice", "b", TRUE);
  EXPECT_UINT (hub_room_manager_history_bytes (mgr), strlen (json), "b's went with it");
}
END_TEST

static Suite *
room_suite (void)
{
  Suite *s = suite_create ("room-manager");
  struct {
    const char *name;
    const TTest *tests[8];
  } cases[] = {
      {"create",
       {test_create_defaults, test_create_with_name, test_create_exists, test_lookup_missing}},
      {"join",
       {test_join_auto_creates, test_join_name_ignored_for_existing, test_join_name_defaults_to_id,
        test_join_twice_noop, test_join_no_auto_create, test_many_members}},
      {"limits",
       {test_too_many_rooms, test_rejoin_at_limit_is_noop, test_limit_frees_after_leave,
        test_limit_is_per_user, test_unlimited_when_zero}},
      {"leave",
       {test_leave_errors, test_leave_keeps_room_with_members, test_last_leave_deletes,
        test_created_room_without_members_stays, test_leave_with_own_keys}},
      {"seq", {test_seq_starts_at_one, test_seq_restarts_after_deletion}},
      {"user-index", {test_user_rooms_sorted, test_user_rooms_empty, test_user_rooms_after_leave}},
      {"empty-rooms",
       {test_empty_rooms_counted_per_creator, test_empty_rooms_expire_in_creation_order}},
      {"streams", {test_epoch_differs_when_created_again, test_history_bounds_from_manager}},
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    TCase *tc = tcase_create (cases[i].name);

    tcase_add_checked_fixture (tc, setup, teardown);
    for (gsize j = 0; j < G_N_ELEMENTS (cases[i].tests) && cases[i].tests[j] != NULL; j++)
      tcase_add_test (tc, cases[i].tests[j]);
    suite_add_tcase (s, tc);
  }
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (room_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}
