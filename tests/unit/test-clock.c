/* test-clock.c: the fake clock (ordering, cancellation, re-entrancy) and the
 * real clock's timers on a GMainLoop, bounded by a safety timeout. */
#include <check.h>
#include <hub/hub-clock.h>
#include <stdlib.h>

#define START_MS ((gint64)1700000000000)

/* Records which timers fired and what the clock said when they did. */
typedef struct {
  HubClock *clock;
  GArray *fired;    /* int tags, in firing order */
  GArray *fired_at; /* gint64 unix ms at each firing */
  guint cancel_id;  /* a callback cancels this id */
  guint self_id;    /* the id of the timer whose callback runs */
  guint added_id;
} Recorder;

typedef struct {
  Recorder *rec;
  int tag;
} Tagged;

static HubClock *clock_;
static Recorder rec;

static void
setup (void)
{
  clock_ = hub_clock_new_fake (START_MS);
  rec.clock = clock_;
  rec.fired = g_array_new (FALSE, FALSE, sizeof (int));
  rec.fired_at = g_array_new (FALSE, FALSE, sizeof (gint64));
  rec.cancel_id = rec.self_id = rec.added_id = 0;
}

static void
teardown (void)
{
  g_clear_pointer (&clock_, hub_clock_unref);
  g_array_unref (rec.fired);
  g_array_unref (rec.fired_at);
}

static void
record (int tag)
{
  gint64 now = hub_clock_unix_ms (rec.clock);

  g_array_append_val (rec.fired, tag);
  g_array_append_val (rec.fired_at, now);
}

static void
on_tag (gpointer data)
{
  record (GPOINTER_TO_INT (data));
}

static int
fired (guint i)
{
  ck_assert_msg (i < rec.fired->len, "expected at least %u firings, got %u", i + 1, rec.fired->len);
  return g_array_index (rec.fired, int, i);
}

static gint64
fired_at (guint i)
{
  return g_array_index (rec.fired_at, gint64, i);
}

START_TEST (test_times)
{
  gint64 mono = hub_clock_monotonic_us (clock_);

  ck_assert_int_eq (hub_clock_unix_ms (clock_), START_MS);
  ck_assert_msg (mono > 0, "fake monotonic time starts at a positive value");
  hub_fake_clock_advance (clock_, 1500);
  ck_assert_int_eq (hub_clock_unix_ms (clock_), START_MS + 1500);
  ck_assert_int_eq (hub_clock_monotonic_us (clock_), mono + 1500 * 1000);
  hub_fake_clock_advance (clock_, 0);
  ck_assert_int_eq (hub_clock_unix_ms (clock_), START_MS + 1500);
}
END_TEST

START_TEST (test_ordering)
{
  hub_clock_add_timeout (clock_, 300, on_tag, GINT_TO_POINTER (3));
  hub_clock_add_timeout (clock_, 100, on_tag, GINT_TO_POINTER (1));
  hub_clock_add_timeout (clock_, 200, on_tag, GINT_TO_POINTER (2));
  hub_clock_add_timeout (clock_, 100, on_tag, GINT_TO_POINTER (11));
  hub_clock_add_timeout (clock_, 1000, on_tag, GINT_TO_POINTER (4));
  ck_assert_uint_eq (hub_fake_clock_pending (clock_), 5);

  hub_fake_clock_advance (clock_, 99);
  ck_assert_msg (rec.fired->len == 0, "nothing is due before 100 ms");
  hub_fake_clock_advance (clock_, 201);
  ck_assert_uint_eq (rec.fired->len, 4);
  ck_assert_int_eq (fired (0), 1);
  ck_assert_int_eq (fired (1), 11); /* same deadline: insertion order */
  ck_assert_int_eq (fired (2), 2);
  ck_assert_int_eq (fired (3), 3);
  ck_assert_int_eq (fired_at (0), START_MS + 100);
  ck_assert_int_eq (fired_at (1), START_MS + 100);
  ck_assert_int_eq (fired_at (2), START_MS + 200);
  ck_assert_int_eq (fired_at (3), START_MS + 300);
  ck_assert_int_eq (hub_clock_unix_ms (clock_), START_MS + 300);
  ck_assert_uint_eq (hub_fake_clock_pending (clock_), 1);

  hub_fake_clock_advance (clock_, 10000);
  ck_assert_uint_eq (rec.fired->len, 5);
  ck_assert_int_eq (fired_at (4), START_MS + 1000);
  ck_assert_int_eq (hub_clock_unix_ms (clock_), START_MS + 10300);
  ck_assert_uint_eq (hub_fake_clock_pending (clock_), 0);
}
END_TEST

START_TEST (test_delay_relative_to_now)
{
  hub_fake_clock_advance (clock_, 500);
  hub_clock_add_timeout (clock_, 100, on_tag, GINT_TO_POINTER (1));
  hub_fake_clock_advance (clock_, 99);
  ck_assert_uint_eq (rec.fired->len, 0);
  hub_fake_clock_advance (clock_, 1);
  ck_assert_uint_eq (rec.fired->len, 1);
  ck_assert_int_eq (fired_at (0), START_MS + 600);
}
END_TEST

START_TEST (test_ids)
{
  guint a = hub_clock_add_timeout (clock_, 10, on_tag, NULL);
  guint b = hub_clock_add_timeout (clock_, 10, on_tag, NULL);

  ck_assert_msg (a > 0 && b > 0, "ids are > 0");
  ck_assert_msg (a != b, "ids are distinct");
}
END_TEST

START_TEST (test_cancel)
{
  guint a = hub_clock_add_timeout (clock_, 100, on_tag, GINT_TO_POINTER (1));
  guint b = hub_clock_add_timeout (clock_, 200, on_tag, GINT_TO_POINTER (2));

  hub_clock_cancel (clock_, a);
  ck_assert_uint_eq (hub_fake_clock_pending (clock_), 1);
  hub_clock_cancel (clock_, a); /* twice: ignored */
  hub_clock_cancel (clock_, 0); /* 0: ignored */
  hub_clock_cancel (clock_, 987654);
  hub_fake_clock_advance (clock_, 1000);
  ck_assert_uint_eq (rec.fired->len, 1);
  ck_assert_int_eq (fired (0), 2);
  /* Cancelling an id that already fired is ignored, and does not hit a new timer. */
  hub_clock_add_timeout (clock_, 50, on_tag, GINT_TO_POINTER (3));
  hub_clock_cancel (clock_, b);
  ck_assert_uint_eq (hub_fake_clock_pending (clock_), 1);
  hub_fake_clock_advance (clock_, 50);
  ck_assert_uint_eq (rec.fired->len, 2);
  ck_assert_int_eq (fired (1), 3);
}
END_TEST

static void
on_cancel_other (gpointer data)
{
  record (GPOINTER_TO_INT (data));
  hub_clock_cancel (rec.clock, rec.cancel_id);
}

START_TEST (test_cancel_from_callback)
{
  hub_clock_add_timeout (clock_, 100, on_cancel_other, GINT_TO_POINTER (1));
  /* Same deadline, inserted later: cancelled before its turn. */
  rec.cancel_id = hub_clock_add_timeout (clock_, 100, on_tag, GINT_TO_POINTER (2));
  hub_clock_add_timeout (clock_, 150, on_tag, GINT_TO_POINTER (3));
  hub_fake_clock_advance (clock_, 200);
  ck_assert_uint_eq (rec.fired->len, 2);
  ck_assert_int_eq (fired (0), 1);
  ck_assert_int_eq (fired (1), 3);
  ck_assert_uint_eq (hub_fake_clock_pending (clock_), 0);
}
END_TEST

static void
on_cancel_self (gpointer data)
{
  record (1);
  hub_clock_cancel (rec.clock, rec.self_id);
}

START_TEST (test_cancel_self_from_callback)
{
  rec.self_id = hub_clock_add_timeout (clock_, 10, on_cancel_self, NULL);
  hub_clock_add_timeout (clock_, 20, on_tag, GINT_TO_POINTER (2));
  hub_fake_clock_advance (clock_, 30);
  ck_assert_uint_eq (rec.fired->len, 2);
  ck_assert_int_eq (fired (1), 2);
}
END_TEST

static void
on_add_more (gpointer data)
{
  int tag = GPOINTER_TO_INT (data);

  record (tag);
  if (tag == 1) {
    /* Delay 0 at T=100: due now, fires in this advance after the ones already due. */
    hub_clock_add_timeout (rec.clock, 0, on_add_more, GINT_TO_POINTER (10));
    /* T=150 ≤ end: fires in this advance, before the timer due at 200. */
    hub_clock_add_timeout (rec.clock, 50, on_add_more, GINT_TO_POINTER (15));
    /* T=600 > end: stays pending. */
    hub_clock_add_timeout (rec.clock, 500, on_add_more, GINT_TO_POINTER (60));
  }
}

START_TEST (test_add_from_callback)
{
  hub_clock_add_timeout (clock_, 100, on_add_more, GINT_TO_POINTER (1));
  hub_clock_add_timeout (clock_, 100, on_add_more, GINT_TO_POINTER (2));
  hub_clock_add_timeout (clock_, 200, on_add_more, GINT_TO_POINTER (20));
  hub_fake_clock_advance (clock_, 300);
  ck_assert_uint_eq (rec.fired->len, 5);
  ck_assert_int_eq (fired (0), 1);
  ck_assert_int_eq (fired (1), 2);
  ck_assert_int_eq (fired (2), 10);
  ck_assert_int_eq (fired_at (2), START_MS + 100);
  ck_assert_int_eq (fired (3), 15);
  ck_assert_int_eq (fired_at (3), START_MS + 150);
  ck_assert_int_eq (fired (4), 20);
  ck_assert_uint_eq (hub_fake_clock_pending (clock_), 1);
  hub_fake_clock_advance (clock_, 300);
  ck_assert_uint_eq (rec.fired->len, 6);
  ck_assert_int_eq (fired (5), 60);
  ck_assert_int_eq (fired_at (5), START_MS + 600);
}
END_TEST

/* A periodic job built from one-shot timers: each firing re-arms itself. */
static void
on_rearm (gpointer data)
{
  record (0);
  if (rec.fired->len < 5)
    rec.added_id = hub_clock_add_timeout (rec.clock, 1000, on_rearm, NULL);
}

START_TEST (test_rearm_chain)
{
  hub_clock_add_timeout (clock_, 1000, on_rearm, NULL);
  hub_fake_clock_advance (clock_, 3500);
  ck_assert_uint_eq (rec.fired->len, 3);
  ck_assert_int_eq (fired_at (2), START_MS + 3000);
  hub_fake_clock_advance (clock_, 100000);
  ck_assert_uint_eq (rec.fired->len, 5);
  ck_assert_int_eq (fired_at (4), START_MS + 5000);
  ck_assert_uint_eq (hub_fake_clock_pending (clock_), 0);
}
END_TEST

static void
on_nested_advance (gpointer data)
{
  record (1);
  hub_fake_clock_advance (rec.clock, 50);
}

START_TEST (test_nested_advance)
{
  hub_clock_add_timeout (clock_, 100, on_nested_advance, NULL);
  hub_clock_add_timeout (clock_, 120, on_tag, GINT_TO_POINTER (2));
  hub_clock_add_timeout (clock_, 180, on_tag, GINT_TO_POINTER (3));
  hub_fake_clock_advance (clock_, 200);
  ck_assert_uint_eq (rec.fired->len, 3);
  ck_assert_int_eq (fired (1), 2);
  ck_assert_int_eq (fired_at (1), START_MS + 120);
  ck_assert_int_eq (fired_at (2), START_MS + 180);
  ck_assert_int_eq (hub_clock_unix_ms (clock_), START_MS + 200);
}
END_TEST

static void
on_drop_clock (gpointer data)
{
  record (1);
  /* The test's reference goes away while the clock is advancing. */
  g_clear_pointer (&clock_, hub_clock_unref);
}

START_TEST (test_unref_during_advance)
{
  HubClock *extra = hub_clock_ref (clock_);

  hub_clock_add_timeout (clock_, 10, on_drop_clock, NULL);
  hub_clock_add_timeout (clock_, 20, on_tag, GINT_TO_POINTER (2));
  hub_fake_clock_advance (extra, 30);
  ck_assert_uint_eq (rec.fired->len, 2);
  ck_assert_int_eq (hub_clock_unix_ms (extra), START_MS + 30);
  hub_clock_unref (extra);
}
END_TEST

START_TEST (test_unref_drops_pending)
{
  /* Pending timers are freed with the clock (LeakSanitizer checks) and never run. */
  hub_clock_add_timeout (clock_, 10, on_tag, GINT_TO_POINTER (1));
  hub_clock_add_timeout (clock_, 20, on_tag, GINT_TO_POINTER (2));
  g_clear_pointer (&clock_, hub_clock_unref);
  ck_assert_uint_eq (rec.fired->len, 0);
}
END_TEST

/* --- The real clock. --- */

typedef struct {
  GMainLoop *loop;
  GArray *order;
  gboolean timed_out;
  guint quit_after; /* quit when this many timers fired */
} RealRun;

static RealRun run;

static void
real_on_tag (gpointer data)
{
  int tag = GPOINTER_TO_INT (data);

  g_array_append_val (run.order, tag);
  if (run.order->len >= run.quit_after)
    g_main_loop_quit (run.loop);
}

static gboolean
on_safety_timeout (gpointer data)
{
  run.timed_out = TRUE;
  g_main_loop_quit (run.loop);
  return G_SOURCE_REMOVE;
}

static gboolean
on_quit (gpointer data)
{
  g_main_loop_quit (run.loop);
  return G_SOURCE_REMOVE;
}

static void
real_setup (void)
{
  run.order = g_array_new (FALSE, FALSE, sizeof (int));
  run.timed_out = FALSE;
}

static void
real_teardown (void)
{
  g_array_unref (run.order);
}

/* Runs @ctx's loop until quit_after timers fired or 5 s passed. */
static void
run_loop (GMainContext *ctx)
{
  GSource *safety = g_timeout_source_new (5000);

  run.loop = g_main_loop_new (ctx, FALSE);
  g_source_set_callback (safety, on_safety_timeout, NULL, NULL);
  g_source_attach (safety, ctx);
  g_main_loop_run (run.loop);
  g_source_destroy (safety);
  g_source_unref (safety);
  g_main_loop_unref (run.loop);
  run.loop = NULL;
}

START_TEST (test_real_times)
{
  g_autoptr (HubClock) clock = hub_clock_new_real ();
  gint64 wall = g_get_real_time () / 1000;
  gint64 a = hub_clock_monotonic_us (clock);
  gint64 b = hub_clock_monotonic_us (clock);

  ck_assert_msg (b >= a, "monotonic time does not go back");
  ck_assert_msg (llabs (hub_clock_unix_ms (clock) - wall) < 5000,
                 "unix ms should be close to the wall clock");
}
END_TEST

START_TEST (test_real_timers)
{
  g_autoptr (HubClock) clock = hub_clock_new_real ();
  guint cancelled;

  hub_clock_add_timeout (clock, 30, real_on_tag, GINT_TO_POINTER (2));
  hub_clock_add_timeout (clock, 1, real_on_tag, GINT_TO_POINTER (1));
  cancelled = hub_clock_add_timeout (clock, 10, real_on_tag, GINT_TO_POINTER (99));
  hub_clock_cancel (clock, cancelled);
  run.quit_after = 2;
  run_loop (NULL);
  ck_assert_msg (!run.timed_out, "both timers should fire within 5 s");
  ck_assert_uint_eq (run.order->len, 2);
  ck_assert_int_eq (g_array_index (run.order, int, 0), 1);
  ck_assert_int_eq (g_array_index (run.order, int, 1), 2);
  /* Cancelling a fired id is a no-op. */
  hub_clock_cancel (clock, cancelled);
}
END_TEST

static guint real_self_id;
static HubClock *real_clock;

static void
real_cancel_self (gpointer data)
{
  hub_clock_cancel (real_clock, real_self_id);
  real_on_tag (data);
}

START_TEST (test_real_thread_default_context)
{
  GMainContext *ctx = g_main_context_new ();
  guint in_ctx, cancelled;

  real_clock = hub_clock_new_real ();
  g_main_context_push_thread_default (ctx);
  real_self_id = in_ctx =
      hub_clock_add_timeout (real_clock, 5, real_cancel_self, GINT_TO_POINTER (1));
  cancelled = hub_clock_add_timeout (real_clock, 1, real_on_tag, GINT_TO_POINTER (99));
  g_main_context_pop_thread_default (ctx);
  ck_assert_msg (in_ctx != cancelled, "ids are distinct");
  /* Cancel by our id works outside the context the timer was attached to. */
  hub_clock_cancel (real_clock, cancelled);

  run.quit_after = 1;
  run_loop (ctx);
  ck_assert_msg (!run.timed_out, "the timer should fire on its thread-default context");
  ck_assert_uint_eq (run.order->len, 1);
  ck_assert_int_eq (g_array_index (run.order, int, 0), 1);
  g_clear_pointer (&real_clock, hub_clock_unref);
  g_main_context_unref (ctx);
}
END_TEST

START_TEST (test_real_unref_destroys_pending)
{
  HubClock *clock = hub_clock_new_real ();
  GMainContext *ctx = g_main_context_new ();

  g_main_context_push_thread_default (ctx);
  hub_clock_add_timeout (clock, 1, real_on_tag, GINT_TO_POINTER (99));
  g_main_context_pop_thread_default (ctx);
  hub_clock_unref (clock);
  /* The source was destroyed with the clock: running the context past its
   * deadline (until a plain 20 ms timer quits the loop) must not fire it. */
  {
    GSource *later = g_timeout_source_new (20);

    run.quit_after = 1;
    g_source_set_callback (later, on_quit, NULL, NULL);
    g_source_attach (later, ctx);
    run_loop (ctx);
    g_source_unref (later);
  }
  ck_assert_msg (!run.timed_out, "the 20 ms timer should quit the loop");
  ck_assert_msg (run.order->len == 0, "a timer of a freed clock must not fire");
  g_main_context_unref (ctx);
}
END_TEST

/* A stall moves time without firing: what fell due fires at the next
 * advance, late, seeing the clock as it is then. */
START_TEST (test_stall)
{
  hub_clock_add_timeout (clock_, 100, on_tag, GINT_TO_POINTER (1));
  hub_fake_clock_stall (clock_, 5000);
  ck_assert_uint_eq (rec.fired->len, 0);
  hub_fake_clock_advance (clock_, 0);
  ck_assert_uint_eq (rec.fired->len, 1);
  ck_assert_int_eq (g_array_index (rec.fired_at, gint64, 0), hub_clock_unix_ms (clock_));
}
END_TEST

static void
add_fake (Suite *s, const char *name, const TTest *test)
{
  TCase *tc = tcase_create (name);

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test);
  suite_add_tcase (s, tc);
}

static void
add_real (Suite *s, const char *name, const TTest *test)
{
  TCase *tc = tcase_create (name);

  tcase_add_checked_fixture (tc, real_setup, real_teardown);
  tcase_add_test (tc, test);
  suite_add_tcase (s, tc);
}

static Suite *
clock_suite (void)
{
  Suite *s = suite_create ("clock");

  add_fake (s, "times", test_times);
  add_fake (s, "ordering", test_ordering);
  add_fake (s, "delay_relative_to_now", test_delay_relative_to_now);
  add_fake (s, "ids", test_ids);
  add_fake (s, "cancel", test_cancel);
  add_fake (s, "cancel_from_callback", test_cancel_from_callback);
  add_fake (s, "cancel_self_from_callback", test_cancel_self_from_callback);
  add_fake (s, "add_from_callback", test_add_from_callback);
  add_fake (s, "rearm_chain", test_rearm_chain);
  add_fake (s, "nested_advance", test_nested_advance);
  add_fake (s, "unref_during_advance", test_unref_during_advance);
  add_fake (s, "unref_drops_pending", test_unref_drops_pending);
  add_fake (s, "stall", test_stall);
  add_real (s, "real_times", test_real_times);
  add_real (s, "real_timers", test_real_timers);
  add_real (s, "real_thread_default_context", test_real_thread_default_context);
  add_real (s, "real_unref_destroys_pending", test_real_unref_destroys_pending);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (clock_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
