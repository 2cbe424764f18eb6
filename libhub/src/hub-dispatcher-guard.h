/* hub-dispatcher-guard.h: what keeps one client, or a stall of the server's
 * own loop, from hurting everyone else (PROTOCOL.md §8): liveness judged on
 * pings actually sent, on the monotonic clock, with loop stalls detected; the
 * bounds on what one user may hold (connections, subscriptions); the fan-out
 * budget of direct, multicast, typing and membership events; the cost of
 * `who`; and the cheap refusal of frames before hello and of rate-limited
 * ones. The dispatcher's files call these at the one place each applies
 * (hub-dispatcher-guard.c). */
#pragma once

#include <glib.h>

#include "hub/hub-codec.h"
#include "hub/hub-connection.h"
#include "hub/hub-dispatcher.h"

G_BEGIN_DECLS

/* The dispatcher's share of it (part of HubDispatcher). */
typedef struct {
  gint64 tick_due_us;  /* monotonic: when the liveness tick is due */
  guint64 loop_stalls; /* ticks found far later than due */
  GHashTable *fanout;  /* user (owned) → FanoutBucket* (owned): senders in debt or recent */
  HubWelcomeLimits welcome_limits; /* what welcome tells a client (§8) */
} HubDispatcherGuard;

void hub_dispatcher_guard_init (HubDispatcherGuard *guard, const HubConfig *config);
void hub_dispatcher_guard_clear (HubDispatcherGuard *guard);

/* ---- liveness ---- */

/* The liveness tick was scheduled @interval_ms from now. */
void hub_dispatcher_liveness_scheduled (HubDispatcher *d, guint interval_ms);
/* One tick of @n_slots per heartbeat: pings the connections of @slot, closes
 * with 4002 those silent for 3 × heartbeat that left 3 pings unanswered.
 * A tick far later than due means the loop itself stalled (SIGSTOP, a VM
 * pause): the input of that time is not read yet, so every connection's
 * silence starts over instead. */
void hub_dispatcher_liveness_tick (HubDispatcher *d, guint slot, guint n_slots);

/* ---- before a request is decoded ---- */

/* The largest message @conn may send now: a small bound until it is past a
 * hello (HUB_PRE_HELLO_MAX_BYTES, but for its first message: a hello with a
 * long resume), max_message_bytes after. */
#define HUB_PRE_HELLO_MAX_BYTES 8192
/* (hub_dispatcher_frame_limit() is public: the transport asks it.) */
/* (A rate-limited frame is answered from a scan too: hub_dispatcher_reply_rate_limited.) */
/* Before hello: answers a frame that is not a hello from a scan of its top
 * level (not_authenticated, or bad_request for a broken envelope, or for a
 * hello with more JSON values than a hello with a full resume has) and
 * returns TRUE; FALSE when it is a hello to decode. */
gboolean hub_dispatcher_refuse_before_hello (HubDispatcher *d, HubConnection *conn,
                                             const char *data, gsize len);

/* ---- bounds a request must pass (each replies the error itself) ---- */

/* hello as @user: FALSE (and `rate_limited`) when the user already holds
 * max_connections_per_user connections on this node. */
gboolean hub_dispatcher_guard_hello (HubDispatcher *d, HubConnection *conn, const char *user,
                                     const char *id_json);
/* Before executing @req (@len bytes on the wire): FALSE (and `rate_limited`)
 * when its sender's fan-out budget is in debt and @req would fan out (direct,
 * multicast, typing, join, leave: fanout_bytes_per_s per user); a direct or
 * multicast is charged here, by what it says. */
gboolean hub_dispatcher_guard_request (HubDispatcher *d, HubConnection *conn, HubRequest *req,
                                       gsize len);
/* A presence event of @conn's user went to @n_recipients members (a join):
 * charged to its fan-out budget, which may go into debt. */
void hub_dispatcher_guard_charge (HubDispatcher *d, HubConnection *conn, guint n_recipients);
/* subscribe: NULL, or why (`bad_request`) when @n_new more subscriptions
 * would take @conn's user past max_subscriptions_per_user on this node.
 * (transfer full) (nullable) */
char *hub_dispatcher_guard_subscribe (HubDispatcher *d, HubConnection *conn, guint n_new);
/* `who` answered with @n_members: charged to @conn's request bucket, one
 * request per HUB_WHO_MEMBERS_PER_REQUEST members beyond the first ones. */
#define HUB_WHO_MEMBERS_PER_REQUEST 100
void hub_dispatcher_guard_who (HubDispatcher *d, HubConnection *conn, guint n_members);

G_END_DECLS
