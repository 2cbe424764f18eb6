/* hub-ws-receive.c: messages from a WebSocket client to the dispatcher. lws
 * hands a message in pieces of at most HUB_WS_RX_BUFFER_SIZE bytes; one that
 * fits a piece goes to the dispatcher straight from lws's buffer, a larger one
 * is reassembled here first. Text only, valid UTF-8, at most
 * max_message_bytes (PROTOCOL.md §1, §8). */
#include "hub-ws-private.h"

#include <string.h>

/* A reassembly buffer larger than this is freed after its message: the few
 * connections that send messages larger than HUB_WS_RX_BUFFER_SIZE (a hello
 * with a long token, once) do not keep a buffer while idle. Reassembly costs
 * a copy anyway; an allocation with it is noise. */
#define RX_KEEP_BYTES 0

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

static void
rx_append (HubWsSession *s, const void *data, gsize len)
{
  if (s->rx_len + len > s->rx_alloc) {
    gsize want = MAX (s->rx_len + len, MAX (s->rx_alloc * 2, (gsize)HUB_WS_RX_BUFFER_SIZE));

    s->rx = g_realloc (s->rx, want);
    s->rx_alloc = want;
  }
  memcpy (s->rx + s->rx_len, data, len);
  s->rx_len += len;
}

void
hub_ws_session_rx_clear (HubWsSession *s)
{
  g_clear_pointer (&s->rx, g_free);
  s->rx_alloc = s->rx_len = 0;
}

int
hub_ws_session_on_receive (HubWsSession *s, struct lws *wsi, const char *in, gsize len)
{
  HubWsTransport *t = s->transport;
  gsize max, remaining = lws_remaining_packet_payload (wsi);
  gboolean final = lws_is_final_fragment (wsi);

  /* The HubConnection goes with our close frame: after it, and after the
   * client's close, nothing more is read. */
  if (s->conn == NULL)
    return 0;
  /* 8 KiB until a hello was said, max_message_bytes after (§1). */
  max = hub_dispatcher_frame_limit (t->dispatcher, s->conn);
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
    hub_dispatcher_reject (t->dispatcher, s->conn, HUB_CLOSE_MESSAGE_TOO_BIG,
                           max < hub_dispatcher_get_config (t->dispatcher)->max_message_bytes
                               ? "message too big before hello"
                               : "message too big");
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
    if (s->rx_alloc > RX_KEEP_BYTES)
      hub_ws_session_rx_clear (s);
  }
  return 0;
}

void
hub_ws_session_on_pong (HubWsSession *s)
{
  /* An answer to our ping (hub-ws-send.c): the client is alive. */
  if (s->conn != NULL)
    hub_dispatcher_touch (s->transport->dispatcher, s->conn);
}
