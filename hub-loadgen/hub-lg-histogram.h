/* hub-lg-histogram.h: a log-linear histogram of non-negative integers (hub-loadgen
 * records nanoseconds) with a bounded relative error: every recorded value
 * lands in a bucket no wider than 1/128 of its lower bound, so any percentile
 * it reports is at most 0.79% above the true one (and never below it). Fixed
 * size, no allocation when recording, mergeable. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Linear sub-buckets per power of two: the relative error is 2^-HUB_LG_HISTOGRAM_SUB_BITS. */
#define HUB_LG_HISTOGRAM_SUB_BITS 7
/* Values above 2^HUB_LG_HISTOGRAM_MAX_BITS - 1 (about 39 hours in ns) are
 * recorded as that value; the exact maximum is kept apart. */
#define HUB_LG_HISTOGRAM_MAX_BITS 47

typedef struct _HubLgHistogram HubLgHistogram;

/* (transfer full) */
HubLgHistogram *hub_lg_histogram_new (void);
void hub_lg_histogram_free (HubLgHistogram *histogram);
/* Forgets every value. */
void hub_lg_histogram_reset (HubLgHistogram *histogram);

/* Records @value once (negative values count as 0). */
void hub_lg_histogram_record (HubLgHistogram *histogram, gint64 value);
/* Records @value @count times. */
void hub_lg_histogram_record_n (HubLgHistogram *histogram, gint64 value, guint64 count);
/* Adds every value of @from into @into. */
void hub_lg_histogram_merge (HubLgHistogram *into, const HubLgHistogram *from);

guint64 hub_lg_histogram_count (const HubLgHistogram *histogram);
/* Exact extremes and mean of what was recorded; 0 when empty. */
gint64 hub_lg_histogram_min (const HubLgHistogram *histogram);
gint64 hub_lg_histogram_max (const HubLgHistogram *histogram);
double hub_lg_histogram_mean (const HubLgHistogram *histogram);
/* The @quantile (0 < q ≤ 1; 0.99 for p99) of the recorded values: the highest
 * value of the bucket holding the ⌈q·count⌉-th smallest value, capped at the
 * exact maximum. Never below the true quantile, at most 2^-7 above it. 0 when
 * empty. */
gint64 hub_lg_histogram_quantile (const HubLgHistogram *histogram, double quantile);

/* The exact sum of what was recorded (the mean's numerator). */
double hub_lg_histogram_sum (const HubLgHistogram *histogram);
/* How many buckets there are, and how many values bucket @bucket holds:
 * with the extremes and the sum, everything a histogram is (the JSON and
 * .hgrm forms of hub-lg-hgrm.h write it out exactly). */
guint hub_lg_histogram_n_buckets (void);
guint64 hub_lg_histogram_bucket_count (const HubLgHistogram *histogram, guint bucket);
/* Rebuilding a histogram from its written-out form: restore adds @count
 * values to @bucket (FALSE when there is no such bucket); restore_summary
 * then sets the exact extremes and sum. */
gboolean hub_lg_histogram_restore (HubLgHistogram *histogram, guint bucket, guint64 count);
void hub_lg_histogram_restore_summary (HubLgHistogram *histogram, gint64 min, gint64 max,
                                       double sum);

/* Bucket arithmetic, exposed for tests: the index of @value's bucket and the
 * lowest and highest value that bucket holds. */
guint hub_lg_histogram_bucket_of (gint64 value);
gint64 hub_lg_histogram_bucket_low (guint bucket);
gint64 hub_lg_histogram_bucket_high (guint bucket);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubLgHistogram, hub_lg_histogram_free)

G_END_DECLS
