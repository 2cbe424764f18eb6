/* hub-api.h: the HTTP side of PROTOCOL.md §13, the server API, for the routes
 * of hub-http.c's table: the shapes of its paths with a name in them, that
 * name, the query string as libwebsockets parsed it
 * (split at '&' and percent-decoded), and the call into the dispatcher
 * (hub_dispatcher_api_call_async), which checks the admin token, the body or
 * query and the state, and answers through the store. */
#pragma once

#include <glib.h>
#include <hub/hub.h>
#include <libwebsockets.h>

G_BEGIN_DECLS

/* The shapes of §13's paths under a prefix route of hub-http.c's table (the
 * table's `knows`): anything else under the prefix is an unknown path (404).
 * A name is one segment: a room id has no '/' (§2), so ROOM ends at the
 * first one. */
gboolean hub_api_is_room_path (const char *path);    /* /api/rooms/ROOM */
gboolean hub_api_is_history_path (const char *path); /* /api/rooms/ROOM/history */
gboolean hub_api_is_user_path (const char *path);    /* /api/users/USER */

/* The ROOM or USER of such a path: its third segment. (transfer full) */
char *hub_api_path_target (const char *path);

/* Runs @action for the request of @wsi: its query parameters (a GET's), @body
 * (a POST's, @len bytes) and @authorization. As hub_dispatcher_api_call_async:
 * @func runs once (maybe before this returns, and then NULL is returned). */
HubApiCall *hub_api_start (HubDispatcher *d, struct lws *wsi, HubApiAction action,
                           const char *target, const char *body, gsize len,
                           const char *authorization, HubApiFunc func, gpointer user_data);

G_END_DECLS
