/* hub-broker-requests.c: cluster mode's requests (PROTOCOL.md §4–§7): each
 * runs one Lua script (hub-broker-scripts.c) and is answered when Redis
 * answers; deliveries come back through pub/sub (hub-broker-cluster.c). */
#include "hub-broker-call.h"

#include <string.h>

#define HISTORY_LIMIT_DEFAULT 50
#define HISTORY_LIMIT_MAX     100
#define ONLINE_LIMIT_DEFAULT  100
#define ONLINE_LIMIT_MAX      1000

/* --- §4 Rooms ---------------------------------------------------------------------------- */

static JsonObject *
room_result (const char *room, const char *name)
{
  JsonObject *result = json_object_new ();

  json_object_set_string_member (result, "room", room);
  json_object_set_string_member (result, "name", name);
  return result;
}

static void
create_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;

  if (hub_call_check (call, reply))
    hub_dispatcher_reply_ok (call->conn, call->req->id_json,
                             room_result (call->req->room, hub_reply_str (reply, 1)));
}

static void
do_create (HubCall *call)
{
  g_autoptr (GPtrArray) args = hub_args_new ();
  HubRequest *req = call->req;

  hub_args_add (args, req->room);
  hub_args_add (args, req->name != NULL ? req->name : req->room);
  hub_args_add_int (args, hub_clock_unix_ms (call->d->clock));
  hub_call_run (call, HUB_SCRIPT_CREATE, args, create_done);
}

static void
join_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;
  JsonObject *result;
  JsonArray *members;

  if (!hub_call_check (call, reply))
    return;
  result = room_result (call->req->room, hub_reply_str (reply, 1));
  json_object_set_int_member (result, "seq", hub_reply_int (reply, 2));
  members = json_array_new ();
  for (gsize i = 4; i + 1 < reply->elements; i += 2) {
    JsonObject *m = json_object_new ();

    json_object_set_string_member (m, "user", hub_reply_str (reply, i));
    json_object_set_string_member (m, "status", hub_reply_str (reply, i + 1));
    json_array_add_object_element (members, m);
  }
  json_object_set_array_member (result, "members", members);
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_join (HubCall *call)
{
  HubDispatcher *d = call->d;
  const char *user = hub_connection_get_user (call->conn);
  g_autoptr (GPtrArray) args = hub_args_new ();
  g_autoptr (HubFrame) event = hub_encode_presence ("join", call->req->room, user);

  hub_args_add (args, user);
  hub_args_add (args, call->req->room);
  hub_args_add (args, call->req->name != NULL ? call->req->name : call->req->room);
  hub_args_add_int (args, hub_clock_unix_ms (d->clock));
  hub_args_add (args, d->config.auto_create ? "1" : "0");
  hub_args_add_int (args, d->config.max_rooms_per_user);
  hub_args_add_frame (args, event);
  hub_call_run (call, HUB_SCRIPT_JOIN, args, join_done);
}

static void
leave_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;
  JsonObject *result;

  if (!hub_call_check (call, reply))
    return;
  result = json_object_new ();
  json_object_set_string_member (result, "room", call->req->room);
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_leave (HubCall *call)
{
  const char *user = hub_connection_get_user (call->conn);
  g_autoptr (GPtrArray) args = hub_args_new ();
  g_autoptr (HubFrame) event = hub_encode_presence ("leave", call->req->room, user);

  hub_args_add (args, user);
  hub_args_add (args, call->req->room);
  hub_args_add_frame (args, event);
  hub_call_run (call, HUB_SCRIPT_LEAVE, args, leave_done);
}

static void
rooms_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;
  JsonObject *result;
  JsonArray *rooms;

  if (!hub_call_check (call, reply))
    return;
  rooms = json_array_new ();
  for (gsize i = 1; i + 3 < reply->elements; i += 4) {
    JsonObject *r = room_result (hub_reply_str (reply, i), hub_reply_str (reply, i + 1));
    json_object_set_int_member (r, "members", hub_reply_int (reply, i + 2));
    json_object_set_int_member (r, "seq", hub_reply_int (reply, i + 3));
    json_array_add_object_element (rooms, r);
  }
  result = json_object_new ();
  json_object_set_array_member (result, "rooms", rooms);
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_rooms (HubCall *call)
{
  g_autoptr (GPtrArray) args = hub_args_new ();

  hub_args_add (args, hub_connection_get_user (call->conn));
  hub_call_run (call, HUB_SCRIPT_ROOMS, args, rooms_done);
}

static void
info_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;
  JsonObject *result;

  if (!hub_call_check (call, reply))
    return;
  result = room_result (call->req->room, hub_reply_str (reply, 1));
  json_object_set_int_member (result, "created_ts", hub_reply_int (reply, 2));
  json_object_set_int_member (result, "members", hub_reply_int (reply, 3));
  json_object_set_int_member (result, "messages", hub_reply_int (reply, 4));
  json_object_set_int_member (result, "seq", hub_reply_int (reply, 5));
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_room_info (HubCall *call)
{
  g_autoptr (GPtrArray) args = hub_args_new ();

  hub_args_add (args, call->req->room);
  hub_call_run (call, HUB_SCRIPT_INFO, args, info_done);
}

static void
who_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;
  JsonObject *result;
  JsonArray *members;

  if (!hub_call_check (call, reply))
    return;
  members = json_array_new ();
  for (gsize i = 1; i + 2 < reply->elements; i += 3) {
    JsonObject *m = json_object_new ();

    json_object_set_string_member (m, "user", hub_reply_str (reply, i));
    json_object_set_string_member (m, "status", hub_reply_str (reply, i + 1));
    json_object_set_int_member (m, "devices", hub_reply_int (reply, i + 2));
    json_array_add_object_element (members, m);
  }
  hub_dispatcher_guard_who (call->d, call->conn, json_array_get_length (members));
  result = json_object_new ();
  json_object_set_array_member (result, "members", members);
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_who (HubCall *call)
{
  g_autoptr (GPtrArray) args = hub_args_new ();

  hub_args_add (args, hub_connection_get_user (call->conn));
  hub_args_add (args, call->req->room);
  hub_call_run (call, HUB_SCRIPT_WHO, args, who_done);
}

/* --- §5 Messages --------------------------------------------------------------------------- */

/* Counts a message Redis accepted and starts its ok result with @member. */
static JsonObject *
message_accepted (HubCall *call, const char *member, gint64 value)
{
  JsonObject *result = json_object_new ();

  call->d->messages_in_total++;
  hub_connection_note_message_in (call->conn);
  json_object_set_int_member (result, member, value);
  return result;
}

static void
publish_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;
  JsonObject *result;

  if (!hub_call_check (call, reply))
    return;
  result = message_accepted (call, "seq", hub_reply_int (reply, 1));
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_publish (HubCall *call)
{
  HubDispatcher *d = call->d;
  g_autoptr (GPtrArray) args = hub_args_new ();
  g_autoptr (HubFrame) frame = hub_encode_message (
      call->req->room, 0, hub_connection_get_user (call->conn),
      hub_connection_get_device (call->conn), hub_clock_unix_ms (d->clock), call->req->payload);

  hub_args_add (args, hub_connection_get_user (call->conn));
  hub_args_add (args, call->req->room);
  hub_args_add_message_halves (args, frame);
  hub_args_add_int (args, d->config.history_size);
  hub_call_run (call, HUB_SCRIPT_PUBLISH, args, publish_done);
}

static void
typing_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;

  if (hub_call_check (call, reply))
    hub_dispatcher_reply_ok (call->conn, call->req->id_json, NULL);
}

static void
do_typing (HubCall *call)
{
  const char *user = hub_connection_get_user (call->conn);
  g_autoptr (GPtrArray) args = hub_args_new ();
  g_autoptr (HubFrame) frame = hub_encode_typing (call->req->room, user);

  hub_args_add (args, user);
  hub_args_add (args, call->req->room);
  hub_args_add_frame (args, frame);
  hub_call_run (call, HUB_SCRIPT_TYPING, args, typing_done);
}

static void
delivered_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;
  JsonObject *result;

  if (!hub_call_check (call, reply))
    return;
  result = message_accepted (call, "delivered", hub_reply_int (reply, 1));
  if (call->req->type == HUB_REQ_MULTICAST) {
    redisReply *offline = hub_reply_elem (reply, 2);
    JsonArray *list = json_array_new ();

    for (gsize i = 0;
         offline != NULL && offline->type == REDIS_REPLY_ARRAY && i < offline->elements; i++)
      json_array_add_string_element (list, hub_reply_str (offline, i));
    json_object_set_array_member (result, "offline", list);
  }
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_direct (HubCall *call)
{
  const char *from = hub_connection_get_user (call->conn);
  g_autoptr (GPtrArray) args = hub_args_new ();
  g_autoptr (HubFrame) frame = hub_encode_direct (
      from, call->req->to, hub_clock_unix_ms (call->d->clock), call->req->payload);

  hub_args_add (args, from);
  hub_args_add (args, call->req->to);
  hub_args_add (args, hub_connection_get_id (call->conn));
  hub_args_add_frame (args, frame);
  hub_call_run (call, HUB_SCRIPT_DIRECT, args, delivered_done);
}

static void
do_multicast (HubCall *call)
{
  g_autoptr (GPtrArray) args = hub_args_new ();
  g_autoptr (HubFrame) frame = hub_encode_multicast (
      hub_connection_get_user (call->conn), hub_clock_unix_ms (call->d->clock), call->req->payload);

  hub_args_add_frame (args, frame);
  for (guint i = 0; i < call->req->users->len; i++)
    hub_args_add (args, g_ptr_array_index (call->req->users, i));
  hub_call_run (call, HUB_SCRIPT_MULTICAST, args, delivered_done);
}

static void
broadcast_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;
  JsonObject *result;

  if (!hub_cluster_conn_alive (call->d, call->conn))
    return;
  if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
    hub_dispatcher_reply_error (call->conn, call->req->id_json, HUB_ERROR_INTERNAL,
                                HUB_CLUSTER_UNAVAILABLE);
    return;
  }
  call->d->messages_in_total++;
  hub_connection_note_message_in (call->conn);
  result = json_object_new ();
  /* §5: the connections on the accepting node. */
  json_object_set_int_member (result, "delivered",
                              hub_connection_manager_n_authenticated (call->d->conns));
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_broadcast (HubCall *call)
{
  HubDispatcher *d = call->d;
  g_autoptr (HubFrame) frame = NULL;
  g_autofree char *channel = NULL;
  const char *argv[3];

  if (!hub_connection_is_admin (call->conn)) {
    hub_dispatcher_reply_error (call->conn, call->req->id_json, HUB_ERROR_FORBIDDEN,
                                "broadcast needs an admin token");
    hub_call_free (call);
    return;
  }
  frame = hub_encode_broadcast (hub_connection_get_user (call->conn), hub_clock_unix_ms (d->clock),
                                call->req->payload);
  channel =
      g_strdup_printf ("%sch:all", hub_redis_prefix (hub_cluster_get_redis (hub_cluster_of (d))));
  argv[0] = "PUBLISH";
  argv[1] = channel;
  argv[2] = hub_frame_payload (frame, NULL);
  hub_redis_command (hub_cluster_get_redis (hub_cluster_of (d)), argv, 3, broadcast_done, call);
}

/* --- §6 History ---------------------------------------------------------------------------- */

static void
history_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;
  g_autoptr (GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify)hub_frame_unref);
  g_autoptr (HubFrame) out = NULL;

  if (!hub_call_check (call, reply))
    return;
  for (gsize i = 2; i < reply->elements; i++) {
    redisReply *e = reply->element[i];

    if (e->type == REDIS_REPLY_STRING)
      g_ptr_array_add (frames, hub_frame_new (e->str, e->len, HUB_FRAME_FLAG_NONE));
  }
  out = hub_encode_history_ok (call->req->id_json, (HubFrame *const *)frames->pdata, frames->len,
                               hub_reply_int (reply, 1) != 0);
  hub_dispatcher_send (call->conn, out);
}

static void
do_history (HubCall *call)
{
  g_autoptr (GPtrArray) args = hub_args_new ();
  HubRequest *req = call->req;
  gint64 limit = req->has_limit ? MIN (req->limit, HISTORY_LIMIT_MAX) : HISTORY_LIMIT_DEFAULT;

  hub_args_add (args, hub_connection_get_user (call->conn));
  hub_args_add (args, req->room);
  hub_args_add_int (args, req->since);
  hub_args_add_int (args, limit);
  hub_call_run (call, HUB_SCRIPT_HISTORY, args, history_done);
}

/* --- §7 Presence ---------------------------------------------------------------------------- */

static void
ok_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;

  if (hub_call_check (call, reply))
    hub_dispatcher_reply_ok (call->conn, call->req->id_json, NULL);
}

static void
do_status (HubCall *call)
{
  g_autoptr (GPtrArray) args = hub_args_new ();

  hub_args_add (args, hub_connection_get_user (call->conn));
  hub_args_add (args, hub_status_to_string (call->req->status));
  hub_call_run (call, HUB_SCRIPT_STATUS, args, ok_done);
}

static void
subscribe_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;
  JsonObject *statuses, *result;

  if (!hub_call_check (call, reply))
    return;
  statuses = json_object_new ();
  for (guint i = 0; i < call->req->users->len; i++)
    json_object_set_string_member (statuses, g_ptr_array_index (call->req->users, i),
                                   hub_reply_str (reply, i + 1));
  result = json_object_new ();
  json_object_set_object_member (result, "statuses", statuses);
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_subscribe (HubCall *call)
{
  HubDispatcher *d = call->d;
  GHashTable *subs = hub_connection_get_subscriptions (call->conn);
  g_autoptr (GPtrArray) fresh = hub_args_new ();
  g_autoptr (GPtrArray) args = hub_args_new ();
  guint n_new = 0;

  for (guint i = 0; i < call->req->users->len; i++)
    if (!g_hash_table_contains (subs, g_ptr_array_index (call->req->users, i)))
      n_new++;
  if (g_hash_table_size (subs) + n_new > HUB_MAX_SUBSCRIPTIONS_PER_CONNECTION) {
    hub_dispatcher_reply_error (call->conn, call->req->id_json, HUB_ERROR_BAD_REQUEST,
                                "too many subscriptions on this connection (at most 10000)");
    hub_call_free (call);
    return;
  }
  if (!hub_dispatcher_guard_subscribe (d, call->conn, n_new, call->req->id_json)) {
    hub_call_free (call);
    return;
  }
  for (guint i = 0; i < call->req->users->len; i++) {
    const char *user = g_ptr_array_index (call->req->users, i);
    GHashTable *watchers;

    if (g_hash_table_contains (subs, user))
      continue;
    g_hash_table_add (subs, g_strdup (user));
    hub_presence_subscribe (d->presence, call->conn, user);
    watchers = hub_presence_get_subscribers (d->presence, user);
    /* The node watches a user from its first local subscriber on. */
    if (watchers != NULL && g_hash_table_size (watchers) == 1)
      hub_args_add (fresh, user);
  }
  hub_args_add_int (args, fresh->len);
  for (guint i = 0; i < fresh->len; i++)
    hub_args_add (args, g_ptr_array_index (fresh, i));
  for (guint i = 0; i < call->req->users->len; i++)
    hub_args_add (args, g_ptr_array_index (call->req->users, i));
  hub_call_run (call, HUB_SCRIPT_SUBSCRIBE, args, subscribe_done);
}

/* Drops @conn's subscriptions to @users (all of them when NULL) and returns
 * the users this node no longer watches. (transfer full) */
GPtrArray *
hub_cluster_unsubscribe_local (HubDispatcher *d, HubConnection *conn, GPtrArray *users)
{
  GHashTable *subs = hub_connection_get_subscriptions (conn);
  g_autoptr (GPtrArray) list = hub_args_new ();
  GPtrArray *unwatched = hub_args_new ();

  if (users != NULL) {
    for (guint i = 0; i < users->len; i++)
      if (g_hash_table_contains (subs, g_ptr_array_index (users, i)))
        hub_args_add (list, g_ptr_array_index (users, i));
  } else {
    GHashTableIter iter;
    gpointer user;

    g_hash_table_iter_init (&iter, subs);
    while (g_hash_table_iter_next (&iter, &user, NULL))
      hub_args_add (list, user);
  }
  for (guint i = 0; i < list->len; i++) {
    const char *user = g_ptr_array_index (list, i);
    GHashTable *watchers;

    hub_presence_unsubscribe (d->presence, conn, user);
    g_hash_table_remove (subs, user);
    watchers = hub_presence_get_subscribers (d->presence, user);
    if (watchers == NULL || g_hash_table_size (watchers) == 0)
      hub_args_add (unwatched, user);
  }
  return unwatched;
}

static void
do_unsubscribe (HubCall *call)
{
  g_autoptr (GPtrArray) args =
      hub_cluster_unsubscribe_local (call->d, call->conn, call->req->users);

  hub_call_run (call, HUB_SCRIPT_UNWATCH, args, ok_done);
}

static void
online_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;
  redisReply *users;
  JsonObject *result;
  JsonArray *list;

  if (!hub_call_check (call, reply))
    return;
  users = hub_reply_elem (reply, 2);
  list = json_array_new ();
  for (gsize i = 0; users != NULL && users->type == REDIS_REPLY_ARRAY && i < users->elements; i++)
    json_array_add_string_element (list, hub_reply_str (users, i));
  result = json_object_new ();
  json_object_set_array_member (result, "users", list);
  json_object_set_int_member (result, "count", hub_reply_int (reply, 1));
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_online (HubCall *call)
{
  g_autoptr (GPtrArray) args = hub_args_new ();
  HubRequest *req = call->req;

  hub_args_add_int (args,
                    req->has_limit ? MIN (req->limit, ONLINE_LIMIT_MAX) : ONLINE_LIMIT_DEFAULT);
  hub_call_run (call, HUB_SCRIPT_ONLINE, args, online_done);
}

typedef void (*ClusterHandler) (HubCall *call);

static const ClusterHandler handlers[HUB_REQ_N_TYPES] = {
    [HUB_REQ_CREATE] = do_create,
    [HUB_REQ_JOIN] = do_join,
    [HUB_REQ_LEAVE] = do_leave,
    [HUB_REQ_ROOMS] = do_rooms,
    [HUB_REQ_ROOM_INFO] = do_room_info,
    [HUB_REQ_WHO] = do_who,
    [HUB_REQ_PUBLISH] = do_publish,
    [HUB_REQ_DIRECT] = do_direct,
    [HUB_REQ_MULTICAST] = do_multicast,
    [HUB_REQ_BROADCAST] = do_broadcast,
    [HUB_REQ_TYPING] = do_typing,
    [HUB_REQ_HISTORY] = do_history,
    [HUB_REQ_STATUS] = do_status,
    [HUB_REQ_SUBSCRIBE] = do_subscribe,
    [HUB_REQ_UNSUBSCRIBE] = do_unsubscribe,
    [HUB_REQ_ONLINE] = do_online,
};

static void
ping_done (redisReply *reply, gpointer data)
{
  g_autoptr (HubCall) call = data;

  /* Answered whatever Redis said: ping needs nothing shared. */
  if (hub_cluster_conn_alive (call->d, call->conn))
    hub_dispatcher_execute (call->d, call->conn, call->req);
}

void
hub_cluster_execute (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  ClusterHandler handler = req->type < HUB_REQ_N_TYPES ? handlers[req->type] : NULL;

  if (handler == NULL) {
    const char *argv[] = {"PING"};

    /* ping: answered here, nothing shared; at once, unless earlier requests
     * of the connection still wait for Redis: then the pong follows their
     * replies, as on one node (Redis answers a connection's commands in
     * order; when it is down the PING fails at once and ping is answered). */
    if (hub_cluster_calls_pending (d, conn) > 0) {
      hub_redis_command (hub_cluster_get_redis (hub_cluster_of (d)), argv, 1, ping_done,
                         hub_call_new (d, conn, req));
      return;
    }
    hub_dispatcher_execute (d, conn, req);
    hub_request_free (req);
    return;
  }
  if (!hub_redis_is_up (hub_cluster_get_redis (hub_cluster_of (d)))) {
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_INTERNAL, HUB_CLUSTER_UNAVAILABLE);
    hub_request_free (req);
    return;
  }
  if (req->type == HUB_REQ_HISTORY && req->id_json == NULL) {
    /* A history without id has no one to answer (as in memory). */
    hub_request_free (req);
    return;
  }
  handler (hub_call_new (d, conn, req));
}
