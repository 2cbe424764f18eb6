/* hub-http.c: the HTTP endpoints (PROTOCOL.md §10, and §13's through
 * hub-api.c). Each response is JSON or Prometheus text with a Content-Length,
 * written whole as soon as the request is known; GETs keep the connection
 * alive, requests with a body close it. */
#include "hub-http.h"

#include "hub-api.h"

#include <json-glib/json-glib.h>
#include <string.h>

typedef enum {
  ROUTE_NONE,
  ROUTE_HEALTHZ,
  ROUTE_METRICS,
  ROUTE_STATS,
  ROUTE_PUBLISH,
  ROUTE_WS,
  ROUTE_API, /* §13's (hub-api.c) */
} Route;

static const struct {
  const char *path;
  Route route;
  const char *method; /* the one method the path answers */
} routes[] = {
    {"/healthz", ROUTE_HEALTHZ, "GET"}, {"/metrics", ROUTE_METRICS, "GET"},
    {"/api/stats", ROUTE_STATS, "GET"}, {"/api/publish", ROUTE_PUBLISH, "POST"},
    {HUB_WS_PATH, ROUTE_WS, "GET"},
};

#define CONTENT_TYPE_JSON    "application/json"
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4"

/* Room for the status line and our few headers. */
#define HEADER_BUFFER 512

void
hub_http_session_clear (HubHttpSession *s)
{
  if (s->body != NULL)
    g_byte_array_unref (s->body);
  s->body = NULL;
  g_clear_pointer (&s->authorization, g_free);
  g_clear_pointer (&s->target, g_free);
  g_clear_pointer (&s->answer, g_free);
  s->awaiting_body = FALSE;
}

static Route
find_route (const char *path, const char **method)
{
  for (guint i = 0; i < G_N_ELEMENTS (routes); i++) {
    if (strcmp (routes[i].path, path) == 0) {
      *method = routes[i].method;
      return routes[i].route;
    }
  }
  *method = NULL;
  return ROUTE_NONE;
}

/* The request method ("GET", …), NULL when lws saw none it knows. */
static const char *
request_method (struct lws *wsi, char **uri, int *uri_len)
{
  static const char *const names[] = {
      [LWSHUMETH_GET] = "GET",         [LWSHUMETH_POST] = "POST",   [LWSHUMETH_OPTIONS] = "OPTIONS",
      [LWSHUMETH_PUT] = "PUT",         [LWSHUMETH_PATCH] = "PATCH", [LWSHUMETH_DELETE] = "DELETE",
      [LWSHUMETH_CONNECT] = "CONNECT", [LWSHUMETH_HEAD] = "HEAD",
  };
  int m = lws_http_get_uri_and_method (wsi, uri, uri_len);

  if (m == LWSHUMETH_COLON_PATH) { /* HTTP/2: the method is its own header */
    char buf[16];

    if (lws_hdr_copy (wsi, buf, sizeof buf, WSI_TOKEN_HTTP_COLON_METHOD) <= 0)
      return NULL;
    for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
      if (names[i] != NULL && strcmp (buf, names[i]) == 0)
        return names[i];
    }
    return "OTHER";
  }
  if (m < 0 || (guint)m >= G_N_ELEMENTS (names))
    return NULL;
  return names[m];
}

/* A whole header as a string, NULL when absent. (transfer full) */
static char *
copy_header (struct lws *wsi, enum lws_token_indexes token)
{
  int total = lws_hdr_total_length (wsi, token);
  char *buf;

  if (total <= 0)
    return NULL;
  /* lws_hdr_copy() joins repeated headers with ','; leave room for those. */
  buf = g_malloc ((gsize)total + 64);
  if (lws_hdr_copy (wsi, buf, total + 64, token) < 0) {
    g_free (buf);
    return NULL;
  }
  return buf;
}

static char *
json_two (const char *k1, const char *v1, const char *k2, const char *v2)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, k1);
  json_builder_add_string_value (b, v1);
  json_builder_set_member_name (b, k2);
  json_builder_add_string_value (b, v2);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static char *
json_error (const char *code, const char *message)
{
  return json_two ("code", code, "message", message);
}

/* Writes the whole response now: status line, headers, then @body (taken;
 * not written for HEAD). lws keeps what the socket does not take and sends it
 * before anything else. Returns -1 when the connection must be dropped. */
static int
write_response (struct lws *wsi, guint status, const char *content_type, char *body,
                const char *allow, gboolean head, gboolean close)
{
  guint8 headers[LWS_PRE + HEADER_BUFFER];
  guint8 *start = headers + LWS_PRE, *p = start, *end = headers + sizeof headers - 1;
  gsize len = strlen (body);
  g_autofree guint8 *buf = g_malloc (LWS_PRE + len + 1);
  int rc = 0;

  memcpy (buf + LWS_PRE, body, len + 1);
  g_free (body);
  if (lws_add_http_common_headers (wsi, status, content_type, len, &p, end) ||
      (allow != NULL &&
       lws_add_http_header_by_token (wsi, WSI_TOKEN_HTTP_ALLOW, (const guint8 *)allow,
                                     (int)strlen (allow), &p, end)) ||
      (close && lws_add_http_header_by_token (wsi, WSI_TOKEN_CONNECTION, (const guint8 *)"close", 5,
                                              &p, end)) ||
      lws_finalize_write_http_header (wsi, start, &p, end))
    rc = -1;
  else if (!head && len > 0 && lws_write (wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) < 0)
    rc = -1;
  return rc;
}

/* Answers the request and ends the transaction (keep-alive), or with @close
 * ends the connection once the response is out. Written at once rather than
 * from HTTP_WRITEABLE: lws 4.1 spins on a pipelined request while a POST's
 * transaction stays open after HTTP_BODY_COMPLETION. */
static int
respond (struct lws *wsi, HubHttpSession *s, guint status, const char *content_type, char *body,
         const char *allow, gboolean head, gboolean close)
{
  hub_http_session_clear (s);
  if (write_response (wsi, status, content_type, body, allow, head, close) < 0 || close)
    return -1;
  return lws_http_transaction_completed (wsi) ? -1 : 0;
}

static int
respond_error (struct lws *wsi, HubHttpSession *s, guint status, const char *code,
               const char *message, const char *allow, gboolean head, gboolean close)
{
  return respond (wsi, s, status, CONTENT_TYPE_JSON, json_error (code, message), allow, head,
                  close);
}

/* Whether @method's requests carry a body lws reads. */
static gboolean
method_has_body (const char *method)
{
  return g_strcmp0 (method, "POST") == 0 || g_strcmp0 (method, "PUT") == 0 ||
         g_strcmp0 (method, "PATCH") == 0;
}

/* The publish's answer: kept, and written at once when it came before
 * hub_dispatcher_api_publish_async() returned, else from HTTP_WRITEABLE. */
static void
on_publish_answer (guint status, const char *body, gpointer user_data)
{
  HubHttpSession *s = user_data;

  s->pending = NULL;
  s->answer_status = status;
  g_free (s->answer);
  s->answer = g_strdup (body);
  if (!s->in_publish)
    lws_callback_on_writable (s->wsi);
}

/* Closes: see handle_request(). */
static int
write_answer (struct lws *wsi, HubHttpSession *s)
{
  char *json = g_steal_pointer (&s->answer);

  return respond (wsi, s, s->answer_status, CONTENT_TYPE_JSON, json, NULL, FALSE, TRUE);
}

/* The loop goes on serving others while a cluster node waits for Redis. */
static int
call_api (HubDispatcher *d, struct lws *wsi, HubHttpSession *s)
{
  gsize len = s->body != NULL ? s->body->len : 0;
  /* An empty GByteArray has no data pointer at all. */
  const char *data = len > 0 ? (const char *)s->body->data : "";

  s->awaiting_body = FALSE;
  s->wsi = wsi;
  s->in_publish = TRUE;
  s->pending = hub_api_start (d, wsi, s->action, s->target, data, len, s->authorization,
                              on_publish_answer, s);
  s->in_publish = FALSE;
  if (s->answer != NULL)
    return write_answer (wsi, s);
  return 0;
}

/* A POST of the API (/api/publish, §13's): the body needs a Content-Length
 * within max_message_bytes; it then arrives in HTTP_BODY. */
static int
start_body (HubDispatcher *d, struct lws *wsi, HubHttpSession *s, HubApiAction action)
{
  gsize limit = hub_dispatcher_get_config (d)->max_message_bytes;
  g_autofree char *length = copy_header (wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
  guint64 n = 0;

  /* Without a length lws reads a POST body until 100 MB or the end of the
   * connection: answer and close. */
  if (length == NULL)
    return respond_error (wsi, s, 411, "bad_request", "Content-Length required", NULL, FALSE, TRUE);
  if (!g_ascii_string_to_unsigned (length, 10, 0, G_MAXUINT64, &n, NULL))
    return respond_error (wsi, s, 400, "bad_request", "bad Content-Length", NULL, FALSE, TRUE);
  if (n > limit) {
    g_autofree char *msg =
        g_strdup_printf ("body larger than max_message_bytes (%" G_GSIZE_FORMAT ")", limit);

    return respond_error (wsi, s, 413, "bad_request", msg, NULL, FALSE, TRUE);
  }
  s->authorization = copy_header (wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
  s->body = g_byte_array_sized_new ((guint)n);
  s->awaiting_body = TRUE;
  s->action = action;
  /* A Content-Length of 0 gets HTTP_BODY_COMPLETION from lws at once. */
  return 0;
}

static int
handle_request (HubDispatcher *d, struct lws *wsi, HubHttpSession *s, const char *path)
{
  char *uri = NULL;
  int uri_len = 0;
  const char *method = request_method (wsi, &uri, &uri_len);
  const char *allowed = NULL;
  Route route = find_route (path, &allowed);
  gboolean head = g_strcmp0 (method, "HEAD") == 0;
  HubApiAction action = HUB_API_PUBLISH;
  char *target = NULL;

  /* A request with a body closes the connection after its response: lws
   * 4.1 loops forever in lws_http_action() when a request follows a body in
   * the same read and the transaction ended (its next state consumes
   * nothing). Publishing over HTTP is not a hot path; GETs keep alive. */
  gboolean has_body =
      method_has_body (method) || lws_hdr_total_length (wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;

  hub_http_session_clear (s);
  if (route == ROUTE_NONE && hub_api_route (path, &action, &target, &allowed)) {
    route = ROUTE_API;
    s->target = target;
  }
  if (route == ROUTE_NONE)
    return respond_error (wsi, s, 404, "not_found", "no such path", NULL, head, has_body);
  /* HEAD is GET without the body (RFC 9110 §9.3.2). */
  if (g_strcmp0 (method, allowed) != 0 && !(head && g_strcmp0 (allowed, "GET") == 0))
    return respond_error (wsi, s, 405, "method_not_allowed", "method not allowed", allowed, head,
                          has_body);

  switch (route) {
    case ROUTE_HEALTHZ: {
      /* 503 "degraded" while a cluster node has lost Redis. */
      guint status = 200;
      char *body = hub_dispatcher_render_health (d, &status);

      return respond (wsi, s, status, CONTENT_TYPE_JSON, body, NULL, head, has_body);
    }
    case ROUTE_METRICS:
      return respond (wsi, s, 200, CONTENT_TYPE_METRICS, hub_dispatcher_render_metrics (d), NULL,
                      head, has_body);
    case ROUTE_STATS:
      return respond (wsi, s, 200, CONTENT_TYPE_JSON, hub_dispatcher_render_stats_json (d), NULL,
                      head, has_body);
    case ROUTE_PUBLISH:
      return start_body (d, wsi, s, HUB_API_PUBLISH);
    case ROUTE_API:
      if (method_has_body (allowed))
        return start_body (d, wsi, s, action);
      /* A GET: the query is read from the headers, now. */
      s->action = action;
      s->authorization = copy_header (wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
      return call_api (d, wsi, s);
    case ROUTE_WS:
      /* A plain GET of the WebSocket path. */
      return respond_error (wsi, s, 426, "bad_request", "WebSocket upgrade required", NULL, head,
                            has_body);
    case ROUTE_NONE:
    default:
      g_assert_not_reached ();
  }
}

int
hub_http_callback (HubDispatcher *d, struct lws *wsi, enum lws_callback_reasons reason,
                   HubHttpSession *s, void *in, size_t len)
{
  switch (reason) {
    case LWS_CALLBACK_HTTP:
      return handle_request (d, wsi, s, in != NULL ? (const char *)in : "");

    case LWS_CALLBACK_HTTP_BODY:
      /* Content-Length was checked: lws ends the body there. */
      if (s->body != NULL && len > 0)
        g_byte_array_append (s->body, in, (guint)len);
      return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
      if (!s->awaiting_body) /* already answered, and closing */
        return -1;
      return call_api (d, wsi, s);

    case LWS_CALLBACK_HTTP_WRITEABLE:
      if (s->answer != NULL)
        return write_answer (wsi, s);
      return 0;

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
      if (s->pending != NULL) /* the client went away before the answer */
        hub_dispatcher_api_publish_cancel (d, g_steal_pointer (&s->pending));
      /* lws frees the per-session data after a drop (it rebinds the
       * protocol at each transaction's end and at the WebSocket upgrade). */
      hub_http_session_clear (s);
      return 0;

    default:
      return lws_callback_http_dummy (wsi, reason, s, in, len);
  }
}

/* Whether the Sec-WebSocket-Protocol list (comma separated) names hub.v1. */
static gboolean
offers_subprotocol (const char *list)
{
  g_auto (GStrv) items = g_strsplit (list, ",", -1);

  for (guint i = 0; items[i] != NULL; i++) {
    if (strcmp (g_strstrip (items[i]), HUB_WS_SUBPROTOCOL) == 0)
      return TRUE;
  }
  return FALSE;
}

/* Writes a refusal of the upgrade; lws then ends the transaction (1). */
static int
refuse_upgrade (struct lws *wsi, guint status, const char *code, const char *message,
                const char *allow)
{
  return write_response (wsi, status, CONTENT_TYPE_JSON, json_error (code, message), allow, FALSE,
                         FALSE) < 0
             ? -1
             : 1;
}

int
hub_http_confirm_upgrade (struct lws *wsi, const char *upgrade)
{
  char *uri = NULL;
  int uri_len = 0;
  const char *method = request_method (wsi, &uri, &uri_len);
  g_autofree char *path = uri != NULL ? g_strndup (uri, (gsize)MAX (uri_len, 0)) : g_strdup ("");
  g_autofree char *protocols = NULL;

  /* Other upgrades (h2c) are lws's business. */
  if (upgrade == NULL || g_ascii_strcasecmp (upgrade, "websocket") != 0)
    return 0;
  if (strcmp (path, HUB_WS_PATH) != 0)
    return refuse_upgrade (wsi, 404, "not_found", "no such path", NULL);
  if (g_strcmp0 (method, "GET") != 0)
    return refuse_upgrade (wsi, 405, "method_not_allowed", "method not allowed", "GET");
  protocols = copy_header (wsi, WSI_TOKEN_PROTOCOL);
  /* lws reads at most 127 bytes of the list (and drops the connection
   * without an answer when it finds no protocol it knows): answer here. */
  if (protocols != NULL && (strlen (protocols) > 127 || !offers_subprotocol (protocols)))
    return refuse_upgrade (wsi, 400, "bad_request", "subprotocol " HUB_WS_SUBPROTOCOL " required",
                           NULL);
  return 0;
}
