/* hub-history.c: a room's last N message frames with their seq, in a ring
 * (PROTOCOL.md §6), bounded by count, by bytes, and with the other rooms of a
 * pool by bytes in all (the oldest message of the pool goes first, whatever
 * its room). It remembers the highest evicted seq, so a query knows exactly
 * whether something it should return is gone, however it went. */
#include "hub/hub-history.h"

/* The ring starts this small and doubles up to the capacity: most rooms hold
 * a few messages, and a slot is a pointer. */
#define RING_MIN 8

/* One stored message. Its own allocation (one per publish, not per
 * delivery), linked in its pool's queue by @link, oldest first. */
typedef struct {
  GList link; /* link.data = the entry; in pool->entries when there is a pool */
  HubHistory *owner;
  gint64 seq;
  gsize bytes;
  HubFrame *frame; /* (owned) ref */
} Entry;

struct _HubHistoryPool {
  gsize max_bytes; /* 0: no bound */
  gsize bytes;
  GQueue entries; /* Entry* (unowned: each history owns its own), oldest first */
};

struct _HubHistory {
  Entry **ring;   /* (owned) ring_cap slots, the oldest at head */
  guint ring_cap; /* 0 or a power of two, at most the capacity rounded up */
  guint capacity;
  guint head;   /* slot of the oldest entry */
  guint length; /* stored entries */
  gsize bytes;  /* of the stored entries */
  gsize max_bytes;
  HubHistoryPool *pool;   /* (unowned) (nullable) */
  gint64 highest_evicted; /* seq of the newest evicted entry, 0 when none */
  gint64 highest_pushed;  /* for the strictly-increasing check */
};

HubHistoryPool *
hub_history_pool_new (gsize max_bytes)
{
  HubHistoryPool *pool = g_new0 (HubHistoryPool, 1);

  pool->max_bytes = max_bytes;
  return pool;
}

void
hub_history_pool_free (HubHistoryPool *pool)
{
  if (pool == NULL)
    return;
  /* Every history of the pool is freed before it. */
  g_warn_if_fail (pool->entries.length == 0);
  g_free (pool);
}

gsize
hub_history_pool_bytes (HubHistoryPool *pool)
{
  g_return_val_if_fail (pool != NULL, 0);
  return pool->bytes;
}

HubHistory *
hub_history_new_bounded (guint capacity, gsize max_bytes, HubHistoryPool *pool)
{
  HubHistory *history = g_new0 (HubHistory, 1);

  history->capacity = capacity;
  history->max_bytes = max_bytes;
  history->pool = pool;
  return history;
}

HubHistory *
hub_history_new (guint capacity)
{
  return hub_history_new_bounded (capacity, 0, NULL);
}

/* The @i-th stored entry, 0 being the oldest. */
static Entry *
nth (HubHistory *history, guint i)
{
  return history->ring[(history->head + i) & (history->ring_cap - 1)];
}

static void
entry_free (HubHistory *history, Entry *e)
{
  if (history->pool != NULL) {
    g_queue_unlink (&history->pool->entries, &e->link);
    history->pool->bytes -= e->bytes;
  }
  history->bytes -= e->bytes;
  hub_frame_unref (e->frame);
  g_free (e);
}

/* Drops the oldest entry. */
static void
evict_oldest (HubHistory *history)
{
  Entry *e = nth (history, 0);

  history->highest_evicted = e->seq;
  history->head = (history->head + 1) & (history->ring_cap - 1);
  history->length--;
  entry_free (history, e);
}

void
hub_history_free (HubHistory *history)
{
  if (history == NULL)
    return;
  while (history->length > 0)
    evict_oldest (history);
  g_free (history->ring);
  g_free (history);
}

static void
ring_append (HubHistory *history, Entry *e)
{
  if (history->length == history->ring_cap) {
    guint cap = history->ring_cap > 0 ? history->ring_cap * 2 : RING_MIN;
    Entry **ring = g_new (Entry *, cap);

    for (guint i = 0; i < history->length; i++)
      ring[i] = nth (history, i);
    g_free (history->ring);
    history->ring = ring;
    history->ring_cap = cap;
    history->head = 0;
  }
  history->ring[(history->head + history->length) & (history->ring_cap - 1)] = e;
  history->length++;
}

void
hub_history_push (HubHistory *history, gint64 seq, HubFrame *frame)
{
  HubHistoryPool *pool;
  Entry *e;

  g_return_if_fail (history != NULL);
  g_return_if_fail (frame != NULL);
  g_return_if_fail (seq > history->highest_pushed);

  history->highest_pushed = seq;
  if (history->capacity == 0) {
    history->highest_evicted = seq;
    return;
  }
  if (history->length == history->capacity)
    evict_oldest (history);
  e = g_new0 (Entry, 1);
  e->link.data = e;
  e->owner = history;
  e->seq = seq;
  e->frame = hub_frame_ref (frame);
  hub_frame_payload (frame, &e->bytes);
  ring_append (history, e);
  history->bytes += e->bytes;
  pool = history->pool;
  if (pool != NULL) {
    g_queue_push_tail_link (&pool->entries, &e->link);
    pool->bytes += e->bytes;
  }
  /* Over the room's bytes: its oldest go, the new one last of all. */
  while (history->max_bytes > 0 && history->bytes > history->max_bytes)
    evict_oldest (history);
  /* Over the pool's: the pool's oldest go, whichever room holds them (each
   * is its room's oldest: both keep push order). */
  while (pool != NULL && pool->max_bytes > 0 && pool->bytes > pool->max_bytes) {
    Entry *oldest = g_queue_peek_head (&pool->entries);

    g_assert (nth (oldest->owner, 0) == oldest);
    evict_oldest (oldest->owner);
  }
}

guint
hub_history_length (HubHistory *history)
{
  g_return_val_if_fail (history != NULL, 0);
  return history->length;
}

guint
hub_history_capacity (HubHistory *history)
{
  g_return_val_if_fail (history != NULL, 0);
  return history->capacity;
}

gsize
hub_history_bytes (HubHistory *history)
{
  g_return_val_if_fail (history != NULL, 0);
  return history->bytes;
}

gint64
hub_history_first_seq (HubHistory *history)
{
  g_return_val_if_fail (history != NULL, 0);
  return history->length > 0 ? nth (history, 0)->seq : 0;
}

gint64
hub_history_last_seq (HubHistory *history)
{
  g_return_val_if_fail (history != NULL, 0);
  return history->length > 0 ? nth (history, history->length - 1)->seq : 0;
}

/* Index of the oldest stored entry with seq > @since (length when none).
 * Seqs grow strictly but may have gaps, hence a binary search. */
static guint
first_after (HubHistory *history, gint64 since)
{
  guint lo = 0, hi = history->length;

  while (lo < hi) {
    guint mid = lo + (hi - lo) / 2;

    if (nth (history, mid)->seq > since)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

GPtrArray *
hub_history_page (HubHistory *history, const HubHistoryPage *page, gboolean *complete,
                  gboolean *more)
{
  GPtrArray *out;
  guint start, end, n = 0;
  gsize bytes = 0;

  g_return_val_if_fail (history != NULL, NULL);
  g_return_val_if_fail (page != NULL, NULL);

  start = first_after (history, page->since);
  end = page->until > 0 ? first_after (history, page->until) : history->length;
  end = MAX (end, start);
  /* At least one when any is due, whatever its size (§6). */
  while (start + n < end && n < page->limit) {
    gsize len = nth (history, start + n)->bytes;

    if ((n > 0 || page->strict) && page->max_bytes > 0 && bytes + len > page->max_bytes)
      break;
    bytes += len;
    n++;
  }
  out = g_ptr_array_new_full (n, (GDestroyNotify)hub_frame_unref);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (out, hub_frame_ref (nth (history, start + i)->frame));
  /* Nothing with seq > since was evicted iff every evicted seq is ≤ since. */
  if (complete != NULL)
    *complete = page->since >= history->highest_evicted;
  if (more != NULL)
    *more = start + n < end;
  return out;
}

gint64
hub_history_first_after (HubHistory *history, gint64 since)
{
  guint i;

  g_return_val_if_fail (history != NULL, 0);
  i = first_after (history, since);
  return i < history->length ? nth (history, i)->seq : 0;
}

GPtrArray *
hub_history_query (HubHistory *history, gint64 since, guint limit, gboolean *complete)
{
  HubHistoryPage page = {.since = since, .limit = limit};

  return hub_history_page (history, &page, complete, NULL);
}
