/* hub-lg-stats.c: HubLgStats, counters and tables merged by name. */
#include "hub-lg-stats.h"

#include <string.h>

static GHashTable *
count_table (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

HubLgStats *
hub_lg_stats_new (void)
{
  HubLgStats *stats = g_new0 (HubLgStats, 1);

  stats->errors = count_table ();
  stats->closes = count_table ();
  stats->latency = hub_lg_histogram_new ();
  stats->recent = hub_lg_histogram_new ();
  stats->direct = hub_lg_histogram_new ();
  stats->ack = hub_lg_histogram_new ();
  stats->connect = hub_lg_histogram_new ();
  return stats;
}

void
hub_lg_stats_free (HubLgStats *stats)
{
  if (stats == NULL)
    return;
  g_hash_table_unref (stats->errors);
  g_hash_table_unref (stats->closes);
  hub_lg_histogram_free (stats->latency);
  hub_lg_histogram_free (stats->recent);
  hub_lg_histogram_free (stats->direct);
  hub_lg_histogram_free (stats->ack);
  hub_lg_histogram_free (stats->connect);
  g_free (stats);
}

static void
add_count (GHashTable *table, const char *key, guint64 n)
{
  guint64 *slot = g_hash_table_lookup (table, key);

  if (slot == NULL) {
    slot = g_new0 (guint64, 1);
    g_hash_table_insert (table, g_strdup (key), slot);
  }
  *slot += n;
}

static void
merge_table (GHashTable *into, GHashTable *from)
{
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, from);
  while (g_hash_table_iter_next (&iter, &key, &value))
    add_count (into, key, *(guint64 *)value);
}

void
hub_lg_stats_merge (HubLgStats *into, const HubLgStats *from)
{
  for (guint i = 0; i < HUB_LG_N_COUNTERS; i++)
    into->c[i] += from->c[i];
  merge_table (into->errors, from->errors);
  merge_table (into->closes, from->closes);
  hub_lg_histogram_merge (into->latency, from->latency);
  hub_lg_histogram_merge (into->recent, from->recent);
  hub_lg_histogram_merge (into->direct, from->direct);
  hub_lg_histogram_merge (into->ack, from->ack);
  hub_lg_histogram_merge (into->connect, from->connect);
}

void
hub_lg_stats_reset (HubLgStats *stats)
{
  memset (stats->c, 0, sizeof stats->c);
  g_hash_table_remove_all (stats->errors);
  g_hash_table_remove_all (stats->closes);
  hub_lg_histogram_reset (stats->latency);
  hub_lg_histogram_reset (stats->recent);
  hub_lg_histogram_reset (stats->direct);
  hub_lg_histogram_reset (stats->ack);
  hub_lg_histogram_reset (stats->connect);
}

void
hub_lg_stats_error (HubLgStats *stats, const char *kind)
{
  add_count (stats->errors, kind, 1);
  stats->c[HUB_LG_ERRORS]++;
}

void
hub_lg_stats_close (HubLgStats *stats, guint code)
{
  char key[16];

  g_snprintf (key, sizeof key, "%u", code);
  add_count (stats->closes, key, 1);
}
