/* hub-stats.h: GET /api/stats from the server hub-client is connected to
 * (same host and port, http or https), with GIO. */
#pragma once

#include <gio/gio.h>
#include <hub/hub-client.h>

G_BEGIN_DECLS

/* Fetches http(s)://HOST:PORT/api/stats; @allow_self_signed accepts any
 * certificate. */
void hub_stats_fetch_async (const HubClientUrl *url, gboolean allow_self_signed,
                            GCancellable *cancellable, GAsyncReadyCallback callback,
                            gpointer user_data);
/* The body parsed as a JSON object, or NULL with @error (a non-200 answer
 * included). (transfer full) */
JsonObject *hub_stats_fetch_finish (GAsyncResult *result, GError **error);

G_END_DECLS
