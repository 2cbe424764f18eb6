/* hub-room-manager.h: rooms, user-level membership (it survives disconnects:
 * it belongs to the user, not the connection), per-room seq and history, and
 * the limits of PROTOCOL.md §4 and §8. Plain state, no I/O. */
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

/* Creates @room (name NULL: the id). Error room_exists. (transfer none) */
HUB_API
HubRoom *hub_room_manager_create (HubRoomManager *mgr, const char *room, const char *name,
                                  gint64 now_ms, GError **error);
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
