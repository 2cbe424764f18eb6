/* hub-room-manager.h: rooms, user-level membership (it survives disconnects:
 * it belongs to the user, not the connection), per-room seq, stream epoch and
 * history, and the limits of PROTOCOL.md §4 and §8 (memberships per user,
 * rooms that never had a member per creator, history bytes). Plain state, no
 * I/O: the store that holds it runs the timer that expires empty rooms. */
#pragma once

#include <glib.h>

#include "hub-api.h"
#include "hub-history.h"

G_BEGIN_DECLS

/* Read-only for callers; owned by the manager. */
typedef struct {
  char *id;          /* (owned) */
  char *name;        /* (owned) defaults to id */
  gint64 created_ts; /* Unix ms */
  gint64 seq;        /* last assigned seq, 0 before the first publish */
  /* (owned) user id (char*) → the membership's grant (§12: HubPerm letters,
   * GUINT_TO_POINTER; 0 without one) */
  GHashTable *members;
  HubHistory *history; /* (owned) */
  /* Names this room's stream of seqs: a room deleted and created again (with
   * the same id) has another (§6 resume across a history loss). */
  gint64 epoch;
  gboolean had_member; /* a room that never had one expires (§8) */
  char *creator;       /* (owned) (nullable) whose empty-room budget it counts against */
  GList empty_link;    /* in the manager's queue of never-joined rooms, oldest first */
} HubRoom;

typedef struct _HubRoomManager HubRoomManager;

HUB_API
HubRoomManager *hub_room_manager_new (guint history_size, guint max_rooms_per_user,
                                      gboolean auto_create);
HUB_API
void hub_room_manager_free (HubRoomManager *mgr);

/* (transfer none) (nullable) */
HUB_API
HubRoom *hub_room_manager_lookup (HubRoomManager *mgr, const char *room);
HUB_API
guint hub_room_manager_n_rooms (HubRoomManager *mgr);

/* History bounds of the rooms made from now on: @room_bytes per room, and
 * @total_bytes for all rooms together, the oldest message evicted first
 * (0: no bound). */
HUB_API
void hub_room_manager_bound_history (HubRoomManager *mgr, gsize room_bytes, gsize total_bytes);
/* Bytes of history every room holds together. */
HUB_API
gsize hub_room_manager_history_bytes (HubRoomManager *mgr);
/* Rooms a user created that never had a member (§8): at most @max_per_user at
 * a time (0: no bound). */
HUB_API
void hub_room_manager_set_max_empty_rooms (HubRoomManager *mgr, guint max_per_user);

/* Creates @room (name NULL: the id). Error room_exists. (transfer none) */
HUB_API
HubRoom *hub_room_manager_create (HubRoomManager *mgr, const char *room, const char *name,
                                  gint64 now_ms, GError **error);
/* The same, counted against @creator's rooms that never had a member until
 * one joins: too_many_rooms beyond the limit. (transfer none) */
HUB_API
HubRoom *hub_room_manager_create_by (HubRoomManager *mgr, const char *creator, const char *room,
                                     const char *name, gint64 now_ms, GError **error);
/* Deletes every room created at or before @created_before_ms that never had
 * a member; returns how many. */
HUB_API
guint hub_room_manager_expire_empty (HubRoomManager *mgr, gint64 created_before_ms);
/* Creation time (Unix ms) of the oldest room that never had a member, or -1
 * when none. */
HUB_API
gint64 hub_room_manager_oldest_empty (HubRoomManager *mgr);
/* Rooms @user created that never had a member. */
HUB_API
guint hub_room_manager_count_empty (HubRoomManager *mgr, const char *user);
/* Makes @user a member, creating the room unless auto-create is off
 * (room_not_found). @name names a room this call creates; it is ignored for an
 * existing room. *@joined is FALSE when @user already was a member (a no-op).
 * too_many_rooms when the user is at the limit. (transfer none) */
HUB_API
HubRoom *hub_room_manager_join (HubRoomManager *mgr, const char *user, const char *room,
                                const char *name, gint64 now_ms, gboolean *joined, GError **error);
/* Removes @user from @room (room_not_found, not_member). When that was the last
 * member, the room is deleted with its history and *@deleted is TRUE. */
HUB_API
gboolean hub_room_manager_leave (HubRoomManager *mgr, const char *user, const char *room,
                                 gboolean *deleted, GError **error);
HUB_API
gboolean hub_room_manager_is_member (HubRoomManager *mgr, const char *user, const char *room);
/* The rooms @user is a member of: set of room ids (transfer none) (nullable). */
HUB_API
GHashTable *hub_room_manager_get_user_rooms (HubRoomManager *mgr, const char *user);
/* Room ids of @user, sorted, NULL-terminated (transfer full: g_strfreev). */
HUB_API
char **hub_room_manager_list_user_rooms (HubRoomManager *mgr, const char *user);

/* §12: TRUE when @need is 0, or @user is a member of @room (nullable) whose
 * grant holds every letter of @need. */
HUB_API
gboolean hub_room_grant_holds (HubRoom *room, const char *user, guint need);
/* Sets the grant of @user's membership of @room (a member) to @grant. */
HUB_API
void hub_room_set_grant (HubRoom *room, const char *user, guint grant);

/* Takes the next seq of @room (1, 2, …) and returns it. */
HUB_API
gint64 hub_room_next_seq (HubRoom *room);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubRoomManager, hub_room_manager_free)

G_END_DECLS
