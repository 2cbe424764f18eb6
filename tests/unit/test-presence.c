/* test-presence.c: HubPresence (PROTOCOL.md §7) on the fake clock: every
 * transition of the visible status, notifications counted exactly, the grace
 * period, listing and subscriber sets. */
#include <check.h>

#include "hub-memory-sink.h"

#define EXPECT_UINT(actual, expected, what)                                                        \
  ck_assert_msg ((guint64)(actual) == (guint64)(expected),                                         \
                 "%s: expected %" G_GUINT64_FORMAT ", got %" G_GUINT64_FORMAT, what,               \
                 (guint64)(expected), (guint64)(actual))
#define EXPECT_STATUS(actual, expected, what)                                                      \
  ck_assert_msg ((actual) == (expected), "%s: expected %s, got %s", what, status_name (expected),  \
                 status_name (actual))

#define GRACE_MS 5000

static HubClock *clock_;
static HubPresence *presence;
static GPtrArray *events; /* (owned) "user=status" strings, in order */

/* Local names, so this suite does not depend on the codec. */
static const char *
status_name (HubStatus status)
{
  switch (status) {
    case HUB_STATUS_OFFLINE:
      return "offline";
    case HUB_STATUS_ONLINE:
      return "online";
    case HUB_STATUS_AWAY:
      return "away";
    case HUB_STATUS_BUSY:
      return "busy";
  }
  return "?";
}

static void
record (const char *user, HubStatus status, gpointer user_data)
{
  /* The state is updated before the callback runs. */
  ck_assert_msg (hub_presence_get_visible_status (presence, user) == status,
                 "notified status %s is already the visible one", status_name (status));
  g_ptr_array_add (events, g_strdup_printf ("%s=%s", user, status_name (status)));
}

static void
setup_with_grace (guint grace_ms)
{
  clock_ = hub_clock_new_fake (1700000000000);
  events = g_ptr_array_new_with_free_func (g_free);
  presence = hub_presence_new (clock_, grace_ms, record, NULL);
}

static void
setup (void)
{
  setup_with_grace (0);
}

static void
setup_grace (void)
{
  setup_with_grace (GRACE_MS);
}

static void
teardown (void)
{
  g_clear_pointer (&presence, hub_presence_free);
  g_clear_pointer (&events, g_ptr_array_unref);
  g_clear_pointer (&clock_, hub_clock_unref);
}

/* Asserts the events since the last call, then forgets them. */
static void
expect_events (const char *const *expected)
{
  guint n = 0;

  while (expected[n] != NULL)
    n++;
  for (guint i = 0; i < MIN (n, events->len); i++)
    ck_assert_msg (g_str_equal (g_ptr_array_index (events, i), expected[i]),
                   "event %u: expected %s, got %s", i, expected[i],
                   (char *)g_ptr_array_index (events, i));
  ck_assert_msg (events->len == n, "expected %u events, got %u (first extra: %s)", n, events->len,
                 events->len > n ? (char *)g_ptr_array_index (events, n) : "-");
  g_ptr_array_set_size (events, 0);
}

#define EXPECT_EVENTS(...) expect_events ((const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_NO_EVENT()  expect_events ((const char *const[]){NULL})

/* ---- connections ---- */

START_TEST (test_unknown_user)
{
  EXPECT_STATUS (hub_presence_get_visible_status (presence, "alice"), HUB_STATUS_OFFLINE,
                 "never seen");
  EXPECT_STATUS (hub_presence_get_own_status (presence, "alice"), HUB_STATUS_OFFLINE, "own");
  ck_assert_msg (!hub_presence_is_online (presence, "alice"), "not online");
  EXPECT_UINT (hub_presence_n_online (presence), 0, "n_online");
}
END_TEST

START_TEST (test_first_connection_online)
{
  hub_presence_connected (presence, "alice");
  EXPECT_EVENTS ("alice=online");
  EXPECT_STATUS (hub_presence_get_visible_status (presence, "alice"), HUB_STATUS_ONLINE, "visible");
  EXPECT_STATUS (hub_presence_get_own_status (presence, "alice"), HUB_STATUS_ONLINE, "own");
  ck_assert_msg (hub_presence_is_online (presence, "alice"), "online");
  EXPECT_UINT (hub_presence_n_online (presence), 1, "n_online");
}
END_TEST

START_TEST (test_second_device_silent)
{
  hub_presence_connected (presence, "alice");
  hub_presence_set_status (presence, "alice", HUB_STATUS_AWAY);
  g_ptr_array_set_size (events, 0);
  hub_presence_connected (presence, "alice");
  EXPECT_NO_EVENT ();
  EXPECT_STATUS (hub_presence_get_visible_status (presence, "alice"), HUB_STATUS_AWAY,
                 "a new device does not change the status");
  EXPECT_UINT (hub_presence_n_online (presence), 1, "still one user");
}
END_TEST

START_TEST (test_disconnect_one_of_two_silent)
{
  hub_presence_connected (presence, "alice");
  hub_presence_connected (presence, "alice");
  hub_presence_disconnected (presence, "alice");
  EXPECT_EVENTS ("alice=online");
  ck_assert_msg (hub_presence_is_online (presence, "alice"), "one device left");
}
END_TEST

START_TEST (test_last_disconnect_offline_and_forget)
{
  hub_presence_connected (presence, "alice");
  hub_presence_set_status (presence, "alice", HUB_STATUS_BUSY);
  hub_presence_disconnected (presence, "alice");
  EXPECT_EVENTS ("alice=online", "alice=busy", "alice=offline");
  ck_assert_msg (!hub_presence_is_online (presence, "alice"), "offline at once with grace 0");
  EXPECT_UINT (hub_presence_n_online (presence), 0, "n_online");
  EXPECT_UINT (hub_fake_clock_pending (clock_), 0, "no timer with grace 0");

  hub_presence_connected (presence, "alice");
  EXPECT_EVENTS ("alice=online");
  EXPECT_STATUS (hub_presence_get_own_status (presence, "alice"), HUB_STATUS_ONLINE,
                 "status forgotten: the next connection starts online");
}
END_TEST

/* ---- set_status ---- */

START_TEST (test_status_changes_notify)
{
  hub_presence_connected (presence, "alice");
  hub_presence_set_status (presence, "alice", HUB_STATUS_AWAY);
  hub_presence_set_status (presence, "alice", HUB_STATUS_AWAY);
  hub_presence_set_status (presence, "alice", HUB_STATUS_BUSY);
  hub_presence_set_status (presence, "alice", HUB_STATUS_ONLINE);
  EXPECT_EVENTS ("alice=online", "alice=away", "alice=busy", "alice=online");
}
END_TEST

START_TEST (test_same_status_silent)
{
  hub_presence_connected (presence, "alice");
  hub_presence_set_status (presence, "alice", HUB_STATUS_ONLINE);
  EXPECT_EVENTS ("alice=online");
}
END_TEST

START_TEST (test_invisible)
{
  hub_presence_connected (presence, "alice");
  hub_presence_set_status (presence, "alice", HUB_STATUS_AWAY);
  hub_presence_set_status (presence, "alice", HUB_STATUS_OFFLINE);
  EXPECT_EVENTS ("alice=online", "alice=away", "alice=offline");
  EXPECT_STATUS (hub_presence_get_visible_status (presence, "alice"), HUB_STATUS_OFFLINE,
                 "invisible looks offline");
  EXPECT_STATUS (hub_presence_get_own_status (presence, "alice"), HUB_STATUS_OFFLINE,
                 "own status is offline (invisible)");
  ck_assert_msg (hub_presence_is_online (presence, "alice"), "an invisible user is connected");
  EXPECT_UINT (hub_presence_n_online (presence), 1, "n_online counts invisible users");
}
END_TEST

START_TEST (test_invisible_to_busy)
{
  hub_presence_connected (presence, "alice");
  hub_presence_set_status (presence, "alice", HUB_STATUS_OFFLINE);
  hub_presence_set_status (presence, "alice", HUB_STATUS_OFFLINE);
  hub_presence_set_status (presence, "alice", HUB_STATUS_BUSY);
  EXPECT_EVENTS ("alice=online", "alice=offline", "alice=busy");
}
END_TEST

START_TEST (test_invisible_disconnect_silent)
{
  hub_presence_connected (presence, "alice");
  hub_presence_set_status (presence, "alice", HUB_STATUS_OFFLINE);
  g_ptr_array_set_size (events, 0);
  hub_presence_disconnected (presence, "alice");
  EXPECT_NO_EVENT ();
  ck_assert_msg (!hub_presence_is_online (presence, "alice"), "gone");

  hub_presence_connected (presence, "alice");
  EXPECT_EVENTS ("alice=online");
}
END_TEST

START_TEST (test_users_independent)
{
  hub_presence_connected (presence, "alice");
  hub_presence_connected (presence, "bob");
  hub_presence_set_status (presence, "bob", HUB_STATUS_AWAY);
  hub_presence_disconnected (presence, "alice");
  EXPECT_EVENTS ("alice=online", "bob=online", "bob=away", "alice=offline");
  EXPECT_STATUS (hub_presence_get_visible_status (presence, "bob"), HUB_STATUS_AWAY, "bob");
  EXPECT_UINT (hub_presence_n_online (presence), 1, "bob only");
}
END_TEST

/* ---- grace ---- */

START_TEST (test_grace_then_offline)
{
  hub_presence_connected (presence, "alice");
  hub_presence_set_status (presence, "alice", HUB_STATUS_AWAY);
  hub_presence_disconnected (presence, "alice");
  EXPECT_EVENTS ("alice=online", "alice=away");
  ck_assert_msg (hub_presence_is_online (presence, "alice"), "online within grace");
  EXPECT_STATUS (hub_presence_get_visible_status (presence, "alice"), HUB_STATUS_AWAY,
                 "still visible within grace");
  EXPECT_UINT (hub_presence_n_online (presence), 1, "counted within grace");
  EXPECT_UINT (hub_fake_clock_pending (clock_), 1, "one offline timer");

  hub_fake_clock_advance (clock_, GRACE_MS - 1);
  EXPECT_NO_EVENT ();
  ck_assert_msg (hub_presence_is_online (presence, "alice"), "1 ms before the end of grace");

  hub_fake_clock_advance (clock_, 1);
  EXPECT_EVENTS ("alice=offline");
  ck_assert_msg (!hub_presence_is_online (presence, "alice"), "offline after grace");
  EXPECT_UINT (hub_presence_n_online (presence), 0, "n_online after grace");
  EXPECT_UINT (hub_fake_clock_pending (clock_), 0, "timer fired");
}
END_TEST

START_TEST (test_grace_reconnect_cancels)
{
  hub_presence_connected (presence, "alice");
  hub_presence_set_status (presence, "alice", HUB_STATUS_BUSY);
  hub_presence_disconnected (presence, "alice");
  hub_fake_clock_advance (clock_, GRACE_MS / 2);
  hub_presence_connected (presence, "alice");
  EXPECT_EVENTS ("alice=online", "alice=busy");
  EXPECT_UINT (hub_fake_clock_pending (clock_), 0, "offline timer cancelled");
  hub_fake_clock_advance (clock_, GRACE_MS * 2);
  EXPECT_NO_EVENT ();
  EXPECT_STATUS (hub_presence_get_visible_status (presence, "alice"), HUB_STATUS_BUSY,
                 "status kept across a quick reconnect");
}
END_TEST

START_TEST (test_grace_forgets_status)
{
  hub_presence_connected (presence, "alice");
  hub_presence_set_status (presence, "alice", HUB_STATUS_AWAY);
  hub_presence_disconnected (presence, "alice");
  hub_fake_clock_advance (clock_, GRACE_MS);
  hub_presence_connected (presence, "alice");
  EXPECT_EVENTS ("alice=online", "alice=away", "alice=offline", "alice=online");
  EXPECT_STATUS (hub_presence_get_own_status (presence, "alice"), HUB_STATUS_ONLINE,
                 "a connection after grace starts online");
}
END_TEST

START_TEST (test_grace_invisible_expiry_silent)
{
  hub_presence_connected (presence, "alice");
  hub_presence_set_status (presence, "alice", HUB_STATUS_OFFLINE);
  hub_presence_disconnected (presence, "alice");
  hub_fake_clock_advance (clock_, GRACE_MS);
  EXPECT_EVENTS ("alice=online", "alice=offline");
  ck_assert_msg (!hub_presence_is_online (presence, "alice"), "gone after grace");
}
END_TEST

START_TEST (test_grace_second_disconnect_cycle)
{
  hub_presence_connected (presence, "alice");
  hub_presence_disconnected (presence, "alice");
  hub_presence_connected (presence, "alice");
  hub_presence_disconnected (presence, "alice");
  EXPECT_UINT (hub_fake_clock_pending (clock_), 1, "one timer for the latest disconnect");
  hub_fake_clock_advance (clock_, GRACE_MS);
  EXPECT_EVENTS ("alice=online", "alice=offline");
}
END_TEST

START_TEST (test_grace_timers_per_user)
{
  hub_presence_connected (presence, "alice");
  hub_presence_connected (presence, "bob");
  hub_presence_disconnected (presence, "alice");
  hub_fake_clock_advance (clock_, 1000);
  hub_presence_disconnected (presence, "bob");
  hub_fake_clock_advance (clock_, GRACE_MS - 1000);
  EXPECT_EVENTS ("alice=online", "bob=online", "alice=offline");
  hub_fake_clock_advance (clock_, 1000);
  EXPECT_EVENTS ("bob=offline");
}
END_TEST

START_TEST (test_free_cancels_timers)
{
  hub_presence_connected (presence, "alice");
  hub_presence_connected (presence, "bob");
  hub_presence_disconnected (presence, "alice");
  hub_presence_disconnected (presence, "bob");
  EXPECT_UINT (hub_fake_clock_pending (clock_), 2, "two pending timers");
  g_clear_pointer (&presence, hub_presence_free);
  EXPECT_UINT (hub_fake_clock_pending (clock_), 0, "free cancelled them");
  g_ptr_array_set_size (events, 0);
  hub_fake_clock_advance (clock_, GRACE_MS * 2); /* nothing fires into freed memory */
  EXPECT_NO_EVENT ();
}
END_TEST

/* ---- listing ---- */

START_TEST (test_list_visible)
{
  GPtrArray *out = NULL;

  hub_presence_connected (presence, "dave");
  hub_presence_connected (presence, "bob");
  hub_presence_connected (presence, "carol");
  hub_presence_connected (presence, "alice");
  hub_presence_connected (presence, "eve");
  hub_presence_set_status (presence, "carol", HUB_STATUS_OFFLINE); /* invisible */
  hub_presence_set_status (presence, "eve", HUB_STATUS_AWAY);      /* away is visible */

  EXPECT_UINT (hub_presence_list_visible (presence, 2, &out), 4, "visible count");
  EXPECT_UINT (out->len, 2, "limited to 2 ids");
  ck_assert_str_eq (g_ptr_array_index (out, 0), "alice");
  ck_assert_str_eq (g_ptr_array_index (out, 1), "bob");
  g_ptr_array_unref (out);

  EXPECT_UINT (hub_presence_list_visible (presence, 100, &out), 4, "visible count");
  EXPECT_UINT (out->len, 4, "all visible ids");
  ck_assert_str_eq (g_ptr_array_index (out, 2), "dave");
  ck_assert_str_eq (g_ptr_array_index (out, 3), "eve");
  g_ptr_array_unref (out);

  EXPECT_UINT (hub_presence_list_visible (presence, 10, NULL), 4, "count without ids");
  EXPECT_UINT (hub_presence_n_online (presence), 5, "n_online includes invisible");
}
END_TEST

START_TEST (test_list_visible_empty)
{
  GPtrArray *out = NULL;

  EXPECT_UINT (hub_presence_list_visible (presence, 10, &out), 0, "nobody");
  ck_assert_ptr_nonnull (out);
  EXPECT_UINT (out->len, 0, "empty array");
  g_ptr_array_unref (out);
}
END_TEST

START_TEST (test_list_visible_in_grace)
{
  GPtrArray *out = NULL;

  hub_presence_connected (presence, "alice");
  hub_presence_disconnected (presence, "alice");
  EXPECT_UINT (hub_presence_list_visible (presence, 10, &out), 1, "visible within grace");
  g_ptr_array_unref (out);
  hub_fake_clock_advance (clock_, GRACE_MS);
  EXPECT_UINT (hub_presence_list_visible (presence, 10, NULL), 0, "not after grace");
}
END_TEST

START_TEST (test_count_connections)
{
  hub_presence_connected (presence, "alice");
  hub_presence_connected (presence, "alice");
  EXPECT_UINT (hub_presence_count_connections (presence, "alice"), 2, "two devices");
  hub_presence_disconnected (presence, "alice");
  EXPECT_UINT (hub_presence_count_connections (presence, "alice"), 1, "one left");
  EXPECT_UINT (hub_presence_count_connections (presence, "bob"), 0, "never seen");
}
END_TEST

START_TEST (test_null_notify)
{
  HubPresence *quiet = hub_presence_new (clock_, 0, NULL, NULL);

  hub_presence_connected (quiet, "alice");
  hub_presence_set_status (quiet, "alice", HUB_STATUS_AWAY);
  hub_presence_disconnected (quiet, "alice");
  ck_assert_msg (!hub_presence_is_online (quiet, "alice"), "works without a callback");
  hub_presence_free (quiet);
}
END_TEST

static Suite *
presence_suite (void)
{
  Suite *s = suite_create ("presence");
  struct {
    const char *name;
    void (*setup) (void);
    const TTest *tests[8];
  } cases[] = {
      {"connections",
       setup,
       {test_unknown_user, test_first_connection_online, test_second_device_silent,
        test_disconnect_one_of_two_silent, test_last_disconnect_offline_and_forget,
        test_users_independent, test_null_notify}},
      {"status",
       setup,
       {test_status_changes_notify, test_same_status_silent, test_invisible, test_invisible_to_busy,
        test_invisible_disconnect_silent}},
      {"grace",
       setup_grace,
       {test_grace_then_offline, test_grace_reconnect_cancels, test_grace_forgets_status,
        test_grace_invisible_expiry_silent, test_grace_second_disconnect_cycle,
        test_grace_timers_per_user, test_free_cancels_timers, test_list_visible_in_grace}},
      {"list", setup, {test_list_visible, test_list_visible_empty}},
      {"counts", setup, {test_count_connections}},
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    TCase *tc = tcase_create (cases[i].name);

    tcase_add_checked_fixture (tc, cases[i].setup, teardown);
    for (gsize j = 0; j < G_N_ELEMENTS (cases[i].tests) && cases[i].tests[j] != NULL; j++)
      tcase_add_test (tc, cases[i].tests[j]);
    suite_add_tcase (s, tc);
  }
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (presence_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}
