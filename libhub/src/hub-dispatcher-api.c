/* hub-dispatcher-api.c: POST /api/publish (PROTOCOL.md §10): the same publish,
 * direct and broadcast as over WebSocket, asked of the same store and sent as
 * from `@api`, answered with an HTTP status and a JSON body. */
#include "hub-dispatcher-private.h"

#include <string.h>

/* How long an HTTP publish waits for the store before answering 503. */
#define API_PUBLISH_TIMEOUT_MS 5000

guint
hub_dispatcher_authorize_admin (HubDispatcher *d, const char *authorization, GError **error)
{
  g_autoptr (HubAuthClaims) claims = NULL;
  const char *token;

  g_return_val_if_fail (error == NULL || *error == NULL, 401);
  if (d->config.secret == NULL)
    return 0;
  if (authorization == NULL || g_ascii_strncasecmp (authorization, "Bearer ", 7) != 0) {
    g_set_error_literal (error, HUB_ERROR, HUB_ERROR_UNAUTHORIZED,
                         "an Authorization: Bearer <token> header is required");
    return 401;
  }
  token = authorization + 7;
  while (*token == ' ')
    token++;
  /* The keyring's check: a token of the previous secret passes in its grace. */
  claims = hub_dispatcher_verify_token (d, token, error);
  if (claims == NULL)
    return 401;
  if (!claims->admin) {
    g_set_error_literal (error, HUB_ERROR, HUB_ERROR_FORBIDDEN, "this needs an admin token");
    return 403;
  }
  return 0;
}

/* FALSE (and the error body in @out) unless the bearer token allows publishing. */
static gboolean
api_authorize (HubDispatcher *d, const char *authorization, guint *http_status, char **out)
{
  g_autoptr (GError) error = NULL;
  guint status = hub_dispatcher_authorize_admin (d, authorization, &error);

  if (status == 0)
    return TRUE;
  *out = hub_dispatcher_api_error (http_status, status,
                                   status == 401 ? HUB_ERROR_UNAUTHORIZED : HUB_ERROR_FORBIDDEN,
                                   error->message);
  return FALSE;
}

/* Reads an optional name member: NULL when absent or null, FALSE on a bad value. */
static gboolean
api_name (JsonObject *obj, const char *member, const char **out, guint *http_status, char **body)
{
  JsonNode *node = json_object_get_member (obj, member);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    g_autofree char *msg = g_strdup_printf ("field '%s' must be a string", member);

    *body = hub_dispatcher_api_error (http_status, 400, HUB_ERROR_BAD_REQUEST, msg);
    return FALSE;
  }
  *out = json_node_get_string (node);
  if (!hub_name_is_valid (*out)) {
    g_autofree char *msg = g_strdup_printf ("field '%s' is not a valid name", member);

    *body = hub_dispatcher_api_error (http_status, 400, HUB_ERROR_INVALID_NAME, msg);
    return FALSE;
  }
  return TRUE;
}

/* What a valid request asks: exactly one of @room_id, @to and @broadcast,
 * with @payload (transfer none: in @parser). */
typedef struct {
  JsonParser *parser; /* (owned) */
  const char *room_id;
  const char *to;
  gboolean broadcast;
  JsonNode *payload;
} ApiRequest;

/* TRUE with @req filled in; FALSE with the answer in @out (and @http_status). */
static gboolean
api_parse (HubDispatcher *d, const char *body, gsize len, const char *authorization,
           ApiRequest *req, guint *http_status, char **out)
{
  JsonObject *obj;
  JsonNode *broadcast;

  if (!api_authorize (d, authorization, http_status, out))
    return FALSE;
  req->parser = json_parser_new ();
  if (!g_utf8_validate_len (body, len, NULL) ||
      !json_parser_load_from_data (req->parser, body, (gssize)len, NULL) ||
      json_parser_get_root (req->parser) == NULL || /* an empty body parses to nothing */
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (req->parser))) {
    *out = hub_dispatcher_api_error (http_status, 400, HUB_ERROR_BAD_REQUEST,
                                     "the body must be a JSON object");
    return FALSE;
  }
  obj = json_node_get_object (json_parser_get_root (req->parser));
  req->payload = json_object_get_member (obj, "payload");
  if (req->payload == NULL || !JSON_NODE_HOLDS_OBJECT (req->payload)) {
    *out = hub_dispatcher_api_error (http_status, 400, HUB_ERROR_BAD_REQUEST,
                                     "field 'payload' must be an object");
    return FALSE;
  }
  if (!api_name (obj, "room", &req->room_id, http_status, out) ||
      !api_name (obj, "to", &req->to, http_status, out))
    return FALSE;
  broadcast = json_object_get_member (obj, "broadcast");
  if (broadcast != NULL && !JSON_NODE_HOLDS_NULL (broadcast) &&
      (!JSON_NODE_HOLDS_VALUE (broadcast) ||
       json_node_get_value_type (broadcast) != G_TYPE_BOOLEAN)) {
    *out = hub_dispatcher_api_error (http_status, 400, HUB_ERROR_BAD_REQUEST,
                                     "field 'broadcast' must be true");
    return FALSE;
  }
  req->broadcast =
      broadcast != NULL && JSON_NODE_HOLDS_VALUE (broadcast) && json_node_get_boolean (broadcast);
  if ((req->room_id != NULL) + (req->to != NULL) + req->broadcast != 1) {
    *out = hub_dispatcher_api_error (http_status, 400, HUB_ERROR_BAD_REQUEST,
                                     "give exactly one of 'room', 'to' or 'broadcast': true");
    return FALSE;
  }
  return TRUE;
}

static void
api_request_clear (ApiRequest *req)
{
  g_clear_object (&req->parser);
}

/* An HTTP publish waiting for the store. Freed once the store answered
 * (always, maybe with UNAVAILABLE when it is freed) and the caller's handle is
 * done with (answered or cancelled). */
struct _HubApiPublish {
  HubDispatcher *d; /* (unowned) */
  HubApiPublishFunc func;
  gpointer user_data;
  const char *member; /* the answer's member: "seq" or "delivered" */
  gboolean broadcast;
  guint timer;
  gboolean starting; /* inside hub_dispatcher_api_publish_async */
  gboolean store_done;
  gboolean answered;
  gboolean cancelled;
};

static void
api_maybe_free (HubApiPublish *p)
{
  if (p->starting || !p->store_done || !(p->answered || p->cancelled))
    return;
  g_free (p);
}

static void
api_answer (HubApiPublish *p, guint status, const char *body)
{
  if (p->timer != 0)
    hub_clock_cancel (p->d->clock, p->timer);
  p->timer = 0;
  p->answered = TRUE;
  p->func (status, body, p->user_data);
}

static void
api_timeout (gpointer data)
{
  HubApiPublish *p = data;
  guint status;
  g_autofree char *body = hub_dispatcher_api_error (
      &status, 503, HUB_ERROR_INTERNAL, hub_dispatcher_store_error_text (HUB_STORE_UNAVAILABLE));

  p->timer = 0;
  /* The store may still do it: the client cannot know, as with a lost reply. */
  api_answer (p, status, body);
}

static void
api_done (const HubStoreResult *result, gpointer data)
{
  HubApiPublish *p = data;

  p->store_done = TRUE;
  p->d->in_flight--;
  if (p->d->freeing && !p->answered) {
    /* The node is going: nobody is answered any more (as if cancelled). */
    if (p->timer != 0)
      hub_clock_cancel (p->d->clock, p->timer);
    p->timer = 0;
    p->cancelled = TRUE;
  }
  if (!p->answered && !p->cancelled && !p->d->freeing) {
    guint status = 200;
    g_autofree char *body = NULL;

    if (result->error == HUB_STORE_UNAVAILABLE) {
      body = hub_dispatcher_api_error (&status, 503, HUB_ERROR_INTERNAL,
                                       hub_dispatcher_store_error_text (result->error));
    } else if (result->error != HUB_STORE_OK) {
      body =
          hub_dispatcher_api_error (&status, 404, hub_dispatcher_store_error_code (result->error),
                                    hub_dispatcher_store_error_text (result->error));
    } else {
      /* The same result fields as over WebSocket (§5; broadcast: this node's connections). */
      gint64 value = p->broadcast ? hub_connection_manager_n_authenticated (p->d->conns)
                     : strcmp (p->member, "seq") == 0 ? result->seq
                                                      : result->delivered;

      p->d->messages_in_total++;
      body = g_strdup_printf ("{\"%s\":%" G_GINT64_FORMAT "}", p->member, value);
    }
    api_answer (p, status, body);
  }
  api_maybe_free (p);
}

/* Asks the store for @req (valid), as from @api. */
static void
api_start (HubDispatcher *d, const ApiRequest *req, HubApiPublish *p)
{
  HubStore *store = d->store;
  gint64 now = hub_clock_unix_ms (d->clock);
  g_autoptr (HubFrame) frame = NULL;

  if (req->room_id != NULL) {
    /* §10: @api publishes to any room, member or not. */
    HubStorePublish args = {.room = req->room_id,
                            .from = HUB_API_SENDER,
                            .device = HUB_API_DEVICE,
                            .now_ms = now,
                            .payload = req->payload};

    p->member = "seq";
    store->vtable->publish (store, &args, api_done, p);
  } else if (req->to != NULL) {
    HubStoreDirect args = {.from = HUB_API_SENDER, .to = req->to};

    frame = hub_encode_direct (HUB_API_SENDER, req->to, now, req->payload);
    args.frame = frame;
    p->member = "delivered";
    store->vtable->direct (store, &args, api_done, p);
  } else {
    HubStoreSend args = {.user = HUB_API_SENDER};

    frame = hub_encode_broadcast (HUB_API_SENDER, now, req->payload);
    args.frame = frame;
    p->member = "delivered";
    p->broadcast = TRUE;
    store->vtable->broadcast (store, &args, api_done, p);
  }
}

HubApiPublish *
hub_dispatcher_api_publish_async (HubDispatcher *d, const char *body, gsize len,
                                  const char *authorization, HubApiPublishFunc func,
                                  gpointer user_data)
{
  ApiRequest req = {0};
  g_autofree char *out = NULL;
  guint status = 500;
  HubApiPublish *p;

  if (!api_parse (d, body, len, authorization, &req, &status, &out)) {
    func (status, out, user_data);
    api_request_clear (&req);
    return NULL;
  }
  p = g_new0 (HubApiPublish, 1);
  p->d = d;
  p->func = func;
  p->user_data = user_data;
  p->starting = TRUE;
  p->timer = hub_clock_add_timeout (d->clock, API_PUBLISH_TIMEOUT_MS, api_timeout, p);
  d->in_flight++;
  api_start (d, &req, p);
  api_request_clear (&req);
  p->starting = FALSE;
  if (p->answered) { /* the store answered at once */
    api_maybe_free (p);
    return NULL;
  }
  return p;
}

void
hub_dispatcher_api_publish_cancel (HubDispatcher *d, HubApiPublish *p)
{
  if (p == NULL)
    return;
  if (p->timer != 0)
    hub_clock_cancel (d->clock, p->timer);
  p->timer = 0;
  p->cancelled = TRUE;
  api_maybe_free (p);
}

typedef struct {
  gboolean done;
  gboolean timed_out;
  guint status;
  char *body; /* (owned) */
} Blocking;

static gboolean
blocking_timeout (gpointer data)
{
  ((Blocking *)data)->timed_out = TRUE;
  return G_SOURCE_REMOVE;
}

static void
blocking_answer (guint status, const char *body, gpointer data)
{
  Blocking *b = data;

  b->done = TRUE;
  b->status = status;
  b->body = g_strdup (body);
}

char *
hub_dispatcher_api_publish (HubDispatcher *d, const char *body, gsize len,
                            const char *authorization, guint *http_status)
{
  Blocking b = {0};
  HubApiPublish *p =
      hub_dispatcher_api_publish_async (d, body, len, authorization, blocking_answer, &b);
  guint timer;

  /* A store that answers later (Redis) answers from the default main context. */
  if (!b.done) {
    timer = g_timeout_add (API_PUBLISH_TIMEOUT_MS, blocking_timeout, &b);
    while (!b.done && !b.timed_out)
      g_main_context_iteration (NULL, TRUE);
    if (!b.timed_out)
      g_source_remove (timer);
  }
  if (!b.done) {
    hub_dispatcher_api_publish_cancel (d, p);
    b.body = hub_dispatcher_api_error (&b.status, 503, HUB_ERROR_INTERNAL,
                                       hub_dispatcher_store_error_text (HUB_STORE_UNAVAILABLE));
  }
  *http_status = b.status;
  return b.body;
}
