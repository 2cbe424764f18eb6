/* hub-broker-cluster.c: the dispatcher's cluster mode (PROTOCOL.md §11). The
 * shared state lives in Redis; each request runs one Lua script
 * (hub-broker-scripts.c) and is answered when Redis answers, with the
 * connection kept alive by a reference meanwhile. Deliveries come back over
 * this node's pub/sub channel as ready frames, handed to the broadcaster
 * as they are. The in-memory mode never enters this file. */
#include "hub-broker-cluster.h"

#include <string.h>

#include "hub-broker-redis.h"
#include "hub-dispatcher-private.h"

#define HISTORY_LIMIT_DEFAULT 50
#define HISTORY_LIMIT_MAX     100
#define ONLINE_LIMIT_DEFAULT  100
#define ONLINE_LIMIT_MAX      1000
#define UNAVAILABLE           "cluster broker unavailable"

/* A frame that arrived for a connection whose hello is still in Redis: kept
 * until its welcome and replay are out. */
typedef struct {
  HubFrame *frame; /* (owned) */
  char *room;      /* (owned) (nullable) room of a `message` */
  gint64 seq;
} Held;

/* Per connection, from its hello on. */
typedef struct {
  char *user;   /* (owned) (nullable) set when the hello went to Redis */
  char *device; /* (owned) */
  gboolean admin;
  gboolean hello_pending;
  GPtrArray *held;   /* (owned) Held* while hello_pending */
  GPtrArray *queued; /* (owned) GBytes*: requests sent before the welcome */
} ConnState;

struct _HubCluster {
  HubRedis *redis;           /* (owned) */
  GHashTable *states;        /* (owned) HubConnection* (unowned) → ConnState* (owned) */
  GHashTable *pending_hello; /* (owned) user → GPtrArray of HubConnection* (unowned) */
  /* What the last liveness refresh read from Redis. */
  guint cluster_rooms;
  guint cluster_online;
  guint cluster_nodes;
  char *nodes_json; /* (owned) "\"name\":{…},…" */
  guint64 resyncs;
};

static void
held_free (gpointer p)
{
  Held *h = p;

  hub_frame_unref (h->frame);
  g_free (h->room);
  g_free (h);
}

static void
conn_state_free (gpointer p)
{
  ConnState *s = p;

  g_free (s->user);
  g_free (s->device);
  g_clear_pointer (&s->held, g_ptr_array_unref);
  g_clear_pointer (&s->queued, g_ptr_array_unref);
  g_free (s);
}

static ConnState *
conn_state (HubDispatcher *d, HubConnection *conn, gboolean create)
{
  ConnState *s = g_hash_table_lookup (d->cluster->states, conn);

  if (s == NULL && create) {
    s = g_new0 (ConnState, 1);
    g_hash_table_insert (d->cluster->states, conn, s);
  }
  return s;
}

/* TRUE while @conn is still one of this node's open connections. */
static gboolean
conn_alive (HubDispatcher *d, HubConnection *conn)
{
  return hub_connection_manager_lookup (d->conns, hub_connection_get_id (conn)) == conn &&
         !hub_connection_is_closing (conn);
}

/* --- Deliveries from pub/sub --------------------------------------------------------- */

static void
deliver_to_user (HubDispatcher *d, const char *user, HubFrame *frame, const char *except,
                 const char *room, gint64 seq)
{
  GPtrArray *conns = hub_connection_manager_get_user_connections (d->conns, user);
  GPtrArray *pending = g_hash_table_lookup (d->cluster->pending_hello, user);

  for (guint i = 0; conns != NULL && i < conns->len; i++) {
    HubConnection *conn = g_ptr_array_index (conns, i);

    if (except == NULL || strcmp (except, hub_connection_get_id (conn)) != 0)
      hub_broadcaster_to_connection (d->broadcaster, conn, frame);
  }
  for (guint i = 0; pending != NULL && i < pending->len; i++) {
    HubConnection *conn = g_ptr_array_index (pending, i);
    ConnState *s = conn_state (d, conn, FALSE);
    Held *h;

    if (s == NULL || !s->hello_pending ||
        (except != NULL && strcmp (except, hub_connection_get_id (conn)) == 0))
      continue;
    h = g_new0 (Held, 1);
    h->frame = hub_frame_ref (frame);
    h->room = g_strdup (room);
    h->seq = seq;
    g_ptr_array_add (s->held, h);
  }
}

/* "<kind> <room> <seq> <except conn> <user,user…>\n<frame>" (hub-broker-scripts.c). */
static void
on_message (gpointer user_data, gboolean broadcast, const char *data, gsize len)
{
  HubDispatcher *d = user_data;
  const char *nl;
  g_autofree char *header = NULL;
  g_auto (GStrv) f = NULL;
  g_auto (GStrv) users = NULL;
  g_autoptr (HubFrame) frame = NULL;
  gboolean room_message;

  if (broadcast) {
    frame = hub_frame_new (data, len, HUB_FRAME_FLAG_NONE);
    hub_broadcaster_to_all (d->broadcaster, frame);
    return;
  }
  nl = memchr (data, '\n', len);
  if (nl == NULL)
    return;
  header = g_strndup (data, (gsize)(nl - data));
  f = g_strsplit (header, " ", 5);
  if (g_strv_length (f) != 5 || f[0][0] == '\0')
    return;
  frame = hub_frame_new (nl + 1, len - (gsize)(nl + 1 - data),
                         f[0][0] == 'e' || f[0][0] == 's' ? HUB_FRAME_FLAG_EPHEMERAL
                                                          : HUB_FRAME_FLAG_NONE);
  if (f[0][0] == 's') {
    GHashTable *subscribers = hub_presence_get_subscribers (d->presence, f[4]);

    if (subscribers != NULL)
      hub_broadcaster_to_set (d->broadcaster, subscribers, frame);
    return;
  }
  room_message = f[0][0] == 'm';
  users = g_strsplit (f[4], ",", -1);
  for (guint i = 0; users[i] != NULL; i++)
    deliver_to_user (d, users[i], frame, strcmp (f[3], "-") == 0 ? NULL : f[3],
                     room_message ? f[1] : NULL,
                     room_message ? g_ascii_strtoll (f[2], NULL, 10) : 0);
}

/* --- Calls ------------------------------------------------------------------------------ */

typedef struct {
  HubDispatcher *d;
  HubConnection *conn; /* (owned) */
  HubRequest *req;     /* (owned) */
} Call;

static Call *
call_new (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  Call *call = g_new0 (Call, 1);

  call->d = d;
  call->conn = hub_connection_ref (conn);
  call->req = req;
  return call;
}

static void
call_free (Call *call)
{
  hub_connection_unref (call->conn);
  hub_request_free (call->req);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

static const char *
error_text (HubErrorCode code)
{
  switch (code) {
    case HUB_ERROR_ROOM_NOT_FOUND:
      return "no such room";
    case HUB_ERROR_ROOM_EXISTS:
      return "the room already exists";
    case HUB_ERROR_NOT_MEMBER:
      return "you are not a member of this room";
    case HUB_ERROR_USER_OFFLINE:
      return "the user has no connection";
    case HUB_ERROR_TOO_MANY_ROOMS:
      return "you are a member of too many rooms";
    default:
      return UNAVAILABLE;
  }
}

/* The reply's status: HUB_ERROR_NONE for {"ok", …}; HUB_ERROR_INTERNAL when
 * Redis did not answer (or answered something unexpected). */
static HubErrorCode
reply_code (redisReply *reply)
{
  HubErrorCode code;

  if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
      reply->element[0]->type != REDIS_REPLY_STRING)
    return HUB_ERROR_INTERNAL;
  if (strcmp (reply->element[0]->str, "ok") == 0)
    return HUB_ERROR_NONE;
  code = hub_error_code_from_string (reply->element[0]->str);
  return code == HUB_ERROR_NONE ? HUB_ERROR_INTERNAL : code;
}

/* FALSE after answering the error (or when there is no one left to answer). */
static gboolean
call_check (Call *call, redisReply *reply)
{
  HubErrorCode code;

  if (!conn_alive (call->d, call->conn))
    return FALSE;
  code = reply_code (reply);
  if (code == HUB_ERROR_NONE)
    return TRUE;
  hub_dispatcher_reply_error (call->conn, call->req->id_json, code, error_text (code));
  return FALSE;
}

static redisReply *
elem (redisReply *reply, gsize i)
{
  return reply != NULL && reply->type == REDIS_REPLY_ARRAY && i < reply->elements
             ? reply->element[i]
             : NULL;
}

static const char *
elem_str (redisReply *reply, gsize i)
{
  redisReply *e = elem (reply, i);

  return e != NULL && e->type == REDIS_REPLY_STRING ? e->str : "";
}

static gint64
elem_int (redisReply *reply, gsize i)
{
  redisReply *e = elem (reply, i);

  if (e == NULL)
    return 0;
  if (e->type == REDIS_REPLY_INTEGER)
    return e->integer;
  if (e->type == REDIS_REPLY_STRING)
    return g_ascii_strtoll (e->str, NULL, 10);
  return 0;
}

static GPtrArray *
args_new (void)
{
  return g_ptr_array_new_with_free_func (g_free);
}

static void
args_add (GPtrArray *args, const char *s)
{
  g_ptr_array_add (args, g_strdup (s));
}

static void
args_add_int (GPtrArray *args, gint64 v)
{
  g_ptr_array_add (args, g_strdup_printf ("%" G_GINT64_FORMAT, v));
}

static void
args_add_frame (GPtrArray *args, HubFrame *frame)
{
  args_add (args, hub_frame_payload (frame, NULL));
}

static void
run (Call *call, HubScript script, GPtrArray *args, HubRedisReplyFunc done)
{
  hub_redis_eval (call->d->cluster->redis, script, args, done, call);
}

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
  g_autoptr (Call) call = data;

  if (call_check (call, reply))
    hub_dispatcher_reply_ok (call->conn, call->req->id_json,
                             room_result (call->req->room, elem_str (reply, 1)));
}

static void
do_create (Call *call)
{
  g_autoptr (GPtrArray) args = args_new ();
  HubRequest *req = call->req;

  args_add (args, req->room);
  args_add (args, req->name != NULL ? req->name : req->room);
  args_add_int (args, hub_clock_unix_ms (call->d->clock));
  run (call, HUB_SCRIPT_CREATE, args, create_done);
}

static void
join_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;
  JsonObject *result;
  JsonArray *members;

  if (!call_check (call, reply))
    return;
  result = room_result (call->req->room, elem_str (reply, 1));
  json_object_set_int_member (result, "seq", elem_int (reply, 2));
  members = json_array_new ();
  for (gsize i = 4; i + 1 < reply->elements; i += 2) {
    JsonObject *m = json_object_new ();

    json_object_set_string_member (m, "user", elem_str (reply, i));
    json_object_set_string_member (m, "status", elem_str (reply, i + 1));
    json_array_add_object_element (members, m);
  }
  json_object_set_array_member (result, "members", members);
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_join (Call *call)
{
  HubDispatcher *d = call->d;
  const char *user = hub_connection_get_user (call->conn);
  g_autoptr (GPtrArray) args = args_new ();
  g_autoptr (HubFrame) event = hub_encode_presence ("join", call->req->room, user);

  args_add (args, user);
  args_add (args, call->req->room);
  args_add (args, call->req->name != NULL ? call->req->name : call->req->room);
  args_add_int (args, hub_clock_unix_ms (d->clock));
  args_add (args, d->config.auto_create ? "1" : "0");
  args_add_int (args, d->config.max_rooms_per_user);
  args_add_frame (args, event);
  run (call, HUB_SCRIPT_JOIN, args, join_done);
}

static void
leave_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;
  JsonObject *result;

  if (!call_check (call, reply))
    return;
  result = json_object_new ();
  json_object_set_string_member (result, "room", call->req->room);
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_leave (Call *call)
{
  const char *user = hub_connection_get_user (call->conn);
  g_autoptr (GPtrArray) args = args_new ();
  g_autoptr (HubFrame) event = hub_encode_presence ("leave", call->req->room, user);

  args_add (args, user);
  args_add (args, call->req->room);
  args_add_frame (args, event);
  run (call, HUB_SCRIPT_LEAVE, args, leave_done);
}

static void
rooms_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;
  JsonObject *result;
  JsonArray *rooms;

  if (!call_check (call, reply))
    return;
  rooms = json_array_new ();
  for (gsize i = 1; i + 3 < reply->elements; i += 4) {
    JsonObject *r = room_result (elem_str (reply, i), elem_str (reply, i + 1));
    json_object_set_int_member (r, "members", elem_int (reply, i + 2));
    json_object_set_int_member (r, "seq", elem_int (reply, i + 3));
    json_array_add_object_element (rooms, r);
  }
  result = json_object_new ();
  json_object_set_array_member (result, "rooms", rooms);
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_rooms (Call *call)
{
  g_autoptr (GPtrArray) args = args_new ();

  args_add (args, hub_connection_get_user (call->conn));
  run (call, HUB_SCRIPT_ROOMS, args, rooms_done);
}

static void
info_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;
  JsonObject *result;

  if (!call_check (call, reply))
    return;
  result = room_result (call->req->room, elem_str (reply, 1));
  json_object_set_int_member (result, "created_ts", elem_int (reply, 2));
  json_object_set_int_member (result, "members", elem_int (reply, 3));
  json_object_set_int_member (result, "messages", elem_int (reply, 4));
  json_object_set_int_member (result, "seq", elem_int (reply, 5));
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_room_info (Call *call)
{
  g_autoptr (GPtrArray) args = args_new ();

  args_add (args, call->req->room);
  run (call, HUB_SCRIPT_INFO, args, info_done);
}

static void
who_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;
  JsonObject *result;
  JsonArray *members;

  if (!call_check (call, reply))
    return;
  members = json_array_new ();
  for (gsize i = 1; i + 2 < reply->elements; i += 3) {
    JsonObject *m = json_object_new ();

    json_object_set_string_member (m, "user", elem_str (reply, i));
    json_object_set_string_member (m, "status", elem_str (reply, i + 1));
    json_object_set_int_member (m, "devices", elem_int (reply, i + 2));
    json_array_add_object_element (members, m);
  }
  result = json_object_new ();
  json_object_set_array_member (result, "members", members);
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_who (Call *call)
{
  g_autoptr (GPtrArray) args = args_new ();

  args_add (args, hub_connection_get_user (call->conn));
  args_add (args, call->req->room);
  run (call, HUB_SCRIPT_WHO, args, who_done);
}

/* --- §5 Messages --------------------------------------------------------------------------- */

/* The message frame with seq 0, split around that 0: the script puts the seq
 * it takes between the halves, so the frame is encoded once, here. */
static void
args_add_message_halves (GPtrArray *args, HubFrame *frame)
{
  const char *text = hub_frame_payload (frame, NULL);
  /* The first "seq" member: only "type" and "room" (a name, no quotes) precede it. */
  const char *at = strstr (text, "\"seq\":0");

  g_assert (at != NULL);
  at += strlen ("\"seq\":");
  g_ptr_array_add (args, g_strndup (text, (gsize)(at - text)));
  args_add (args, at + 1);
}

static void
publish_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;
  JsonObject *result;

  if (!call_check (call, reply))
    return;
  call->d->messages_in_total++;
  hub_connection_note_message_in (call->conn);
  result = json_object_new ();
  json_object_set_int_member (result, "seq", elem_int (reply, 1));
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_publish (Call *call)
{
  HubDispatcher *d = call->d;
  g_autoptr (GPtrArray) args = args_new ();
  g_autoptr (HubFrame) frame = hub_encode_message (
      call->req->room, 0, hub_connection_get_user (call->conn),
      hub_connection_get_device (call->conn), hub_clock_unix_ms (d->clock), call->req->payload);

  args_add (args, hub_connection_get_user (call->conn));
  args_add (args, call->req->room);
  args_add_message_halves (args, frame);
  args_add_int (args, d->config.history_size);
  run (call, HUB_SCRIPT_PUBLISH, args, publish_done);
}

static void
typing_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;

  if (call_check (call, reply))
    hub_dispatcher_reply_ok (call->conn, call->req->id_json, NULL);
}

static void
do_typing (Call *call)
{
  const char *user = hub_connection_get_user (call->conn);
  g_autoptr (GPtrArray) args = args_new ();
  g_autoptr (HubFrame) frame = hub_encode_typing (call->req->room, user);

  args_add (args, user);
  args_add (args, call->req->room);
  args_add_frame (args, frame);
  run (call, HUB_SCRIPT_TYPING, args, typing_done);
}

static void
delivered_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;
  JsonObject *result;

  if (!call_check (call, reply))
    return;
  call->d->messages_in_total++;
  hub_connection_note_message_in (call->conn);
  result = json_object_new ();
  json_object_set_int_member (result, "delivered", elem_int (reply, 1));
  if (call->req->type == HUB_REQ_MULTICAST) {
    redisReply *offline = elem (reply, 2);
    JsonArray *list = json_array_new ();

    for (gsize i = 0;
         offline != NULL && offline->type == REDIS_REPLY_ARRAY && i < offline->elements; i++)
      json_array_add_string_element (list, elem_str (offline, i));
    json_object_set_array_member (result, "offline", list);
  }
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_direct (Call *call)
{
  const char *from = hub_connection_get_user (call->conn);
  g_autoptr (GPtrArray) args = args_new ();
  g_autoptr (HubFrame) frame = hub_encode_direct (
      from, call->req->to, hub_clock_unix_ms (call->d->clock), call->req->payload);

  args_add (args, from);
  args_add (args, call->req->to);
  args_add (args, hub_connection_get_id (call->conn));
  args_add_frame (args, frame);
  run (call, HUB_SCRIPT_DIRECT, args, delivered_done);
}

static void
do_multicast (Call *call)
{
  g_autoptr (GPtrArray) args = args_new ();
  g_autoptr (HubFrame) frame = hub_encode_multicast (
      hub_connection_get_user (call->conn), hub_clock_unix_ms (call->d->clock), call->req->payload);

  args_add_frame (args, frame);
  for (guint i = 0; i < call->req->users->len; i++)
    args_add (args, g_ptr_array_index (call->req->users, i));
  run (call, HUB_SCRIPT_MULTICAST, args, delivered_done);
}

static void
broadcast_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;
  JsonObject *result;

  if (!conn_alive (call->d, call->conn))
    return;
  if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
    hub_dispatcher_reply_error (call->conn, call->req->id_json, HUB_ERROR_INTERNAL, UNAVAILABLE);
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
do_broadcast (Call *call)
{
  HubDispatcher *d = call->d;
  g_autoptr (HubFrame) frame = NULL;
  g_autofree char *channel = NULL;
  const char *argv[3];

  if (!hub_connection_is_admin (call->conn)) {
    hub_dispatcher_reply_error (call->conn, call->req->id_json, HUB_ERROR_FORBIDDEN,
                                "broadcast needs an admin token");
    call_free (call);
    return;
  }
  frame = hub_encode_broadcast (hub_connection_get_user (call->conn), hub_clock_unix_ms (d->clock),
                                call->req->payload);
  channel = g_strdup_printf ("%sch:all", hub_redis_prefix (d->cluster->redis));
  argv[0] = "PUBLISH";
  argv[1] = channel;
  argv[2] = hub_frame_payload (frame, NULL);
  hub_redis_command (d->cluster->redis, argv, 3, broadcast_done, call);
}

/* --- §6 History ---------------------------------------------------------------------------- */

static void
history_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;
  g_autoptr (GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify)hub_frame_unref);
  g_autoptr (HubFrame) out = NULL;

  if (!call_check (call, reply))
    return;
  for (gsize i = 2; i < reply->elements; i++) {
    redisReply *e = reply->element[i];

    if (e->type == REDIS_REPLY_STRING)
      g_ptr_array_add (frames, hub_frame_new (e->str, e->len, HUB_FRAME_FLAG_NONE));
  }
  out = hub_encode_history_ok (call->req->id_json, (HubFrame *const *)frames->pdata, frames->len,
                               elem_int (reply, 1) != 0);
  hub_dispatcher_send (call->conn, out);
}

static void
do_history (Call *call)
{
  g_autoptr (GPtrArray) args = args_new ();
  HubRequest *req = call->req;
  gint64 limit = req->has_limit ? MIN (req->limit, HISTORY_LIMIT_MAX) : HISTORY_LIMIT_DEFAULT;

  args_add (args, hub_connection_get_user (call->conn));
  args_add (args, req->room);
  args_add_int (args, req->since);
  args_add_int (args, limit);
  run (call, HUB_SCRIPT_HISTORY, args, history_done);
}

/* --- §7 Presence ---------------------------------------------------------------------------- */

static void
ok_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;

  if (call_check (call, reply))
    hub_dispatcher_reply_ok (call->conn, call->req->id_json, NULL);
}

static void
do_status (Call *call)
{
  g_autoptr (GPtrArray) args = args_new ();

  args_add (args, hub_connection_get_user (call->conn));
  args_add (args, hub_status_to_string (call->req->status));
  run (call, HUB_SCRIPT_STATUS, args, ok_done);
}

static void
subscribe_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;
  JsonObject *statuses, *result;

  if (!call_check (call, reply))
    return;
  statuses = json_object_new ();
  for (guint i = 0; i < call->req->users->len; i++)
    json_object_set_string_member (statuses, g_ptr_array_index (call->req->users, i),
                                   elem_str (reply, i + 1));
  result = json_object_new ();
  json_object_set_object_member (result, "statuses", statuses);
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_subscribe (Call *call)
{
  HubDispatcher *d = call->d;
  GHashTable *subs = hub_connection_get_subscriptions (call->conn);
  g_autoptr (GPtrArray) fresh = args_new ();
  g_autoptr (GPtrArray) args = args_new ();
  guint n_new = 0;

  for (guint i = 0; i < call->req->users->len; i++)
    if (!g_hash_table_contains (subs, g_ptr_array_index (call->req->users, i)))
      n_new++;
  if (g_hash_table_size (subs) + n_new > HUB_MAX_SUBSCRIPTIONS_PER_CONNECTION) {
    hub_dispatcher_reply_error (call->conn, call->req->id_json, HUB_ERROR_BAD_REQUEST,
                                "too many subscriptions on this connection (at most 10000)");
    call_free (call);
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
      args_add (fresh, user);
  }
  args_add_int (args, fresh->len);
  for (guint i = 0; i < fresh->len; i++)
    args_add (args, g_ptr_array_index (fresh, i));
  for (guint i = 0; i < call->req->users->len; i++)
    args_add (args, g_ptr_array_index (call->req->users, i));
  run (call, HUB_SCRIPT_SUBSCRIBE, args, subscribe_done);
}

/* Drops @conn's subscriptions to @users (all of them when NULL) and returns
 * the users this node no longer watches. (transfer full) */
static GPtrArray *
unsubscribe_local (HubDispatcher *d, HubConnection *conn, GPtrArray *users)
{
  GHashTable *subs = hub_connection_get_subscriptions (conn);
  g_autoptr (GPtrArray) list = args_new ();
  GPtrArray *unwatched = args_new ();

  if (users != NULL) {
    for (guint i = 0; i < users->len; i++)
      if (g_hash_table_contains (subs, g_ptr_array_index (users, i)))
        args_add (list, g_ptr_array_index (users, i));
  } else {
    GHashTableIter iter;
    gpointer user;

    g_hash_table_iter_init (&iter, subs);
    while (g_hash_table_iter_next (&iter, &user, NULL))
      args_add (list, user);
  }
  for (guint i = 0; i < list->len; i++) {
    const char *user = g_ptr_array_index (list, i);
    GHashTable *watchers;

    hub_presence_unsubscribe (d->presence, conn, user);
    g_hash_table_remove (subs, user);
    watchers = hub_presence_get_subscribers (d->presence, user);
    if (watchers == NULL || g_hash_table_size (watchers) == 0)
      args_add (unwatched, user);
  }
  return unwatched;
}

static void
do_unsubscribe (Call *call)
{
  g_autoptr (GPtrArray) args = unsubscribe_local (call->d, call->conn, call->req->users);

  run (call, HUB_SCRIPT_UNWATCH, args, ok_done);
}

static void
online_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;
  redisReply *users;
  JsonObject *result;
  JsonArray *list;

  if (!call_check (call, reply))
    return;
  users = elem (reply, 2);
  list = json_array_new ();
  for (gsize i = 0; users != NULL && users->type == REDIS_REPLY_ARRAY && i < users->elements; i++)
    json_array_add_string_element (list, elem_str (users, i));
  result = json_object_new ();
  json_object_set_array_member (result, "users", list);
  json_object_set_int_member (result, "count", elem_int (reply, 1));
  hub_dispatcher_reply_ok (call->conn, call->req->id_json, result);
}

static void
do_online (Call *call)
{
  g_autoptr (GPtrArray) args = args_new ();
  HubRequest *req = call->req;

  args_add_int (args, req->has_limit ? MIN (req->limit, ONLINE_LIMIT_MAX) : ONLINE_LIMIT_DEFAULT);
  run (call, HUB_SCRIPT_ONLINE, args, online_done);
}

typedef void (*ClusterHandler) (Call *call);

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

void
hub_cluster_execute (HubDispatcher *d, HubConnection *conn, HubRequest *req)
{
  ClusterHandler handler = req->type < HUB_REQ_N_TYPES ? handlers[req->type] : NULL;

  if (handler == NULL) {
    /* ping: answered here, nothing shared. */
    hub_dispatcher_execute (d, conn, req);
    hub_request_free (req);
    return;
  }
  if (!hub_redis_is_up (d->cluster->redis)) {
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_INTERNAL, UNAVAILABLE);
    hub_request_free (req);
    return;
  }
  if (req->type == HUB_REQ_HISTORY && req->id_json == NULL) {
    /* A history without id has no one to answer (as in memory). */
    hub_request_free (req);
    return;
  }
  handler (call_new (d, conn, req));
}

/* --- Hello, resume, close --------------------------------------------------------------------- */

gboolean
hub_cluster_hello_pending (HubDispatcher *d, HubConnection *conn)
{
  ConnState *s = conn_state (d, conn, FALSE);

  return s != NULL && s->hello_pending;
}

void
hub_cluster_queue_request (HubDispatcher *d, HubConnection *conn, const char *data, gsize len)
{
  ConnState *s = conn_state (d, conn, FALSE);

  g_ptr_array_add (s->queued, g_bytes_new (data, len));
}

static void
pending_remove (HubDispatcher *d, const char *user, HubConnection *conn)
{
  GPtrArray *pending = g_hash_table_lookup (d->cluster->pending_hello, user);

  if (pending == NULL)
    return;
  g_ptr_array_remove (pending, conn);
  if (pending->len == 0)
    g_hash_table_remove (d->cluster->pending_hello, user);
}

/* The requests that came while the hello was in Redis, in order. */
static void
run_queued (HubDispatcher *d, HubConnection *conn, GPtrArray *queued)
{
  for (guint i = 0; queued != NULL && i < queued->len; i++) {
    gsize len;
    const char *bytes = g_bytes_get_data (g_ptr_array_index (queued, i), &len);

    if (!conn_alive (d, conn))
      break;
    hub_dispatcher_receive_decoded (d, conn, bytes, len);
  }
}

static void
hello_done (redisReply *reply, gpointer data)
{
  g_autoptr (Call) call = data;
  HubDispatcher *d = call->d;
  HubConnection *conn = call->conn;
  ConnState *s;
  redisReply *rooms, *resumed;
  g_autoptr (GPtrArray) room_ids = g_ptr_array_new ();
  g_autoptr (GHashTable) replayed = NULL;
  g_autoptr (GPtrArray) held = NULL;
  g_autoptr (GPtrArray) queued = NULL;
  g_autoptr (HubFrame) frame = NULL;
  HubWelcome welcome = {0};

  if (!conn_alive (d, conn))
    return;
  s = conn_state (d, conn, FALSE);
  if (s == NULL || !s->hello_pending)
    return;
  s->hello_pending = FALSE;
  pending_remove (d, s->user, conn);
  held = g_steal_pointer (&s->held);
  queued = g_steal_pointer (&s->queued);
  if (reply_code (reply) != HUB_ERROR_NONE) {
    /* Not past hello: the client may retry (§3). What it sent meanwhile is
     * answered (not_authenticated), not dropped. */
    g_clear_pointer (&s->user, g_free);
    hub_dispatcher_reply_error (conn, call->req->id_json, HUB_ERROR_INTERNAL, UNAVAILABLE);
    run_queued (d, conn, queued);
    return;
  }

  hub_clock_cancel (d->clock, hub_connection_get_hello_timer (conn));
  hub_connection_set_hello_timer (conn, 0);
  hub_connection_authenticate (conn, s->user, s->device, s->admin);
  hub_connection_manager_bind_user (d->conns, conn);

  rooms = elem (reply, 1);
  for (gsize i = 0; rooms != NULL && rooms->type == REDIS_REPLY_ARRAY && i < rooms->elements; i++)
    g_ptr_array_add (room_ids, (gpointer)elem_str (rooms, i));
  g_ptr_array_add (room_ids, NULL);
  welcome.conn = hub_connection_get_id (conn);
  welcome.user = s->user;
  welcome.device = s->device;
  welcome.node = d->config.node;
  welcome.server = "hub-server " HUB_VERSION;
  welcome.heartbeat_s = (gint)d->config.heartbeat_s;
  welcome.max_message_bytes = (gint64)d->config.max_message_bytes;
  welcome.rooms = (const char *const *)room_ids->pdata;
  welcome.n_rooms = room_ids->len - 1;
  frame = hub_encode_welcome (call->req->id_json, &welcome);
  hub_dispatcher_send (conn, frame);

  /* §6: the missed messages, then `resumed`, per room; what arrived live
   * meanwhile follows, without what the replay already sent. */
  replayed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  resumed = elem (reply, 2);
  for (gsize i = 0; resumed != NULL && resumed->type == REDIS_REPLY_ARRAY && i < resumed->elements;
       i++) {
    redisReply *entry = resumed->element[i];
    g_autoptr (HubFrame) done = NULL;
    gint64 to = elem_int (entry, 2);

    for (gsize j = 4; j < entry->elements; j++) {
      g_autoptr (HubFrame) missed =
          hub_frame_new (entry->element[j]->str, entry->element[j]->len, HUB_FRAME_FLAG_NONE);

      hub_broadcaster_to_connection (d->broadcaster, conn, missed);
    }
    done =
        hub_encode_resumed (elem_str (entry, 0), elem_int (entry, 1), to, elem_int (entry, 3) != 0);
    hub_dispatcher_send (conn, done);
    {
      gint64 *last = g_new (gint64, 1);

      *last = to;
      g_hash_table_insert (replayed, g_strdup (elem_str (entry, 0)), last);
    }
  }
  for (guint i = 0; held != NULL && i < held->len; i++) {
    Held *h = g_ptr_array_index (held, i);
    gint64 *to = h->room != NULL ? g_hash_table_lookup (replayed, h->room) : NULL;

    if (to == NULL || h->seq > *to)
      hub_broadcaster_to_connection (d->broadcaster, conn, h->frame);
  }
  run_queued (d, conn, queued);
}

void
hub_cluster_hello (HubDispatcher *d, HubConnection *conn, HubRequest *req, const char *user,
                   const char *device, gboolean admin)
{
  ConnState *s = conn_state (d, conn, TRUE);
  g_autoptr (GPtrArray) args = args_new ();
  g_autoptr (GPtrArray) rooms = g_ptr_array_new ();
  GPtrArray *pending;

  if (!hub_redis_is_up (d->cluster->redis)) {
    hub_dispatcher_reply_error (conn, req->id_json, HUB_ERROR_INTERNAL, UNAVAILABLE);
    hub_request_free (req);
    return;
  }
  g_free (s->user);
  g_free (s->device);
  s->user = g_strdup (user);
  s->device = g_strdup (device);
  s->admin = admin;
  s->hello_pending = TRUE;
  s->held = g_ptr_array_new_with_free_func (held_free);
  s->queued = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  pending = g_hash_table_lookup (d->cluster->pending_hello, user);
  if (pending == NULL) {
    pending = g_ptr_array_new ();
    g_hash_table_insert (d->cluster->pending_hello, g_strdup (user), pending);
  }
  g_ptr_array_add (pending, conn);

  args_add (args, user);
  args_add (args, hub_connection_get_id (conn));
  if (req->resume != NULL) {
    GHashTableIter iter;
    gpointer room;

    g_hash_table_iter_init (&iter, req->resume);
    while (g_hash_table_iter_next (&iter, &room, NULL))
      g_ptr_array_add (rooms, room);
    g_ptr_array_sort (rooms, (GCompareFunc)hub_cluster_compare_strings);
    for (guint i = 0; i < rooms->len; i++) {
      args_add (args, g_ptr_array_index (rooms, i));
      args_add_int (args, *(gint64 *)g_hash_table_lookup (req->resume, rooms->pdata[i]));
    }
  }
  hub_redis_eval (d->cluster->redis, HUB_SCRIPT_HELLO, args, hello_done, call_new (d, conn, req));
}

static void
ignore_reply (redisReply *reply, gpointer data)
{
}

void
hub_cluster_connection_closed (HubDispatcher *d, HubConnection *conn)
{
  ConnState *s = conn_state (d, conn, FALSE);
  g_autoptr (GPtrArray) args = NULL;
  g_autoptr (GPtrArray) unwatched = unsubscribe_local (d, conn, NULL);

  if (s == NULL || s->user == NULL) {
    if (s != NULL)
      g_hash_table_remove (d->cluster->states, conn);
    return;
  }
  if (s->hello_pending)
    pending_remove (d, s->user, conn);
  args = args_new ();
  args_add (args, s->user);
  args_add (args, hub_connection_get_id (conn));
  for (guint i = 0; i < unwatched->len; i++)
    args_add (args, g_ptr_array_index (unwatched, i));
  /* When Redis is down this is lost; the resync after reconnecting drops the
   * connections this node no longer has. */
  hub_redis_eval (d->cluster->redis, HUB_SCRIPT_BYE, args, ignore_reply, NULL);
  g_hash_table_remove (d->cluster->states, conn);
}

/* --- Liveness, resync, figures ------------------------------------------------------------------
 */

static guint
ttl_ms (HubDispatcher *d)
{
  /* Refreshed every heartbeat/4; a dead node is noticed by the next refresh
   * of another node after this: within 3 × heartbeat in all (§11). */
  return MAX (d->config.heartbeat_s, 1u) * 2000;
}

typedef struct {
  GPtrArray *pairs;    /* conn id, user, … */
  GHashTable *watched; /* set of users (unowned) */
} Collect;

static void
collect_one (HubConnection *conn, gpointer user_data)
{
  Collect *c = user_data;
  GHashTableIter iter;
  gpointer user;

  args_add (c->pairs, hub_connection_get_id (conn));
  args_add (c->pairs, hub_connection_get_user (conn));
  g_hash_table_iter_init (&iter, hub_connection_get_subscriptions (conn));
  while (g_hash_table_iter_next (&iter, &user, NULL))
    g_hash_table_add (c->watched, user);
}

static void
resync_done (redisReply *reply, gpointer data)
{
  HubDispatcher *d = data;

  if (reply_code (reply) != HUB_ERROR_NONE)
    return;
  d->cluster->resyncs++;
  /* The figures of the other nodes at once, not a tick later. */
  hub_cluster_tick (d);
}

/* Makes Redis hold exactly this node's connections and watches (after a
 * reconnect, or when the others declared this node dead). */
static void
resync (HubDispatcher *d)
{
  g_autoptr (GPtrArray) args = args_new ();
  g_autofree char *stats = hub_dispatcher_render_node_stats_json (d);
  Collect c = {args_new (), g_hash_table_new (g_str_hash, g_str_equal)};
  GHashTableIter iter;
  gpointer user;

  hub_connection_manager_foreach_authenticated (d->conns, collect_one, &c);
  args_add_int (args, ttl_ms (d));
  args_add (args, stats);
  args_add_int (args, c.pairs->len / 2);
  for (guint i = 0; i < c.pairs->len; i++)
    args_add (args, g_ptr_array_index (c.pairs, i));
  g_hash_table_iter_init (&iter, c.watched);
  while (g_hash_table_iter_next (&iter, &user, NULL))
    args_add (args, user);
  hub_redis_eval (d->cluster->redis, HUB_SCRIPT_RESYNC, args, resync_done, d);
  g_ptr_array_unref (c.pairs);
  g_hash_table_unref (c.watched);
}

static void
on_up (gpointer user_data)
{
  resync (user_data);
}

static void
on_down (gpointer user_data)
{
}

static void
tick_done (redisReply *reply, gpointer data)
{
  HubDispatcher *d = data;
  HubCluster *c = d->cluster;
  redisReply *stats;
  GString *json;

  if (reply_code (reply) != HUB_ERROR_NONE)
    return;
  if (elem_int (reply, 1) == 0) {
    /* Declared dead (or Redis lost its data): register again. */
    resync (d);
  }
  c->cluster_rooms = (guint)elem_int (reply, 2);
  c->cluster_online = (guint)elem_int (reply, 3);
  stats = elem (reply, 4);
  json = g_string_new (NULL);
  c->cluster_nodes = 0;
  for (gsize i = 0; stats != NULL && stats->type == REDIS_REPLY_ARRAY && i + 1 < stats->elements;
       i += 2) {
    g_string_append_printf (json, "%s\"%s\":%s", json->len > 0 ? "," : "", elem_str (stats, i),
                            elem_str (stats, i + 1));
    c->cluster_nodes++;
  }
  g_free (c->nodes_json);
  c->nodes_json = g_string_free (json, FALSE);
}

void
hub_cluster_tick (HubDispatcher *d)
{
  g_autoptr (GPtrArray) args = args_new ();
  g_autofree char *stats = NULL;

  if (!hub_redis_is_up (d->cluster->redis))
    return;
  stats = hub_dispatcher_render_node_stats_json (d);
  args_add_int (args, ttl_ms (d));
  args_add (args, stats);
  hub_redis_eval (d->cluster->redis, HUB_SCRIPT_TICK, args, tick_done, d);
}

HubCluster *
hub_cluster_new (HubDispatcher *d, const char *url, const char *prefix, GError **error)
{
  static const HubRedisEvents events = {on_message, on_up, on_down};
  HubCluster *c = g_new0 (HubCluster, 1);

  c->states = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, conn_state_free);
  c->pending_hello =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);
  c->nodes_json = g_strdup ("");
  d->cluster = c;
  c->redis = hub_redis_new (url, prefix, d->config.node, &events, d, error);
  if (c->redis == NULL) {
    d->cluster = NULL;
    hub_cluster_free (c);
    return NULL;
  }
  return c;
}

void
hub_cluster_free (HubCluster *c)
{
  if (c == NULL)
    return;
  if (c->redis != NULL && hub_redis_is_up (c->redis)) {
    /* Shutting down: unregister at once (blocking, bounded), so the other
     * nodes send the offline events now. */
    redisReply *reply = hub_redis_eval_sync (c->redis, HUB_SCRIPT_DOWN, NULL);

    if (reply != NULL)
      freeReplyObject (reply);
  }
  g_clear_pointer (&c->redis, hub_redis_free);
  g_hash_table_unref (c->states);
  g_hash_table_unref (c->pending_hello);
  g_free (c->nodes_json);
  g_free (c);
}

gboolean
hub_cluster_is_up (HubCluster *c)
{
  return hub_redis_is_up (c->redis);
}

void
hub_cluster_get_figures (HubCluster *c, HubClusterFigures *out)
{
  out->up = hub_redis_is_up (c->redis);
  out->nodes = c->cluster_nodes;
  out->rooms = c->cluster_rooms;
  out->users_online = c->cluster_online;
  out->resyncs = c->resyncs;
  out->nodes_json = c->nodes_json;
}

static char *
api_error (guint *http_status, guint status, HubErrorCode code)
{
  *http_status = status;
  return g_strdup_printf ("{\"code\":\"%s\",\"message\":\"%s\"}", hub_error_code_to_string (code),
                          error_text (code));
}

char *
hub_cluster_api_publish (HubDispatcher *d, const char *room, const char *to, gboolean broadcast,
                         JsonNode *payload, const char *sender, const char *device,
                         guint *http_status)
{
  gint64 now = hub_clock_unix_ms (d->clock);
  g_autoptr (GPtrArray) args = args_new ();
  g_autoptr (HubFrame) frame = NULL;
  redisReply *reply;
  HubErrorCode code;
  char *out;

  if (broadcast) {
    frame = hub_encode_broadcast (sender, now, payload);
    if (!hub_redis_broadcast_sync (d->cluster->redis, hub_frame_payload (frame, NULL)))
      return api_error (http_status, 503, HUB_ERROR_INTERNAL);
    d->messages_in_total++;
    *http_status = 200;
    return g_strdup_printf ("{\"delivered\":%u}",
                            hub_connection_manager_n_authenticated (d->conns));
  }
  if (room != NULL) {
    frame = hub_encode_message (room, 0, sender, device, now, payload);
    args_add (args, sender);
    args_add (args, room);
    args_add_message_halves (args, frame);
    args_add_int (args, d->config.history_size);
    reply = hub_redis_eval_sync (d->cluster->redis, HUB_SCRIPT_PUBLISH, args);
  } else {
    frame = hub_encode_direct (sender, to, now, payload);
    args_add (args, sender);
    args_add (args, to);
    args_add (args, "-");
    args_add_frame (args, frame);
    reply = hub_redis_eval_sync (d->cluster->redis, HUB_SCRIPT_DIRECT, args);
  }
  code = reply_code (reply);
  if (code == HUB_ERROR_NONE) {
    d->messages_in_total++;
    *http_status = 200;
    out = g_strdup_printf ("{\"%s\":%" G_GINT64_FORMAT "}", room != NULL ? "seq" : "delivered",
                           elem_int (reply, 1));
  } else if (code == HUB_ERROR_INTERNAL) {
    out = api_error (http_status, 503, code);
  } else {
    out = api_error (http_status, 404, code);
  }
  if (reply != NULL)
    freeReplyObject (reply);
  return out;
}

int
hub_cluster_compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}
