/* hub-dispatcher-requests.c: the one table of request handlers (PROTOCOL.md
 * §4–§8), for every store. Each handler checks what the codec cannot (limits,
 * admin), asks the store (hub-store.h), and shapes the reply from the store's
 * result; the store holds the state and fans out. Frames that do not depend
 * on the state are encoded here, once. A handler's answer may come before the
 * store call returns (the memory store) or later (Redis): nothing is touched
 * after the call. */
#include "hub-dispatcher-private.h"

#include <string.h>

/* §6: history's limit; §7: online's. */
#define HISTORY_LIMIT_DEFAULT 50
#define HISTORY_LIMIT_MAX     100
#define ONLINE_LIMIT_DEFAULT  100
#define ONLINE_LIMIT_MAX      1000

/* A request waiting for the store. */
typedef struct {
  HubDispatcher *d;
  HubConnection *conn; /* (owned) */
  HubRequest *req;     /* (owned) */
  guint64 slot;        /* its reply's place among the connection's (hub_connection_reply) */
} Call;

typedef void (*Handler) (Call *call);

static Call *
call_new (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  Call *call = g_new (Call, 1);

  call->d = d;
  call->conn = hub_connection_ref (conn);
  call->req = req;
  call->slot = hub_connection_take_reply_slot (conn);
  d->in_flight++;
  return call;
}

static void
call_free (Call *call)
{
  call->d->in_flight--;
  hub_connection_unref (call->conn);
  hub_request_free (call->req);
  g_free (call);
}

/* The store answered: TRUE when there is someone to reply to and the answer
 * is no error; else the error is replied (always, §2) and @call freed. */
static gboolean
answered (Call *call, const HubStoreResult *result)
{
  if (!hub_dispatcher_conn_alive (call->d, call->conn)) {
    call_free (call);
    return FALSE;
  }
  if (result->error != HUB_STORE_OK) {
    hub_dispatcher_reply_store_error (call->conn, call->slot, call->req->id_json, result->error);
    call_free (call);
    return FALSE;
  }
  return TRUE;
}

/* Replies `ok` with @result (taken) and frees @call. */
static void
reply_ok (Call *call, JsonObject *result)
{
  hub_dispatcher_reply_ok (call->conn, call->slot, call->req->id_json, result);
  call_free (call);
}

/* A handler's own error, before the store was asked. */
static void
reply_error (Call *call, HubErrorCode code, const char *message)
{
  hub_dispatcher_reply_error (call->conn, call->slot, call->req->id_json, code, message);
  call_free (call);
}

static const char *
user_of (Call *call)
{
  return hub_connection_get_user (call->conn);
}

/* §12: the letters of @required that the connection's token does not give in
 * @room: the store then asks them of the user's grant there. */
static guint
need_in (Call *call, const char *room, guint required)
{
  return required & ~hub_connection_room_letters (call->conn, room);
}

static JsonObject *
room_result (const HubStoreRoom *room)
{
  JsonObject *result = json_object_new ();

  json_object_set_string_member (result, "room", room->room);
  json_object_set_string_member (result, "name", room->name);
  return result;
}

/* The room's stream epoch, where the reply has a seq (the server's addition
 * to §4 and §6: a client tells a room created again from the one it knew). */
static void
set_epoch (JsonObject *result, gint64 epoch)
{
  if (epoch != 0)
    json_object_set_int_member (result, "epoch", epoch);
}

/* A message the store accepted (publish, direct, multicast, broadcast): counted. */
static JsonObject *
message_accepted (Call *call, const char *member, gint64 value)
{
  JsonObject *result = json_object_new ();

  call->d->messages_in_total++;
  hub_connection_note_message_in (call->conn);
  json_object_set_int_member (result, member, value);
  return result;
}

static void
done_ok (const HubStoreResult *result, gpointer data)
{
  Call *call = data;

  if (answered (call, result))
    reply_ok (call, NULL);
}

/* --- §4 Rooms --------------------------------------------------------------------------------- */

static void
create_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;

  if (answered (call, result))
    reply_ok (call, room_result (&result->room));
}

static void
handle_create (Call *call)
{
  HubStoreCreate args = {
      .user = user_of (call),
      .room = call->req->room,
      .name = call->req->name,
      .now_ms = hub_clock_unix_ms (call->d->clock),
      .need = need_in (call, call->req->room, HUB_PERM_CREATE),
  };

  call->d->store->vtable->create (call->d->store, &args, create_done, call);
}

static void
join_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;
  JsonObject *reply;
  JsonArray *members;

  if (!answered (call, result))
    return;
  /* Every member heard of it: the fan-out budget pays (hub-dispatcher-guard.c). */
  if (result->joined)
    hub_dispatcher_guard_charge (call->d, call->conn, result->n_members);
  reply = room_result (&result->room);
  json_object_set_int_member (reply, "seq", result->room.seq);
  set_epoch (reply, result->room.epoch);
  members = json_array_sized_new (result->n_members);
  for (guint i = 0; i < result->n_members; i++) {
    JsonObject *m = json_object_new ();

    json_object_set_string_member (m, "user", result->members[i].user);
    json_object_set_string_member (m, "status", hub_status_to_string (result->members[i].status));
    json_array_add_object_element (members, m);
  }
  json_object_set_array_member (reply, "members", members);
  reply_ok (call, reply);
}

static void
handle_join (Call *call)
{
  /* §4: every member's connections get it, the joining ones included. */
  g_autoptr (HubFrame) event = hub_encode_presence ("join", call->req->room, user_of (call));
  guint letters = hub_connection_room_letters (call->conn, call->req->room);
  HubStoreJoin args = {
      .user = user_of (call),
      .room = call->req->room,
      .name = call->req->name,
      .now_ms = hub_clock_unix_ms (call->d->clock),
      .event = event,
      /* §12: j, from the token or a member's grant; creating needs c and j. */
      .need = HUB_PERM_JOIN & ~letters,
      .may_create =
          (letters & (HUB_PERM_JOIN | HUB_PERM_CREATE)) == (HUB_PERM_JOIN | HUB_PERM_CREATE),
  };

  /* §12: a valid room token allows the join (creating the room too) whatever
   * the connection token says, and its letters become the membership's grant.
   * Without a secret it is ignored. */
  if (call->req->token != NULL && call->d->config.secret != NULL) {
    g_autoptr (GError) error = NULL;

    if (!hub_dispatcher_verify_room_token (call->d, call->req->token, user_of (call),
                                           call->req->room, &args.grant, &error)) {
      reply_error (call, HUB_ERROR_UNAUTHORIZED, error->message);
      return;
    }
    args.need = 0;
    args.may_create = TRUE;
    args.set_grant = TRUE;
  }
  call->d->store->vtable->join (call->d->store, &args, join_done, call);
}

static void
leave_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;
  JsonObject *reply;

  if (!answered (call, result))
    return;
  reply = json_object_new ();
  json_object_set_string_member (reply, "room", call->req->room);
  reply_ok (call, reply);
}

static void
handle_leave (Call *call)
{
  /* §4: the leaver's connections get this last event of the room too. */
  g_autoptr (HubFrame) event = hub_encode_presence ("leave", call->req->room, user_of (call));
  HubStoreLeave args = {.user = user_of (call), .room = call->req->room, .event = event};

  call->d->store->vtable->leave (call->d->store, &args, leave_done, call);
}

static void
rooms_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;
  JsonObject *reply;
  JsonArray *rooms;

  if (!answered (call, result))
    return;
  rooms = json_array_sized_new (result->n_rooms);
  for (guint i = 0; i < result->n_rooms; i++) {
    JsonObject *r = room_result (&result->rooms[i]);

    json_object_set_int_member (r, "members", result->rooms[i].members);
    json_object_set_int_member (r, "seq", result->rooms[i].seq);
    set_epoch (r, result->rooms[i].epoch);
    json_array_add_object_element (rooms, r);
  }
  reply = json_object_new ();
  json_object_set_array_member (reply, "rooms", rooms);
  reply_ok (call, reply);
}

static void
handle_rooms (Call *call)
{
  HubStoreQuery args = {.user = user_of (call)};

  call->d->store->vtable->rooms (call->d->store, &args, rooms_done, call);
}

static void
room_info_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;
  JsonObject *reply;

  if (!answered (call, result))
    return;
  reply = room_result (&result->room);
  json_object_set_int_member (reply, "created_ts", result->room.created_ts);
  json_object_set_int_member (reply, "members", result->room.members);
  json_object_set_int_member (reply, "messages", result->room.messages);
  json_object_set_int_member (reply, "seq", result->room.seq);
  set_epoch (reply, result->room.epoch);
  reply_ok (call, reply);
}

static void
handle_room_info (Call *call)
{
  HubStoreQuery args = {
      .user = user_of (call),
      .room = call->req->room,
      .need = need_in (call, call->req->room, HUB_PERM_JOIN),
  };

  call->d->store->vtable->room_info (call->d->store, &args, room_info_done, call);
}

static void
who_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;
  const char *viewer;
  JsonObject *reply;
  JsonArray *members;

  if (!answered (call, result))
    return;
  viewer = user_of (call);
  members = json_array_sized_new (result->n_members);
  for (guint i = 0; i < result->n_members; i++) {
    const HubStoreMember *m = &result->members[i];
    JsonObject *o = json_object_new ();

    json_object_set_string_member (o, "user", m->user);
    json_object_set_string_member (o, "status", hub_status_to_string (m->status));
    /* §7: an invisible user shows no devices to others (a user sees its own). */
    json_object_set_int_member (
        o, "devices",
        m->status == HUB_STATUS_OFFLINE && strcmp (viewer, m->user) != 0 ? 0 : m->devices);
    json_array_add_object_element (members, o);
  }
  /* Its cost by its size (hub-dispatcher-guard.c). */
  hub_dispatcher_guard_who (call->d, call->conn, result->n_members);
  reply = json_object_new ();
  json_object_set_array_member (reply, "members", members);
  reply_ok (call, reply);
}

static void
handle_who (Call *call)
{
  HubStoreQuery args = {
      .user = user_of (call),
      .room = call->req->room,
      .need = need_in (call, call->req->room, HUB_PERM_JOIN),
  };

  call->d->store->vtable->who (call->d->store, &args, who_done, call);
}

/* --- §5 Messages ------------------------------------------------------------------------------ */

static void
publish_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;

  if (answered (call, result))
    reply_ok (call, message_accepted (call, "seq", result->seq));
}

static void
handle_publish (Call *call)
{
  HubStorePublish args = {
      .room = call->req->room,
      .from = user_of (call),
      .device = hub_connection_get_device (call->conn),
      .now_ms = hub_clock_unix_ms (call->d->clock),
      .payload = call->req->payload,
      .member_only = TRUE, /* §5: publish needs membership */
      .need = need_in (call, call->req->room, HUB_PERM_PUBLISH),
  };

  call->d->store->vtable->publish (call->d->store, &args, publish_done, call);
}

static void
direct_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;

  if (answered (call, result))
    reply_ok (call, message_accepted (call, "delivered", result->delivered));
}

static void
handle_direct (Call *call)
{
  const char *from = user_of (call);
  g_autoptr (HubFrame) frame = hub_encode_direct (
      from, call->req->to, hub_clock_unix_ms (call->d->clock), call->req->payload);
  /* §5: to @to's connections and the sender's others; to oneself, one's
   * other devices (never offline: the sender is connected). */
  HubStoreDirect args = {
      .from = from,
      .to = call->req->to,
      .except_conn = hub_connection_get_id (call->conn),
      .copy_to_sender = TRUE,
      .frame = frame,
  };

  call->d->store->vtable->direct (call->d->store, &args, direct_done, call);
}

static void
multicast_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;
  JsonObject *reply;
  JsonArray *offline;

  if (!answered (call, result))
    return;
  reply = message_accepted (call, "delivered", result->delivered);
  /* Where the spec leaves room: the listed users that had no connection. */
  offline = json_array_sized_new (result->n_users);
  for (guint i = 0; i < result->n_users; i++)
    json_array_add_string_element (offline, result->users[i]);
  json_object_set_array_member (reply, "offline", offline);
  reply_ok (call, reply);
}

static void
handle_multicast (Call *call)
{
  g_autoptr (HubFrame) frame =
      hub_encode_multicast (user_of (call), hub_clock_unix_ms (call->d->clock), call->req->payload);
  HubStoreMulticast args = {
      .users = (const char *const *)call->req->users->pdata,
      .n_users = call->req->users->len,
      .frame = frame,
  };

  call->d->store->vtable->multicast (call->d->store, &args, multicast_done, call);
}

static void
broadcast_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;

  /* §5: delivered counts the connections on the accepting node. */
  if (answered (call, result))
    reply_ok (call, message_accepted (call, "delivered",
                                      hub_connection_manager_n_authenticated (call->d->conns)));
}

static void
handle_broadcast (Call *call)
{
  g_autoptr (HubFrame) frame = NULL;
  HubStoreSend args = {0};

  if (!hub_connection_is_admin (call->conn)) {
    reply_error (call, HUB_ERROR_FORBIDDEN, "broadcast needs an admin token");
    return;
  }
  frame =
      hub_encode_broadcast (user_of (call), hub_clock_unix_ms (call->d->clock), call->req->payload);
  args.user = user_of (call);
  args.frame = frame;
  call->d->store->vtable->broadcast (call->d->store, &args, broadcast_done, call);
}

static void
handle_typing (Call *call)
{
  g_autoptr (HubFrame) frame = hub_encode_typing (call->req->room, user_of (call));
  HubStoreSend args = {
      .user = user_of (call),
      .room = call->req->room,
      .frame = frame,
      .need = need_in (call, call->req->room, HUB_PERM_PUBLISH),
  };

  call->d->store->vtable->typing (call->d->store, &args, done_ok, call);
}

/* --- §6 History ------------------------------------------------------------------------------- */

static void
history_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;
  g_autoptr (HubFrame) reply = NULL;

  if (!answered (call, result))
    return;
  /* §2: success without an id is silent; failures were answered above. */
  if (call->req->id_json != NULL)
    reply = hub_encode_history_ok (call->req->id_json, result->messages, result->n_messages,
                                   result->complete, result->more);
  hub_connection_reply (call->conn, call->slot, reply);
  call_free (call);
}

static void
handle_history (Call *call)
{
  HubRequest *req = call->req;
  HubStoreHistory args = {
      .user = user_of (call), /* §6: member only */
      .room = req->room,
      .since = req->since,
      .limit = req->has_limit ? (guint)MIN (req->limit, HISTORY_LIMIT_MAX) : HISTORY_LIMIT_DEFAULT,
      /* §6: at most half of max_queue_bytes of messages (one at least), so
       * that a client reading each reply before the next is never closed
       * for asking; `more` says what was left out. */
      .max_bytes = MAX (call->d->config.max_queue_bytes / 2, 1),
      .need = need_in (call, req->room, HUB_PERM_JOIN),
  };

  call->d->store->vtable->history (call->d->store, &args, history_done, call);
}

/* --- §7 Presence ------------------------------------------------------------------------------ */

static void
handle_status (Call *call)
{
  HubStoreStatus args = {.user = user_of (call), .status = call->req->status};

  call->d->store->vtable->status (call->d->store, &args, done_ok, call);
}

static void
subscribe_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;
  JsonObject *statuses, *reply;

  if (!answered (call, result))
    return;
  statuses = json_object_new ();
  for (guint i = 0; i < call->req->users->len; i++)
    json_object_set_string_member (statuses, g_ptr_array_index (call->req->users, i),
                                   hub_status_to_string (result->statuses[i]));
  reply = json_object_new ();
  json_object_set_object_member (reply, "statuses", statuses);
  reply_ok (call, reply);
}

static void
handle_subscribe (Call *call)
{
  GHashTable *subs = hub_connection_get_subscriptions (call->conn);
  GPtrArray *users = call->req->users;
  g_autoptr (GPtrArray) fresh = g_ptr_array_new ();
  HubStoreWatch args = {0};
  guint n_new = 0;

  for (guint i = 0; i < users->len; i++)
    if (!g_hash_table_contains (subs, g_ptr_array_index (users, i)))
      n_new++;
  if (g_hash_table_size (subs) + n_new > HUB_MAX_SUBSCRIPTIONS_PER_CONNECTION) {
    reply_error (call, HUB_ERROR_BAD_REQUEST,
                 "too many subscriptions on this connection (at most 10000)");
    return;
  }
  {
    /* §8: the bound on all of the user's connections (hub-dispatcher-guard.c). */
    g_autofree char *refused = hub_dispatcher_guard_subscribe (call->d, call->conn, n_new);

    if (refused != NULL) {
      reply_error (call, HUB_ERROR_BAD_REQUEST, refused);
      return;
    }
  }
  for (guint i = 0; i < users->len; i++) {
    const char *user = g_ptr_array_index (users, i);

    if (g_hash_table_contains (subs, user))
      continue;
    g_hash_table_add (subs, g_strdup (user));
    /* The node watches a user from its first local watcher on. */
    if (hub_watchers_add (call->d->watchers, call->conn, user))
      g_ptr_array_add (fresh, (gpointer)user);
  }
  args.users = (const char *const *)users->pdata;
  args.n_users = users->len;
  args.watch = (const char *const *)fresh->pdata;
  args.n_watch = fresh->len;
  call->d->store->vtable->subscribe (call->d->store, &args, subscribe_done, call);
}

static void
handle_unsubscribe (Call *call)
{
  g_autoptr (GPtrArray) unwatched = hub_dispatcher_unwatch (call->d, call->conn, call->req->users);
  HubStoreWatch args = {
      .watch = (const char *const *)unwatched->pdata,
      .n_watch = unwatched->len,
  };

  call->d->store->vtable->unwatch (call->d->store, &args, done_ok, call);
}

static void
online_done (const HubStoreResult *result, gpointer data)
{
  Call *call = data;
  JsonObject *reply;
  JsonArray *list;

  if (!answered (call, result))
    return;
  list = json_array_sized_new (result->n_users);
  for (guint i = 0; i < result->n_users; i++)
    json_array_add_string_element (list, result->users[i]);
  reply = json_object_new ();
  json_object_set_array_member (reply, "users", list);
  json_object_set_int_member (reply, "count", result->count);
  reply_ok (call, reply);
}

static void
handle_online (Call *call)
{
  HubRequest *req = call->req;
  HubStoreOnline args = {
      .limit = req->has_limit ? (guint)MIN (req->limit, ONLINE_LIMIT_MAX) : ONLINE_LIMIT_DEFAULT,
  };

  call->d->store->vtable->online (call->d->store, &args, online_done, call);
}

/* --- §8 --------------------------------------------------------------------------------------- */

static void
handle_ping (Call *call)
{
  /* A pong even without id: a client that pings wants to hear back. It
   * needs nothing shared, so no store: it leaves once the replies to the
   * requests before it are out (its reply slot), in both modes. */
  g_autoptr (HubFrame) pong =
      hub_encode_pong (call->req->id_json, hub_clock_unix_ms (call->d->clock));

  hub_connection_reply (call->conn, call->slot, pong);
  call_free (call);
}

/* --- §12 Token lifetime -------------------------------------------------------------------- */

static void
handle_refresh (Call *call)
{
  HubDispatcher *d = call->d;
  g_autoptr (HubAuthClaims) claims = NULL;
  g_autoptr (GError) error = NULL;
  JsonObject *reply;
  gint64 expires_ms;

  /* Without a secret: ok, and nothing changes. */
  if (d->config.secret == NULL) {
    reply_ok (call, NULL);
    return;
  }
  claims = hub_dispatcher_verify_token (d, call->req->token, &error);
  if (claims == NULL) {
    reply_error (call, HUB_ERROR_UNAUTHORIZED, error->message);
    return;
  }
  if (strcmp (claims->sub, user_of (call)) != 0) {
    reply_error (call, HUB_ERROR_UNAUTHORIZED, "the token is for another user");
    return;
  }
  /* It replaces the old token for everything: its rooms, admin and deadline. */
  expires_ms = hub_auth_claims_expires_ms (claims);
  hub_connection_set_token_rights (call->conn, claims->admin, claims->rooms, expires_ms);
  hub_dispatcher_set_deadline (d, call->conn);
  reply = json_object_new ();
  if (expires_ms > 0)
    json_object_set_int_member (reply, "expires_ts", expires_ms);
  reply_ok (call, reply);
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
    [HUB_REQ_REFRESH] = handle_refresh,
};

void
hub_dispatcher_execute (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  Handler handler = req->type < HUB_REQ_N_TYPES ? handlers[req->type] : NULL;

  if (handler == NULL) {
    hub_dispatcher_reply_error_now (conn, req->id_json, HUB_ERROR_INTERNAL, "unhandled request");
    hub_request_free (req);
    return;
  }
  handler (call_new (d, conn, req));
}
