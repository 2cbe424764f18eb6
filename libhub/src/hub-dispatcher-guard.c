/* hub-dispatcher-guard.c: the dispatcher's defences (hub-dispatcher-guard.h):
 * liveness that survives stalls of the loop, cheap answers to the frames the
 * server will not execute, and the per-user bounds of PROTOCOL.md §8. */
#include "hub-dispatcher-private.h"

#include <string.h>

/* --- State --------------------------------------------------------------------- */

/* A sender's fan-out budget: bytes it may have queued to other users'
 * connections, refilled at fanout_bytes_per_s up to one second's worth. It
 * may go into debt (a multicast of 60 KB to 500 users costs 30 MB at once);
 * nothing more is accepted until the debt is repaid. */
typedef struct {
  double bytes;
  gint64 refilled_us;
} FanoutBucket;

void
hub_dispatcher_guard_init (HubDispatcherGuard *guard, const HubConfig *config)
{
  memset (guard, 0, sizeof *guard);
  guard->fanout = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  guard->welcome_limits = (HubWelcomeLimits){
      .rate_per_s = config->rate_per_s,
      .burst = config->burst,
      .max_connections_per_user = config->max_connections_per_user,
      .max_subscriptions_per_user = config->max_subscriptions_per_user,
      .fanout_bytes_per_s = (gint64)config->fanout_bytes_per_s,
  };
}

void
hub_dispatcher_guard_clear (HubDispatcherGuard *guard)
{
  g_clear_pointer (&guard->fanout, g_hash_table_unref);
}

/* --- Liveness ------------------------------------------------------------------- */

/* A connection is closed with 4002 once it was silent for 3 × heartbeat AND
 * left this many pings unanswered: silence while we sent nothing (our loop
 * stalled) proves nothing. Each connection is pinged once per heartbeat, so
 * in 3 × heartbeat of silence it got three. */
#define PINGS_BEFORE_DEAD 3
/* A tick later than due by this much (and at least by two tick intervals)
 * means the loop did not run: SIGSTOP, a VM pause, a swapped-out process.
 * The input of that time waits unread in the sockets (after SIGCONT, epoll
 * returns EINTR and the timers run before any read), so silence measured
 * across it is ours, not the clients'. */
#define STALL_LATE_US (1 * G_USEC_PER_SEC)

typedef struct {
  gint64 now_us;
  gint64 dead_after_us;
  guint slot;    /* connections of this slot are pinged */
  guint n_slots; /* slots per heartbeat */
  gboolean restart;
} Sweep;

/* A connection's tick within the heartbeat's cycle: the top bits of a
 * Fibonacci hash of its address, which is stable for its life and spreads
 * connections made together (a reconnect storm) over the whole cycle. */
static guint
ping_slot (HubConnection *conn, guint n_slots)
{
  return (guint)((((guint64)(guintptr)conn) * G_GUINT64_CONSTANT (0x9E3779B97F4A7C15)) >> 32) %
         n_slots;
}

static void
sweep_one (HubConnection *conn, gpointer user_data)
{
  const Sweep *sweep = user_data;

  if (hub_connection_is_closing (conn))
    return;
  if (sweep->restart)
    hub_connection_liveness_restart (conn, sweep->now_us);
  else if (hub_connection_silent_us (conn, sweep->now_us) >= sweep->dead_after_us &&
           hub_connection_pings_unanswered (conn) >= PINGS_BEFORE_DEAD) {
    hub_connection_close (conn, HUB_CLOSE_LIVENESS, "liveness timeout");
    return;
  }
  if (ping_slot (conn, sweep->n_slots) == sweep->slot)
    hub_connection_ping (conn);
}

void
hub_dispatcher_liveness_scheduled (HubDispatcher *d, guint interval_ms)
{
  d->guard.tick_due_us = hub_clock_monotonic_us (d->clock) + (gint64)interval_ms * 1000;
}

/* Senders whose budget is whole again and who have no connection here. */
static gboolean
fanout_entry_idle (gpointer key, gpointer value, gpointer user_data)
{
  HubDispatcher *d = user_data;
  const FanoutBucket *bucket = value;
  gint64 now_us = hub_clock_monotonic_us (d->clock);
  double refill = (double)(now_us - bucket->refilled_us) / G_USEC_PER_SEC *
                  (double)d->config.fanout_bytes_per_s;

  return bucket->bytes + refill >= (double)d->config.fanout_bytes_per_s &&
         hub_connection_manager_count_user (d->conns, key) == 0;
}

void
hub_dispatcher_liveness_tick (HubDispatcher *d, guint slot, guint n_slots)
{
  gint64 now_us = hub_clock_monotonic_us (d->clock);
  gint64 interval_us = (gint64)d->config.heartbeat_s * G_USEC_PER_SEC / n_slots;
  gint64 late_us = now_us - d->guard.tick_due_us;
  Sweep sweep = {
      .now_us = now_us,
      .dead_after_us = 3 * (gint64)d->config.heartbeat_s * G_USEC_PER_SEC,
      .slot = slot,
      .n_slots = n_slots,
      .restart = late_us > MAX (STALL_LATE_US, 2 * interval_us),
  };

  if (sweep.restart) {
    d->guard.loop_stalls++;
    g_warning ("the event loop stalled for %.1f s (a liveness tick came that late): every "
               "connection's silence starts over",
               (double)late_us / G_USEC_PER_SEC);
  }
  hub_connection_manager_foreach (d->conns, sweep_one, &sweep);
  /* Once per heartbeat: forget the budgets of senders that are gone and owe
   * nothing (one who reconnects keeps its debt). */
  if (slot == 0)
    g_hash_table_foreach_remove (d->guard.fanout, fanout_entry_idle, d);
}

/* --- Frames the server answers without executing them ----------------------------- */

/* True when @conn is past hello or its hello is being answered (the store
 * registers it): its requests are the user's, not a stranger's. */
static gboolean
hello_said (HubDispatcher *d, HubConnection *conn)
{
  return hub_connection_is_authenticated (conn) || hub_dispatcher_hello_pending (d, conn);
}

gsize
hub_dispatcher_frame_limit (HubDispatcher *d, HubConnection *conn)
{
  gsize max = d->config.max_message_bytes;

  /* §1's limit is for requests. Before hello only a hello is useful: the
   * first message may be one of any size (a resume of hundreds of rooms is
   * tens of KB; what decoding it may cost is bounded by its values, see
   * hub_dispatcher_refuse_before_hello), then 8 KiB until a hello is said. */
  if (!hello_said (d, conn) && hub_connection_get_stats (conn)->frames_in > 0)
    return MIN (max, (gsize)HUB_PRE_HELLO_MAX_BYTES);
  return max;
}

/* The JSON values a hello may hold: its fields and a resume of every room a
 * user may be in, with room for keys the protocol may add. */
static gsize
hello_max_values (HubDispatcher *d)
{
  return 2 * (gsize)d->config.max_rooms_per_user + 64;
}

gboolean
hub_dispatcher_refuse_before_hello (HubDispatcher *d, HubConnection *conn, const char *data,
                                    gsize len)
{
  HubPeek peek;
  gboolean answered = FALSE;

  if (hello_said (d, conn))
    return FALSE;
  hub_codec_peek (data, len, &peek);
  if (peek.sure && !peek.envelope_ok) {
    hub_dispatcher_reply_error_now (
        conn, peek.id_json, HUB_ERROR_BAD_REQUEST,
        "a request needs a string 'type' and an integer or string 'id'");
    answered = TRUE;
  } else if (peek.sure && peek.type != HUB_REQ_HELLO) {
    /* §2, §3: before a successful hello, anything but hello. */
    hub_dispatcher_reply_error_now (conn, peek.id_json, HUB_ERROR_NOT_AUTHENTICATED,
                                    "say hello first");
    answered = TRUE;
  } else if (peek.n_values > hello_max_values (d)) {
    /* json-glib builds a node per value (a 64 KB `[0,0,…]`: 8.4 ms): a hello
     * is decoded only if it has no more than a full resume needs. */
    hub_dispatcher_reply_error_now (conn, peek.id_json, HUB_ERROR_BAD_REQUEST,
                                    "a hello with more JSON values than any hello needs");
    answered = TRUE;
  } else {
    /* A hello (or what only decoding can tell) is decoded: a stranger pays
     * for that by its size, a request per KiB beyond the first, so that
     * hellos of 8 KiB cost their sender nine requests of its rate. */
    hub_rate_limiter_charge (hub_connection_get_rate_limiter (conn), (double)(len / 1024),
                             hub_clock_monotonic_us (d->clock));
  }
  hub_peek_clear (&peek);
  return answered;
}

/* --- Bounds per user ---------------------------------------------------------------- */

gboolean
hub_dispatcher_guard_hello (HubDispatcher *d, HubConnection *conn, const char *user,
                            const char *id_json)
{
  guint max = d->config.max_connections_per_user;
  g_autofree char *message = NULL;

  if (max == 0 || hub_connection_manager_count_user (d->conns, user) < max)
    return TRUE;
  /* §8: a bound is an error, the connection stays (a hello may be retried,
   * §3) until hello_timeout_s. */
  message = g_strdup_printf ("too many connections for this user (at most %u on this node)", max);
  hub_dispatcher_note_limit (d, conn, user, "max_connections_per_user");
  hub_dispatcher_reply_error_now (conn, id_json, HUB_ERROR_RATE_LIMITED, message);
  return FALSE;
}

char *
hub_dispatcher_guard_subscribe (HubDispatcher *d, HubConnection *conn, guint n_new)
{
  guint max = d->config.max_subscriptions_per_user;
  GPtrArray *conns;
  guint64 held = 0;

  if (max == 0 || n_new == 0)
    return NULL;
  /* Subscriptions belong to connections (§7); the bound is on what all of a
   * user's connections here hold together: 50 connections of 10,000 each
   * were 500,000 watches (and 200 MiB) for one user. */
  conns = hub_connection_manager_get_user_connections (d->conns, hub_connection_get_user (conn));
  for (guint i = 0; conns != NULL && i < conns->len; i++)
    held += g_hash_table_size (hub_connection_get_subscriptions (g_ptr_array_index (conns, i)));
  if (held + n_new <= max)
    return NULL;
  hub_dispatcher_note_limit (d, conn, NULL, "max_subscriptions_per_user");
  return g_strdup_printf ("too many subscriptions for this user (at most %u on this node)", max);
}

void
hub_dispatcher_guard_who (HubDispatcher *d, HubConnection *conn, guint n_members)
{
  /* The first HUB_WHO_MEMBERS_PER_REQUEST members come with the request
   * itself; each further hundred is one more request (a 5,000-member `who`
   * costs 20 ms and 355 KB: fifty requests' worth). */
  if (n_members > HUB_WHO_MEMBERS_PER_REQUEST)
    hub_rate_limiter_charge (hub_connection_get_rate_limiter (conn),
                             (double)((n_members - 1) / HUB_WHO_MEMBERS_PER_REQUEST),
                             hub_clock_monotonic_us (d->clock));
}

/* --- The fan-out budget ------------------------------------------------------------- */

/* What a delivered frame adds to the request's payload: type, from, to, ts. */
#define FRAME_OVERHEAD_BYTES 96
/* A typing or presence frame (type, room, user, event). */
#define EVENT_FRAME_BYTES 96

/* Bytes @req will have queued to others' connections, counted per recipient
 * user (what a request costs the server, and what the recipients must read),
 * as far as the request itself tells: direct and multicast. A join is charged
 * once the store said how many members heard of it
 * (hub_dispatcher_guard_charge). 0 for requests whose recipients asked for
 * them (publish to a room the members joined, replies) or that only an admin
 * may make (broadcast). */
static double
fanout_cost (HubConnection *conn, HubRequest *req, gsize len)
{
  switch (req->type) {
    case HUB_REQ_DIRECT:
      /* The sender's own other devices are not counted. */
      return strcmp (req->to, hub_connection_get_user (conn)) == 0
                 ? 0
                 : (double)(len + FRAME_OVERHEAD_BYTES);
    case HUB_REQ_MULTICAST: {
      /* The delivered frame carries the payload, not the list. */
      gsize listed = 0;

      for (guint i = 0; i < req->users->len; i++)
        listed += strlen (g_ptr_array_index (req->users, i)) + 3;
      return (double)(len - MIN (listed, len) + FRAME_OVERHEAD_BYTES) * req->users->len;
    }
    default:
      return 0;
  }
}

/* @user's budget, refilled to now. */
static FanoutBucket *
fanout_bucket (HubDispatcher *d, const char *user, gint64 now_us)
{
  double rate = (double)d->config.fanout_bytes_per_s;
  FanoutBucket *bucket = g_hash_table_lookup (d->guard.fanout, user);

  if (bucket == NULL) {
    bucket = g_new (FanoutBucket, 1);
    bucket->bytes = rate;
    bucket->refilled_us = now_us;
    g_hash_table_insert (d->guard.fanout, g_strdup (user), bucket);
  }
  bucket->bytes =
      MIN (bucket->bytes + (double)(now_us - bucket->refilled_us) / G_USEC_PER_SEC * rate, rate);
  bucket->refilled_us = now_us;
  return bucket;
}

gboolean
hub_dispatcher_guard_request (HubDispatcher *d, HubConnection *conn, HubRequest *req, gsize len)
{
  double rate = (double)d->config.fanout_bytes_per_s;
  FanoutBucket *bucket;
  g_autofree char *message = NULL;

  if (rate <= 0)
    return TRUE;
  bucket = fanout_bucket (d, hub_connection_get_user (conn), hub_clock_monotonic_us (d->clock));
  /* A join, typing or leave of a user in debt waits too: what they cost is
   * known only after the store fanned them out. */
  if (bucket->bytes <= 0 && (req->type == HUB_REQ_JOIN || req->type == HUB_REQ_TYPING ||
                             req->type == HUB_REQ_LEAVE || fanout_cost (conn, req, len) > 0)) {
    message = g_strdup_printf ("fan-out budget spent (%" G_GSIZE_FORMAT
                               " bytes/s to others per user): wait %.1f s",
                               d->config.fanout_bytes_per_s, -bucket->bytes / rate);
    hub_dispatcher_note_limit (d, conn, NULL, "fanout_rate");
    hub_dispatcher_reply_error_now (conn, req->id_json, HUB_ERROR_RATE_LIMITED, message);
    return FALSE;
  }
  /* Any one request passes on a budget not in debt; it then pays in full. */
  bucket->bytes -= fanout_cost (conn, req, len);
  return TRUE;
}

void
hub_dispatcher_guard_charge (HubDispatcher *d, HubConnection *conn, guint n_recipients)
{
  FanoutBucket *bucket;

  if (d->config.fanout_bytes_per_s == 0 || n_recipients == 0 ||
      !hub_connection_is_authenticated (conn))
    return;
  bucket = fanout_bucket (d, hub_connection_get_user (conn), hub_clock_monotonic_us (d->clock));
  bucket->bytes -= (double)EVENT_FRAME_BYTES * n_recipients;
}
