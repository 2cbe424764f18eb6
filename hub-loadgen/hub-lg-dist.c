/* hub-lg-dist.c: parsers and samplers of hub-lg-dist.h. Every sampler takes
 * its uniform draw from the caller, so the callers decide the seeding and the
 * tests can ask for exact quantiles. */
#include "hub-lg-dist.h"

#include <gio/gio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static gboolean
parse_double (const char *text, double *out)
{
  char *end = NULL;

  if (text == NULL || *text == '\0')
    return FALSE;
  *out = g_ascii_strtod (text, &end);
  return end != text && *end == '\0' && isfinite (*out);
}

static gboolean
parse_uint (const char *text, guint *out)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned (text, 10, 1, G_MAXUINT, &v, NULL))
    return FALSE;
  *out = (guint)v;
  return TRUE;
}

static void
normalise (double *values, guint n)
{
  double total = 0;

  for (guint i = 0; i < n; i++) {
    total += values[i];
    values[i] = total;
  }
  for (guint i = 0; i < n; i++)
    values[i] /= total;
  values[n - 1] = 1.0;
}

/* The first index whose cumulative probability exceeds @u. */
static guint
search (const double *cumulative, guint n, double u)
{
  guint lo = 0, hi = n - 1;

  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;

    if (cumulative[mid] > u)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* ---- discrete ---- */

gboolean
hub_lg_discrete_parse (const char *text, HubLgDiscrete *out, GError **error)
{
  g_auto (GStrv) parts = NULL;
  guint n;

  memset (out, 0, sizeof *out);
  if (text == NULL || *text == '\0')
    goto bad;
  parts = g_strsplit (text, ",", -1);
  n = g_strv_length (parts);
  out->values = g_new0 (guint, n);
  out->cumulative = g_new0 (double, n);
  out->n = n;
  for (guint i = 0; i < n; i++) {
    g_auto (GStrv) pair = g_strsplit (g_strstrip (parts[i]), ":", 2);
    double weight = 1.0;

    if (!parse_uint (g_strstrip (pair[0]), &out->values[i]))
      goto bad;
    if (pair[1] != NULL && (!parse_double (g_strstrip (pair[1]), &weight) || weight <= 0))
      goto bad;
    if (pair[1] == NULL && n > 1)
      goto bad;
    out->cumulative[i] = weight;
  }
  normalise (out->cumulative, n);
  return TRUE;

bad:
  hub_lg_discrete_clear (out);
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "'%s' is not a count or a distribution such as 1:60,2:30,3:10", text ? text : "");
  return FALSE;
}

void
hub_lg_discrete_clear (HubLgDiscrete *discrete)
{
  g_clear_pointer (&discrete->values, g_free);
  g_clear_pointer (&discrete->cumulative, g_free);
  discrete->n = 0;
}

guint
hub_lg_discrete_at (const HubLgDiscrete *discrete, double u)
{
  return discrete->values[search (discrete->cumulative, discrete->n, u)];
}

guint
hub_lg_discrete_max (const HubLgDiscrete *discrete)
{
  guint max = 0;

  for (guint i = 0; i < discrete->n; i++)
    max = MAX (max, discrete->values[i]);
  return max;
}

double
hub_lg_discrete_mean (const HubLgDiscrete *discrete)
{
  double mean = 0, prev = 0;

  for (guint i = 0; i < discrete->n; i++) {
    mean += discrete->values[i] * (discrete->cumulative[i] - prev);
    prev = discrete->cumulative[i];
  }
  return mean;
}

char *
hub_lg_discrete_to_string (const HubLgDiscrete *discrete)
{
  GString *s;
  double prev = 0;

  if (discrete->n == 1)
    return g_strdup_printf ("%u", discrete->values[0]);
  s = g_string_new (NULL);
  for (guint i = 0; i < discrete->n; i++) {
    g_string_append_printf (s, "%s%u:%g", i ? "," : "", discrete->values[i],
                            round ((discrete->cumulative[i] - prev) * 10000) / 100);
    prev = discrete->cumulative[i];
  }
  return g_string_free (s, FALSE);
}

/* ---- mix ---- */

static const char *const action_names[HUB_LG_N_ACTIONS] = {"publish", "direct", "typing", "status"};

const char *
hub_lg_action_name (HubLgAction action)
{
  g_return_val_if_fail (action < HUB_LG_N_ACTIONS, "?");
  return action_names[action];
}

gboolean
hub_lg_mix_parse (const char *text, HubLgMix *mix, GError **error)
{
  g_auto (GStrv) parts = NULL;
  double total = 0;

  memset (mix, 0, sizeof *mix);
  if (text == NULL || *text == '\0')
    goto bad;
  parts = g_strsplit (text, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++) {
    g_auto (GStrv) pair = g_strsplit (g_strstrip (parts[i]), "=", 2);
    guint a;
    double w;

    if (pair[1] == NULL || !parse_double (g_strstrip (pair[1]), &w) || w < 0)
      goto bad;
    for (a = 0; a < HUB_LG_N_ACTIONS; a++) {
      if (strcmp (g_strstrip (pair[0]), action_names[a]) == 0)
        break;
    }
    if (a == HUB_LG_N_ACTIONS)
      goto bad;
    mix->share[a] += w;
    total += w;
  }
  if (total <= 0)
    goto bad;
  for (guint a = 0; a < HUB_LG_N_ACTIONS; a++)
    mix->share[a] /= total;
  return TRUE;

bad:
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "'%s' is not a mix such as publish=90,direct=5,typing=4,status=1 "
               "(names publish, direct, typing, status; weights ≥ 0, not all 0)",
               text ? text : "");
  return FALSE;
}

HubLgAction
hub_lg_mix_pick (const HubLgMix *mix, double u)
{
  double acc = 0;
  HubLgAction last = HUB_LG_ACTION_PUBLISH;

  for (guint a = 0; a < HUB_LG_N_ACTIONS; a++) {
    if (mix->share[a] <= 0)
      continue;
    last = a;
    acc += mix->share[a];
    if (u < acc)
      return a;
  }
  return last;
}

/* ---- weights ---- */

void
hub_lg_weights_init_zipf (HubLgWeights *weights, guint n, double skew)
{
  g_return_if_fail (n > 0);
  weights->n = n;
  weights->cumulative = g_new (double, n);
  for (guint i = 0; i < n; i++)
    weights->cumulative[i] = 1.0 / pow ((double)i + 1.0, skew);
  normalise (weights->cumulative, n);
}

void
hub_lg_weights_clear (HubLgWeights *weights)
{
  g_clear_pointer (&weights->cumulative, g_free);
  weights->n = 0;
}

double
hub_lg_weights_probability (const HubLgWeights *weights, guint i)
{
  g_return_val_if_fail (i < weights->n, 0);
  return weights->cumulative[i] - (i > 0 ? weights->cumulative[i - 1] : 0);
}

guint
hub_lg_weights_at (const HubLgWeights *weights, double u)
{
  return search (weights->cumulative, weights->n, u);
}

static int
compare_uint (gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *)a, y = *(const guint *)b;

  return x < y ? -1 : x > y;
}

guint
hub_lg_weights_sample_distinct (const HubLgWeights *weights, GRand *rand, guint k, guint *out)
{
  g_autoptr (GHashTable) taken = g_hash_table_new (g_direct_hash, g_direct_equal);
  guint n = 0, misses = 0;

  k = MIN (k, weights->n);
  /* Rejection is exact for "weighted among those not yet drawn" and fast while
   * the drawn items hold little of the mass; when it keeps missing, the rest
   * of the mass is spread so thin that taking the remaining items in order of
   * popularity changes nothing measurable. */
  while (n < k && misses < 64 * k + 1000) {
    guint i = hub_lg_weights_at (weights, g_rand_double (rand));

    if (g_hash_table_contains (taken, GUINT_TO_POINTER (i + 1))) {
      misses++;
      continue;
    }
    g_hash_table_add (taken, GUINT_TO_POINTER (i + 1));
    out[n++] = i;
  }
  for (guint i = 0; n < k && i < weights->n; i++) {
    if (!g_hash_table_contains (taken, GUINT_TO_POINTER (i + 1)))
      out[n++] = i;
  }
  qsort (out, n, sizeof *out, compare_uint);
  return n;
}

/* ---- time ---- */

double
hub_lg_exponential (double mean, double u)
{
  return -mean * log1p (-u);
}

/* ---- addresses ---- */

static gboolean
parse_ipv4 (const char *text, guint32 *out)
{
  g_autoptr (GInetAddress) addr = g_inet_address_new_from_string (text);
  const guint8 *b;

  if (addr == NULL || g_inet_address_get_family (addr) != G_SOCKET_FAMILY_IPV4)
    return FALSE;
  b = g_inet_address_to_bytes (addr);
  *out = (guint32)b[0] << 24 | (guint32)b[1] << 16 | (guint32)b[2] << 8 | b[3];
  return TRUE;
}

GPtrArray *
hub_lg_addresses_parse (const char *text, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) parts = NULL;

  if (text == NULL || *text == '\0')
    goto bad;
  parts = g_strsplit (text, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++) {
    g_auto (GStrv) ends = g_strsplit (g_strstrip (parts[i]), "-", 2);
    guint32 lo, hi;

    if (!parse_ipv4 (g_strstrip (ends[0]), &lo))
      goto bad;
    hi = lo;
    if (ends[1] != NULL && !parse_ipv4 (g_strstrip (ends[1]), &hi))
      goto bad;
    if (hi < lo || (lo >> 24) != 127 || (hi >> 24) != 127) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "'%s': source addresses must be an ascending range within 127.0.0.0/8",
                   parts[i]);
      return NULL;
    }
    if (out->len + (guint64)(hi - lo) + 1 > 65536) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "'%s': more than 65536 source addresses", text);
      return NULL;
    }
    for (guint64 a = lo; a <= hi; a++)
      g_ptr_array_add (out, g_strdup_printf ("%u.%u.%u.%u", (guint)(a >> 24) & 255,
                                             (guint)(a >> 16) & 255, (guint)(a >> 8) & 255,
                                             (guint)a & 255));
  }
  return g_steal_pointer (&out);

bad:
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "'%s' is not a list of IPv4 addresses or ranges such as 127.0.0.1-127.0.0.20",
               text ? text : "");
  return NULL;
}
