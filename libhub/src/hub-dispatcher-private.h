/* hub-dispatcher-private.h: the dispatcher's state, shared by its three files:
 * hub-dispatcher.c (connections, hello, liveness, stats), hub-dispatcher-requests.c
 * (one function per request type) and hub-dispatcher-api.c (HTTP publish). */
#pragma once

#include "hub-broker-private.h"
#include "hub-keyring.h"
#include "hub/hub-auth.h"
#include "hub/hub-codec.h"
#include "hub/hub-dispatcher.h"

/* A connection may watch at most this many users: subscriptions cost memory
 * on the server, and nothing in PROTOCOL.md needs more. */
#define HUB_MAX_SUBSCRIPTIONS_PER_CONNECTION 10000

struct _HubDispatcher {
  HubConfig config;            /* (owned) */
  HubClock *clock;             /* (owned) */
  HubConnectionManager *conns; /* (owned) */
  HubRoomManager *rooms;       /* (owned) */
  HubPresence *presence;       /* (owned) */
  HubBroadcaster *broadcaster; /* (owned) */
  char *conn_id_prefix;        /* (owned) "<node>-<start time base 36>-" */
  guint64 next_conn_serial;
  gint64 started_mono_us;
  guint64 frames_in_total;
  guint64 messages_in_total;
  guint tick_timer;
  guint tick_count;
  /* (owned) where the shared state lives: in memory (hub-broker-memory.c),
   * or on Redis (hub-broker-cluster.c); the only seam between the modes. */
  HubBroker *broker;
  /* hub-dispatcher-ops.c: the secrets tokens are checked against, and the
   * node's metrics with two of its families. */
  HubKeyring *keyring; /* (owned) */
  HubMetrics *metrics; /* (owned) */
  HubMetric *errors;   /* (unowned) hub_errors_total{code} */
  HubMetric *requests; /* (unowned) hub_request_duration_seconds{type} */
  HubMetricSeries *request_series[HUB_REQ_N_TYPES]; /* (unowned) its series, by type */
};

/* hub-dispatcher-ops.c, each called from one place: */
/* Makes the keyring and the metrics (hub_dispatcher_new) and frees them (_free). */
void hub_dispatcher_ops_init (HubDispatcher *d);
void hub_dispatcher_ops_clear (HubDispatcher *d);
/* A decoded request is about to run: its latency is observed when it is freed. */
void hub_dispatcher_track_request (HubDispatcher *d, HubRequest *req);
/* An error reply to @conn: counted by code; before hello also logged. */
void hub_dispatcher_note_error (HubConnection *conn, HubErrorCode code, const char *message);
/* A token checked against the current secret, or the previous one in its grace. */
HubAuthClaims *hub_dispatcher_verify_token (HubDispatcher *d, const char *token, GError **error);
/* The families of the registry (and its collectors) and, with @nodes_json
 * (the cluster's, else NULL), the cluster-wide sums, appended to @out. */
void hub_dispatcher_render_ops_metrics (HubDispatcher *d, GString *out, const char *nodes_json);

/* Sends a reply to @conn (not through the broadcaster: replies are not deliveries). */
void hub_dispatcher_send (HubConnection *conn, HubFrame *frame);
/* `ok` with @result's members, only when the request had an id (§2). Takes @result. */
void hub_dispatcher_reply_ok (HubConnection *conn, const char *id_json, JsonObject *result);
/* `error` always (with the id when there was one). */
void hub_dispatcher_reply_error (HubConnection *conn, const char *id_json, HubErrorCode code,
                                 const char *message);
void hub_dispatcher_reply_gerror (HubConnection *conn, const char *id_json, const GError *error);

/* The status of @user as @viewer sees it: users see their own status even
 * when invisible to others. */
HubStatus hub_dispatcher_status_seen_by (HubDispatcher *d, const char *viewer, const char *user);

/* A client message past counting and rate limiting: decoded and executed
 * (cluster mode replays the requests that came before its welcome here). */
void hub_dispatcher_receive_decoded (HubDispatcher *d, HubConnection *conn, const char *data,
                                     gsize len);
/* This node's figures as the JSON object of /api/stats, without `nodes`. (transfer full) */
char *hub_dispatcher_render_node_stats_json (HubDispatcher *d);

/* Executes an authenticated request (anything but hello) against the
 * in-memory state (hub-dispatcher-requests.c; the cluster runs ping here). */
void hub_dispatcher_execute (HubDispatcher *d, HubConnection *conn, HubRequest *req);

/* Shared by publish over WebSocket and over HTTP: assigns the seq, stores and
 * delivers. Returns the seq. */
gint64 hub_dispatcher_publish_to_room (HubDispatcher *d, HubRoom *room, const char *from,
                                       const char *device, JsonNode *payload);

/* POST /api/publish answers: {"code","message"} and {"<member>":value}. (transfer full) */
char *hub_dispatcher_api_error (guint *http_status, guint status, HubErrorCode code,
                                const char *message);
char *hub_dispatcher_api_result (guint *http_status, const char *member, gint64 value);

/* strcmp for g_ptr_array_sort of strings. */
int hub_dispatcher_compare_strings (gconstpointer a, gconstpointer b);
