/* hub-broker-cluster.h: the dispatcher's cluster mode (hub-broker-cluster.c),
 * private to libhub: the functions behind its HubBroker vtable
 * (hub-broker-private.h), shared by the hub-broker-*.c files. */
#pragma once

#include "hub-broker-private.h"

G_BEGIN_DECLS

typedef struct _HubCluster HubCluster;

/* The cluster broker of @d; NULL in memory mode and while @d frees its broker. */
HubCluster *hub_cluster_of (HubDispatcher *d);

/* Hello after authentication: registers the connection in Redis, then sends
 * welcome and the replay. Takes @req. */
void hub_cluster_hello (HubDispatcher *d, HubConnection *conn, HubRequest *req, const char *user,
                        const char *device, gboolean admin);
/* TRUE between a hello sent to Redis and its answer: later requests wait. */
gboolean hub_cluster_hello_pending (HubDispatcher *d, HubConnection *conn);
void hub_cluster_queue_request (HubDispatcher *d, HubConnection *conn, const char *data, gsize len);
/* Any request after hello. Takes @req. */
void hub_cluster_execute (HubDispatcher *d, HubConnection *conn, HubRequest *req);
/* Before the connection manager forgets @conn. */
void hub_cluster_connection_closed (HubDispatcher *d, HubConnection *conn);
/* Every dispatcher tick: liveness refresh, reaping of dead nodes, figures. */
void hub_cluster_tick (HubDispatcher *d);

/* POST /api/publish in a cluster (blocking on Redis, at most about 1 s):
 * exactly one of @room, @to, @broadcast. Sets @http_status; returns the body. (transfer full) */
char *hub_cluster_api_publish (HubDispatcher *d, const char *room, const char *to,
                               gboolean broadcast, JsonNode *payload, const char *sender,
                               const char *device, guint *http_status);

/* The same without blocking (hub_dispatcher_api_publish_async()). */
HubApiPublish *hub_cluster_api_publish_async (HubDispatcher *d, const char *room, const char *to,
                                              gboolean broadcast, JsonNode *payload,
                                              const char *sender, const char *device,
                                              HubApiPublishFunc func, gpointer user_data);
void hub_cluster_api_publish_cancel (HubDispatcher *d, HubApiPublish *publish);

int hub_cluster_compare_strings (gconstpointer a, gconstpointer b);

G_END_DECLS
