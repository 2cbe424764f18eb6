/* hub-lg-histogram.c: log-linear buckets (an HDR-histogram layout). Values
 * below 2^SUB_BITS have a bucket each; above, each power of two [2^m, 2^(m+1))
 * is cut into 2^SUB_BITS equal buckets, so a bucket's width is at most
 * 2^-SUB_BITS of its lower bound. */
#include "hub-lg-histogram.h"

#include <string.h>

#define SUB_COUNT (1u << HUB_LG_HISTOGRAM_SUB_BITS)
/* Group 0: the exact values 0 … SUB_COUNT-1; group g ≥ 1: msb = SUB_BITS + g - 1. */
#define N_GROUPS  (HUB_LG_HISTOGRAM_MAX_BITS - HUB_LG_HISTOGRAM_SUB_BITS + 1)
#define N_BUCKETS (N_GROUPS * SUB_COUNT)
#define MAX_VALUE ((G_GINT64_CONSTANT (1) << HUB_LG_HISTOGRAM_MAX_BITS) - 1)

struct _HubLgHistogram {
  guint64 count;
  gint64 min, max;
  double sum;
  guint64 buckets[N_BUCKETS];
};

HubLgHistogram *
hub_lg_histogram_new (void)
{
  return g_new0 (HubLgHistogram, 1);
}

void
hub_lg_histogram_free (HubLgHistogram *histogram)
{
  g_free (histogram);
}

void
hub_lg_histogram_reset (HubLgHistogram *histogram)
{
  memset (histogram, 0, sizeof *histogram);
}

guint
hub_lg_histogram_bucket_of (gint64 value)
{
  guint64 v = value < 0 ? 0 : value > MAX_VALUE ? MAX_VALUE : (guint64)value;
  guint msb, shift;

  if (v < SUB_COUNT)
    return (guint)v;
  msb = 63 - (guint)__builtin_clzll (v);
  shift = msb - HUB_LG_HISTOGRAM_SUB_BITS;
  return (shift + 1) * SUB_COUNT + (guint)((v >> shift) & (SUB_COUNT - 1));
}

gint64
hub_lg_histogram_bucket_low (guint bucket)
{
  guint group = bucket / SUB_COUNT, sub = bucket % SUB_COUNT;

  if (group == 0)
    return sub;
  return (gint64)(SUB_COUNT + sub) << (group - 1);
}

gint64
hub_lg_histogram_bucket_high (guint bucket)
{
  guint group = bucket / SUB_COUNT;

  if (group == 0)
    return bucket;
  return hub_lg_histogram_bucket_low (bucket) + (G_GINT64_CONSTANT (1) << (group - 1)) - 1;
}

void
hub_lg_histogram_record_n (HubLgHistogram *histogram, gint64 value, guint64 count)
{
  if (count == 0)
    return;
  if (value < 0)
    value = 0;
  if (histogram->count == 0 || value < histogram->min)
    histogram->min = value;
  if (histogram->count == 0 || value > histogram->max)
    histogram->max = value;
  histogram->count += count;
  histogram->sum += (double)value * (double)count;
  histogram->buckets[hub_lg_histogram_bucket_of (value)] += count;
}

void
hub_lg_histogram_record (HubLgHistogram *histogram, gint64 value)
{
  hub_lg_histogram_record_n (histogram, value, 1);
}

void
hub_lg_histogram_merge (HubLgHistogram *into, const HubLgHistogram *from)
{
  if (from->count == 0)
    return;
  if (into->count == 0 || from->min < into->min)
    into->min = from->min;
  if (into->count == 0 || from->max > into->max)
    into->max = from->max;
  into->count += from->count;
  into->sum += from->sum;
  for (guint i = 0; i < N_BUCKETS; i++)
    into->buckets[i] += from->buckets[i];
}

guint64
hub_lg_histogram_count (const HubLgHistogram *histogram)
{
  return histogram->count;
}

gint64
hub_lg_histogram_min (const HubLgHistogram *histogram)
{
  return histogram->min;
}

gint64
hub_lg_histogram_max (const HubLgHistogram *histogram)
{
  return histogram->max;
}

double
hub_lg_histogram_mean (const HubLgHistogram *histogram)
{
  return histogram->count > 0 ? histogram->sum / (double)histogram->count : 0.0;
}

gint64
hub_lg_histogram_quantile (const HubLgHistogram *histogram, double quantile)
{
  guint64 rank, seen = 0;

  if (histogram->count == 0)
    return 0;
  quantile = CLAMP (quantile, 0.0, 1.0);
  /* The ⌈q·n⌉-th smallest value, 1-based; a tiny epsilon keeps 0.99·100 at 99. */
  rank = (guint64)(quantile * (double)histogram->count - 1e-9);
  if ((double)rank < quantile * (double)histogram->count - 1e-9)
    rank++;
  rank = CLAMP (rank, 1, histogram->count);
  for (guint i = 0; i < N_BUCKETS; i++) {
    seen += histogram->buckets[i];
    if (seen >= rank)
      return MIN (hub_lg_histogram_bucket_high (i), histogram->max);
  }
  return histogram->max;
}

double
hub_lg_histogram_sum (const HubLgHistogram *histogram)
{
  return histogram->sum;
}

guint
hub_lg_histogram_n_buckets (void)
{
  return N_BUCKETS;
}

guint64
hub_lg_histogram_bucket_count (const HubLgHistogram *histogram, guint bucket)
{
  return bucket < N_BUCKETS ? histogram->buckets[bucket] : 0;
}

gboolean
hub_lg_histogram_restore (HubLgHistogram *histogram, guint bucket, guint64 count)
{
  if (bucket >= N_BUCKETS)
    return FALSE;
  histogram->buckets[bucket] += count;
  histogram->count += count;
  return TRUE;
}

void
hub_lg_histogram_restore_summary (HubLgHistogram *histogram, gint64 min, gint64 max, double sum)
{
  histogram->min = min;
  histogram->max = max;
  histogram->sum = sum;
}
