/* hub-lg-dist.h: the random choices of hub-loadgen, all drawn from a seeded
 * GRand so that a run is repeatable: discrete distributions ("1:60,2:30,3:10"),
 * the action mix ("publish=90,direct=5,typing=4,status=1"), Zipf-like
 * popularity with weighted sampling, exponential gaps of an open arrival
 * process, and address ranges for --source-ips. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* ---- discrete distribution of small integers ---- */

typedef struct {
  guint n;
  guint *values;      /* (owned) */
  double *cumulative; /* (owned) normalised: the last is 1 */
} HubLgDiscrete;

/* "3" (always 3) or "VALUE:WEIGHT,…" with VALUE ≥ 1 and WEIGHT > 0 (weights
 * need not add to 100). FALSE with @error (G_OPTION_ERROR_BAD_VALUE) otherwise. */
gboolean hub_lg_discrete_parse (const char *text, HubLgDiscrete *out, GError **error);
void hub_lg_discrete_clear (HubLgDiscrete *discrete);
/* The value at cumulative probability @u (0 ≤ u < 1): the inverse CDF. */
guint hub_lg_discrete_at (const HubLgDiscrete *discrete, double u);
guint hub_lg_discrete_max (const HubLgDiscrete *discrete);
double hub_lg_discrete_mean (const HubLgDiscrete *discrete);
/* "1:60,2:30,3:10" with the weights as percentages. (transfer full) */
char *hub_lg_discrete_to_string (const HubLgDiscrete *discrete);

/* ---- the action mix ---- */

typedef enum {
  HUB_LG_ACTION_PUBLISH,
  HUB_LG_ACTION_DIRECT,
  HUB_LG_ACTION_TYPING,
  HUB_LG_ACTION_STATUS,
  HUB_LG_N_ACTIONS,
} HubLgAction;

/* "publish", "direct", … (transfer none) */
const char *hub_lg_action_name (HubLgAction action);

typedef struct {
  double share[HUB_LG_N_ACTIONS]; /* normalised: they add to 1 */
} HubLgMix;

/* "publish=90,direct=5,typing=4,status=1": any subset of the four names with
 * non-negative weights, not all zero; missing names weigh 0. */
gboolean hub_lg_mix_parse (const char *text, HubLgMix *mix, GError **error);
HubLgAction hub_lg_mix_pick (const HubLgMix *mix, double u);

/* ---- weighted choice (Zipf-like popularity) ---- */

typedef struct {
  guint n;
  double *cumulative; /* (owned) normalised */
} HubLgWeights;

/* Weight of item i (0-based) ∝ 1 / (i + 1)^@skew: @skew 0 is uniform, 1 is
 * Zipf's law; item 0 is the most popular. */
void hub_lg_weights_init_zipf (HubLgWeights *weights, guint n, double skew);
void hub_lg_weights_clear (HubLgWeights *weights);
double hub_lg_weights_probability (const HubLgWeights *weights, guint i);
/* The item at cumulative probability @u (0 ≤ u < 1). */
guint hub_lg_weights_at (const HubLgWeights *weights, double u);
/* Draws min(@k, n) distinct items, each draw weighted among the items not yet
 * drawn, into @out, sorted ascending; returns how many. */
guint hub_lg_weights_sample_distinct (const HubLgWeights *weights, GRand *rand, guint k,
                                      guint *out);

/* ---- time ---- */

/* A gap of an exponential distribution with mean @mean (the gaps of a
 * Poisson process), from a uniform draw @u in [0, 1). */
double hub_lg_exponential (double mean, double u);

/* ---- addresses ---- */

/* "127.0.0.1-127.0.0.20,127.0.1.5": IPv4 addresses and inclusive ranges, all
 * within 127.0.0.0/8 (this tool only loads loopback), at most 65536 of them.
 * Returns the addresses as dotted strings. (transfer full) */
GPtrArray *hub_lg_addresses_parse (const char *text, GError **error);

G_END_DECLS
