/* hub-rate-limiter.c: a connection's token bucket and abuse detector
 * (PROTOCOL.md §8). Pure arithmetic on the times the caller passes in. */
#include "hub/hub-rate-limiter.h"

#define US_PER_S ((gint64)G_USEC_PER_SEC)
/* Many small refills add up to 0.999…9 instead of 1: that is a whole token. */
#define TOKEN_EPSILON 1e-9

/* Abuse: more requests than this in a whole-second window. */
static double
abuse_threshold (const HubRateLimiter *rl)
{
  return 10.0 * rl->rate_per_s;
}

/* Once the current window is abusive after an abusive one, the verdict is
 * latched: the window never rolls over again, so every later request is
 * HUB_RATE_ABUSE too (the connection is being closed anyway). */
static gboolean
abuse_latched (const HubRateLimiter *rl)
{
  return rl->prev_window_abusive && (double)rl->window_count > abuse_threshold (rl);
}

void
hub_rate_limiter_init (HubRateLimiter *rl, double rate_per_s, double burst, gint64 now_us)
{
  g_return_if_fail (rl != NULL);
  rl->rate_per_s = rate_per_s;
  rl->burst = burst;
  rl->tokens = burst; /* a new connection starts with a full bucket */
  rl->last_refill_us = now_us;
  /* window_count == 0 means "no request yet": the first request aligns the windows. */
  rl->window_start_us = now_us;
  rl->window_count = 0;
  rl->prev_window_abusive = FALSE;
}

static void
refill (HubRateLimiter *rl, gint64 now_us)
{
  /* A clock that steps back (it should not: it is monotonic) refills nothing. */
  if (now_us <= rl->last_refill_us)
    return;
  rl->tokens += (double)(now_us - rl->last_refill_us) * rl->rate_per_s / (double)US_PER_S;
  if (rl->tokens > rl->burst)
    rl->tokens = rl->burst;
  rl->last_refill_us = now_us;
}

static void
count_request (HubRateLimiter *rl, gint64 now_us)
{
  if (rl->window_count == 0) {
    rl->window_start_us = now_us;
  } else if (now_us - rl->window_start_us >= US_PER_S) {
    gint64 windows = (now_us - rl->window_start_us) / US_PER_S;

    /* Only the window right before the new one counts; after an idle gap the
     * windows in between saw nothing, so "consecutive" starts over. */
    rl->prev_window_abusive = windows == 1 && (double)rl->window_count > abuse_threshold (rl);
    rl->window_start_us += windows * US_PER_S;
    rl->window_count = 0;
  }
  if (rl->window_count < G_MAXUINT64)
    rl->window_count++;
}

HubRateVerdict
hub_rate_limiter_check (HubRateLimiter *rl, gint64 now_us)
{
  g_return_val_if_fail (rl != NULL, HUB_RATE_OK);

  if (rl->rate_per_s <= 0)
    return HUB_RATE_OK;

  if (abuse_latched (rl))
    return HUB_RATE_ABUSE;
  count_request (rl, now_us);
  if (abuse_latched (rl))
    return HUB_RATE_ABUSE;

  refill (rl, now_us);
  if (rl->tokens < 1.0 - TOKEN_EPSILON)
    return HUB_RATE_LIMITED;
  rl->tokens = MAX (rl->tokens - 1.0, 0.0);
  return HUB_RATE_OK;
}

void
hub_rate_limiter_charge (HubRateLimiter *rl, double tokens, gint64 now_us)
{
  g_return_if_fail (rl != NULL);
  if (rl->rate_per_s <= 0 || tokens <= 0)
    return;
  refill (rl, now_us);
  /* Into debt, at most one burst deep: the requests after it are limited
   * until the refill has paid it back. */
  rl->tokens = MAX (rl->tokens - tokens, -rl->burst);
}
