/* hub-room-manager.c: rooms and user-level membership (PROTOCOL.md §4): a room
 * lives until its last member leaves, each user is indexed by its rooms for
 * `welcome`, `rooms` and the max_rooms_per_user limit (§8); a room that never
 * had a member waits in a queue (creation order) for its expiry and counts
 * against its creator's max_empty_rooms_per_user. Plain state. */
#include "hub/hub-room-manager.h"

#include <stdlib.h>
#include <string.h>

#include "hub/hub-error.h"

struct _HubRoomManager {
  guint history_size;
  guint max_rooms_per_user; /* 0: no limit */
  gboolean auto_create;
  gsize history_room_bytes; /* 0: no bound */
  HubHistoryPool *pool;     /* (owned) every room's history, bounded in all */
  guint max_empty_per_user; /* 0: no limit */
  gint64 last_epoch;        /* epochs only grow (see new_epoch) */
  GHashTable *rooms;        /* (owned) room id (borrowed from the room) → HubRoom* (owned) */
  GHashTable *user_rooms;   /* (owned) user id (owned) → set of room ids (owned), never empty */
  GQueue empty;             /* HubRoom* (unowned, via empty_link) never joined, oldest first */
  GHashTable *empty_counts; /* (owned) creator (owned) → count (GUINT), never 0 */
};

/* A room's epoch: its creation time in µs, or one more than the last epoch
 * given when the clock has not moved on, so that two rooms of one id never
 * share one in this process, and a restarted server (the clock having run
 * on) gives new ones. */
static gint64
new_epoch (HubRoomManager *mgr, gint64 now_ms)
{
  mgr->last_epoch = MAX (now_ms * 1000, mgr->last_epoch + 1);
  return mgr->last_epoch;
}

/* @room had its first member, or goes: no longer waits for its expiry. */
static void
forget_empty (HubRoomManager *mgr, HubRoom *room)
{
  guint n;

  if (room->empty_link.data == NULL)
    return;
  g_queue_unlink (&mgr->empty, &room->empty_link);
  room->empty_link.data = NULL;
  if (room->creator == NULL)
    return;
  n = GPOINTER_TO_UINT (g_hash_table_lookup (mgr->empty_counts, room->creator));
  if (n <= 1)
    g_hash_table_remove (mgr->empty_counts, room->creator);
  else
    g_hash_table_insert (mgr->empty_counts, g_strdup (room->creator), GUINT_TO_POINTER (n - 1));
  g_clear_pointer (&room->creator, g_free);
}

static HubRoom *
room_new (HubRoomManager *mgr, const char *id, const char *name, gint64 now_ms)
{
  HubRoom *room = g_new0 (HubRoom, 1);

  room->id = g_strdup (id);
  room->name = g_strdup (name != NULL ? name : id);
  room->created_ts = now_ms;
  room->epoch = new_epoch (mgr, now_ms);
  room->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  room->history = hub_history_new_bounded (mgr->history_size, mgr->history_room_bytes, mgr->pool);
  return room;
}

static void
room_free (HubRoom *room)
{
  /* Unlinked from the empty queue by whoever removes it (remove_room). */
  hub_history_free (room->history);
  g_hash_table_unref (room->members);
  g_free (room->creator);
  g_free (room->name);
  g_free (room->id);
  g_free (room);
}

static void
remove_room (HubRoomManager *mgr, HubRoom *room)
{
  forget_empty (mgr, room);
  g_hash_table_remove (mgr->rooms, room->id);
}

HubRoomManager *
hub_room_manager_new (guint history_size, guint max_rooms_per_user, gboolean auto_create)
{
  HubRoomManager *mgr = g_new0 (HubRoomManager, 1);

  mgr->history_size = history_size;
  mgr->max_rooms_per_user = max_rooms_per_user;
  mgr->auto_create = auto_create;
  mgr->pool = hub_history_pool_new (0);
  mgr->rooms = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify)room_free);
  mgr->user_rooms =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_hash_table_unref);
  mgr->empty_counts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return mgr;
}

void
hub_room_manager_bound_history (HubRoomManager *mgr, gsize room_bytes, gsize total_bytes)
{
  g_return_if_fail (mgr != NULL);
  g_return_if_fail (g_hash_table_size (mgr->rooms) == 0);
  mgr->history_room_bytes = room_bytes;
  hub_history_pool_free (mgr->pool);
  mgr->pool = hub_history_pool_new (total_bytes);
}

gsize
hub_room_manager_history_bytes (HubRoomManager *mgr)
{
  g_return_val_if_fail (mgr != NULL, 0);
  return hub_history_pool_bytes (mgr->pool);
}

void
hub_room_manager_set_max_empty_rooms (HubRoomManager *mgr, guint max_per_user)
{
  g_return_if_fail (mgr != NULL);
  mgr->max_empty_per_user = max_per_user;
}

void
hub_room_manager_free (HubRoomManager *mgr)
{
  if (mgr == NULL)
    return;
  g_hash_table_unref (mgr->user_rooms);
  g_queue_init (&mgr->empty); /* its links are in the rooms: they go with them */
  g_hash_table_unref (mgr->rooms);
  g_hash_table_unref (mgr->empty_counts);
  hub_history_pool_free (mgr->pool);
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
  HubRoom *room = room_new (mgr, id, name, now_ms);

  g_hash_table_insert (mgr->rooms, room->id, room);
  return room;
}

guint
hub_room_manager_count_empty (HubRoomManager *mgr, const char *user)
{
  g_return_val_if_fail (mgr != NULL, 0);
  g_return_val_if_fail (user != NULL, 0);
  return GPOINTER_TO_UINT (g_hash_table_lookup (mgr->empty_counts, user));
}

HubRoom *
hub_room_manager_create_by (HubRoomManager *mgr, const char *creator, const char *room,
                            const char *name, gint64 now_ms, GError **error)
{
  HubRoom *r;

  g_return_val_if_fail (mgr != NULL, NULL);
  g_return_val_if_fail (room != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_hash_table_contains (mgr->rooms, room)) {
    g_set_error (error, HUB_ERROR, HUB_ERROR_ROOM_EXISTS, "Room %s already exists", room);
    return NULL;
  }
  if (creator != NULL && mgr->max_empty_per_user > 0 &&
      hub_room_manager_count_empty (mgr, creator) >= mgr->max_empty_per_user) {
    g_set_error (error, HUB_ERROR, HUB_ERROR_TOO_MANY_ROOMS,
                 "User %s already created %u rooms that never had a member, the maximum", creator,
                 mgr->max_empty_per_user);
    return NULL;
  }
  r = insert_room (mgr, room, name, now_ms);
  /* Never had a member: counted, and expires unless one joins (§8). Rooms
   * are created in clock order, so the queue stays in creation order. */
  r->empty_link.data = r;
  g_queue_push_tail_link (&mgr->empty, &r->empty_link);
  if (creator != NULL) {
    r->creator = g_strdup (creator);
    g_hash_table_insert (mgr->empty_counts, g_strdup (creator),
                         GUINT_TO_POINTER (hub_room_manager_count_empty (mgr, creator) + 1));
  }
  return r;
}

HubRoom *
hub_room_manager_create (HubRoomManager *mgr, const char *room, const char *name, gint64 now_ms,
                         GError **error)
{
  return hub_room_manager_create_by (mgr, NULL, room, name, now_ms, error);
}

guint
hub_room_manager_expire_empty (HubRoomManager *mgr, gint64 created_before_ms)
{
  guint n = 0;
  HubRoom *room;

  g_return_val_if_fail (mgr != NULL, 0);
  while ((room = g_queue_peek_head (&mgr->empty)) != NULL &&
         room->created_ts <= created_before_ms) {
    remove_room (mgr, room);
    n++;
  }
  return n;
}

gint64
hub_room_manager_oldest_empty (HubRoomManager *mgr)
{
  HubRoom *room;

  g_return_val_if_fail (mgr != NULL, -1);
  room = g_queue_peek_head (&mgr->empty);
  return room != NULL ? room->created_ts : -1;
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
  r->had_member = TRUE;
  forget_empty (mgr, r);
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
    remove_room (mgr, r);
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
