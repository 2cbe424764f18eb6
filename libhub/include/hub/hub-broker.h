/* hub-broker.h: where a node keeps its shared state. By default the
 * dispatcher's broker keeps everything in memory (one node); with Redis,
 * several nodes share rooms, seq, history, presence and fan-out (PROTOCOL.md
 * §11, docs/cluster.md). Both brokers implement one vtable that is private
 * to libhub (HubBrokerVTable, in libhub/src/). */
#pragma once

#include <glib.h>

#include "hub-api.h"
#include "hub-dispatcher.h"

G_BEGIN_DECLS

/* Puts @d in cluster mode on the Redis at @url (redis://HOST:PORT[/DB]), with
 * every key and channel under @prefix. Call once, before any connection. The
 * connection is made from the GLib main loop; until it is up (and whenever it
 * is lost) requests needing Redis get `internal` "cluster broker unavailable".
 * FALSE with @error for a malformed URL. */
HUB_API
gboolean hub_dispatcher_use_redis (HubDispatcher *d, const char *url, const char *prefix,
                                   GError **error);
/* TRUE in cluster mode. */
HUB_API
gboolean hub_dispatcher_is_clustered (HubDispatcher *d);
/* FALSE while in cluster mode without Redis (degraded). */
HUB_API
gboolean hub_dispatcher_is_healthy (HubDispatcher *d);
/* The /healthz body: 200 {"status":"ok","node":…} or, degraded, 503
 * {"status":"degraded","node":…,"reason":…}. (transfer full) */
HUB_API
char *hub_dispatcher_render_health (HubDispatcher *d, guint *http_status);

G_END_DECLS
