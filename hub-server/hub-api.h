/* hub-api.h: the HTTP side of PROTOCOL.md §13, the server API: which action
 * a path names (its 404 and 405), the query string as libwebsockets parsed it
 * (split at '&' and percent-decoded), and the call into the dispatcher
 * (hub_dispatcher_api_call_async), which checks the admin token, the body or
 * query and the state, and answers through the store. */
#pragma once

#include <glib.h>
#include <hub/hub.h>
#include <libwebsockets.h>

G_BEGIN_DECLS

/* TRUE when @path is one of §13's paths: *@action is its action, *@target
 * its room or user (transfer full, NULL when the path has none) and
 * *@method the one method it answers ("GET" or "POST"). FALSE (404) for any
 * other path, one under /api/rooms/ or /api/users/ with more segments
 * included. */
gboolean hub_api_route (const char *path, HubApiAction *action, char **target, const char **method);

/* Whether @path is one of §13's paths (hub_api_route's TRUE). */
gboolean hub_api_knows (const char *path);

/* Runs @action for the request of @wsi: its query parameters (a GET's), @body
 * (a POST's, @len bytes) and @authorization. As hub_dispatcher_api_call_async:
 * @func runs once (maybe before this returns, and then NULL is returned). */
HubApiCall *hub_api_start (HubDispatcher *d, struct lws *wsi, HubApiAction action,
                           const char *target, const char *body, gsize len,
                           const char *authorization, HubApiFunc func, gpointer user_data);

G_END_DECLS
