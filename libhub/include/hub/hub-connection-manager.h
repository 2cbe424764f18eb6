/* hub-connection-manager.h: every connection of this node, by id and by user
 * (all devices of a user). Holds a reference on each connection it tracks. */
#pragma once

#include <glib.h>

#include "hub-api.h"
#include "hub-connection.h"

G_BEGIN_DECLS

typedef struct _HubConnectionManager HubConnectionManager;

HUB_API
HubConnectionManager *hub_connection_manager_new (void);
HUB_API
void hub_connection_manager_free (HubConnectionManager *mgr);

/* Tracks @conn (takes a ref). Its id must be unique. */
HUB_API
void hub_connection_manager_add (HubConnectionManager *mgr, HubConnection *conn);
/* Indexes @conn under its user; call after hub_connection_authenticate(). */
HUB_API
void hub_connection_manager_bind_user (HubConnectionManager *mgr, HubConnection *conn);
/* Forgets @conn (drops the ref). No-op when not tracked. */
HUB_API
void hub_connection_manager_remove (HubConnectionManager *mgr, HubConnection *conn);

/* (transfer none) (nullable) */
HUB_API
HubConnection *hub_connection_manager_lookup (HubConnectionManager *mgr, const char *id);
/* The user's connections, in the order they authenticated. (transfer none)
 * (nullable): NULL when the user has none here. Do not modify. */
HUB_API
GPtrArray *hub_connection_manager_get_user_connections (HubConnectionManager *mgr,
                                                        const char *user);
HUB_API
guint hub_connection_manager_count_user (HubConnectionManager *mgr, const char *user);

HUB_API
guint hub_connection_manager_n_connections (HubConnectionManager *mgr);
HUB_API
guint hub_connection_manager_n_authenticated (HubConnectionManager *mgr);
HUB_API
guint hub_connection_manager_n_users (HubConnectionManager *mgr);

typedef void (*HubConnectionFunc) (HubConnection *conn, gpointer user_data);
/* Calls @func for every connection (authenticated or not). @func may close
 * connections but must not add or remove them. */
HUB_API
void hub_connection_manager_foreach (HubConnectionManager *mgr, HubConnectionFunc func,
                                     gpointer user_data);
/* Same, for authenticated connections only (the broadcast path: no allocation). */
HUB_API
void hub_connection_manager_foreach_authenticated (HubConnectionManager *mgr,
                                                   HubConnectionFunc func, gpointer user_data);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubConnectionManager, hub_connection_manager_free)

G_END_DECLS
