/* test-loadgen-histogram.c: hub-loadgen's latency histogram: bucket bounds
 * hold the promised relative error, quantiles are never below the true value
 * and at most 2^-7 above it, merge and reset, the exact extremes. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "hub-lg-histogram.h"

#define REL_ERROR (1.0 / (1 << HUB_LG_HISTOGRAM_SUB_BITS))

START_TEST (test_small_values_are_exact)
{
  g_autoptr (HubLgHistogram) h = hub_lg_histogram_new ();

  for (gint64 v = 1; v <= 100; v++)
    hub_lg_histogram_record (h, v);
  ck_assert_msg (hub_lg_histogram_count (h) == 100, "100 values recorded");
  ck_assert_msg (hub_lg_histogram_quantile (h, 0.5) == 50,
                 "p50 of 1..100 should be 50, got %" G_GINT64_FORMAT,
                 hub_lg_histogram_quantile (h, 0.5));
  ck_assert_msg (hub_lg_histogram_quantile (h, 0.99) == 99,
                 "p99 of 1..100 should be 99, got %" G_GINT64_FORMAT,
                 hub_lg_histogram_quantile (h, 0.99));
  ck_assert_msg (hub_lg_histogram_quantile (h, 1.0) == 100, "p100 should be the max");
  ck_assert_msg (hub_lg_histogram_min (h) == 1 && hub_lg_histogram_max (h) == 100,
                 "min 1 and max 100 are exact");
  ck_assert_msg (hub_lg_histogram_mean (h) == 50.5, "mean of 1..100 is 50.5, got %f",
                 hub_lg_histogram_mean (h));
}
END_TEST

START_TEST (test_bucket_width_is_bounded)
{
  /* Every bucket's width is at most REL_ERROR of its lower bound, buckets
   * tile the line without gaps, and each value lands in a bucket holding it. */
  gint64 prev_high = -1;

  for (guint b = 0; b < 40 * 128; b++) {
    gint64 low = hub_lg_histogram_bucket_low (b), high = hub_lg_histogram_bucket_high (b);

    ck_assert_msg (low == prev_high + 1,
                   "bucket %u should start at %" G_GINT64_FORMAT ", starts at %" G_GINT64_FORMAT, b,
                   prev_high + 1, low);
    ck_assert_msg (high >= low, "bucket %u is not empty", b);
    ck_assert_msg ((double)(high - low) <= REL_ERROR * (double)MAX (low, 1),
                   "bucket %u [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] is too wide", b, low,
                   high);
    ck_assert_msg (hub_lg_histogram_bucket_of (low) == b && hub_lg_histogram_bucket_of (high) == b,
                   "the ends of bucket %u map back to it", b);
    prev_high = high;
  }
}
END_TEST

static int
compare_i64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;

  return x < y ? -1 : x > y;
}

START_TEST (test_quantiles_within_error)
{
  g_autoptr (HubLgHistogram) h = hub_lg_histogram_new ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (42);
  const guint n = 20000;
  gint64 *values = g_new (gint64, n);
  const double qs[] = {0.5, 0.9, 0.99, 0.999, 1.0};

  /* Latencies spread over six decades, in ns. */
  for (guint i = 0; i < n; i++) {
    values[i] = (gint64)(1000.0 * pow (10, g_rand_double_range (rand, 0, 6)));
    hub_lg_histogram_record (h, values[i]);
  }
  qsort (values, n, sizeof *values, compare_i64);
  for (guint i = 0; i < G_N_ELEMENTS (qs); i++) {
    guint rank = (guint)ceil (qs[i] * n);
    gint64 truth = values[rank - 1], got = hub_lg_histogram_quantile (h, qs[i]);

    ck_assert_msg (got >= truth, "q%g: %" G_GINT64_FORMAT " is below the true %" G_GINT64_FORMAT,
                   qs[i], got, truth);
    ck_assert_msg ((double)(got - truth) <= REL_ERROR * (double)truth,
                   "q%g: %" G_GINT64_FORMAT " is more than 2^-7 above the true %" G_GINT64_FORMAT,
                   qs[i], got, truth);
  }
  ck_assert_msg (hub_lg_histogram_max (h) == values[n - 1], "the max is exact");
  ck_assert_msg (hub_lg_histogram_min (h) == values[0], "the min is exact");
  g_free (values);
}
END_TEST

START_TEST (test_merge_and_reset)
{
  g_autoptr (HubLgHistogram) a = hub_lg_histogram_new ();
  g_autoptr (HubLgHistogram) b = hub_lg_histogram_new ();
  g_autoptr (HubLgHistogram) empty = hub_lg_histogram_new ();

  for (gint64 v = 1; v <= 50; v++)
    hub_lg_histogram_record (a, v);
  for (gint64 v = 51; v <= 100; v++)
    hub_lg_histogram_record (b, v);
  hub_lg_histogram_merge (a, empty);
  ck_assert_msg (hub_lg_histogram_count (a) == 50 && hub_lg_histogram_min (a) == 1,
                 "merging an empty histogram changes nothing");
  hub_lg_histogram_merge (a, b);
  ck_assert_msg (hub_lg_histogram_count (a) == 100, "merge adds the counts");
  ck_assert_msg (hub_lg_histogram_quantile (a, 0.5) == 50, "merged p50 is 50");
  ck_assert_msg (hub_lg_histogram_max (a) == 100 && hub_lg_histogram_min (a) == 1,
                 "merged extremes");
  hub_lg_histogram_merge (empty, b);
  ck_assert_msg (hub_lg_histogram_min (empty) == 51, "merging into an empty one takes the min");
  hub_lg_histogram_reset (a);
  ck_assert_msg (hub_lg_histogram_count (a) == 0 && hub_lg_histogram_quantile (a, 0.99) == 0 &&
                     hub_lg_histogram_max (a) == 0,
                 "reset forgets everything");
}
END_TEST

START_TEST (test_extremes_and_counts)
{
  g_autoptr (HubLgHistogram) h = hub_lg_histogram_new ();
  gint64 huge = G_GINT64_CONSTANT (1) << 60;

  ck_assert_msg (hub_lg_histogram_quantile (h, 0.5) == 0, "an empty histogram answers 0");
  hub_lg_histogram_record (h, -5);
  ck_assert_msg (hub_lg_histogram_min (h) == 0, "a negative value counts as 0");
  hub_lg_histogram_record (h, huge);
  ck_assert_msg (hub_lg_histogram_max (h) == huge, "the max is kept exactly even beyond the range");
  ck_assert_msg (hub_lg_histogram_quantile (h, 1.0) <= huge,
                 "the top quantile is capped at the max");
  hub_lg_histogram_record_n (h, 1000, 98);
  ck_assert_msg (hub_lg_histogram_count (h) == 100, "record_n counts n times");
  ck_assert_msg (hub_lg_histogram_quantile (h, 0.5) >= 1000 &&
                     hub_lg_histogram_quantile (h, 0.5) <= 1000 * (1 + REL_ERROR),
                 "p50 lands in 1000's bucket");
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("loadgen-histogram");
  struct {
    const char *name;
    const TTest *test;
  } cases[] = {
      {"exact", test_small_values_are_exact}, {"buckets", test_bucket_width_is_bounded},
      {"error", test_quantiles_within_error}, {"merge", test_merge_and_reset},
      {"extremes", test_extremes_and_counts},
  };
  SRunner *sr;
  int failed;

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    TCase *tc = tcase_create (cases[i].name);

    tcase_add_test (tc, cases[i].test);
    suite_add_tcase (s, tc);
  }
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}
