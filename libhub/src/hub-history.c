/* hub-history.c: a room's last N message frames with their seq, in a ring
 * (PROTOCOL.md §6). It remembers the highest evicted seq, so a query knows
 * exactly whether something it should return is gone. */
#include "hub/hub-history.h"

typedef struct {
  gint64 seq;
  HubFrame *frame; /* (owned) ref */
} Entry;

struct _HubHistory {
  Entry *entries; /* (owned) capacity slots, the ring */
  guint capacity;
  guint head;             /* slot of the oldest entry */
  guint length;           /* stored entries */
  gint64 highest_evicted; /* seq of the newest evicted entry, 0 when none */
  gint64 highest_pushed;  /* for the strictly-increasing check */
};

HubHistory *
hub_history_new (guint capacity)
{
  HubHistory *history = g_new0 (HubHistory, 1);

  history->capacity = capacity;
  history->entries = g_new0 (Entry, MAX (capacity, 1));
  return history;
}

/* The @i-th stored entry, 0 being the oldest. */
static Entry *
nth (HubHistory *history, guint i)
{
  return &history->entries[(history->head + i) % history->capacity];
}

void
hub_history_free (HubHistory *history)
{
  if (history == NULL)
    return;
  for (guint i = 0; i < history->length; i++)
    hub_frame_unref (nth (history, i)->frame);
  g_free (history->entries);
  g_free (history);
}

void
hub_history_push (HubHistory *history, gint64 seq, HubFrame *frame)
{
  Entry *slot;

  g_return_if_fail (history != NULL);
  g_return_if_fail (frame != NULL);
  g_return_if_fail (seq > history->highest_pushed);

  history->highest_pushed = seq;
  if (history->capacity == 0) {
    history->highest_evicted = seq;
    return;
  }
  if (history->length == history->capacity) {
    slot = nth (history, 0);
    history->highest_evicted = slot->seq;
    hub_frame_unref (slot->frame);
    history->head = (history->head + 1) % history->capacity;
    history->length--;
  }
  slot = nth (history, history->length);
  slot->seq = seq;
  slot->frame = hub_frame_ref (frame);
  history->length++;
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
hub_history_query (HubHistory *history, gint64 since, guint limit, gboolean *complete)
{
  GPtrArray *out;
  guint start, n;

  g_return_val_if_fail (history != NULL, NULL);

  start = first_after (history, since);
  n = MIN (limit, history->length - start);
  out = g_ptr_array_new_full (n, (GDestroyNotify)hub_frame_unref);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (out, hub_frame_ref (nth (history, start + i)->frame));
  /* Nothing with seq > since was evicted iff every evicted seq is ≤ since. */
  if (complete != NULL)
    *complete = since >= history->highest_evicted;
  return out;
}
