/* hub-test-ws.c: the integration tests' WebSocket client. Connections share
 * one lws_context that the test services in bounded loops whenever it waits,
 * so every client keeps reading (and answering pings) while a test waits on
 * another one. Also a raw-socket client for hostile forms. */
#include "hub-test-ws.h"
#include "hub-test-redis.h"

#include "hub-test-platform.h"
#include "hub-test-server.h"

#include <check.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <string.h>

#define CONNECT_TIMEOUT_MS 5000
#define SLICE_MS           20
/* More reads a connection in the middle of a large frame gets per service,
 * without a poll in between (service_once): 16 × lws's 4 KiB. */
#define DRAIN_READS 16

typedef enum {
  WS_CONNECTING,
  WS_OPEN,
  WS_CLOSED, /* ended after the upgrade */
  WS_FAILED, /* the upgrade never completed */
} WsState;

typedef struct {
  char *data; /* (owned) NUL-terminated */
  gsize len;
  gboolean binary;
  JsonObject *object; /* (owned) (nullable) parsed lazily */
  gboolean parsed;
} InFrame;

typedef struct {
  guint8 *buf; /* (owned) LWS_PRE bytes, then the payload */
  gsize len;
  enum lws_write_protocol flags;
} OutFrame;

struct _HubTestWs {
  struct lws *wsi; /* (unowned) NULL once lws destroyed it */
  WsState state;
  char *error;    /* (owned) why the upgrade failed */
  char *protocol; /* (owned) (nullable) selected subprotocol */
  GQueue out;     /* OutFrame* (owned) waiting for WRITEABLE */
  guint64 queued, written;
  GQueue in;        /* InFrame* (owned), oldest first */
  GString *partial; /* (owned) message being reassembled */
  gboolean partial_binary;
  gboolean in_message;
  guint close_code; /* what the server's close frame said, 1006 without one */
  gboolean want_close;
  guint16 close_request;
  gint64 next_id;
  gboolean more_input; /* a frame was left unfinished: read on (service_once) */
};

int
hub_test_time_scale (void)
{
  static int scale;

  if (scale == 0) {
    const char *env = g_getenv ("HUB_TEST_TIME_SCALE");
    guint64 v = env != NULL ? g_ascii_strtoull (env, NULL, 10) : 1;

    scale = (int)CLAMP (v, 1, 20);
  }
  return scale;
}

static struct lws_context *context;
static GPtrArray *clients; /* HubTestWs* (unowned) alive in this process */
static lws_sorted_usec_list_t wake;

static void
in_frame_free (InFrame *frame)
{
  g_free (frame->data);
  g_clear_pointer (&frame->object, json_object_unref);
  g_free (frame);
}

static void
out_frame_free (OutFrame *frame)
{
  g_free (frame->buf);
  g_free (frame);
}

static JsonObject *
in_frame_object (InFrame *frame)
{
  if (!frame->parsed && !frame->binary)
    frame->object = hub_test_json_parse (frame->data, frame->len);
  frame->parsed = TRUE;
  return frame->object;
}

static void
ended (HubTestWs *ws)
{
  if (ws->state == WS_CONNECTING) {
    ws->state = WS_FAILED;
    if (ws->error == NULL)
      ws->error = g_strdup ("connection ended during the handshake");
  } else if (ws->state == WS_OPEN) {
    ws->state = WS_CLOSED;
  }
  if (ws->close_code == 0)
    ws->close_code = HUB_TEST_WS_CLOSED_ABNORMALLY;
  ws->wsi = NULL;
  g_queue_clear_full (&ws->out, (GDestroyNotify)out_frame_free);
}

static int
callback (struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
  HubTestWs *ws;

  switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      ws = lws_get_opaque_user_data (wsi);
      if (ws != NULL) {
        lws_set_opaque_user_data (wsi, NULL);
        g_free (ws->error);
        ws->error = g_strdup (in != NULL ? (const char *)in : "connection error");
        ended (ws);
      }
      break;

    case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
      ws = lws_get_opaque_user_data (wsi);
      if (ws != NULL) {
        char buf[256];

        if (lws_hdr_copy (wsi, buf, sizeof buf, WSI_TOKEN_PROTOCOL) > 0)
          ws->protocol = g_strdup (buf);
      }
      break;

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      ws = lws_get_opaque_user_data (wsi);
      if (ws != NULL) {
        ws->state = WS_OPEN;
        if (ws->out.length > 0 || ws->want_close)
          lws_callback_on_writable (wsi);
      }
      break;

    case LWS_CALLBACK_CLIENT_RECEIVE:
      ws = lws_get_opaque_user_data (wsi);
      if (ws == NULL)
        break;
      if (!ws->in_message) {
        g_string_truncate (ws->partial, 0);
        ws->partial_binary = lws_frame_is_binary (wsi);
        ws->in_message = TRUE;
      }
      g_string_append_len (ws->partial, in, len);
      if (lws_remaining_packet_payload (wsi) > 0)
        ws->more_input = TRUE;
      if (lws_is_final_fragment (wsi) && lws_remaining_packet_payload (wsi) == 0) {
        InFrame *frame = g_new0 (InFrame, 1);

        frame->len = ws->partial->len;
        frame->data = g_strndup (ws->partial->str, ws->partial->len);
        frame->binary = ws->partial_binary;
        g_queue_push_tail (&ws->in, frame);
        ws->in_message = FALSE;
      }
      break;

    case LWS_CALLBACK_CLIENT_WRITEABLE: {
      OutFrame *frame;

      ws = lws_get_opaque_user_data (wsi);
      if (ws == NULL)
        break;
      if (ws->want_close && ws->out.length == 0) {
        lws_close_reason (wsi, ws->close_request, NULL, 0);
        return -1;
      }
      frame = g_queue_pop_head (&ws->out);
      if (frame == NULL)
        break;
      if (lws_write (wsi, frame->buf + LWS_PRE, frame->len, frame->flags) < (int)frame->len) {
        out_frame_free (frame);
        return -1;
      }
      out_frame_free (frame);
      ws->written++;
      if (ws->out.length > 0 || ws->want_close)
        lws_callback_on_writable (wsi);
      break;
    }

    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      ws = lws_get_opaque_user_data (wsi);
      if (ws != NULL) {
        const guint8 *p = in;

        ws->close_code = len >= 2 ? (guint)(p[0] << 8 | p[1]) : 1005;
      }
      break;

    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
      ws = lws_get_opaque_user_data (wsi);
      if (ws != NULL) {
        lws_set_opaque_user_data (wsi, NULL);
        ended (ws);
      }
      break;

    default:
      break;
  }
  return 0;
}

static const struct lws_protocols protocols[] = {
    {"hub-test", callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static gboolean servicing;

static void
wake_cb (lws_sorted_usec_list_t *sul)
{
  /* Run before the poll when already due: lws would then wait for its next
   * timer (up to 30 s), so keep one due in a millisecond. */
  if (servicing)
    lws_sul_schedule (context, 0, &wake, wake_cb, LWS_US_PER_MS);
}

static void
ensure_context (void)
{
  struct lws_context_creation_info info;

  if (context != NULL)
    return;
  hub_test_platform_ignore_sigpipe ();
  lws_set_log_level (LLL_ERR, NULL);
  memset (&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = protocols;
  info.gid = -1;
  info.uid = -1;
  context = lws_create_context (&info);
  ck_assert_msg (context != NULL, "lws_create_context should succeed");
  clients = g_ptr_array_new ();
  memset (&wake, 0, sizeof wake);
}

/* One poll of every connection, waiting at most @max_ms. (lws_service's own
 * timeout argument is ignored by lws 4.1; a scheduled no-op bounds the poll.) */
/* lws reads a connection's socket 4 KiB (its rx buffer) per service, and
 * each service polls every connection: under wine, where a poll is a round
 * trip to wineserver, a client that stops pausing its reads took seconds to
 * catch up with the megabytes in flight to it (test-server-limits' slow
 * consumer, which must reach its 4009 within the server's 5 s). Connections
 * in the middle of a frame are read on here, as if polled readable, at most
 * DRAIN_READS times each; one with nothing left costs one recv(), one that
 * pauses its reads (lws_rx_flow_control) is not read. */
static void
drain_frames (void)
{
  for (guint round = 0; round < DRAIN_READS; round++) {
    gboolean any = FALSE;

    for (guint i = 0; i < clients->len; i++) {
      HubTestWs *ws = g_ptr_array_index (clients, i);
      struct lws_pollfd pfd = {0};

      if (!ws->more_input || ws->wsi == NULL)
        continue;
      ws->more_input = FALSE;
      pfd.fd = lws_get_socket_fd (ws->wsi);
      pfd.events = LWS_POLLIN;
      pfd.revents = LWS_POLLIN;
      lws_service_fd (context, &pfd);
      any = TRUE;
    }
    if (!any)
      break;
  }
}

static void
service_once (guint max_ms)
{
  servicing = TRUE;
  lws_sul_schedule (context, 0, &wake, wake_cb, (lws_usec_t)MAX (max_ms, 1) * LWS_US_PER_MS);
  lws_service (context, 0);
  drain_frames ();
  servicing = FALSE;
  lws_sul_cancel (&wake);
}

typedef gboolean (*Predicate) (HubTestWs *ws, gpointer data);

/* Services until @pred holds or @timeout_ms passed; the predicate's value. */
static gboolean
service_until (HubTestWs *ws, Predicate pred, gpointer data, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    gint64 left;

    if (pred (ws, data))
      return TRUE;
    left = (deadline - g_get_monotonic_time ()) / G_TIME_SPAN_MILLISECOND;
    if (left <= 0)
      return pred (ws, data);
    service_once (MIN (left, SLICE_MS));
  }
}

void
hub_test_ws_service (guint ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)ms * G_TIME_SPAN_MILLISECOND;

  if (context == NULL)
    return;
  for (;;) {
    gint64 left = (deadline - g_get_monotonic_time ()) / G_TIME_SPAN_MILLISECOND;

    if (left <= 0)
      break;
    service_once (MIN (left, SLICE_MS));
  }
}

static gboolean
not_connecting (HubTestWs *ws, gpointer data)
{
  return ws->state != WS_CONNECTING;
}

HubTestWs *
hub_test_ws_connect (guint16 port, const char *path, const char *subprotocol, GError **error)
{
  struct lws_client_connect_info info;
  g_autofree char *host = g_strdup_printf ("127.0.0.1:%u", port);
  HubTestWs *ws;

  ensure_context ();
  ws = g_new0 (HubTestWs, 1);
  g_queue_init (&ws->out);
  g_queue_init (&ws->in);
  ws->partial = g_string_new (NULL);
  ws->state = WS_CONNECTING;
  ws->next_id = 1;
  g_ptr_array_add (clients, ws);

  memset (&info, 0, sizeof info);
  info.context = context;
  info.address = "127.0.0.1";
  info.port = port;
  info.path = path;
  info.host = host;
  info.protocol = subprotocol;
  info.local_protocol_name = "hub-test";
  info.opaque_user_data = ws;
  info.pwsi = &ws->wsi;
  if (lws_client_connect_via_info (&info) == NULL && ws->state == WS_CONNECTING)
    ended (ws);

  service_until (ws, not_connecting, NULL, CONNECT_TIMEOUT_MS);
  if (ws->state != WS_OPEN) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "ws://%s%s (offering %s): %s", host, path,
                 subprotocol ? subprotocol : "no subprotocol",
                 ws->state == WS_CONNECTING ? "no upgrade within 5 s" : ws->error);
    hub_test_ws_free (ws);
    return NULL;
  }
  return ws;
}

HubTestWs *
hub_test_ws_open (guint16 port)
{
  g_autoptr (GError) error = NULL;
  HubTestWs *ws = hub_test_ws_connect (port, "/ws", HUB_TEST_WS_SUBPROTOCOL, &error);

  ck_assert_msg (ws != NULL, "WebSocket upgrade should succeed: %s", error ? error->message : "?");
  return ws;
}

const char *
hub_test_ws_selected_protocol (HubTestWs *ws)
{
  return ws->protocol;
}

static gboolean
all_written (HubTestWs *ws, gpointer data)
{
  return ws->written >= *(guint64 *)data || ws->wsi == NULL;
}

static void
enqueue (HubTestWs *ws, const void *data, gsize len, enum lws_write_protocol flags)
{
  OutFrame *frame = g_new0 (OutFrame, 1);

  frame->buf = g_malloc (LWS_PRE + len + 1);
  if (len > 0)
    memcpy (frame->buf + LWS_PRE, data, len);
  frame->len = len;
  frame->flags = flags;
  g_queue_push_tail (&ws->out, frame);
  ws->queued++;
}

/* Hands the queued frames to lws and waits until it took them all. */
static void
flush (HubTestWs *ws, const char *what)
{
  guint64 target = ws->queued;

  ck_assert_msg (ws->wsi != NULL && ws->state == WS_OPEN,
                 "cannot send %s: the connection is closed (code %u)", what, ws->close_code);
  lws_callback_on_writable (ws->wsi);
  service_until (ws, all_written, &target, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (ws->written >= target, "sending %s should complete within %d ms (%s)", what,
                 HUB_TEST_WS_TIMEOUT_MS, ws->wsi == NULL ? "connection closed" : "still queued");
}

gboolean
hub_test_ws_try_send_text (HubTestWs *ws, const char *text)
{
  guint64 target;

  if (ws->wsi == NULL || ws->state != WS_OPEN)
    return FALSE;
  enqueue (ws, text, strlen (text), LWS_WRITE_TEXT);
  target = ws->queued;
  lws_callback_on_writable (ws->wsi);
  service_until (ws, all_written, &target, HUB_TEST_WS_TIMEOUT_MS);
  return ws->written >= target;
}

void
hub_test_ws_send_text (HubTestWs *ws, const char *text)
{
  enqueue (ws, text, strlen (text), LWS_WRITE_TEXT);
  flush (ws, "a text frame");
}

void
hub_test_ws_send_binary (HubTestWs *ws, const void *data, gsize len)
{
  enqueue (ws, data, len, LWS_WRITE_BINARY);
  flush (ws, "a binary frame");
}

void
hub_test_ws_send_raw_text_bytes (HubTestWs *ws, const void *data, gsize len)
{
  enqueue (ws, data, len, LWS_WRITE_TEXT);
  flush (ws, "raw text bytes");
}

void
hub_test_ws_send_fragmented (HubTestWs *ws, const char *text, guint n_parts)
{
  gsize len = strlen (text), step, pos = 0;

  ck_assert_msg (n_parts >= 2 && len >= n_parts, "fragmenting needs ≥ 2 parts and enough bytes");
  step = len / n_parts;
  for (guint i = 0; i < n_parts; i++) {
    gsize part = i + 1 == n_parts ? len - pos : step;
    int flags = i == 0 ? LWS_WRITE_TEXT : LWS_WRITE_CONTINUATION;

    if (i + 1 < n_parts)
      flags |= LWS_WRITE_NO_FIN;
    enqueue (ws, text + pos, part, (enum lws_write_protocol)flags);
    pos += part;
  }
  flush (ws, "a fragmented message");
}

static char *
format_json (const char *format, va_list ap)
{
  char *text = g_strdup_vprintf (format, ap);

  g_strdelimit (text, "'", '"');
  return text;
}

void
hub_test_ws_sendf (HubTestWs *ws, const char *format, ...)
{
  va_list ap;
  g_autofree char *text = NULL;

  va_start (ap, format);
  text = format_json (format, ap);
  va_end (ap);
  hub_test_ws_send_text (ws, text);
}

static gboolean
has_frame_or_ended (HubTestWs *ws, gpointer data)
{
  return ws->in.length > 0 || ws->state == WS_CLOSED || ws->state == WS_FAILED;
}

/* Parses and takes @frame (removed from the queue already). */
static JsonObject *
take (InFrame *frame)
{
  JsonObject *object;

  ck_assert_msg (!frame->binary,
                 "server frames must be text, got a binary frame of %" G_GSIZE_FORMAT " bytes",
                 frame->len);
  object = in_frame_object (frame);
  ck_assert_msg (object != NULL, "server frame should be one JSON object: \"%s\"", frame->data);
  object = json_object_ref (object);
  in_frame_free (frame);
  return object;
}

JsonObject *
hub_test_ws_recv_json (HubTestWs *ws, guint timeout_ms)
{
  service_until (ws, has_frame_or_ended, NULL, timeout_ms);
  if (ws->in.length == 0)
    return NULL;
  return take (g_queue_pop_head (&ws->in));
}

JsonObject *
hub_test_ws_expect_type (HubTestWs *ws, const char *type, guint timeout_ms)
{
  JsonObject *object = hub_test_ws_recv_json (ws, timeout_ms);
  g_autofree char *text = NULL;

  ck_assert_msg (object != NULL, "expected a \"%s\" frame within %u ms, got %s (close code %u)",
                 type, timeout_ms, ws->state == WS_OPEN ? "nothing" : "the connection closed",
                 ws->close_code);
  text = hub_test_json_encode (object);
  ck_assert_msg (g_strcmp0 (hub_test_json_string (object, "type"), type) == 0,
                 "expected a \"%s\" frame, got %s", type, text);
  return object;
}

void
hub_test_ws_await_presence (HubTestWs *ws, const char *event, const char *room, const char *user)
{
  gint64 deadline = g_get_monotonic_time () + HUB_TEST_WS_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    gint64 left = (deadline - g_get_monotonic_time ()) / G_TIME_SPAN_MILLISECOND;
    g_autoptr (JsonObject) frame = hub_test_ws_recv_json (ws, (guint)MAX (left, 1));

    ck_assert_msg (frame != NULL, "expected presence %s of %s in %s within %d ms, got %s", event,
                   user, room, HUB_TEST_WS_TIMEOUT_MS,
                   ws->state == WS_OPEN ? "nothing" : "the connection closed");
    if (g_strcmp0 (hub_test_json_string (frame, "type"), "presence") == 0 &&
        g_strcmp0 (hub_test_json_string (frame, "event"), event) == 0 &&
        g_strcmp0 (hub_test_json_string (frame, "room"), room) == 0 &&
        g_strcmp0 (hub_test_json_string (frame, "user"), user) == 0)
      return;
  }
}

void
hub_test_ws_join (HubTestWs *ws, const char *user, const char *room)
{
  json_object_unref (hub_test_ws_ok (ws, "{'type':'join','room':'%s'}", room));
  hub_test_ws_await_presence (ws, "join", room, user);
}

guint
hub_test_ws_pending (HubTestWs *ws)
{
  return ws->in.length;
}

typedef struct {
  JsonNode *id;
  GList *match;
} IdSearch;

static gboolean
reply_arrived (HubTestWs *ws, gpointer data)
{
  IdSearch *search = data;

  for (GList *l = ws->in.head; l != NULL; l = l->next) {
    JsonObject *object = in_frame_object (l->data);
    JsonNode *id = object ? json_object_get_member (object, "id") : NULL;

    if (id != NULL && JSON_NODE_HOLDS_VALUE (id) &&
        json_node_get_value_type (id) == json_node_get_value_type (search->id) &&
        json_node_equal (id, search->id)) {
      search->match = l;
      return TRUE;
    }
  }
  return ws->wsi == NULL;
}

JsonObject *
hub_test_ws_request (HubTestWs *ws, const char *json, guint timeout_ms)
{
  g_autoptr (JsonObject) request = hub_test_json_parse (json, strlen (json));
  IdSearch search = {NULL, NULL};
  InFrame *frame;

  ck_assert_msg (request != NULL && json_object_has_member (request, "id"),
                 "a request needs a JSON object with an id: %s", json);
  search.id = json_object_get_member (request, "id");
  hub_test_ws_send_text (ws, json);
  service_until (ws, reply_arrived, &search, timeout_ms);
  if (search.match == NULL)
    return NULL;
  frame = search.match->data;
  g_queue_delete_link (&ws->in, search.match);
  return take (frame);
}

static JsonObject *
call_v (HubTestWs *ws, char **request_text, const char *format, va_list ap)
{
  g_autofree char *text = format_json (format, ap);
  g_autoptr (JsonObject) request = hub_test_json_parse (text, strlen (text));
  JsonObject *reply;

  ck_assert_msg (request != NULL, "test bug: not a JSON object: %s", text);
  json_object_set_int_member (request, "id", ws->next_id++);
  *request_text = hub_test_json_encode (request);
  reply = hub_test_ws_request (ws, *request_text, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (reply != NULL, "no reply to %s within %d ms (%s, close code %u)", *request_text,
                 HUB_TEST_WS_TIMEOUT_MS, ws->wsi ? "still open" : "connection closed",
                 ws->close_code);
  return reply;
}

JsonObject *
hub_test_ws_call (HubTestWs *ws, const char *format, ...)
{
  g_autofree char *request = NULL;
  JsonObject *reply;
  va_list ap;

  va_start (ap, format);
  reply = call_v (ws, &request, format, ap);
  va_end (ap);
  return reply;
}

JsonObject *
hub_test_ws_ok (HubTestWs *ws, const char *format, ...)
{
  g_autofree char *request = NULL;
  g_autofree char *text = NULL;
  JsonObject *reply;
  va_list ap;

  va_start (ap, format);
  reply = call_v (ws, &request, format, ap);
  va_end (ap);
  text = hub_test_json_encode (reply);
  ck_assert_msg (g_strcmp0 (hub_test_json_string (reply, "type"), "ok") == 0,
                 "%s should succeed, got %s", request, text);
  return reply;
}

void
hub_test_ws_err (HubTestWs *ws, const char *code, const char *format, ...)
{
  g_autofree char *request = NULL;
  g_autofree char *text = NULL;
  g_autoptr (JsonObject) reply = NULL;
  va_list ap;

  va_start (ap, format);
  reply = call_v (ws, &request, format, ap);
  va_end (ap);
  text = hub_test_json_encode (reply);
  ck_assert_msg (g_strcmp0 (hub_test_json_string (reply, "type"), "error") == 0 &&
                     g_strcmp0 (hub_test_json_string (reply, "code"), code) == 0,
                 "%s should fail with %s, got %s", request, code, text);
  ck_assert_msg (json_object_has_member (reply, "message") &&
                     JSON_NODE_HOLDS_VALUE (json_object_get_member (reply, "message")),
                 "an error carries a human message: %s", text);
}

void
hub_test_ws_barrier (HubTestWs *ws)
{
  g_autofree char *id = g_strdup_printf ("barrier-%" G_GINT64_FORMAT, ws->next_id++);
  g_autofree char *request = g_strdup_printf ("{\"type\":\"ping\",\"id\":\"%s\"}", id);
  g_autoptr (JsonObject) reply = NULL;
  g_autofree char *text = NULL;

  hub_test_ws_send_text (ws, request);
  reply = hub_test_ws_recv_json (ws, HUB_TEST_WS_TIMEOUT_MS);
  ck_assert_msg (reply != NULL, "barrier: no pong within %d ms", HUB_TEST_WS_TIMEOUT_MS);
  text = hub_test_json_encode (reply);
  ck_assert_msg (g_strcmp0 (hub_test_json_string (reply, "type"), "pong") == 0 &&
                     g_strcmp0 (hub_test_json_string (reply, "id"), id) == 0,
                 "expected nothing before the pong of %s, got %s", id, text);
}

void
hub_test_ws_drain (HubTestWs *ws)
{
  g_autofree char *id = g_strdup_printf ("drain-%" G_GINT64_FORMAT, ws->next_id++);
  g_autofree char *request = g_strdup_printf ("{\"type\":\"ping\",\"id\":\"%s\"}", id);
  g_autoptr (JsonObject) reply = hub_test_ws_request (ws, request, HUB_TEST_WS_TIMEOUT_MS);

  ck_assert_msg (reply != NULL, "drain: no pong within %d ms", HUB_TEST_WS_TIMEOUT_MS);
  g_queue_clear_full (&ws->in, (GDestroyNotify)in_frame_free);
}

JsonObject *
hub_test_ws_hello (HubTestWs *ws, const char *user, const char *device)
{
  JsonObject *reply;
  g_autofree char *text = NULL;

  if (device != NULL)
    reply = hub_test_ws_call (ws, "{'type':'hello','user':'%s','device':'%s'}", user, device);
  else
    reply = hub_test_ws_call (ws, "{'type':'hello','user':'%s'}", user);
  text = hub_test_json_encode (reply);
  ck_assert_msg (g_strcmp0 (hub_test_json_string (reply, "type"), "welcome") == 0,
                 "hello as %s/%s should get a welcome, got %s", user, device ? device : "(none)",
                 text);
  return reply;
}

HubTestWs *
hub_test_ws_login (guint16 port, const char *user, const char *device)
{
  HubTestWs *ws = hub_test_ws_open (port);

  json_object_unref (hub_test_ws_hello (ws, user, device));
  return ws;
}

static gboolean
has_ended (HubTestWs *ws, gpointer data)
{
  return ws->state == WS_CLOSED || ws->state == WS_FAILED;
}

guint
hub_test_ws_wait_closed (HubTestWs *ws, guint timeout_ms)
{
  if (!service_until (ws, has_ended, NULL, timeout_ms))
    return 0;
  return ws->close_code;
}

gboolean
hub_test_ws_is_closed (HubTestWs *ws)
{
  return has_ended (ws, NULL);
}

void
hub_test_ws_pause_reading (HubTestWs *ws, gboolean paused)
{
  if (ws->wsi != NULL)
    lws_rx_flow_control (ws->wsi, paused ? 0 : 1);
  service_once (0);
}

void
hub_test_ws_close (HubTestWs *ws, guint16 code)
{
  if (ws->wsi == NULL)
    return;
  ws->want_close = TRUE;
  ws->close_request = code;
  lws_callback_on_writable (ws->wsi);
  service_until (ws, has_ended, NULL, HUB_TEST_WS_TIMEOUT_MS);
}

void
hub_test_ws_drop (HubTestWs *ws)
{
  if (ws->wsi == NULL)
    return;
  /* Both directions shut: the server reads EOF with no close frame, and
   * lws's own attempt to send one fails. */
  hub_test_platform_socket_shutdown ((gintptr)lws_get_socket_fd (ws->wsi));
  service_until (ws, has_ended, NULL, HUB_TEST_WS_TIMEOUT_MS);
}

void
hub_test_ws_free (HubTestWs *ws)
{
  if (ws == NULL)
    return;
  hub_test_ws_drop (ws);
  if (ws->wsi != NULL) /* lws never reported the end: forget it */
    lws_set_opaque_user_data (ws->wsi, NULL);
  if (clients != NULL)
    g_ptr_array_remove (clients, ws);
  g_queue_clear_full (&ws->out, (GDestroyNotify)out_frame_free);
  g_queue_clear_full (&ws->in, (GDestroyNotify)in_frame_free);
  g_string_free (ws->partial, TRUE);
  g_free (ws->error);
  g_free (ws->protocol);
  g_free (ws);
}

void
hub_test_ws_free_all (void)
{
  while (clients != NULL && clients->len > 0)
    hub_test_ws_free (g_ptr_array_index (clients, clients->len - 1));
  if (context != NULL) {
    lws_context_destroy (context);
    context = NULL;
  }
  g_clear_pointer (&clients, g_ptr_array_unref);
}

/* ---- suites ---- */

void
hub_test_cleanup (void)
{
  hub_test_ws_free_all ();
  hub_test_server_free_all ();
  hub_test_redis_free_all ();
}

void
hub_test_add_tcase (Suite *suite, const char *name, const TTest *test, double timeout_s)
{
  TCase *tc = tcase_create (name);

  tcase_add_unchecked_fixture (tc, hub_test_server_logs_begin, hub_test_server_logs_end);
  tcase_add_checked_fixture (tc, NULL, hub_test_cleanup);
  tcase_set_timeout (tc, timeout_s);
  _tcase_add_test (tc, test, 0, 0, 0, 1);
  suite_add_tcase (suite, tc);
}

int
hub_test_run (Suite *suite)
{
  /* The @redis variants hold the store to the same cases: skipped (77) only
   * where the platform has no redis-server at all (Windows). */
  if (hub_test_store_is_redis ())
    hub_test_skip_without ("redis-server");
  SRunner *runner = srunner_create (suite);
  int failed;

  srunner_run_all (runner, CK_NORMAL);
  failed = srunner_ntests_failed (runner);
  srunner_free (runner);
  return failed == 0 ? 0 : 1;
}

/* ---- raw socket client ---- */

struct _HubTestRawWs {
  GSocketConnection *conn; /* (owned) */
  GSocket *sock;           /* (unowned) conn's */
  GByteArray *buf;         /* (owned) bytes read, not yet parsed */
};

HubTestRawWs *
hub_test_raw_ws_new (guint16 port, GError **error)
{
  GSocketConnection *conn = hub_test_tcp_connect (port, error);
  HubTestRawWs *raw;

  if (conn == NULL)
    return NULL;
  raw = g_new0 (HubTestRawWs, 1);
  raw->conn = conn;
  raw->sock = g_socket_connection_get_socket (conn);
  raw->buf = g_byte_array_new ();
  return raw;
}

gboolean
hub_test_raw_ws_send_bytes (HubTestRawWs *raw, const void *data, gsize len)
{
  gsize done = 0;

  while (done < len) {
    gssize n = g_socket_send (raw->sock, (const char *)data + done, len - done, NULL, NULL);

    if (n <= 0)
      return FALSE;
    done += n;
  }
  return TRUE;
}

/* Reads what is available within @timeout_ms: >0 bytes read, 0 EOF, -1
 * timeout, -2 error. */
static gssize
read_some (HubTestRawWs *raw, gint64 timeout_ms)
{
  guint8 chunk[16384];
  gssize n;

  if (!g_socket_condition_timed_wait (raw->sock, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                      MAX (timeout_ms, 0) * G_TIME_SPAN_MILLISECOND, NULL, NULL))
    return -1;
  n = g_socket_receive (raw->sock, (char *)chunk, sizeof chunk, NULL, NULL);
  if (n < 0)
    return -2;
  g_byte_array_append (raw->buf, chunk, n);
  return n;
}

guint
hub_test_raw_ws_handshake (HubTestRawWs *raw, const char *path, const char *subprotocol)
{
  guint8 key_bytes[16];
  g_autofree char *key = NULL;
  g_autofree char *protocol = NULL;
  g_autofree char *request = NULL;
  gint64 deadline = g_get_monotonic_time () + HUB_TEST_WS_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  for (guint i = 0; i < sizeof key_bytes; i++)
    key_bytes[i] = (guint8)g_random_int ();
  key = g_base64_encode (key_bytes, sizeof key_bytes);
  protocol =
      subprotocol ? g_strdup_printf ("Sec-WebSocket-Protocol: %s\r\n", subprotocol) : g_strdup ("");
  request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                             "Sec-WebSocket-Version: 13\r\n%s\r\n",
                             path, key, protocol);
  if (!hub_test_raw_ws_send_bytes (raw, request, strlen (request)))
    return 0;
  for (;;) {
    for (guint i = 0; i + 3 < raw->buf->len; i++) {
      if (memcmp (raw->buf->data + i, "\r\n\r\n", 4) == 0) {
        guint status = 0;

        if (raw->buf->len >= 12 && memcmp (raw->buf->data, "HTTP/1.", 7) == 0)
          status = (guint)g_ascii_strtoull ((const char *)raw->buf->data + 9, NULL, 10);
        g_byte_array_remove_range (raw->buf, 0, i + 4);
        return status;
      }
    }
    if (read_some (raw, (deadline - g_get_monotonic_time ()) / G_TIME_SPAN_MILLISECOND) <= 0)
      return 0;
  }
}

gboolean
hub_test_raw_ws_send_frame (HubTestRawWs *raw, guint8 opcode, const void *data, gsize len)
{
  const guint8 *bytes = data;
  g_autoptr (GByteArray) frame = g_byte_array_new ();
  guint8 head[14];
  gsize n = 0;
  guint8 mask[4];

  head[n++] = 0x80 | (opcode & 0x0f);
  if (len < 126) {
    head[n++] = 0x80 | (guint8)len;
  } else if (len < 65536) {
    head[n++] = 0x80 | 126;
    head[n++] = (guint8)(len >> 8);
    head[n++] = (guint8)len;
  } else {
    head[n++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--)
      head[n++] = (guint8)((guint64)len >> (8 * i));
  }
  for (guint i = 0; i < 4; i++)
    mask[i] = (guint8)g_random_int ();
  g_byte_array_append (frame, head, n);
  g_byte_array_append (frame, mask, 4);
  for (gsize i = 0; i < len; i++) {
    guint8 c = bytes[i] ^ mask[i % 4];

    g_byte_array_append (frame, &c, 1);
  }
  return hub_test_raw_ws_send_bytes (raw, frame->data, frame->len);
}

gboolean
hub_test_raw_ws_send_text (HubTestRawWs *raw, const char *text)
{
  return hub_test_raw_ws_send_frame (raw, 0x1, text, strlen (text));
}

/* Parses one complete frame at the start of raw->buf, or returns -1. */
static int
parse_frame (HubTestRawWs *raw, GBytes **payload)
{
  const guint8 *p = raw->buf->data;
  gsize have = raw->buf->len, pos = 2;
  guint64 len;
  gboolean masked;
  int opcode;
  g_autofree guint8 *data = NULL;

  if (have < 2)
    return -1;
  opcode = p[0] & 0x0f;
  masked = (p[1] & 0x80) != 0;
  len = p[1] & 0x7f;
  if (len == 126) {
    if (have < 4)
      return -1;
    len = (guint64)p[2] << 8 | p[3];
    pos = 4;
  } else if (len == 127) {
    if (have < 10)
      return -1;
    len = 0;
    for (int i = 0; i < 8; i++)
      len = len << 8 | p[2 + i];
    pos = 10;
  }
  if (masked)
    pos += 4;
  if (have < pos + len)
    return -1;
  data = g_malloc (len + 1);
  memcpy (data, p + pos, len);
  if (masked)
    for (guint64 i = 0; i < len; i++)
      data[i] ^= p[pos - 4 + i % 4];
  if (payload != NULL)
    *payload = g_bytes_new_take (g_steal_pointer (&data), len);
  g_byte_array_remove_range (raw->buf, 0, pos + len);
  return opcode;
}

int
hub_test_raw_ws_read_frame (HubTestRawWs *raw, guint timeout_ms, GBytes **payload)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    int opcode = parse_frame (raw, payload);
    gssize n;

    if (opcode >= 0)
      return opcode;
    n = read_some (raw, (deadline - g_get_monotonic_time ()) / G_TIME_SPAN_MILLISECOND);
    if (n == -1)
      return -1;
    if (n <= 0)
      return -2;
  }
}

guint
hub_test_raw_ws_wait_closed (HubTestRawWs *raw, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    g_autoptr (GBytes) payload = NULL;
    gint64 left = (deadline - g_get_monotonic_time ()) / G_TIME_SPAN_MILLISECOND;
    int opcode = hub_test_raw_ws_read_frame (raw, MAX (left, 0), &payload);

    if (opcode == -1)
      return 0;
    if (opcode == -2)
      return HUB_TEST_WS_CLOSED_ABNORMALLY;
    if (opcode == 0x8) {
      gsize len = 0;
      const guint8 *p = g_bytes_get_data (payload, &len);

      return len >= 2 ? (guint)(p[0] << 8 | p[1]) : 1005;
    }
  }
}

void
hub_test_raw_ws_abort (HubTestRawWs *raw, gboolean reset)
{
  if (reset)
    hub_test_platform_socket_reset_on_close (raw->sock);
  g_socket_close (raw->sock, NULL);
}

void
hub_test_raw_ws_free (HubTestRawWs *raw)
{
  if (raw == NULL)
    return;
  g_object_unref (raw->conn);
  g_byte_array_unref (raw->buf);
  g_free (raw);
}
