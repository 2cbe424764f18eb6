/* hub-connection.h: one client connection (one device of one user): identity,
 * counters, rate limiter, subscriptions, and the bounded send queue of shared
 * frames (PROTOCOL.md §8). It writes through a sink, so tests use an in-memory
 * sink and hub-server a WebSocket. Refcounted. */
#pragma once

#include <glib.h>

#include "hub-api.h"
#include "hub-clock.h"
#include "hub-frame.h"
#include "hub-metrics.h"
#include "hub-rate-limiter.h"
#include "hub-room-perms.h"

G_BEGIN_DECLS

/* What a transport gives a connection. Every callback gets the sink_data passed
 * to hub_connection_new(). */
typedef struct {
  /* Write @frame now if the transport can take it without blocking: return TRUE
   * when taken (the sink refs the frame if it keeps it), FALSE when it cannot
   * take more now; the queue keeps the frame and waits for request_writable. */
  gboolean (*write) (gpointer sink_data, HubFrame *frame);
  /* The queue holds frames the sink refused: call hub_connection_flush() when
   * the transport can write again. */
  void (*request_writable) (gpointer sink_data);
  /* Close the transport with @code after what write() accepted so far. Called
   * once per connection. */
  void (*close) (gpointer sink_data, guint16 code, const char *reason);
  /* Send a WebSocket ping (heartbeat). May be NULL. */
  void (*ping) (gpointer sink_data);
} HubSinkVTable;

typedef enum {
  HUB_SEND_WRITTEN, /* taken by the sink at once */
  HUB_SEND_QUEUED,  /* in the queue */
  HUB_SEND_DROPPED, /* ephemeral frame dropped: queue over half full */
  HUB_SEND_CLOSED,  /* did not fit: queue discarded, closing with 4009 (slow consumer) */
  HUB_SEND_IGNORED, /* the connection was already closing or detached */
} HubSendResult;

typedef struct {
  guint64 frames_in, bytes_in;   /* client messages received */
  guint64 frames_out, bytes_out; /* frames taken by the sink */
  guint64 messages_in;           /* accepted publish/direct/multicast/broadcast */
  guint64 dropped;               /* ephemeral frames dropped */
  gint64 connected_unix_ms;
  gint64 last_activity_unix_ms; /* last client message or pong */
} HubConnectionStats;

typedef struct _HubConnection HubConnection;

/* A source of frames that takes a place in the connection's output (a
 * resume's replay, PROTOCOL.md §6): the frames queued before it go first,
 * the frames queued after it wait behind it (and count against
 * max_queue_bytes as usual); its own frames are pulled as the client reads,
 * at most hub_connection_source_budget() bytes at a time, and do not count
 * against max_queue_bytes: however much it has, it never closes the
 * connection with 4009 by itself. */
typedef struct {
  /* @conn can take more: answer with hub_connection_source_give(), now or
   * later; not called again before that answer. */
  void (*pull) (gpointer data, HubConnection *conn);
  /* The connection is done with the source: it ended and its frames are
   * out, or the connection closed or was detached. No call and no give
   * after this. May be NULL. */
  void (*release) (gpointer data);
} HubSourceVTable;

/* @id is copied. @max_queue_bytes bounds the bytes of queued frames. */
HUB_API
HubConnection *hub_connection_new (const char *id, HubClock *clock, gsize max_queue_bytes,
                                   const HubSinkVTable *sink, gpointer sink_data);
HUB_API
HubConnection *hub_connection_ref (HubConnection *conn);
HUB_API
void hub_connection_unref (HubConnection *conn);

HUB_API
const char *hub_connection_get_id (HubConnection *conn);
/* NULL until authenticated. */
HUB_API
const char *hub_connection_get_user (HubConnection *conn);
HUB_API
const char *hub_connection_get_device (HubConnection *conn);
HUB_API
gboolean hub_connection_is_authenticated (HubConnection *conn);
HUB_API
gboolean hub_connection_is_admin (HubConnection *conn);
/* Marks the connection as past hello. */
HUB_API
void hub_connection_authenticate (HubConnection *conn, const char *user, const char *device,
                                  gboolean admin);
/* What its token allows (§12), from hello on and replaced by each `refresh`:
 * admin, the `rooms` claim (@rooms NULL: every room; a ref is taken), and the
 * token's deadline in Unix ms (0: none). */
HUB_API
void hub_connection_set_token_rights (HubConnection *conn, gboolean admin, HubRoomPerms *rooms,
                                      gint64 expires_ms);
/* The permission letters (HubPerm) its token gives in @room: every letter for
 * an admin or a token without `rooms`. */
HUB_API
guint hub_connection_room_letters (HubConnection *conn, const char *room);
/* The token's deadline in Unix ms, 0 when it has none. */
HUB_API
gint64 hub_connection_get_expires_ms (HubConnection *conn);

/* Queues @frame (taking a new ref). Ephemeral frames are dropped when the queue
 * is over half full; any other frame that does not fit discards the queue and
 * closes the connection with 4009. Frames sent to a closing connection are
 * ignored (HUB_SEND_IGNORED). */
HUB_API
HubSendResult hub_connection_send (HubConnection *conn, HubFrame *frame);
/* Writes queued frames until the sink refuses one or the queue is empty; then,
 * if a close was requested and the queue is empty, closes the sink. */
HUB_API
void hub_connection_flush (HubConnection *conn);
/* Closes with @code once what is queued has been written (4009 discards the
 * queue first). Later sends are ignored. Idempotent: the first code wins.
 * A source under way stops there: what it gave goes out, what was queued
 * behind it does not (so the client saw a beginning of its output). */
HUB_API
void hub_connection_close (HubConnection *conn, guint16 code, const char *reason);
/* TRUE once hub_connection_close() was called (or a 4009 happened), and once
 * the connection is detached: nothing sent to it goes anywhere. */
HUB_API
gboolean hub_connection_is_closing (HubConnection *conn);
/* The close code requested, 0 when none. */
HUB_API
guint16 hub_connection_get_close_code (HubConnection *conn);
/* Tells the connection the transport is gone: no sink calls after this, and
 * a later hub_connection_close() is ignored. */
HUB_API
void hub_connection_detach (HubConnection *conn);
/* Sends a WebSocket ping through the sink (heartbeat) and counts it as
 * unanswered until the client is next heard from. */
HUB_API
void hub_connection_ping (HubConnection *conn);
/* Liveness (PROTOCOL.md §8), on the monotonic clock: how long the client has
 * been silent at @now_mono_us (no message, no pong), and how many pings were
 * handed to the sink since it was last heard. */
HUB_API
gint64 hub_connection_silent_us (HubConnection *conn, gint64 now_mono_us);
HUB_API
guint hub_connection_pings_unanswered (HubConnection *conn);
/* Its silence starts over at @now_mono_us, as if it had just been heard
 * from: after a stall of the server's own loop, which read nothing. */
HUB_API
void hub_connection_liveness_restart (HubConnection *conn, gint64 now_mono_us);

/* Puts a source (see HubSourceVTable) at the end of what is queued now, and
 * writes what it can at once. One at a time; on a connection that is
 * closing, the source is released at once. */
HUB_API
void hub_connection_set_source (HubConnection *conn, const HubSourceVTable *vtable, gpointer data);
/* Answers the source's pull with @n frames (refs taken; at least one unless
 * @last); @last: the source has no more. */
HUB_API
void hub_connection_source_give (HubConnection *conn, HubFrame *const *frames, guint n,
                                 gboolean last);
/* TRUE while a source is under way. */
HUB_API
gboolean hub_connection_has_source (HubConnection *conn);
/* The bytes a pull should give at most (half of max_queue_bytes), though a
 * single frame may be larger. */
HUB_API
gsize hub_connection_source_budget (HubConnection *conn);

/* The bytes a source gave that are not written yet (they are not in
 * hub_connection_queued_bytes()): a pull's budget at most, or one frame. */
HUB_API
gsize hub_connection_source_ahead_bytes (HubConnection *conn);

/* The bytes and frames of the queue (a source's frames not included). */
HUB_API
gsize hub_connection_queued_bytes (HubConnection *conn);
HUB_API
guint hub_connection_queued_frames (HubConnection *conn);
HUB_API
gsize hub_connection_max_queue_bytes (HubConnection *conn);

/* Counts one received client message of @bytes and refreshes last activity. */
HUB_API
void hub_connection_note_received (HubConnection *conn, gsize bytes);
/* Refreshes last activity (pongs and other control frames). */
HUB_API
void hub_connection_touch (HubConnection *conn);
HUB_API
void hub_connection_note_message_in (HubConnection *conn);
HUB_API
const HubConnectionStats *hub_connection_get_stats (HubConnection *conn);
HUB_API
HubRateLimiter *hub_connection_get_rate_limiter (HubConnection *conn);

/* Users this connection subscribed to (presence, §7): set of char* (owned by the set). */
HUB_API
GHashTable *hub_connection_get_subscriptions (HubConnection *conn);

/* For the dispatcher: where the error replies to this connection are counted
 * (its hub_errors_total, labelled by code), or NULL. The reply helpers get a
 * connection, not the dispatcher. */
HUB_API
void hub_connection_set_error_metric (HubConnection *conn, HubMetric *metric);
HUB_API
HubMetric *hub_connection_get_error_metric (HubConnection *conn);

/* For the dispatcher: a timer id (hello timeout) kept with the connection. */
HUB_API
void hub_connection_set_hello_timer (HubConnection *conn, guint id);
HUB_API
guint hub_connection_get_hello_timer (HubConnection *conn);
/* Replies leave in request order (PROTOCOL.md §2 as one node answers), even
 * when a later request is answered first (a store that answers later, a
 * ping that waits for deliveries): each request takes a slot, and its reply
 * (@frame, or NULL for none: a request without id that succeeded) is sent
 * once the replies of every earlier slot are out. */
HUB_API
guint64 hub_connection_take_reply_slot (HubConnection *conn);
HUB_API
void hub_connection_reply (HubConnection *conn, guint64 slot, HubFrame *frame);
/* Slots whose reply has not left yet. */
HUB_API
guint hub_connection_replies_pending (HubConnection *conn);
/* hub_connection_close() once the replies of the slots taken so far are out
 * (at once when none waits): PROTOCOL.md §1, the requests before a refused
 * message are answered before the close. */
HUB_API
void hub_connection_close_after_replies (HubConnection *conn, guint16 code, const char *reason);
/* TRUE once a close was asked for, now or after the replies. */
HUB_API
gboolean hub_connection_is_ending (HubConnection *conn);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubConnection, hub_connection_unref)

G_END_DECLS
