/* hub-dispatcher-server-api.c: PROTOCOL.md §13, the server API of the
 * application's backend: each action reads its body or query (400), asks the
 * store, and shapes the JSON answer from the store's result (404 and 503 are
 * hub-dispatcher-api.c's). Joins and removes are the store's join and leave,
 * with the same presence events as over WebSocket; a disconnect is the
 * store's, which closes the connections on every node before it answers. */
#include "hub-dispatcher-private.h"

#include <string.h>

/* §13: limits above this are clamped. */
#define API_LIMIT_MAX 1000
/* GET /api/rooms: rooms per page unless asked. */
#define ROOMS_LIMIT_DEFAULT 100
/* GET /api/rooms/ROOM/history: messages per page unless asked, as §6's history. */
#define HISTORY_LIMIT_DEFAULT 50
/* POST /api/disconnect: ban_s is at most ten years. */
#define BAN_S_MAX 315360000

static char *
to_json (JsonObject *obj)
{
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (root, obj);
  return json_to_string (root, FALSE);
}

/* --- Reading queries and paths ---------------------------------------------------------------- */

/* The value of @key in the query: NULL when absent; FALSE (@call answered
 * 400) when it is given twice or is not UTF-8. Unknown keys are ignored. */
static gboolean
param (HubApiCall *call, const HubApiRequest *req, const char *key, const char **out)
{
  g_autofree char *msg = NULL;

  *out = NULL;
  for (guint i = 0; i < req->n_params; i++) {
    const HubApiParam *p = &req->params[i];

    if (strcmp (p->key, key) != 0)
      continue;
    if (*out != NULL) {
      msg = g_strdup_printf ("parameter '%s' is given more than once", key);
      hub_api_call_fail (call, 400, HUB_ERROR_BAD_REQUEST, msg);
      return FALSE;
    }
    if (!g_utf8_validate (p->value, -1, NULL)) {
      msg = g_strdup_printf ("parameter '%s' is not UTF-8", key);
      hub_api_call_fail (call, 400, HUB_ERROR_BAD_REQUEST, msg);
      return FALSE;
    }
    *out = p->value;
  }
  return TRUE;
}

/* A non-negative integer parameter (digits only; beyond G_MAXINT64 it is
 * G_MAXINT64), @fallback when absent. FALSE with @call answered 400. */
static gboolean
param_count (HubApiCall *call, const HubApiRequest *req, const char *key, gint64 fallback,
             gint64 *out)
{
  const char *value;
  guint64 n = 0;

  if (!param (call, req, key, &value))
    return FALSE;
  *out = fallback;
  if (value == NULL)
    return TRUE;
  if (*value == '\0' || strspn (value, "0123456789") != strlen (value)) {
    g_autofree char *msg = g_strdup_printf ("parameter '%s' must be a non-negative integer", key);

    hub_api_call_fail (call, 400, HUB_ERROR_BAD_REQUEST, msg);
    return FALSE;
  }
  if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXINT64, &n, NULL))
    n = G_MAXINT64; /* only digits: too large */
  *out = (gint64)n;
  return TRUE;
}

/* The room or user of the path: FALSE with @call answered 400 invalid_name
 * when it breaks the name rule (§2). */
static gboolean
target (HubApiCall *call, const HubApiRequest *req, const char *what)
{
  if (req->target == NULL || !hub_name_is_valid (req->target)) {
    g_autofree char *msg = g_strdup_printf ("the %s in the path is not a valid name", what);

    hub_api_call_fail (call, 400, HUB_ERROR_INVALID_NAME, msg);
    return FALSE;
  }
  call->target = g_strdup (req->target);
  return TRUE;
}

/* --- POST /api/join --------------------------------------------------------------------------- */

static void
join_done (const HubStoreResult *result, gpointer data)
{
  HubApiCall *call = data;
  JsonObject *obj;

  if (!hub_api_call_store_answered (call, result))
    return;
  obj = json_object_new ();
  json_object_set_string_member (obj, "room", result->room.room);
  json_object_set_string_member (obj, "name", result->room.name);
  json_object_set_int_member (obj, "seq", result->room.seq);
  hub_api_call_reply (call, to_json (obj));
}

static void
start_join (HubApiCall *call, const HubApiRequest *req)
{
  HubDispatcher *d = call->d;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (HubFrame) event = NULL;
  HubStoreJoin args = {0};
  JsonObject *obj;
  JsonNode *allow;

  if ((obj = hub_api_body_object (call, req, parser)) == NULL ||
      !hub_api_body_name (call, obj, "room", TRUE, &args.room) ||
      !hub_api_body_name (call, obj, "user", TRUE, &args.user))
    return;
  /* §12, §13: the membership's grant, "jp" unless given. */
  args.grant = HUB_PERM_GRANT_DEFAULT;
  allow = json_object_get_member (obj, "allow");
  if (allow != NULL && !JSON_NODE_HOLDS_NULL (allow) &&
      (!JSON_NODE_HOLDS_VALUE (allow) || json_node_get_value_type (allow) != G_TYPE_STRING ||
       !hub_perm_from_letters (json_node_get_string (allow), &args.grant))) {
    hub_api_call_fail (call, 400, HUB_ERROR_BAD_REQUEST,
                       "field 'allow' must be a string of the letters j, p and c");
    return;
  }
  /* §4: every member's connections get it, the joining user's included. */
  event = hub_encode_presence ("join", args.room, args.user);
  args.event = event;
  args.now_ms = hub_clock_unix_ms (d->clock);
  args.may_create = TRUE; /* unless auto-create is off: room_not_found */
  args.set_grant = TRUE;
  hub_api_call_asking (call);
  d->store->vtable->join (d->store, &args, join_done, call);
}

/* --- POST /api/remove ------------------------------------------------------------------------- */

static void
remove_done (const HubStoreResult *result, gpointer data)
{
  HubApiCall *call = data;
  JsonObject *obj;

  if (!hub_api_call_store_answered (call, result))
    return;
  obj = json_object_new ();
  json_object_set_string_member (obj, "room", call->target);
  hub_api_call_reply (call, to_json (obj));
}

/* As if the user had sent `leave` (§4): the same presence events. */
static void
start_remove (HubApiCall *call, const HubApiRequest *req)
{
  HubDispatcher *d = call->d;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (HubFrame) event = NULL;
  HubStoreLeave args = {0};
  JsonObject *obj;

  if ((obj = hub_api_body_object (call, req, parser)) == NULL ||
      !hub_api_body_name (call, obj, "room", TRUE, &args.room) ||
      !hub_api_body_name (call, obj, "user", TRUE, &args.user))
    return;
  call->target = g_strdup (args.room);
  event = hub_encode_presence ("leave", args.room, args.user);
  args.event = event;
  hub_api_call_asking (call);
  d->store->vtable->leave (d->store, &args, remove_done, call);
}

/* --- POST /api/disconnect --------------------------------------------------------------------- */

static void
disconnect_done (const HubStoreResult *result, gpointer data)
{
  HubApiCall *call = data;

  if (!hub_api_call_store_answered (call, result))
    return;
  hub_api_call_reply (call, g_strdup_printf ("{\"disconnected\":%u}", result->delivered));
}

static void
start_disconnect (HubApiCall *call, const HubApiRequest *req)
{
  HubDispatcher *d = call->d;
  g_autoptr (JsonParser) parser = json_parser_new ();
  HubStoreDisconnect args = {0};
  JsonObject *obj;
  JsonNode *ban;

  if ((obj = hub_api_body_object (call, req, parser)) == NULL ||
      !hub_api_body_name (call, obj, "user", TRUE, &args.user) ||
      !hub_api_body_name (call, obj, "device", FALSE, &args.device))
    return;
  ban = json_object_get_member (obj, "ban_s");
  if (ban != NULL && !JSON_NODE_HOLDS_NULL (ban)) {
    gint64 ban_s = 0;

    if (JSON_NODE_HOLDS_VALUE (ban) && json_node_get_value_type (ban) == G_TYPE_INT64)
      ban_s = json_node_get_int (ban);
    if (ban_s < 1 || ban_s > BAN_S_MAX) {
      hub_api_call_fail (call, 400, HUB_ERROR_BAD_REQUEST,
                         "field 'ban_s' must be an integer from 1 to 315360000 (ten years)");
      return;
    }
    args.ban_ms = ban_s * 1000;
  }
  hub_api_call_asking (call);
  d->store->vtable->disconnect (d->store, &args, disconnect_done, call);
}

/* --- GET /api/rooms --------------------------------------------------------------------------- */

static void
rooms_done (const HubStoreResult *result, gpointer data)
{
  HubApiCall *call = data;
  JsonObject *obj;

  if (!hub_api_call_store_answered (call, result))
    return;
  obj = json_object_new ();
  json_object_set_array_member (obj, "rooms",
                                hub_dispatcher_room_list (result->rooms, result->n_rooms));
  json_object_set_int_member (obj, "count", result->count);
  hub_api_call_reply (call, to_json (obj));
}

static void
start_rooms (HubApiCall *call, const HubApiRequest *req)
{
  HubDispatcher *d = call->d;
  HubStoreListRooms args = {0};
  gint64 limit;

  if (!param (call, req, "prefix", &args.prefix) ||
      !param_count (call, req, "limit", ROOMS_LIMIT_DEFAULT, &limit))
    return;
  args.limit = (guint)MIN (limit, API_LIMIT_MAX);
  hub_api_call_asking (call);
  d->store->vtable->list_rooms (d->store, &args, rooms_done, call);
}

/* --- GET /api/rooms/ROOM ---------------------------------------------------------------------- */

static void
room_done (const HubStoreResult *result, gpointer data)
{
  HubApiCall *call = data;
  JsonObject *obj;

  if (!hub_api_call_store_answered (call, result))
    return;
  obj = json_object_new ();
  json_object_set_string_member (obj, "room", call->target);
  json_object_set_string_member (obj, "name", result->room.name);
  json_object_set_int_member (obj, "created_ts", result->room.created_ts);
  json_object_set_int_member (obj, "seq", result->room.seq);
  json_object_set_int_member (obj, "messages", result->room.messages);
  /* As an administrator sees them: an invisible user as it is (§7's
   * offline, and its devices). */
  json_object_set_array_member (
      obj, "members", hub_dispatcher_member_list (result->members, result->n_members, NULL));
  hub_api_call_reply (call, to_json (obj));
}

static void
start_room (HubApiCall *call, const HubApiRequest *req)
{
  HubDispatcher *d = call->d;
  HubStoreQuery args = {0};

  if (!target (call, req, "room"))
    return;
  args.room = call->target;
  hub_api_call_asking (call);
  d->store->vtable->who (d->store, &args, room_done, call);
}

/* --- GET /api/rooms/ROOM/history -------------------------------------------------------------- */

static void
history_done (const HubStoreResult *result, gpointer data)
{
  HubApiCall *call = data;
  GString *out;
  gsize bytes = 0;
  guint n = 0;

  if (!hub_api_call_store_answered (call, result))
    return;
  /* §6's pages: at most @limit messages and half of max_queue_bytes of them
   * (one at least); `more` when stored messages after the last were left
   * out (the store read one beyond @limit to know). */
  out = g_string_new ("{\"messages\":[");
  for (; n < result->n_messages && n < call->limit; n++) {
    gsize len = 0;
    const char *frame = hub_frame_payload (result->messages[n], &len);

    if (n > 0 && bytes + len > call->max_bytes)
      break;
    if (n > 0)
      g_string_append_c (out, ',');
    g_string_append_len (out, frame, (gssize)len);
    bytes += len;
  }
  g_string_append_printf (out, "],\"complete\":%s,\"more\":%s}",
                          result->complete ? "true" : "false",
                          n < result->n_messages ? "true" : "false");
  hub_api_call_reply (call, g_string_free (out, FALSE));
}

static void
start_history (HubApiCall *call, const HubApiRequest *req)
{
  HubDispatcher *d = call->d;
  HubStoreHistory args = {0};
  gint64 since, limit;

  if (!target (call, req, "room") || !param_count (call, req, "since", 0, &since) ||
      !param_count (call, req, "limit", HISTORY_LIMIT_DEFAULT, &limit))
    return;
  call->limit = (guint)MIN (limit, API_LIMIT_MAX);
  call->max_bytes = MAX (d->config.max_queue_bytes / 2, 1);
  args.room = call->target; /* no user: any room, member or not */
  args.since = since;
  args.limit = call->limit + 1;
  hub_api_call_asking (call);
  d->store->vtable->history (d->store, &args, history_done, call);
}

/* --- GET /api/users/USER ---------------------------------------------------------------------- */

static void
user_done (const HubStoreResult *result, gpointer data)
{
  HubApiCall *call = data;
  JsonObject *obj;
  JsonArray *conns, *rooms;

  if (!hub_api_call_store_answered (call, result))
    return;
  conns = json_array_sized_new (result->n_connections);
  for (guint i = 0; i < result->n_connections; i++) {
    const HubStoreConnection *c = &result->connections[i];
    JsonObject *o = json_object_new ();

    json_object_set_string_member (o, "conn", c->conn);
    json_object_set_string_member (o, "device", c->device);
    json_object_set_string_member (o, "node", c->node);
    json_array_add_object_element (conns, o);
  }
  rooms = json_array_sized_new (result->n_rooms);
  for (guint i = 0; i < result->n_rooms; i++)
    json_array_add_string_element (rooms, result->rooms[i].room);
  obj = json_object_new ();
  json_object_set_string_member (obj, "user", call->target);
  /* An invisible user is online (connected), its status offline (§7). */
  json_object_set_boolean_member (obj, "online", result->n_connections > 0);
  json_object_set_string_member (obj, "status", hub_status_to_string (result->status));
  json_object_set_array_member (obj, "connections", conns);
  json_object_set_array_member (obj, "rooms", rooms);
  hub_api_call_reply (call, to_json (obj));
}

static void
start_user (HubApiCall *call, const HubApiRequest *req)
{
  HubDispatcher *d = call->d;
  HubStoreQuery args = {0};

  if (!target (call, req, "user"))
    return;
  args.user = call->target;
  hub_api_call_asking (call);
  d->store->vtable->user_info (d->store, &args, user_done, call);
}

const HubApiStart hub_api_server_actions[HUB_API_N_ACTIONS] = {
    [HUB_API_JOIN] = start_join,
    [HUB_API_REMOVE] = start_remove,
    [HUB_API_DISCONNECT] = start_disconnect,
    [HUB_API_ROOMS] = start_rooms,
    [HUB_API_ROOM] = start_room,
    [HUB_API_HISTORY] = start_history,
    [HUB_API_USER] = start_user,
};
