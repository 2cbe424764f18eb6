/* hub-history.h: a room's bounded history ring (PROTOCOL.md §6): the last N
 * message frames with their seq, stored as the same shared bytes that were
 * delivered, bounded by count and by bytes, per room and, through a pool
 * shared by the rooms of a store, in all (oldest first). */
#pragma once

#include <glib.h>

#include "hub-api.h"
#include "hub-frame.h"

G_BEGIN_DECLS

typedef struct _HubHistory HubHistory;
/* The histories of a store together: at most @max_bytes of messages in all;
 * beyond it, the oldest message of any of them is evicted first. */
typedef struct _HubHistoryPool HubHistoryPool;

/* @max_bytes 0: no bound. Freed after every history that uses it. */
HUB_API
HubHistoryPool *hub_history_pool_new (gsize max_bytes);
HUB_API
void hub_history_pool_free (HubHistoryPool *pool);
/* The bytes its histories hold now. */
HUB_API
gsize hub_history_pool_bytes (HubHistoryPool *pool);

/* @capacity may be 0 (nothing is kept). No byte bound, no pool. */
HUB_API
HubHistory *hub_history_new (guint capacity);
/* At most @capacity messages and @max_bytes (0: no bound) of them, in
 * @pool (nullable, unowned). Bytes are those of hub_frame_payload(). */
HUB_API
HubHistory *hub_history_new_bounded (guint capacity, gsize max_bytes, HubHistoryPool *pool);
HUB_API
void hub_history_free (HubHistory *history);

/* Appends @frame (takes a ref) with @seq, which must be greater than every
 * seq already pushed; evicts the oldest entries while over a bound (the new
 * one too, when it alone is over the room's bytes). */
HUB_API
void hub_history_push (HubHistory *history, gint64 seq, HubFrame *frame);
HUB_API
guint hub_history_length (HubHistory *history);
HUB_API
guint hub_history_capacity (HubHistory *history);
HUB_API
gsize hub_history_bytes (HubHistory *history);
/* Seq of the oldest / newest stored entry, 0 when empty. */
HUB_API
gint64 hub_history_first_seq (HubHistory *history);
HUB_API
gint64 hub_history_last_seq (HubHistory *history);

/* What a page of the history asks. */
typedef struct {
  gint64 since; /* messages with seq > since */
  gint64 until; /* and seq ≤ until; 0: no bound */
  guint limit;  /* at most this many */
  /* And at most this many bytes of them (0: no bound), but always one when
   * any is due, unless @strict. */
  gsize max_bytes;
  gboolean strict;
} HubHistoryPage;

/* The oldest stored frames @page asks for, ascending, refs held (transfer
 * full: free with g_ptr_array_unref). @complete (nullable) gets FALSE when
 * some message with seq > since was already evicted; @more (nullable) TRUE
 * when stored messages after the last one returned (up to until) were left
 * out. */
HUB_API
GPtrArray *hub_history_page (HubHistory *history, const HubHistoryPage *page, gboolean *complete,
                             gboolean *more);
/* The seq of the oldest stored entry with seq > @since, 0 when none: the
 * first a page from @since returns. */
HUB_API
gint64 hub_history_first_after (HubHistory *history, gint64 since);
/* The oldest @limit stored frames with seq > @since (a page without byte or
 * seq bound). */
HUB_API
GPtrArray *hub_history_query (HubHistory *history, gint64 since, guint limit, gboolean *complete);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubHistory, hub_history_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubHistoryPool, hub_history_pool_free)

G_END_DECLS
