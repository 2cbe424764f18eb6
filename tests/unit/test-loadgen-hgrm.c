/* test-loadgen-hgrm.c: a histogram written out and read back: the JSON
 * buckets give back the very histogram (every bucket, the extremes, the sum:
 * what merging the reports of several loadgens needs), a description of
 * another layout is refused, merging two read back equals recording both,
 * and the .hgrm holds the report's quantiles exactly. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "hub-lg-hgrm.h"

static HubLgHistogram *
sample (guint32 seed, guint n)
{
  HubLgHistogram *h = hub_lg_histogram_new ();
  GRand *rand = g_rand_new_with_seed (seed);

  /* Log-uniform from 10 µs to 10 s, in ns: every order of magnitude has values. */
  for (guint i = 0; i < n; i++)
    hub_lg_histogram_record (h, (gint64)pow (10, g_rand_double_range (rand, 4, 10)));
  g_rand_free (rand);
  return h;
}

static JsonObject *
round_trip_json (const HubLgHistogram *h)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *text = NULL;

  /* Through text, as a report file goes. */
  json_node_take_object (node, hub_lg_histogram_to_json (h));
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  ck_assert_msg (json_parser_load_from_data (parser, text, -1, NULL), "the JSON parses");
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
assert_same (const HubLgHistogram *a, const HubLgHistogram *b)
{
  ck_assert_uint_eq (hub_lg_histogram_count (a), hub_lg_histogram_count (b));
  ck_assert_int_eq (hub_lg_histogram_min (a), hub_lg_histogram_min (b));
  ck_assert_int_eq (hub_lg_histogram_max (a), hub_lg_histogram_max (b));
  ck_assert_msg (fabs (hub_lg_histogram_sum (a) - hub_lg_histogram_sum (b)) <=
                     1e-12 * hub_lg_histogram_sum (a),
                 "the sums agree");
  for (guint i = 0; i < hub_lg_histogram_n_buckets (); i++)
    ck_assert_msg (hub_lg_histogram_bucket_count (a, i) == hub_lg_histogram_bucket_count (b, i),
                   "bucket %u: %" G_GUINT64_FORMAT " and %" G_GUINT64_FORMAT, i,
                   hub_lg_histogram_bucket_count (a, i), hub_lg_histogram_bucket_count (b, i));
  for (double q = 0.01; q <= 1.0; q += 0.01)
    ck_assert_int_eq (hub_lg_histogram_quantile (a, q), hub_lg_histogram_quantile (b, q));
}

START_TEST (test_json_round_trip)
{
  g_autoptr (HubLgHistogram) h = sample (1, 20000);
  g_autoptr (JsonObject) o = round_trip_json (h);
  g_autoptr (GError) error = NULL;
  g_autoptr (HubLgHistogram) back = hub_lg_histogram_from_json (o, &error);

  ck_assert_msg (back != NULL, "read back: %s", error ? error->message : "");
  assert_same (h, back);
}
END_TEST

START_TEST (test_merge_of_read_back)
{
  g_autoptr (HubLgHistogram) a = sample (2, 5000);
  g_autoptr (HubLgHistogram) b = sample (3, 7000);
  g_autoptr (HubLgHistogram) both = hub_lg_histogram_new ();
  g_autoptr (JsonObject) ja = round_trip_json (a);
  g_autoptr (JsonObject) jb = round_trip_json (b);
  g_autoptr (HubLgHistogram) ra = hub_lg_histogram_from_json (ja, NULL);
  g_autoptr (HubLgHistogram) rb = hub_lg_histogram_from_json (jb, NULL);

  hub_lg_histogram_merge (both, a);
  hub_lg_histogram_merge (both, b);
  hub_lg_histogram_merge (ra, rb);
  assert_same (both, ra);
}
END_TEST

START_TEST (test_other_layouts_refused)
{
  g_autoptr (HubLgHistogram) h = sample (4, 100);
  g_autoptr (JsonObject) bits = round_trip_json (h);
  g_autoptr (JsonObject) bounds = round_trip_json (h);
  g_autoptr (JsonObject) count = round_trip_json (h);
  g_autoptr (GError) e1 = NULL;
  g_autoptr (GError) e2 = NULL;
  g_autoptr (GError) e3 = NULL;
  JsonArray *first;

  json_object_set_int_member (bits, "sub_bucket_bits", 11); /* HdrHistogram's 3 digits */
  ck_assert_msg (hub_lg_histogram_from_json (bits, &e1) == NULL && e1 != NULL,
                 "another sub_bucket_bits is refused");
  first = json_array_get_array_element (json_object_get_array_member (bounds, "buckets"), 0);
  json_array_remove_element (first, 1);
  json_array_add_int_element (first, 3); /* [low, count, 3]: not a bucket's bounds */
  ck_assert_msg (hub_lg_histogram_from_json (bounds, &e2) == NULL && e2 != NULL,
                 "bounds that are not a bucket's are refused");
  json_object_set_int_member (count, "count", 101);
  ck_assert_msg (hub_lg_histogram_from_json (count, &e3) == NULL && e3 != NULL,
                 "a count the buckets do not add up to is refused");
}
END_TEST

START_TEST (test_hgrm_rows)
{
  g_autoptr (HubLgHistogram) h = sample (5, 10000);
  g_autofree char *text = hub_lg_histogram_to_hgrm (h);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  const double levels[] = {0.5, 0.9, 0.99, 0.999};
  guint found = 0, rows = 0;
  double last_level = -1, last_value = -1;

  ck_assert_msg (g_str_has_prefix (text, "       Value     Percentile TotalCount 1/(1-Percentile)"),
                 "HdrHistogram's header");
  for (guint i = 0; lines[i] != NULL; i++) {
    double value, level;
    char *end;

    if (lines[i][0] == '#' || strstr (lines[i], "Value") != NULL || lines[i][0] == '\0')
      continue;
    value = g_ascii_strtod (lines[i], &end);
    level = g_ascii_strtod (end, &end);
    rows++;
    ck_assert_msg (level >= last_level && value >= last_value, "rows ascend: %s", lines[i]);
    last_level = level;
    last_value = value;
    for (guint k = 0; k < G_N_ELEMENTS (levels); k++) {
      if (level == levels[k]) {
        found++;
        ck_assert_msg (value == round (hub_lg_histogram_quantile (h, levels[k]) / 1e3) / 1e3,
                       "the %.3f row is the quantile the report prints: %s", levels[k], lines[i]);
      }
    }
  }
  ck_assert_uint_eq (found, G_N_ELEMENTS (levels));
  ck_assert_msg (last_level == 1.0 && rows > 40, "ends at 100%% after %u rows", rows);
  ck_assert_msg (strstr (text, "#[Max     = ") != NULL, "the footer");
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("loadgen-hgrm");
  struct {
    const char *name;
    const TTest *test;
  } cases[] = {
      {"json_round_trip", test_json_round_trip},
      {"merge_of_read_back", test_merge_of_read_back},
      {"other_layouts_refused", test_other_layouts_refused},
      {"hgrm_rows", test_hgrm_rows},
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
