/* test-loadgen-metrics.c: hub-loadgen's reader of the Prometheus text
 * (hub-lg-metrics.h): labelled series kept under their labels, timestamps
 * and comments skipped, and a cluster's sums taking the place of the node's
 * own figures, with the scope saying so. */
#include <check.h>

#include "hub-lg-metrics.h"

#define NODE_TEXT                                                                                  \
  "# HELP hub_deliveries_total Message frames queued to connections.\n"                            \
  "# TYPE hub_deliveries_total counter\n"                                                          \
  "hub_deliveries_total 120\n"                                                                     \
  "hub_messages_in_total 12 1700000000000\n"                                                       \
  "hub_errors_total{code=\"internal\"} 3\n"                                                        \
  "hub_errors_total{code=\"bad_request\"} 0\n"                                                     \
  "hub_request_duration_seconds_bucket{type=\"join\",le=\"0.001\"} 7\n"                            \
  "hub_request_duration_seconds_bucket{type=\"join\",le=\"+Inf\"} 9\n"                             \
  "odd_label{text=\"a } b \\\" c\"} 4\n"                                                           \
  "broken{code=\"x\" 5\n"                                                                          \
  "nan_value NaN\n"

START_TEST (labelled_series_are_read)
{
  g_autoptr (GHashTable) m = hub_lg_metrics_parse (NODE_TEXT);

  ck_assert_double_eq (hub_lg_metrics_get (m, "hub_deliveries_total", -1), 120);
  ck_assert_double_eq (hub_lg_metrics_get (m, "hub_messages_in_total", -1), 12);
  ck_assert_double_eq (hub_lg_metrics_get (m, "hub_errors_total{code=\"internal\"}", -1), 3);
  ck_assert_double_eq (hub_lg_metrics_get (m, "hub_errors_total{code=\"bad_request\"}", -1), 0);
  ck_assert_double_eq (
      hub_lg_metrics_get (m, "hub_request_duration_seconds_bucket{type=\"join\",le=\"+Inf\"}", -1),
      9);
  ck_assert_double_eq (hub_lg_metrics_get (m, "odd_label{text=\"a } b \\\" c\"}", -1), 4);
  ck_assert_double_eq (hub_lg_metrics_get (m, "broken{code=\"x\" 5", -1), -1);
  ck_assert_double_eq (hub_lg_metrics_get (m, "nan_value", -1), -1);
  ck_assert_str_eq (hub_lg_metrics_scope (m), "server");
}
END_TEST

START_TEST (a_cluster_answers_with_its_sums)
{
  g_autoptr (GHashTable) m = hub_lg_metrics_parse (NODE_TEXT "hub_cluster_deliveries_total 360\n"
                                                             "hub_cluster_messages_in_total 30\n"
                                                             "hub_cluster_connections 17\n");

  ck_assert_str_eq (hub_lg_metrics_scope (m), "cluster");
  ck_assert_double_eq (hub_lg_metrics_get (m, "hub_deliveries_total", -1), 360);
  ck_assert_double_eq (hub_lg_metrics_get (m, "hub_messages_in_total", -1), 30);
  ck_assert_double_eq (hub_lg_metrics_get (m, "hub_connections", -1), 17);
  ck_assert_double_eq (hub_lg_metrics_get (m, "node:hub_deliveries_total", -1), 120);
  ck_assert_double_eq (hub_lg_metrics_get (m, "node:hub_messages_in_total", -1), 12);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("loadgen-metrics");
  TCase *tc = tcase_create ("parse");
  SRunner *sr;
  int failed;

  tcase_add_test (tc, labelled_series_are_read);
  tcase_add_test (tc, a_cluster_answers_with_its_sums);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}
