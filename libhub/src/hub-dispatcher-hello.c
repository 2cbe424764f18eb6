/* hub-dispatcher-hello.c: a hello past authentication (PROTOCOL.md §3, §6): the
 * store registers the connection and answers the user's rooms; with `resume`,
 * the store reads what the connection missed right after (asked at once: a
 * store runs its operations in order, so the read sees the room as the
 * registration left it): where each room's replay ends, and its first
 * messages. Then the welcome goes out, and behind it the replay, paced by the
 * client (hub-dispatcher-replay.c). Until the store answered, the
 * connection's own requests wait here, and deliveries for it are held; then
 * they take their turn behind the replay, without what the replay sends. The
 * memory store answers at once, so this waiting only ever happens on a store
 * that answers later. */
#include "hub-dispatcher-private.h"
#include "hub/hub-version.h"

#include <string.h>

/* A request that came while the hello was pending, in arrival order. */
typedef struct {
  GBytes *bytes;    /* (owned) */
  gboolean limited; /* over the rate limit: answered rate_limited, in its turn */
} Queued;

static void
queued_free (gpointer p)
{
  Queued *q = p;

  g_bytes_unref (q->bytes);
  g_free (q);
}

/* A delivery that came for a connection whose hello is pending. */
typedef struct {
  HubFrame *frame; /* (owned) */
  char *room;      /* (owned) (nullable) room of a `message` */
  gint64 seq;
} Held;

typedef struct {
  HubDispatcher *d;    /* (unowned) */
  HubConnection *conn; /* (owned) */
  HubRequest *req;     /* (owned) the hello */
  guint64 slot;        /* its reply slot */
  char *user, *device; /* (owned) */
  gboolean admin;
  char **rooms;        /* (owned) the user's rooms, from the store's hello */
  GPtrArray *held;     /* (owned) Held* */
  GPtrArray *queued;   /* (owned) Queued*: the connection's requests meanwhile */
  guint ops;           /* store operations not answered yet (hello, resume) */
  HubStoreError error; /* the hello's, once answered */
  gboolean gone;       /* the connection closed: nothing is answered */
} Hello;

static void
held_free (gpointer p)
{
  Held *h = p;

  hub_frame_unref (h->frame);
  g_free (h->room);
  g_free (h);
}

static void
hello_free (Hello *h)
{
  h->d->in_flight--;
  hub_connection_unref (h->conn);
  hub_request_free (h->req);
  g_free (h->user);
  g_free (h->device);
  g_strfreev (h->rooms);
  g_ptr_array_unref (h->held);
  g_ptr_array_unref (h->queued);
  g_free (h);
}

/* No longer pending: later deliveries and requests take the usual way. */
static void
forget (Hello *h)
{
  HubDispatcher *d = h->d;
  GPtrArray *conns = g_hash_table_lookup (d->hello_users, h->user);

  g_hash_table_remove (d->hellos, h->conn);
  if (conns != NULL) {
    g_ptr_array_remove (conns, h->conn);
    if (conns->len == 0)
      g_hash_table_remove (d->hello_users, h->user);
  }
}

gboolean
hub_dispatcher_hello_pending (HubDispatcher *d, HubConnection *conn)
{
  return g_hash_table_size (d->hellos) > 0 && g_hash_table_contains (d->hellos, conn);
}

void
hub_dispatcher_hello_queue (HubDispatcher *d, HubConnection *conn, const char *data, gsize len,
                            gboolean limited)
{
  Hello *h = g_hash_table_lookup (d->hellos, conn);
  Queued *q = g_new (Queued, 1);

  q->bytes = g_bytes_new (data, len);
  q->limited = limited;
  g_ptr_array_add (h->queued, q);
}

void
hub_dispatcher_hello_hold (HubDispatcher *d, const char *user, const HubDelivery *delivery)
{
  GPtrArray *conns = g_hash_table_lookup (d->hello_users, user);

  for (guint i = 0; conns != NULL && i < conns->len; i++) {
    HubConnection *conn = g_ptr_array_index (conns, i);
    Hello *h = g_hash_table_lookup (d->hellos, conn);
    Held *held;

    if (delivery->except_conn != NULL &&
        strcmp (delivery->except_conn, hub_connection_get_id (conn)) == 0)
      continue;
    held = g_new0 (Held, 1);
    held->frame = hub_frame_ref (delivery->frame);
    held->room = g_strdup (delivery->room);
    held->seq = delivery->seq;
    g_ptr_array_add (h->held, held);
  }
}

/* The requests that came while the hello was pending, in order. */
static void
run_queued (HubDispatcher *d, HubConnection *conn, GPtrArray *queued)
{
  for (guint i = 0; i < queued->len; i++) {
    Queued *q = g_ptr_array_index (queued, i);
    gsize len;
    const char *bytes = g_bytes_get_data (q->bytes, &len);

    if (!hub_dispatcher_conn_alive (d, conn))
      break;
    if (q->limited)
      hub_dispatcher_reply_rate_limited (d, conn, bytes, len);
    else
      hub_dispatcher_receive_decoded (d, conn, bytes, len);
  }
}

/* The hello failed in the store: not past hello, the client may retry (§3).
 * What it sent meanwhile is answered (not_authenticated), not dropped. */
static void
refuse (Hello *h, HubStoreError error)
{
  forget (h);
  hub_dispatcher_reply_store_error (h->conn, h->slot, h->req->id_json, error);
  hub_dispatcher_request_replied (h->req);
  run_queued (h->d, h->conn, h->queued);
  hello_free (h);
}

/* Welcome, then per room the missed messages and `resumed` (§6), then what
 * came for the connection meanwhile and was not replayed, then its requests. */
static void
finish (Hello *h, const HubStoreResult *resume)
{
  HubDispatcher *d = h->d;
  HubConnection *conn = h->conn;
  HubReplay *replay = NULL;
  g_autoptr (HubFrame) welcome_frame = NULL;
  g_autoptr (GPtrArray) epoch_rooms = g_ptr_array_new ();
  g_autoptr (GArray) epochs = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr (GPtrArray) behind = g_ptr_array_new ();
  HubWelcome welcome = {0};

  forget (h);
  hub_clock_cancel (d->clock, hub_connection_get_hello_timer (conn));
  hub_connection_set_hello_timer (conn, 0);
  hub_connection_authenticate (conn, h->user, h->device, h->admin);
  hub_connection_manager_bind_user (d->conns, conn);

  welcome.conn = hub_connection_get_id (conn);
  welcome.user = h->user;
  welcome.device = h->device;
  welcome.node = d->config.node;
  welcome.server = "hub-server " HUB_VERSION;
  welcome.heartbeat_s = (gint)d->config.heartbeat_s;
  welcome.max_message_bytes = (gint64)d->config.max_message_bytes;
  welcome.rooms = (const char *const *)h->rooms;
  welcome.n_rooms = g_strv_length (h->rooms);
  /* The rooms whose stream is not the one the hello's `epochs` named: the
   * client learns it before their replay, which starts at their beginning. */
  for (guint i = 0; resume != NULL && h->req->epochs != NULL && i < resume->n_resumed; i++) {
    const HubStoreResumed *e = &resume->resumed[i];
    const gint64 *given = g_hash_table_lookup (h->req->epochs, e->room);

    if (given != NULL && e->epoch != 0 && *given != e->epoch) {
      g_ptr_array_add (epoch_rooms, (gpointer)e->room);
      g_array_append_val (epochs, e->epoch);
    }
  }
  welcome.epoch_rooms = (const char *const *)epoch_rooms->pdata;
  welcome.epochs = (const gint64 *)(gpointer)epochs->data;
  welcome.n_epochs = epoch_rooms->len;
  welcome.expires_ts = hub_connection_get_expires_ms (conn);
  hub_dispatcher_set_deadline (d, conn);
  welcome.limits = &d->guard.welcome_limits; /* §8 (hub-dispatcher-guard.c) */
  /* welcome answers hello even without an id: the client needs its fields. */
  welcome_frame = hub_encode_welcome (h->req->id_json, &welcome);
  /* Every reply before it is out (requests wait while a hello is pending):
   * the replay follows it. */
  g_warn_if_fail (hub_connection_replies_pending (conn) == 1);
  hub_connection_reply (conn, h->slot, welcome_frame);
  hub_dispatcher_request_replied (h->req);

  /* What came meanwhile goes behind the replay, but what the replay sends. */
  if (resume != NULL)
    replay = hub_dispatcher_replay_new (d, conn, resume, h->req->resume);
  for (guint i = 0; i < h->held->len; i++) {
    Held *held = g_ptr_array_index (h->held, i);

    if (replay == NULL || held->seq == 0 ||
        !hub_dispatcher_replay_covers (replay, held->room, held->seq))
      g_ptr_array_add (behind, held->frame);
  }
  if (replay != NULL)
    hub_dispatcher_replay_start (d, replay);
  for (guint i = 0; i < behind->len; i++)
    hub_broadcaster_to_connection (d->broadcaster, conn, g_ptr_array_index (behind, i));
  run_queued (d, conn, h->queued);
  hello_free (h);
}

static void
resume_done (const HubStoreResult *result, gpointer data)
{
  Hello *h = data;

  /* Answered after the hello (a store answers in order). */
  h->ops--;
  if (h->gone || h->d->freeing) {
    hello_free (h);
  } else if (h->error != HUB_STORE_OK) {
    refuse (h, h->error);
  } else if (result->error != HUB_STORE_OK) {
    /* Registered, but its replay cannot be read: undone, as if it had failed. */
    HubStoreSession bye = {.user = h->user, .conn_id = hub_connection_get_id (h->conn)};

    h->d->store->vtable->bye (h->d->store, &bye, NULL, NULL);
    refuse (h, result->error);
  } else {
    finish (h, result);
  }
}

static void
hello_done (const HubStoreResult *result, gpointer data)
{
  Hello *h = data;

  h->ops--;
  h->error = result->error;
  if (result->error == HUB_STORE_OK) {
    h->rooms = g_new0 (char *, result->n_rooms + 1);
    for (guint i = 0; i < result->n_rooms; i++)
      h->rooms[i] = g_strdup (result->rooms[i].room);
  }
  if (h->ops > 0) /* the resume's answer concludes */
    return;
  if (h->gone || h->d->freeing)
    hello_free (h);
  else if (h->error != HUB_STORE_OK)
    refuse (h, h->error);
  else
    finish (h, NULL);
}

/* The resume of @h's hello (§3: rooms sorted; their last seen seqs). */
static void
ask_resume (HubDispatcher *d, Hello *h)
{
  GHashTable *resume = h->req->resume;
  g_autoptr (GPtrArray) rooms = g_ptr_array_new ();
  g_autofree gint64 *seqs = NULL;
  g_autofree gint64 *epochs = NULL;
  g_autofree guint *needs = NULL;
  HubStoreResume args = {0};
  GHashTableIter iter;
  gpointer room;

  g_hash_table_iter_init (&iter, resume);
  while (g_hash_table_iter_next (&iter, &room, NULL))
    g_ptr_array_add (rooms, room);
  g_ptr_array_sort (rooms, hub_dispatcher_compare_strings);
  seqs = g_new (gint64, rooms->len);
  epochs = g_new0 (gint64, rooms->len);
  needs = g_new (guint, rooms->len);
  for (guint i = 0; i < rooms->len; i++) {
    const char *room = g_ptr_array_index (rooms, i);
    const gint64 *epoch =
        h->req->epochs != NULL ? g_hash_table_lookup (h->req->epochs, room) : NULL;

    seqs[i] = *(gint64 *)g_hash_table_lookup (resume, room);
    epochs[i] = epoch != NULL ? *epoch : 0;
    /* §12: entries for rooms the connection may not j are ignored. */
    needs[i] = HUB_PERM_JOIN & ~hub_connection_room_letters (h->conn, room);
  }
  args.user = h->user;
  args.rooms = (const char *const *)rooms->pdata;
  args.seqs = seqs;
  args.epochs = epochs;
  args.needs = needs;
  args.n_rooms = rooms->len;
  /* The replay's first pull, read with the resume (§6: paced, at most this
   * much at a time). */
  args.max_bytes = hub_connection_source_budget (h->conn);
  d->store->vtable->resume (d->store, &args, resume_done, h);
}

void
hub_dispatcher_hello (HubDispatcher *d, HubConnection *conn, guint64 slot, HubRequest *req,
                      const char *user, const char *device, gboolean admin)
{
  Hello *h = g_new0 (Hello, 1);
  HubStoreSession args = {.user = user, .conn_id = hub_connection_get_id (conn), .device = device};
  GPtrArray *conns;
  gboolean resume;

  h->d = d;
  h->conn = hub_connection_ref (conn);
  h->req = req;
  h->slot = slot;
  h->user = g_strdup (user);
  h->device = g_strdup (device);
  h->admin = admin;
  h->held = g_ptr_array_new_with_free_func (held_free);
  h->queued = g_ptr_array_new_with_free_func (queued_free);
  d->in_flight++;
  g_hash_table_insert (d->hellos, conn, h);
  conns = g_hash_table_lookup (d->hello_users, user);
  if (conns == NULL) {
    conns = g_ptr_array_new ();
    g_hash_table_insert (d->hello_users, g_strdup (user), conns);
  }
  g_ptr_array_add (conns, conn);
  resume = req->resume != NULL && g_hash_table_size (req->resume) > 0;
  h->ops = resume ? 2 : 1;
  d->store->vtable->hello (d->store, &args, hello_done, h);
  if (resume)
    ask_resume (d, h);
}

void
hub_dispatcher_hello_closed (HubDispatcher *d, HubConnection *conn)
{
  Hello *h = g_hash_table_lookup (d->hellos, conn);
  HubStoreSession bye = {0};

  if (h == NULL)
    return;
  /* The store may register it still: undone after that (a store runs its
   * operations in order). The store's answer frees @h. */
  forget (h);
  h->gone = TRUE;
  bye.user = h->user;
  bye.conn_id = hub_connection_get_id (conn);
  d->store->vtable->bye (d->store, &bye, NULL, NULL);
}
