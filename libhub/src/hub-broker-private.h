/* hub-broker-private.h: the one seam between the dispatcher and where a
 * node's shared state lives. Two implementations: in memory, one node
 * (hub-broker-memory.c), and on Redis, a cluster (hub-broker-cluster.c). The
 * dispatcher decodes, authenticates and counts; everything that reads or
 * changes rooms, presence or deliveries goes through this vtable. */
#pragma once

#include "hub/hub-codec.h"
#include "hub/hub-dispatcher.h"

G_BEGIN_DECLS

typedef struct _HubBroker HubBroker;

typedef struct {
  gboolean up;
  guint nodes; /* live nodes, as of the last liveness refresh */
  guint rooms;
  guint users_online;
  guint64 resyncs;
  const char *nodes_json; /* "\"name\":{…},…" (transfer none) */
} HubClusterFigures;

typedef struct {
  void (*free) (HubBroker *b);
  /* Hello past authentication: registers @conn, sends welcome and the
   * replay of req->resume. Takes @req. */
  void (*hello) (HubBroker *b, HubConnection *conn, HubRequest *req, const char *user,
                 const char *device, gboolean admin);
  /* TRUE while a hello of @conn is under way: its later requests are kept
   * (queue_request) and run after the welcome. NULL: never. */
  gboolean (*hello_pending) (HubBroker *b, HubConnection *conn);
  void (*queue_request) (HubBroker *b, HubConnection *conn, const char *data, gsize len);
  /* Any request after hello. Takes @req. */
  void (*execute) (HubBroker *b, HubConnection *conn, HubRequest *req);
  /* Before the connection manager forgets @conn. */
  void (*connection_closed) (HubBroker *b, HubConnection *conn);
  /* Every quarter heartbeat (every eighth dispatcher tick). NULL: nothing to do. */
  void (*tick) (HubBroker *b);
  /* FALSE while the shared state cannot be reached (/healthz 503). */
  gboolean (*is_up) (HubBroker *b);
  /* /metrics and /api/stats: the rooms (everywhere) and this node's users online. */
  void (*get_counts) (HubBroker *b, guint *rooms, guint *users_online);
  /* The cluster's figures; NULL (or FALSE) on one node. */
  gboolean (*get_cluster_figures) (HubBroker *b, HubClusterFigures *out);
  /* POST /api/publish of a valid request: exactly one of @room, @to and
   * @broadcast. Blocking (returns the body, sets @http_status), and not
   * (hub_dispatcher_api_publish_async's contract). */
  char *(*api_publish) (HubBroker *b, const char *room, const char *to, gboolean broadcast,
                        JsonNode *payload, guint *http_status);
  HubApiPublish *(*api_publish_async) (HubBroker *b, const char *room, const char *to,
                                       gboolean broadcast, JsonNode *payload,
                                       HubApiPublishFunc func, gpointer user_data);
  /* NULL when api_publish_async always answers before returning. */
  void (*api_publish_cancel) (HubBroker *b, HubApiPublish *publish);
} HubBrokerVTable;

struct _HubBroker {
  const HubBrokerVTable *vtable;
  HubDispatcher *d; /* (unowned) the dispatcher that owns this broker */
};

/* The in-memory broker of one node (hub-broker-memory.c). */
HubBroker *hub_broker_memory_new (HubDispatcher *d);
/* The Redis broker (hub-broker-cluster.c); starts connecting. NULL with @error
 * for a malformed URL. */
HubBroker *hub_broker_cluster_new (HubDispatcher *d, const char *url, const char *prefix,
                                   GError **error);
void hub_broker_free (HubBroker *b);

/* The sender and device of HTTP publishes (PROTOCOL.md §10). */
#define HUB_API_SENDER "@api"
#define HUB_API_DEVICE "http"

G_END_DECLS
