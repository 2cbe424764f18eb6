/* test-rate-limiter.c: the token bucket and the abuse detector (PROTOCOL.md §8),
 * driven with explicit monotonic times. */
#include <check.h>
#include <hub/hub-rate-limiter.h>
#include <stdlib.h>

#define T0 ((gint64)5000000000) /* an arbitrary monotonic origin, µs */
#define MS ((gint64)1000)
#define S  ((gint64)1000000)

/* Sends @n requests evenly spread over [@start, @start + @span) and counts verdicts. */
typedef struct {
  guint ok, limited, abuse;
} Tally;

static Tally
send_spread (HubRateLimiter *rl, guint n, gint64 start, gint64 span)
{
  Tally t = {0, 0, 0};

  for (guint i = 0; i < n; i++) {
    switch (hub_rate_limiter_check (rl, start + span * i / n)) {
      case HUB_RATE_OK:
        t.ok++;
        break;
      case HUB_RATE_LIMITED:
        t.limited++;
        break;
      case HUB_RATE_ABUSE:
        t.abuse++;
        break;
    }
  }
  return t;
}

START_TEST (test_burst_then_limited)
{
  HubRateLimiter rl;

  hub_rate_limiter_init (&rl, 10, 5, T0);
  for (int i = 0; i < 5; i++)
    ck_assert_msg (hub_rate_limiter_check (&rl, T0) == HUB_RATE_OK,
                   "request %d of a burst of 5 should pass", i);
  ck_assert_msg (hub_rate_limiter_check (&rl, T0) == HUB_RATE_LIMITED,
                 "the 6th request at the same instant should be limited");
  ck_assert_msg (hub_rate_limiter_check (&rl, T0) == HUB_RATE_LIMITED,
                 "a limited request does not earn a token");
}
END_TEST

START_TEST (test_refill)
{
  HubRateLimiter rl;

  hub_rate_limiter_init (&rl, 10, 5, T0);
  for (int i = 0; i < 5; i++)
    hub_rate_limiter_check (&rl, T0);
  /* 10/s: one token per 100 ms. */
  ck_assert_msg (hub_rate_limiter_check (&rl, T0 + 99 * MS) == HUB_RATE_LIMITED,
                 "99 ms refill less than one token");
  ck_assert_msg (hub_rate_limiter_check (&rl, T0 + 100 * MS) == HUB_RATE_OK,
                 "100 ms refill one token");
  ck_assert_msg (hub_rate_limiter_check (&rl, T0 + 100 * MS) == HUB_RATE_LIMITED, "and only one");
  /* 300 ms later: three tokens. */
  for (int i = 0; i < 3; i++)
    ck_assert_msg (hub_rate_limiter_check (&rl, T0 + 400 * MS) == HUB_RATE_OK,
                   "token %d of 3 refilled in 300 ms", i);
  ck_assert_msg (hub_rate_limiter_check (&rl, T0 + 400 * MS) == HUB_RATE_LIMITED,
                 "no 4th token after 300 ms");
}
END_TEST

START_TEST (test_fractional_refill)
{
  HubRateLimiter rl;

  hub_rate_limiter_init (&rl, 2, 1, T0);
  ck_assert (hub_rate_limiter_check (&rl, T0) == HUB_RATE_OK);
  /* 2/s: half a token after 250 ms, not enough; the half is kept. */
  ck_assert_msg (hub_rate_limiter_check (&rl, T0 + 250 * MS) == HUB_RATE_LIMITED,
                 "half a token is not enough");
  ck_assert_msg (hub_rate_limiter_check (&rl, T0 + 500 * MS) == HUB_RATE_OK,
                 "two halves make a token");
  /* 0.5/s: one token per 2 s, accumulated in steps of 0.15 token (not exact in
   * binary). Few enough requests to stay under the abuse threshold (5 per s). */
  hub_rate_limiter_init (&rl, 0.5, 1, T0);
  ck_assert (hub_rate_limiter_check (&rl, T0) == HUB_RATE_OK);
  for (int i = 1; i <= 6; i++)
    ck_assert_msg (hub_rate_limiter_check (&rl, T0 + i * 300 * MS) == HUB_RATE_LIMITED,
                   "%d ms at 0.5/s is less than a token", i * 300);
  ck_assert_msg (hub_rate_limiter_check (&rl, T0 + 2 * S) == HUB_RATE_OK,
                 "2 s at 0.5/s is one token");
}
END_TEST

START_TEST (test_cap_at_burst)
{
  HubRateLimiter rl;
  Tally t;

  hub_rate_limiter_init (&rl, 10, 5, T0);
  hub_rate_limiter_check (&rl, T0);
  /* An hour idle refills to the burst, not beyond. */
  t = send_spread (&rl, 20, T0 + 3600 * S, 0);
  ck_assert_uint_eq (t.ok, 5);
  ck_assert_uint_eq (t.limited, 15);
  ck_assert_uint_eq (t.abuse, 0);
}
END_TEST

START_TEST (test_sustained_rate)
{
  HubRateLimiter rl;
  Tally t;

  hub_rate_limiter_init (&rl, 100, 200, T0);
  /* Exactly the rate for 10 s: never limited, never abuse. */
  t = send_spread (&rl, 1000, T0, 10 * S);
  ck_assert_uint_eq (t.ok, 1000);
  /* Twice the rate for 10 s after the burst is gone: about half get through. */
  hub_rate_limiter_init (&rl, 100, 200, T0);
  t = send_spread (&rl, 2000, T0, 10 * S);
  ck_assert_msg (t.ok >= 1190 && t.ok <= 1201, "burst 200 + 10 s × 100/s ≈ 1200 pass, got %u",
                 t.ok);
  ck_assert_uint_eq (t.abuse, 0);
}
END_TEST

START_TEST (test_abuse_two_consecutive_seconds)
{
  HubRateLimiter rl;
  Tally first, second;

  /* rate 10/s: abuse is more than 100 requests in each of two consecutive seconds. */
  hub_rate_limiter_init (&rl, 10, 20, T0);
  first = send_spread (&rl, 150, T0, S);
  ck_assert_msg (first.abuse == 0, "one abusive second alone is not abuse");
  ck_assert_msg (first.ok >= 28 && first.ok <= 30, "burst 20 + ~1 s × 10/s pass, got %u", first.ok);
  second = send_spread (&rl, 101, T0 + S, S);
  ck_assert_msg (second.abuse == 1, "the 101st request of the 2nd abusive second is abuse (got %u)",
                 second.abuse);
  ck_assert_msg (second.ok + second.limited == 100, "the first 100 of the 2nd second are not");
  /* Latched: later requests, even in a quiet later second, stay abuse. */
  ck_assert_msg (hub_rate_limiter_check (&rl, T0 + 2 * S - 1) == HUB_RATE_ABUSE,
                 "abuse is returned for later requests");
  ck_assert_msg (hub_rate_limiter_check (&rl, T0 + 60 * S) == HUB_RATE_ABUSE,
                 "abuse stays latched");
}
END_TEST

START_TEST (test_abuse_threshold_exact)
{
  HubRateLimiter rl;
  Tally a, b;

  /* Exactly 10 × rate in each second is not "more than". */
  hub_rate_limiter_init (&rl, 10, 20, T0);
  a = send_spread (&rl, 100, T0, S);
  b = send_spread (&rl, 100, T0 + S, S);
  ck_assert_uint_eq (a.abuse + b.abuse, 0);
}
END_TEST

START_TEST (test_abusive_then_quiet)
{
  HubRateLimiter rl;
  Tally t;

  hub_rate_limiter_init (&rl, 10, 20, T0);
  t = send_spread (&rl, 200, T0, S);
  ck_assert_uint_eq (t.abuse, 0);
  /* A quiet second (a few requests) breaks the streak. */
  t = send_spread (&rl, 3, T0 + S, S);
  ck_assert_uint_eq (t.abuse, 0);
  t = send_spread (&rl, 200, T0 + 2 * S, S);
  ck_assert_msg (t.abuse == 0, "abusive, quiet, abusive: never two in a row");
  t = send_spread (&rl, 200, T0 + 3 * S, S);
  ck_assert_msg (t.abuse > 0, "but the next abusive second makes two in a row");
}
END_TEST

START_TEST (test_gap_resets)
{
  HubRateLimiter rl;
  Tally t;

  hub_rate_limiter_init (&rl, 10, 20, T0);
  t = send_spread (&rl, 200, T0, S);
  ck_assert_uint_eq (t.abuse, 0);
  /* Nothing in [T0+1s, T0+2s): the next burst is not consecutive. */
  t = send_spread (&rl, 200, T0 + 2 * S, S);
  ck_assert_msg (t.abuse == 0, "an idle window in between resets the streak");
  /* Windows stay aligned to the first request: a burst straddling the
   * T0+4s boundary is split over two windows of 100 each: not abuse. */
  t = send_spread (&rl, 200, T0 + 3 * S + 500 * MS, S);
  ck_assert_msg (t.abuse == 0, "100 + 100 across aligned windows is not abusive");
}
END_TEST

START_TEST (test_window_aligned_to_first_request)
{
  HubRateLimiter rl;
  Tally t;

  /* init at T0, first request 300 ms later: windows start at T0 + 300 ms. */
  hub_rate_limiter_init (&rl, 10, 20, T0);
  t = send_spread (&rl, 101, T0 + 300 * MS, 700 * MS);
  ck_assert_uint_eq (t.abuse, 0);
  /* Still in the first window (ends at T0 + 1.3 s): 101 + 101 here. */
  t = send_spread (&rl, 101, T0 + 1000 * MS, 250 * MS);
  ck_assert_uint_eq (t.abuse, 0);
  /* Next window: more than 100 again → abuse. */
  t = send_spread (&rl, 101, T0 + 1300 * MS, 900 * MS);
  ck_assert_uint_eq (t.abuse, 1);
}
END_TEST

START_TEST (test_disabled)
{
  HubRateLimiter rl;
  Tally t;

  hub_rate_limiter_init (&rl, 0, 0, T0);
  t = send_spread (&rl, 100000, T0, 2 * S);
  ck_assert_uint_eq (t.ok, 100000);
  hub_rate_limiter_init (&rl, -1, 5, T0);
  t = send_spread (&rl, 10000, T0, 0);
  ck_assert_uint_eq (t.ok, 10000);
}
END_TEST

static void
add (Suite *s, const char *name, const TTest *test)
{
  TCase *tc = tcase_create (name);

  tcase_add_test (tc, test);
  suite_add_tcase (s, tc);
}

static Suite *
rate_limiter_suite (void)
{
  Suite *s = suite_create ("rate-limiter");

  add (s, "burst_then_limited", test_burst_then_limited);
  add (s, "refill", test_refill);
  add (s, "fractional_refill", test_fractional_refill);
  add (s, "cap_at_burst", test_cap_at_burst);
  add (s, "sustained_rate", test_sustained_rate);
  add (s, "abuse_two_consecutive_seconds", test_abuse_two_consecutive_seconds);
  add (s, "abuse_threshold_exact", test_abuse_threshold_exact);
  add (s, "abusive_then_quiet", test_abusive_then_quiet);
  add (s, "gap_resets", test_gap_resets);
  add (s, "window_aligned_to_first_request", test_window_aligned_to_first_request);
  add (s, "disabled", test_disabled);
  return s;
}

int
main (void)
{
  SRunner *sr = srunner_create (rate_limiter_suite ());
  int failed;

  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
