/* hub-dispatcher-private.h: the dispatcher's state, shared by its three files:
 * hub-dispatcher.c (connections, hello, liveness, stats), hub-dispatcher-requests.c
 * (one function per request type) and hub-dispatcher-api.c (HTTP publish). */
#pragma once

#include "hub-broker-private.h"
#include "hub-dispatcher-guard.h"
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
  HubDispatcherGuard guard; /* liveness across stalls, bounds per user (hub-dispatcher-guard.c) */
};

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
