/* hub-dispatcher-private.h: the dispatcher's state, shared by its files:
 * hub-dispatcher.c (connections, liveness, figures, the store's events),
 * hub-dispatcher-hello.c (hello and resume), hub-dispatcher-requests.c (the
 * one table of request handlers), hub-dispatcher-reply.c (replies and the
 * one text per error) and hub-dispatcher-api.c (HTTP publish). Below them
 * all, the store (hub-store.h) holds the shared state. */
#pragma once

#include "hub-deadlines.h"
#include "hub-dispatcher-guard.h"
#include "hub-keyring.h"
#include "hub/hub-auth.h"
#include "hub/hub-codec.h"
#include "hub/hub-dispatcher.h"
#include "hub/hub-store.h"
#include "hub/hub-watchers.h"

/* A connection may watch at most this many users: subscriptions cost memory
 * on the server, and nothing in PROTOCOL.md needs more. */
#define HUB_MAX_SUBSCRIPTIONS_PER_CONNECTION 10000

/* The sender and device of HTTP publishes (PROTOCOL.md §10). */
#define HUB_API_SENDER "@api"
#define HUB_API_DEVICE "http"

/* A resume's replay under way (hub-dispatcher-replay.c). */
typedef struct _HubReplay HubReplay;

struct _HubDispatcher {
  HubConfig config;            /* (owned) */
  HubClock *clock;             /* (owned) */
  HubConnectionManager *conns; /* (owned) this node's connections */
  HubWatchers *watchers;       /* (owned) who of them watches whom (§7) */
  HubBroadcaster *broadcaster; /* (owned) */
  /* (owned) the shared state: in memory (hub-store-memory.c) or on Redis
   * (libhub/redis/); the only seam between the modes. */
  HubStore *store;
  HubStoreEvents events; /* what the store calls back: hub-dispatcher.c */
  /* Hellos the store has not finished (hub-dispatcher-hello.c); each is
   * owned by the store operation under way. */
  GHashTable *hellos;      /* (owned) HubConnection* (unowned) → HubHello* (unowned) */
  GHashTable *hello_users; /* (owned) user → GPtrArray of HubConnection* (unowned) */
  /* Replays under way: HubConnection* (unowned) → HubReplay* (unowned: the
   * connection's source owns it). */
  GHashTable *replays;  /* (owned) */
  char *conn_id_prefix; /* (owned) "<node>-<start time base 36>-" */
  guint64 next_conn_serial;
  gint64 started_mono_us;
  guint64 frames_in_total;
  guint64 messages_in_total;
  guint tick_timer;
  guint tick_count;
  HubDeadlines *deadlines;  /* (owned) the connections' token deadlines (§12) */
  guint in_flight;          /* store operations this node waits for (hub_dispatcher_sync) */
  gboolean freeing;         /* answers that come now find nobody to answer */
  HubDispatcherGuard guard; /* liveness across stalls, bounds per user (hub-dispatcher-guard.c) */
  /* hub-dispatcher-ops.c: the secrets tokens are checked against, and the
   * node's metrics with two of its families. */
  HubKeyring *keyring; /* (owned) */
  HubMetrics *metrics; /* (owned) */
  HubMetric *errors;   /* (unowned) hub_errors_total{code} */
  HubMetric *requests; /* (unowned) hub_request_duration_seconds{type} */
  HubMetric *limits;   /* (unowned) hub_limit_refusals_total{limit} */
  HubMetricSeries *request_series[HUB_REQ_N_TYPES]; /* (unowned) its series, by type */
};

/* --- hub-dispatcher-ops.c, each called from one place -------------------------- */

/* Makes the keyring and the metrics (hub_dispatcher_new) and frees them (_free). */
void hub_dispatcher_ops_init (HubDispatcher *d);
void hub_dispatcher_ops_clear (HubDispatcher *d);
/* A bound refused a request of @conn (@limit: "rate",
 * "max_connections_per_user", "max_subscriptions_per_user", "fanout_rate"):
 * counted in hub_limit_refusals_total and logged (limit_refused, info; not
 * for "rate": a flood is answered cheaply, its abuse has the 4008 line). @user: NULL for @conn's (a
 * refused hello names the user it asked for). Its error reply counts apart. */
void hub_dispatcher_note_limit (HubDispatcher *d, HubConnection *conn, const char *user,
                                const char *limit);
/* A decoded request is about to run: its latency is observed when its reply
 * is queued (hub_dispatcher_request_replied), or else when it is freed. */
void hub_dispatcher_track_request (HubDispatcher *d, HubRequest *req);
/* @req's reply went to its reply slot: its latency is observed now, not
 * when it is freed (a hello's request outlives its welcome). */
void hub_dispatcher_request_replied (HubRequest *req);
/* An error reply to @conn: counted by code; before hello also logged. */
void hub_dispatcher_note_error (HubConnection *conn, HubErrorCode code, const char *message);
/* A connection token (§3) against the server's secret, or the previous one
 * in its grace (SIGHUP). NULL with @error (unauthorized) saying why. (transfer full) */
HubAuthClaims *hub_dispatcher_verify_token (HubDispatcher *d, const char *token, GError **error);
/* A room token (§12) of @user for @room, likewise; its letters into @allow. */
gboolean hub_dispatcher_verify_room_token (HubDispatcher *d, const char *token, const char *user,
                                           const char *room, guint *allow, GError **error);
/* The families of the registry (and its collectors) and, with @nodes_json
 * (the cluster's, else NULL), the cluster-wide sums, appended to @out. */
void hub_dispatcher_render_ops_metrics (HubDispatcher *d, GString *out, const char *nodes_json);

/* --- hub-dispatcher.c ---------------------------------------------------------- */

/* A client message past counting and rate limiting: decoded and executed
 * (the requests that came while a hello was pending come back here). */
void hub_dispatcher_receive_decoded (HubDispatcher *d, HubConnection *conn, const char *data,
                                     gsize len);
/* The `rate_limited` error of a message (its id picked by decoding it). */
void hub_dispatcher_reply_rate_limited (HubDispatcher *d, HubConnection *conn, const char *data,
                                        gsize len);
/* TRUE while @conn is one of this node's open connections (an answer that
 * comes later finds whether anyone is left to answer). */
gboolean hub_dispatcher_conn_alive (HubDispatcher *d, HubConnection *conn);
/* Drops @conn's watches of @users (all of them when NULL) and returns the
 * users no connection of this node watches any more. (transfer full) */
GPtrArray *hub_dispatcher_unwatch (HubDispatcher *d, HubConnection *conn, GPtrArray *users);
/* This node's figures as the JSON object of /api/stats, without `nodes`. (transfer full) */
char *hub_dispatcher_render_node_stats_json (HubDispatcher *d);
/* (Re)arms @conn's close with 4003 at its token's deadline (none: disarms). */
void hub_dispatcher_set_deadline (HubDispatcher *d, HubConnection *conn);

/* --- hub-dispatcher-hello.c -------------------------------------------------------- */

/* A hello past authentication (§3), holding reply slot @slot: registers
 * @conn with the store, then sends welcome and the replay of req->resume.
 * Takes @req. */
void hub_dispatcher_hello (HubDispatcher *d, HubConnection *conn, guint64 slot, HubRequest *req,
                           const char *user, const char *device, gboolean admin);
/* TRUE between a hello handed to the store and its welcome and replay:
 * the connection's later requests wait (hub_dispatcher_hello_queue). */
gboolean hub_dispatcher_hello_pending (HubDispatcher *d, HubConnection *conn);
/* @limited: over the rate limit, answered rate_limited in its turn. */
void hub_dispatcher_hello_queue (HubDispatcher *d, HubConnection *conn, const char *data, gsize len,
                                 gboolean limited);
/* A delivery for @user while a hello of one of its connections is pending:
 * kept for that connection until its replay is out. */
void hub_dispatcher_hello_hold (HubDispatcher *d, const char *user, const HubDelivery *delivery);
/* @conn closed (its hello may be pending). */
void hub_dispatcher_hello_closed (HubDispatcher *d, HubConnection *conn);

/* --- hub-dispatcher-replay.c -------------------------------------------------------- */

/* The replay of @resume (the store's answer to a resume) for @conn; @given:
 * the hello's resume (room → gint64* seq). Started (after the welcome) with
 * hub_dispatcher_replay_start(), which takes it. */
HubReplay *hub_dispatcher_replay_new (HubDispatcher *d, HubConnection *conn,
                                      const HubStoreResult *resume, GHashTable *given);
/* Puts @r at the end of its connection's output (its source). */
void hub_dispatcher_replay_start (HubDispatcher *d, HubReplay *r);
/* TRUE when @r sends (or sent) the message @seq of @room. */
gboolean hub_dispatcher_replay_covers (HubReplay *r, const char *room, gint64 seq);
/* TRUE when @delivery (a room message) is one that @conn's replay sends. */
gboolean hub_dispatcher_replay_skips (HubDispatcher *d, HubConnection *conn,
                                      const HubDelivery *delivery);

/* --- hub-dispatcher-requests.c --------------------------------------------------------- */

/* Executes an authenticated request (anything but hello). Takes @req. */
void hub_dispatcher_execute (HubDispatcher *d, HubConnection *conn, HubRequest *req);

/* --- hub-dispatcher-reply.c ------------------------------------------------------------- */

/* Replies to the request holding reply slot @slot (hub_connection_reply):
 * `ok` with @result's members (taken), only when the request had an id (§2). */
void hub_dispatcher_reply_ok (HubConnection *conn, guint64 slot, const char *id_json,
                              JsonObject *result);
/* `error` always (with the id when there was one). */
void hub_dispatcher_reply_error (HubConnection *conn, guint64 slot, const char *id_json,
                                 HubErrorCode code, const char *message);
/* The protocol's error for a store error, with its one text. */
void hub_dispatcher_reply_store_error (HubConnection *conn, guint64 slot, const char *id_json,
                                       HubStoreError error);
HubErrorCode hub_dispatcher_store_error_code (HubStoreError error);
const char *hub_dispatcher_store_error_text (HubStoreError error);
/* An `error` decided as the request came (malformed, refused): it takes its
 * reply slot now and leaves behind the replies before it. */
void hub_dispatcher_reply_error_now (HubConnection *conn, const char *id_json, HubErrorCode code,
                                     const char *message);

/* POST /api/publish answers: {"code","message"}. (transfer full) */
char *hub_dispatcher_api_error (guint *http_status, guint status, HubErrorCode code,
                                const char *message);

/* strcmp for g_ptr_array_sort of strings. */
int hub_dispatcher_compare_strings (gconstpointer a, gconstpointer b);
