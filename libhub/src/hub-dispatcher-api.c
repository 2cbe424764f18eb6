/* hub-dispatcher-api.c: the calls of the HTTP API (PROTOCOL.md §10, §13): the
 * admin token checked first, then the action (its own validation, then the
 * store), answered with an HTTP status and a JSON body when the store
 * answers, or 503 when it does not within API_TIMEOUT_MS. POST /api/publish
 * is here: the same publish, direct and broadcast as over WebSocket, asked
 * of the same store and sent as from `@api`. §13's actions are in
 * hub-dispatcher-server-api.c. */
#include "hub-dispatcher-private.h"

#include <string.h>

/* How long a call waits for the store before answering 503. */
#define API_TIMEOUT_MS 5000

/* --- The call's life -------------------------------------------------------------------------- */

static void
call_maybe_free (HubApiCall *call)
{
  if (call->starting || call->store_pending || !(call->answered || call->cancelled))
    return;
  g_free (call->target);
  g_free (call);
}

static void
call_answer (HubApiCall *call, guint status, const char *body)
{
  if (call->timer != 0)
    hub_clock_cancel (call->d->clock, call->timer);
  call->timer = 0;
  call->answered = TRUE;
  call->func (status, body, call->user_data);
}

void
hub_api_call_fail (HubApiCall *call, guint status, HubErrorCode code, const char *message)
{
  guint http_status;
  g_autofree char *body = hub_dispatcher_api_error (&http_status, status, code, message);

  call_answer (call, http_status, body);
}

void
hub_api_call_reply (HubApiCall *call, char *body)
{
  call_answer (call, 200, body);
  g_free (body);
  call_maybe_free (call);
}

static void
call_timeout (gpointer data)
{
  HubApiCall *call = data;

  call->timer = 0;
  /* The store may still do it: the client cannot know, as with a lost reply. */
  hub_api_call_fail (call, 503, HUB_ERROR_INTERNAL,
                     hub_dispatcher_store_error_text (HUB_STORE_UNAVAILABLE));
}

void
hub_api_call_asking (HubApiCall *call)
{
  call->store_pending = TRUE;
  call->d->in_flight++;
  call->timer = hub_clock_add_timeout (call->d->clock, API_TIMEOUT_MS, call_timeout, call);
}

/* The store's errors as the API says them (§13): 404 for the state of a
 * room or user, 400 too_many_rooms, 503 when the store could not be reached.
 * The texts speak of the user named, not of the caller. */
static void
fail_store (HubApiCall *call, HubStoreError error)
{
  switch (error) {
    case HUB_STORE_UNAVAILABLE:
      hub_api_call_fail (call, 503, HUB_ERROR_INTERNAL, hub_dispatcher_store_error_text (error));
      break;
    case HUB_STORE_TOO_MANY_ROOMS:
      hub_api_call_fail (call, 400, HUB_ERROR_TOO_MANY_ROOMS,
                         "the user is a member of max_rooms_per_user rooms already");
      break;
    case HUB_STORE_NOT_MEMBER:
      hub_api_call_fail (call, 404, HUB_ERROR_NOT_MEMBER, "the user is not a member of this room");
      break;
    case HUB_STORE_FORBIDDEN:
      hub_api_call_fail (call, 403, HUB_ERROR_FORBIDDEN, hub_dispatcher_store_error_text (error));
      break;
    default:
      hub_api_call_fail (call, 404, hub_dispatcher_store_error_code (error),
                         hub_dispatcher_store_error_text (error));
      break;
  }
}

gboolean
hub_api_call_store_answered (HubApiCall *call, const HubStoreResult *result)
{
  HubDispatcher *d = call->d;

  call->store_pending = FALSE;
  d->in_flight--;
  if (d->freeing && !call->answered) {
    /* The node is going: nobody is answered any more (as if cancelled). */
    if (call->timer != 0)
      hub_clock_cancel (d->clock, call->timer);
    call->timer = 0;
    call->cancelled = TRUE;
  }
  if (call->answered || call->cancelled) {
    call_maybe_free (call);
    return FALSE;
  }
  if (result->error != HUB_STORE_OK) {
    fail_store (call, result->error);
    call_maybe_free (call);
    return FALSE;
  }
  return TRUE;
}

/* --- The admin token -------------------------------------------------------------------------- */

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

/* FALSE (and @call answered 401 or 403) unless the bearer token is an admin's
 * (§10, §13); without a secret the API is open. The HTTP layer asks the same
 * at the headers (hub_dispatcher_authorize_admin), before any body is read. */
static gboolean
authorize (HubApiCall *call, const char *authorization)
{
  g_autoptr (GError) error = NULL;
  guint status = hub_dispatcher_authorize_admin (call->d, authorization, &error);

  if (status == 0)
    return TRUE;
  hub_api_call_fail (call, status, status == 401 ? HUB_ERROR_UNAUTHORIZED : HUB_ERROR_FORBIDDEN,
                     error->message);
  return FALSE;
}

/* --- Reading bodies --------------------------------------------------------------------------- */

JsonObject *
hub_api_body_object (HubApiCall *call, const HubApiRequest *req, JsonParser *parser)
{
  const char *body = req->body != NULL ? req->body : "";

  if (!g_utf8_validate_len (body, req->body_len, NULL) ||
      !json_parser_load_from_data (parser, body, (gssize)req->body_len, NULL) ||
      json_parser_get_root (parser) == NULL || /* an empty body parses to nothing */
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    hub_api_call_fail (call, 400, HUB_ERROR_BAD_REQUEST, "the body must be a JSON object");
    return NULL;
  }
  return json_node_get_object (json_parser_get_root (parser));
}

gboolean
hub_api_body_name (HubApiCall *call, JsonObject *obj, const char *member, gboolean required,
                   const char **out)
{
  JsonNode *node = json_object_get_member (obj, member);
  g_autofree char *msg = NULL;

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node)) {
    if (!required)
      return TRUE;
    msg = g_strdup_printf ("field '%s' is required", member);
    hub_api_call_fail (call, 400, HUB_ERROR_BAD_REQUEST, msg);
    return FALSE;
  }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING) {
    msg = g_strdup_printf ("field '%s' must be a string", member);
    hub_api_call_fail (call, 400, HUB_ERROR_BAD_REQUEST, msg);
    return FALSE;
  }
  *out = json_node_get_string (node);
  if (!hub_name_is_valid (*out)) {
    msg = g_strdup_printf ("field '%s' is not a valid name", member);
    hub_api_call_fail (call, 400, HUB_ERROR_INVALID_NAME, msg);
    return FALSE;
  }
  return TRUE;
}

/* --- POST /api/publish (§10) ------------------------------------------------------------------ */

static void
publish_done (const HubStoreResult *result, gpointer data)
{
  HubApiCall *call = data;
  HubDispatcher *d = call->d;
  gint64 value;

  if (!hub_api_call_store_answered (call, result))
    return;
  /* The same result fields as over WebSocket (§5; broadcast: this node's connections). */
  value = call->broadcast                     ? hub_connection_manager_n_authenticated (d->conns)
          : strcmp (call->member, "seq") == 0 ? result->seq
                                              : result->delivered;
  d->messages_in_total++;
  hub_api_call_reply (call, g_strdup_printf ("{\"%s\":%" G_GINT64_FORMAT "}", call->member, value));
}

/* Exactly one of `room`, `to` and `broadcast: true`, with an object `payload`;
 * sent as from @api. */
static void
start_publish (HubApiCall *call, const HubApiRequest *req)
{
  HubDispatcher *d = call->d;
  HubStore *store = d->store;
  g_autoptr (JsonParser) parser = json_parser_new ();
  gint64 now = hub_clock_unix_ms (d->clock);
  g_autoptr (HubFrame) frame = NULL;
  const char *room_id, *to;
  JsonObject *obj;
  JsonNode *payload, *broadcast;
  gboolean is_broadcast;

  if ((obj = hub_api_body_object (call, req, parser)) == NULL)
    return;
  payload = json_object_get_member (obj, "payload");
  if (payload == NULL || !JSON_NODE_HOLDS_OBJECT (payload)) {
    hub_api_call_fail (call, 400, HUB_ERROR_BAD_REQUEST, "field 'payload' must be an object");
    return;
  }
  if (!hub_api_body_name (call, obj, "room", FALSE, &room_id) ||
      !hub_api_body_name (call, obj, "to", FALSE, &to))
    return;
  broadcast = json_object_get_member (obj, "broadcast");
  if (broadcast != NULL && !JSON_NODE_HOLDS_NULL (broadcast) &&
      (!JSON_NODE_HOLDS_VALUE (broadcast) ||
       json_node_get_value_type (broadcast) != G_TYPE_BOOLEAN)) {
    hub_api_call_fail (call, 400, HUB_ERROR_BAD_REQUEST, "field 'broadcast' must be true");
    return;
  }
  is_broadcast =
      broadcast != NULL && JSON_NODE_HOLDS_VALUE (broadcast) && json_node_get_boolean (broadcast);
  if ((room_id != NULL) + (to != NULL) + is_broadcast != 1) {
    hub_api_call_fail (call, 400, HUB_ERROR_BAD_REQUEST,
                       "give exactly one of 'room', 'to' or 'broadcast': true");
    return;
  }

  hub_api_call_asking (call);
  if (room_id != NULL) {
    /* §10: @api publishes to any room, member or not. */
    HubStorePublish args = {.room = room_id,
                            .from = HUB_API_SENDER,
                            .device = HUB_API_DEVICE,
                            .now_ms = now,
                            .payload = payload};

    call->member = "seq";
    store->vtable->publish (store, &args, publish_done, call);
  } else if (to != NULL) {
    HubStoreDirect args = {.from = HUB_API_SENDER, .to = to};

    frame = hub_encode_direct (HUB_API_SENDER, to, now, payload);
    args.frame = frame;
    call->member = "delivered";
    store->vtable->direct (store, &args, publish_done, call);
  } else {
    HubStoreSend args = {.user = HUB_API_SENDER};

    frame = hub_encode_broadcast (HUB_API_SENDER, now, payload);
    args.frame = frame;
    call->member = "delivered";
    call->broadcast = TRUE;
    store->vtable->broadcast (store, &args, publish_done, call);
  }
}

/* --- Entry points ----------------------------------------------------------------------------- */

HubApiCall *
hub_dispatcher_api_call_async (HubDispatcher *d, HubApiAction action, const HubApiRequest *req,
                               HubApiFunc func, gpointer user_data)
{
  HubApiCall *call;

  g_return_val_if_fail (d != NULL && req != NULL && func != NULL, NULL);
  g_return_val_if_fail (action < HUB_API_N_ACTIONS, NULL);
  call = g_new0 (HubApiCall, 1);
  call->d = d;
  call->func = func;
  call->user_data = user_data;
  call->starting = TRUE;
  /* §13's order: the admin token, then the request, then the state. */
  if (authorize (call, req->authorization)) {
    if (action == HUB_API_PUBLISH)
      start_publish (call, req);
    else
      hub_api_server_actions[action](call, req);
  }
  call->starting = FALSE;
  if (call->answered) { /* at once: a bad request, or the memory store */
    call_maybe_free (call);
    return NULL;
  }
  return call;
}

void
hub_dispatcher_api_cancel (HubDispatcher *d, HubApiCall *call)
{
  if (call == NULL)
    return;
  if (call->timer != 0)
    hub_clock_cancel (d->clock, call->timer);
  call->timer = 0;
  call->cancelled = TRUE;
  call_maybe_free (call);
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
hub_dispatcher_api_call (HubDispatcher *d, HubApiAction action, const HubApiRequest *req,
                         guint *http_status)
{
  Blocking b = {0};
  HubApiCall *call = hub_dispatcher_api_call_async (d, action, req, blocking_answer, &b);
  guint timer;

  /* A store that answers later (Redis) answers from the default main context. */
  if (!b.done) {
    timer = g_timeout_add (API_TIMEOUT_MS, blocking_timeout, &b);
    while (!b.done && !b.timed_out)
      g_main_context_iteration (NULL, TRUE);
    if (!b.timed_out)
      g_source_remove (timer);
  }
  if (!b.done) {
    hub_dispatcher_api_cancel (d, call);
    b.body = hub_dispatcher_api_error (&b.status, 503, HUB_ERROR_INTERNAL,
                                       hub_dispatcher_store_error_text (HUB_STORE_UNAVAILABLE));
  }
  *http_status = b.status;
  return b.body;
}

HubApiPublish *
hub_dispatcher_api_publish_async (HubDispatcher *d, const char *body, gsize len,
                                  const char *authorization, HubApiPublishFunc func,
                                  gpointer user_data)
{
  HubApiRequest req = {.authorization = authorization, .body = body, .body_len = len};

  return hub_dispatcher_api_call_async (d, HUB_API_PUBLISH, &req, func, user_data);
}

void
hub_dispatcher_api_publish_cancel (HubDispatcher *d, HubApiPublish *publish)
{
  hub_dispatcher_api_cancel (d, publish);
}

char *
hub_dispatcher_api_publish (HubDispatcher *d, const char *body, gsize len,
                            const char *authorization, guint *http_status)
{
  HubApiRequest req = {.authorization = authorization, .body = body, .body_len = len};

  return hub_dispatcher_api_call (d, HUB_API_PUBLISH, &req, http_status);
}
