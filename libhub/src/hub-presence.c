/* hub-presence.c: online/offline from connection counts (with a grace period
 * before offline) and the user's own status (PROTOCOL.md §7). Reports each
 * change of a user's status as others see it exactly once. */
#include "hub/hub-presence.h"

#include <stdlib.h>
#include <string.h>

/* A user that is connected or within its grace period. Users that are neither
 * have no entry: their status is forgotten. */
typedef struct {
  HubPresence *presence; /* (unowned) for the grace timer */
  char *user;            /* (owned) */
  guint connections;
  HubStatus own;     /* HUB_STATUS_OFFLINE: invisible */
  guint grace_timer; /* pending offline, 0 when none */
} UserPresence;

struct _HubPresence {
  HubClock *clock; /* (owned) ref */
  guint grace_ms;
  HubPresenceNotify notify; /* (nullable) */
  gpointer notify_data;
  GHashTable *users; /* (owned) user id (borrowed from the entry) → UserPresence* (owned) */
};

static void
user_presence_free (UserPresence *up)
{
  if (up->grace_timer != 0)
    hub_clock_cancel (up->presence->clock, up->grace_timer);
  g_free (up->user);
  g_free (up);
}

HubPresence *
hub_presence_new (HubClock *clock, guint grace_ms, HubPresenceNotify notify, gpointer user_data)
{
  HubPresence *presence;

  g_return_val_if_fail (clock != NULL, NULL);

  presence = g_new0 (HubPresence, 1);
  presence->clock = hub_clock_ref (clock);
  presence->grace_ms = grace_ms;
  presence->notify = notify;
  presence->notify_data = user_data;
  presence->users =
      g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)user_presence_free);
  return presence;
}

void
hub_presence_free (HubPresence *presence)
{
  if (presence == NULL)
    return;
  /* Cancels the pending grace timers (user_presence_free). */
  g_hash_table_unref (presence->users);
  hub_clock_unref (presence->clock);
  g_free (presence);
}

/* An entry is visible with its own status while connected or in grace, which
 * is whenever it exists; invisible (own offline) shows as offline. */
static HubStatus
visible_status (UserPresence *up)
{
  return up != NULL ? up->own : HUB_STATUS_OFFLINE;
}

static void
notify (HubPresence *presence, const char *user, HubStatus status)
{
  if (presence->notify != NULL)
    presence->notify (user, status, presence->notify_data);
}

/* The user is gone (no connection, grace over): forget it, then tell. */
static void
go_offline (HubPresence *presence, UserPresence *up)
{
  HubStatus before = visible_status (up);

  g_hash_table_steal (presence->users, up->user);
  /* Notify with the state already updated, so the callback sees it offline. */
  if (before != HUB_STATUS_OFFLINE)
    notify (presence, up->user, HUB_STATUS_OFFLINE);
  user_presence_free (up);
}

static void
grace_expired (gpointer user_data)
{
  UserPresence *up = user_data;

  up->grace_timer = 0;
  go_offline (up->presence, up);
}

void
hub_presence_connected (HubPresence *presence, const char *user)
{
  UserPresence *up;

  g_return_if_fail (presence != NULL);
  g_return_if_fail (user != NULL);

  up = g_hash_table_lookup (presence->users, user);
  if (up != NULL) {
    /* Connected already, or back within grace: still visible as before. */
    if (up->grace_timer != 0) {
      hub_clock_cancel (presence->clock, up->grace_timer);
      up->grace_timer = 0;
    }
    up->connections++;
    return;
  }
  up = g_new0 (UserPresence, 1);
  up->presence = presence;
  up->user = g_strdup (user);
  up->connections = 1;
  up->own = HUB_STATUS_ONLINE;
  g_hash_table_insert (presence->users, up->user, up);
  notify (presence, up->user, HUB_STATUS_ONLINE);
}

void
hub_presence_disconnected (HubPresence *presence, const char *user)
{
  UserPresence *up;

  g_return_if_fail (presence != NULL);
  g_return_if_fail (user != NULL);

  up = g_hash_table_lookup (presence->users, user);
  g_return_if_fail (up != NULL && up->connections > 0);

  if (--up->connections > 0)
    return;
  if (presence->grace_ms == 0)
    go_offline (presence, up);
  else
    up->grace_timer =
        hub_clock_add_timeout (presence->clock, presence->grace_ms, grace_expired, up);
}

void
hub_presence_set_status (HubPresence *presence, const char *user, HubStatus status)
{
  UserPresence *up;
  HubStatus before;

  g_return_if_fail (presence != NULL);
  g_return_if_fail (user != NULL);

  up = g_hash_table_lookup (presence->users, user);
  g_return_if_fail (up != NULL);

  before = visible_status (up);
  up->own = status;
  if (visible_status (up) != before)
    notify (presence, up->user, visible_status (up));
}

HubStatus
hub_presence_get_visible_status (HubPresence *presence, const char *user)
{
  g_return_val_if_fail (presence != NULL, HUB_STATUS_OFFLINE);
  g_return_val_if_fail (user != NULL, HUB_STATUS_OFFLINE);
  return visible_status (g_hash_table_lookup (presence->users, user));
}

HubStatus
hub_presence_get_own_status (HubPresence *presence, const char *user)
{
  UserPresence *up;

  g_return_val_if_fail (presence != NULL, HUB_STATUS_OFFLINE);
  g_return_val_if_fail (user != NULL, HUB_STATUS_OFFLINE);

  up = g_hash_table_lookup (presence->users, user);
  return up != NULL ? up->own : HUB_STATUS_OFFLINE;
}

gboolean
hub_presence_is_online (HubPresence *presence, const char *user)
{
  g_return_val_if_fail (presence != NULL, FALSE);
  g_return_val_if_fail (user != NULL, FALSE);
  return g_hash_table_contains (presence->users, user);
}

guint
hub_presence_count_connections (HubPresence *presence, const char *user)
{
  UserPresence *up;

  g_return_val_if_fail (presence != NULL, 0);
  g_return_val_if_fail (user != NULL, 0);
  up = g_hash_table_lookup (presence->users, user);
  return up != NULL ? up->connections : 0;
}

guint
hub_presence_n_online (HubPresence *presence)
{
  g_return_val_if_fail (presence != NULL, 0);
  return g_hash_table_size (presence->users);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

guint
hub_presence_list_visible (HubPresence *presence, guint limit, GPtrArray **out)
{
  g_autoptr (GPtrArray) ids = NULL;
  GHashTableIter iter;
  gpointer value;
  guint count = 0;

  g_return_val_if_fail (presence != NULL, 0);

  if (out != NULL)
    ids = g_ptr_array_new ();
  g_hash_table_iter_init (&iter, presence->users);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    UserPresence *up = value;

    if (visible_status (up) == HUB_STATUS_OFFLINE)
      continue;
    count++;
    if (ids != NULL)
      g_ptr_array_add (ids, up->user);
  }
  if (out != NULL) {
    /* The first @limit in id order, so paging through is stable. */
    g_ptr_array_sort (ids, compare_strings);
    *out = g_ptr_array_new_full (MIN (limit, ids->len), g_free);
    for (guint i = 0; i < ids->len && i < limit; i++)
      g_ptr_array_add (*out, g_strdup (g_ptr_array_index (ids, i)));
  }
  return count;
}
