/* hub-dispatcher-api.c: POST /api/publish (PROTOCOL.md §10): the same publish,
 * direct and broadcast as over WebSocket, sent as from `@api`, answered with an
 * HTTP status and a JSON body. */
#include "hub-dispatcher-private.h"

#include <string.h>

char *
hub_dispatcher_api_error (guint *http_status, guint status, HubErrorCode code, const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  *http_status = status;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_string_value (b, hub_error_code_to_string (code));
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* FALSE (and the error body in @out) unless the bearer token allows publishing. */
static gboolean
api_authorize (HubDispatcher *d, const char *authorization, guint *http_status, char **out)
{
  g_autoptr (HubAuthClaims) claims = NULL;
  g_autoptr (GError) error = NULL;
  const char *token;

  if (d->config.secret == NULL)
    return TRUE;
  if (authorization == NULL || g_ascii_strncasecmp (authorization, "Bearer ", 7) != 0) {
    *out = hub_dispatcher_api_error (http_status, 401, HUB_ERROR_UNAUTHORIZED,
                                     "an Authorization: Bearer <token> header is required");
    return FALSE;
  }
  token = authorization + 7;
  while (*token == ' ')
    token++;
  claims = hub_dispatcher_verify_token (d, token, &error);
  if (claims == NULL) {
    *out = hub_dispatcher_api_error (http_status, 401, HUB_ERROR_UNAUTHORIZED, error->message);
    return FALSE;
  }
  if (!claims->admin) {
    *out = hub_dispatcher_api_error (http_status, 403, HUB_ERROR_FORBIDDEN,
                                     "publishing needs an admin token");
    return FALSE;
  }
  return TRUE;
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

char *
hub_dispatcher_api_result (guint *http_status, const char *member, gint64 value)
{
  *http_status = 200;
  return g_strdup_printf ("{\"%s\":%" G_GINT64_FORMAT "}", member, value);
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

char *
hub_dispatcher_api_publish (HubDispatcher *d, const char *body, gsize len,
                            const char *authorization, guint *http_status)
{
  ApiRequest req = {0};
  char *out = NULL;

  if (api_parse (d, body, len, authorization, &req, http_status, &out))
    out = d->broker->vtable->api_publish (d->broker, req.room_id, req.to, req.broadcast,
                                          req.payload, http_status);
  api_request_clear (&req);
  return out;
}

HubApiPublish *
hub_dispatcher_api_publish_async (HubDispatcher *d, const char *body, gsize len,
                                  const char *authorization, HubApiPublishFunc func,
                                  gpointer user_data)
{
  ApiRequest req = {0};
  g_autofree char *out = NULL;
  guint status = 500;
  HubApiPublish *pending = NULL;

  if (!api_parse (d, body, len, authorization, &req, &status, &out))
    func (status, out, user_data);
  else
    pending = d->broker->vtable->api_publish_async (d->broker, req.room_id, req.to, req.broadcast,
                                                    req.payload, func, user_data);
  api_request_clear (&req);
  return pending;
}

void
hub_dispatcher_api_publish_cancel (HubDispatcher *d, HubApiPublish *publish)
{
  if (publish != NULL && d->broker->vtable->api_publish_cancel != NULL)
    d->broker->vtable->api_publish_cancel (d->broker, publish);
}
