/* hub-watchers.h: which of this node's connections watch which users' status
 * (PROTOCOL.md §7: subscriptions belong to the connection). Node-local, like
 * the connection manager: the store only learns which users the node watches
 * at all (the first watcher of a user, the last one gone). Plain state. */
#pragma once

#include "hub-api.h"

#include <glib.h>

G_BEGIN_DECLS

typedef struct _HubWatchers HubWatchers;

HUB_API
HubWatchers *hub_watchers_new (void);
HUB_API
void hub_watchers_free (HubWatchers *watchers);

/* @watcher (an opaque key: the dispatcher uses HubConnection*) watches @user.
 * TRUE when it is the first watcher of @user. */
HUB_API
gboolean hub_watchers_add (HubWatchers *watchers, gpointer watcher, const char *user);
/* TRUE when that was the last watcher of @user. */
HUB_API
gboolean hub_watchers_remove (HubWatchers *watchers, gpointer watcher, const char *user);
/* The watchers of @user: a set of keys (transfer none) (nullable: none). */
HUB_API
GHashTable *hub_watchers_get (HubWatchers *watchers, const char *user);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubWatchers, hub_watchers_free)

G_END_DECLS
