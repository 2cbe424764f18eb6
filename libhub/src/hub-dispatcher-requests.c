/* hub-dispatcher-requests.c: one function per request of PROTOCOL.md §4–§8,
 * run for authenticated connections. Each validates against the state, replies,
 * and hands deliveries to the broadcaster; frames are encoded once. */
#include "hub-dispatcher-private.h"

#include <string.h>

#define HISTORY_LIMIT_DEFAULT 50
#define HISTORY_LIMIT_MAX     100
#define ONLINE_LIMIT_DEFAULT  100
#define ONLINE_LIMIT_MAX      1000

typedef void (*Handler) (HubDispatcher *d, HubConnection *conn, HubRequest *req);

/* Looks up a room for a request that needs membership; replies the error and
 * returns NULL when it is missing or the user is not a member. */
static HubRoom *
member_room (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  HubRoom *room = hub_room_manager_lookup (d->rooms, req->room);

  if (room == NULL) {
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_ROOM_NOT_FOUND, "no such room");
    return NULL;
  }
  if (!g_hash_table_contains (room->members, hub_connection_get_user (conn))) {
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_NOT_MEMBER,
                                "you are not a member of this room");
    return NULL;
  }
  return room;
}

static JsonObject *
room_result (HubRoom *room)
{
  JsonObject *result = json_object_new ();

  json_object_set_string_member (result, "room", room->id);
  json_object_set_string_member (result, "name", room->name);
  return result;
}

static void
membership_event (HubDispatcher *d, HubRoom *room, const char *event, const char *user)
{
  g_autoptr (HubFrame) frame = hub_encode_presence (event, room->id, user);

  hub_broadcaster_to_room (d->broadcaster, room, frame, NULL);
}

/* --- §4 Rooms ------------------------------------------------------------------ */

static void
handle_create (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  g_autoptr (GError) error = NULL;
  HubRoom *room = hub_room_manager_create (d->rooms, req->room, req->name,
                                           hub_clock_unix_ms (d->clock), &error);

  if (room == NULL)
    hub_dispatcher_reply_gerror (conn, req->id_json, error);
  else
    hub_dispatcher_reply_ok (conn, req->id_json, room_result (room));
}

static void
handle_join (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  const char *user = hub_connection_get_user (conn);
  g_autoptr (GError) error = NULL;
  gboolean joined = FALSE;
  HubRoom *room = hub_room_manager_join (d->rooms, user, req->room, req->name,
                                         hub_clock_unix_ms (d->clock), &joined, &error);
  JsonObject *result;
  JsonArray *members;
  GHashTableIter iter;
  gpointer member;

  if (room == NULL) {
    hub_dispatcher_reply_gerror (conn, req->id_json, error);
    return;
  }
  result = room_result (room);
  json_object_set_int_member (result, "seq", room->seq);
  members = json_array_sized_new (g_hash_table_size (room->members));
  g_hash_table_iter_init (&iter, room->members);
  while (g_hash_table_iter_next (&iter, &member, NULL)) {
    JsonObject *m = json_object_new ();

    json_object_set_string_member (m, "user", member);
    json_object_set_string_member (
        m, "status", hub_status_to_string (hub_dispatcher_status_seen_by (d, user, member)));
    json_array_add_object_element (members, m);
  }
  json_object_set_array_member (result, "members", members);
  hub_dispatcher_reply_ok (conn, req->id_json, result);
  if (joined)
    membership_event (d, room, "join", user);
}

static void
handle_leave (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  const char *user = hub_connection_get_user (conn);
  g_autoptr (GError) error = NULL;
  HubRoom *room = member_room (d, conn, req);
  JsonObject *result;
  gboolean deleted;

  if (room == NULL)
    return;
  /* The leaver's connections get this last event of the room too (§4). */
  membership_event (d, room, "leave", user);
  result = json_object_new ();
  json_object_set_string_member (result, "room", room->id);
  if (!hub_room_manager_leave (d->rooms, user, req->room, &deleted, &error)) {
    json_object_unref (result);
    hub_dispatcher_reply_gerror (conn, req->id_json, error);
    return;
  }
  hub_dispatcher_reply_ok (conn, req->id_json, result);
}

static void
handle_rooms (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  g_auto (GStrv) ids = hub_room_manager_list_user_rooms (d->rooms, hub_connection_get_user (conn));
  JsonObject *result = json_object_new ();
  JsonArray *rooms = json_array_new ();

  for (guint i = 0; ids != NULL && ids[i] != NULL; i++) {
    HubRoom *room = hub_room_manager_lookup (d->rooms, ids[i]);
    JsonObject *r = room_result (room);

    json_object_set_int_member (r, "members", g_hash_table_size (room->members));
    json_object_set_int_member (r, "seq", room->seq);
    json_array_add_object_element (rooms, r);
  }
  json_object_set_array_member (result, "rooms", rooms);
  hub_dispatcher_reply_ok (conn, req->id_json, result);
}

static HubRoom *
existing_room (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  HubRoom *room = hub_room_manager_lookup (d->rooms, req->room);

  if (room == NULL)
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_ROOM_NOT_FOUND, "no such room");
  return room;
}

static void
handle_room_info (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  HubRoom *room = existing_room (d, conn, req);
  JsonObject *result;

  if (room == NULL)
    return;
  result = room_result (room);
  json_object_set_int_member (result, "created_ts", room->created_ts);
  json_object_set_int_member (result, "members", g_hash_table_size (room->members));
  json_object_set_int_member (result, "messages", hub_history_length (room->history));
  json_object_set_int_member (result, "seq", room->seq);
  hub_dispatcher_reply_ok (conn, req->id_json, result);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

static void
handle_who (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  const char *viewer = hub_connection_get_user (conn);
  HubRoom *room = existing_room (d, conn, req);
  g_autoptr (GPtrArray) sorted = NULL;
  JsonObject *result;
  JsonArray *members;
  GHashTableIter iter;
  gpointer member;

  if (room == NULL)
    return;
  sorted = g_ptr_array_sized_new (g_hash_table_size (room->members));
  g_hash_table_iter_init (&iter, room->members);
  while (g_hash_table_iter_next (&iter, &member, NULL))
    g_ptr_array_add (sorted, member);
  g_ptr_array_sort (sorted, compare_names);
  members = json_array_sized_new (sorted->len);
  for (guint i = 0; i < sorted->len; i++) {
    const char *user = g_ptr_array_index (sorted, i);
    HubStatus status = hub_dispatcher_status_seen_by (d, viewer, user);
    JsonObject *m = json_object_new ();

    json_object_set_string_member (m, "user", user);
    json_object_set_string_member (m, "status", hub_status_to_string (status));
    /* An invisible user shows no devices to others (§7). */
    json_object_set_int_member (m, "devices",
                                status == HUB_STATUS_OFFLINE && strcmp (viewer, user) != 0
                                    ? 0
                                    : hub_connection_manager_count_user (d->conns, user));
    json_array_add_object_element (members, m);
  }
  result = json_object_new ();
  json_object_set_array_member (result, "members", members);
  hub_dispatcher_reply_ok (conn, req->id_json, result);
  hub_dispatcher_guard_who (d, conn, sorted->len);
}

/* --- §5 Messages ------------------------------------------------------------------- */

gint64
hub_dispatcher_publish_to_room (HubDispatcher *d, HubRoom *room, const char *from,
                                const char *device, JsonNode *payload)
{
  gint64 seq = hub_room_next_seq (room);
  g_autoptr (HubFrame) frame =
      hub_encode_message (room->id, seq, from, device, hub_clock_unix_ms (d->clock), payload);

  hub_history_push (room->history, seq, frame);
  hub_broadcaster_to_room (d->broadcaster, room, frame, NULL);
  d->messages_in_total++;
  return seq;
}

static void
handle_publish (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  HubRoom *room = member_room (d, conn, req);
  JsonObject *result;
  gint64 seq;

  if (room == NULL)
    return;
  seq = hub_dispatcher_publish_to_room (d, room, hub_connection_get_user (conn),
                                        hub_connection_get_device (conn), req->payload);
  hub_connection_note_message_in (conn);
  result = json_object_new ();
  json_object_set_int_member (result, "seq", seq);
  hub_dispatcher_reply_ok (conn, req->id_json, result);
}

static void
handle_direct (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  const char *from = hub_connection_get_user (conn);
  gboolean to_self = strcmp (from, req->to) == 0;
  guint reachable = hub_connection_manager_count_user (d->conns, req->to);
  g_autoptr (HubFrame) frame = NULL;
  JsonObject *result;
  guint delivered;

  /* To oneself is never offline: it reaches one's other devices, if any. */
  if (!to_self && reachable == 0) {
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_USER_OFFLINE,
                                "the user has no connection");
    return;
  }
  frame = hub_encode_direct (from, req->to, hub_clock_unix_ms (d->clock), req->payload);
  delivered = hub_broadcaster_to_user (d->broadcaster, req->to, frame, conn);
  if (!to_self)
    hub_broadcaster_to_user (d->broadcaster, from, frame, conn);
  d->messages_in_total++;
  hub_connection_note_message_in (conn);
  result = json_object_new ();
  json_object_set_int_member (result, "delivered", delivered);
  hub_dispatcher_reply_ok (conn, req->id_json, result);
}

static void
handle_multicast (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  g_autoptr (HubFrame) frame = hub_encode_multicast (hub_connection_get_user (conn),
                                                     hub_clock_unix_ms (d->clock), req->payload);
  g_autoptr (GPtrArray) offline = g_ptr_array_new_with_free_func (g_free);
  guint delivered = hub_broadcaster_to_users (d->broadcaster, req->users, frame, offline);
  JsonObject *result = json_object_new ();
  JsonArray *offline_json = json_array_sized_new (offline->len);

  for (guint i = 0; i < offline->len; i++)
    json_array_add_string_element (offline_json, g_ptr_array_index (offline, i));
  d->messages_in_total++;
  hub_connection_note_message_in (conn);
  json_object_set_int_member (result, "delivered", delivered);
  json_object_set_array_member (result, "offline", offline_json);
  hub_dispatcher_reply_ok (conn, req->id_json, result);
}

static void
handle_broadcast (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  g_autoptr (HubFrame) frame = NULL;
  JsonObject *result;
  guint delivered;

  if (!hub_connection_is_admin (conn)) {
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_FORBIDDEN,
                                "broadcast needs an admin token");
    return;
  }
  frame = hub_encode_broadcast (hub_connection_get_user (conn), hub_clock_unix_ms (d->clock),
                                req->payload);
  delivered = hub_broadcaster_to_all (d->broadcaster, frame);
  d->messages_in_total++;
  hub_connection_note_message_in (conn);
  result = json_object_new ();
  json_object_set_int_member (result, "delivered", delivered);
  hub_dispatcher_reply_ok (conn, req->id_json, result);
}

static void
handle_typing (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  const char *user = hub_connection_get_user (conn);
  HubRoom *room = member_room (d, conn, req);
  g_autoptr (HubFrame) frame = NULL;

  if (room == NULL)
    return;
  frame = hub_encode_typing (room->id, user);
  hub_broadcaster_to_room (d->broadcaster, room, frame, user);
  hub_dispatcher_reply_ok (conn, req->id_json, NULL);
}

/* --- §6 History ---------------------------------------------------------------------- */

static void
handle_history (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  HubRoom *room = member_room (d, conn, req);
  gint64 limit = req->has_limit ? MIN (req->limit, HISTORY_LIMIT_MAX) : HISTORY_LIMIT_DEFAULT;
  g_autoptr (GPtrArray) frames = NULL;
  g_autoptr (HubFrame) reply = NULL;
  gboolean complete = TRUE;

  if (room == NULL || req->id_json == NULL) /* a history without id has no one to answer */
    return;
  frames = hub_history_query (room->history, req->since, (guint)limit, &complete);
  reply =
      hub_encode_history_ok (req->id_json, (HubFrame *const *)frames->pdata, frames->len, complete);
  hub_dispatcher_send (conn, reply);
}

/* --- §7 Presence ----------------------------------------------------------------------- */

static void
handle_status (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  hub_presence_set_status (d->presence, hub_connection_get_user (conn), req->status);
  hub_dispatcher_reply_ok (conn, req->id_json, NULL);
}

static void
handle_subscribe (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  GHashTable *subs = hub_connection_get_subscriptions (conn);
  const char *viewer = hub_connection_get_user (conn);
  JsonObject *statuses;
  JsonObject *result;
  guint fresh = 0;

  for (guint i = 0; i < req->users->len; i++)
    if (!g_hash_table_contains (subs, g_ptr_array_index (req->users, i)))
      fresh++;
  if (g_hash_table_size (subs) + fresh > HUB_MAX_SUBSCRIPTIONS_PER_CONNECTION) {
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_BAD_REQUEST,
                                "too many subscriptions on this connection (at most 10000)");
    return;
  }
  if (!hub_dispatcher_guard_subscribe (d, conn, fresh, req->id_json))
    return;
  statuses = json_object_new ();
  for (guint i = 0; i < req->users->len; i++) {
    const char *user = g_ptr_array_index (req->users, i);

    if (!g_hash_table_contains (subs, user)) {
      g_hash_table_add (subs, g_strdup (user));
      hub_presence_subscribe (d->presence, conn, user);
    }
    json_object_set_string_member (
        statuses, user, hub_status_to_string (hub_dispatcher_status_seen_by (d, viewer, user)));
  }
  result = json_object_new ();
  json_object_set_object_member (result, "statuses", statuses);
  hub_dispatcher_reply_ok (conn, req->id_json, result);
}

static void
handle_unsubscribe (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  GHashTable *subs = hub_connection_get_subscriptions (conn);

  for (guint i = 0; i < req->users->len; i++) {
    const char *user = g_ptr_array_index (req->users, i);

    hub_presence_unsubscribe (d->presence, conn, user);
    g_hash_table_remove (subs, user);
  }
  hub_dispatcher_reply_ok (conn, req->id_json, NULL);
}

static void
handle_online (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  gint64 limit = req->has_limit ? MIN (req->limit, ONLINE_LIMIT_MAX) : ONLINE_LIMIT_DEFAULT;
  g_autoptr (GPtrArray) users = NULL;
  guint count = hub_presence_list_visible (d->presence, (guint)limit, &users);
  JsonObject *result = json_object_new ();
  JsonArray *list = json_array_sized_new (users != NULL ? users->len : 0);

  for (guint i = 0; users != NULL && i < users->len; i++)
    json_array_add_string_element (list, g_ptr_array_index (users, i));
  json_object_set_array_member (result, "users", list);
  json_object_set_int_member (result, "count", count);
  hub_dispatcher_reply_ok (conn, req->id_json, result);
}

/* --- §8 -------------------------------------------------------------------------------- */

static void
handle_ping (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  /* A pong even without id: a client that pings wants to hear back. */
  g_autoptr (HubFrame) pong = hub_encode_pong (req->id_json, hub_clock_unix_ms (d->clock));

  hub_dispatcher_send (conn, pong);
}

static const Handler handlers[HUB_REQ_N_TYPES] = {
    [HUB_REQ_CREATE] = handle_create,
    [HUB_REQ_JOIN] = handle_join,
    [HUB_REQ_LEAVE] = handle_leave,
    [HUB_REQ_ROOMS] = handle_rooms,
    [HUB_REQ_ROOM_INFO] = handle_room_info,
    [HUB_REQ_WHO] = handle_who,
    [HUB_REQ_PUBLISH] = handle_publish,
    [HUB_REQ_DIRECT] = handle_direct,
    [HUB_REQ_MULTICAST] = handle_multicast,
    [HUB_REQ_BROADCAST] = handle_broadcast,
    [HUB_REQ_TYPING] = handle_typing,
    [HUB_REQ_HISTORY] = handle_history,
    [HUB_REQ_STATUS] = handle_status,
    [HUB_REQ_SUBSCRIBE] = handle_subscribe,
    [HUB_REQ_UNSUBSCRIBE] = handle_unsubscribe,
    [HUB_REQ_ONLINE] = handle_online,
    [HUB_REQ_PING] = handle_ping,
};

void
hub_dispatcher_execute (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  Handler handler = req->type < HUB_REQ_N_TYPES ? handlers[req->type] : NULL;

  if (handler == NULL) {
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_INTERNAL, "unhandled request");
    return;
  }
  handler (d, conn, req);
}
