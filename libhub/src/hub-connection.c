/* hub-connection.c: one client connection: identity, counters, rate limiter,
 * presence subscriptions and the bounded send queue of shared frames
 * (PROTOCOL.md §8), written through the transport's sink. */
#include "hub/hub-connection.h"

#include <string.h>

#include "hub/hub-error.h"

/* The queue is a ring of frame refs, allocated at the first frame that has to
 * wait and kept while small: queueing a frame for a recipient costs a ref and
 * a slot, no allocation (a GQueue would allocate a list node per frame and
 * recipient, the one heap operation per delivery left on the fan-out path). */
#define RING_MIN 8
/* A ring grown past this (a burst: a room filling sends every member a
 * presence event per join) is freed once empty, so connections that go idle
 * after one keep at most RING_MIN slots; the heartbeat frees an idle one's
 * ring altogether (hub_connection_ping). */
#define RING_KEEP RING_MIN

/* Queue accounting: a frame counts for the length of its JSON payload
 * (hub_frame_payload), not its wire length: the limit is about the messages a
 * client has not read, and a transport may frame the payload itself. bytes_out
 * counts the same way. */

/* A source (a resume's replay, PROTOCOL.md §6) takes a place in the output:
 * the source_after frames at the head of the ring were queued before it and
 * go first; then the source's frames, pulled as the client reads (`ahead`, at
 * most a pull's worth at a time, not counted against max_queue_bytes); then
 * the rest of the ring, which kept filling behind it and counted as usual. */

/* The connection's side of the close lifecycle; the transport's follows
 * sink->close() (hub-server: HubWsState in hub-ws-private.h). Only set_state()
 * moves it:
 *
 *   OPEN ──hub_connection_close()──▶ CLOSING ──queue written: sink->close()──▶ SINK_CLOSED
 *   OPEN, CLOSING, SINK_CLOSED ──hub_connection_detach()──▶ DETACHED
 *
 * Frames are accepted only in OPEN, written in OPEN and CLOSING; the sink is
 * called in neither SINK_CLOSED (but for nothing) nor DETACHED (never). */
typedef enum {
  CONN_OPEN,        /* frames flow */
  CONN_CLOSING,     /* a close was requested: the queue drains, later sends are ignored */
  CONN_SINK_CLOSED, /* sink->close() was called (once per connection): nothing more to write */
  CONN_DETACHED,    /* the transport is gone: no sink call any more */
} ConnState;

/* A source and where it stands (see above). Released once it ended and its
 * frames are out, or when the connection ends it (close, detach). */
typedef struct {
  const HubSourceVTable *vtable;
  gpointer data;
  guint after;      /* ring frames queued before the source */
  GPtrArray *ahead; /* (owned) HubFrame* given by the source, from ahead_head on */
  guint ahead_head;
  gboolean pulling; /* asked, and not answered yet */
  gboolean ended;   /* gave its last frames */
} Source;

/* One per connection, so laid out to be small: flags as bits, no holes, the
 * id inline, the subscription set only once there is one. */
struct _HubConnection {
  grefcount ref;
  guint ring_cap; /* 0 or a power of two */
  guint ring_head;
  guint ring_len;  /* frames queued */
  HubFrame **ring; /* (owned) (nullable) ring_cap slots, HubFrame* refs, oldest at ring_head */
  gsize queued_bytes;
  HubClock *clock; /* (owned) ref */
  gsize max_queue_bytes;
  const HubSinkVTable *sink; /* (unowned) */
  gpointer sink_data;        /* (unowned) */
  HubMetric *errors;         /* (unowned) (nullable) the dispatcher's hub_errors_total */

  char *user;         /* (owned) (nullable) NULL until authenticated */
  char *device;       /* (owned) (nullable) */
  char *close_reason; /* (owned) (nullable) */
  /* (owned) (nullable) set of char* user ids (owned), made on first use */
  GHashTable *subscriptions;
  guint hello_timer;
  /* Replies in request order: each request takes the next slot; a reply
   * whose turn has not come waits (sorted by slot) until the earlier ones
   * are out. */
  guint64 reply_slots; /* slots handed out */
  guint64 reply_next;  /* the slot whose reply leaves next */
  GQueue waiting;      /* (owned) Waiting* */
  /* A close asked for once the replies taken so far are out. */
  gboolean close_after_replies;
  guint16 close_after_code;
  char *close_after_reason; /* (owned) */
  HubRoomPerms *rooms;      /* (owned) (nullable) the token's `rooms` claim (§12) */
  gint64 expires_ms;        /* the token's deadline, 0: none */
  guint16 close_code;
  guint8 state;            /* ConnState */
  guint8 pings_unanswered; /* pings handed to the sink since the client was last heard */
  guint authenticated : 1;
  guint admin : 1;
  guint flushing : 1; /* inside hub_connection_flush() */
  Source *source;     /* (owned) (nullable) */

  HubConnectionStats stats;
  gint64 heard_mono_us; /* monotonic: the client's last message or pong (liveness) */
  HubRateLimiter rate_limiter;
  char id[]; /* NUL-terminated */
};

HubConnection *
hub_connection_new (const char *id, HubClock *clock, gsize max_queue_bytes,
                    const HubSinkVTable *sink, gpointer sink_data)
{
  HubConnection *conn;

  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (clock != NULL, NULL);
  g_return_val_if_fail (sink != NULL && sink->write != NULL && sink->request_writable != NULL &&
                            sink->close != NULL,
                        NULL);

  conn = g_malloc0 (sizeof (HubConnection) + strlen (id) + 1);
  g_ref_count_init (&conn->ref);
  strcpy (conn->id, id);
  conn->clock = hub_clock_ref (clock);
  conn->max_queue_bytes = max_queue_bytes;
  conn->sink = sink;
  conn->sink_data = sink_data;
  conn->stats.connected_unix_ms = hub_clock_unix_ms (clock);
  conn->stats.last_activity_unix_ms = conn->stats.connected_unix_ms;
  conn->heard_mono_us = hub_clock_monotonic_us (clock);
  /* Unlimited until the dispatcher sets the configured rate on it. */
  hub_rate_limiter_init (&conn->rate_limiter, 0.0, 0.0, hub_clock_monotonic_us (clock));
  return conn;
}

/* The one place the state changes; a move the diagram above lacks is a bug. */
static void
set_state (HubConnection *conn, ConnState to)
{
  static const guint8 legal[] = {
      [CONN_OPEN] = 1u << CONN_CLOSING | 1u << CONN_DETACHED,
      [CONN_CLOSING] = 1u << CONN_SINK_CLOSED | 1u << CONN_DETACHED,
      [CONN_SINK_CLOSED] = 1u << CONN_DETACHED,
      [CONN_DETACHED] = 0,
  };

  g_assert (legal[conn->state] & (1u << to));
  conn->state = (guint8)to;
}

HubConnection *
hub_connection_ref (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  g_ref_count_inc (&conn->ref);
  return conn;
}

static void
ring_push (HubConnection *conn, HubFrame *frame)
{
  if (conn->ring_len == conn->ring_cap) {
    guint cap = conn->ring_cap > 0 ? conn->ring_cap * 2 : RING_MIN;
    HubFrame **ring = g_new (HubFrame *, cap);

    for (guint i = 0; i < conn->ring_len; i++)
      ring[i] = conn->ring[(conn->ring_head + i) & (conn->ring_cap - 1)];
    g_free (conn->ring);
    conn->ring = ring;
    conn->ring_cap = cap;
    conn->ring_head = 0;
  }
  conn->ring[(conn->ring_head + conn->ring_len) & (conn->ring_cap - 1)] = frame;
  conn->ring_len++;
}

static HubFrame *
ring_pop (HubConnection *conn)
{
  HubFrame *frame = conn->ring[conn->ring_head];

  conn->ring_head = (conn->ring_head + 1) & (conn->ring_cap - 1);
  conn->ring_len--;
  return frame;
}

/* An empty ring that grew for a burst gives its memory back. */
static void
ring_trim (HubConnection *conn)
{
  if (conn->ring_len == 0 && conn->ring_cap > RING_KEEP) {
    g_clear_pointer (&conn->ring, g_free);
    conn->ring_cap = 0;
    conn->ring_head = 0;
  }
}

/* A reply waiting for its turn. */
typedef struct {
  guint64 slot;
  HubFrame *frame; /* (owned) (nullable): none (a request without id that succeeded) */
} Waiting;

static void
waiting_free (gpointer p)
{
  Waiting *w = p;

  g_clear_pointer (&w->frame, hub_frame_unref);
  g_free (w);
}

/* Ends the source: it is told, and what it gave that was not written goes. */
static void
source_drop (HubConnection *conn)
{
  Source *src = conn->source;

  if (src == NULL)
    return;
  conn->source = NULL;
  g_ptr_array_unref (src->ahead);
  if (src->vtable->release != NULL)
    src->vtable->release (src->data);
  g_free (src);
}

static void
discard_queue (HubConnection *conn)
{
  source_drop (conn);
  while (conn->ring_len > 0)
    hub_frame_unref (ring_pop (conn));
  conn->queued_bytes = 0;
  ring_trim (conn);
}

void
hub_connection_unref (HubConnection *conn)
{
  g_return_if_fail (conn != NULL);
  if (!g_ref_count_dec (&conn->ref))
    return;
  /* No sink call here: the transport holds a ref until it detaches. */
  discard_queue (conn);
  g_free (conn->ring);
  g_queue_clear_full (&conn->waiting, waiting_free);
  g_free (conn->close_after_reason);
  g_clear_pointer (&conn->subscriptions, g_hash_table_unref);
  hub_clock_unref (conn->clock);
  g_free (conn->close_reason);
  g_free (conn->user);
  g_free (conn->device);
  g_clear_pointer (&conn->rooms, hub_room_perms_unref);
  g_free (conn);
}

const char *
hub_connection_get_id (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  return conn->id;
}

const char *
hub_connection_get_user (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  return conn->user;
}

const char *
hub_connection_get_device (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  return conn->device;
}

gboolean
hub_connection_is_authenticated (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, FALSE);
  return conn->authenticated;
}

gboolean
hub_connection_is_admin (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, FALSE);
  return conn->admin;
}

void
hub_connection_set_token_rights (HubConnection *conn, gboolean admin, HubRoomPerms *rooms,
                                 gint64 expires_ms)
{
  g_return_if_fail (conn != NULL);

  conn->admin = admin != FALSE;
  if (rooms != NULL)
    hub_room_perms_ref (rooms);
  g_clear_pointer (&conn->rooms, hub_room_perms_unref);
  conn->rooms = rooms;
  conn->expires_ms = expires_ms;
}

guint
hub_connection_room_letters (HubConnection *conn, const char *room)
{
  g_return_val_if_fail (conn != NULL, HUB_PERM_NONE);
  return conn->admin ? HUB_PERM_ALL : hub_room_perms_lookup (conn->rooms, room);
}

gint64
hub_connection_get_expires_ms (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return conn->expires_ms;
}

void
hub_connection_authenticate (HubConnection *conn, const char *user, const char *device,
                             gboolean admin)
{
  g_return_if_fail (conn != NULL);
  g_return_if_fail (user != NULL);
  /* A connection belongs to one user for its whole life: the connection
   * manager's user index relies on it. */
  g_return_if_fail (!conn->authenticated || g_strcmp0 (conn->user, user) == 0);

  g_free (conn->user);
  conn->user = g_strdup (user);
  g_free (conn->device);
  conn->device = g_strdup (device);
  conn->admin = admin != FALSE;
  conn->authenticated = TRUE;
}

static gsize
frame_bytes (HubFrame *frame)
{
  gsize len = 0;

  hub_frame_payload (frame, &len);
  return len;
}

/* Offers @frame to the sink; accounts it when taken. */
static gboolean
sink_write (HubConnection *conn, HubFrame *frame)
{
  if (!conn->sink->write (conn->sink_data, frame))
    return FALSE;
  conn->stats.frames_out++;
  conn->stats.bytes_out += frame_bytes (frame);
  return TRUE;
}

/* Closes the sink once, when a close is pending and nothing is left to write. */
static void
maybe_close_sink (HubConnection *conn)
{
  if (conn->state != CONN_CLOSING || conn->ring_len > 0)
    return;
  set_state (conn, CONN_SINK_CLOSED);
  conn->sink->close (conn->sink_data, conn->close_code, conn->close_reason);
}

static gsize frame_bytes (HubFrame *frame);

/* A close while a source is under way: the source stops where the client
 * is, and what was queued behind it goes too, so that what the client gets
 * before the close is a beginning of what it would have got (a client that
 * resumes from the last seq it saw must not have seen a room's live messages
 * without the replay before them). What the source gave stays, then the
 * close. */
static void
source_cut (HubConnection *conn)
{
  Source *src = conn->source;

  while (conn->ring_len > src->after) {
    guint tail = (conn->ring_head + conn->ring_len - 1) & (conn->ring_cap - 1);

    conn->queued_bytes -= frame_bytes (conn->ring[tail]);
    hub_frame_unref (conn->ring[tail]);
    conn->ring_len--;
  }
  for (guint i = src->ahead_head; i < src->ahead->len; i++) {
    HubFrame *frame = g_ptr_array_index (src->ahead, i);

    ring_push (conn, hub_frame_ref (frame));
    conn->queued_bytes += frame_bytes (frame);
  }
  source_drop (conn);
}

HubSendResult
hub_connection_send (HubConnection *conn, HubFrame *frame)
{
  gsize len;
  gboolean was_empty;

  g_return_val_if_fail (conn != NULL, HUB_SEND_IGNORED);
  g_return_val_if_fail (frame != NULL, HUB_SEND_IGNORED);

  if (conn->state != CONN_OPEN)
    return HUB_SEND_IGNORED;

  /* Write-through only when nothing waits, so frames stay in order (behind
   * a source, they wait: see above). A frame larger than the whole queue is
   * offered too: the sink may take it. */
  was_empty = conn->ring_len == 0 && conn->source == NULL;
  if (was_empty && sink_write (conn, frame))
    return HUB_SEND_WRITTEN;

  len = frame_bytes (frame);
  if (hub_frame_is_ephemeral (frame) && conn->queued_bytes > conn->max_queue_bytes / 2) {
    conn->stats.dropped++;
    return HUB_SEND_DROPPED;
  }
  if (len > conn->max_queue_bytes - conn->queued_bytes) {
    hub_connection_close (conn, HUB_CLOSE_SLOW_CONSUMER, "slow consumer");
    return HUB_SEND_CLOSED;
  }

  ring_push (conn, hub_frame_ref (frame));
  conn->queued_bytes += len;
  /* One request per empty → non-empty transition; flush() asks again while
   * frames remain. */
  if (was_empty)
    conn->sink->request_writable (conn->sink_data);
  return HUB_SEND_QUEUED;
}

/* The source's turn: writes what it gave, asks for more, releases it at its
 * end. FALSE when the sink refused a frame or the source has not answered
 * yet: nothing more can be written now. */
static gboolean
flush_source (HubConnection *conn)
{
  Source *src = conn->source;

  for (;;) {
    if (src->ahead_head < src->ahead->len) {
      if (!sink_write (conn, g_ptr_array_index (src->ahead, src->ahead_head)))
        return FALSE;
      src->ahead_head++;
      continue;
    }
    g_ptr_array_set_size (src->ahead, 0);
    src->ahead_head = 0;
    if (src->ended) {
      source_drop (conn);
      return TRUE;
    }
    if (src->pulling)
      return FALSE;
    src->pulling = TRUE;
    src->vtable->pull (src->data, conn);
    /* Answered at once, or later (hub_connection_source_give); or the pull
     * ended the connection's output (a 4009 from within it). */
    if (conn->source != src)
      return conn->state == CONN_OPEN || conn->state == CONN_CLOSING;
  }
}

/* Whether a flush that stopped has something it could write once the sink
 * takes more (and so asks to be called again). */
static gboolean
flush_pending (HubConnection *conn)
{
  Source *src = conn->source;

  if (src == NULL || src->after > 0)
    return conn->ring_len > 0;
  /* The source's turn: it waits for its answer, or for the sink. */
  return !src->pulling || src->ahead_head < src->ahead->len;
}

/* hub_connection_flush() while a source is under way. */
static void
flush_around_source (HubConnection *conn)
{
  if (conn->flushing)
    return;
  conn->flushing = TRUE;
  for (;;) {
    HubFrame *frame;

    if (conn->source != NULL && conn->source->after == 0) {
      if (!flush_source (conn))
        break;
      continue;
    }
    if (conn->ring_len == 0)
      break;
    frame = conn->ring[conn->ring_head];
    if (!sink_write (conn, frame))
      break;
    ring_pop (conn);
    conn->queued_bytes -= frame_bytes (frame);
    hub_frame_unref (frame);
    if (conn->source != NULL)
      conn->source->after--;
  }
  conn->flushing = FALSE;
  ring_trim (conn);
  if (conn->state != CONN_OPEN && conn->state != CONN_CLOSING)
    return;
  if (flush_pending (conn))
    conn->sink->request_writable (conn->sink_data);
  else if (conn->source == NULL)
    maybe_close_sink (conn);
}

void
hub_connection_flush (HubConnection *conn)
{
  g_return_if_fail (conn != NULL);

  if (conn->state != CONN_OPEN && conn->state != CONN_CLOSING)
    return;
  /* The fan-out's path stays as it was: a source is the rare case. */
  if (G_UNLIKELY (conn->source != NULL)) {
    flush_around_source (conn);
    return;
  }
  while (conn->ring_len > 0) {
    HubFrame *frame = conn->ring[conn->ring_head];

    if (!sink_write (conn, frame))
      break;
    ring_pop (conn);
    conn->queued_bytes -= frame_bytes (frame);
    hub_frame_unref (frame);
  }
  ring_trim (conn);
  if (conn->ring_len > 0)
    conn->sink->request_writable (conn->sink_data);
  else
    maybe_close_sink (conn);
}

void
hub_connection_set_source (HubConnection *conn, const HubSourceVTable *vtable, gpointer data)
{
  Source *src;

  g_return_if_fail (conn != NULL);
  g_return_if_fail (vtable != NULL && vtable->pull != NULL);
  g_return_if_fail (conn->source == NULL);

  if (conn->state != CONN_OPEN) {
    if (vtable->release != NULL)
      vtable->release (data);
    return;
  }
  src = g_new0 (Source, 1);
  src->vtable = vtable;
  src->data = data;
  src->after = conn->ring_len;
  src->ahead = g_ptr_array_new_with_free_func ((GDestroyNotify)hub_frame_unref);
  conn->source = src;
  /* Its first frames now, where the sink takes them at once; else it asks
   * to be written. */
  hub_connection_flush (conn);
}

void
hub_connection_source_give (HubConnection *conn, HubFrame *const *frames, guint n, gboolean last)
{
  Source *src;

  g_return_if_fail (conn != NULL);
  src = conn->source;
  g_return_if_fail (src != NULL && src->pulling);
  g_return_if_fail (n > 0 || last);

  src->pulling = FALSE;
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (src->ahead, hub_frame_ref (frames[i]));
  src->ended = last;
  /* From within a flush, it goes on by itself. */
  if (!conn->flushing)
    conn->sink->request_writable (conn->sink_data);
}

gboolean
hub_connection_has_source (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, FALSE);
  return conn->source != NULL;
}

gsize
hub_connection_source_budget (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return MAX (conn->max_queue_bytes / 2, 1);
}

void
hub_connection_close (HubConnection *conn, guint16 code, const char *reason)
{
  g_return_if_fail (conn != NULL);

  if (conn->state != CONN_OPEN)
    return;
  set_state (conn, CONN_CLOSING);
  conn->close_code = code;
  conn->close_reason = g_strdup (reason);
  /* A slow consumer's queue is what went wrong: the close goes out before it. */
  if (code == HUB_CLOSE_SLOW_CONSUMER)
    discard_queue (conn);
  else if (conn->source != NULL)
    source_cut (conn);
  /* Otherwise the close waits for the queue to drain (see hub_connection_flush). */
  maybe_close_sink (conn);
}

gboolean
hub_connection_is_closing (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, FALSE);
  return conn->state != CONN_OPEN;
}

guint16
hub_connection_get_close_code (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return conn->close_code;
}

void
hub_connection_detach (HubConnection *conn)
{
  g_return_if_fail (conn != NULL);
  if (conn->state != CONN_DETACHED)
    set_state (conn, CONN_DETACHED);
  conn->sink_data = NULL;
  discard_queue (conn);
}

void
hub_connection_ping (HubConnection *conn)
{
  g_return_if_fail (conn != NULL);
  /* Idle for a heartbeat interval, most likely: an empty ring goes, the next
   * frame that has to wait allocates one again. */
  if (conn->ring_len == 0 && conn->ring != NULL) {
    g_clear_pointer (&conn->ring, g_free);
    conn->ring_cap = 0;
    conn->ring_head = 0;
  }
  if ((conn->state != CONN_OPEN && conn->state != CONN_CLOSING) || conn->sink->ping == NULL)
    return;
  conn->sink->ping (conn->sink_data);
  if (conn->pings_unanswered < G_MAXUINT8)
    conn->pings_unanswered++;
}

/* The client was heard from: its silence starts over. */
static void
heard (HubConnection *conn)
{
  conn->stats.last_activity_unix_ms = hub_clock_unix_ms (conn->clock);
  conn->heard_mono_us = hub_clock_monotonic_us (conn->clock);
  conn->pings_unanswered = 0;
}

gint64
hub_connection_silent_us (HubConnection *conn, gint64 now_mono_us)
{
  g_return_val_if_fail (conn != NULL, 0);
  return MAX (now_mono_us - conn->heard_mono_us, 0);
}

guint
hub_connection_pings_unanswered (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return conn->pings_unanswered;
}

void
hub_connection_liveness_restart (HubConnection *conn, gint64 now_mono_us)
{
  g_return_if_fail (conn != NULL);
  conn->heard_mono_us = now_mono_us;
  conn->pings_unanswered = 0;
}

gsize
hub_connection_queued_bytes (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return conn->queued_bytes;
}

guint
hub_connection_queued_frames (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return conn->ring_len;
}

gsize
hub_connection_source_ahead_bytes (HubConnection *conn)
{
  gsize bytes = 0;

  g_return_val_if_fail (conn != NULL, 0);
  if (conn->source == NULL)
    return 0;
  for (guint i = conn->source->ahead_head; i < conn->source->ahead->len; i++)
    bytes += frame_bytes (g_ptr_array_index (conn->source->ahead, i));
  return bytes;
}

gsize
hub_connection_max_queue_bytes (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return conn->max_queue_bytes;
}

void
hub_connection_note_received (HubConnection *conn, gsize bytes)
{
  g_return_if_fail (conn != NULL);
  conn->stats.frames_in++;
  conn->stats.bytes_in += bytes;
  heard (conn);
}

void
hub_connection_touch (HubConnection *conn)
{
  g_return_if_fail (conn != NULL);
  heard (conn);
}

void
hub_connection_note_message_in (HubConnection *conn)
{
  g_return_if_fail (conn != NULL);
  conn->stats.messages_in++;
}

const HubConnectionStats *
hub_connection_get_stats (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  return &conn->stats;
}

HubRateLimiter *
hub_connection_get_rate_limiter (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  return &conn->rate_limiter;
}

GHashTable *
hub_connection_get_subscriptions (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, NULL);
  /* Most connections never subscribe: an empty GHashTable is ~200 bytes. */
  if (conn->subscriptions == NULL)
    conn->subscriptions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return conn->subscriptions;
}

void
hub_connection_set_hello_timer (HubConnection *conn, guint id)
{
  g_return_if_fail (conn != NULL);
  conn->hello_timer = id;
}

guint
hub_connection_get_hello_timer (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return conn->hello_timer;
}

guint64
hub_connection_take_reply_slot (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return conn->reply_slots++;
}

static gint
by_slot (gconstpointer a, gconstpointer b, gpointer data)
{
  guint64 x = ((const Waiting *)a)->slot, y = ((const Waiting *)b)->slot;

  return x < y ? -1 : x > y;
}

void
hub_connection_reply (HubConnection *conn, guint64 slot, HubFrame *frame)
{
  Waiting *w;

  g_return_if_fail (conn != NULL);
  g_return_if_fail (slot >= conn->reply_next && slot < conn->reply_slots);
  if (slot != conn->reply_next) {
    w = g_new (Waiting, 1);
    w->slot = slot;
    w->frame = frame != NULL ? hub_frame_ref (frame) : NULL;
    g_queue_insert_sorted (&conn->waiting, w, by_slot, NULL);
    return;
  }
  if (frame != NULL)
    hub_connection_send (conn, frame);
  conn->reply_next++;
  while ((w = g_queue_peek_head (&conn->waiting)) != NULL && w->slot == conn->reply_next) {
    g_queue_pop_head (&conn->waiting);
    if (w->frame != NULL)
      hub_connection_send (conn, w->frame);
    conn->reply_next++;
    waiting_free (w);
  }
  if (conn->close_after_replies && conn->reply_next == conn->reply_slots) {
    conn->close_after_replies = FALSE;
    hub_connection_close (conn, conn->close_after_code, conn->close_after_reason);
  }
}

void
hub_connection_close_after_replies (HubConnection *conn, guint16 code, const char *reason)
{
  g_return_if_fail (conn != NULL);
  if (conn->state != CONN_OPEN || conn->close_after_replies)
    return;
  if (conn->reply_next == conn->reply_slots) {
    hub_connection_close (conn, code, reason);
    return;
  }
  conn->close_after_replies = TRUE;
  conn->close_after_code = code;
  conn->close_after_reason = g_strdup (reason);
}

gboolean
hub_connection_is_ending (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, FALSE);
  return conn->state != CONN_OPEN || conn->close_after_replies;
}

guint
hub_connection_replies_pending (HubConnection *conn)
{
  g_return_val_if_fail (conn != NULL, 0);
  return (guint)(conn->reply_slots - conn->reply_next);
}

void
hub_connection_set_error_metric (HubConnection *conn, HubMetric *metric)
{
  conn->errors = metric;
}

HubMetric *
hub_connection_get_error_metric (HubConnection *conn)
{
  return conn->errors;
}
