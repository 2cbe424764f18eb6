/* hub-store-redis-ops.c: the Redis store's operations (hub-store.h): each runs
 * one Lua script (hub-redis-scripts.c), atomically in Redis, and is answered
 * when Redis answers, with the script's code and data as a HubStoreResult;
 * deliveries come back through pub/sub (hub-store-redis.c). */
#include "hub-store-redis-private.h"

#include <string.h>

/* An operation waiting for Redis. */
typedef struct {
  HubStoreRedis *s;
  HubStoreFunc done;
  gpointer data;
  char *name;    /* (owned) (nullable) what the answer needs of the request: a room id, a user */
  char *conn_id; /* (owned) (nullable) */
  char *device;  /* (owned) (nullable) hello's */
  guint n;       /* subscribe: the users asked; disconnect: its id */
} Op;

static Op *
op_new (HubStoreRedis *s, HubStoreFunc done, gpointer data)
{
  Op *op = g_new0 (Op, 1);

  op->s = s;
  op->done = done;
  op->data = data;
  return op;
}

/* Answers @op with @result and frees it. */
static void
op_answer (Op *op, const HubStoreResult *result)
{
  if (op->done != NULL)
    op->done (result, op->data);
  g_free (op->name);
  g_free (op->conn_id);
  g_free (op->device);
  g_free (op);
}

/* TRUE when @reply is {"ok", …}; else @op is answered with the error
 * ({"unregistered"}: unavailable, and this node registers again). */
static gboolean
op_check (Op *op, redisReply *reply)
{
  HubStoreResult r = {.error = hub_store_redis_code (reply)};

  if (r.error == HUB_STORE_OK)
    return TRUE;
  /* s->redis is NULL while the store is freed (its pending calls fail). */
  if (hub_store_redis_is_unregistered (reply) && op->s->redis != NULL)
    hub_store_redis_reregister (op->s);
  op_answer (op, &r);
  return FALSE;
}

static void
op_ok (redisReply *reply, gpointer data)
{
  Op *op = data;
  HubStoreResult r = {0};

  if (op_check (op, reply))
    op_answer (op, &r);
}

static void
run (HubStoreRedis *s, HubScript script, GPtrArray *args, HubRedisReplyFunc func, Op *op)
{
  hub_redis_eval (s->redis, script, args, func, op);
}

#define SELF(store)      ((HubStoreRedis *)(store))
#define add(args, s)     hub_store_redis_add ((args), (s))
#define add_int(args, v) hub_store_redis_add_int ((args), (v))
#define elem(reply, i)   hub_store_redis_elem ((reply), (i))
#define str(reply, i)    hub_store_redis_str ((reply), (i))
#define num(reply, i)    hub_store_redis_int ((reply), (i))

static void
add_frame (GPtrArray *args, HubFrame *frame)
{
  add (args, hub_frame_payload (frame, NULL));
}

static HubStatus
status_of (const char *word)
{
  HubStatus status = HUB_STATUS_OFFLINE;

  hub_status_from_string (word, &status);
  return status;
}

/* --- §4 Rooms --------------------------------------------------------------------------------- */

void
hub_store_redis_ops_init (HubStoreRedis *s, const HubConfig *config)
{
  s->history_room_bytes = config->history_room_bytes;
  s->history_total_bytes = config->history_total_bytes;
  s->max_empty_rooms_per_user = config->max_empty_rooms_per_user;
  s->empty_room_ttl_ms = config->empty_room_ttl_s * 1000;
}

/* {"ok", name, epoch} */
static void
create_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  r.room.room = op->name; /* the room id, kept here */
  r.room.name = str (reply, 1);
  r.room.epoch = num (reply, 2);
  op_answer (op, &r);
}

static void
redis_create (HubStore *store, const HubStoreCreate *args, HubStoreFunc done, gpointer data)
{
  HubStoreRedis *s = SELF (store);
  g_autoptr (GPtrArray) a = hub_store_redis_args ();
  Op *op = op_new (s, done, data);

  op->name = g_strdup (args->room);
  add (a, args->room);
  add (a, args->name != NULL ? args->name : args->room);
  add_int (a, args->now_ms);
  add (a, args->user != NULL ? args->user : "");
  add_int (a, args->need);
  add_int (a, s->max_empty_rooms_per_user);
  run (s, HUB_SCRIPT_CREATE, a, create_done, op);
}

static void
expired (redisReply *reply, gpointer data)
{
  HubStoreRedis *s = data;

  if (s->redis != NULL) /* not while the store is freed */
    s->expiring = FALSE;
}

void
hub_store_redis_expire (HubStoreRedis *s)
{
  g_autoptr (GPtrArray) a = NULL;

  if (s->expiring || !hub_redis_is_up (s->redis))
    return;
  a = hub_store_redis_args ();
  add_int (a, hub_clock_unix_ms (s->clock) - (gint64)s->empty_room_ttl_ms);
  s->expiring = TRUE;
  hub_redis_eval (s->redis, HUB_SCRIPT_EXPIRE, a, expired, s);
}

/* {"ok", name, seq, joined, epoch, user, status, …} */
static void
join_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  g_autofree HubStoreMember *members = NULL;
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  r.room.room = op->name;
  r.room.name = str (reply, 1);
  r.room.seq = num (reply, 2);
  r.joined = num (reply, 3) != 0;
  r.room.epoch = num (reply, 4);
  members = g_new0 (HubStoreMember, reply->elements / 2 + 1);
  for (gsize i = 5; i + 1 < reply->elements; i += 2) {
    members[r.n_members].user = str (reply, i);
    members[r.n_members].status = status_of (str (reply, i + 1));
    r.n_members++;
  }
  r.members = members;
  op_answer (op, &r);
}

static void
redis_join (HubStore *store, const HubStoreJoin *args, HubStoreFunc done, gpointer data)
{
  HubStoreRedis *s = SELF (store);
  g_autoptr (GPtrArray) a = hub_store_redis_args ();
  Op *op = op_new (s, done, data);

  op->name = g_strdup (args->room);
  add (a, args->user);
  add (a, args->room);
  add (a, args->name != NULL ? args->name : args->room);
  add_int (a, args->now_ms);
  add (a, s->auto_create ? "1" : "0");
  add_int (a, s->max_rooms_per_user);
  add_frame (a, args->event);
  add_int (a, args->need);
  add (a, args->may_create ? "1" : "0");
  add (a, args->set_grant ? "1" : "0");
  add_int (a, args->grant);
  run (s, HUB_SCRIPT_JOIN, a, join_done, op);
}

static void
redis_leave (HubStore *store, const HubStoreLeave *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();

  add (a, args->user);
  add (a, args->room);
  add_frame (a, args->event);
  run (SELF (store), HUB_SCRIPT_LEAVE, a, op_ok, op_new (SELF (store), done, data));
}

/* The (room, name, members, seq, epoch) quintuples of @reply from @first on,
 * as rooms (*@n of them). (transfer full) */
static HubStoreRoom *
rooms_of (redisReply *reply, gsize first, guint *n)
{
  HubStoreRoom *rooms = g_new0 (HubStoreRoom, reply->elements / 5 + 1);

  *n = 0;
  for (gsize i = first; i + 4 < reply->elements; i += 5) {
    HubStoreRoom *room = &rooms[(*n)++];

    room->room = str (reply, i);
    room->name = str (reply, i + 1);
    room->members = (guint)num (reply, i + 2);
    room->seq = num (reply, i + 3);
    room->epoch = num (reply, i + 4);
  }
  return rooms;
}

/* {"ok", room, name, members, seq, epoch, …} */
static void
rooms_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  g_autofree HubStoreRoom *rooms = NULL;
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  rooms = rooms_of (reply, 1, &r.n_rooms);
  r.rooms = rooms;
  op_answer (op, &r);
}

static void
redis_rooms (HubStore *store, const HubStoreQuery *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();

  add (a, args->user);
  run (SELF (store), HUB_SCRIPT_ROOMS, a, rooms_done, op_new (SELF (store), done, data));
}

/* {"ok", name, created, members, messages, seq, epoch} */
static void
room_info_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  r.room.room = op->name;
  r.room.name = str (reply, 1);
  r.room.created_ts = num (reply, 2);
  r.room.members = (guint)num (reply, 3);
  r.room.messages = (guint)num (reply, 4);
  r.room.seq = num (reply, 5);
  r.room.epoch = num (reply, 6);
  op_answer (op, &r);
}

static void
redis_room_info (HubStore *store, const HubStoreQuery *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();
  Op *op = op_new (SELF (store), done, data);

  op->name = g_strdup (args->room);
  add (a, args->room);
  add (a, args->user != NULL ? args->user : "");
  add_int (a, args->need);
  run (SELF (store), HUB_SCRIPT_INFO, a, room_info_done, op);
}

/* {"ok", name, created, messages, seq, user, status, devices, …} */
static void
who_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  g_autofree HubStoreMember *members = NULL;
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  r.room.room = op->name;
  r.room.name = str (reply, 1);
  r.room.created_ts = num (reply, 2);
  r.room.messages = (guint)num (reply, 3);
  r.room.seq = num (reply, 4);
  members = g_new0 (HubStoreMember, reply->elements / 3 + 1);
  for (gsize i = 5; i + 2 < reply->elements; i += 3) {
    HubStoreMember *m = &members[r.n_members++];

    m->user = str (reply, i);
    m->status = status_of (str (reply, i + 1));
    m->devices = (guint)num (reply, i + 2);
  }
  r.room.members = r.n_members;
  r.members = members;
  op_answer (op, &r);
}

static void
redis_who (HubStore *store, const HubStoreQuery *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();
  Op *op = op_new (SELF (store), done, data);

  op->name = g_strdup (args->room);
  add (a, args->room);
  add (a, args->user != NULL ? args->user : "");
  add_int (a, args->need);
  run (SELF (store), HUB_SCRIPT_WHO, a, who_done, op);
}

/* --- §5 Messages ------------------------------------------------------------------------------ */

/* The message frame with seq 0, split around that 0: the script puts the seq
 * it takes between the halves, so the frame is encoded once, here. */
static void
add_message_halves (GPtrArray *args, HubFrame *frame)
{
  const char *text = hub_frame_payload (frame, NULL);
  /* The first "seq" member: only "type" and "room" (a name, no quotes) precede it. */
  const char *at = strstr (text, "\"seq\":0");

  g_assert (at != NULL);
  at += strlen ("\"seq\":");
  g_ptr_array_add (args, g_strndup (text, (gsize)(at - text)));
  add (args, at + 1);
}

static void
publish_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  r.seq = num (reply, 1);
  op_answer (op, &r);
}

static void
redis_publish (HubStore *store, const HubStorePublish *args, HubStoreFunc done, gpointer data)
{
  HubStoreRedis *s = SELF (store);
  g_autoptr (GPtrArray) a = hub_store_redis_args ();
  g_autoptr (HubFrame) frame =
      hub_encode_message (args->room, 0, args->from, args->device, args->now_ms, args->payload);

  add (a, args->from);
  add (a, args->room);
  add_message_halves (a, frame);
  add_int (a, s->history_size);
  add (a, args->member_only ? "1" : "0");
  add_int (a, args->need);
  add_int (a, (gint64)s->history_room_bytes);
  add_int (a, (gint64)s->history_total_bytes);
  run (s, HUB_SCRIPT_PUBLISH, a, publish_done, op_new (s, done, data));
}

/* {"ok", delivered[, offline users]} */
static void
delivered_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  redisReply *offline;
  g_autoptr (GPtrArray) users = g_ptr_array_new ();
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  r.delivered = (guint)num (reply, 1);
  offline = elem (reply, 2);
  for (gsize i = 0; offline != NULL && offline->type == REDIS_REPLY_ARRAY && i < offline->elements;
       i++)
    g_ptr_array_add (users, (gpointer)str (offline, i));
  r.users = (const char *const *)users->pdata;
  r.n_users = users->len;
  op_answer (op, &r);
}

static void
redis_direct (HubStore *store, const HubStoreDirect *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();

  add (a, args->from);
  add (a, args->to);
  add (a, args->except_conn != NULL ? args->except_conn : "-");
  add (a, args->copy_to_sender ? "1" : "0");
  add_frame (a, args->frame);
  run (SELF (store), HUB_SCRIPT_DIRECT, a, delivered_done, op_new (SELF (store), done, data));
}

static void
redis_multicast (HubStore *store, const HubStoreMulticast *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();

  add_frame (a, args->frame);
  for (guint i = 0; i < args->n_users; i++)
    add (a, args->users[i]);
  run (SELF (store), HUB_SCRIPT_MULTICAST, a, delivered_done, op_new (SELF (store), done, data));
}

static void
published (redisReply *reply, gpointer data)
{
  Op *op = data;
  HubStoreResult r = {0};

  if (reply == NULL || reply->type != REDIS_REPLY_INTEGER)
    r.error = HUB_STORE_UNAVAILABLE;
  op_answer (op, &r);
}

static void
redis_broadcast (HubStore *store, const HubStoreSend *args, HubStoreFunc done, gpointer data)
{
  HubStoreRedis *s = SELF (store);
  const char *argv[] = {"PUBLISH", hub_redis_all_channel (s->redis),
                        hub_frame_payload (args->frame, NULL)};

  hub_redis_command (s->redis, argv, G_N_ELEMENTS (argv), published, op_new (s, done, data));
}

static void
redis_typing (HubStore *store, const HubStoreSend *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();

  add (a, args->user);
  add (a, args->room);
  add_frame (a, args->frame);
  add_int (a, args->need);
  run (SELF (store), HUB_SCRIPT_TYPING, a, op_ok, op_new (SELF (store), done, data));
}

/* --- §6 History ------------------------------------------------------------------------------- */

/* Stored frames from @first on in @reply, as frames. (transfer full) */
static GPtrArray *
frames_of (redisReply *reply, gsize first)
{
  GPtrArray *frames = g_ptr_array_new_with_free_func ((GDestroyNotify)hub_frame_unref);

  for (gsize i = first; reply != NULL && i < reply->elements; i++) {
    redisReply *e = reply->element[i];

    if (e->type == REDIS_REPLY_STRING)
      g_ptr_array_add (frames, hub_frame_new (e->str, e->len, HUB_FRAME_FLAG_NONE));
  }
  return frames;
}

/* {"ok", complete, more, first seq, epoch, frame, …} */
static void
history_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  g_autoptr (GPtrArray) frames = NULL;
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  frames = frames_of (reply, 5);
  r.complete = num (reply, 1) != 0;
  r.more = num (reply, 2) != 0;
  r.first_seq = num (reply, 3);
  r.epoch = num (reply, 4);
  r.messages = (HubFrame *const *)frames->pdata;
  r.n_messages = frames->len;
  op_answer (op, &r);
}

static void
redis_history (HubStore *store, const HubStoreHistory *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();

  add (a, args->user != NULL ? args->user : "");
  add (a, args->room);
  add_int (a, args->since);
  add_int (a, args->limit);
  add_int (a, args->need);
  add_int (a, (gint64)args->max_bytes);
  add_int (a, args->until);
  run (SELF (store), HUB_SCRIPT_HISTORY, a, history_done, op_new (SELF (store), done, data));
}

/* {"ok", {{room, since, last, epoch, complete, more, first, frame, …}, …}} */
static void
resume_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  redisReply *entries;
  g_autoptr (GArray) resumed = g_array_new (FALSE, TRUE, sizeof (HubStoreResumed));
  g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func ((GDestroyNotify)g_ptr_array_unref);
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  entries = elem (reply, 1);
  for (gsize i = 0; entries != NULL && entries->type == REDIS_REPLY_ARRAY && i < entries->elements;
       i++) {
    redisReply *entry = entries->element[i];
    GPtrArray *frames = frames_of (entry, 7);
    HubStoreResumed e = {
        .room = str (entry, 0),
        .since = num (entry, 1), /* the given seq as given (a string), or 0 */
        .last = num (entry, 2),
        .epoch = num (entry, 3),
        .complete = num (entry, 4) != 0,
        .more = num (entry, 5) != 0,
        .first = num (entry, 6),
        .messages = (HubFrame *const *)frames->pdata,
        .n_messages = frames->len,
    };

    g_ptr_array_add (keep, frames);
    g_array_append_val (resumed, e);
  }
  r.resumed = (const HubStoreResumed *)(gpointer)resumed->data;
  r.n_resumed = resumed->len;
  op_answer (op, &r);
}

static void
redis_resume (HubStore *store, const HubStoreResume *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();

  add (a, args->user);
  add_int (a, (gint64)args->max_bytes);
  for (guint i = 0; i < args->n_rooms; i++) {
    add (a, args->rooms[i]);
    add_int (a, args->seqs[i]);
    add_int (a, args->epochs != NULL ? args->epochs[i] : 0);
    add_int (a, args->needs != NULL ? args->needs[i] : 0);
  }
  run (SELF (store), HUB_SCRIPT_RESUME, a, resume_done, op_new (SELF (store), done, data));
}

/* --- §7 Presence ------------------------------------------------------------------------------ */

static void
redis_status (HubStore *store, const HubStoreStatus *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();

  add (a, args->user);
  add (a, hub_status_to_string (args->status));
  run (SELF (store), HUB_SCRIPT_STATUS, a, op_ok, op_new (SELF (store), done, data));
}

/* {"ok", status, …} one per asked user */
static void
subscribe_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  g_autofree HubStatus *statuses = NULL;
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  statuses = g_new0 (HubStatus, op->n + 1);
  for (guint i = 0; i < op->n; i++)
    statuses[i] = status_of (str (reply, i + 1));
  r.statuses = statuses;
  op_answer (op, &r);
}

static void
redis_subscribe (HubStore *store, const HubStoreWatch *args, HubStoreFunc done, gpointer data)
{
  HubStoreRedis *s = SELF (store);
  g_autoptr (GPtrArray) a = hub_store_redis_args ();
  Op *op = op_new (s, done, data);

  op->n = args->n_users;
  add_int (a, args->n_watch);
  for (guint i = 0; i < args->n_watch; i++) {
    add (a, args->watch[i]);
    g_hash_table_add (s->watched, g_strdup (args->watch[i]));
  }
  for (guint i = 0; i < args->n_users; i++)
    add (a, args->users[i]);
  run (s, HUB_SCRIPT_SUBSCRIBE, a, subscribe_done, op);
}

static void
redis_unwatch (HubStore *store, const HubStoreWatch *args, HubStoreFunc done, gpointer data)
{
  HubStoreRedis *s = SELF (store);
  g_autoptr (GPtrArray) a = hub_store_redis_args ();

  for (guint i = 0; i < args->n_watch; i++) {
    add (a, args->watch[i]);
    g_hash_table_remove (s->watched, args->watch[i]);
  }
  run (s, HUB_SCRIPT_UNWATCH, a, op_ok, op_new (s, done, data));
}

/* {"ok", count, {user, …}} */
static void
online_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  redisReply *list;
  g_autoptr (GPtrArray) users = g_ptr_array_new ();
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  list = elem (reply, 2);
  for (gsize i = 0; list != NULL && list->type == REDIS_REPLY_ARRAY && i < list->elements; i++)
    g_ptr_array_add (users, (gpointer)str (list, i));
  r.count = (guint)num (reply, 1);
  r.users = (const char *const *)users->pdata;
  r.n_users = users->len;
  op_answer (op, &r);
}

static void
redis_online (HubStore *store, const HubStoreOnline *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();

  add_int (a, args->limit);
  run (SELF (store), HUB_SCRIPT_ONLINE, a, online_done, op_new (SELF (store), done, data));
}

/* --- Connections ------------------------------------------------------------------------------ */

/* {"ok", {room, …}} */
static void
hello_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  redisReply *list;
  g_autofree HubStoreRoom *rooms = NULL;
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  /* Registered: this node registers it again after a resync. */
  g_hash_table_replace (op->s->conns, g_strdup (op->conn_id),
                        hub_redis_conn_new (op->name, op->device));
  list = elem (reply, 1);
  rooms = g_new0 (HubStoreRoom, (list != NULL ? list->elements : 0) + 1);
  for (gsize i = 0; list != NULL && list->type == REDIS_REPLY_ARRAY && i < list->elements; i++)
    rooms[r.n_rooms++].room = str (list, i);
  r.rooms = rooms;
  op_answer (op, &r);
}

static void
redis_hello (HubStore *store, const HubStoreSession *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();
  Op *op = op_new (SELF (store), done, data);

  op->name = g_strdup (args->user);
  op->conn_id = g_strdup (args->conn_id);
  op->device = g_strdup (args->device != NULL ? args->device : "default");
  add (a, args->user);
  add (a, args->conn_id);
  add (a, op->device);
  run (SELF (store), HUB_SCRIPT_HELLO, a, hello_done, op);
}

/* {"ok", grace deadline or 0} */
static void
bye_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  HubStoreResult r = {0};
  gint64 deadline;

  /* Answered after its hello (in order): a hello still under way when the
   * connection closed registered it just before. */
  g_hash_table_remove (op->s->conns, op->conn_id);
  if (!op_check (op, reply))
    return;
  deadline = num (reply, 1);
  /* s->redis is NULL while the store is freed (its pending calls fail). */
  if (deadline > 0 && op->s->redis != NULL)
    hub_store_redis_start_grace (op->s, op->name, deadline);
  op_answer (op, &r);
}

static void
redis_bye (HubStore *store, const HubStoreSession *args, HubStoreFunc done, gpointer data)
{
  HubStoreRedis *s = SELF (store);
  g_autoptr (GPtrArray) a = hub_store_redis_args ();
  Op *op = op_new (s, done, data);

  /* When Redis is down this is lost; the resync after reconnecting drops
   * the connections this node no longer has. */
  g_hash_table_remove (s->conns, args->conn_id);
  op->name = g_strdup (args->user);
  op->conn_id = g_strdup (args->conn_id);
  add (a, args->user);
  add (a, args->conn_id);
  for (guint i = 0; i < args->n_unwatch; i++) {
    add (a, args->unwatch[i]);
    g_hash_table_remove (s->watched, args->unwatch[i]);
  }
  run (s, HUB_SCRIPT_BYE, a, bye_done, op);
}

/* --- §13 Server API --------------------------------------------------------------------------- */

/* {"ok", count, room, name, members, seq, …} */
static void
list_rooms_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  g_autofree HubStoreRoom *rooms = NULL;
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  r.count = (guint)num (reply, 1);
  rooms = rooms_of (reply, 2, &r.n_rooms);
  r.rooms = rooms;
  op_answer (op, &r);
}

static void
redis_list_rooms (HubStore *store, const HubStoreListRooms *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();

  add (a, args->prefix != NULL ? args->prefix : "");
  add_int (a, args->limit);
  run (SELF (store), HUB_SCRIPT_LIST, a, list_rooms_done, op_new (SELF (store), done, data));
}

/* {"ok", status, {conn, device, node, …}, {room, …}} */
static void
user_info_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  redisReply *conns, *rooms;
  g_autofree HubStoreConnection *connections = NULL;
  g_autofree HubStoreRoom *ids = NULL;
  HubStoreResult r = {0};

  if (!op_check (op, reply))
    return;
  r.status = status_of (str (reply, 1));
  conns = elem (reply, 2);
  rooms = elem (reply, 3);
  connections = g_new0 (HubStoreConnection, (conns != NULL ? conns->elements / 3 : 0) + 1);
  for (gsize i = 0; conns != NULL && conns->type == REDIS_REPLY_ARRAY && i + 2 < conns->elements;
       i += 3) {
    HubStoreConnection *c = &connections[r.n_connections++];

    c->conn = str (conns, i);
    c->device = str (conns, i + 1);
    c->node = str (conns, i + 2);
  }
  ids = g_new0 (HubStoreRoom, (rooms != NULL ? rooms->elements : 0) + 1);
  for (gsize i = 0; rooms != NULL && rooms->type == REDIS_REPLY_ARRAY && i < rooms->elements; i++)
    ids[r.n_rooms++].room = str (rooms, i);
  r.connections = connections;
  r.rooms = ids;
  op_answer (op, &r);
}

static void
redis_user_info (HubStore *store, const HubStoreQuery *args, HubStoreFunc done, gpointer data)
{
  g_autoptr (GPtrArray) a = hub_store_redis_args ();

  add (a, args->user);
  run (SELF (store), HUB_SCRIPT_USER, a, user_info_done, op_new (SELF (store), done, data));
}

/* {"ok", unregistered, grace deadline, {node told, …}, nodes cut off} */
static void
disconnect_done (redisReply *reply, gpointer data)
{
  Op *op = data;
  HubStoreRedis *s = op->s;
  HubStoreError error = hub_store_redis_code (reply);
  redisReply *told = elem (reply, 3);
  g_autoptr (GPtrArray) nodes = g_ptr_array_new ();
  gint64 deadline = num (reply, 2);

  for (gsize i = 0; told != NULL && told->type == REDIS_REPLY_ARRAY && i < told->elements; i++)
    g_ptr_array_add (nodes, (gpointer)str (told, i));
  /* The user's last connection went: its presence grace is this node's to
   * time (s->redis is NULL while the store is freed). */
  if (error == HUB_STORE_OK && deadline > 0 && s->redis != NULL)
    hub_store_redis_start_grace (s, op->name, deadline);
  hub_store_redis_disconnect_told (s, op->n, error, (const char *const *)nodes->pdata, nodes->len,
                                   num (reply, 4) > 0);
  /* The disconnect answers by itself: this op only carried its id. */
  op->done = NULL;
  op_answer (op, NULL);
}

static void
redis_disconnect (HubStore *store, const HubStoreDisconnect *args, HubStoreFunc done, gpointer data)
{
  HubStoreRedis *s = SELF (store);
  g_autoptr (GPtrArray) a = hub_store_redis_args ();
  Op *op = op_new (s, NULL, NULL);

  op->name = g_strdup (args->user);
  op->n = hub_store_redis_disconnect_new (s, done, data);
  add (a, args->user);
  add (a, args->device != NULL ? args->device : "");
  add_int (a, args->ban_ms);
  add_int (a, op->n);
  run (s, HUB_SCRIPT_DISCONNECT, a, disconnect_done, op);
}

const HubStoreVTable hub_store_redis_vtable = {
    .free = hub_store_redis_free,
    .attach = hub_store_redis_attach,
    .create = redis_create,
    .join = redis_join,
    .leave = redis_leave,
    .rooms = redis_rooms,
    .room_info = redis_room_info,
    .who = redis_who,
    .publish = redis_publish,
    .direct = redis_direct,
    .multicast = redis_multicast,
    .broadcast = redis_broadcast,
    .typing = redis_typing,
    .history = redis_history,
    .status = redis_status,
    .subscribe = redis_subscribe,
    .unwatch = redis_unwatch,
    .online = redis_online,
    .hello = redis_hello,
    .resume = redis_resume,
    .bye = redis_bye,
    .list_rooms = redis_list_rooms,
    .user_info = redis_user_info,
    .disconnect = redis_disconnect,
    .sync = hub_store_redis_sync,
    .is_up = hub_store_redis_is_up,
    .n_rooms = hub_store_redis_n_rooms,
    .get_figures = hub_store_redis_get_figures,
};
