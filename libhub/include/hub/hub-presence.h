/* hub-presence.h: who is online and with what status (PROTOCOL.md §7), as the
 * memory store keeps it (hub-store-memory.c). Online/offline follows
 * connections (with a grace period before offline); the status belongs to the
 * user and is shared by all its devices; `offline` while connected means
 * invisible. Every change of a user's status *as others see it* is reported
 * once through the notify callback. Who watches whom is the node's
 * (hub-watchers.h). */
#pragma once

#include "hub-api.h"

#include <glib.h>

#include "hub-clock.h"
#include "hub-codec.h" /* HubStatus */

G_BEGIN_DECLS

typedef struct _HubPresence HubPresence;

/* @user's status as others see it changed to @status. */
typedef void (*HubPresenceNotify) (const char *user, HubStatus status, gpointer user_data);

HUB_API
HubPresence *hub_presence_new (HubClock *clock, guint grace_ms, HubPresenceNotify notify,
                               gpointer user_data);
HUB_API
void hub_presence_free (HubPresence *presence);

/* A connection of @user came (after hello) / went. The first connection makes
 * an offline user `online`; a connection that comes back within the grace
 * period cancels the pending offline and sends nothing. When the last one goes,
 * after grace_ms the user becomes offline and its status is forgotten. */
HUB_API
void hub_presence_connected (HubPresence *presence, const char *user);
HUB_API
void hub_presence_disconnected (HubPresence *presence, const char *user);

/* Sets the user's own status (the user must be connected). Notifies when the
 * visible status changed. */
HUB_API
void hub_presence_set_status (HubPresence *presence, const char *user, HubStatus status);
/* The status others see: offline when not connected or invisible. */
HUB_API
HubStatus hub_presence_get_visible_status (HubPresence *presence, const char *user);
/* The status the user set (online when never set), offline when not connected. */
HUB_API
HubStatus hub_presence_get_own_status (HubPresence *presence, const char *user);
/* TRUE while the user has a connection or is within its grace period. */
HUB_API
gboolean hub_presence_is_online (HubPresence *presence, const char *user);
/* The user's connections (0 within its grace period). */
HUB_API
guint hub_presence_count_connections (HubPresence *presence, const char *user);
/* Users with a connection or within their grace period (invisible ones included). */
HUB_API
guint hub_presence_n_online (HubPresence *presence);
/* Visible online users: count, and up to @limit of their ids (sorted) in @out
 * (transfer full, may be NULL). */
HUB_API
guint hub_presence_list_visible (HubPresence *presence, guint limit, GPtrArray **out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubPresence, hub_presence_free)

G_END_DECLS
