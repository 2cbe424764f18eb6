/* hub-history.h: a room's bounded history ring (PROTOCOL.md §6): the last N
 * message frames with their seq, stored as the same shared bytes that were
 * delivered. */
#pragma once

#include <glib.h>

#include "hub-api.h"
#include "hub-frame.h"

G_BEGIN_DECLS

typedef struct _HubHistory HubHistory;

/* @capacity may be 0 (nothing is kept). */
HUB_API
HubHistory *hub_history_new (guint capacity);
HUB_API
void hub_history_free (HubHistory *history);

/* Appends @frame (takes a ref) with @seq, which must be greater than every
 * seq already pushed; evicts the oldest entry when full. */
HUB_API
void hub_history_push (HubHistory *history, gint64 seq, HubFrame *frame);
HUB_API
guint hub_history_length (HubHistory *history);
HUB_API
guint hub_history_capacity (HubHistory *history);
/* Seq of the oldest / newest stored entry, 0 when empty. */
HUB_API
gint64 hub_history_first_seq (HubHistory *history);
HUB_API
gint64 hub_history_last_seq (HubHistory *history);

/* The oldest @limit stored frames with seq > @since, ascending, refs held
 * (transfer full: free with g_ptr_array_unref). @complete gets FALSE when some
 * message with seq > @since was already evicted. */
HUB_API
GPtrArray *hub_history_query (HubHistory *history, gint64 since, guint limit, gboolean *complete);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubHistory, hub_history_free)

G_END_DECLS
