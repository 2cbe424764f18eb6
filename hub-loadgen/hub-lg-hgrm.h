/* hub-lg-hgrm.h: a latency histogram written out for people's tools and for
 * other loadgens: as JSON buckets (exact: every non-empty bucket with its
 * bounds and count, and the extremes and sum, so that reports of several
 * loadgens merge into the very histogram one loadgen would have made), and
 * as HdrHistogram's percentile distribution (.hgrm, the text that
 * HdrHistogram's outputPercentileDistribution writes and its plotters read). */
#pragma once

#include "hub-lg-histogram.h"

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* {"unit":"ns","sub_bucket_bits":7,"count","min","max","sum",
 *  "buckets":[[low, high, count], …]} (non-empty buckets, ascending). (transfer full) */
JsonObject *hub_lg_histogram_to_json (const HubLgHistogram *histogram);
/* The histogram a to_json object describes; NULL with @error
 * (G_IO_ERROR_INVALID_DATA) when it does not describe one of this layout
 * (another sub_bucket_bits, bounds that are not a bucket's…). (transfer full) */
HubLgHistogram *hub_lg_histogram_from_json (JsonObject *object, GError **error);

/* The percentile distribution in HdrHistogram's .hgrm layout, values in
 * milliseconds (3 decimals, rounded as the JSON report's): the levels
 * HdrHistogram's iterator visits (5 ticks per half distance) plus exactly
 * 50, 90, 99 and 99.9 %, each with the value reported for that quantile
 * (hub_lg_histogram_quantile) and the count at or below it; then the mean,
 * standard deviation, maximum and total count. (transfer full) */
char *hub_lg_histogram_to_hgrm (const HubLgHistogram *histogram);

G_END_DECLS
