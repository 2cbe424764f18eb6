/* hub-redis.c: hiredis on the GLib main loop for the Redis store: a command
 * context and a subscriber context, reconnected with backoff whenever either
 * drops, scripts run by EVALSHA with an EVAL fallback (a restarted Redis
 * has lost its script cache), and a deadline on every call: a Redis that
 * stalls (paused, swapping, a slow disk under appendfsync always) answers
 * nothing, and without one a request would wait for as long as it lasts. */
#include "hub-redis.h"

#include <hiredis/async.h>
#include <string.h>

#include "hub-net.h"
#include "hub/hub-error.h"
#include "hub/hub-event.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* At most this many 16 kB reads per wake-up of a context (64 KiB). Every frame
 * read goes to the connections' queues, which the transport writes out once
 * per loop iteration: a wake-up must not bring more than they hold meanwhile.
 * With 1 MiB (64 reads), a burst of published frames closed fast consumers
 * with 4009 under load (test-server-limits@redis), which one node never did. */
#define READS_PER_DISPATCH 4
/* A deadline's dispatch this much later than the deadline: the node stalled
 * (GLib dispatches a due source within milliseconds, even on a loaded machine). */
#define NODE_STALL_US (1000 * G_TIME_SPAN_MILLISECOND)

/* A GSource driving one redisAsyncContext, like hiredis' adapters/glib.h but
 * safe when a read or write frees the context (a lost connection). */
typedef struct {
  GSource source;
  redisAsyncContext *ac; /* (unowned) NULL once hiredis freed it */
  HubNetPoll *poll;      /* (owned) the context's socket */
} RedisSource;

typedef struct _Call Call;

/* Fires at the deadline of the oldest call in flight. */
typedef struct {
  GSource source;
  HubRedis *redis; /* (unowned) */
} DeadlineSource;

static gboolean deadline_dispatch (GSource *source, GSourceFunc callback, gpointer user_data);
static GSourceFuncs deadline_funcs = {NULL, NULL, deadline_dispatch, NULL, NULL, NULL};

struct _HubRedis {
  char *host; /* (owned) */
  int port;
  int db;
  char *prefix;       /* (owned) */
  char *node;         /* (owned) */
  char *grace_ms;     /* (owned) the node's presence grace, every script's ARGV[3] */
  char *node_channel; /* (owned) */
  char *all_channel;  /* (owned) */
  HubRedisEvents events;
  gpointer user_data;
  char *sha[HUB_SCRIPT_N]; /* (owned) SHA1 of each script's text */

  redisContext *sync;     /* (owned) (nullable) blocking connection of the HTTP publish */
  redisAsyncContext *cmd; /* (unowned: hiredis frees it) NULL when gone */
  redisAsyncContext *sub;
  gboolean cmd_connected, sub_connected;
  gboolean cmd_ready, sub_ready;
  gboolean up;
  gboolean down_reported; /* the outage has had its log line */
  gboolean was_ever_up;
  gboolean freeing;
  guint backoff_ms;
  guint reconnect_timer;

  /* Replies come in the order of the calls (one command connection), so the
   * oldest call in flight is the first to pass its deadline. */
  gint64 timeout_us;
  GQueue calls;      /* Call* sent and not answered, within their deadline, oldest first */
  GQueue overdue;    /* Call* answered NULL at their deadline, Redis' answer still due */
  GSource *deadline; /* (owned) DeadlineSource */
};

/* --- The GSource ------------------------------------------------------------------------------ */

static void
source_update (RedisSource *s, gushort set, gushort clear)
{
  gushort old = hub_net_poll_get_events (s->poll);
  gushort events = (gushort)((old | set) & ~clear);

  if (events == old)
    return;
  hub_net_poll_set_events (s->poll, events);
  /* A loop blocked in poll (or a libuv loop watching the context's fds)
   * must pick up the new events. */
  g_main_context_wakeup (g_source_get_context ((GSource *)s));
}

static void
ev_add_read (void *data)
{
  source_update (data, G_IO_IN, 0);
}

static void
ev_del_read (void *data)
{
  source_update (data, 0, G_IO_IN);
}

static void
ev_add_write (void *data)
{
  source_update (data, G_IO_OUT, 0);
}

static void
ev_del_write (void *data)
{
  source_update (data, 0, G_IO_OUT);
}

static void
ev_cleanup (void *data)
{
  RedisSource *s = data;

  /* hiredis is freeing the context (and then closes the socket): never
   * touch either again. */
  s->ac = NULL;
  hub_net_poll_free (s->poll, (GSource *)s);
  s->poll = NULL;
  g_source_destroy ((GSource *)s);
}

static gboolean
source_prepare (GSource *source, gint *timeout)
{
  RedisSource *s = (RedisSource *)source;

  *timeout = s->poll != NULL ? hub_net_poll_timeout (s->poll) : -1;
  return s->poll != NULL && hub_net_poll_ready (s->poll) != 0;
}

static gboolean
source_check (GSource *source)
{
  RedisSource *s = (RedisSource *)source;

  /* A hang-up may come alone (libuv reports it so): hiredis reads the EOF. */
  return s->poll != NULL && hub_net_poll_ready (s->poll) != 0;
}

static gboolean
source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  RedisSource *s = (RedisSource *)source;
  gushort revents = s->poll != NULL ? hub_net_poll_take (s->poll) : 0;

  if (s->ac != NULL && (revents & (G_IO_OUT | G_IO_ERR | G_IO_HUP)))
    redisAsyncHandleWrite (s->ac);
  if (s->ac != NULL && (revents & (G_IO_IN | G_IO_ERR | G_IO_HUP))) {
    int fd = s->ac->c.fd;

    /* hiredis reads at most 16 kB per call: drain what the socket holds
     * (bounded), or a busy pub/sub channel falls behind one loop iteration
     * at a time. */
    redisAsyncHandleRead (s->ac);
    for (guint i = 0; i < READS_PER_DISPATCH && s->ac != NULL; i++) {
      if (hub_net_bytes_readable (fd) == 0)
        break;
      redisAsyncHandleRead (s->ac);
    }
  }
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs source_funcs = {source_prepare, source_check, source_dispatch,
                                    NULL,           NULL,         NULL};

static void
attach (redisAsyncContext *ac)
{
  RedisSource *s = (RedisSource *)g_source_new (&source_funcs, sizeof *s);

  s->ac = ac;
  s->poll = hub_net_poll_new ((GSource *)s, (int)ac->c.fd);
  ac->ev.addRead = ev_add_read;
  ac->ev.delRead = ev_del_read;
  ac->ev.addWrite = ev_add_write;
  ac->ev.delWrite = ev_del_write;
  ac->ev.cleanup = ev_cleanup;
  ac->ev.data = s;
  g_source_attach ((GSource *)s, NULL);
  g_source_unref ((GSource *)s); /* the context keeps it alive until ev_cleanup */
}

/* --- Connection state ------------------------------------------------------------------------- */

static void start_connect (HubRedis *r);

static gboolean
on_reconnect_timer (gpointer data)
{
  HubRedis *r = data;

  r->reconnect_timer = 0;
  start_connect (r);
  return G_SOURCE_REMOVE;
}

/* Clears *@field first, so on_disconnect will not recognise the context. A
 * connected context is disconnected (its pending callbacks get NULL); one still
 * connecting is freed (hiredis would not call on_disconnect for it). */
static void
drop_context (redisAsyncContext **field, gboolean *connected)
{
  redisAsyncContext *ac = *field;

  if (ac == NULL)
    return;
  *field = NULL;
  if (*connected)
    redisAsyncDisconnect (ac);
  else
    redisAsyncFree (ac);
  *connected = FALSE;
}

static void orphan_calls (HubRedis *r);

/* One line per change an operator cares about, at warning (issue 15): the
 * first failure of an outage (a lost connection, or none at start), and
 * Redis back after one; the first connection at start is info. The retries
 * in between say nothing. */
static void
report_state (HubRedis *r, gboolean up, const char *why)
{
  g_autofree char *where = g_strdup_printf ("%s:%d", r->host, r->port);

  if (up) {
    hub_event_log (G_LOG_DOMAIN, r->down_reported ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_INFO,
                   "redis_up",
                   r->was_ever_up || r->down_reported ? "cluster: Redis is back, healthy again"
                                                      : "cluster: connected to Redis",
                   "redis", where, NULL);
    r->down_reported = FALSE;
    r->was_ever_up = TRUE;
  } else if (!r->down_reported) {
    hub_event_log (G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, "redis_down",
                   r->was_ever_up ? "cluster: lost Redis; degraded (healthz 503, requests answered "
                                    "'cluster broker unavailable') until it is back"
                                  : "cluster: cannot reach Redis; degraded until it answers "
                                    "(retrying with backoff)",
                   "redis", where, "reason", why, NULL);
    r->down_reported = TRUE;
  }
}

/* One of the contexts is gone (or never came) (@why, nullable): drop the
 * other, go down, and try again after the backoff once both are gone. */
static void
lost (HubRedis *r, const char *why)
{
  gboolean was_up = r->up;

  r->up = FALSE;
  r->cmd_ready = r->sub_ready = FALSE;
  if (r->freeing)
    return;
  /* Answered now: a dropped context may drain its replies for a long time
   * (or never, from a stalled Redis), and its lateness is not the new one's. */
  orphan_calls (r);
  drop_context (&r->cmd, &r->cmd_connected);
  drop_context (&r->sub, &r->sub_connected);
  report_state (r, FALSE, why);
  if (was_up)
    r->events.down (r->user_data);
  if (r->cmd == NULL && r->sub == NULL && r->reconnect_timer == 0) {
    r->reconnect_timer = g_timeout_add (r->backoff_ms, on_reconnect_timer, r);
    r->backoff_ms = MIN (r->backoff_ms * 2, BACKOFF_MAX_MS);
  }
}

/* A context that is neither r->cmd nor r->sub was dropped by lost() (which
 * cleared its field first) and is only draining its last replies: its end,
 * possibly after the reconnection, says nothing about the current ones. */
static gboolean
is_current (HubRedis *r, const redisAsyncContext *ac)
{
  return ac == r->cmd || ac == r->sub;
}

static void
on_disconnect (const redisAsyncContext *ac, int status)
{
  HubRedis *r = ac->data;

  if (!is_current (r, ac))
    return;
  if (ac == r->cmd) {
    r->cmd = NULL;
    r->cmd_connected = FALSE;
  }
  if (ac == r->sub) {
    r->sub = NULL;
    r->sub_connected = FALSE;
  }
  lost (r, ac->errstr[0] != '\0' ? ac->errstr : "connection closed");
}

static void
maybe_up (HubRedis *r)
{
  if (r->up || !r->cmd_ready || !r->sub_ready)
    return;
  r->up = TRUE;
  r->backoff_ms = BACKOFF_MIN_MS;
  report_state (r, TRUE, NULL);
  r->events.up (r->user_data);
}

static void
on_subscribe_reply (redisAsyncContext *ac, void *reply_, void *data)
{
  HubRedis *r = ac->data;
  redisReply *reply = reply_;

  /* A dropped subscriber must neither deliver twice nor count as subscribed. */
  if (ac != r->sub || reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
      reply->element[0]->type != REDIS_REPLY_STRING)
    return;
  if (strcmp (reply->element[0]->str, "subscribe") == 0) {
    /* One confirmation per channel; the last one counts 2. */
    if (reply->element[2]->type == REDIS_REPLY_INTEGER && reply->element[2]->integer == 2) {
      r->sub_ready = TRUE;
      maybe_up (r);
    }
  } else if (strcmp (reply->element[0]->str, "message") == 0 &&
             reply->element[1]->type == REDIS_REPLY_STRING &&
             reply->element[2]->type == REDIS_REPLY_STRING) {
    gboolean broadcast = strcmp (reply->element[1]->str, r->all_channel) == 0;

    r->events.message (r->user_data, broadcast, reply->element[2]->str,
                       (gsize)reply->element[2]->len);
  }
}

static void
on_select_reply (redisAsyncContext *ac, void *reply_, void *data)
{
  HubRedis *r = ac->data;
  redisReply *reply = reply_;

  if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
    if (reply != NULL)
      g_warning ("cluster: SELECT %d: %s", r->db, reply->str);
    return;
  }
  if (ac == r->cmd) {
    r->cmd_ready = TRUE;
    maybe_up (r);
  }
}

static void
on_connect (const redisAsyncContext *cac, int status)
{
  redisAsyncContext *ac = (redisAsyncContext *)cac;
  HubRedis *r = ac->data;
  g_autofree char *db = g_strdup_printf ("%d", r->db);
  const char *select_argv[] = {"SELECT", db};

  if (!is_current (r, ac))
    return; /* dropped meanwhile: hiredis frees it after this callback */
  if (status != REDIS_OK) {
    /* hiredis frees the context after this callback, without on_disconnect. */
    if (ac == r->cmd)
      r->cmd = NULL;
    if (ac == r->sub)
      r->sub = NULL;
    lost (r, ac->errstr);
    return;
  }
  if (ac == r->cmd)
    r->cmd_connected = TRUE;
  if (ac == r->sub)
    r->sub_connected = TRUE;
  redisAsyncCommandArgv (ac, on_select_reply, NULL, 2, select_argv, NULL);
  if (ac == r->cmd) {
    /* Before any script call: a restarted Redis has an empty script cache. */
    for (guint i = 0; i < HUB_SCRIPT_N; i++) {
      const char *load[] = {"SCRIPT", "LOAD", hub_redis_script_source ((HubScript)i)};

      redisAsyncCommandArgv (ac, NULL, NULL, 3, load, NULL);
    }
  }
  if (ac == r->sub) {
    const char *argv[] = {"SUBSCRIBE", r->node_channel, r->all_channel};

    redisAsyncCommandArgv (ac, on_subscribe_reply, NULL, 3, argv, NULL);
  }
}

static redisAsyncContext *
connect_one (HubRedis *r)
{
  redisAsyncContext *ac = redisAsyncConnect (r->host, r->port);

  if (ac == NULL)
    return NULL;
  if (ac->err != 0) {
    redisAsyncFree (ac);
    return NULL;
  }
  ac->data = r;
  attach (ac);
  redisAsyncSetConnectCallback (ac, on_connect);
  redisAsyncSetDisconnectCallback (ac, on_disconnect);
  return ac;
}

static void
start_connect (HubRedis *r)
{
  r->cmd = connect_one (r);
  r->sub = connect_one (r);
  if (r->cmd == NULL || r->sub == NULL)
    lost (r, "cannot make a connection");
}

/* --- Life cycle ------------------------------------------------------------------------------- */

static gboolean
parse_url (HubRedis *r, const char *url, GError **error)
{
  const char *rest;
  g_auto (GStrv) parts = NULL;
  const char *colon;
  guint64 v;

  if (!g_str_has_prefix (url, "redis://"))
    goto bad;
  rest = url + strlen ("redis://");
  parts = g_strsplit (rest, "/", 2);
  if (parts[0] == NULL || parts[0][0] == '\0')
    goto bad;
  colon = strrchr (parts[0], ':');
  if (colon != NULL) {
    if (!g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &v, NULL))
      goto bad;
    r->port = (int)v;
    r->host = g_strndup (parts[0], (gsize)(colon - parts[0]));
  } else {
    r->port = 6379;
    r->host = g_strdup (parts[0]);
  }
  if (parts[1] != NULL && parts[1][0] != '\0') {
    if (!g_ascii_string_to_unsigned (parts[1], 10, 0, 1000000, &v, NULL))
      goto bad;
    r->db = (int)v;
  }
  return TRUE;
bad:
  g_set_error (error, HUB_ERROR, HUB_ERROR_BAD_REQUEST,
               "'%s' is not a Redis URL (redis://HOST:PORT[/DB])", url);
  return FALSE;
}

HubRedis *
hub_redis_new (const char *url, const char *prefix, const char *node, guint grace_ms,
               guint timeout_ms, const HubRedisEvents *events, gpointer user_data, GError **error)
{
  HubRedis *r = g_new0 (HubRedis, 1);

  hub_net_init (); /* hiredis's sockets need winsock started on Windows */
  if (!parse_url (r, url, error)) {
    g_free (r->host);
    g_free (r);
    return NULL;
  }
  r->prefix = g_strdup (prefix);
  r->node = g_strdup (node);
  r->grace_ms = g_strdup_printf ("%u", grace_ms);
  r->node_channel = g_strdup_printf ("%sch:node:%s", prefix, node);
  r->all_channel = g_strdup_printf ("%sch:all", prefix);
  r->events = *events;
  r->user_data = user_data;
  r->backoff_ms = BACKOFF_MIN_MS;
  r->timeout_us = (gint64)MAX (timeout_ms, 1u) * 1000;
  g_queue_init (&r->calls);
  g_queue_init (&r->overdue);
  r->deadline = g_source_new (&deadline_funcs, sizeof (DeadlineSource));
  ((DeadlineSource *)r->deadline)->redis = r;
  g_source_set_ready_time (r->deadline, -1);
  g_source_attach (r->deadline, NULL);
  for (guint i = 0; i < HUB_SCRIPT_N; i++)
    r->sha[i] =
        g_compute_checksum_for_string (G_CHECKSUM_SHA1, hub_redis_script_source ((HubScript)i), -1);
  return r;
}

void
hub_redis_start (HubRedis *r)
{
  if (r->cmd == NULL && r->sub == NULL && r->reconnect_timer == 0)
    start_connect (r);
}

void
hub_redis_free (HubRedis *r)
{
  if (r == NULL)
    return;
  r->freeing = TRUE;
  if (r->reconnect_timer != 0)
    g_source_remove (r->reconnect_timer);
  g_source_destroy (r->deadline);
  g_clear_pointer (&r->deadline, g_source_unref);
  /* redisAsyncFree runs the pending callbacks with NULL replies. */
  if (r->cmd != NULL) {
    redisAsyncContext *ac = g_steal_pointer (&r->cmd);

    redisAsyncFree (ac);
  }
  if (r->sub != NULL) {
    redisAsyncContext *ac = g_steal_pointer (&r->sub);

    redisAsyncFree (ac);
  }
  orphan_calls (r);
  g_clear_pointer (&r->sync, redisFree);
  for (guint i = 0; i < HUB_SCRIPT_N; i++)
    g_free (r->sha[i]);
  g_free (r->host);
  g_free (r->prefix);
  g_free (r->node);
  g_free (r->grace_ms);
  g_free (r->node_channel);
  g_free (r->all_channel);
  g_free (r);
}

gboolean
hub_redis_is_up (HubRedis *r)
{
  return r->up;
}

const char *
hub_redis_prefix (HubRedis *r)
{
  return r->prefix;
}

const char *
hub_redis_node_channel (HubRedis *r)
{
  return r->node_channel;
}

const char *
hub_redis_all_channel (HubRedis *r)
{
  return r->all_channel;
}

/* --- Commands --------------------------------------------------------------------------------- */

struct _Call {
  GList link;      /* in redis->calls or redis->overdue; .data is the call */
  HubRedis *redis; /* (unowned) NULL once the HubRedis is freed: the reply is only dropped */
  HubRedisReplyFunc func;
  gpointer data;
  GPtrArray *argv; /* (owned) the EVALSHA argv, for the EVAL retry; NULL for commands */
  HubScript script;
  gint64 sent_us; /* monotonic */
  gboolean retried;
  gboolean overdue; /* answered NULL at its deadline */
};

static Call *
call_new (HubRedis *r, HubRedisReplyFunc func, gpointer data)
{
  Call *call = g_new0 (Call, 1);

  call->link.data = call;
  call->redis = r;
  call->func = func;
  call->data = data;
  return call;
}

static void
call_free (Call *call)
{
  if (call->argv != NULL)
    g_ptr_array_unref (call->argv);
  g_free (call);
}

/* Answers @call with @reply (NULL: no answer) and frees it. */
static void
call_answer (Call *call, redisReply *reply)
{
  call->func (reply, call->data);
  call_free (call);
}

static void on_reply (redisAsyncContext *ac, void *reply_, void *data);

/* Sends @call (argv of @argc strings) on the command connection; FALSE when
 * it cannot be sent: Redis is down, or late (a call is past its deadline
 * unanswered: a new one would only queue behind it). */
static gboolean
send_call (HubRedis *r, Call *call, int argc, const char *const *argv)
{
  if (!r->up || r->cmd == NULL || r->overdue.length > 0)
    return FALSE;
  if (redisAsyncCommandArgv (r->cmd, on_reply, call, argc, (const char **)argv, NULL) != REDIS_OK)
    return FALSE;
  call->sent_us = g_get_monotonic_time ();
  if (g_queue_is_empty (&r->calls))
    g_source_set_ready_time (r->deadline, call->sent_us + r->timeout_us);
  g_queue_push_tail_link (&r->calls, &call->link);
  return TRUE;
}

static gboolean
send_argv (HubRedis *r, GPtrArray *argv, Call *call)
{
  return send_call (r, call, (int)argv->len, (const char *const *)argv->pdata);
}

/* Answers NULL every call whose deadline passed; they stay with hiredis
 * (overdue) until Redis answers them or the connection goes. */
/* Whether Redis' answers wait unread on the command connection. */
static gboolean
answers_unread (HubRedis *r)
{
  return r->cmd != NULL && hub_net_bytes_readable (r->cmd->c.fd) > 0;
}

/* Reads (bounded, without waiting) what Redis already sent on the command
 * connection: a reply that came in time is not late because this node reads
 * it after its deadline. */
static void
read_unread (HubRedis *r)
{
  for (guint i = 0; i < READS_PER_DISPATCH && answers_unread (r); i++)
    redisAsyncHandleRead (r->cmd);
}

static void
expire_calls (HubRedis *r)
{
  gint64 now = g_get_monotonic_time ();
  Call *oldest = g_queue_peek_head (&r->calls);
  GList *l;

  if (oldest != NULL && now - oldest->sent_us - r->timeout_us > NODE_STALL_US) {
    /* The deadline passed long before this dispatch: this node itself
     * stalled (SIGSTOP, a VM pause, a loop busy for seconds), not Redis. Its
     * calls may not even have been written yet, and their answers are
     * unread: judged late, they would refuse every request its clients
     * buffered meanwhile (test-server-stall@redis). Each gets a whole
     * deadline from now, as the guard gives connections' silences. */
    for (GList *i = r->calls.head; i != NULL; i = i->next)
      ((Call *)i->data)->sent_us = now;
    g_source_set_ready_time (r->deadline, now + r->timeout_us);
    return;
  }
  if (oldest != NULL && now - oldest->sent_us >= r->timeout_us)
    read_unread (r);

  while ((l = g_queue_peek_head_link (&r->calls)) != NULL) {
    Call *call = l->data;

    if (now - call->sent_us < r->timeout_us) {
      g_source_set_ready_time (r->deadline, call->sent_us + r->timeout_us);
      return;
    }
    g_queue_unlink (&r->calls, l);
    call->overdue = TRUE;
    g_queue_push_tail_link (&r->overdue, l);
    if (r->overdue.length == 1)
      g_warning ("cluster: Redis at %s:%d has not answered within %" G_GINT64_FORMAT
                 " ms; degraded until it does",
                 r->host, r->port, r->timeout_us / 1000);
    call->func (NULL, call->data);
  }
  g_source_set_ready_time (r->deadline, -1);
}

/* Answers NULL every call in flight and forgets the overdue ones: Redis'
 * answers, if they come, only free them. */
static void
orphan_calls (HubRedis *r)
{
  while (!g_queue_is_empty (&r->calls)) {
    Call *call = g_queue_pop_head_link (&r->calls)->data;

    call->redis = NULL;
    call->func (NULL, call->data);
  }
  while (!g_queue_is_empty (&r->overdue))
    ((Call *)g_queue_pop_head_link (&r->overdue)->data)->redis = NULL;
}

static gboolean
deadline_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  expire_calls (((DeadlineSource *)source)->redis);
  return G_SOURCE_CONTINUE;
}

static void
on_reply (redisAsyncContext *ac, void *reply_, void *data)
{
  Call *call = data;
  HubRedis *r = call->redis;
  redisReply *reply = reply_;

  if (r == NULL) { /* answered when the HubRedis was freed */
    call_free (call);
    return;
  }
  if (call->overdue) {
    /* Its caller was answered at the deadline: only the lateness ends. */
    g_queue_unlink (&r->overdue, &call->link);
    call_free (call);
    if (r->overdue.length == 0 && reply != NULL && r->up && !r->freeing) {
      g_message ("cluster: Redis at %s:%d answers again", r->host, r->port);
      r->events.caught_up (r->user_data);
    }
    return;
  }
  g_queue_unlink (&r->calls, &call->link);
  if (reply != NULL && reply->type == REDIS_REPLY_ERROR && call->argv != NULL && !call->retried &&
      g_str_has_prefix (reply->str, "NOSCRIPT")) {
    /* Same arguments, with the script's text instead of its SHA1. Scripts
     * are loaded on every (re)connect, so this only follows a SCRIPT FLUSH. */
    call->retried = TRUE;
    g_free (call->argv->pdata[0]);
    g_free (call->argv->pdata[1]);
    call->argv->pdata[0] = g_strdup ("EVAL");
    call->argv->pdata[1] = g_strdup (hub_redis_script_source (call->script));
    if (send_argv (r, call->argv, call))
      return;
    reply = NULL;
  }
  if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
    g_warning ("cluster: Redis error: %s", reply->str);
  call_answer (call, reply);
}

void
hub_redis_eval (HubRedis *r, HubScript script, GPtrArray *args, HubRedisReplyFunc func,
                gpointer data)
{
  Call *call = call_new (r, func, data);

  call->script = script;
  call->argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (call->argv, g_strdup ("EVALSHA"));
  g_ptr_array_add (call->argv, g_strdup (r->sha[script]));
  g_ptr_array_add (call->argv, g_strdup ("0"));
  g_ptr_array_add (call->argv, g_strdup (r->prefix));
  g_ptr_array_add (call->argv, g_strdup (r->node));
  g_ptr_array_add (call->argv, g_strdup (r->grace_ms));
  for (guint i = 0; args != NULL && i < args->len; i++)
    g_ptr_array_add (call->argv, g_strdup (g_ptr_array_index (args, i)));
  if (!send_argv (r, call->argv, call))
    call_answer (call, NULL);
}

void
hub_redis_command (HubRedis *r, const char *const *argv, guint argc, HubRedisReplyFunc func,
                   gpointer data)
{
  Call *call = call_new (r, func, data);

  if (!send_call (r, call, (int)argc, argv))
    call_answer (call, NULL);
}

gboolean
hub_redis_is_late (HubRedis *r)
{
  /* Only the deadline's dispatch judges a call late (expire_calls): past
   * its deadline after a stall of this node, a call is not late yet. */
  return r->overdue.length > 0;
}

/* --- Blocking calls --------------------------------------------------------------------------- */

static redisReply *
sync_argv (HubRedis *r, GPtrArray *argv)
{
  struct timeval tv = {1, 0};
  redisReply *reply;

  if (!r->up)
    return NULL;
  if (r->sync == NULL) {
    r->sync = redisConnectWithTimeout (r->host, r->port, tv);
    if (r->sync == NULL || r->sync->err != 0 || redisSetTimeout (r->sync, tv) != REDIS_OK) {
      g_clear_pointer (&r->sync, redisFree);
      return NULL;
    }
    if (r->db != 0) {
      reply = redisCommand (r->sync, "SELECT %d", r->db);
      if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (reply != NULL)
          freeReplyObject (reply);
        g_clear_pointer (&r->sync, redisFree);
        return NULL;
      }
      freeReplyObject (reply);
    }
  }
  reply = redisCommandArgv (r->sync, (int)argv->len, (const char **)argv->pdata, NULL);
  if (reply == NULL) {
    /* Broken or timed out: a fresh connection next time. */
    g_clear_pointer (&r->sync, redisFree);
  }
  return reply;
}

redisReply *
hub_redis_eval_sync (HubRedis *r, HubScript script, GPtrArray *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  redisReply *reply;

  g_ptr_array_add (argv, g_strdup ("EVALSHA"));
  g_ptr_array_add (argv, g_strdup (r->sha[script]));
  g_ptr_array_add (argv, g_strdup ("0"));
  g_ptr_array_add (argv, g_strdup (r->prefix));
  g_ptr_array_add (argv, g_strdup (r->node));
  g_ptr_array_add (argv, g_strdup (r->grace_ms));
  for (guint i = 0; args != NULL && i < args->len; i++)
    g_ptr_array_add (argv, g_strdup (g_ptr_array_index (args, i)));
  reply = sync_argv (r, argv);
  if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
      g_str_has_prefix (reply->str, "NOSCRIPT")) {
    freeReplyObject (reply);
    g_free (argv->pdata[0]);
    g_free (argv->pdata[1]);
    argv->pdata[0] = g_strdup ("EVAL");
    argv->pdata[1] = g_strdup (hub_redis_script_source (script));
    reply = sync_argv (r, argv);
  }
  return reply;
}
