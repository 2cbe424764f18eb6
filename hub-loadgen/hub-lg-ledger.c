/* hub-lg-ledger.c: per-subscription bookkeeping of hub-lg-ledger.h. In a
 * healthy run seqs arrive in order and the hole lists stay empty (never
 * allocated), so a receipt is a compare and two increments. */
#include "hub-lg-ledger.h"

#include <string.h>

void
hub_lg_sub_init (HubLgSub *sub, guint device, guint room)
{
  memset (sub, 0, sizeof *sub);
  sub->device = device;
  sub->room = room;
  sub->baseline = -1;
  sub->max_seen = -1;
}

void
hub_lg_sub_clear (HubLgSub *sub)
{
  g_clear_pointer (&sub->holes, g_array_unref);
  g_clear_pointer (&sub->evicted, g_array_unref);
}

void
hub_lg_sub_set_baseline (HubLgSub *sub, gint64 seq)
{
  if (sub->baseline >= 0 || seq < 0)
    return;
  sub->baseline = seq;
  sub->max_seen = seq;
}

gboolean
hub_lg_sub_joined (const HubLgSub *sub)
{
  return sub->baseline >= 0;
}

static void
add_range (GArray **ranges, gint64 from, gint64 to)
{
  HubLgRange range = {from, to};

  if (from > to)
    return;
  if (*ranges == NULL)
    *ranges = g_array_new (FALSE, FALSE, sizeof (HubLgRange));
  g_array_append_val (*ranges, range);
}

/* Removes @seq from the ascending @ranges; FALSE when no range holds it. */
static gboolean
take_from (GArray *ranges, gint64 seq)
{
  if (ranges == NULL)
    return FALSE;
  for (guint i = 0; i < ranges->len; i++) {
    HubLgRange *r = &g_array_index (ranges, HubLgRange, i);

    if (seq < r->from)
      return FALSE;
    if (seq > r->to)
      continue;
    if (r->from == r->to) {
      g_array_remove_index (ranges, i);
    } else if (seq == r->from) {
      r->from++;
    } else if (seq == r->to) {
      r->to--;
    } else {
      HubLgRange upper = {seq + 1, r->to};

      r->to = seq - 1;
      g_array_insert_val (ranges, i + 1, upper);
    }
    return TRUE;
  }
  return FALSE;
}

HubLgReceipt
hub_lg_sub_receive (HubLgSub *sub, gint64 seq)
{
  if (sub->baseline < 0) {
    sub->early++;
    return HUB_LG_RECEIPT_EARLY;
  }
  if (seq == sub->max_seen + 1) {
    sub->max_seen = seq;
    sub->received++;
    return HUB_LG_RECEIPT_IN_ORDER;
  }
  if (seq > sub->max_seen) {
    add_range (&sub->holes, sub->max_seen + 1, seq - 1);
    sub->max_seen = seq;
    sub->received++;
    return HUB_LG_RECEIPT_GAP;
  }
  if (seq > sub->baseline && (take_from (sub->holes, seq) || take_from (sub->evicted, seq))) {
    sub->received++;
    sub->out_of_order++;
    return HUB_LG_RECEIPT_LATE;
  }
  sub->duplicates++;
  return HUB_LG_RECEIPT_DUPLICATE;
}

/* Removes [@from, @to] from the ascending @ranges. */
static void
take_range (GArray *ranges, gint64 from, gint64 to)
{
  for (guint i = 0; ranges != NULL && i < ranges->len;) {
    HubLgRange *r = &g_array_index (ranges, HubLgRange, i);

    if (r->to < from) {
      i++;
    } else if (r->from > to) {
      return;
    } else if (r->from >= from && r->to <= to) {
      g_array_remove_index (ranges, i);
    } else if (r->from < from && r->to > to) {
      HubLgRange upper = {to + 1, r->to};

      r->to = from - 1;
      g_array_insert_val (ranges, i + 1, upper);
      return;
    } else if (r->from < from) {
      r->to = from - 1;
      i++;
    } else {
      r->from = to + 1;
      return;
    }
  }
}

void
hub_lg_sub_begin_replay (HubLgSub *sub)
{
  sub->replaying = hub_lg_sub_joined (sub);
  sub->resume_from = sub->max_seen;
}

void
hub_lg_sub_resumed (HubLgSub *sub, gint64 from, gint64 to, gboolean complete)
{
  gint64 start = (sub->replaying ? sub->resume_from : sub->max_seen) + 1;

  sub->replaying = FALSE;
  if (complete || sub->baseline < 0 || from - 1 < start)
    return;
  take_range (sub->holes, start, from - 1);
  add_range (&sub->evicted, start, from - 1);
  sub->max_seen = MAX (sub->max_seen, from - 1);
}

gint64
hub_lg_sub_pending (const HubLgSub *sub, gint64 final_seq)
{
  if (sub->baseline < 0 || final_seq <= sub->max_seen)
    return 0;
  return final_seq - sub->max_seen;
}

const char *
hub_lg_miss_kind_name (HubLgMissKind kind)
{
  switch (kind) {
    case HUB_LG_MISS_HOLE:
      return "hole";
    case HUB_LG_MISS_TAIL:
      return "tail";
    case HUB_LG_MISS_EVICTED:
      return "evicted";
    default:
      return "?";
  }
}

void
hub_lg_sub_tally (const HubLgSub *sub, gint64 final_seq, HubLgTally *tally, HubLgMissFunc func,
                  gpointer user_data)
{
  tally->subscriptions++;
  tally->duplicates += sub->duplicates;
  tally->early += sub->early;
  if (sub->baseline < 0)
    return;
  tally->joined++;
  final_seq = MAX (final_seq, sub->max_seen);
  if (final_seq <= sub->baseline)
    return;
  tally->expected += (guint64)(final_seq - sub->baseline);
  tally->received += sub->received;
  tally->out_of_order += sub->out_of_order;
  /* Holes and evicted ranges interleave in seq order (all below max_seen);
   * report them merged. */
  for (guint i = 0, j = 0; (sub->holes != NULL && i < sub->holes->len) ||
                           (sub->evicted != NULL && j < sub->evicted->len);) {
    const HubLgRange *h = sub->holes != NULL && i < sub->holes->len
                              ? &g_array_index (sub->holes, HubLgRange, i)
                              : NULL;
    const HubLgRange *e = sub->evicted != NULL && j < sub->evicted->len
                              ? &g_array_index (sub->evicted, HubLgRange, j)
                              : NULL;

    if (e == NULL || (h != NULL && h->from < e->from)) {
      tally->lost += (guint64)(h->to - h->from + 1);
      if (func != NULL)
        func (sub, HUB_LG_MISS_HOLE, h->from, h->to, user_data);
      i++;
    } else {
      tally->evicted += (guint64)(e->to - e->from + 1);
      if (func != NULL)
        func (sub, HUB_LG_MISS_EVICTED, e->from, e->to, user_data);
      j++;
    }
  }
  if (final_seq > sub->max_seen) {
    tally->lost += (guint64)(final_seq - sub->max_seen);
    if (func != NULL)
      func (sub, HUB_LG_MISS_TAIL, sub->max_seen + 1, final_seq, user_data);
  }
}

void
hub_lg_tally_add (HubLgTally *into, const HubLgTally *from)
{
  into->subscriptions += from->subscriptions;
  into->joined += from->joined;
  into->expected += from->expected;
  into->received += from->received;
  into->lost += from->lost;
  into->evicted += from->evicted;
  into->duplicates += from->duplicates;
  into->out_of_order += from->out_of_order;
  into->early += from->early;
}
