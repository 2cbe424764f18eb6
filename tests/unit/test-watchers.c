/* test-watchers.c: which connections watch which users (hub-watchers.h): the
 * first watcher and the last one of a user are told apart, since the store
 * learns only those. */
#include <check.h>
#include <hub/hub.h>

static HubWatchers *watchers;

static void
setup (void)
{
  watchers = hub_watchers_new ();
}

static void
teardown (void)
{
  g_clear_pointer (&watchers, hub_watchers_free);
}

START_TEST (test_first_and_last)
{
  int a, b; /* any distinct pointers serve as keys */
  GHashTable *set;

  ck_assert_msg (hub_watchers_add (watchers, &a, "bob"), "a is bob's first watcher");
  ck_assert_msg (!hub_watchers_add (watchers, &b, "bob"), "b is not");
  ck_assert_msg (!hub_watchers_add (watchers, &a, "bob"), "twice: still one");
  ck_assert_msg (hub_watchers_add (watchers, &a, "carol"), "a is carol's first watcher");
  set = hub_watchers_get (watchers, "bob");
  ck_assert_ptr_nonnull (set);
  ck_assert_uint_eq (g_hash_table_size (set), 2);
  ck_assert_msg (g_hash_table_contains (set, &a) && g_hash_table_contains (set, &b), "a and b");

  ck_assert_msg (!hub_watchers_remove (watchers, &a, "bob"), "b still watches bob");
  set = hub_watchers_get (watchers, "bob");
  ck_assert_uint_eq (g_hash_table_size (set), 1);
  ck_assert_msg (!g_hash_table_contains (set, &a), "a no longer watches bob");
  ck_assert_msg (hub_watchers_remove (watchers, &b, "bob"), "b was bob's last watcher");
  ck_assert_msg (hub_watchers_get (watchers, "bob") == NULL, "no set once the last one went");
  ck_assert_ptr_nonnull (hub_watchers_get (watchers, "carol"));
}
END_TEST

START_TEST (test_remove_unknown)
{
  int a, b;

  hub_watchers_add (watchers, &a, "carol");
  ck_assert_msg (!hub_watchers_remove (watchers, &b, "carol"), "b never watched carol");
  ck_assert_msg (!hub_watchers_remove (watchers, &b, "nobody"), "nobody is watched");
  ck_assert_uint_eq (g_hash_table_size (hub_watchers_get (watchers, "carol")), 1);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("watchers");
  TCase *tc = tcase_create ("watchers");
  SRunner *sr;
  int failed;

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_first_and_last);
  tcase_add_test (tc, test_remove_unknown);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}
