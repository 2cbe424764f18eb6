/* hub-metrics.c: the registry: families in a list, each with its series in
 * a hash table by label value (one series without a label). A histogram's
 * series holds a count per bucket (not cumulative; the exposition sums them). */
#include "hub/hub-metrics.h"

#include <stdlib.h>
#include <string.h>

typedef enum {
  KIND_COUNTER,
  KIND_HISTOGRAM,
} Kind;

struct _HubMetricSeries {
  const HubMetric *metric; /* (unowned) its family */
  guint64 value;           /* counter: its value; histogram: its count */
  double sum;              /* histogram: the sum of the observations */
  guint64 *buckets;        /* (owned) (nullable) histogram: per bucket, n_bounds + 1 */
};
typedef HubMetricSeries Series;

struct _HubMetric {
  Kind kind;
  const char *name;  /* (unowned) */
  const char *help;  /* (unowned) */
  const char *label; /* (unowned) (nullable) */
  double *bounds;    /* (owned) (nullable) */
  guint n_bounds;
  GHashTable *series; /* label value (owned; "" without a label) → Series (owned) */
};

typedef struct {
  HubMetricsCollectFunc func;
  gpointer user_data;
} Collector;

struct _HubMetrics {
  GPtrArray *families; /* HubMetric (owned) */
  GArray *collectors;  /* Collector */
};

static void
series_free (gpointer data)
{
  Series *s = data;

  g_free (s->buckets);
  g_free (s);
}

static void
metric_free (gpointer data)
{
  HubMetric *metric = data;

  g_hash_table_unref (metric->series);
  g_free (metric->bounds);
  g_free (metric);
}

HubMetrics *
hub_metrics_new (void)
{
  HubMetrics *m = g_new0 (HubMetrics, 1);

  m->families = g_ptr_array_new_with_free_func (metric_free);
  m->collectors = g_array_new (FALSE, FALSE, sizeof (Collector));
  return m;
}

void
hub_metrics_free (HubMetrics *m)
{
  if (m == NULL)
    return;
  g_ptr_array_unref (m->families);
  g_array_unref (m->collectors);
  g_free (m);
}

static HubMetric *
add (HubMetrics *m, Kind kind, const char *name, const char *help, const char *label)
{
  HubMetric *metric = g_new0 (HubMetric, 1);

  metric->kind = kind;
  metric->name = name;
  metric->help = help;
  metric->label = label;
  metric->series = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, series_free);
  g_ptr_array_add (m->families, metric);
  return metric;
}

HubMetric *
hub_metrics_add_counter (HubMetrics *m, const char *name, const char *help, const char *label)
{
  g_return_val_if_fail (m != NULL && name != NULL && help != NULL, NULL);
  return add (m, KIND_COUNTER, name, help, label);
}

HubMetric *
hub_metrics_add_histogram (HubMetrics *m, const char *name, const char *help, const char *label,
                           const double *bounds, guint n_bounds)
{
  HubMetric *metric;

  g_return_val_if_fail (m != NULL && name != NULL && help != NULL, NULL);
  g_return_val_if_fail (bounds != NULL && n_bounds > 0, NULL);
  metric = add (m, KIND_HISTOGRAM, name, help, label);
  metric->bounds = g_new (double, n_bounds);
  memcpy (metric->bounds, bounds, n_bounds * sizeof (double));
  metric->n_bounds = n_bounds;
  return metric;
}

static Series *
series_get (HubMetric *metric, const char *label_value)
{
  const char *key = metric->label != NULL && label_value != NULL ? label_value : "";
  Series *s = g_hash_table_lookup (metric->series, key);

  if (s == NULL) {
    s = g_new0 (Series, 1);
    s->metric = metric;
    if (metric->kind == KIND_HISTOGRAM)
      s->buckets = g_new0 (guint64, metric->n_bounds + 1);
    g_hash_table_insert (metric->series, g_strdup (key), s);
  }
  return s;
}

void
hub_metric_declare (HubMetric *metric, const char *label_value)
{
  g_return_if_fail (metric != NULL);
  series_get (metric, label_value);
}

void
hub_metric_inc (HubMetric *metric, const char *label_value, guint64 n)
{
  g_return_if_fail (metric != NULL && metric->kind == KIND_COUNTER);
  series_get (metric, label_value)->value += n;
}

void
hub_metric_observe (HubMetric *metric, const char *label_value, double value, guint64 n)
{
  g_return_if_fail (metric != NULL && metric->kind == KIND_HISTOGRAM);
  hub_metric_series_observe (series_get (metric, label_value), value, n);
}

HubMetricSeries *
hub_metric_series (HubMetric *metric, const char *label_value)
{
  g_return_val_if_fail (metric != NULL, NULL);
  return series_get (metric, label_value);
}

void
hub_metric_series_inc (HubMetricSeries *series, guint64 n)
{
  series->value += n;
}

void
hub_metric_series_observe (HubMetricSeries *s, double value, guint64 n)
{
  const HubMetric *metric = s->metric;
  guint i = 0;

  while (i < metric->n_bounds && value > metric->bounds[i])
    i++;
  s->buckets[i] += n;
  s->value += n;
  s->sum += value * (double)n;
}

guint64
hub_metric_get (HubMetric *metric, const char *label_value)
{
  const char *key;
  const Series *s;

  g_return_val_if_fail (metric != NULL, 0);
  key = metric->label != NULL && label_value != NULL ? label_value : "";
  s = g_hash_table_lookup (metric->series, key);
  return s != NULL ? s->value : 0;
}

/* A label value with \, " and newlines escaped (the exposition format's rule). */
static void
append_label_value (GString *out, const char *value)
{
  for (const char *p = value; *p != '\0'; p++) {
    if (*p == '\\' || *p == '"')
      g_string_append_c (out, '\\');
    if (*p == '\n')
      g_string_append (out, "\\n");
    else
      g_string_append_c (out, *p);
  }
}

/* "{label="value"" plus @extra (nullable, "le=\"…\"") and "}", or nothing
 * without a label or an extra. */
static void
append_labels (GString *out, const HubMetric *metric, const char *value, const char *extra)
{
  gboolean labelled = metric->label != NULL;

  if (!labelled && extra == NULL)
    return;
  g_string_append_c (out, '{');
  if (labelled) {
    g_string_append_printf (out, "%s=\"", metric->label);
    append_label_value (out, value);
    g_string_append_c (out, '"');
  }
  if (extra != NULL)
    g_string_append_printf (out, "%s%s", labelled ? "," : "", extra);
  g_string_append_c (out, '}');
}

static void
render_histogram (GString *out, const HubMetric *metric, const char *value, const Series *s)
{
  guint64 cumulative = 0;
  char le[64];

  for (guint i = 0; i <= metric->n_bounds; i++) {
    char bound[G_ASCII_DTOSTR_BUF_SIZE];

    cumulative += s->buckets[i];
    if (i < metric->n_bounds)
      g_snprintf (le, sizeof le, "le=\"%s\"",
                  g_ascii_formatd (bound, sizeof bound, "%g", metric->bounds[i]));
    else
      g_strlcpy (le, "le=\"+Inf\"", sizeof le);
    g_string_append_printf (out, "%s_bucket", metric->name);
    append_labels (out, metric, value, le);
    g_string_append_printf (out, " %" G_GUINT64_FORMAT "\n", cumulative);
  }
  {
    char sum[G_ASCII_DTOSTR_BUF_SIZE];

    g_string_append_printf (out, "%s_sum", metric->name);
    append_labels (out, metric, value, NULL);
    g_string_append_printf (out, " %s\n", g_ascii_formatd (sum, sizeof sum, "%.9g", s->sum));
  }
  g_string_append_printf (out, "%s_count", metric->name);
  append_labels (out, metric, value, NULL);
  g_string_append_printf (out, " %" G_GUINT64_FORMAT "\n", s->value);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

void
hub_metrics_add_collector (HubMetrics *m, HubMetricsCollectFunc func, gpointer user_data)
{
  Collector c = {func, user_data};

  g_return_if_fail (m != NULL && func != NULL);
  g_array_append_val (m->collectors, c);
}

void
hub_metrics_render (HubMetrics *m, GString *out)
{
  for (guint i = 0; i < m->families->len; i++) {
    const HubMetric *metric = g_ptr_array_index (m->families, i);
    g_autofree gpointer *keys = NULL;
    guint n = 0;

    g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", metric->name, metric->help,
                            metric->name, metric->kind == KIND_COUNTER ? "counter" : "histogram");
    keys = g_hash_table_get_keys_as_array (metric->series, &n);
    qsort (keys, n, sizeof (gpointer), compare_strings);
    for (guint k = 0; k < n; k++) {
      const Series *s = g_hash_table_lookup (metric->series, keys[k]);

      if (metric->kind == KIND_HISTOGRAM) {
        render_histogram (out, metric, keys[k], s);
        continue;
      }
      g_string_append (out, metric->name);
      append_labels (out, metric, keys[k], NULL);
      g_string_append_printf (out, " %" G_GUINT64_FORMAT "\n", s->value);
    }
  }
  for (guint i = 0; i < m->collectors->len; i++) {
    const Collector *c = &g_array_index (m->collectors, Collector, i);

    c->func (out, c->user_data);
  }
}
