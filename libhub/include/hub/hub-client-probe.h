/* hub-client-probe.h: why a WebSocket connection to a hub server cannot be
 * made, in words a user understands. libwebsockets reports a failed connect
 * in its own terms ("closed before established", "HS: ws upgrade response
 * not 101", an OpenSSL error number); the probe retraces the steps with GIO —
 * name lookup, TCP connect, TLS handshake, the HTTP upgrade — and says which
 * one failed and how. Meant for a failure already seen (a program's first
 * connection, a load test's preflight), not for every attempt of a busy
 * client: it opens one or two connections of its own. */
#pragma once

#include <gio/gio.h>

#include "hub-client.h"

G_BEGIN_DECLS

/* Probes @url (what hub_client_url_parse made) within @timeout_ms (0: 5 s).
 * @ca_file (nullable) and @allow_self_signed as HubClientOptions. Runs on the
 * thread-default main context. */
HUB_CLIENT_API
void hub_client_probe_async (const HubClientUrl *url, const char *ca_file,
                             gboolean allow_self_signed, guint timeout_ms,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data);
/* TRUE when the server answered the upgrade with 101 (it is there now);
 * FALSE with @error saying why not, its message a whole sentence naming the
 * host, port or path concerned:
 * - G_RESOLVER_ERROR: the host name does not resolve (DNS failure);
 * - G_IO_ERROR_CONNECTION_REFUSED: nothing listens on that port;
 * - G_IO_ERROR_TIMED_OUT: no answer in time;
 * - G_IO_ERROR_HOST_UNREACHABLE, G_IO_ERROR_NETWORK_UNREACHABLE, other
 *   G_IO_ERROR codes: the connect failed otherwise;
 * - G_TLS_ERROR: the TLS handshake failed (the reason: a certificate not
 *   trusted, for another host, expired…; a server that speaks plain HTTP);
 * - G_IO_ERROR_NOT_FOUND: HTTP 404, no WebSocket endpoint at that path;
 * - G_IO_ERROR_FAILED: another HTTP status, or an answer that is not HTTP;
 * - G_IO_ERROR_CANCELLED. */
HUB_CLIENT_API
gboolean hub_client_probe_finish (GAsyncResult *result, GError **error);

/* The same, waiting: iterates a main context of its own (pushed as the
 * thread default meanwhile) until the answer. */
HUB_CLIENT_API
gboolean hub_client_probe_sync (const HubClientUrl *url, const char *ca_file,
                                gboolean allow_self_signed, guint timeout_ms, GError **error);

G_END_DECLS
