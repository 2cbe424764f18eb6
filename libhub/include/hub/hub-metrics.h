/* hub-metrics.h: a small Prometheus registry: counter and histogram families
 * with at most one label, rendered in the text exposition format (0.0.4).
 * Single-threaded, like the rest of the core. The dispatcher keeps one for a
 * node's own figures (hub_dispatcher_get_metrics); a transport adds to it. */
#pragma once

#include <glib.h>

#include "hub-api.h"

G_BEGIN_DECLS

typedef struct _HubMetrics HubMetrics;
typedef struct _HubMetric HubMetric;             /* one family, owned by its registry */
typedef struct _HubMetricSeries HubMetricSeries; /* one series of a family, owned by it */

HUB_API
HubMetrics *hub_metrics_new (void);
HUB_API
void hub_metrics_free (HubMetrics *m);

/* A counter family named @name (Prometheus naming: ends in _total) with
 * the label @label (NULL: no label; then give NULL as label value). The
 * strings are static or outlive @m. (transfer none) */
HUB_API
HubMetric *hub_metrics_add_counter (HubMetrics *m, const char *name, const char *help,
                                    const char *label);
/* A histogram family: @bounds (copied) are the upper bounds of its buckets,
 * ascending, in the unit of the observed values (seconds, by convention);
 * the +Inf bucket is implied. (transfer none) */
HUB_API
HubMetric *hub_metrics_add_histogram (HubMetrics *m, const char *name, const char *help,
                                      const char *label, const double *bounds, guint n_bounds);

/* Makes the series of @label_value exist (rendered as 0 until counted), so
 * a rate over it starts at the first scrape. */
HUB_API
void hub_metric_declare (HubMetric *metric, const char *label_value);
/* Adds @n to a counter's series @label_value (copied on first use). */
HUB_API
void hub_metric_inc (HubMetric *metric, const char *label_value, guint64 n);
/* Counts @n observations of @value in a histogram's series @label_value. */
HUB_API
void hub_metric_observe (HubMetric *metric, const char *label_value, double value, guint64 n);
/* The series of @label_value (made if needed), for a hot path that would
 * rather not look its label up each time; valid as long as @metric. (transfer none) */
HUB_API
HubMetricSeries *hub_metric_series (HubMetric *metric, const char *label_value);
/* hub_metric_inc() and hub_metric_observe() on a series found before. */
HUB_API
void hub_metric_series_inc (HubMetricSeries *series, guint64 n);
HUB_API
void hub_metric_series_observe (HubMetricSeries *series, double value, guint64 n);
/* A counter's value, or a histogram's count of observations; 0 for a series
 * never counted. */
HUB_API
guint64 hub_metric_get (HubMetric *metric, const char *label_value);

/* A function that appends families of its own to the exposition, for
 * figures read when scraped (a process's CPU time, …). */
typedef void (*HubMetricsCollectFunc) (GString *out, gpointer user_data);
/* Calls @func at every render, after the families. */
HUB_API
void hub_metrics_add_collector (HubMetrics *m, HubMetricsCollectFunc func, gpointer user_data);

/* Appends every family, in the order they were added, series sorted by label,
 * then what the collectors append. */
HUB_API
void hub_metrics_render (HubMetrics *m, GString *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubMetrics, hub_metrics_free)

G_END_DECLS
