/* hub-codec.c: client bytes → validated HubRequest (PROTOCOL.md §2–§8).
 * A strict scan (hub-codec-scan.c) guards json-glib, then the envelope and each
 * request type's fields are checked. Encoding lives in hub-codec-encode.c. */
#include "hub/hub-codec.h"

#include <stdarg.h>
#include <string.h>

#include "hub-codec-private.h"

static const char *const type_strings[HUB_REQ_N_TYPES] = {
    [HUB_REQ_UNKNOWN] = "unknown",
    [HUB_REQ_HELLO] = "hello",
    [HUB_REQ_CREATE] = "create",
    [HUB_REQ_JOIN] = "join",
    [HUB_REQ_LEAVE] = "leave",
    [HUB_REQ_ROOMS] = "rooms",
    [HUB_REQ_ROOM_INFO] = "room_info",
    [HUB_REQ_WHO] = "who",
    [HUB_REQ_PUBLISH] = "publish",
    [HUB_REQ_DIRECT] = "direct",
    [HUB_REQ_MULTICAST] = "multicast",
    [HUB_REQ_BROADCAST] = "broadcast",
    [HUB_REQ_TYPING] = "typing",
    [HUB_REQ_HISTORY] = "history",
    [HUB_REQ_STATUS] = "status",
    [HUB_REQ_SUBSCRIBE] = "subscribe",
    [HUB_REQ_UNSUBSCRIBE] = "unsubscribe",
    [HUB_REQ_ONLINE] = "online",
    [HUB_REQ_PING] = "ping",
    [HUB_REQ_REFRESH] = "refresh",
};

static const char *const status_strings[] = {
    [HUB_STATUS_OFFLINE] = "offline",
    [HUB_STATUS_ONLINE] = "online",
    [HUB_STATUS_AWAY] = "away",
    [HUB_STATUS_BUSY] = "busy",
};

const char *
hub_status_to_string (HubStatus status)
{
  if ((guint)status >= G_N_ELEMENTS (status_strings))
    return status_strings[HUB_STATUS_OFFLINE];
  return status_strings[status];
}

gboolean
hub_status_from_string (const char *str, HubStatus *out)
{
  if (str == NULL)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (status_strings); i++) {
    if (strcmp (str, status_strings[i]) == 0) {
      if (out != NULL)
        *out = (HubStatus)i;
      return TRUE;
    }
  }
  return FALSE;
}

const char *
hub_request_type_to_string (HubRequestType type)
{
  if ((guint)type >= HUB_REQ_N_TYPES)
    return type_strings[HUB_REQ_UNKNOWN];
  return type_strings[type];
}

static HubRequestType
request_type_from_string (const char *str)
{
  for (int t = HUB_REQ_UNKNOWN + 1; t < HUB_REQ_N_TYPES; t++) {
    if (strcmp (str, type_strings[t]) == 0)
      return (HubRequestType)t;
  }
  return HUB_REQ_UNKNOWN;
}

void
hub_request_free (HubRequest *req)
{
  if (req == NULL)
    return;
  if (req->done != NULL)
    req->done (req, req->done_data);
  g_free (req->id_json);
  g_free (req->user);
  g_free (req->device);
  g_free (req->token);
  g_clear_pointer (&req->resume, g_hash_table_unref);
  g_clear_pointer (&req->epochs, g_hash_table_unref);
  g_free (req->room);
  g_free (req->name);
  g_free (req->to);
  g_clear_pointer (&req->users, g_ptr_array_unref);
  g_clear_pointer (&req->payload, json_node_unref);
  g_free (req);
}

void
hub_decode_result_clear (HubDecodeResult *result)
{
  if (result == NULL)
    return;
  g_free (result->type_string);
  g_free (result->id_json);
  g_free (result->message);
  hub_request_free (result->request);
  memset (result, 0, sizeof *result);
}

/* ---- Fields --------------------------------------------------------------- */

#define NAME_RULE "1-64 characters of A-Z a-z 0-9 _ . @ -, not starting with '@'"

typedef struct {
  JsonObject *obj;      /* (unowned) the request */
  HubDecodeResult *res; /* (unowned) where errors go */
} Fields;

static gboolean fail (Fields *f, HubErrorCode code, const char *format, ...) G_GNUC_PRINTF (3, 4);

/* Records the error; always returns FALSE so callers can `return fail (…)`. */
static gboolean
fail (Fields *f, HubErrorCode code, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  f->res->code = code;
  g_free (f->res->message);
  f->res->message = g_strdup_vprintf (format, args);
  va_end (args);
  return FALSE;
}

/* The member @key, or NULL when it is absent or JSON null (§2: same thing). */
static JsonNode *
member (Fields *f, const char *key)
{
  JsonNode *node = json_object_get_member (f->obj, key);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  return node;
}

static gboolean
holds (JsonNode *node, GType type)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == type;
}

static gboolean
get_string (Fields *f, const char *key, gboolean required, char **out)
{
  JsonNode *node = member (f, key);

  if (node == NULL)
    return required ? fail (f, HUB_ERROR_BAD_REQUEST, "field '%s' is required", key) : TRUE;
  if (!holds (node, G_TYPE_STRING))
    return fail (f, HUB_ERROR_BAD_REQUEST, "field '%s' must be a string", key);
  *out = g_strdup (json_node_get_string (node));
  return TRUE;
}

static gboolean
get_name (Fields *f, const char *key, gboolean required, char **out)
{
  g_autofree char *name = NULL;

  if (!get_string (f, key, required, &name))
    return FALSE;
  if (name != NULL && !hub_name_is_valid (name))
    return fail (f, HUB_ERROR_INVALID_NAME, "field '%s' must be a valid name (" NAME_RULE ")", key);
  *out = g_steal_pointer (&name);
  return TRUE;
}

/* An integer ≥ @min. *present tells whether it was given (absent or null: not). */
static gboolean
get_int (Fields *f, const char *key, gboolean required, gint64 min, gint64 *out, gboolean *present)
{
  JsonNode *node = member (f, key);

  *present = FALSE;
  if (node == NULL)
    return required ? fail (f, HUB_ERROR_BAD_REQUEST, "field '%s' is required", key) : TRUE;
  if (!holds (node, G_TYPE_INT64) || json_node_get_int (node) < min)
    return fail (f, HUB_ERROR_BAD_REQUEST, "field '%s' must be an integer >= %" G_GINT64_FORMAT,
                 key, min);
  *out = json_node_get_int (node);
  *present = TRUE;
  return TRUE;
}

/* A required JSON object, kept as a node for the dispatcher to encode once. */
static gboolean
get_payload (Fields *f, JsonNode **out)
{
  JsonNode *node = member (f, "payload");

  if (node == NULL)
    return fail (f, HUB_ERROR_BAD_REQUEST, "field 'payload' is required");
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (f, HUB_ERROR_BAD_REQUEST, "field 'payload' must be a JSON object");
  /* The parser's nodes are immutable: the copy shares the object, no deep copy. */
  *out = json_node_copy (node);
  return TRUE;
}

/* A required array of at most HUB_MULTICAST_MAX names (empty allowed). */
static gboolean
get_name_array (Fields *f, const char *key, GPtrArray **out)
{
  JsonNode *node = member (f, key);
  g_autoptr (GPtrArray) names = NULL;
  JsonArray *array;
  guint n;

  if (node == NULL)
    return fail (f, HUB_ERROR_BAD_REQUEST, "field '%s' is required", key);
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return fail (f, HUB_ERROR_BAD_REQUEST, "field '%s' must be an array of names", key);
  array = json_node_get_array (node);
  n = json_array_get_length (array);
  if (n > HUB_MULTICAST_MAX)
    return fail (f, HUB_ERROR_BAD_REQUEST, "field '%s' has more than %d entries", key,
                 HUB_MULTICAST_MAX);

  /* Every entry's type first: a non-string anywhere is bad_request even when
   * an earlier string is an invalid name. */
  for (guint i = 0; i < n; i++) {
    if (!holds (json_array_get_element (array, i), G_TYPE_STRING))
      return fail (f, HUB_ERROR_BAD_REQUEST, "field '%s' must be an array of strings", key);
  }
  names = g_ptr_array_new_full (n, g_free);
  for (guint i = 0; i < n; i++) {
    const char *name = json_array_get_string_element (array, i);

    if (!hub_name_is_valid (name))
      return fail (f, HUB_ERROR_INVALID_NAME,
                   "entry %u of field '%s' must be a valid name (" NAME_RULE ")", i, key);
    g_ptr_array_add (names, g_strdup (name));
  }
  *out = g_steal_pointer (&names);
  return TRUE;
}

/* create/join `name`: optional, 1..HUB_ROOM_NAME_MAX characters (not bytes). */
static gboolean
get_room_title (Fields *f, char **out)
{
  g_autofree char *title = NULL;

  if (!get_string (f, "name", FALSE, &title))
    return FALSE;
  if (title != NULL && (title[0] == '\0' || g_utf8_strlen (title, -1) > HUB_ROOM_NAME_MAX))
    return fail (f, HUB_ERROR_BAD_REQUEST, "field 'name' must be 1 to %d characters",
                 HUB_ROOM_NAME_MAX);
  *out = g_steal_pointer (&title);
  return TRUE;
}

/* hello `token`: a present non-string is not a decode error; the dispatcher
 * answers it unauthorized and closes 4001 (§3). */
static void
get_token (Fields *f, HubRequest *req)
{
  JsonNode *node = member (f, "token");

  if (node == NULL)
    return;
  if (holds (node, G_TYPE_STRING))
    req->token = g_strdup (json_node_get_string (node));
  else
    req->token_not_string = TRUE;
}

/* hello `resume` (and `epochs`, beside it): must be an object; entries with
 * an invalid room name or a value that is not an integer ≥ @min are skipped
 * (§3). */
static gboolean
get_room_map (Fields *f, const char *key, gint64 min, GHashTable **out)
{
  JsonNode *node = member (f, key);
  GHashTable *map;
  JsonObjectIter iter;
  const char *room;
  JsonNode *value;
  gint64 *seq;

  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (f, HUB_ERROR_BAD_REQUEST, "field '%s' must be an object", key);

  map = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  json_object_iter_init (&iter, json_node_get_object (node));
  while (json_object_iter_next (&iter, &room, &value)) {
    if (!hub_name_is_valid (room) || !holds (value, G_TYPE_INT64) ||
        json_node_get_int (value) < min)
      continue;
    seq = g_new (gint64, 1);
    *seq = json_node_get_int (value);
    g_hash_table_replace (map, g_strdup (room), seq);
  }
  *out = map;
  return TRUE;
}

static gboolean
get_status (Fields *f, HubStatus *out)
{
  g_autofree char *status = NULL;

  if (!get_string (f, "status", TRUE, &status))
    return FALSE;
  if (!hub_status_from_string (status, out))
    return fail (f, HUB_ERROR_BAD_REQUEST,
                 "field 'status' must be one of online, away, busy, offline");
  return TRUE;
}

/* The fields of @req->type, in the order PROTOCOL.md lists them: the first
 * problem found is the one reported. */
static gboolean
decode_fields (Fields *f, HubRequest *req)
{
  gboolean present;

  switch (req->type) {
    case HUB_REQ_HELLO:
      if (!get_name (f, "user", FALSE, &req->user) || !get_name (f, "device", FALSE, &req->device))
        return FALSE;
      get_token (f, req);
      return get_room_map (f, "resume", 0, &req->resume) &&
             get_room_map (f, "epochs", 1, &req->epochs);

    case HUB_REQ_CREATE:
      return get_name (f, "room", TRUE, &req->room) && get_room_title (f, &req->name);

    case HUB_REQ_JOIN:
      /* `token`: a room token (§12); not a string is bad_request. */
      return get_name (f, "room", TRUE, &req->room) && get_room_title (f, &req->name) &&
             get_string (f, "token", FALSE, &req->token);

    case HUB_REQ_LEAVE:
    case HUB_REQ_ROOM_INFO:
    case HUB_REQ_WHO:
    case HUB_REQ_TYPING:
      return get_name (f, "room", TRUE, &req->room);

    case HUB_REQ_PUBLISH:
      return get_name (f, "room", TRUE, &req->room) && get_payload (f, &req->payload);

    case HUB_REQ_DIRECT:
      return get_name (f, "to", TRUE, &req->to) && get_payload (f, &req->payload);

    case HUB_REQ_MULTICAST:
      return get_name_array (f, "to", &req->users) && get_payload (f, &req->payload);

    case HUB_REQ_BROADCAST:
      return get_payload (f, &req->payload);

    case HUB_REQ_HISTORY:
      return get_name (f, "room", TRUE, &req->room) &&
             get_int (f, "since", TRUE, 0, &req->since, &present) &&
             get_int (f, "limit", FALSE, 1, &req->limit, &req->has_limit);

    case HUB_REQ_STATUS:
      return get_status (f, &req->status);

    case HUB_REQ_SUBSCRIBE:
    case HUB_REQ_UNSUBSCRIBE:
      return get_name_array (f, "users", &req->users);

    case HUB_REQ_ONLINE:
      /* 1.1: `limit` 0 asks for the count alone (§7). */
      return get_int (f, "limit", FALSE, 0, &req->limit, &req->has_limit);

    case HUB_REQ_REFRESH:
      /* Missing or not a string: bad_request (§12). */
      return get_string (f, "token", TRUE, &req->token);

    case HUB_REQ_ROOMS:
    case HUB_REQ_PING:
      return TRUE;

    case HUB_REQ_UNKNOWN:
    case HUB_REQ_N_TYPES:
      break;
  }
  g_return_val_if_reached (FALSE);
}

/* ---- Decoding ------------------------------------------------------------- */

static void
set_error (HubDecodeResult *result, HubErrorCode code, char *message /* owned */)
{
  result->code = code;
  g_free (result->message);
  result->message = message;
}

/* Reads `id` and `type` (§2). Returns FALSE, with bad_request set, when the
 * envelope is not usable; result->id_json is set whenever the id is. */
static gboolean
decode_envelope (JsonObject *obj, const HubJsonScan *scan, HubDecodeResult *result)
{
  JsonNode *id = json_object_get_member (obj, "id");
  JsonNode *type = json_object_get_member (obj, "type");
  const char *id_problem = NULL;

  if (id != NULL && scan->id_tainted) {
    id_problem = "field 'id' must be an integer that fits in 64 bits or a string without \\u0000";
  } else if (id != NULL && holds (id, G_TYPE_INT64)) {
    result->id_json = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (id));
  } else if (id != NULL && holds (id, G_TYPE_STRING)) {
    GString *s = g_string_new (NULL);

    hub_json_append_string (s, json_node_get_string (id));
    result->id_json = g_string_free (s, FALSE);
  } else if (id != NULL) {
    id_problem = "field 'id' must be an integer or a string";
  }

  if (type != NULL && holds (type, G_TYPE_STRING))
    result->type_string = g_strdup (json_node_get_string (type));

  if (id_problem != NULL) {
    set_error (result, HUB_ERROR_BAD_REQUEST, g_strdup (id_problem));
    return FALSE;
  }
  if (result->type_string == NULL) {
    set_error (
        result, HUB_ERROR_BAD_REQUEST,
        g_strdup (type == NULL ? "field 'type' is required" : "field 'type' must be a string"));
    return FALSE;
  }
  return TRUE;
}

void
hub_codec_decode (const char *data, gsize len, HubDecodeResult *result)
{
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (HubRequest) req = NULL;
  g_autoptr (GError) error = NULL;
  Fields fields;
  JsonNode *root;
  HubJsonScan scan;

  g_return_if_fail (result != NULL);
  memset (result, 0, sizeof *result);
  g_return_if_fail (data != NULL || len == 0);

  if (len == 0) {
    set_error (result, HUB_ERROR_BAD_REQUEST, g_strdup ("empty message"));
    return;
  }
  if (memchr (data, '\0', len) != NULL) {
    set_error (result, HUB_ERROR_BAD_REQUEST, g_strdup ("message contains a NUL byte"));
    return;
  }
  if (len > G_MAXSSIZE || !g_utf8_validate (data, (gssize)len, NULL)) {
    set_error (result, HUB_ERROR_BAD_REQUEST, g_strdup ("message is not valid UTF-8"));
    return;
  }
  hub_json_scan (data, len, &scan);
  if (scan.error != NULL) {
    set_error (result, HUB_ERROR_BAD_REQUEST,
               g_strdup_printf ("%s (at byte %" G_GSIZE_FORMAT ")", scan.error, scan.error_at));
    return;
  }

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, data, (gssize)len, &error)) {
    /* The scan accepts a few things json-glib does not, e.g. lone surrogates. */
    set_error (result, HUB_ERROR_BAD_REQUEST, g_strdup_printf ("invalid JSON: %s", error->message));
    return;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    set_error (result, HUB_ERROR_BAD_REQUEST, g_strdup ("a request must be a JSON object"));
    return;
  }

  if (!decode_envelope (json_node_get_object (root), &scan, result))
    return;
  result->envelope_ok = TRUE;
  result->type = request_type_from_string (result->type_string);
  if (result->type == HUB_REQ_UNKNOWN) {
    set_error (result, HUB_ERROR_UNKNOWN_TYPE,
               strlen (result->type_string) <= HUB_NAME_MAX
                   ? g_strdup_printf ("unknown type '%s'", result->type_string)
                   : g_strdup ("unknown type"));
    return;
  }
  if (scan.unsupported != NULL) {
    set_error (result, HUB_ERROR_BAD_REQUEST, g_strdup (scan.unsupported));
    return;
  }

  req = g_new0 (HubRequest, 1);
  req->type = result->type;
  req->id_json = g_strdup (result->id_json);
  fields.obj = json_node_get_object (root);
  fields.res = result;
  if (!decode_fields (&fields, req))
    return;
  result->code = HUB_ERROR_NONE;
  result->request = g_steal_pointer (&req);
}
