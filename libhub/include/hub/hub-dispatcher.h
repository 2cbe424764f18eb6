/* hub-dispatcher.h: executes client requests and produces the replies and
 * deliveries of PROTOCOL.md. The transport hands it whole text messages; it
 * never sees a socket. Owns this node's connections (connection manager,
 * watchers, broadcaster) and its store (hub-store.h), where the state nodes
 * share lives: in memory by default, on Redis in a cluster. */
#pragma once

#include "hub-api.h"

#include <glib.h>

#include "hub-broadcaster.h"
#include "hub-clock.h"
#include "hub-config.h"
#include "hub-connection-manager.h"
#include "hub-metrics.h"
#include "hub-store.h"

G_BEGIN_DECLS

typedef struct _HubDispatcher HubDispatcher;

typedef struct {
  gint64 uptime_s;
  guint connections;
  guint users_online;
  guint rooms;
  guint64 frames_in_total;
  guint64 messages_in_total;
  guint64 deliveries_total;
  guint64 slow_consumer_closes_total;
  guint64 dropped_total;
} HubStats;

/* Copies @config; refs @clock. Starts the heartbeat timer on @clock. Keeps
 * its state in memory (hub_store_memory_new) until hub_dispatcher_use_store. */
HUB_API
HubDispatcher *hub_dispatcher_new (const HubConfig *config, HubClock *clock);
HUB_API
void hub_dispatcher_free (HubDispatcher *d);

/* Keeps the node's state in @store (taken) from now on, e.g. Redis'
 * (hub-store-redis.h). Call before any connection. */
HUB_API
void hub_dispatcher_use_store (HubDispatcher *d, HubStore *store);
/* TRUE when the store is a cluster's (it has cluster figures). */
HUB_API
gboolean hub_dispatcher_is_clustered (HubDispatcher *d);
/* FALSE while the store cannot reach the shared state (degraded). */
HUB_API
gboolean hub_dispatcher_is_healthy (HubDispatcher *d);
/* The /healthz body: 200 {"status":"ok","node":…} or, degraded, 503
 * {"status":"degraded","node":…,"reason":…}. (transfer full) */
HUB_API
char *hub_dispatcher_render_health (HubDispatcher *d, guint *http_status);

/* Calls @func once every request received before has been answered and the
 * deliveries it caused on this node were made (@ok FALSE when the store
 * could not be reached); before returning with the memory store. For tests
 * and tools that drive a node without sockets. */
typedef void (*HubDispatcherSyncFunc) (gboolean ok, gpointer user_data);
HUB_API
void hub_dispatcher_sync (HubDispatcher *d, HubDispatcherSyncFunc func, gpointer user_data);

/* A transport accepted a WebSocket: returns the new connection (transfer none:
 * the dispatcher keeps it until hub_dispatcher_connection_closed()). Starts its
 * hello timeout. */
HUB_API
HubConnection *hub_dispatcher_connection_open (HubDispatcher *d, const HubSinkVTable *sink,
                                               gpointer sink_data);
/* One complete client text message (valid UTF-8, within max_message_bytes:
 * the transport enforces 1003/1007/1009). Replies and deliveries go to queues. */
HUB_API
void hub_dispatcher_receive (HubDispatcher *d, HubConnection *conn, const char *data, gsize len);
/* The largest message @conn may send now (the transport closes with 1009
 * beyond it): until it has said hello 8 KiB, but for its first message (a
 * hello that may carry a long resume); max_message_bytes after. */
HUB_API
gsize hub_dispatcher_frame_limit (HubDispatcher *d, HubConnection *conn);
/* A client message the transport refuses (binary 1003, invalid UTF-8 1007,
 * too big 1009): counted like any message, then the connection is closed with
 * @code once the replies to earlier requests are out. */
HUB_API
void hub_dispatcher_reject (HubDispatcher *d, HubConnection *conn, guint16 code,
                            const char *reason);
/* A pong or other sign of life. */
HUB_API
void hub_dispatcher_touch (HubDispatcher *d, HubConnection *conn);
/* The transport is gone: forget the connection (presence, subscriptions). */
HUB_API
void hub_dispatcher_connection_closed (HubDispatcher *d, HubConnection *conn);

/* POST /api/publish (§10). @authorization is the header value (nullable).
 * Returns the JSON body and sets @http_status. (transfer full) With a store
 * that answers later (Redis) this iterates the default main context until it
 * did (at most 5 s): never call it from a callback of that context;
 * hub-server uses hub_dispatcher_api_publish_async(). */
HUB_API
char *hub_dispatcher_api_publish (HubDispatcher *d, const char *body, gsize len,
                                  const char *authorization, guint *http_status);

/* POST /api/publish without blocking the loop (a cluster node waits for
 * Redis). @func gets the HTTP status and the JSON body (transfer none)
 * exactly once, unless the publish is cancelled first. In memory mode, and
 * for every answer found without Redis, @func runs before this returns and
 * the result is NULL; otherwise the handle is valid until @func runs. A
 * cluster node answers 503 `internal` when Redis does not answer within 5 s. */
typedef void (*HubApiPublishFunc) (guint http_status, const char *body, gpointer user_data);
typedef struct _HubApiPublish HubApiPublish;
HUB_API
HubApiPublish *hub_dispatcher_api_publish_async (HubDispatcher *d, const char *body, gsize len,
                                                 const char *authorization, HubApiPublishFunc func,
                                                 gpointer user_data);
/* @func of a pending @publish will not run (e.g. the HTTP client went away). */
HUB_API
void hub_dispatcher_api_publish_cancel (HubDispatcher *d, HubApiPublish *publish);

/* Whether an HTTP request's Authorization header value (nullable) carries
 * an admin token (PROTOCOL.md §10): 0 when it does (or the node has no
 * secret), else 401 (none, or not valid) or 403 (valid, not admin) with
 * @error saying why. The token is checked as every token is: the current
 * secret, or the previous one within its grace after a SIGHUP rotation. */
HUB_API
guint hub_dispatcher_authorize_admin (HubDispatcher *d, const char *authorization, GError **error);

/* Closes every connection with @code (after flushing what is queued). */
HUB_API
void hub_dispatcher_close_all (HubDispatcher *d, guint16 code, const char *reason);

HUB_API
void hub_dispatcher_get_stats (HubDispatcher *d, HubStats *stats);
HUB_API
const HubConfig *hub_dispatcher_get_config (HubDispatcher *d);
HUB_API
HubClock *hub_dispatcher_get_clock (HubDispatcher *d);
HUB_API
HubConnectionManager *hub_dispatcher_get_connections (HubDispatcher *d);
/* The node's metrics registry: hub_errors_total{code} and
 * hub_request_duration_seconds{type} are the dispatcher's; a transport adds
 * its own families (hub-server: closes, delivery lag). (transfer none) */
HUB_API
HubMetrics *hub_dispatcher_get_metrics (HubDispatcher *d);

/* The settings a running node can change (hub-server's SIGHUP): a new secret
 * (tokens signed with the previous one still pass for @secret_grace_s
 * seconds), the limits connections opened from now on get (rate_per_s,
 * burst, max_queue_bytes, hello_timeout_s), and the bounds per user, which
 * apply to every hello, subscribe and fan-out from now on
 * (max_connections_per_user, max_subscriptions_per_user, fanout_bytes_per_s).
 * Other fields of @config are ignored. FALSE with @error when @config adds or removes the secret:
 * that changes whether every client must show a token, so it needs a restart. */
HUB_API
gboolean hub_dispatcher_reconfigure (HubDispatcher *d, const HubConfig *config,
                                     guint secret_grace_s, GError **error);

/* /metrics (Prometheus text 0.0.4) and /api/stats (JSON) bodies. (transfer full) */
HUB_API
char *hub_dispatcher_render_metrics (HubDispatcher *d);
HUB_API
char *hub_dispatcher_render_stats_json (HubDispatcher *d);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubDispatcher, hub_dispatcher_free)

G_END_DECLS
