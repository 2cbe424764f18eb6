/* hub-lg-hgrm.c: the JSON buckets and the .hgrm percentile distribution of
 * a HubLgHistogram. */
#include "hub-lg-hgrm.h"

#include <gio/gio.h>
#include <math.h>

/* Milliseconds with 3 decimals, rounded as the JSON report rounds them. */
static double
ms (gint64 ns)
{
  return round (ns / 1e3) / 1e3;
}

JsonObject *
hub_lg_histogram_to_json (const HubLgHistogram *h)
{
  JsonObject *o = json_object_new ();
  JsonArray *buckets = json_array_new ();

  json_object_set_string_member (o, "unit", "ns");
  json_object_set_int_member (o, "sub_bucket_bits", HUB_LG_HISTOGRAM_SUB_BITS);
  json_object_set_int_member (o, "count", (gint64)hub_lg_histogram_count (h));
  json_object_set_int_member (o, "min", hub_lg_histogram_min (h));
  json_object_set_int_member (o, "max", hub_lg_histogram_max (h));
  json_object_set_double_member (o, "sum", hub_lg_histogram_sum (h));
  for (guint b = 0; b < hub_lg_histogram_n_buckets (); b++) {
    guint64 n = hub_lg_histogram_bucket_count (h, b);
    JsonArray *bucket;

    if (n == 0)
      continue;
    bucket = json_array_new ();
    json_array_add_int_element (bucket, hub_lg_histogram_bucket_low (b));
    json_array_add_int_element (bucket, hub_lg_histogram_bucket_high (b));
    json_array_add_int_element (bucket, (gint64)n);
    json_array_add_array_element (buckets, bucket);
  }
  json_object_set_array_member (o, "buckets", buckets);
  return o;
}

static gboolean
int_member (JsonObject *o, const char *name, gint64 *value)
{
  JsonNode *node = json_object_get_member (o, name);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *value = json_node_get_int (node);
  return TRUE;
}

HubLgHistogram *
hub_lg_histogram_from_json (JsonObject *o, GError **error)
{
  g_autoptr (HubLgHistogram) h = hub_lg_histogram_new ();
  JsonNode *buckets_node = json_object_get_member (o, "buckets");
  JsonNode *sum_node = json_object_get_member (o, "sum");
  gint64 bits = 0, count = 0, min = 0, max = 0;
  JsonArray *buckets;

  if (!int_member (o, "sub_bucket_bits", &bits) || bits != HUB_LG_HISTOGRAM_SUB_BITS ||
      !int_member (o, "count", &count) || !int_member (o, "min", &min) ||
      !int_member (o, "max", &max) || sum_node == NULL || !JSON_NODE_HOLDS_VALUE (sum_node) ||
      buckets_node == NULL || !JSON_NODE_HOLDS_ARRAY (buckets_node)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "not a histogram with sub_bucket_bits %d, count, min, max, sum and buckets",
                 HUB_LG_HISTOGRAM_SUB_BITS);
    return NULL;
  }
  buckets = json_node_get_array (buckets_node);
  for (guint i = 0; i < json_array_get_length (buckets); i++) {
    JsonNode *node = json_array_get_element (buckets, i);
    JsonArray *bucket = JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
    gint64 low, high, n;
    guint index;

    if (bucket == NULL || json_array_get_length (bucket) != 3) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "bucket %u is not [low, high, count]", i);
      return NULL;
    }
    low = json_array_get_int_element (bucket, 0);
    high = json_array_get_int_element (bucket, 1);
    n = json_array_get_int_element (bucket, 2);
    index = hub_lg_histogram_bucket_of (low);
    if (n < 0 || hub_lg_histogram_bucket_low (index) != low ||
        hub_lg_histogram_bucket_high (index) != high) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "bucket %u [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                   "] is not a bucket of this layout",
                   i, low, high);
      return NULL;
    }
    hub_lg_histogram_restore (h, index, (guint64)n);
  }
  if ((gint64)hub_lg_histogram_count (h) != count) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "the buckets hold %" G_GUINT64_FORMAT " values, count says %" G_GINT64_FORMAT,
                 hub_lg_histogram_count (h), count);
    return NULL;
  }
  hub_lg_histogram_restore_summary (h, min, max, json_node_get_double (sum_node));
  return g_steal_pointer (&h);
}

/* The count of values in buckets up to the one holding @value. */
static guint64
count_up_to (const HubLgHistogram *h, gint64 value)
{
  guint last = hub_lg_histogram_bucket_of (value);
  guint64 n = 0;

  for (guint b = 0; b <= last; b++)
    n += hub_lg_histogram_bucket_count (h, b);
  return n;
}

static int
compare_levels (gconstpointer a, gconstpointer b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y ? 1 : 0;
}

static void
append_line (GString *s, const HubLgHistogram *h, double level)
{
  gint64 value = hub_lg_histogram_quantile (h, MAX (level, 1e-12));
  double p = level;

  if (p < 1.0)
    g_string_append_printf (s, "%12.3f %2.12f %10" G_GUINT64_FORMAT " %14.2f\n", ms (value), p,
                            count_up_to (h, value), 1.0 / (1.0 - p));
  else
    g_string_append_printf (s, "%12.3f %2.12f %10" G_GUINT64_FORMAT "\n", ms (value), 1.0,
                            hub_lg_histogram_count (h));
}

char *
hub_lg_histogram_to_hgrm (const HubLgHistogram *h)
{
  GString *s = g_string_new (NULL);
  g_autoptr (GArray) levels = g_array_new (FALSE, FALSE, sizeof (double));
  static const double exact[] = {0.5, 0.9, 0.99, 0.999};
  guint64 count = hub_lg_histogram_count (h);
  double mean = hub_lg_histogram_mean (h), variance = 0;

  g_string_append_printf (s, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
                          "1/(1-Percentile)");
  if (count > 0) {
    /* HdrHistogram's percentile iterator, 5 ticks per half distance: the
     * step halves each time the distance to 100 % does; it stops where one
     * value is less than the step (1/(1-p) beyond the count). */
    for (double level = 0; level < 1.0 && 1.0 / (1.0 - level) <= (double)count;) {
      double ticks = 5 * pow (2, floor (log2 (1.0 / (1.0 - level))) + 1);

      g_array_append_val (levels, level);
      level += 1.0 / ticks;
    }
    /* The report's own quantiles, exactly (a tick that only misses one by
     * rounding becomes it). */
    for (guint i = 0; i < G_N_ELEMENTS (exact); i++) {
      gboolean there = FALSE;

      for (guint k = 0; k < levels->len && !there; k++) {
        double *level = &g_array_index (levels, double, k);

        if (fabs (*level - exact[i]) < 1e-9) {
          *level = exact[i];
          there = TRUE;
        }
      }
      if (!there)
        g_array_append_val (levels, exact[i]);
    }
    g_array_sort (levels, compare_levels);
    for (guint k = 0; k < levels->len; k++)
      append_line (s, h, g_array_index (levels, double, k));
    append_line (s, h, 1.0);
    for (guint b = 0; b < hub_lg_histogram_n_buckets (); b++) {
      guint64 n = hub_lg_histogram_bucket_count (h, b);
      double mid, d;

      if (n == 0)
        continue;
      mid = (hub_lg_histogram_bucket_low (b) + hub_lg_histogram_bucket_high (b)) / 2.0;
      d = mid - mean;
      variance += d * d * (double)n;
    }
    variance /= (double)count;
  }
  g_string_append_printf (s, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", mean / 1e6,
                          sqrt (variance) / 1e6);
  g_string_append_printf (s, "#[Max     = %12.3f, Total count    = %12" G_GUINT64_FORMAT "]\n",
                          ms (hub_lg_histogram_max (h)), count);
  g_string_append_printf (s, "#[Buckets = %12u, SubBuckets     = %12u]\n",
                          hub_lg_histogram_n_buckets () >> HUB_LG_HISTOGRAM_SUB_BITS,
                          1u << HUB_LG_HISTOGRAM_SUB_BITS);
  return g_string_free (s, FALSE);
}
