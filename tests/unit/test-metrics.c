/* test-metrics.c: HubMetrics, the Prometheus registry: counters by label,
 * histograms with cumulative buckets, declared series, series handles, the
 * text exposition (HELP, TYPE, escaping, order). */
#include <check.h>
#include <hub/hub.h>
#include <string.h>

static char *
render (HubMetrics *m)
{
  GString *out = g_string_new (NULL);

  hub_metrics_render (m, out);
  return g_string_free (out, FALSE);
}

static void
expect_line (const char *text, const char *line)
{
  g_autofree char *needle = g_strconcat ("\n", line, "\n", NULL);
  g_autofree char *padded = g_strconcat ("\n", text, NULL);

  ck_assert_msg (strstr (padded, needle) != NULL, "expected the line \"%s\" in:\n%s", line, text);
}

START_TEST (counters_by_label)
{
  g_autoptr (HubMetrics) m = hub_metrics_new ();
  HubMetric *errors = hub_metrics_add_counter (m, "t_errors_total", "Errors.", "code");
  HubMetric *plain = hub_metrics_add_counter (m, "t_plain_total", "Plain.", NULL);
  g_autofree char *text = NULL;

  hub_metric_declare (errors, "internal");
  hub_metric_inc (errors, "bad_request", 2);
  hub_metric_inc (errors, "bad_request", 1);
  hub_metric_inc (plain, NULL, 5);
  ck_assert_uint_eq (hub_metric_get (errors, "bad_request"), 3);
  ck_assert_uint_eq (hub_metric_get (errors, "internal"), 0);
  ck_assert_uint_eq (hub_metric_get (errors, "never"), 0);
  ck_assert_uint_eq (hub_metric_get (plain, NULL), 5);
  text = render (m);
  expect_line (text, "# HELP t_errors_total Errors.");
  expect_line (text, "# TYPE t_errors_total counter");
  expect_line (text, "t_errors_total{code=\"bad_request\"} 3");
  expect_line (text, "t_errors_total{code=\"internal\"} 0");
  expect_line (text, "t_plain_total 5");
  ck_assert_msg (strstr (text, "bad_request") < strstr (text, "internal"),
                 "series sorted by label");
  ck_assert_msg (strstr (text, "t_errors_total") < strstr (text, "t_plain_total"),
                 "families in the order they were added");
}
END_TEST

START_TEST (histogram_buckets_are_cumulative)
{
  static const double bounds[] = {0.01, 0.1, 1};
  g_autoptr (HubMetrics) m = hub_metrics_new ();
  HubMetric *h = hub_metrics_add_histogram (m, "t_seconds", "Time.", "type", bounds, 3);
  HubMetricSeries *fast = hub_metric_series (h, "fast");
  g_autofree char *text = NULL;

  hub_metric_series_observe (fast, 0.005, 1); /* first bucket */
  hub_metric_series_observe (fast, 0.01, 1);  /* on the bound: le is inclusive */
  hub_metric_series_observe (fast, 0.5, 2);   /* third */
  hub_metric_observe (h, "fast", 7, 1);       /* +Inf */
  ck_assert_uint_eq (hub_metric_get (h, "fast"), 5);
  text = render (m);
  expect_line (text, "# TYPE t_seconds histogram");
  expect_line (text, "t_seconds_bucket{type=\"fast\",le=\"0.01\"} 2");
  expect_line (text, "t_seconds_bucket{type=\"fast\",le=\"0.1\"} 2");
  expect_line (text, "t_seconds_bucket{type=\"fast\",le=\"1\"} 4");
  expect_line (text, "t_seconds_bucket{type=\"fast\",le=\"+Inf\"} 5");
  expect_line (text, "t_seconds_sum{type=\"fast\"} 8.015");
  expect_line (text, "t_seconds_count{type=\"fast\"} 5");
}
END_TEST

START_TEST (unlabelled_histogram_and_escaping)
{
  static const double bounds[] = {1};
  g_autoptr (HubMetrics) m = hub_metrics_new ();
  HubMetric *h = hub_metrics_add_histogram (m, "t_lag", "Lag.", NULL, bounds, 1);
  HubMetric *c = hub_metrics_add_counter (m, "t_odd_total", "Odd.", "v");
  g_autofree char *text = NULL;

  hub_metric_declare (h, NULL);
  hub_metric_inc (c, "a\"b\\c\nd", 1);
  text = render (m);
  expect_line (text, "t_lag_bucket{le=\"1\"} 0");
  expect_line (text, "t_lag_bucket{le=\"+Inf\"} 0");
  expect_line (text, "t_lag_count 0");
  expect_line (text, "t_odd_total{v=\"a\\\"b\\\\c\\nd\"} 1");
}
END_TEST

static void
collect (GString *out, gpointer user_data)
{
  g_string_append_printf (out, "t_collected %d\n", ++*(int *)user_data);
}

START_TEST (collectors_append_at_each_render)
{
  g_autoptr (HubMetrics) m = hub_metrics_new ();
  int calls = 0;
  g_autofree char *first = NULL;
  g_autofree char *second = NULL;

  hub_metric_inc (hub_metrics_add_counter (m, "t_total", "T.", NULL), NULL, 1);
  hub_metrics_add_collector (m, collect, &calls);
  first = render (m);
  second = render (m);
  expect_line (first, "t_collected 1");
  expect_line (second, "t_collected 2");
  ck_assert_msg (strstr (first, "t_total 1") < strstr (first, "t_collected"),
                 "the collectors come after the families");
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("metrics");
  TCase *tc = tcase_create ("registry");
  SRunner *sr;
  int failed;

  tcase_add_test (tc, counters_by_label);
  tcase_add_test (tc, histogram_buckets_are_cumulative);
  tcase_add_test (tc, unlabelled_histogram_and_escaping);
  tcase_add_test (tc, collectors_append_at_each_render);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}
