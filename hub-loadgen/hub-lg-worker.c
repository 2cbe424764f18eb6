/* hub-lg-worker.c: a worker thread: its devices' HubClients, the connect
 * ramp, the open-model send schedule (a heap of users by next action time
 * behind one GSource whose ready time is the earliest due event), churn, and
 * the receive side: every frame is accounted in the device's subscriptions
 * (hub-lg-ledger) before HubClient itself handles it. */
#include "hub-lg-worker.h"

#include "hub-lg-wire.h"

#include <hub/hub-auth.h>
#include <hub/hub-client.h>
#include <hub/hub-error.h>
#include <string.h>
#include <time.h>

/* Reconnect quickly: churn measures resume, not backoff. */
#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     2000
#define REQUEST_TIMEOUT_MS 15000
/* Due events handled per dispatch before the loop polls the sockets again. */
#define BUDGET 2000
/* Actions kept per user while none of its devices is up. */
#define MAX_BACKLOG 1000
/* Users a device subscribes to for status events when the mix has status. */
#define STATUS_SUBSCRIPTIONS 3
#define TOKEN_LIFETIME_S     (7 * 24 * 3600)

typedef struct _Device Device;
typedef struct _User User;

typedef struct {
  gint64 sched_us;
  HubLgAction action;
} Due;

typedef enum {
  FINAL_IDLE,
  FINAL_ASKED,
  FINAL_ANSWERED,
} FinalState;

struct _User {
  guint index;
  char *name; /* (owned) */
  gsize name_len;
  char *token;      /* (owned) (nullable) */
  Device **devices; /* (owned) array of n_devices (unowned) */
  guint n_devices;
  const guint *rooms; /* (unowned) the plan's */
  gint64 next_us;     /* next scheduled action */
  guint64 sent;       /* per-publisher sequence */
  GArray *backlog;    /* Due (owned) (nullable) */
  guint rr;
  guint64 rng; /* its own draws (user_next) */
  FinalState final;
};

struct _Device {
  HubLgWorker *worker; /* (unowned) */
  User *user;          /* (unowned) */
  guint slot, global;
  HubClient *client; /* (owned) */
  HubLgSub *subs;    /* (owned) [rooms_per_user], parallel to user->rooms */
  gint64 connect_at_us, attempt_us;
  guint joins_pending;
  guint last_close;
  gboolean welcomed, connected, ready, gone, dropping, subscribed;
};

struct _HubLgWorker {
  guint index, n_workers;
  const HubLgConfig *config; /* (unowned) */
  const HubLgPlan *plan;     /* (unowned) */
  GThread *thread;           /* (owned) */
  GMainContext *context;     /* (owned) */
  GMainLoop *loop;           /* (owned) */
  GSource *ticker;           /* (owned) */
  GRand *rand;               /* (owned) */
  HubLgStats *stats;         /* (owned) */

  GPtrArray *users;      /* User* (owned) */
  GPtrArray *devices;    /* Device* (owned), ascending global index */
  char **room_names;     /* (owned) [n_rooms] */
  gsize *room_name_lens; /* (owned) [n_rooms] */
  guint k;               /* rooms per user */

  GArray *sent;      /* HubLgShardSent (owned) (nullable) acknowledged publishes, --shard only */
  gint64 *final;     /* (owned) [n_rooms] the run's final seq per room, or -1 */
  gint64 *known_max; /* (owned) [n_rooms] highest seq seen here (replies, acks, receipts) */

  /* ramp */
  gboolean ramping;
  guint next_connect;
  /* traffic */
  gboolean traffic;
  double mean_gap_us;
  gint64 traffic_end_us; /* actions are scheduled before this */
  User **heap;           /* (owned) users by next_us */
  guint heap_len;
  gint64 churn_at_us; /* 0: no churn */
  double churn_mean_us;
  gboolean tearing_down;
};

/* ---- small helpers ---- */

/* GLib's monotonic clock (CLOCK_MONOTONIC on Unix, QueryPerformanceCounter on
 * Windows), in nanoseconds for the histograms. */
static gint64
now_ns (void)
{
  return g_get_monotonic_time () * 1000;
}

/* When the frame being accounted arrived: the time its bytes were found read
 * (one clock read per batch of frames), or now. */
static gint64
received_ns (void)
{
  gint64 t = hub_lg_wire_read_time_ns ();

  return t != 0 ? t : now_ns ();
}

static gboolean
json_int (JsonObject *object, const char *member, gint64 *out)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int (node);
  return TRUE;
}

static const char *
json_str (JsonObject *object, const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static JsonObject *
json_obj (JsonObject *object, const char *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static void
raise_known (HubLgWorker *w, guint room, gint64 seq)
{
  if (room < w->plan->n_rooms && seq > w->known_max[room])
    w->known_max[room] = seq;
}

/* The subscription of @d for @room, by binary search in the user's sorted rooms. */
static HubLgSub *
device_sub (Device *d, guint room)
{
  const guint *rooms = d->user->rooms;
  guint lo = 0, hi = d->worker->k;

  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;

    if (rooms[mid] == room)
      return &d->subs[mid];
    if (rooms[mid] < room)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static void
error_code (HubLgWorker *w, const char *prefix, JsonObject *reply)
{
  char kind[96];
  const char *code = json_str (reply, "code");

  g_snprintf (kind, sizeof kind, "%s:%s", prefix, code != NULL ? code : "unknown");
  hub_lg_stats_error (w->stats, kind);
}

/* ---- the call mechanism ---- */

typedef void (*CallFunc) (HubLgWorker *w, gpointer data);

typedef struct {
  HubLgWorker *w;
  CallFunc func;
  gpointer data;
  GMutex mutex;
  GCond cond;
  gboolean done;
} Call;

static gboolean
call_run (gpointer user_data)
{
  Call *call = user_data;

  call->func (call->w, call->data);
  g_mutex_lock (&call->mutex);
  call->done = TRUE;
  g_cond_signal (&call->cond);
  g_mutex_unlock (&call->mutex);
  return G_SOURCE_REMOVE;
}

/* Runs @func on the worker's thread and waits for it. */
static void
call (HubLgWorker *w, CallFunc func, gpointer data)
{
  Call c = {.w = w, .func = func, .data = data};
  GSource *source = g_idle_source_new ();

  g_mutex_init (&c.mutex);
  g_cond_init (&c.cond);
  g_source_set_priority (source, G_PRIORITY_HIGH);
  g_source_set_callback (source, call_run, &c, NULL);
  g_source_attach (source, w->context);
  g_source_unref (source);
  g_mutex_lock (&c.mutex);
  while (!c.done)
    g_cond_wait (&c.cond, &c.mutex);
  g_mutex_unlock (&c.mutex);
  g_mutex_clear (&c.mutex);
  g_cond_clear (&c.cond);
}

/* ---- the schedule heap ---- */

static void
heap_swap (HubLgWorker *w, guint a, guint b)
{
  User *t = w->heap[a];

  w->heap[a] = w->heap[b];
  w->heap[b] = t;
}

static void
heap_down (HubLgWorker *w, guint i)
{
  for (;;) {
    guint l = 2 * i + 1, r = l + 1, m = i;

    if (l < w->heap_len && w->heap[l]->next_us < w->heap[m]->next_us)
      m = l;
    if (r < w->heap_len && w->heap[r]->next_us < w->heap[m]->next_us)
      m = r;
    if (m == i)
      return;
    heap_swap (w, i, m);
    i = m;
  }
}

static void
heap_build (HubLgWorker *w)
{
  for (guint i = w->heap_len / 2; i-- > 0;)
    heap_down (w, i);
}

/* ---- a user's own random draws ----
 *
 * Each user draws its action times, kinds, rooms and targets from a generator
 * of its own (splitmix64), seeded by the run's seed and its index: a user does
 * the same things whichever thread, or shard (--shard), runs it, so N shards
 * are the same population, sending the same messages, as one process. */

static guint64
user_next (User *u)
{
  guint64 z = (u->rng += G_GUINT64_CONSTANT (0x9E3779B97F4A7C15));

  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94D049BB133111EB);
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double
user_double (User *u)
{
  return (double)(user_next (u) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [0, n). */
static guint
user_below (User *u, guint n)
{
  return (guint)(((user_next (u) >> 32) * (guint64)n) >> 32);
}

static double
next_gap_us (HubLgWorker *w, User *u)
{
  if (w->config->arrival[0] == 'u')
    return w->mean_gap_us;
  return hub_lg_exponential (w->mean_gap_us, user_double (u));
}

/* ---- sending ---- */

typedef struct {
  Device *device; /* (unowned) */
  guint room;
  gint64 sched_us;
} Sent;

static JsonObject *
payload_new (HubLgWorker *w, User *u, gint64 sched_us)
{
  JsonObject *payload = json_object_new ();

  json_object_set_int_member (payload, "t", sched_us * 1000);
  json_object_set_int_member (payload, "p", u->index);
  json_object_set_int_member (payload, "n", (gint64)++u->sent);
  if (w->config->payload_bytes > 0) {
    g_autofree char *pad = g_strnfill (w->config->payload_bytes, 'x');

    json_object_set_string_member (payload, "pad", pad);
  }
  return payload;
}

static void
on_publish_reply (HubClient *client, JsonObject *reply, const GError *error, gpointer user_data)
{
  Sent *sent = user_data;
  Device *d = sent->device;
  HubLgWorker *w = d->worker;
  gint64 seq;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_free (sent);
    return;
  }
  w->stats->c[HUB_LG_INFLIGHT]--;
  if (error == NULL) {
    w->stats->c[HUB_LG_PUBLISH_ACKED]++;
    if (json_int (reply, "seq", &seq)) {
      raise_known (w, sent->room, seq);
      if (w->sent != NULL) {
        HubLgShardSent e = {sent->room, seq};

        g_array_append_val (w->sent, e);
      }
    }
    hub_lg_histogram_record (w->stats->ack, now_ns () - sent->sched_us * 1000);
  } else if (error->domain == HUB_ERROR) {
    w->stats->c[HUB_LG_PUBLISH_REJECTED]++;
    error_code (w, "publish", reply);
  } else {
    w->stats->c[HUB_LG_PUBLISH_UNKNOWN]++;
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
      hub_lg_stats_error (w->stats, "publish:timeout");
  }
  g_free (sent);
}

static void
on_direct_reply (HubClient *client, JsonObject *reply, const GError *error, gpointer user_data)
{
  Sent *sent = user_data;
  HubLgWorker *w = sent->device->worker;
  gint64 delivered;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_free (sent);
    return;
  }
  w->stats->c[HUB_LG_INFLIGHT]--;
  if (error == NULL) {
    w->stats->c[HUB_LG_DIRECT_ACKED]++;
    if (json_int (reply, "delivered", &delivered))
      w->stats->c[HUB_LG_DIRECT_EXPECTED] += (guint64)MAX (delivered, 0);
  } else if (g_error_matches (error, HUB_ERROR, HUB_ERROR_USER_OFFLINE)) {
    w->stats->c[HUB_LG_DIRECT_OFFLINE]++;
  } else if (error->domain == HUB_ERROR) {
    error_code (w, "direct", reply);
  } else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)) {
    hub_lg_stats_error (w->stats, "direct:timeout");
  }
  g_free (sent);
}

static void
on_plain_reply (HubClient *client, JsonObject *reply, const GError *error, gpointer user_data)
{
  HubLgWorker *w = user_data;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  w->stats->c[HUB_LG_INFLIGHT]--;
  if (error != NULL && error->domain == HUB_ERROR)
    error_code (w, "request", reply);
}

static Device *
pick_device (User *u)
{
  for (guint i = 0; i < u->n_devices; i++) {
    Device *d = u->devices[(u->rr + i) % u->n_devices];

    if (d->ready) {
      u->rr = (u->rr + i + 1) % u->n_devices;
      return d;
    }
  }
  return NULL;
}

static void
perform (HubLgWorker *w, User *u, HubLgAction action, gint64 sched_us)
{
  Device *d = pick_device (u);
  const HubLgPlan *plan = w->plan;

  if (d == NULL) {
    Due due = {sched_us, action};

    if (u->backlog == NULL)
      u->backlog = g_array_new (FALSE, FALSE, sizeof (Due));
    if (u->backlog->len >= MAX_BACKLOG) {
      g_array_remove_index (u->backlog, 0);
      w->stats->c[HUB_LG_SKIPPED]++;
    }
    g_array_append_val (u->backlog, due);
    return;
  }
  if (action == HUB_LG_ACTION_DIRECT && plan->n_users < 2)
    action = HUB_LG_ACTION_PUBLISH;
  w->stats->c[HUB_LG_SENT_PUBLISH + action]++;
  switch (action) {
    case HUB_LG_ACTION_PUBLISH: {
      guint room = u->rooms[user_below (u, w->k)];
      g_autoptr (JsonObject) payload = payload_new (w, u, sched_us);
      Sent *sent = g_new (Sent, 1);

      *sent = (Sent){d, room, sched_us};
      w->stats->c[HUB_LG_INFLIGHT]++;
      hub_client_publish (d->client, w->room_names[room], payload, on_publish_reply, sent);
      break;
    }
    case HUB_LG_ACTION_DIRECT: {
      guint to = user_below (u, plan->n_users - 1);
      g_autofree char *name = hub_lg_plan_user_name (plan, to >= u->index ? to + 1 : to);
      g_autoptr (JsonObject) payload = payload_new (w, u, sched_us);
      Sent *sent = g_new (Sent, 1);

      *sent = (Sent){d, G_MAXUINT, sched_us};
      w->stats->c[HUB_LG_INFLIGHT]++;
      hub_client_direct (d->client, name, payload, on_direct_reply, sent);
      break;
    }
    case HUB_LG_ACTION_TYPING:
      hub_client_typing (d->client, w->room_names[u->rooms[user_below (u, w->k)]]);
      break;
    case HUB_LG_ACTION_STATUS: {
      static const char *const statuses[] = {"online", "away", "busy"};
      g_autoptr (JsonObject) fields = json_object_new ();

      json_object_set_string_member (fields, "status", statuses[user_below (u, 3)]);
      hub_client_send (d->client, "status", fields);
      break;
    }
    default:
      break;
  }
}

static void
flush_backlog (HubLgWorker *w, User *u)
{
  g_autoptr (GArray) backlog = g_steal_pointer (&u->backlog);

  for (guint i = 0; backlog != NULL && i < backlog->len; i++) {
    Due *due = &g_array_index (backlog, Due, i);

    w->stats->c[HUB_LG_DEFERRED]++;
    perform (w, u, due->action, due->sched_us);
  }
}

static void
subscribe_status (HubLgWorker *w, Device *d)
{
  g_autoptr (JsonObject) fields = json_object_new ();
  JsonArray *users = json_array_new ();

  for (guint i = 0; i < STATUS_SUBSCRIPTIONS && w->plan->n_users > 1; i++) {
    guint other = user_below (d->user, w->plan->n_users);

    if (other != d->user->index) {
      g_autofree char *name = hub_lg_plan_user_name (w->plan, other);

      json_array_add_string_element (users, name);
    }
  }
  json_object_set_array_member (fields, "users", users);
  w->stats->c[HUB_LG_INFLIGHT]++;
  hub_client_request (d->client, "subscribe", fields, on_plain_reply, w);
}

/* ---- device life ---- */

static void
set_ready (HubLgWorker *w, Device *d)
{
  if (d->ready || !d->connected)
    return;
  d->ready = TRUE;
  w->stats->c[HUB_LG_READY]++;
  if (!d->subscribed && w->config->mix_shares.share[HUB_LG_ACTION_STATUS] > 0) {
    d->subscribed = TRUE;
    subscribe_status (w, d);
  }
  if (d->user->backlog != NULL && w->traffic)
    flush_backlog (w, d->user);
}

typedef struct {
  Device *device; /* (unowned) */
  guint k;
} Join;

static void
on_join_reply (HubClient *client, JsonObject *reply, const GError *error, gpointer user_data)
{
  Join *join = user_data;
  Device *d = join->device;
  HubLgWorker *w = d->worker;
  HubLgSub *sub = &d->subs[join->k];
  gint64 seq;

  g_free (join);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  w->stats->c[HUB_LG_INFLIGHT]--;
  if (error == NULL && json_int (reply, "seq", &seq)) {
    hub_lg_sub_set_baseline (sub, seq);
    raise_known (w, sub->room, seq);
  } else if (error != NULL && error->domain == HUB_ERROR) {
    w->stats->c[HUB_LG_JOINS_FAILED]++;
    error_code (w, "join", reply);
  } else {
    /* The connection went: the next welcome joins again. */
    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
      hub_lg_stats_error (w->stats, "join:timeout");
    return;
  }
  if (d->joins_pending > 0 && --d->joins_pending == 0)
    set_ready (w, d);
}

static void
on_welcome (HubLgWorker *w, Device *d)
{
  d->connected = TRUE;
  w->stats->c[HUB_LG_CONNECTED]++;
  if (!d->welcomed) {
    d->welcomed = TRUE;
    w->stats->c[HUB_LG_CONNECTS]++;
    hub_lg_histogram_record (w->stats->connect, (g_get_monotonic_time () - d->attempt_us) * 1000);
  } else {
    w->stats->c[HUB_LG_RECONNECTS]++;
  }
  d->joins_pending = 0;
  for (guint k = 0; k < w->k; k++) {
    Join *join;

    if (hub_lg_sub_joined (&d->subs[k]))
      continue;
    join = g_new (Join, 1);
    *join = (Join){d, k};
    d->joins_pending++;
    w->stats->c[HUB_LG_INFLIGHT]++;
    {
      g_autoptr (JsonObject) fields = json_object_new ();

      /* Its seq is all the join reply is asked for: not its member list. */
      json_object_set_string_member (fields, "room", w->room_names[d->subs[k].room]);
      hub_client_request_lean (d->client, "join", fields, on_join_reply, join);
    }
  }
  if (d->joins_pending == 0)
    set_ready (w, d);
}

static void
on_state (HubClient *client, const HubClientStateChange *change, gpointer user_data)
{
  Device *d = user_data;
  HubLgWorker *w = d->worker;
  gboolean was_connected = d->connected;

  if (change->state == HUB_CLIENT_CONNECTING) {
    d->attempt_us = g_get_monotonic_time ();
    return;
  }
  if ((change->state != HUB_CLIENT_RECONNECTING && change->state != HUB_CLIENT_DISCONNECTED) ||
      w->tearing_down)
    return;
  if (d->connected) {
    d->connected = FALSE;
    w->stats->c[HUB_LG_CONNECTED]--;
  }
  if (d->ready) {
    d->ready = FALSE;
    w->stats->c[HUB_LG_READY]--;
  }
  for (guint k = 0; k < w->k; k++)
    d->subs[k].replaying = FALSE;
  if (change->close_code != 0) {
    d->last_close = change->close_code;
    hub_lg_stats_close (w->stats, change->close_code);
  }
  if (!was_connected) {
    char kind[96];

    /* By HubClient's reason ("cannot connect: …", "hello refused:
     * unauthorized: …", cut after its second part so that kinds stay few),
     * else by close code: the report says why. */
    w->stats->c[HUB_LG_CONNECT_FAILURES]++;
    if (change->reason != NULL && !g_str_has_prefix (change->reason, "connection closed")) {
      const char *colon = strstr (change->reason, ": ");

      colon = colon != NULL ? strstr (colon + 2, ": ") : NULL;
      g_snprintf (kind, sizeof kind, "connect:%.*s",
                  (int)(colon != NULL ? colon - change->reason : (gssize)strlen (change->reason)),
                  change->reason);
    } else {
      g_snprintf (kind, sizeof kind, "connect:%u", change->close_code);
    }
    hub_lg_stats_error (w->stats, kind);
  } else if (d->dropping) {
    w->stats->c[HUB_LG_CHURN_DROPS]++;
  } else {
    char kind[32];

    w->stats->c[HUB_LG_CLOSES]++;
    g_snprintf (kind, sizeof kind, "close:%u", change->close_code);
    hub_lg_stats_error (w->stats, kind);
  }
  d->dropping = FALSE;
  if (change->state == HUB_CLIENT_DISCONNECTED && !d->gone) {
    d->gone = TRUE;
    w->stats->c[HUB_LG_GONE]++;
  }
}

static void
on_event (HubClient *client, const HubClientEvent *event, gpointer user_data)
{
  Device *d = user_data;
  HubLgWorker *w = d->worker;
  char kind[96];

  switch (event->type) {
    case HUB_CLIENT_EVENT_WELCOME:
      on_welcome (w, d);
      break;
    case HUB_CLIENT_EVENT_INVALID:
      /* Not JSON, or no type: counted, never skipped in silence. */
      w->stats->c[HUB_LG_FRAMES_UNREADABLE]++;
      hub_lg_stats_error (w->stats, "unreadable-frame");
      break;
    case HUB_CLIENT_EVENT_OTHER: {
      const char *type = json_str (event->frame, "type");

      /* A reply to a request that already timed out, or a type we do not know. */
      w->stats->c[HUB_LG_FRAMES_UNREADABLE]++;
      if (event->frame != NULL && json_object_has_member (event->frame, "id"))
        g_snprintf (kind, sizeof kind, "late-reply:%s", type != NULL ? type : "?");
      else
        g_snprintf (kind, sizeof kind, "unexpected-frame:%.60s", type != NULL ? type : "?");
      hub_lg_stats_error (w->stats, kind);
      break;
    }
    default:
      break;
  }
}

/* ---- receiving ----
 *
 * Message, direct, typing and status frames come through on_peeked: HubClient
 * reads them in place (no JSON tree, no allocation) and they are accounted
 * from the spans. Everything else (welcome, replies, resumed, presence, and
 * any frame the in-place reader would not take) comes through on_frame as a
 * tree. Both end in the same accounting below. */

static void account_in (HubLgWorker *w, Device *d, HubLgSub *sub, gint64 seq, gint64 sent_ns);

/* A message frame of @room (G_MAXUINT: not a room of ours) with @seq (-1:
 * none), scheduled at @sent_ns (-1: its payload did not say). */
static void
account_message (HubLgWorker *w, Device *d, guint room, gint64 seq, gint64 sent_ns)
{
  account_in (w, d, room != G_MAXUINT ? device_sub (d, room) : NULL, seq, sent_ns);
}

/* The same, with the subscription found (NULL: not a room of the device's). */
static void
account_in (HubLgWorker *w, Device *d, HubLgSub *sub, gint64 seq, gint64 sent_ns)
{
  guint room = sub != NULL ? sub->room : G_MAXUINT;

  if (sub == NULL || seq < 0) {
    w->stats->c[HUB_LG_MESSAGES_FOREIGN]++;
    hub_lg_stats_error (w->stats, "unexpected-message");
    return;
  }
  raise_known (w, room, seq);
  if (sub->replaying) {
    w->stats->c[HUB_LG_MESSAGES_REPLAYED]++;
  } else {
    w->stats->c[HUB_LG_MESSAGES_LIVE]++;
    /* Into `recent` only: the snapshot adds it to `latency`. */
    if (sent_ns >= 0)
      hub_lg_histogram_record (w->stats->recent, received_ns () - sent_ns);
  }
  switch (hub_lg_sub_receive (sub, seq)) {
    case HUB_LG_RECEIPT_GAP:
      w->stats->c[HUB_LG_GAPS]++;
      break;
    case HUB_LG_RECEIPT_LATE:
      w->stats->c[HUB_LG_OUT_OF_ORDER]++;
      break;
    case HUB_LG_RECEIPT_DUPLICATE:
      w->stats->c[HUB_LG_DUPLICATES]++;
      break;
    default:
      break;
  }
}

/* A direct frame; @echo: a copy of our own user's direct. */
static void
account_direct (HubLgWorker *w, gboolean echo, gint64 sent_ns)
{
  if (echo) {
    w->stats->c[HUB_LG_DIRECT_ECHOES]++;
    return;
  }
  w->stats->c[HUB_LG_DIRECT_RECEIVED]++;
  if (sent_ns >= 0)
    hub_lg_histogram_record (w->stats->direct, received_ns () - sent_ns);
}

/* The subscription of @d for the room named @name (@len bytes, from a frame):
 * with few rooms per user, compared with the device's own room names (cheaper
 * than reading the index and searching); else by the index in the name. */
static HubLgSub *
peeked_sub (HubLgWorker *w, Device *d, const char *name, gsize len)
{
  guint room;

  if (w->k <= 4) {
    for (guint k = 0; k < w->k; k++) {
      guint r = d->subs[k].room;
      const char *mine = w->room_names[r];
      gsize i = 0;

      if (w->room_name_lens[r] != len)
        continue;
      while (i < len && mine[i] == name[i])
        i++;
      if (i == len)
        return &d->subs[k];
    }
    return NULL;
  }
  room = hub_lg_plan_room_index_len (w->plan, name, len);
  return room != G_MAXUINT ? device_sub (d, room) : NULL;
}

/* The payload's scheduled time ("t", read by HubClient in the same pass), or -1. */
static gint64
peeked_sent_ns (const HubClientPeekedFrame *frame)
{
  return frame->has_payload_int ? frame->payload_int : -1;
}

static gboolean
on_peeked (HubClient *client, const HubClientPeekedFrame *frame, gpointer user_data)
{
  Device *d = user_data;
  HubLgWorker *w = d->worker;
  const User *me = d->user;

  if (w->tearing_down)
    return TRUE;
  switch (frame->type) {
    case HUB_CLIENT_EVENT_MESSAGE:
      account_in (w, d,
                  frame->room != NULL ? peeked_sub (w, d, frame->room, frame->room_len) : NULL,
                  frame->seq, peeked_sent_ns (frame));
      break;
    case HUB_CLIENT_EVENT_DIRECT:
      account_direct (w,
                      frame->from != NULL && frame->from_len == me->name_len &&
                          memcmp (frame->from, me->name, frame->from_len) == 0,
                      peeked_sent_ns (frame));
      break;
    case HUB_CLIENT_EVENT_TYPING:
      w->stats->c[HUB_LG_TYPING_RECEIVED]++;
      break;
    case HUB_CLIENT_EVENT_STATUS:
      w->stats->c[HUB_LG_STATUS_RECEIVED]++;
      break;
    case HUB_CLIENT_EVENT_PRESENCE:
      w->stats->c[HUB_LG_PRESENCE_RECEIVED]++;
      break;
    default:
      return FALSE;
  }
  return TRUE;
}

static void
on_message (HubLgWorker *w, Device *d, JsonObject *frame)
{
  gint64 seq = -1, sent_ns = -1;

  if (!json_int (frame, "seq", &seq) || seq < 0)
    seq = -1;
  if (!json_int (json_obj (frame, "payload"), "t", &sent_ns))
    sent_ns = -1;
  account_message (w, d, hub_lg_plan_room_index (w->plan, json_str (frame, "room")), seq, sent_ns);
}

static void
on_frame (HubClient *client, JsonObject *frame, const char *text, gpointer user_data)
{
  Device *d = user_data;
  HubLgWorker *w = d->worker;
  const char *type = json_str (frame, "type");
  gint64 sent_ns;

  if (type == NULL || w->tearing_down)
    return;
  switch (type[0]) {
    case 'm':
      if (strcmp (type, "message") == 0)
        on_message (w, d, frame);
      return;
    case 'd':
      if (strcmp (type, "direct") == 0) {
        if (!json_int (json_obj (frame, "payload"), "t", &sent_ns))
          sent_ns = -1;
        account_direct (w, g_strcmp0 (json_str (frame, "from"), d->user->name) == 0, sent_ns);
      }
      return;
    case 't':
      if (strcmp (type, "typing") == 0)
        w->stats->c[HUB_LG_TYPING_RECEIVED]++;
      return;
    case 's':
      if (strcmp (type, "status") == 0)
        w->stats->c[HUB_LG_STATUS_RECEIVED]++;
      return;
    case 'p':
      if (strcmp (type, "presence") == 0)
        w->stats->c[HUB_LG_PRESENCE_RECEIVED]++;
      return;
    case 'w':
      /* A welcome after the first starts the replay of every room we resume
       * (HubClient resumes each room it tracks, which includes ours). */
      if (strcmp (type, "welcome") == 0 && d->welcomed) {
        for (guint k = 0; k < w->k; k++)
          hub_lg_sub_begin_replay (&d->subs[k]);
      }
      return;
    case 'r':
      if (strcmp (type, "resumed") == 0) {
        guint room = hub_lg_plan_room_index (w->plan, json_str (frame, "room"));
        HubLgSub *sub = room != G_MAXUINT ? device_sub (d, room) : NULL;
        JsonNode *complete = json_object_get_member (frame, "complete");
        gboolean whole = complete == NULL || !JSON_NODE_HOLDS_VALUE (complete) ||
                         json_node_get_boolean (complete);
        gint64 from = 0, to = 0;

        json_int (frame, "from", &from);
        json_int (frame, "to", &to);
        w->stats->c[HUB_LG_RESUMES]++;
        if (!whole)
          w->stats->c[HUB_LG_RESUMES_INCOMPLETE]++;
        if (sub != NULL)
          hub_lg_sub_resumed (sub, from, to, whole);
      }
      return;
    case 'e':
      /* Errors with an id are answered to their request's callback. */
      if (strcmp (type, "error") == 0 && json_object_get_member (frame, "id") == NULL)
        error_code (w, "error", frame);
      return;
    default:
      return;
  }
}

/* ---- the ticker ---- */

static void
reschedule (HubLgWorker *w)
{
  gint64 next = G_MAXINT64;

  if (w->ramping && w->next_connect < w->devices->len)
    next = ((Device *)g_ptr_array_index (w->devices, w->next_connect))->connect_at_us;
  if (w->traffic && w->heap_len > 0 && w->heap[0]->next_us < w->traffic_end_us)
    next = MIN (next, w->heap[0]->next_us);
  if (w->traffic && w->churn_at_us > 0)
    next = MIN (next, w->churn_at_us);
  g_source_set_ready_time (w->ticker, next == G_MAXINT64 ? -1 : next);
}

static void
churn_one (HubLgWorker *w)
{
  for (guint tries = 0; tries < 16; tries++) {
    Device *d = g_ptr_array_index (w->devices,
                                   (guint)g_rand_int_range (w->rand, 0, (gint32)w->devices->len));

    if (d->connected && !d->dropping) {
      d->dropping = TRUE;
      hub_client_drop_connection (d->client);
      return;
    }
  }
}

static gboolean
on_tick (gpointer user_data)
{
  HubLgWorker *w = user_data;
  gint64 now = g_get_monotonic_time ();
  guint budget = BUDGET;

  while (w->ramping && w->next_connect < w->devices->len && budget > 0) {
    Device *d = g_ptr_array_index (w->devices, w->next_connect);

    if (d->connect_at_us > now)
      break;
    w->next_connect++;
    budget--;
    hub_client_connect (d->client);
  }
  if (w->ramping && w->next_connect >= w->devices->len)
    w->ramping = FALSE;
  while (w->traffic && w->heap_len > 0 && w->heap[0]->next_us <= now &&
         w->heap[0]->next_us < w->traffic_end_us && budget > 0) {
    User *u = w->heap[0];
    gint64 sched = u->next_us;

    budget--;
    u->next_us = sched + (gint64)next_gap_us (w, u);
    heap_down (w, 0);
    perform (w, u, hub_lg_mix_pick (&w->config->mix_shares, user_double (u)), sched);
  }
  if (w->traffic && w->churn_at_us > 0 && w->churn_at_us <= now) {
    churn_one (w);
    w->churn_at_us =
        now + MAX (1, (gint64)hub_lg_exponential (w->churn_mean_us, g_rand_double (w->rand)));
  }
  reschedule (w);
  return G_SOURCE_CONTINUE;
}

static gboolean
ticker_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  return callback (user_data);
}

static GSourceFuncs ticker_funcs = {NULL, NULL, ticker_dispatch, NULL, NULL, NULL};

/* ---- set up and tear down (on the worker's thread) ---- */

static void
user_free (User *u)
{
  g_free (u->name);
  g_free (u->token);
  g_free (u->devices);
  if (u->backlog != NULL)
    g_array_unref (u->backlog);
  g_free (u);
}

static void
device_free (Device *d)
{
  for (guint k = 0; k < d->worker->k; k++)
    hub_lg_sub_clear (&d->subs[k]);
  g_free (d->subs);
  g_free (d);
}

static void
do_setup (HubLgWorker *w, gpointer data)
{
  const HubLgConfig *c = w->config;
  const HubLgPlan *plan = w->plan;
  gint64 exp = g_get_real_time () / G_USEC_PER_SEC + TOKEN_LIFETIME_S;
  static const HubClientCallbacks callbacks = {
      .state_changed = on_state, .event = on_event, .frame = on_frame, .peeked = on_peeked};

  w->ticker = g_source_new (&ticker_funcs, sizeof (GSource));
  g_source_set_callback (w->ticker, on_tick, w, NULL);
  g_source_set_priority (w->ticker, G_PRIORITY_DEFAULT);
  g_source_attach (w->ticker, w->context);

  /* This shard's users (u ≡ shard_index mod shard_count), dealt to the workers in turn. */
  for (guint ui = c->shard_index + c->shard_count * w->index; ui < plan->n_users;
       ui += c->shard_count * w->n_workers) {
    User *u = g_new0 (User, 1);

    u->index = ui;
    u->rng = ((guint64)c->seed << 32) ^ ((guint64)ui * G_GUINT64_CONSTANT (0xD1B54A32D192ED03));
    u->name = hub_lg_plan_user_name (plan, ui);
    u->name_len = strlen (u->name);
    if (c->secret != NULL)
      u->token = hub_auth_mint (c->secret, strlen (c->secret), u->name, FALSE, exp);
    u->rooms = hub_lg_plan_rooms_of (plan, ui);
    u->n_devices = plan->user_devices[ui];
    u->devices = g_new0 (Device *, u->n_devices);
    g_ptr_array_add (w->users, u);
    for (guint s = 0; s < u->n_devices; s++) {
      Device *d = g_new0 (Device, 1);
      g_autofree char *label = hub_lg_plan_device_name (s);
      HubClientOptions options;
      g_autoptr (GError) error = NULL;

      d->worker = w;
      d->user = u;
      d->slot = s;
      d->global = plan->user_first_device[ui] + s;
      d->subs = g_new (HubLgSub, w->k);
      for (guint k = 0; k < w->k; k++)
        hub_lg_sub_init (&d->subs[k], d->global, u->rooms[k]);
      hub_client_options_init (&options);
      options.url = c->url;
      options.user = u->name;
      options.device = label;
      options.token = u->token;
      options.auto_reconnect = !c->no_reconnect;
      options.backoff_min_ms = BACKOFF_MIN_MS;
      options.backoff_max_ms = BACKOFF_MAX_MS;
      options.request_timeout_ms = REQUEST_TIMEOUT_MS;
      if (c->source_addresses != NULL)
        options.bind_address =
            g_ptr_array_index (c->source_addresses, d->global % c->source_addresses->len);
      options.transport = hub_lg_wire_transport (c->url);
      options.peek_payload_int = "t";
      options.seed = (c->seed * 2654435761u) ^ (d->global + 1);
      if (options.seed == 0)
        options.seed = 1;
      d->client = hub_client_new (&options, &callbacks, d, &error);
      g_assert (d->client != NULL); /* the URL was checked when the options were parsed */
      u->devices[s] = d;
      g_ptr_array_add (w->devices, d);
    }
  }
  w->stats->c[HUB_LG_DEVICES] = w->devices->len;
  w->heap = g_new (User *, MAX (1, w->users->len));
}

static void
do_teardown (HubLgWorker *w, gpointer data)
{
  w->tearing_down = TRUE;
  w->traffic = FALSE;
  w->ramping = FALSE;
  for (guint i = 0; i < w->devices->len; i++) {
    Device *d = g_ptr_array_index (w->devices, i);

    g_clear_pointer (&d->client, hub_client_free);
  }
  g_source_destroy (w->ticker);
  g_clear_pointer (&w->ticker, g_source_unref);
  g_main_loop_quit (w->loop);
}

static gpointer
worker_main (gpointer data)
{
  HubLgWorker *w = data;

  g_main_context_push_thread_default (w->context);
  g_main_loop_run (w->loop);
  /* Let libwebsockets finish closing what the teardown started. */
  for (guint i = 0; i < 100 && g_main_context_iteration (w->context, FALSE); i++)
    ;
  g_main_context_pop_thread_default (w->context);
  return NULL;
}

HubLgWorker *
hub_lg_worker_new (guint index, guint n_workers, const HubLgConfig *config, const HubLgPlan *plan)
{
  HubLgWorker *w = g_new0 (HubLgWorker, 1);
  g_autofree char *name = g_strdup_printf ("hub-lg-%u", index);

  w->index = index;
  w->n_workers = n_workers;
  w->config = config;
  w->plan = plan;
  w->k = plan->rooms_per_user;
  w->context = g_main_context_new ();
  w->loop = g_main_loop_new (w->context, FALSE);
  w->rand = g_rand_new_with_seed (config->seed * 31u + index + 1);
  w->stats = hub_lg_stats_new ();
  w->users = g_ptr_array_new_with_free_func ((GDestroyNotify)user_free);
  w->devices = g_ptr_array_new_with_free_func ((GDestroyNotify)device_free);
  w->room_names = g_new0 (char *, plan->n_rooms + 1);
  for (guint r = 0; r < plan->n_rooms; r++)
    w->room_names[r] = hub_lg_plan_room_name (plan, r);
  w->room_name_lens = g_new (gsize, plan->n_rooms);
  for (guint r = 0; r < plan->n_rooms; r++)
    w->room_name_lens[r] = strlen (w->room_names[r]);
  if (config->shard_count > 1)
    w->sent = g_array_new (FALSE, FALSE, sizeof (HubLgShardSent));
  w->final = g_new (gint64, plan->n_rooms);
  w->known_max = g_new (gint64, plan->n_rooms);
  for (guint r = 0; r < plan->n_rooms; r++)
    w->final[r] = w->known_max[r] = -1;
  w->thread = g_thread_new (name, worker_main, w);
  call (w, do_setup, NULL);
  return w;
}

void
hub_lg_worker_free (HubLgWorker *w)
{
  if (w == NULL)
    return;
  call (w, do_teardown, NULL);
  g_thread_join (w->thread);
  g_ptr_array_unref (w->devices);
  g_ptr_array_unref (w->users);
  g_strfreev (w->room_names);
  g_free (w->room_name_lens);
  g_free (w->heap);
  g_free (w->final);
  g_free (w->known_max);
  if (w->sent != NULL)
    g_array_unref (w->sent);
  hub_lg_stats_free (w->stats);
  g_rand_free (w->rand);
  g_main_loop_unref (w->loop);
  g_main_context_unref (w->context);
  g_free (w);
}

/* ---- phases ---- */

typedef struct {
  gint64 start_us;
  double per_s;
  gint64 end_us;
  double rate, churn;
} PhaseArgs;

static void
do_start_ramp (HubLgWorker *w, gpointer data)
{
  PhaseArgs *a = data;

  for (guint i = 0; i < w->devices->len; i++) {
    Device *d = g_ptr_array_index (w->devices, i);

    d->connect_at_us = a->start_us + (gint64)(d->global * 1e6 / a->per_s);
  }
  w->next_connect = 0;
  w->ramping = TRUE;
  reschedule (w);
}

void
hub_lg_worker_start_ramp (HubLgWorker *w, gint64 start_us, double per_s)
{
  PhaseArgs a = {.start_us = start_us, .per_s = per_s};

  call (w, do_start_ramp, &a);
}

static void
do_start_traffic (HubLgWorker *w, gpointer data)
{
  PhaseArgs *a = data;

  w->heap_len = 0;
  if (a->rate > 0) {
    w->mean_gap_us = 1e6 / a->rate;
    for (guint i = 0; i < w->users->len; i++) {
      User *u = g_ptr_array_index (w->users, i);

      /* A random phase, so that users do not act in lockstep: uniform over one
       * gap for fixed gaps; for Poisson arrivals the time to the first action
       * is itself exponential (a uniform phase there made the first mean gap
       * offer up to twice the rate: 520/s instead of 450/s over capacity-19k's
       * first minute). */
      u->next_us =
          a->start_us + (w->config->arrival[0] == 'u' ? (gint64)(user_double (u) * w->mean_gap_us)
                                                      : (gint64)next_gap_us (w, u));
      w->heap[w->heap_len++] = u;
    }
    heap_build (w);
  }
  w->churn_at_us = 0;
  if (a->churn > 0 && w->devices->len > 0) {
    w->churn_mean_us = 60e6 / (a->churn / 100.0 * w->devices->len);
    w->churn_at_us =
        a->start_us + (gint64)hub_lg_exponential (w->churn_mean_us, g_rand_double (w->rand));
  }
  w->traffic_end_us = a->end_us;
  w->traffic = TRUE;
  reschedule (w);
}

void
hub_lg_worker_start_traffic (HubLgWorker *w, gint64 start_us, gint64 end_us, double rate,
                             double churn)
{
  PhaseArgs a = {.start_us = start_us, .end_us = end_us, .rate = rate, .churn = churn};

  call (w, do_start_traffic, &a);
}

static void
do_stop_traffic (HubLgWorker *w, gpointer data)
{
  const gint64 *end_us = data;

  /* Every action scheduled before the end is sent, however late this loop
   * is (its latency counts from its schedule): the count of actions a user
   * sends then depends on its draws only, not on the machine's load. */
  while (w->traffic && w->heap_len > 0 && w->heap[0]->next_us < *end_us) {
    User *u = w->heap[0];
    gint64 sched = u->next_us;

    u->next_us = sched + (gint64)next_gap_us (w, u);
    heap_down (w, 0);
    perform (w, u, hub_lg_mix_pick (&w->config->mix_shares, user_double (u)), sched);
  }
  w->traffic = FALSE;
  w->heap_len = 0;
  w->churn_at_us = 0;
  for (guint i = 0; i < w->users->len; i++) {
    User *u = g_ptr_array_index (w->users, i);

    if (u->backlog != NULL) {
      w->stats->c[HUB_LG_SKIPPED] += u->backlog->len;
      g_clear_pointer (&u->backlog, g_array_unref);
    }
  }
  reschedule (w);
}

void
hub_lg_worker_stop_traffic (HubLgWorker *w, gint64 end_us)
{
  call (w, do_stop_traffic, &end_us);
}

static void
do_snapshot (HubLgWorker *w, gpointer data)
{
  /* Deliveries are recorded in `recent` alone (one record each); the whole
   * run's histogram gets them here. */
  HubLgWireCounters wire;

  hub_lg_histogram_merge (w->stats->latency, w->stats->recent);
  hub_lg_wire_get_counters (&wire);
  w->stats->c[HUB_LG_WIRE_READS] = wire.reads;
  w->stats->c[HUB_LG_WIRE_FRAMES] = wire.frames;
  w->stats->c[HUB_LG_WIRE_WAKEUPS] = wire.wakeups;
  w->stats->c[HUB_LG_WIRE_URING_LOOPS] = wire.uring_loops;
  w->stats->c[HUB_LG_WIRE_EPOLL_LOOPS] = wire.epoll_loops;
  hub_lg_stats_merge (data, w->stats);
  hub_lg_histogram_reset (w->stats->recent);
}

void
hub_lg_worker_snapshot (HubLgWorker *w, HubLgStats *into)
{
  call (w, do_snapshot, into);
}

/* ---- the end: final seqs, drain, tally ---- */

typedef struct {
  User *user; /* (unowned) */
  HubLgWorker *worker;
} Query;

static void
on_rooms_reply (HubClient *client, JsonObject *reply, const GError *error, gpointer user_data)
{
  Query *q = user_data;
  HubLgWorker *w = q->worker;
  User *u = q->user;
  JsonNode *node = reply != NULL ? json_object_get_member (reply, "rooms") : NULL;

  g_free (q);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  w->stats->c[HUB_LG_INFLIGHT]--;
  if (error != NULL || node == NULL || !JSON_NODE_HOLDS_ARRAY (node)) {
    u->final = FINAL_IDLE;
    return;
  }
  for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++) {
    JsonNode *e = json_array_get_element (json_node_get_array (node), i);
    JsonObject *o = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
    gint64 seq;

    if (json_int (o, "seq", &seq))
      raise_known (w, hub_lg_plan_room_index (w->plan, json_str (o, "room")), seq);
  }
  u->final = FINAL_ANSWERED;
}

typedef struct {
  gint64 *final;
  guint outstanding;
} FinalArgs;

static void
do_query_final (HubLgWorker *w, gpointer data)
{
  FinalArgs *a = data;

  a->outstanding = 0;
  for (guint i = 0; i < w->users->len; i++) {
    User *u = g_ptr_array_index (w->users, i);
    gboolean alive = FALSE;
    Device *d;

    if (u->final == FINAL_ANSWERED)
      continue;
    /* Only users with a device that got in (and may again) have rooms to settle. */
    for (guint s = 0; s < u->n_devices; s++)
      alive |= !u->devices[s]->gone && u->devices[s]->welcomed;
    if (!alive)
      continue;
    a->outstanding++;
    if (u->final == FINAL_ASKED || (d = pick_device (u)) == NULL)
      continue;
    {
      Query *q = g_new (Query, 1);

      *q = (Query){u, w};
      u->final = FINAL_ASKED;
      w->stats->c[HUB_LG_INFLIGHT]++;
      hub_client_request (d->client, "rooms", NULL, on_rooms_reply, q);
    }
  }
  for (guint r = 0; r < w->plan->n_rooms; r++)
    a->final[r] = MAX (a->final[r], w->known_max[r]);
}

guint
hub_lg_worker_query_final (HubLgWorker *w, gint64 *final)
{
  FinalArgs a = {.final = final};

  call (w, do_query_final, &a);
  return a.outstanding;
}

static void
do_reset_final (HubLgWorker *w, gpointer data)
{
  for (guint i = 0; i < w->users->len; i++)
    ((User *)g_ptr_array_index (w->users, i))->final = FINAL_IDLE;
}

void
hub_lg_worker_reset_final (HubLgWorker *w)
{
  call (w, do_reset_final, NULL);
}

static void
do_set_final (HubLgWorker *w, gpointer data)
{
  memcpy (w->final, data, sizeof (gint64) * w->plan->n_rooms);
}

void
hub_lg_worker_set_final (HubLgWorker *w, const gint64 *final)
{
  call (w, do_set_final, (gpointer) final);
}

static void
do_pending (HubLgWorker *w, gpointer data)
{
  guint64 *pending = data;

  *pending = 0;
  for (guint i = 0; i < w->devices->len; i++) {
    Device *d = g_ptr_array_index (w->devices, i);

    if (d->gone)
      continue;
    for (guint k = 0; k < w->k; k++) {
      HubLgSub *sub = &d->subs[k];

      *pending += (guint64)hub_lg_sub_pending (sub, w->final[sub->room]) + (sub->replaying ? 1 : 0);
    }
  }
}

guint64
hub_lg_worker_pending (HubLgWorker *w)
{
  guint64 pending = 0;

  call (w, do_pending, &pending);
  return pending;
}

typedef struct {
  HubLgTally *tally;
  GArray *misses;
  guint max;
  guint64 *n_ranges;
  Device *device;
} TallyArgs;

static void
on_miss (const HubLgSub *sub, HubLgMissKind kind, gint64 from, gint64 to, gpointer user_data)
{
  TallyArgs *a = user_data;

  (*a->n_ranges)++;
  if (a->misses != NULL && a->misses->len < a->max) {
    HubLgMiss miss = {
        .user = a->device->user->index,
        .slot = a->device->slot,
        .room = sub->room,
        .from = from,
        .to = to,
        .kind = kind,
        .device_gone = a->device->gone,
        .device_down = !a->device->connected,
        .close_code = a->device->last_close,
    };

    g_array_append_val (a->misses, miss);
  }
}

static void
do_tally (HubLgWorker *w, gpointer data)
{
  TallyArgs *a = data;

  for (guint i = 0; i < w->devices->len; i++) {
    Device *d = g_ptr_array_index (w->devices, i);

    a->device = d;
    for (guint k = 0; k < w->k; k++)
      hub_lg_sub_tally (&d->subs[k], w->final[d->subs[k].room], a->tally, on_miss, a);
  }
}

void
hub_lg_worker_tally (HubLgWorker *w, HubLgTally *tally, GArray *misses, guint max_misses,
                     guint64 *n_ranges)
{
  TallyArgs a = {tally, misses, max_misses, n_ranges, NULL};

  call (w, do_tally, &a);
}

static void
do_export (HubLgWorker *w, gpointer data)
{
  HubLgShardRecord *record = data;

  for (guint i = 0; i < w->devices->len; i++) {
    Device *d = g_ptr_array_index (w->devices, i);
    HubLgShardDevice state = {
        .global = d->global,
        .user = d->user->index,
        .slot = d->slot,
        .last_close = d->last_close,
        .connected = d->connected,
        .gone = d->gone,
    };

    g_array_append_val (record->devices, state);
    for (guint k = 0; k < w->k; k++) {
      HubLgSub copy = d->subs[k];

      if (copy.holes != NULL)
        copy.holes = g_array_copy (copy.holes);
      if (copy.evicted != NULL)
        copy.evicted = g_array_copy (copy.evicted);
      g_array_append_val (record->subs, copy);
    }
  }
  record->users += w->users->len;
  if (w->sent != NULL)
    g_array_append_vals (record->sent, w->sent->data, w->sent->len);
}

void
hub_lg_worker_export (HubLgWorker *w, HubLgShardRecord *record)
{
  call (w, do_export, record);
}
