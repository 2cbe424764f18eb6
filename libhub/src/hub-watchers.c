/* hub-watchers.c: see hub-watchers.h. */
#include "hub/hub-watchers.h"

struct _HubWatchers {
  GHashTable *by_user; /* (owned) user id (owned) → set of gpointer (owned), never empty */
};

HubWatchers *
hub_watchers_new (void)
{
  HubWatchers *watchers = g_new0 (HubWatchers, 1);

  watchers->by_user =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_hash_table_unref);
  return watchers;
}

void
hub_watchers_free (HubWatchers *watchers)
{
  if (watchers == NULL)
    return;
  g_hash_table_unref (watchers->by_user);
  g_free (watchers);
}

gboolean
hub_watchers_add (HubWatchers *watchers, gpointer watcher, const char *user)
{
  GHashTable *set;
  gboolean first = FALSE;

  g_return_val_if_fail (watchers != NULL && user != NULL, FALSE);
  set = g_hash_table_lookup (watchers->by_user, user);
  if (set == NULL) {
    set = g_hash_table_new (g_direct_hash, g_direct_equal);
    g_hash_table_insert (watchers->by_user, g_strdup (user), set);
    first = TRUE;
  }
  g_hash_table_add (set, watcher);
  return first;
}

gboolean
hub_watchers_remove (HubWatchers *watchers, gpointer watcher, const char *user)
{
  GHashTable *set;

  g_return_val_if_fail (watchers != NULL && user != NULL, FALSE);
  set = g_hash_table_lookup (watchers->by_user, user);
  if (set == NULL || !g_hash_table_remove (set, watcher))
    return FALSE;
  /* No empty sets: a user nobody watches costs nothing. */
  if (g_hash_table_size (set) > 0)
    return FALSE;
  g_hash_table_remove (watchers->by_user, user);
  return TRUE;
}

GHashTable *
hub_watchers_get (HubWatchers *watchers, const char *user)
{
  g_return_val_if_fail (watchers != NULL && user != NULL, NULL);
  return g_hash_table_lookup (watchers->by_user, user);
}
