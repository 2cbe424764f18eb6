/* hub-dispatcher-replay.c: a resume's replay, paced by the client (PROTOCOL.md
 * §6, §8). After the welcome, each resumed room's missed messages and its
 * `resumed` leave as the client reads them: the replay is the connection's
 * source (hub-connection.h), which the connection asks for more whenever it
 * has written what it was given, and each time gets at most half of
 * max_queue_bytes, read from the history with a cursor per room (the store's
 * history operation, the same in both stores), never a copy of the whole
 * replay. Whatever else comes for the connection meanwhile (the rooms' live
 * messages, replies, events) waits behind the replay and counts against
 * max_queue_bytes as usual; a room's live messages that the replay covers
 * (seq up to where the room was when the resume read it) are left out, so
 * none comes twice. */
#include "hub-dispatcher-private.h"

#include <string.h>

/* The history reads of a replay ask for at most this many messages (the
 * bytes bound them first, in practice). */
#define PAGE_LIMIT 1000

typedef struct {
  char *room;         /* (owned) */
  gint64 cursor;      /* the last seq given to the connection, or where it starts */
  gint64 last;        /* where the room was when the resume read it: the end */
  gint64 epoch;       /* the room's stream; another one later means it was lost */
  gint64 from, to;    /* the first and last seq given, 0 when none */
  gboolean complete;  /* FALSE once something it should replay was missing */
  gboolean more;      /* stored messages after cursor (up to last) remain */
  GPtrArray *pending; /* (owned) (nullable) read but not given yet: the resume's first page */
  gint64 pending_first;
} ReplayRoom;

struct _HubReplay {
  HubDispatcher *d;    /* (unowned) */
  HubConnection *conn; /* (unowned) alive while the source is (it owns it) */
  ReplayRoom *rooms;   /* (owned) n_rooms, sorted by room */
  guint n_rooms;
  guint current;       /* the room being replayed */
  GHashTable *by_room; /* (owned) room (unowned) → ReplayRoom* (unowned) */
  gboolean released;   /* the connection is done with it */
  gboolean reading;    /* a history read is under way */
};

static void
replay_free (HubReplay *r)
{
  for (guint i = 0; i < r->n_rooms; i++) {
    g_free (r->rooms[i].room);
    g_clear_pointer (&r->rooms[i].pending, g_ptr_array_unref);
  }
  g_free (r->rooms);
  g_hash_table_unref (r->by_room);
  g_free (r);
}

static void step (HubReplay *r);

/* `resumed` (§6): from the first seq sent to the last; when nothing was
 * sent, the empty range after where the replay started (the given seq, or 0
 * in another stream; a hostile G_MAXINT64 has no successor: then from = to
 * = given). */
static HubFrame *
encode_resumed (ReplayRoom *room)
{
  gint64 from =
      room->to > 0 ? room->from : (room->cursor < G_MAXINT64 ? room->cursor + 1 : room->cursor);
  gint64 to = room->to > 0 ? room->to : room->cursor;

  return hub_encode_resumed (room->room, from, to, room->complete, room->epoch);
}

/* Gives @frames (the messages from seq @first on) of @room. */
static void
give_messages (HubReplay *r, ReplayRoom *room, GPtrArray *frames, gint64 first)
{
  if (room->from == 0)
    room->from = first;
  room->to = first + (gint64)frames->len - 1;
  room->cursor = room->to;
  hub_connection_source_give (r->conn, (HubFrame *const *)frames->pdata, frames->len, FALSE);
}

static void
page_done (const HubStoreResult *result, gpointer data)
{
  HubReplay *r = data;
  ReplayRoom *room;

  r->reading = FALSE;
  r->d->in_flight--;
  if (r->released) {
    replay_free (r);
    return;
  }
  room = &r->rooms[r->current];
  if (result->error != HUB_STORE_OK || result->epoch != room->epoch) {
    /* Deleted (and maybe created again) since, or unreachable: what is
     * left of it cannot be replayed. */
    room->complete = FALSE;
    room->more = FALSE;
  } else {
    if (!result->complete)
      room->complete = FALSE; /* evicted under the cursor since the resume */
    room->more = result->more && result->n_messages > 0;
    if (result->n_messages > 0) {
      g_autoptr (GPtrArray) frames = g_ptr_array_new ();

      for (guint i = 0; i < result->n_messages; i++)
        g_ptr_array_add (frames, result->messages[i]);
      give_messages (r, room, frames, result->first_seq);
      return;
    }
  }
  step (r);
}

/* Answers the connection's pull with the next frames: the current room's
 * messages (the first page, then history reads), then its `resumed`, then
 * the next room's. */
static void
step (HubReplay *r)
{
  ReplayRoom *room = &r->rooms[r->current];

  if (room->pending != NULL) {
    g_autoptr (GPtrArray) frames = g_steal_pointer (&room->pending);

    give_messages (r, room, frames, room->pending_first);
    return;
  }
  if (room->more && room->cursor < room->last) {
    HubStoreHistory args = {
        .room = room->room, /* anyone: membership was checked by the resume */
        .since = room->cursor,
        .until = room->last,
        .limit = PAGE_LIMIT,
        .max_bytes = hub_connection_source_budget (r->conn),
    };

    r->reading = TRUE;
    r->d->in_flight++;
    r->d->store->vtable->history (r->d->store, &args, page_done, r);
    return;
  }
  {
    g_autoptr (HubFrame) done = encode_resumed (room);
    HubFrame *frames[] = {done};

    r->current++;
    hub_connection_source_give (r->conn, frames, 1, r->current == r->n_rooms);
  }
}

static void
replay_pull (gpointer data, HubConnection *conn)
{
  step (data);
}

static void
replay_release (gpointer data)
{
  HubReplay *r = data;

  /* Live messages of its rooms flow as usual from now on. */
  g_hash_table_remove (r->d->replays, r->conn);
  r->released = TRUE;
  if (!r->reading)
    replay_free (r);
}

static const HubSourceVTable replay_source = {
    .pull = replay_pull,
    .release = replay_release,
};

HubReplay *
hub_dispatcher_replay_new (HubDispatcher *d, HubConnection *conn, const HubStoreResult *resume,
                           GHashTable *given)
{
  HubReplay *r = g_new0 (HubReplay, 1);

  r->d = d;
  r->conn = conn;
  r->n_rooms = resume->n_resumed;
  r->rooms = g_new0 (ReplayRoom, MAX (r->n_rooms, 1));
  r->by_room = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < r->n_rooms; i++) {
    const HubStoreResumed *e = &resume->resumed[i];
    ReplayRoom *room = &r->rooms[i];

    room->room = g_strdup (e->room);
    room->cursor = e->since;
    room->last = e->last;
    room->epoch = e->epoch;
    /* Another stream than the given seq's: whatever the client missed of
     * that one is lost. */
    room->complete = e->complete && e->since == *(gint64 *)g_hash_table_lookup (given, e->room);
    room->more = e->more;
    if (e->n_messages > 0) {
      room->pending = g_ptr_array_new_full (e->n_messages, (GDestroyNotify)hub_frame_unref);
      for (guint j = 0; j < e->n_messages; j++)
        g_ptr_array_add (room->pending, hub_frame_ref (e->messages[j]));
      room->pending_first = e->first;
    }
    g_hash_table_insert (r->by_room, room->room, room);
  }
  return r;
}

void
hub_dispatcher_replay_start (HubDispatcher *d, HubReplay *r)
{
  if (r->n_rooms == 0) {
    replay_free (r);
    return;
  }
  g_hash_table_insert (d->replays, r->conn, r);
  hub_connection_set_source (r->conn, &replay_source, r);
}

gboolean
hub_dispatcher_replay_covers (HubReplay *r, const char *room, gint64 seq)
{
  ReplayRoom *rr = room != NULL ? g_hash_table_lookup (r->by_room, room) : NULL;

  return rr != NULL && seq <= rr->last;
}

gboolean
hub_dispatcher_replay_skips (HubDispatcher *d, HubConnection *conn, const HubDelivery *delivery)
{
  HubReplay *r = g_hash_table_lookup (d->replays, conn);

  return r != NULL && hub_dispatcher_replay_covers (r, delivery->room, delivery->seq);
}
