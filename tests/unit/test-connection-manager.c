/* test-connection-manager.c: HubConnectionManager's id and user indexes, counts,
 * removal (devices keep their order) and iteration. */
#include <check.h>

#include "hub-memory-sink.h"

#define EXPECT_UINT(actual, expected, what)                                                        \
  ck_assert_msg ((guint64)(actual) == (guint64)(expected),                                         \
                 "%s: expected %" G_GUINT64_FORMAT ", got %" G_GUINT64_FORMAT, what,               \
                 (guint64)(expected), (guint64)(actual))

#define N_CONNS 6

static HubClock *clock_;
static HubConnectionManager *mgr;
static HubMemorySink *sinks[N_CONNS];
static HubConnection *conns[N_CONNS]; /* (owned) the test's own refs */

static void
setup (void)
{
  clock_ = hub_clock_new_fake (0);
  mgr = hub_connection_manager_new ();
  for (int i = 0; i < N_CONNS; i++) {
    g_autofree char *id = g_strdup_printf ("conn-%d", i);

    sinks[i] = hub_memory_sink_new ();
    conns[i] = hub_connection_new (id, clock_, 1024, hub_memory_sink_vtable (), sinks[i]);
    sinks[i]->conn = conns[i];
  }
}

static void
teardown (void)
{
  g_clear_pointer (&mgr, hub_connection_manager_free);
  for (int i = 0; i < N_CONNS; i++) {
    g_clear_pointer (&conns[i], hub_connection_unref);
    g_clear_pointer (&sinks[i], hub_memory_sink_free);
  }
  g_clear_pointer (&clock_, hub_clock_unref);
}

/* Adds conns[i], authenticated as @user (NULL: left before hello) and bound. */
static void
add (int i, const char *user)
{
  hub_connection_manager_add (mgr, conns[i]);
  if (user != NULL) {
    hub_connection_authenticate (conns[i], user, "dev", FALSE);
    hub_connection_manager_bind_user (mgr, conns[i]);
  }
}

START_TEST (test_empty)
{
  EXPECT_UINT (hub_connection_manager_n_connections (mgr), 0, "connections");
  EXPECT_UINT (hub_connection_manager_n_authenticated (mgr), 0, "authenticated");
  EXPECT_UINT (hub_connection_manager_n_users (mgr), 0, "users");
  ck_assert_msg (hub_connection_manager_lookup (mgr, "conn-0") == NULL, "no such id");
  ck_assert_msg (hub_connection_manager_get_user_connections (mgr, "alice") == NULL,
                 "no connections for an unknown user");
  EXPECT_UINT (hub_connection_manager_count_user (mgr, "alice"), 0, "count of unknown user");
}
END_TEST

START_TEST (test_add_lookup_and_ref)
{
  hub_connection_manager_add (mgr, conns[0]);
  ck_assert_ptr_eq (hub_connection_manager_lookup (mgr, "conn-0"), conns[0]);
  EXPECT_UINT (hub_connection_manager_n_connections (mgr), 1, "connections");
  EXPECT_UINT (hub_connection_manager_n_authenticated (mgr), 0, "not authenticated yet");
  EXPECT_UINT (hub_connection_manager_n_users (mgr), 0, "no user before bind");

  /* The manager holds its own ref: dropping the test's ref keeps it alive. */
  HubConnection *c = conns[0];
  conns[0] = NULL;
  hub_connection_unref (c);
  ck_assert_ptr_eq (hub_connection_manager_lookup (mgr, "conn-0"), c);
  ck_assert_str_eq (hub_connection_get_id (c), "conn-0");
}
END_TEST

START_TEST (test_bind_user)
{
  add (0, "alice");
  GPtrArray *arr = hub_connection_manager_get_user_connections (mgr, "alice");

  ck_assert_ptr_nonnull (arr);
  EXPECT_UINT (arr->len, 1, "alice's connections");
  ck_assert_ptr_eq (g_ptr_array_index (arr, 0), conns[0]);
  EXPECT_UINT (hub_connection_manager_n_authenticated (mgr), 1, "authenticated");
  EXPECT_UINT (hub_connection_manager_n_users (mgr), 1, "users");
}
END_TEST

START_TEST (test_bind_twice_is_noop)
{
  add (0, "alice");
  hub_connection_manager_bind_user (mgr, conns[0]);
  EXPECT_UINT (hub_connection_manager_count_user (mgr, "alice"), 1, "bound once");
}
END_TEST

START_TEST (test_many_devices_in_auth_order)
{
  /* Authenticated in the order 3, 1, 4: the index keeps that order. */
  hub_connection_manager_add (mgr, conns[1]);
  hub_connection_manager_add (mgr, conns[3]);
  hub_connection_manager_add (mgr, conns[4]);
  int order[] = {3, 1, 4};
  for (int k = 0; k < 3; k++) {
    hub_connection_authenticate (conns[order[k]], "alice", "dev", FALSE);
    hub_connection_manager_bind_user (mgr, conns[order[k]]);
  }
  GPtrArray *arr = hub_connection_manager_get_user_connections (mgr, "alice");

  EXPECT_UINT (arr->len, 3, "three devices");
  for (int k = 0; k < 3; k++)
    ck_assert_msg (g_ptr_array_index (arr, k) == conns[order[k]],
                   "device %d in authentication order", k);
  EXPECT_UINT (hub_connection_manager_count_user (mgr, "alice"), 3, "count_user");
  EXPECT_UINT (hub_connection_manager_n_users (mgr), 1, "one user, many devices");
  EXPECT_UINT (hub_connection_manager_n_authenticated (mgr), 3, "authenticated");
}
END_TEST

START_TEST (test_remove_middle_device)
{
  add (0, "alice");
  add (1, "alice");
  add (2, "alice");
  hub_connection_manager_remove (mgr, conns[1]);
  GPtrArray *arr = hub_connection_manager_get_user_connections (mgr, "alice");

  EXPECT_UINT (arr->len, 2, "two devices left");
  ck_assert_ptr_eq (g_ptr_array_index (arr, 0), conns[0]);
  ck_assert_ptr_eq (g_ptr_array_index (arr, 1), conns[2]);
  ck_assert_msg (hub_connection_manager_lookup (mgr, "conn-1") == NULL, "removed from id index");
  EXPECT_UINT (hub_connection_manager_n_connections (mgr), 2, "connections");
  EXPECT_UINT (hub_connection_manager_n_authenticated (mgr), 2, "authenticated");
}
END_TEST

START_TEST (test_remove_last_device_drops_user)
{
  add (0, "alice");
  add (1, "bob");
  hub_connection_manager_remove (mgr, conns[0]);
  ck_assert_msg (hub_connection_manager_get_user_connections (mgr, "alice") == NULL,
                 "user entry dropped with its last connection");
  EXPECT_UINT (hub_connection_manager_n_users (mgr), 1, "bob remains");
  EXPECT_UINT (hub_connection_manager_count_user (mgr, "bob"), 1, "bob's count");
}
END_TEST

START_TEST (test_remove_untracked_is_noop)
{
  add (0, "alice");
  hub_connection_manager_remove (mgr, conns[5]);
  hub_connection_manager_remove (mgr, conns[0]);
  hub_connection_manager_remove (mgr, conns[0]); /* twice: no-op */
  EXPECT_UINT (hub_connection_manager_n_connections (mgr), 0, "connections");
  EXPECT_UINT (hub_connection_manager_n_users (mgr), 0, "users");
}
END_TEST

START_TEST (test_remove_unauthenticated)
{
  add (0, NULL);
  add (1, "alice");
  hub_connection_manager_remove (mgr, conns[0]);
  EXPECT_UINT (hub_connection_manager_n_connections (mgr), 1, "connections");
  EXPECT_UINT (hub_connection_manager_count_user (mgr, "alice"), 1, "alice unaffected");
}
END_TEST

START_TEST (test_remove_drops_last_ref)
{
  add (0, "alice");
  HubConnection *c = conns[0];
  conns[0] = NULL;
  hub_connection_unref (c);
  /* The manager's ref is now the only one: removal frees it (ASan checks). */
  hub_connection_manager_remove (mgr, c);
  EXPECT_UINT (hub_connection_manager_n_connections (mgr), 0, "gone");
  EXPECT_UINT (hub_connection_manager_n_users (mgr), 0, "user gone");
}
END_TEST

START_TEST (test_counts_mixed)
{
  add (0, NULL);
  add (1, "alice");
  add (2, "alice");
  add (3, "bob");
  add (4, "carol");
  add (5, NULL);
  EXPECT_UINT (hub_connection_manager_n_connections (mgr), 6, "connections");
  EXPECT_UINT (hub_connection_manager_n_authenticated (mgr), 4, "authenticated");
  EXPECT_UINT (hub_connection_manager_n_users (mgr), 3, "users");
  EXPECT_UINT (hub_connection_manager_count_user (mgr, "alice"), 2, "alice");
  EXPECT_UINT (hub_connection_manager_count_user (mgr, "bob"), 1, "bob");
}
END_TEST

static void
collect (HubConnection *conn, gpointer user_data)
{
  g_ptr_array_add (user_data, conn);
}

START_TEST (test_foreach_all_and_authenticated)
{
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  g_autoptr (GPtrArray) authed = g_ptr_array_new ();

  add (0, NULL);
  add (1, "alice");
  add (2, "alice");
  add (3, "bob");
  hub_connection_manager_foreach (mgr, collect, all);
  hub_connection_manager_foreach_authenticated (mgr, collect, authed);

  EXPECT_UINT (all->len, 4, "foreach visits every connection");
  for (int i = 0; i < 4; i++)
    ck_assert_msg (g_ptr_array_find (all, conns[i], NULL), "conn-%d visited by foreach", i);
  EXPECT_UINT (authed->len, 3, "foreach_authenticated skips the unauthenticated");
  ck_assert_msg (!g_ptr_array_find (authed, conns[0], NULL), "conn-0 not past hello");
  for (int i = 1; i < 4; i++)
    ck_assert_msg (g_ptr_array_find (authed, conns[i], NULL), "conn-%d visited once past hello", i);
}
END_TEST

static void
close_it (HubConnection *conn, gpointer user_data)
{
  hub_connection_close (conn, HUB_CLOSE_GOING_AWAY, "shutdown");
}

START_TEST (test_foreach_may_close)
{
  add (0, NULL);
  add (1, "alice");
  hub_connection_manager_foreach (mgr, close_it, NULL);
  ck_assert_msg (sinks[0]->closed && sinks[1]->closed, "every connection closed");
  EXPECT_UINT (sinks[0]->close_code, 1001, "close code");
  EXPECT_UINT (hub_connection_manager_n_connections (mgr), 2, "closing does not remove");
}
END_TEST

START_TEST (test_free_with_connections)
{
  add (0, "alice");
  add (1, NULL);
  /* Freeing the manager drops its refs; the test's refs keep them alive. */
  hub_connection_manager_free (mgr);
  mgr = NULL;
  ck_assert_str_eq (hub_connection_get_user (conns[0]), "alice");
}
END_TEST

static Suite *
manager_suite (void)
{
  Suite *s = suite_create ("connection-manager");
  struct {
    const char *name;
    const TTest *tests[8];
  } cases[] = {
      {"add", {test_empty, test_add_lookup_and_ref}},
      {"bind", {test_bind_user, test_bind_twice_is_noop, test_many_devices_in_auth_order}},
      {"remove",
       {test_remove_middle_device, test_remove_last_device_drops_user,
        test_remove_untracked_is_noop, test_remove_unauthenticated, test_remove_drops_last_ref}},
      {"counts", {test_counts_mixed}},
      {"foreach", {test_foreach_all_and_authenticated, test_foreach_may_close}},
      {"free", {test_free_with_connections}},
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
  SRunner *sr = srunner_create (manager_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}
