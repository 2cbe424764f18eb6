/* hub-rate-limiter.h: a token bucket per connection (PROTOCOL.md §8), plus the
 * abuse detector: more than 10 × rate requests in each of two consecutive
 * whole seconds means the connection must be closed with 4008. Plain struct,
 * embedded in the connection; time is passed in, so no clock dependency. */
#pragma once

#include <glib.h>

#include "hub-api.h"

G_BEGIN_DECLS

typedef enum {
  HUB_RATE_OK,      /* execute the request */
  HUB_RATE_LIMITED, /* answer rate_limited, do not execute */
  HUB_RATE_ABUSE,   /* close the connection with 4008 */
} HubRateVerdict;

typedef struct {
  double rate_per_s; /* ≤ 0: unlimited */
  double burst;
  double tokens;
  gint64 last_refill_us;
  gint64 window_start_us; /* start of the current whole second */
  guint64 window_count;   /* requests seen in it */
  gboolean prev_window_abusive;
} HubRateLimiter;

HUB_API
void hub_rate_limiter_init (HubRateLimiter *rl, double rate_per_s, double burst, gint64 now_us);
/* Accounts one request at @now_us (monotonic µs) and says what to do with it. */
HUB_API
HubRateVerdict hub_rate_limiter_check (HubRateLimiter *rl, gint64 now_us);
/* Takes @tokens more for a request that cost more than one (a large `who`,
 * a large frame before hello); the bucket may go into debt, at most one
 * burst deep, and later requests are limited until it is repaid. */
HUB_API
void hub_rate_limiter_charge (HubRateLimiter *rl, double tokens, gint64 now_us);

G_END_DECLS
