/* hub-lg-ledger.h: hub-loadgen's exact delivery accounting. A subscription is
 * one device's view of one room. Its join reply gives the room's seq at that
 * moment (the baseline); from then on the device must hold every message of
 * the room with seq > baseline, exactly once and in seq order, by live
 * delivery or by resume replay, up to the room's final seq. The ledger keeps,
 * per subscription, the highest seq received, the holes below it and the
 * ranges the server said it could no longer replay (resumed complete:false),
 * so that at the end it can say which (room, seq, device) are missing and
 * why. Pure data: no I/O, no clock, one thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  gint64 from, to; /* inclusive */
} HubLgRange;

typedef struct {
  guint device; /* caller's ids, carried for reports */
  guint room;
  gint64 baseline;  /* seq in the join reply; -1 until then */
  gint64 max_seen;  /* highest seq received after the baseline (= baseline at first) */
  guint64 received; /* distinct seqs > baseline received */
  guint64 duplicates, out_of_order, early;
  gboolean replaying; /* between a resuming hello's welcome and this room's `resumed` */
  gint64 resume_from; /* while replaying: max_seen at the welcome, the seq resumed from */
  GArray *holes;      /* HubLgRange (owned) (nullable) ascending, all below max_seen */
  GArray *evicted;    /* HubLgRange (owned) (nullable) not replayable (resumed complete:false) */
} HubLgSub;

typedef enum {
  HUB_LG_RECEIPT_IN_ORDER,  /* the next seq */
  HUB_LG_RECEIPT_GAP,       /* ahead of the next: the seqs skipped became a hole */
  HUB_LG_RECEIPT_LATE,      /* fills a hole: counted received and out of order */
  HUB_LG_RECEIPT_DUPLICATE, /* already received (or at or below the baseline) */
  HUB_LG_RECEIPT_EARLY,     /* before the join reply: not accounted */
} HubLgReceipt;

void hub_lg_sub_init (HubLgSub *sub, guint device, guint room);
void hub_lg_sub_clear (HubLgSub *sub);
/* The join reply's seq; only the first call counts (a re-join after a
 * reconnect does not move the baseline). */
void hub_lg_sub_set_baseline (HubLgSub *sub, gint64 seq);
gboolean hub_lg_sub_joined (const HubLgSub *sub);
/* A `message` frame of this room with @seq arrived. */
HubLgReceipt hub_lg_sub_receive (HubLgSub *sub, gint64 seq);
/* A resuming hello's welcome: this room's replay begins (joined subscriptions
 * only), resumed from the highest seq received so far. */
void hub_lg_sub_begin_replay (HubLgSub *sub);
/* The room's `resumed` frame: ends the replay; when !@complete the seqs
 * between the one resumed from and @from (the first one replayed) are gone
 * from the server's history: recorded as evicted, not lost. The replayed
 * messages come before this frame (§6), so the first of them already left
 * those seqs as a hole: the hole becomes the evicted range. */
void hub_lg_sub_resumed (HubLgSub *sub, gint64 from, gint64 to, gboolean complete);
/* Messages up to @final_seq that may still arrive (above the highest seen). */
gint64 hub_lg_sub_pending (const HubLgSub *sub, gint64 final_seq);

/* ---- totals ---- */

typedef struct {
  guint64 subscriptions, joined;
  guint64 expected;     /* Σ final − baseline over joined subscriptions */
  guint64 received;     /* distinct expected seqs received */
  guint64 lost;         /* expected, not received, not evicted */
  guint64 evicted;      /* expected, not replayable by design (history too short) */
  guint64 duplicates;   /* received more than once */
  guint64 out_of_order; /* received after a higher seq */
  guint64 early;        /* received before the join reply (not expected) */
} HubLgTally;

typedef enum {
  HUB_LG_MISS_HOLE,    /* skipped: a higher seq arrived first and this one never did */
  HUB_LG_MISS_TAIL,    /* after the highest seq received, up to the final seq */
  HUB_LG_MISS_EVICTED, /* gone from history when the device resumed */
} HubLgMissKind;

/* "hole", "tail", "evicted" (transfer none) */
const char *hub_lg_miss_kind_name (HubLgMissKind kind);

/* Called once per missing range, in seq order per subscription. */
typedef void (*HubLgMissFunc) (const HubLgSub *sub, HubLgMissKind kind, gint64 from, gint64 to,
                               gpointer user_data);

/* Adds @sub's figures against the room's @final_seq (the highest seq the room
 * reached) into @tally, reporting each missing range to @func (nullable).
 * Seqs above @final_seq are not expected. */
void hub_lg_sub_tally (const HubLgSub *sub, gint64 final_seq, HubLgTally *tally, HubLgMissFunc func,
                       gpointer user_data);
void hub_lg_tally_add (HubLgTally *into, const HubLgTally *from);

G_END_DECLS
