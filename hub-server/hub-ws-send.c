/* hub-ws-send.c: frames from the dispatcher to WebSocket clients. Each
 * connection is written once per loop iteration (the flush queue), several
 * pre-framed frames in one send, the sends of a whole flush handed to the
 * kernel together where io_uring allows (hub-tx-batch.h); a socket that does
 * not take everything is waited for with lws's WRITEABLE. The speed of this
 * file was measured and earned (docs/performance.md): keep its shape.
 *
 * A frame for a connection is queued by its HubConnection (the sink refuses
 * it outside write_out()), and the connection goes on the transport's flush
 * queue once. The flush source, ready whenever that queue is not empty, writes
 * each connection out once per loop iteration, after the events that queued
 * frames were handled: its whole queue, as the pre-framed wire bytes of its
 * frames (hub_frame_wire()) gathered into sends of up to HUB_WS_TX_BATCH_BYTES
 * with LWS_WRITE_RAW (in lws 4.1 that bypasses ws framing:
 * rops_write_role_protocol_ws hands LWS_WRITE_HTTP, which RAW is, straight to
 * lws_issue_raw; no extension is negotiated here). The socket is non-blocking:
 * when the kernel takes only part of a send, lws keeps the rest (lws_issue_raw's
 * buflist_out), sends it before anything else, and asks for WRITEABLE itself;
 * lws_partial_buffered() tells us, and the connection then waits for its
 * WRITEABLE callback, which goes on where the socket stopped. So a connection
 * costs one send per iteration while its socket keeps up, and poll-set changes
 * (POLLOUT) only when it does not. Pings and the close frame go out the same
 * way; a write that fails moves the connection to FAILED (hub-ws-close.c). */
#include "hub-ws-private.h"

#include <string.h>

/* A flush that batches submits its first FIRST_CHUNK connections' sends as
 * soon as they are gathered, then chunks twice as large each time (32, 64,
 * 128, ...: 6 submits for a 1,000-member fan-out instead of 1): the first
 * deliveries of a message leave while the rest are gathered, instead of after
 * all of them (docs/performance.md, "The harness's floor"). */
#define FIRST_CHUNK 32
/* What our heartbeat pings carry (see write_out). */
#define PING_PAYLOAD "hub"

#define TX_BATCH_BYTES HUB_WS_TX_BATCH_BYTES

/* ---- batched sends ---- */

/* One batched send came back: what the kernel did not take goes through lws,
 * which keeps it and asks for WRITEABLE, exactly as after a short lws_write(). */
static void
batch_done (gpointer tag, const guint8 *data, gsize len, gssize sent, gpointer user_data)
{
  HubWsSession *s = tag;

  s->in_batch = FALSE;
  if (sent == (gssize)len)
    return;
  if (sent >= 0 &&
      lws_write (s->wsi, (unsigned char *)data + sent, len - (gsize)sent, LWS_WRITE_RAW) >= 0) {
    s->choked = lws_partial_buffered (s->wsi);
    return;
  }
  hub_ws_session_fail (s);
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

/* TRUE when @s takes nothing more now: its socket failed or is full. */
static inline gboolean
stopped (const HubWsSession *s)
{
  return s->state == HUB_WS_FAILED || s->choked;
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

/* ---- gathering and writing ---- */

/* Writes @len bytes at @data to @s through lws (RAW: already framed). */
static void
send_direct (HubWsSession *s, const guint8 *data, gsize len, enum lws_write_protocol protocol)
{
  if (lws_write (s->wsi, (unsigned char *)data, len, protocol) < 0)
    hub_ws_session_fail (s);
  else if (lws_partial_buffered (s->wsi))
    s->choked = TRUE;
}

/* Sends what tx holds; FALSE when the connection takes nothing more now. */
static gboolean
tx_send (HubWsTransport *t, HubWsSession *s)
{
  if (t->tx_len > 0 && s->state != HUB_WS_FAILED) {
    /* A connection has at most one send in the batch: a second one waits
     * for the first's result (bytes must not overtake each other). */
    batch_settle (t, s);
    if (s->state != HUB_WS_FAILED && !batch_take (t, s))
      send_direct (s, t->tx, t->tx_len, LWS_WRITE_RAW);
  }
  t->tx_len = 0;
  return !stopped (s);
}

gboolean
hub_ws_sink_write (gpointer data, HubFrame *frame)
{
  HubWsSession *s = data;
  HubWsTransport *t = s->transport;
  gsize len = 0;
  const guint8 *wire;

  /* Outside write_out() the queue keeps the frame (see above). */
  if (!s->writing || stopped (s))
    return FALSE;
  wire = hub_frame_wire (frame, &len);
  if (len > TX_BATCH_BYTES - t->tx_len && !tx_send (t, s))
    return FALSE;
  if (len >= TX_BATCH_BYTES) {
    /* A large frame goes out from its own bytes, which lws does not modify
     * with RAW (it would write a ws header in front of them otherwise). */
    batch_settle (t, s);
    if (stopped (s))
      return FALSE;
    send_direct (s, wire, len, LWS_WRITE_RAW);
    if (s->state == HUB_WS_FAILED)
      return FALSE;
    hub_conn_events_written (t->events, frame);
    return TRUE;
  }
  if (t->tx_len == 0) {
    tx_begin (t);
    /* A submit in there may have shown this connection's earlier send short. */
    if (stopped (s))
      return FALSE;
  }
  hub_conn_events_written (t->events, frame);
  memcpy (t->tx + t->tx_len, wire, len);
  t->tx_len += len;
  return TRUE;
}

/* Appends the close frame (RFC 6455 §5.5.1: unmasked, code then reason) to tx,
 * after the frames gathered there: CLOSE_QUEUED → CLOSE_SENT. FALSE when the
 * socket took nothing more first. */
static gboolean
tx_append_close (HubWsTransport *t, HubWsSession *s)
{
  guint8 *p;

  if (4 + (gsize)s->close_reason_len > TX_BATCH_BYTES - t->tx_len && !tx_send (t, s))
    return FALSE;
  if (t->tx_len == 0) {
    tx_begin (t);
    if (stopped (s))
      return FALSE;
  }
  p = t->tx + t->tx_len;
  p[0] = 0x88; /* FIN, close */
  p[1] = (guint8)(2 + s->close_reason_len);
  p[2] = (guint8)(s->close_code >> 8);
  p[3] = (guint8)s->close_code;
  memcpy (p + 4, s->close_reason, s->close_reason_len);
  t->tx_len += 4 + s->close_reason_len;
  hub_ws_session_set_state (s, HUB_WS_CLOSE_SENT);
  return TRUE;
}

/* Writes a pending ping, then the queue while the socket takes it, then the
 * close frame once the queue is out. Only in OPEN or CLOSE_QUEUED. */
static void
write_out (HubWsSession *s)
{
  HubWsTransport *t = s->transport;
  gboolean close_gathered = FALSE;

  s->writing = TRUE;
  s->choked = lws_partial_buffered (s->wsi);
  if (s->ping_pending && s->state == HUB_WS_OPEN && !s->choked) {
    /* Not empty: lws 4.1 never reports a pong without payload (ops-ws.c
     * skips RECEIVE_PONG when the payload is empty), and clients echo ours. */
    guint8 ping[LWS_PRE + sizeof PING_PAYLOAD];

    memcpy (ping + LWS_PRE, PING_PAYLOAD, sizeof PING_PAYLOAD - 1);
    s->ping_pending = FALSE;
    batch_settle (t, s);
    if (!stopped (s))
      send_direct (s, ping + LWS_PRE, sizeof PING_PAYLOAD - 1, LWS_WRITE_PING);
  }
  /* As much as the socket takes; the connection asks for writing again
   * (hub_ws_sink_request_writable, in here: WRITEABLE) when frames remain,
   * and calls hub_ws_sink_close() (→ CLOSE_QUEUED) once they are all out. */
  hub_connection_flush (s->conn);
  if (s->state == HUB_WS_CLOSE_QUEUED && !s->choked)
    close_gathered = tx_append_close (t, s);
  tx_send (t, s);
  s->writing = FALSE;
  if (close_gathered)
    hub_ws_session_close_written (s);
}

/* ---- the flush queue ---- */

void
hub_ws_session_flush_unlink (HubWsSession *s)
{
  if (!s->flush_pending)
    return;
  g_queue_unlink (&s->transport->flush_queue, &s->flush_link);
  s->flush_pending = FALSE;
}

void
hub_ws_sink_request_writable (gpointer data)
{
  HubWsSession *s = data;

  if (!hub_ws_session_can_write (s))
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

void
hub_ws_sink_ping (gpointer data)
{
  HubWsSession *s = data;

  s->ping_pending = TRUE;
  hub_ws_sink_request_writable (s);
}

int
hub_ws_session_on_writeable (HubWsSession *s)
{
  s->writable_requested = FALSE;
  /* Nothing after the close frame, ours or the client's. */
  if (!hub_ws_session_can_write (s))
    return s->state == HUB_WS_FAILED ? -1 : 0;
  /* Written now: not again from the flush queue this iteration. */
  hub_ws_session_flush_unlink (s);
  write_out (s);
  /* Outside the flush a failed write is ended by lws, at our -1. */
  return s->state == HUB_WS_FAILED ? -1 : 0;
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
  t->flushing = TRUE;
  t->batching = t->batch != NULL;
  while (n-- > 0 && t->flush_queue.length > 0) {
    HubWsSession *s = g_queue_peek_head (&t->flush_queue);

    hub_ws_session_flush_unlink (s);
    if (hub_ws_session_can_write (s))
      write_out (s);
    if (t->batching && hub_tx_batch_pending (t->batch) >= chunk) {
      batch_submit (t);
      chunk *= 2;
    }
  }
  batch_submit (t);
  t->batching = FALSE;
  t->flushing = FALSE;
  hub_ws_transport_end_failed (t);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs flush_funcs = {
    .prepare = flush_prepare,
    .check = flush_check,
    .dispatch = flush_dispatch,
};

GSource *
hub_ws_flush_source_new (HubWsTransport *t)
{
  GSource *source = g_source_new (&flush_funcs, sizeof (FlushSource));

  ((FlushSource *)source)->transport = t;
  g_source_set_name (source, "hub-ws-transport flush");
  /* Default priority, as lws's and libhub's sources: lower would starve under
   * load (GLib dispatches only the highest ready priority). */
  g_source_attach (source, g_main_context_get_thread_default ());
  return source;
}
