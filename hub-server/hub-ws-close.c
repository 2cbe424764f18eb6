/* hub-ws-close.c: how a WebSocket connection of hub-server ends. Its close
 * lifecycle is one state (HubWsState, hub-ws-private.h draws it) moved only
 * here, by hub_ws_session_set_state(), against one table of legal moves; the
 * close handshake (ours, not lws's), its deadlines, and lws's CLOSED. */
#include "hub-ws-private.h"

#include <string.h>

#include "hub-net.h"

/* PROTOCOL.md §8: a connection whose close frame is not written within this
 * long is dropped (reset); one whose client does not answer the close frame
 * within this long after it was written, too. */
#define CLOSE_TIMEOUT_S 5
/* Close reasons are at most 123 bytes (125 minus the code). */
#define CLOSE_REASON_MAX 123

/* ---- the state ---- */

#define TO(state) (1u << (state))

/* Where each state may go (the diagram in hub-ws-private.h). CLOSED can come
 * from anywhere: lws ends a connection whenever its socket does. */
static const guint legal_moves[HUB_WS_N_STATES] = {
    [HUB_WS_HTTP] = TO (HUB_WS_OPEN) | TO (HUB_WS_CLOSED),
    [HUB_WS_OPEN] = TO (HUB_WS_CLOSE_QUEUED) | TO (HUB_WS_PEER_CLOSED) | TO (HUB_WS_FAILED) |
                    TO (HUB_WS_CLOSED),
    [HUB_WS_CLOSE_QUEUED] = TO (HUB_WS_CLOSE_SENT) | TO (HUB_WS_PEER_CLOSED) | TO (HUB_WS_FAILED) |
                            TO (HUB_WS_TIMED_OUT) | TO (HUB_WS_CLOSED),
    [HUB_WS_CLOSE_SENT] = TO (HUB_WS_FAILED) | TO (HUB_WS_TIMED_OUT) | TO (HUB_WS_CLOSED),
    [HUB_WS_PEER_CLOSED] = TO (HUB_WS_FAILED) | TO (HUB_WS_TIMED_OUT) | TO (HUB_WS_CLOSED),
    [HUB_WS_FAILED] = TO (HUB_WS_CLOSED),
    [HUB_WS_TIMED_OUT] = TO (HUB_WS_CLOSED),
    [HUB_WS_CLOSED] = 0,
};

static const char *const state_names[HUB_WS_N_STATES] = {
    [HUB_WS_HTTP] = "HTTP",
    [HUB_WS_OPEN] = "OPEN",
    [HUB_WS_CLOSE_QUEUED] = "CLOSE_QUEUED",
    [HUB_WS_CLOSE_SENT] = "CLOSE_SENT",
    [HUB_WS_PEER_CLOSED] = "PEER_CLOSED",
    [HUB_WS_FAILED] = "FAILED",
    [HUB_WS_TIMED_OUT] = "TIMED_OUT",
    [HUB_WS_CLOSED] = "CLOSED",
};

const char *
hub_ws_state_to_string (HubWsState state)
{
  return (guint)state < HUB_WS_N_STATES ? state_names[state] : "?";
}

void
hub_ws_session_set_state (HubWsSession *s, HubWsState to)
{
  /* A move the table lacks is a bug in this transport: the flags it replaced
   * let such bugs through silently (a write after the close frame, a
   * connection released twice); better to stop here, loudly, in every build. */
  if ((guint)to >= HUB_WS_N_STATES || (legal_moves[s->state] & TO (to)) == 0)
    g_error ("hub-ws: illegal close lifecycle move %s -> %s",
             hub_ws_state_to_string ((HubWsState)s->state), hub_ws_state_to_string (to));
  s->state = (guint8)to;
}

/* ---- the close handshake ----
 *
 * The close handshake is ours, not lws's: the close frame is written like the
 * frames before it (hub-ws-send.c), and the client's close that answers it
 * ends the connection (hub_ws_session_on_peer_close). lws's own handshake
 * (lws_close_reason() and a callback returning -1) sets two lws timeouts per
 * connection, and lws 4.1 keeps its timeouts in a sorted list with a linear
 * insert, so closing 10,000 connections at once (a shutdown) took 12 s of CPU
 * in lws_dll2_add_sorted. (It also broke under libuv with Debian's debug build
 * of lws, which closes twice after a callback returns -1, the second time
 * before the close frame is out.) Here a connection whose close is decided
 * sits in transport->closing, in deadline order, and one GLib timer drops
 * those whose deadline passed. */

static void arm_close_timer (HubWsTransport *t);

static void
closing_unlink (HubWsSession *s)
{
  if (s->closing_link.data == NULL)
    return;
  g_queue_unlink (&s->transport->closing, &s->closing_link);
  s->closing_link.data = NULL;
}

/* (Re)places @s at the tail of the closing list with a deadline
 * CLOSE_TIMEOUT_S from now: deadlines only grow, so the list stays in
 * deadline order. */
static void
closing_track (HubWsSession *s)
{
  closing_unlink (s);
  s->close_deadline_us = g_get_monotonic_time () + CLOSE_TIMEOUT_S * G_USEC_PER_SEC;
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
     * the 4009 case: PROTOCOL.md §8) or was not answered: drop it now.
     * CLOSED (which resets it, being TIMED_OUT) comes from in here. */
    hub_ws_session_set_state (s, HUB_WS_TIMED_OUT);
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
void
hub_ws_sink_close (gpointer data, guint16 code, const char *reason)
{
  HubWsSession *s = data;

  if (s->close_reason != NULL)
    return;
  if (s->state == HUB_WS_OPEN)
    hub_ws_session_set_state (s, HUB_WS_CLOSE_QUEUED);
  else if (s->state != HUB_WS_PEER_CLOSED)
    return; /* the socket is gone or going: nothing more to write */
  /* In PEER_CLOSED lws answers the client's close; ours is only recorded, so
   * that the deadline and the reset below apply to it as well. */
  s->close_code = code;
  set_close_reason (s, reason);
  /* If the close frame cannot go out in time, the connection is dropped. */
  closing_track (s);
  /* From write_out() (its queue just emptied) the frame goes out right after. */
  if (!s->writing)
    hub_ws_sink_request_writable (s);
}

/* Hands the connection back to the dispatcher. No sink call after this: the
 * session memory goes with the wsi. */
static void
release_connection (HubWsTransport *t, HubWsSession *s)
{
  if (s->conn == NULL)
    return;
  hub_conn_events_closed (t->events, s->conn, s->peer,
                          s->peer_close_code != 0   ? HUB_CONN_CLOSED_BY_CLIENT
                          : s->close_reason != NULL ? HUB_CONN_CLOSED_BY_SERVER
                                                    : HUB_CONN_DROPPED,
                          s->peer_close_code != 0 ? s->peer_close_code : s->close_code,
                          s->close_reason);
  hub_connection_detach (s->conn);
  hub_dispatcher_connection_closed (t->dispatcher, s->conn);
  g_clear_pointer (&s->conn, hub_connection_unref);
}

void
hub_ws_session_close_written (HubWsSession *s)
{
  /* The connection is over for libhub now: everything it queued went out
   * before the close frame. The client has CLOSE_TIMEOUT_S to answer (or to
   * read it, when it is still buffered); presence and counts need not wait. */
  closing_track (s);
  release_connection (s->transport, s);
}

/* RFC 6455 §7.4: the codes a close frame may carry. lws 4.1 turns the ones
 * below 3000 that are not allowed into 1002 before we see them, but echoes
 * 5000 and up as they came. */
static gboolean
close_code_valid (guint code)
{
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
         (code >= 3000 && code <= 4999);
}

/* Makes the client's close frame, which lws echoes, a valid answer: an
 * invalid code becomes 1002 (protocol error), a reason that is not UTF-8
 * 1007, its bytes '?'. FALSE when there is nothing to echo that could be
 * made valid (a payload of one byte). */
static gboolean
sanitize_peer_close (guint8 *payload, gsize len)
{
  guint code;

  if (len == 0)
    return TRUE; /* no code: echoed empty, as RFC 6455 §5.5.1 allows */
  if (len == 1)
    return FALSE;
  code = (guint)(payload[0] << 8 | payload[1]);
  if (!close_code_valid (code))
    code = 1002;
  else if (len > 2 && !g_utf8_validate ((const char *)payload + 2, (gssize)(len - 2), NULL)) {
    code = 1007;
    memset (payload + 2, '?', len - 2);
  }
  payload[0] = (guint8)(code >> 8);
  payload[1] = (guint8)(code & 0xff);
  return TRUE;
}

int
hub_ws_session_on_peer_close (HubWsSession *s, guint8 *payload, gsize len)
{
  /* One byte cannot be a close frame's payload: the connection is dropped. */
  if (!sanitize_peer_close (payload, len))
    return -1;
  /* RFC 6455 §5.5.1: the payload starts with the code, big-endian (made
   * valid above: the code counted is the one answered); 1005 stands for "no
   * code" (§7.1.5). */
  if (s->peer_close_code == 0)
    s->peer_close_code = len >= 2 ? (guint16)(payload[0] << 8 | payload[1]) : 1005;
  switch ((HubWsState)s->state) {
    case HUB_WS_CLOSE_SENT:
    case HUB_WS_FAILED:
      /* The client's answer to our close frame: the handshake is complete
       * (or the socket is gone). -1 makes lws end the connection without a
       * close frame of its own. */
      return -1;
    case HUB_WS_OPEN:
    case HUB_WS_CLOSE_QUEUED:
      /* The client closes first: lws answers with its close frame, after
       * which no data may follow. */
      hub_ws_session_set_state (s, HUB_WS_PEER_CLOSED);
      return 0;
    default:
      return 0;
  }
}

/* ---- failures ---- */

void
hub_ws_session_fail (HubWsSession *s)
{
  HubWsTransport *t = s->transport;

  if (s->state == HUB_WS_FAILED)
    return;
  hub_ws_session_set_state (s, HUB_WS_FAILED);
  /* Ending a connection may queue frames to others (presence), which must
   * not happen in the middle of their writes: in the flush, only once it is
   * over (hub_ws_transport_end_failed). */
  if (t->flushing)
    g_ptr_array_add (t->failed, s);
}

/* lws ends each (lws_close_free_wsi(), callable outside its service, as here;
 * CLOSED comes from in there). */
void
hub_ws_transport_end_failed (HubWsTransport *t)
{
  for (guint i = 0; i < t->failed->len; i++) {
    HubWsSession *s = g_ptr_array_index (t->failed, i);

    lws_set_timeout (s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
  }
  g_ptr_array_set_size (t->failed, 0);
}

/* ---- CLOSED ---- */

void
hub_ws_session_on_closed (HubWsTransport *t, struct lws *wsi, HubSession *session)
{
  HubWsSession *s = &session->ws;
  HubWsState was = s->state;
  int fd = (int)lws_get_socket_fd (wsi);

  /* Some lws builds report CLOSED twice (see "the close handshake"). */
  if (was == HUB_WS_CLOSED)
    return;
  /* Our close could not be written: its frame is stuck behind data the
   * client does not read, or the close timeout (on_close_timer) fired. Reset
   * the connection rather than leave the kernel holding what the client
   * never read. (Not whenever the kernel still holds bytes: a client still
   * sending when we close makes lws end the connection right after our close
   * frame, and a reset then could destroy the replies and close frame in
   * flight.) */
  if (fd >= 0 &&
      (was == HUB_WS_TIMED_OUT || (s->close_reason != NULL && lws_send_pipe_choked (wsi))))
    hub_net_set_abortive_close (fd);
  hub_ws_session_set_state (s, HUB_WS_CLOSED);

  hub_ws_session_flush_unlink (s);
  closing_unlink (s);
  release_connection (t, s);
  if (was != HUB_WS_HTTP)
    t->n_connections--;
  hub_ws_session_rx_clear (s);
  g_clear_pointer (&s->close_reason, g_free);
  g_clear_pointer (&s->peer, g_free);
  hub_http_session_clear (&session->http);

  if (t->shutting_down && t->n_connections == 0 && t->drained != NULL) {
    HubWsTransportDrainedFunc drained = t->drained;

    t->drained = NULL;
    drained (t->drained_data);
  }
}
