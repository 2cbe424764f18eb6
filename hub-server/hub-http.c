/* hub-http.c: the HTTP endpoints (PROTOCOL.md §10), as a table of routes.
 * Every request passes the same checks, in §13's order, before its handler
 * runs: its headers within bounds (414, 431), a known path (404) and method
 * (405), the admin token where the route needs one (401, 403) read from the
 * headers before any body byte, then the body's length (411, 400, 413). A
 * body is collected as it arrives, never more than its announced length
 * (at most max_message_bytes), and only once the token passed. Responses are
 * JSON or Prometheus text with a Content-Length, written whole; GETs keep the
 * connection alive, requests with a body close it.
 *
 * A route of §13's server API plugs in as one more line of the table: its
 * path (a prefix ending in '/' takes the rest as an argument, e.g.
 * "/api/rooms/"), its method, needs_admin, whether it reads a JSON body, and
 * its handler, which gets the request (path, query, body) and answers with
 * respond_json() or, when the answer comes later (a cluster node asks Redis),
 * through answer_later(). */
#include "hub-http.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "hub-log.h"

struct _HubHttp {
  HubDispatcher *dispatcher; /* (unowned) */
  HubAdmission *admission;   /* (unowned) */
  gboolean http2;
  HubMetric *responses; /* (unowned) hub_http_responses_total{code} */
};

/* The statuses hub-server answers with, shown from the first scrape. */
static const char *const known_statuses[] = {"200", "400", "401", "403", "404", "405",
                                             "411", "413", "414", "426", "431", "503"};

/* What a handler gets. Strings are valid during the call. */
typedef struct {
  const char *path;
  /* (nullable) the URI's arguments as lws keeps them: each `name=value`
   * URL-decoded, joined by ','; a handler that needs one by name may also
   * ask lws (lws_get_urlarg_by_name). */
  const char *query;
  gboolean head; /* a HEAD: answer without the body */
  const guint8 *body;
  gsize body_len;
  const char *authorization; /* (nullable) */
} Request;

typedef int (*Handler) (HubHttp *http, struct lws *wsi, HubHttpSession *s, const Request *req);

typedef struct {
  const char *path;   /* exact, or a prefix when it ends with '/' */
  const char *method; /* the one method it answers (HEAD too for GET) */
  gboolean needs_admin;
  gboolean reads_body; /* a JSON body of at most max_message_bytes */
  Handler handler;     /* (nullable) NULL: the WebSocket path, for plain requests 426 */
} Route;

static int get_healthz (HubHttp *http, struct lws *wsi, HubHttpSession *s, const Request *req);
static int get_metrics (HubHttp *http, struct lws *wsi, HubHttpSession *s, const Request *req);
static int get_stats (HubHttp *http, struct lws *wsi, HubHttpSession *s, const Request *req);
static int post_publish (HubHttp *http, struct lws *wsi, HubHttpSession *s, const Request *req);

static const Route routes[] = {
    {"/healthz", "GET", FALSE, FALSE, get_healthz},
    {"/metrics", "GET", FALSE, FALSE, get_metrics},
    {"/api/stats", "GET", FALSE, FALSE, get_stats},
    /* §10: an admin token when the server has a secret (the dispatcher
     * checks it again: it also serves hub_dispatcher_api_publish()). */
    {"/api/publish", "POST", TRUE, TRUE, post_publish},
    {HUB_WS_PATH, "GET", FALSE, FALSE, NULL},
};

#define CONTENT_TYPE_JSON    "application/json"
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4"

/* Room for the status line and our few headers. */
#define HEADER_BUFFER 512

HubHttp *
hub_http_new (HubDispatcher *dispatcher, HubAdmission *admission, gboolean http2)
{
  HubHttp *http = g_new0 (HubHttp, 1);

  http->dispatcher = dispatcher;
  http->admission = admission;
  http->http2 = http2;
  http->responses = hub_metrics_add_counter (
      hub_dispatcher_get_metrics (dispatcher), "hub_http_responses_total",
      "HTTP responses written by hub-server, by status (the refused WebSocket upgrades "
      "included; lws' own answers to what it cannot parse are not).",
      "code");
  for (guint i = 0; i < G_N_ELEMENTS (known_statuses); i++)
    hub_metric_declare (http->responses, known_statuses[i]);
  return http;
}

void
hub_http_free (HubHttp *http)
{
  g_free (http);
}

void
hub_http_configure_context (struct lws_context_creation_info *info)
{
  static struct lws_token_limits limits;

  /* lws drops a request whose headers overflow its buffer, without a word;
   * cut at a limit per header, they fit, and the request is answered 414 or
   * 431 (header_limits_status). */
  for (guint i = 0; i < G_N_ELEMENTS (limits.token_limit); i++)
    limits.token_limit[i] = HUB_HTTP_HEADER_MAX;
  info->token_limits = &limits;
  info->max_http_header_data = HUB_HTTP_HEADER_BYTES;
  info->max_http_header_pool = HUB_HTTP_HEADER_POOL;
}

void
hub_http_session_clear (HubHttpSession *s)
{
  if (s->body != NULL)
    g_byte_array_unref (s->body);
  s->body = NULL;
  s->route = NULL;
  g_clear_pointer (&s->path, g_free);
  g_clear_pointer (&s->query, g_free);
  g_clear_pointer (&s->authorization, g_free);
  g_clear_pointer (&s->answer, g_free);
  s->awaiting_body = FALSE;
  s->body_expected = 0;
}

/* ---- reading the request ---- */

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

/* 0 when the request's headers are within bounds, else 414 (its target) or
 * 431 (a header): lws cut them at HUB_HTTP_HEADER_MAX (hub_http_configure_context). */
static guint
header_limits_status (struct lws *wsi)
{
  char *uri = NULL;
  int uri_len = 0;

  if (lws_http_get_uri_and_method (wsi, &uri, &uri_len) >= 0 && uri_len >= HUB_HTTP_URI_MAX)
    return 414;
  if (lws_hdr_total_length (wsi, WSI_TOKEN_HTTP_URI_ARGS) >= HUB_HTTP_URI_MAX)
    return 414;
  for (int t = 0; t < WSI_TOKEN_COUNT; t++)
    if (lws_hdr_total_length (wsi, (enum lws_token_indexes)t) >= HUB_HTTP_HEADER_MAX)
      return 431;
  return 0;
}

/* The route for @path and @method; NULL with *@allow the one method the path
 * answers (405), or NULL (404). */
static const Route *
find_route (const char *path, const char *method, const char **allow)
{
  *allow = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (routes); i++) {
    const Route *r = &routes[i];
    gsize n = strlen (r->path);
    gboolean match = r->path[n - 1] == '/' ? strncmp (path, r->path, n) == 0 && path[n] != '\0'
                                           : strcmp (path, r->path) == 0;

    if (!match)
      continue;
    /* HEAD is GET without the body (RFC 9110 §9.3.2). */
    if (g_strcmp0 (method, r->method) == 0 ||
        (g_strcmp0 (method, "HEAD") == 0 && strcmp (r->method, "GET") == 0))
      return r;
    *allow = r->method;
  }
  return NULL;
}

/* ---- answering ---- */

static char *
json_error (const char *code, const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, code);
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
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
      (status == 503 && lws_add_http_header_by_token (wsi, WSI_TOKEN_HTTP_RETRY_AFTER,
                                                      (const guint8 *)"5", 1, &p, end)) ||
      (close && lws_add_http_header_by_token (wsi, WSI_TOKEN_CONNECTION, (const guint8 *)"close", 5,
                                              &p, end)) ||
      lws_finalize_write_http_header (wsi, start, &p, end))
    rc = -1;
  else if (!head && len > 0 && lws_write (wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) < 0)
    rc = -1;
  return rc;
}

/* Answers the request and ends the transaction (keep-alive: its next request
 * is due within the admission's deadline), or with @close ends the
 * connection once the response is out. Written at once rather than from
 * HTTP_WRITEABLE: lws 4.1 spins on a pipelined request while a POST's
 * transaction stays open after HTTP_BODY_COMPLETION. */
static void
count_status (HubHttp *http, guint status)
{
  char text[8];

  g_snprintf (text, sizeof text, "%u", status);
  hub_metric_inc (http->responses, text, 1);
}

static int
respond (HubHttp *http, struct lws *wsi, HubHttpSession *s, guint status, const char *content_type,
         char *body, const char *allow, gboolean head, gboolean close)
{
  count_status (http, status);
  hub_http_session_clear (s);
  if (write_response (wsi, status, content_type, body, allow, head, close) < 0 || close)
    return -1;
  if (lws_http_transaction_completed (wsi))
    return -1;
  /* The connection's (with HTTP/2, @wsi is a stream of it). */
  hub_admission_awaiting_request (http->admission, lws_get_network_wsi (wsi));
  return 0;
}

/* A refused request's line: info for a refused token (401, 403: the
 * reason, never the token), debug for the rest (a scanner's 404s). The
 * 503 of a full server is the admission's line. */
static void
log_refusal (struct lws *wsi, guint status, const char *message)
{
  gboolean token = status == 401 || status == 403;
  char peer[64], code[8];

  if (!hub_log_enabled (token ? HUB_LOG_LEVEL_INFO : HUB_LOG_LEVEL_DEBUG))
    return;
  if (lws_get_peer_simple (lws_get_network_wsi (wsi), peer, sizeof peer) == NULL)
    peer[0] = '\0';
  g_snprintf (code, sizeof code, "%u", status);
  hub_event_log ("hub-server", token ? G_LOG_LEVEL_INFO : G_LOG_LEVEL_DEBUG,
                 token ? "http_refused" : "http_error", "HTTP request refused", "peer",
                 peer[0] != '\0' ? peer : NULL, "status", code, "reason", message, NULL);
}

static int
respond_error (HubHttp *http, struct lws *wsi, HubHttpSession *s, guint status, const char *code,
               const char *message, const char *allow, gboolean head, gboolean close)
{
  log_refusal (wsi, status, message);
  return respond (http, wsi, s, status, CONTENT_TYPE_JSON, json_error (code, message), allow, head,
                  close);
}

/* An answer that came after the handler returned is written from HTTP_WRITEABLE. */
static void
answer_later (guint status, const char *body, gpointer user_data)
{
  HubHttpSession *s = user_data;

  s->pending = NULL;
  s->answer_status = status;
  g_free (s->answer);
  s->answer = g_strdup (body);
  if (!s->in_handler)
    lws_callback_on_writable (s->wsi);
}

/* Requests with a body close after their answer (see handle_request). */
static int
write_answer (HubHttp *http, struct lws *wsi, HubHttpSession *s)
{
  char *json = g_steal_pointer (&s->answer);

  return respond (http, wsi, s, s->answer_status, CONTENT_TYPE_JSON, json, NULL, FALSE, TRUE);
}

/* ---- the handlers ---- */

static int
get_healthz (HubHttp *http, struct lws *wsi, HubHttpSession *s, const Request *req)
{
  /* 503 "degraded" while a cluster node has lost Redis. */
  guint status = 200;
  char *body = hub_dispatcher_render_health (http->dispatcher, &status);

  return respond (http, wsi, s, status, CONTENT_TYPE_JSON, body, NULL, req->head, FALSE);
}

static int
get_metrics (HubHttp *http, struct lws *wsi, HubHttpSession *s, const Request *req)
{
  return respond (http, wsi, s, 200, CONTENT_TYPE_METRICS,
                  hub_dispatcher_render_metrics (http->dispatcher), NULL, req->head, FALSE);
}

static int
get_stats (HubHttp *http, struct lws *wsi, HubHttpSession *s, const Request *req)
{
  return respond (http, wsi, s, 200, CONTENT_TYPE_JSON,
                  hub_dispatcher_render_stats_json (http->dispatcher), NULL, req->head, FALSE);
}

/* The loop goes on serving others while a cluster node waits for Redis. */
static int
post_publish (HubHttp *http, struct lws *wsi, HubHttpSession *s, const Request *req)
{
  /* An empty GByteArray has no data pointer at all. */
  const char *data = req->body_len > 0 ? (const char *)req->body : "";

  s->in_handler = TRUE;
  s->pending = hub_dispatcher_api_publish_async (http->dispatcher, data, req->body_len,
                                                 req->authorization, answer_later, s);
  s->in_handler = FALSE;
  if (s->answer != NULL)
    return write_answer (http, wsi, s);
  return 0;
}

/* ---- the checks, in §13's order ---- */

/* Whether @method's requests carry a body lws reads. */
static gboolean
method_has_body (const char *method)
{
  return g_strcmp0 (method, "POST") == 0 || g_strcmp0 (method, "PUT") == 0 ||
         g_strcmp0 (method, "PATCH") == 0;
}

/* A route that reads a body: its Content-Length must be within
 * max_message_bytes; the body then arrives in HTTP_BODY. */
static int
start_body (HubHttp *http, struct lws *wsi, HubHttpSession *s, const Route *route, const char *path,
            char *authorization /* (transfer full) */)
{
  gsize limit = hub_dispatcher_get_config (http->dispatcher)->max_message_bytes;
  g_autofree char *length = copy_header (wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
  guint64 n = 0;

  s->authorization = authorization;
  /* Without a length lws reads a POST body until 100 MB or the end of the
   * connection: answer and close. */
  if (length == NULL)
    return respond_error (http, wsi, s, 411, "bad_request", "Content-Length required", NULL, FALSE,
                          TRUE);
  if (!g_ascii_string_to_unsigned (length, 10, 0, G_MAXUINT64, &n, NULL))
    return respond_error (http, wsi, s, 400, "bad_request", "bad Content-Length", NULL, FALSE,
                          TRUE);
  if (n > limit) {
    g_autofree char *msg =
        g_strdup_printf ("body larger than max_message_bytes (%" G_GSIZE_FORMAT ")", limit);

    return respond_error (http, wsi, s, 413, "bad_request", msg, NULL, FALSE, TRUE);
  }
  s->route = route;
  s->path = g_strdup (path);
  s->query = copy_header (wsi, WSI_TOKEN_HTTP_URI_ARGS);
  s->body_expected = (gsize)n;
  /* Grown as bytes come: what a slow client holds is what it sent. */
  s->body = g_byte_array_new ();
  s->awaiting_body = TRUE;
  /* A Content-Length of 0 gets HTTP_BODY_COMPLETION from lws at once. */
  return 0;
}

static int
handle_request (HubHttp *http, struct lws *wsi, HubHttpSession *s, const char *path)
{
  char *uri = NULL;
  int uri_len = 0;
  const char *method = request_method (wsi, &uri, &uri_len);
  const char *allow = NULL;
  const Route *route;
  gboolean head = g_strcmp0 (method, "HEAD") == 0;
  /* A request with a body closes the connection after its response: lws
   * 4.1 loops forever in lws_http_action() when a request follows a body in
   * the same read and the transaction ended (its next state consumes
   * nothing). GETs keep alive. */
  gboolean has_body =
      method_has_body (method) || lws_hdr_total_length (wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
  g_autofree char *authorization = NULL;
  guint status;

  hub_http_session_clear (s);
  s->wsi = wsi;
  status = header_limits_status (wsi);
  if (status == 414)
    return respond_error (http, wsi, s, 414, "bad_request", "request target too long", NULL, head,
                          TRUE);
  if (status == 431)
    return respond_error (http, wsi, s, 431, "bad_request", "request header too large", NULL, head,
                          TRUE);
  route = find_route (path, method, &allow);
  if (route == NULL && allow == NULL)
    return respond_error (http, wsi, s, 404, "not_found", "no such path", NULL, head, has_body);
  if (route == NULL)
    return respond_error (http, wsi, s, 405, "method_not_allowed", "method not allowed", allow,
                          head, has_body);
  authorization = copy_header (wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
  if (route->needs_admin) {
    g_autoptr (GError) error = NULL;

    /* From the headers, before any byte of the body is read or kept. */
    status = hub_dispatcher_authorize_admin (http->dispatcher, authorization, &error);
    if (status != 0)
      return respond_error (http, wsi, s, status, status == 401 ? "unauthorized" : "forbidden",
                            error->message, NULL, head, TRUE);
  }
  if (route->handler == NULL)
    /* A plain GET of the WebSocket path. */
    return respond_error (http, wsi, s, 426, "bad_request", "WebSocket upgrade required", NULL,
                          head, has_body);
  if (route->reads_body)
    return start_body (http, wsi, s, route, path, g_steal_pointer (&authorization));
  hub_admission_request_read (http->admission, lws_get_network_wsi (wsi));
  {
    g_autofree char *query = copy_header (wsi, WSI_TOKEN_HTTP_URI_ARGS);
    Request req = {.path = path, .query = query, .head = head, .authorization = authorization};

    return route->handler (http, wsi, s, &req);
  }
}

/* HTTP_BODY_COMPLETION: the body is whole; the route's handler runs. */
static int
body_complete (HubHttp *http, struct lws *wsi, HubHttpSession *s)
{
  const Route *route = s->route;
  Request req = {0};

  hub_admission_request_read (http->admission, lws_get_network_wsi (wsi));
  s->awaiting_body = FALSE;
  req.path = s->path;
  req.query = s->query;
  req.body = s->body->data;
  req.body_len = s->body->len;
  req.authorization = s->authorization;
  return route->handler (http, wsi, s, &req);
}

int
hub_http_callback (HubHttp *http, struct lws *wsi, enum lws_callback_reasons reason,
                   HubHttpSession *s, void *in, size_t len)
{
  switch (reason) {
    case LWS_CALLBACK_HTTP:
      return handle_request (http, wsi, s, in != NULL ? (const char *)in : "");

    case LWS_CALLBACK_HTTP_BODY:
      /* lws ends the body at its Content-Length; more than that is not kept. */
      if (s->body != NULL && len > 0 && s->body->len + len <= s->body_expected)
        g_byte_array_append (s->body, in, (guint)len);
      return 0;

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
      if (!s->awaiting_body) /* already answered, and closing */
        return -1;
      return body_complete (http, wsi, s);

    case LWS_CALLBACK_HTTP_WRITEABLE:
      if (s->answer != NULL)
        return write_answer (http, wsi, s);
      return 0;

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
      if (s->pending != NULL) /* the client went away before the answer */
        hub_dispatcher_api_publish_cancel (http->dispatcher, g_steal_pointer (&s->pending));
      /* lws frees the per-session data after a drop (it rebinds the
       * protocol at each transaction's end and at the WebSocket upgrade). */
      hub_http_session_clear (s);
      return 0;

    default:
      return lws_callback_http_dummy (wsi, reason, s, in, len);
  }
}

/* ---- upgrades ---- */

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
refuse_upgrade (HubHttp *http, struct lws *wsi, guint status, const char *code, const char *message,
                const char *allow)
{
  count_status (http, status);
  if (status != 503)
    log_refusal (wsi, status, message);
  return write_response (wsi, status, CONTENT_TYPE_JSON, json_error (code, message), allow, FALSE,
                         FALSE) < 0
             ? -1
             : 1;
}

int
hub_http_confirm_upgrade (HubHttp *http, struct lws *wsi, char *upgrade)
{
  char *uri = NULL;
  int uri_len = 0;
  const char *method = request_method (wsi, &uri, &uri_len);
  g_autofree char *path = uri != NULL ? g_strndup (uri, (gsize)MAX (uri_len, 0)) : g_strdup ("");
  g_autofree char *protocols = NULL;
  const char *full;
  guint status;

  if (upgrade == NULL)
    return 0;
  if (g_ascii_strcasecmp (upgrade, "h2c") == 0) {
    /* HTTP/2 only when asked for (--http2): otherwise the request is
     * answered as the HTTP/1.1 request it also is (RFC 9110 §7.8 lets a
     * server ignore Upgrade). lws decides on the header's text after this
     * returns, in its own buffer: emptied, it is no upgrade it knows. */
    if (!http->http2)
      upgrade[0] = '\0';
    return 0;
  }
  if (g_ascii_strcasecmp (upgrade, "websocket") != 0)
    return 0; /* lws answers 403 */
  status = header_limits_status (wsi);
  if (status == 414)
    return refuse_upgrade (http, wsi, 414, "bad_request", "request target too long", NULL);
  if (status == 431)
    return refuse_upgrade (http, wsi, 431, "bad_request", "request header too large", NULL);
  if (strcmp (path, HUB_WS_PATH) != 0)
    return refuse_upgrade (http, wsi, 404, "not_found", "no such path", NULL);
  if (g_strcmp0 (method, "GET") != 0)
    return refuse_upgrade (http, wsi, 405, "method_not_allowed", "method not allowed", "GET");
  protocols = copy_header (wsi, WSI_TOKEN_PROTOCOL);
  /* lws reads at most 127 bytes of the list (and drops the connection
   * without an answer when it finds no protocol it knows): answer here. */
  if (protocols != NULL && (strlen (protocols) > 127 || !offers_subprotocol (protocols)))
    return refuse_upgrade (http, wsi, 400, "bad_request",
                           "subprotocol " HUB_WS_SUBPROTOCOL " required", NULL);
  /* §8: beyond a connection bound, a refused upgrade. */
  full = hub_admission_check_upgrade (http->admission, wsi);
  if (full != NULL)
    return refuse_upgrade (http, wsi, 503, "rate_limited", full, NULL);
  return 0;
}
