/* hub-room-manager.c: rooms and user-level membership (PROTOCOL.md §4): a room
 * lives until its last member leaves, each user is indexed by its rooms for
 * `welcome`, `rooms` and the max_rooms_per_user limit (§8). Plain state. */
#include "hub/hub-room-manager.h"

#include <stdlib.h>
#include <string.h>

#include "hub/hub-error.h"

struct _HubRoomManager {
  guint history_size;
  guint max_rooms_per_user; /* 0: no limit */
  gboolean auto_create;
  GHashTable *rooms;      /* (owned) room id (borrowed from the room) → HubRoom* (owned) */
  GHashTable *user_rooms; /* (owned) user id (owned) → set of room ids (owned), never empty */
};

static HubRoom *
room_new (const char *id, const char *name, gint64 now_ms, guint history_size)
{
  HubRoom *room = g_new0 (HubRoom, 1);

  room->id = g_strdup (id);
  room->name = g_strdup (name != NULL ? name : id);
  room->created_ts = now_ms;
  room->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  room->history = hub_history_new (history_size);
  return room;
}

static void
room_free (HubRoom *room)
{
  hub_history_free (room->history);
  g_hash_table_unref (room->members);
  g_free (room->name);
  g_free (room->id);
  g_free (room);
}

HubRoomManager *
hub_room_manager_new (guint history_size, guint max_rooms_per_user, gboolean auto_create)
{
  HubRoomManager *mgr = g_new0 (HubRoomManager, 1);

  mgr->history_size = history_size;
  mgr->max_rooms_per_user = max_rooms_per_user;
  mgr->auto_create = auto_create;
  mgr->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)room_free);
  mgr->user_rooms =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_hash_table_unref);
  return mgr;
}

void
hub_room_manager_free (HubRoomManager *mgr)
{
  if (mgr == NULL)
    return;
  g_hash_table_unref (mgr->user_rooms);
  g_hash_table_unref (mgr->rooms);
  g_free (mgr);
}

HubRoom *
hub_room_manager_lookup (HubRoomManager *mgr, const char *room)
{
  g_return_val_if_fail (mgr != NULL, NULL);
  g_return_val_if_fail (room != NULL, NULL);
  return g_hash_table_lookup (mgr->rooms, room);
}

guint
hub_room_manager_n_rooms (HubRoomManager *mgr)
{
  g_return_val_if_fail (mgr != NULL, 0);
  return g_hash_table_size (mgr->rooms);
}

static HubRoom *
insert_room (HubRoomManager *mgr, const char *id, const char *name, gint64 now_ms)
{
  HubRoom *room = room_new (id, name, now_ms, mgr->history_size);

  g_hash_table_insert (mgr->rooms, room->id, room);
  return room;
}

HubRoom *
hub_room_manager_create (HubRoomManager *mgr, const char *room, const char *name, gint64 now_ms,
                         GError **error)
{
  g_return_val_if_fail (mgr != NULL, NULL);
  g_return_val_if_fail (room != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_hash_table_contains (mgr->rooms, room)) {
    g_set_error (error, HUB_ERROR, HUB_ERROR_ROOM_EXISTS, "Room %s already exists", room);
    return NULL;
  }
  return insert_room (mgr, room, name, now_ms);
}

HubRoom *
hub_room_manager_join (HubRoomManager *mgr, const char *user, const char *room, const char *name,
                       gint64 now_ms, gboolean *joined, GError **error)
{
  HubRoom *r;
  GHashTable *rooms_of_user;

  g_return_val_if_fail (mgr != NULL, NULL);
  g_return_val_if_fail (user != NULL, NULL);
  g_return_val_if_fail (room != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (joined != NULL)
    *joined = FALSE;
  r = g_hash_table_lookup (mgr->rooms, room);
  /* A repeated join is a no-op success, even at the limit. */
  if (r != NULL && g_hash_table_contains (r->members, user))
    return r;
  if (r == NULL && !mgr->auto_create) {
    g_set_error (error, HUB_ERROR, HUB_ERROR_ROOM_NOT_FOUND, "Room %s does not exist", room);
    return NULL;
  }
  rooms_of_user = g_hash_table_lookup (mgr->user_rooms, user);
  if (mgr->max_rooms_per_user > 0 && rooms_of_user != NULL &&
      g_hash_table_size (rooms_of_user) >= mgr->max_rooms_per_user) {
    g_set_error (error, HUB_ERROR, HUB_ERROR_TOO_MANY_ROOMS,
                 "User %s is already a member of %u rooms, the maximum", user,
                 mgr->max_rooms_per_user);
    return NULL;
  }

  if (r == NULL)
    r = insert_room (mgr, room, name, now_ms);
  /* A new membership has no grant (§12) until one is set. */
  g_hash_table_insert (r->members, g_strdup (user), GUINT_TO_POINTER (0));
  if (rooms_of_user == NULL) {
    rooms_of_user = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    g_hash_table_insert (mgr->user_rooms, g_strdup (user), rooms_of_user);
  }
  g_hash_table_add (rooms_of_user, g_strdup (room));
  if (joined != NULL)
    *joined = TRUE;
  return r;
}

gboolean
hub_room_manager_leave (HubRoomManager *mgr, const char *user, const char *room, gboolean *deleted,
                        GError **error)
{
  HubRoom *r;
  GHashTable *rooms_of_user;

  g_return_val_if_fail (mgr != NULL, FALSE);
  g_return_val_if_fail (user != NULL, FALSE);
  g_return_val_if_fail (room != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* Callers may pass keys of the very sets this edits (a user's room set, a
   * room's id): work on copies. */
  g_autofree char *user_copy = g_strdup (user);
  g_autofree char *room_copy = g_strdup (room);

  user = user_copy;
  room = room_copy;
  if (deleted != NULL)
    *deleted = FALSE;
  r = g_hash_table_lookup (mgr->rooms, room);
  if (r == NULL) {
    g_set_error (error, HUB_ERROR, HUB_ERROR_ROOM_NOT_FOUND, "Room %s does not exist", room);
    return FALSE;
  }
  if (!g_hash_table_remove (r->members, user)) {
    g_set_error (error, HUB_ERROR, HUB_ERROR_NOT_MEMBER, "User %s is not a member of room %s", user,
                 room);
    return FALSE;
  }

  rooms_of_user = g_hash_table_lookup (mgr->user_rooms, user);
  if (rooms_of_user != NULL) {
    g_hash_table_remove (rooms_of_user, room);
    if (g_hash_table_size (rooms_of_user) == 0)
      g_hash_table_remove (mgr->user_rooms, user);
  }
  /* The last member took the room and its history with it (§4): a later room of
   * the same id starts again at seq 1. */
  if (g_hash_table_size (r->members) == 0) {
    g_hash_table_remove (mgr->rooms, room);
    if (deleted != NULL)
      *deleted = TRUE;
  }
  return TRUE;
}

gboolean
hub_room_manager_is_member (HubRoomManager *mgr, const char *user, const char *room)
{
  HubRoom *r;

  g_return_val_if_fail (mgr != NULL, FALSE);
  g_return_val_if_fail (user != NULL, FALSE);
  g_return_val_if_fail (room != NULL, FALSE);

  r = g_hash_table_lookup (mgr->rooms, room);
  return r != NULL && g_hash_table_contains (r->members, user);
}

GHashTable *
hub_room_manager_get_user_rooms (HubRoomManager *mgr, const char *user)
{
  g_return_val_if_fail (mgr != NULL, NULL);
  g_return_val_if_fail (user != NULL, NULL);
  return g_hash_table_lookup (mgr->user_rooms, user);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *)a, *(char *const *)b);
}

char **
hub_room_manager_list_user_rooms (HubRoomManager *mgr, const char *user)
{
  GHashTable *rooms_of_user = hub_room_manager_get_user_rooms (mgr, user);
  guint n = 0;
  char **out;
  GHashTableIter iter;
  gpointer key;

  if (rooms_of_user == NULL)
    return g_new0 (char *, 1);
  out = g_new0 (char *, g_hash_table_size (rooms_of_user) + 1);
  g_hash_table_iter_init (&iter, rooms_of_user);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    out[n++] = g_strdup (key);
  qsort (out, n, sizeof (char *), compare_strings);
  return out;
}

gint64
hub_room_next_seq (HubRoom *room)
{
  g_return_val_if_fail (room != NULL, 0);
  return ++room->seq;
}

gboolean
hub_room_grant_holds (HubRoom *room, const char *user, guint need)
{
  gpointer grant;

  if (need == 0)
    return TRUE;
  if (room == NULL || !g_hash_table_lookup_extended (room->members, user, NULL, &grant))
    return FALSE;
  return (GPOINTER_TO_UINT (grant) & need) == need;
}

void
hub_room_set_grant (HubRoom *room, const char *user, guint grant)
{
  g_return_if_fail (room != NULL);
  g_return_if_fail (g_hash_table_contains (room->members, user));
  g_hash_table_insert (room->members, g_strdup (user), GUINT_TO_POINTER (grant));
}
