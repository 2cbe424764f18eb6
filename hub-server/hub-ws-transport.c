/* hub-ws-transport.c: the lws protocol callback of hub-server, the only code
 * that turns lws events into libhub calls. One protocol ("hub.v1") serves both
 * HTTP (handed to hub-http.c) and the WebSocket on /ws: per connection a
 * HubSinkVTable. Frames are written once per loop iteration per connection,
 * several pre-framed frames in one send, straight to the socket while it takes
 * them and from lws's WRITEABLE callback once it did not (see "writing"). */
#include "hub-ws-transport.h"

#include <string.h>

#include "hub-conn-events.h"
#include "hub-http.h"
#include "hub-listener.h"
#include "hub-net.h"
#include "hub-tx-batch.h"

/* lws's per-connection rx buffer (its default would be pt_serv_buf_size, 4
 * KiB), allocated for every WebSocket connection when it is established and
 * kept until it closes: it was most of what an idle connection costs (lws
 * cannot free or shrink it while the connection lives). lws hands a message
 * to RECEIVE in pieces of at most this size; a piece that is the whole
 * message is dispatched straight from lws's buffer, larger messages are
 * reassembled in HubWsSession. Client messages are requests of a few hundred
 * bytes at most (a publish with a 100-byte payload is ~170 bytes, a hello
 * with a typical token ~300-400), so 512 bytes holds nearly all of them whole
 * and saves 3.5 KiB per connection (70 MiB at 20k connections) over lws's
 * default. lws keeps control frames (≤ 125 bytes of payload) in it too. */
#define RX_BUFFER_SIZE 512
/* The most lws hands to one send(): without it lws would cut every write at
 * RX_BUFFER_SIZE and copy the rest into its own buffer. The kernel takes what
 * fits; lws keeps only the remainder of the one write it could not finish. */
#define TX_PACKET_SIZE (1024 * 1024)
/* Frames gathered into one send (one buffer for the whole transport, as only
 * one connection writes at a time). 16 KiB is ~80 typical 200-byte frames:
 * a syscall per 80 frames instead of per frame, while what a full socket makes
 * lws copy into its per-connection buffer stays at most this much. */
#define TX_BATCH_BYTES (16 * 1024)
/* A flush that batches submits its first FIRST_CHUNK connections' sends as
 * soon as they are gathered, then chunks twice as large each time (32, 64,
 * 128, ...: 6 submits for a 1,000-member fan-out instead of 1): the first
 * deliveries of a message leave while the rest are gathered, instead of after
 * all of them (docs/performance.md, "The harness's floor"). */
#define FIRST_CHUNK 32
/* The per-thread buffer lws reads sockets into (lws default 4 KiB). */
#define PT_SERV_BUF_SIZE (16 * 1024)
/* PROTOCOL.md §8: a connection whose close frame is not written within this
 * long is dropped (reset); one whose client does not answer the close frame
 * within this long after it was written, too. */
#define CLOSE_TIMEOUT_S 5
/* A reassembly buffer larger than this is freed after its message: the few
 * connections that send messages larger than RX_BUFFER_SIZE (a hello with a
 * long token, once) do not keep a buffer while idle. Reassembly costs a
 * copy anyway; an allocation with it is noise. */
#define RX_KEEP_BYTES 0
/* What our heartbeat pings carry (see write_out). */
#define PING_PAYLOAD "hub"
/* Close reasons are at most 123 bytes (125 minus the code). */
#define CLOSE_REASON_MAX 123

/* One WebSocket connection. Lives in lws's per-session data, which lws
 * allocates for every connection: kept small (flags as bits, the rare close
 * reason on the heap). */
typedef struct {
  HubWsTransport *transport; /* (unowned) */
  struct lws *wsi;           /* (unowned) NULL once closed */
  HubConnection *conn;       /* (owned) a ref, from ESTABLISHED until the close is sent */
  guint8 *rx;                /* reassembly buffer (owned) (nullable) */
  gsize rx_len, rx_alloc;
  GList flush_link;         /* in transport->flush_queue when flush_pending */
  GList closing_link;       /* in transport->closing (data NULL when not) */
  gint64 close_deadline_us; /* monotonic: dropped when not CLOSED by then */
  char *close_reason;       /* (owned) (nullable) set with close_pending */
  char *peer;               /* (owned) (nullable) the peer's address, kept for the close line */
  guint16 close_code;
  guint16 peer_close_code; /* the code of the client's close frame, 0 when none */
  guint8 close_reason_len;
  guint established : 1;        /* counted in n_connections until CLOSED */
  guint rx_binary : 1;          /* the current message is binary */
  guint rx_discard : 1;         /* ignore the rest of the current message */
  guint flush_pending : 1;      /* to be written at the end of this loop iteration */
  guint writing : 1;            /* inside write_out(): the sink may write */
  guint choked : 1;             /* lws holds unsent bytes: wait for WRITEABLE */
  guint writable_requested : 1; /* lws_callback_on_writable() pending */
  guint write_failed : 1;       /* lws_write() failed: the socket is gone */
  guint in_batch : 1;           /* has a send in transport->batch (see tx_send) */
  guint kill_queued : 1;        /* in transport->failed: ended after the flush */
  guint peer_closing : 1;       /* the client sent its close: nothing more to write */
  guint ping_pending : 1;
  guint close_pending : 1;   /* sink_close() came: the close frame follows the queue */
  guint close_started : 1;   /* the close frame is written: nothing more to write */
  guint close_timed_out : 1; /* dropped for not finishing its close in time */
} HubWsSession;

/* lws's per-session data: HTTP state first (a keep-alive connection may serve
 * requests before it upgrades), WebSocket state after the upgrade. */
typedef struct {
  HubHttpSession http;
  HubWsSession ws;
} HubSession;

struct _HubWsTransport {
  HubDispatcher *dispatcher;   /* (unowned) */
  HubLoop *loop;               /* (unowned) */
  HubConnEvents *events;       /* (owned) open and close lines, closes and lag metrics */
  struct lws_context *context; /* (owned) */
  struct lws_vhost *vhost;     /* (unowned) owned by the context */
  HubListener *listener;       /* (owned) */
  gboolean tls;
  struct lws_protocols protocols[2]; /* lws keeps a pointer: lives here */
  guint port;
  guint n_connections;
  GSource *flush_source; /* (owned) writes flush_queue once per loop iteration */
  GQueue flush_queue;    /* HubWsSession* (unowned, via their flush_link) */
  GQueue closing;        /* HubWsSession* closing (unowned, via closing_link), by deadline */
  guint close_timer;     /* drops those past their deadline, 0 when none */
  gsize tx_len;          /* bytes gathered in tx */
  HubTxBatch *batch;     /* (owned) (nullable) sends of one flush, when available */
  gboolean batching;     /* inside flush_dispatch() with a batch: tx_send() defers */
  GPtrArray *failed;     /* HubWsSession* (unowned) whose deferred send failed */
  guint8 *tx;            /* (unowned) where a send is gathered: tx_own, or in a
                          * flush that batches, the batch's own memory (tx_begin) */
  guint8 tx_own[TX_BATCH_BYTES];
  gsize batch_max_len; /* hub_tx_batch_max_len() */
  gboolean shutting_down;
  HubWsTransportDrainedFunc drained; /* (nullable) called once */
  gpointer drained_data;
};

/* No lws validity pings (its default: ping after 300 s, hang up at 310 s):
 * the dispatcher owns heartbeats (PROTOCOL.md §8). */
static const lws_retry_bo_t no_validity_checks = {0};

/* ---- writing ----
 *
 * A frame for a connection is queued by its HubConnection (the sink refuses
 * it outside write_out()), and the connection goes on the transport's flush
 * queue once. The flush source, ready whenever that queue is not empty, writes
 * each connection out once per loop iteration, after the events that queued
 * frames were handled: its whole queue, as the pre-framed wire bytes of its
 * frames (hub_frame_wire()) gathered into sends of up to TX_BATCH_BYTES with
 * LWS_WRITE_RAW (in lws 4.1 that bypasses ws framing: rops_write_role_protocol_ws
 * hands LWS_WRITE_HTTP, which RAW is, straight to lws_issue_raw; no extension
 * is negotiated here). The socket is non-blocking: when the kernel takes only
 * part of a send, lws keeps the rest (lws_issue_raw's buflist_out), sends it
 * before anything else, and asks for WRITEABLE itself; lws_partial_buffered()
 * tells us, and the connection then waits for its WRITEABLE callback, which
 * goes on where the socket stopped. So a connection costs one send per
 * iteration while its socket keeps up, and poll-set changes (POLLOUT) only when
 * it does not. Pings and the close frame go out the same way (see "closing"). */

static void release_connection (HubWsTransport *t, HubWsSession *s);
static void closing_track (HubWsSession *s, gint64 deadline_us);

/* A connection whose socket failed is ended by lws (lws_close_free_wsi(),
 * callable outside its service, as here; CLOSED comes from in there). In a
 * flush that batches, only once the flush is over: ending one connection may
 * queue frames to others, which must not happen in the middle of theirs. */
static void
end_failed (HubWsTransport *t, HubWsSession *s)
{
  if (s->kill_queued)
    return;
  if (t->batching) {
    s->kill_queued = TRUE;
    g_ptr_array_add (t->failed, s);
    return;
  }
  lws_set_timeout (s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
}

/* One batched send came back: what the kernel did not take goes through lws,
 * which keeps it and asks for WRITEABLE, exactly as after a short lws_write(). */
static void
batch_done (gpointer tag, const guint8 *data, gsize len, gssize sent, gpointer user_data)
{
  HubWsTransport *t = user_data;
  HubWsSession *s = tag;

  s->in_batch = FALSE;
  if (sent == (gssize)len)
    return;
  if (sent >= 0 &&
      lws_write (s->wsi, (unsigned char *)data + sent, len - (gsize)sent, LWS_WRITE_RAW) >= 0) {
    s->choked = lws_partial_buffered (s->wsi);
    return;
  }
  s->write_failed = TRUE;
  end_failed (t, s);
}

static void
batch_submit (HubWsTransport *t)
{
  if (t->batch != NULL)
    hub_tx_batch_submit (t->batch, batch_done, t);
}

/* Before writing to @s directly: its batched bytes go first. */
static void
batch_settle (HubWsTransport *t, HubWsSession *s)
{
  if (s->in_batch)
    batch_submit (t);
}

/* Where the next send is gathered: in a flush that batches, straight into the
 * batch's memory (hub_tx_batch_reserve), so that batch_take() adds it without
 * copying the bytes a second time; elsewhere (and when the batch cannot give
 * a whole TX_BATCH_BYTES even after a submit) in tx_own. Called when tx is
 * empty, before the first byte of a send is gathered. */
static void
tx_begin (HubWsTransport *t)
{
  guint8 *at;
  gsize available = 0;

  t->tx = t->tx_own;
  if (!t->batching)
    return;
  at = hub_tx_batch_reserve (t->batch, &available);
  if (available < TX_BATCH_BYTES) {
    batch_submit (t);
    at = hub_tx_batch_reserve (t->batch, &available);
  }
  if (at != NULL && available >= TX_BATCH_BYTES)
    t->tx = at;
}

/* In a flush, tx goes into the batch (in place when tx_begin() put it there)
 * instead of a send of its own. */
static gboolean
batch_take (HubWsTransport *t, HubWsSession *s)
{
  int fd;

  if (!t->batching || s->choked || t->tx_len > t->batch_max_len)
    return FALSE;
  fd = lws_get_socket_fd (s->wsi);
  if (fd < 0)
    return FALSE;
  if (!hub_tx_batch_add (t->batch, fd, t->tx, t->tx_len, s)) {
    batch_submit (t);
    if (s->choked || !hub_tx_batch_add (t->batch, fd, t->tx, t->tx_len, s))
      return FALSE;
  }
  s->in_batch = TRUE;
  return TRUE;
}

/* Sends what tx holds; FALSE when the connection takes nothing more now. */
static gboolean
tx_send (HubWsTransport *t, HubWsSession *s)
{
  if (t->tx_len > 0 && !s->write_failed) {
    /* A connection has at most one send in the batch: a second one waits
     * for the first's result (bytes must not overtake each other). */
    batch_settle (t, s);
    if (s->write_failed || batch_take (t, s))
      ;
    else if (lws_write (s->wsi, t->tx, t->tx_len, LWS_WRITE_RAW) < 0)
      s->write_failed = TRUE;
    else if (lws_partial_buffered (s->wsi))
      s->choked = TRUE;
  }
  t->tx_len = 0;
  return !s->write_failed && !s->choked;
}

static gboolean
sink_write (gpointer data, HubFrame *frame)
{
  HubWsSession *s = data;
  HubWsTransport *t = s->transport;
  gsize len = 0;
  const guint8 *wire;

  /* Outside write_out() the queue keeps the frame (see above). */
  if (!s->writing || s->write_failed || s->choked)
    return FALSE;
  wire = hub_frame_wire (frame, &len);
  if (len > TX_BATCH_BYTES - t->tx_len && !tx_send (t, s))
    return FALSE;
  if (len >= TX_BATCH_BYTES) {
    /* A large frame goes out from its own bytes, which lws does not modify
     * with RAW (it would write a ws header in front of them otherwise). */
    batch_settle (t, s);
    if (s->write_failed || s->choked)
      return FALSE;
    if (lws_write (s->wsi, (unsigned char *)wire, len, LWS_WRITE_RAW) < 0) {
      s->write_failed = TRUE;
      return FALSE;
    }
    hub_conn_events_written (t->events, frame);
    s->choked = lws_partial_buffered (s->wsi);
    return TRUE;
  }
  if (t->tx_len == 0) {
    tx_begin (t);
    /* A submit in there may have shown this connection's earlier send short. */
    if (s->write_failed || s->choked)
      return FALSE;
  }
  hub_conn_events_written (t->events, frame);
  memcpy (t->tx + t->tx_len, wire, len);
  t->tx_len += len;
  return TRUE;
}

/* Appends the close frame (RFC 6455 §5.5.1: unmasked, code then reason) to tx,
 * after the frames gathered there. */
static void
tx_append_close (HubWsTransport *t, HubWsSession *s)
{
  guint8 *p;

  if (4 + (gsize)s->close_reason_len > TX_BATCH_BYTES - t->tx_len && !tx_send (t, s))
    return;
  if (t->tx_len == 0) {
    tx_begin (t);
    if (s->write_failed || s->choked)
      return;
  }
  p = t->tx + t->tx_len;
  p[0] = 0x88; /* FIN, close */
  p[1] = (guint8)(2 + s->close_reason_len);
  p[2] = (guint8)(s->close_code >> 8);
  p[3] = (guint8)s->close_code;
  memcpy (p + 4, s->close_reason, s->close_reason_len);
  t->tx_len += 4 + s->close_reason_len;
  s->close_started = TRUE;
}

/* Writes a pending ping, then the queue while the socket takes it, then the
 * close frame once the queue is out. */
static void
write_out (HubWsSession *s)
{
  HubWsTransport *t = s->transport;

  s->writing = TRUE;
  s->choked = lws_partial_buffered (s->wsi);
  if (s->ping_pending && !s->close_pending && !s->choked) {
    /* Not empty: lws 4.1 never reports a pong without payload (ops-ws.c
     * skips RECEIVE_PONG when the payload is empty), and clients echo ours. */
    guint8 ping[LWS_PRE + sizeof PING_PAYLOAD];

    memcpy (ping + LWS_PRE, PING_PAYLOAD, sizeof PING_PAYLOAD - 1);
    s->ping_pending = FALSE;
    batch_settle (t, s);
    if (s->write_failed || s->choked)
      ;
    else if (lws_write (s->wsi, ping + LWS_PRE, sizeof PING_PAYLOAD - 1, LWS_WRITE_PING) < 0)
      s->write_failed = TRUE;
    else
      s->choked = lws_partial_buffered (s->wsi);
  }
  /* As much as the socket takes; the connection asks for writing again
   * (sink_request_writable, in here: WRITEABLE) when frames remain, and calls
   * sink_close() once they are all out. */
  hub_connection_flush (s->conn);
  if (s->close_pending && !s->choked && !s->write_failed)
    tx_append_close (t, s);
  tx_send (t, s);
  s->writing = FALSE;
  if (s->close_started) {
    /* The connection is over for libhub now: everything it queued went out
     * before the close frame. The client has CLOSE_TIMEOUT_S to answer (or to
     * read it, when it is still buffered); presence and counts need not wait. */
    closing_track (s, g_get_monotonic_time () + CLOSE_TIMEOUT_S * G_USEC_PER_SEC);
    release_connection (t, s);
  }
}

static void
flush_unlink (HubWsSession *s)
{
  if (!s->flush_pending)
    return;
  g_queue_unlink (&s->transport->flush_queue, &s->flush_link);
  s->flush_pending = FALSE;
}

/* Out of the flush queue, outside any lws callback. */
static void
flush_session (HubWsSession *s)
{
  if (s->wsi == NULL || s->conn == NULL || s->close_started || s->peer_closing)
    return;
  write_out (s);
  if (s->write_failed)
    end_failed (s->transport, s);
}

typedef struct {
  GSource source;
  HubWsTransport *transport; /* (unowned) it destroys the source */
} FlushSource;

static gboolean
flush_prepare (GSource *source, gint *timeout)
{
  HubWsTransport *t = ((FlushSource *)source)->transport;

  *timeout = -1;
  return t->flush_queue.length > 0;
}

static gboolean
flush_check (GSource *source)
{
  return flush_prepare (source, &(gint){0});
}

static gboolean
flush_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  HubWsTransport *t = ((FlushSource *)source)->transport;
  /* Connections queued while this runs (a write that closed another one)
   * wait for the next iteration: bounded. */
  guint n = t->flush_queue.length;
  guint chunk = FIRST_CHUNK;

  (void)callback;
  (void)user_data;
  /* The fast path: with a batch, each connection's send of this flush is
   * gathered (in place, in the batch's memory: tx_begin) and they go to the
   * kernel together, a few io_uring_enter()s for a 1,000-member fan-out
   * instead of 1,000 send()s (half the CPU per delivery here), in the order
   * the connections were written: the first FIRST_CHUNK as soon as they are
   * gathered, then growing chunks. Without one, each connection is sent as
   * it is written. */
  t->batching = t->batch != NULL;
  while (n-- > 0 && t->flush_queue.length > 0) {
    HubWsSession *s = g_queue_peek_head (&t->flush_queue);

    flush_unlink (s);
    flush_session (s);
    if (t->batching && hub_tx_batch_pending (t->batch) >= chunk) {
      batch_submit (t);
      chunk *= 2;
    }
  }
  batch_submit (t);
  t->batching = FALSE;
  for (guint i = 0; i < t->failed->len; i++) {
    HubWsSession *s = g_ptr_array_index (t->failed, i);

    lws_set_timeout (s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
  }
  g_ptr_array_set_size (t->failed, 0);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs flush_funcs = {
    .prepare = flush_prepare,
    .check = flush_check,
    .dispatch = flush_dispatch,
};

static GSource *
flush_source_new (HubWsTransport *t)
{
  GSource *source = g_source_new (&flush_funcs, sizeof (FlushSource));

  ((FlushSource *)source)->transport = t;
  g_source_set_name (source, "hub-ws-transport flush");
  /* Default priority, as lws's and libhub's sources: lower would starve under
   * load (GLib dispatches only the highest ready priority). */
  g_source_attach (source, g_main_context_get_thread_default ());
  return source;
}

static void
sink_request_writable (gpointer data)
{
  HubWsSession *s = data;

  if (s->wsi == NULL)
    return;
  if (s->writing) {
    /* Refused in write_out(): the socket is full. lws says when it drains. */
    s->writable_requested = TRUE;
    lws_callback_on_writable (s->wsi);
    return;
  }
  if (s->writable_requested || s->flush_pending)
    return;
  s->flush_pending = TRUE;
  s->flush_link.data = s;
  g_queue_push_tail_link (&s->transport->flush_queue, &s->flush_link);
}

/* ---- closing ----
 *
 * The close handshake is ours, not lws's: the close frame is written like the
 * frames before it, and the client's close that answers it ends the connection
 * (on_peer_close). lws's own handshake (lws_close_reason() and a callback
 * returning -1) sets two lws timeouts per connection, and lws 4.1 keeps its
 * timeouts in a sorted list with a linear insert, so closing 10,000 connections
 * at once (a shutdown) took 12 s of CPU in lws_dll2_add_sorted. (It also broke
 * under libuv with Debian's debug build of lws, which closes twice after a
 * callback returns -1, the second time before the close frame is out.) Here
 * a connection that asked for a close sits in transport->closing, in deadline
 * order, and one GLib timer drops those whose deadline passed. */

static void arm_close_timer (HubWsTransport *t);

static void
closing_unlink (HubWsSession *s)
{
  if (s->closing_link.data == NULL)
    return;
  g_queue_unlink (&s->transport->closing, &s->closing_link);
  s->closing_link.data = NULL;
}

/* (Re)places @s at the tail of the closing list: deadlines only grow, so the
 * list stays in deadline order. */
static void
closing_track (HubWsSession *s, gint64 deadline_us)
{
  closing_unlink (s);
  s->close_deadline_us = deadline_us;
  s->closing_link.data = s;
  g_queue_push_tail_link (&s->transport->closing, &s->closing_link);
  arm_close_timer (s->transport);
}

static gboolean
on_close_timer (gpointer user_data)
{
  HubWsTransport *t = user_data;
  gint64 now = g_get_monotonic_time ();

  t->close_timer = 0;
  while (t->closing.length > 0) {
    HubWsSession *s = g_queue_peek_head (&t->closing);

    if (s->close_deadline_us > now)
      break;
    closing_unlink (s);
    /* Its close frame could not be written (a client that stopped reading,
     * the 4009 case: PROTOCOL.md §8) or was not answered: drop it now. CLOSED
     * (on_closed, which resets it) comes from in here. */
    s->close_timed_out = TRUE;
    lws_set_timeout (s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
  }
  arm_close_timer (t);
  return G_SOURCE_REMOVE;
}

/* One timer, for the earliest deadline. */
static void
arm_close_timer (HubWsTransport *t)
{
  HubWsSession *head;
  gint64 wait_us;

  if (t->close_timer != 0 || t->closing.length == 0)
    return;
  head = g_queue_peek_head (&t->closing);
  wait_us = MAX (head->close_deadline_us - g_get_monotonic_time (), 0);
  t->close_timer = g_timeout_add ((guint)((wait_us + 999) / 1000), on_close_timer, t);
}

/* Cuts @reason to CLOSE_REASON_MAX bytes without splitting a character. */
static void
set_close_reason (HubWsSession *s, const char *reason)
{
  gsize len = reason != NULL ? strlen (reason) : 0;

  if (len > CLOSE_REASON_MAX) {
    const char *end = g_utf8_find_prev_char (reason, reason + CLOSE_REASON_MAX + 1);

    len = end != NULL ? (gsize)(end - reason) : 0;
  }
  g_free (s->close_reason);
  s->close_reason = g_strndup (reason != NULL ? reason : "", len);
  s->close_reason_len = (guint8)len;
}

/* The connection's queue is empty: the close frame is next. */
static void
sink_close (gpointer data, guint16 code, const char *reason)
{
  HubWsSession *s = data;

  if (s->wsi == NULL || s->close_pending)
    return;
  s->close_pending = TRUE;
  s->close_code = code;
  set_close_reason (s, reason);
  /* If the close frame cannot go out in time, the connection is dropped. */
  closing_track (s, g_get_monotonic_time () + CLOSE_TIMEOUT_S * G_USEC_PER_SEC);
  /* From write_out() (its queue just emptied) the frame goes out right after. */
  if (!s->writing)
    sink_request_writable (s);
}

static void
sink_ping (gpointer data)
{
  HubWsSession *s = data;

  s->ping_pending = TRUE;
  sink_request_writable (s);
}

static const HubSinkVTable sink_vtable = {
    .write = sink_write,
    .request_writable = sink_request_writable,
    .close = sink_close,
    .ping = sink_ping,
};

/* ---- WebSocket events ---- */

/* Hands the connection back to the dispatcher. No sink call after this: the
 * session memory goes with the wsi. */
static void
release_connection (HubWsTransport *t, HubWsSession *s)
{
  if (s->conn == NULL)
    return;
  hub_conn_events_closed (t->events, s->conn, s->peer,
                          s->peer_closing    ? HUB_CONN_CLOSED_BY_CLIENT
                          : s->close_pending ? HUB_CONN_CLOSED_BY_SERVER
                                             : HUB_CONN_DROPPED,
                          s->peer_closing ? s->peer_close_code : s->close_code, s->close_reason);
  hub_connection_detach (s->conn);
  hub_dispatcher_connection_closed (t->dispatcher, s->conn);
  g_clear_pointer (&s->conn, hub_connection_unref);
}

static int
on_established (HubWsTransport *t, struct lws *wsi, HubSession *session)
{
  HubWsSession *s = &session->ws;

  hub_http_session_clear (&session->http);
  memset (s, 0, sizeof *s);
  s->transport = t;
  s->wsi = wsi;
  s->conn = hub_connection_ref (hub_dispatcher_connection_open (t->dispatcher, &sink_vtable, s));
  s->peer = hub_conn_events_opened (t->events, s->conn, (int)lws_get_socket_fd (wsi));
  s->established = TRUE;
  t->n_connections++;
  /* Upgraded after the shutdown began: PROTOCOL.md §9 closes it too. */
  if (t->shutting_down)
    hub_connection_close (s->conn, HUB_CLOSE_GOING_AWAY, "server shutting down");
  return 0;
}

/* RFC 6455 text is UTF-8, where U+0000 is valid; g_utf8_validate() stops at
 * NUL bytes, so validate between them. */
static gboolean
utf8_valid (const char *data, gsize len)
{
  while (len > 0) {
    const char *end = NULL;

    if (g_utf8_validate (data, (gssize)len, &end))
      return TRUE;
    if (*end != '\0')
      return FALSE;
    end++;
    len -= (gsize)(end - data);
    data = end;
  }
  return TRUE;
}

static void
deliver (HubWsTransport *t, HubWsSession *s, const char *data, gsize len)
{
  if (!utf8_valid (data, len)) {
    hub_dispatcher_reject (t->dispatcher, s->conn, HUB_CLOSE_INVALID_PAYLOAD, "invalid UTF-8");
    return;
  }
  hub_dispatcher_receive (t->dispatcher, s->conn, data, len);
}

static gboolean
rx_append (HubWsSession *s, const void *data, gsize len)
{
  if (s->rx_len + len > s->rx_alloc) {
    gsize want = MAX (s->rx_len + len, MAX (s->rx_alloc * 2, (gsize)RX_BUFFER_SIZE));

    s->rx = g_realloc (s->rx, want);
    s->rx_alloc = want;
  }
  memcpy (s->rx + s->rx_len, data, len);
  s->rx_len += len;
  return TRUE;
}

static int
on_receive (HubWsTransport *t, struct lws *wsi, HubWsSession *s, const char *in, gsize len)
{
  gsize max = hub_dispatcher_get_config (t->dispatcher)->max_message_bytes;
  gsize remaining = lws_remaining_packet_payload (wsi);
  gboolean final = lws_is_final_fragment (wsi);

  if (s->conn == NULL)
    return 0;
  if (lws_is_first_fragment (wsi)) {
    s->rx_len = 0;
    s->rx_discard = FALSE;
    s->rx_binary = lws_frame_is_binary (wsi);
  }
  /* After a close was decided nothing more is executed; lws keeps reading
   * until the close handshake ends. */
  if (s->rx_discard || hub_connection_is_closing (s->conn))
    return 0;
  if (s->rx_binary) {
    s->rx_discard = TRUE;
    hub_dispatcher_reject (t->dispatcher, s->conn, HUB_CLOSE_UNSUPPORTED_DATA,
                           "binary frames are not supported");
    return 0;
  }
  /* The limit is on the whole message: what we hold, this piece, and what lws
   * announced for the rest of this frame. Exactly max bytes is accepted. The
   * close waits for the replies to earlier requests (hub_connection_close). */
  if (len > max - s->rx_len || remaining > max - s->rx_len - len) {
    s->rx_discard = TRUE;
    s->rx_len = 0;
    hub_dispatcher_reject (t->dispatcher, s->conn, HUB_CLOSE_MESSAGE_TOO_BIG, "message too big");
    return 0;
  }
  if (final && s->rx_len == 0) {
    /* The whole message in one piece: straight from lws's buffer. */
    deliver (t, s, in != NULL ? in : "", len);
    return 0;
  }
  if (len > 0)
    rx_append (s, in, len);
  if (final) {
    deliver (t, s, (const char *)s->rx, s->rx_len);
    s->rx_len = 0;
    if (s->rx_alloc > RX_KEEP_BYTES) {
      g_clear_pointer (&s->rx, g_free);
      s->rx_alloc = 0;
    }
  }
  return 0;
}

static int
on_writeable (HubWsSession *s)
{
  s->writable_requested = FALSE;
  /* Nothing after the close frame, ours or the client's. */
  if (s->conn == NULL || s->close_started || s->peer_closing)
    return 0;
  /* Written now: not again from the flush queue this iteration. */
  flush_unlink (s);
  write_out (s);
  return s->write_failed ? -1 : 0;
}

static int
on_peer_close (HubWsSession *s, const guint8 *in, gsize len)
{
  /* RFC 6455 §5.5.1: the payload starts with the code, big-endian. */
  if (in != NULL && len >= 2)
    s->peer_close_code = (guint16)(in[0] << 8 | in[1]);
  /* The client's answer to our close frame: the handshake is complete. -1
   * makes lws end the connection without a close frame of its own. */
  if (s->close_started)
    return -1;
  /* The client closes first: lws answers with its close frame, after which no
   * data may follow. */
  s->peer_closing = TRUE;
  return 0;
}

static void
on_closed (HubWsTransport *t, struct lws *wsi, HubSession *session)
{
  HubWsSession *s = &session->ws;
  int fd = (int)lws_get_socket_fd (wsi);

  /* Our close could not be written: its frame is stuck behind data the
   * client does not read, or the close timeout (on_close_timer) fired. Reset the
   * connection rather than leave the kernel holding what the client never
   * read. (Not whenever the kernel still holds bytes: a client still sending
   * when we close makes lws end the connection right after our close frame,
   * and a reset then could destroy the replies and close frame in flight.) */
  if (s->close_pending && fd >= 0 && (s->close_timed_out || lws_send_pipe_choked (wsi))) {
    hub_net_set_abortive_close (fd);
  }

  flush_unlink (s);
  closing_unlink (s);
  release_connection (t, s);
  if (s->established) {
    s->established = FALSE;
    t->n_connections--;
  }
  g_clear_pointer (&s->rx, g_free);
  s->rx_alloc = s->rx_len = 0;
  g_clear_pointer (&s->close_reason, g_free);
  g_clear_pointer (&s->peer, g_free);
  s->wsi = NULL;
  hub_http_session_clear (&session->http);

  if (t->shutting_down && t->n_connections == 0 && t->drained != NULL) {
    HubWsTransportDrainedFunc drained = t->drained;

    t->drained = NULL;
    drained (t->drained_data);
  }
}

static int
dispatch (HubWsTransport *t, struct lws *wsi, enum lws_callback_reasons reason, HubSession *session,
          void *in, size_t len)
{
  /* Comes before lws allocates the per-session data. */
  if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE)
    return hub_http_confirm_upgrade (wsi, in);
  /* Other callbacks without a session (protocol init, wake-ups) are lws's. */
  if (session == NULL)
    return lws_callback_http_dummy (wsi, reason, session, in, len);

  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
      return on_established (t, wsi, session);
    case LWS_CALLBACK_RECEIVE:
      return on_receive (t, wsi, &session->ws, in, len);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      return on_peer_close (&session->ws, in, len);
    case LWS_CALLBACK_RECEIVE_PONG:
      if (session->ws.conn != NULL)
        hub_dispatcher_touch (t->dispatcher, session->ws.conn);
      return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
      return on_writeable (&session->ws);
    case LWS_CALLBACK_CLOSED:
      on_closed (t, wsi, session);
      return 0;
    case LWS_CALLBACK_RAW_ADOPT:
    case LWS_CALLBACK_RAW_RX:
      /* A CONNECT request makes lws fall back to a raw socket: refuse. */
      return -1;
    default:
      return hub_http_callback (t->dispatcher, wsi, reason, &session->http, in, len);
  }
}

static int
callback (struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
  HubWsTransport *t = lws_context_user (lws_get_context (wsi));

  if (t == NULL)
    return lws_callback_http_dummy (wsi, reason, user, in, len);
  return dispatch (t, wsi, reason, user, in, len);
}

/* ---- lifetime ---- */

/* A connection from our listener: lws serves it from now on (and owns @fd,
 * closing it itself when adoption fails). */
static void
on_accept (int fd, gpointer user_data)
{
  HubWsTransport *t = user_data;
  lws_sock_file_fd_type desc;
  lws_adoption_type type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP;

  if (t->tls)
    type |= LWS_ADOPT_ALLOW_SSL;
  desc.sockfd = fd;
  /* lws wakes its own service (lws_cancel_service_pt) so the handshake
   * timeout it sets here is armed on the loop. */
  if (lws_adopt_descriptor_vhost (t->vhost, type, desc, NULL, NULL) == NULL)
    g_debug ("lws refused an accepted connection");
}

HubWsTransport *
hub_ws_transport_new (HubDispatcher *dispatcher, HubLoop *loop,
                      const HubWsTransportOptions *options, GError **error)
{
  g_autoptr (HubWsTransport) t = g_new0 (HubWsTransport, 1);
  struct lws_context_creation_info info;
  struct lws_context_creation_info vinfo;
  gboolean tls = options->cert != NULL;

  g_return_val_if_fail (dispatcher != NULL && loop != NULL, NULL);

  t->dispatcher = dispatcher;
  t->loop = loop;
  t->events = hub_conn_events_new (dispatcher);
  g_queue_init (&t->flush_queue);
  g_queue_init (&t->closing);
  t->flush_source = flush_source_new (t);
  t->tx = t->tx_own;
  t->protocols[0] = (struct lws_protocols){
      .name = HUB_WS_SUBPROTOCOL,
      .callback = callback,
      .per_session_data_size = sizeof (HubSession),
      .rx_buffer_size = RX_BUFFER_SIZE,
      .tx_packet_size = TX_PACKET_SIZE,
  };

  memset (&info, 0, sizeof info);
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME;
  if (tls)
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.user = t;
  info.uid = -1; /* uid_t or int, by lws version and platform */
  info.gid = -1;
  info.pt_serv_buf_size = PT_SERV_BUF_SIZE;
  hub_loop_configure_lws (loop, &info);
  t->context = lws_create_context (&info);
  if (t->context == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                 "cannot create the libwebsockets context (is its %s event-lib plugin, "
                 "libwebsockets-evlib_%s.so, installed?)",
                 hub_loop_kind_to_string (hub_loop_get_kind (loop)),
                 hub_loop_kind_to_string (hub_loop_get_kind (loop)));
    return NULL;
  }
  hub_loop_set_lws_context (loop, t->context);

  memset (&vinfo, 0, sizeof vinfo);
  vinfo.vhost_name = "hub";
  /* A server vhost without a listen socket: HubListener accepts and lws
   * adopts. (lws 4.1 can listen itself, port 0 included, reading the port
   * back with lws_get_vhost_listen_port(); but lws_context_deprecate(), its
   * only way to stop accepting, uses the listen wsi after freeing it under
   * the glib event loop, and with IPv6 on it binds an IPv4 iface address
   * into an IPv6 socket on the wildcard address.) */
  vinfo.port = CONTEXT_PORT_NO_LISTEN_SERVER;
  vinfo.protocols = t->protocols;
  /* lws formats peer addresses by the vhost's IPv6 setting. */
  vinfo.options = options->ipv6 ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6;
  vinfo.retry_and_idle_policy = &no_validity_checks;
  if (tls) {
    vinfo.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    vinfo.ssl_cert_filepath = options->cert;
    vinfo.ssl_private_key_filepath = options->key;
    /* One HTTP code path: no HTTP/2 (and no ws-over-h2) by ALPN. */
    vinfo.alpn = "http/1.1";
  }
  t->vhost = lws_create_vhost (t->context, &vinfo);
  if (t->vhost == NULL) {
    if (tls)
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot set up TLS with %s and %s",
                   options->cert, options->key);
    else
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create the lws vhost");
    return NULL;
  }
  t->tls = tls;
  /* Batches write to the sockets directly: not through TLS. */
  t->batch = tls || !options->batch_sends ? NULL : hub_tx_batch_new ();
  t->batch_max_len = t->batch != NULL ? hub_tx_batch_max_len (t->batch) : 0;
  t->failed = g_ptr_array_new ();
  t->listener = hub_listener_new (options->bind_address, options->port, on_accept, t, error);
  if (t->listener == NULL)
    return NULL;
  t->port = hub_listener_get_port (t->listener);
  return g_steal_pointer (&t);
}

void
hub_ws_transport_free (HubWsTransport *t)
{
  if (t == NULL)
    return;
  t->drained = NULL;
  g_clear_pointer (&t->listener, hub_listener_free);
  if (t->context != NULL) {
    /* Open connections get CLOSED (and reach the dispatcher) from here, and
     * no lws callback (which would use @t) comes after it. */
    hub_loop_destroy_lws_context (t->loop);
    t->context = NULL;
  }
  if (t->close_timer != 0)
    g_source_remove (t->close_timer);
  if (t->flush_source != NULL) {
    g_source_destroy (t->flush_source);
    g_source_unref (t->flush_source);
  }
  hub_tx_batch_free (t->batch);
  if (t->failed != NULL)
    g_ptr_array_unref (t->failed);
  hub_conn_events_free (t->events);
  g_free (t);
}

guint
hub_ws_transport_get_port (HubWsTransport *t)
{
  return t->port;
}

guint
hub_ws_transport_n_connections (HubWsTransport *t)
{
  return t->n_connections;
}

void
hub_ws_transport_shutdown (HubWsTransport *t, HubWsTransportDrainedFunc drained, gpointer user_data)
{
  if (t->shutting_down)
    return;
  t->shutting_down = TRUE;
  t->drained = drained;
  t->drained_data = user_data;
  /* New connections are refused; established ones carry on. */
  if (t->listener != NULL)
    hub_listener_close (t->listener);
  hub_dispatcher_close_all (t->dispatcher, HUB_CLOSE_GOING_AWAY, "server shutting down");
  if (t->n_connections == 0 && t->drained != NULL) {
    t->drained = NULL;
    drained (user_data);
  }
}
