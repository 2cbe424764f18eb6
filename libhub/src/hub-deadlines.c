/* hub-deadlines.c: connections ordered by deadline in a GSequence, a hash from
 * each connection to its place in it, and one timer for the first. */
#include "hub-deadlines.h"

typedef struct {
  gint64 unix_ms;
  HubConnection *conn; /* (unowned) */
} Entry;

struct _HubDeadlines {
  HubClock *clock;   /* (owned) */
  GSequence *order;  /* (owned) Entry*, by deadline then by connection */
  GHashTable *iters; /* (owned) HubConnection* → GSequenceIter* */
  guint timer;
  gint64 timer_ms; /* the deadline the timer is armed for */
  HubDeadlineFunc func;
  gpointer user_data;
};

static int
compare_entries (gconstpointer a, gconstpointer b, gpointer unused)
{
  const Entry *x = a, *y = b;

  if (x->unix_ms != y->unix_ms)
    return x->unix_ms < y->unix_ms ? -1 : 1;
  if (x->conn != y->conn)
    return (guintptr)x->conn < (guintptr)y->conn ? -1 : 1;
  return 0;
}

HubDeadlines *
hub_deadlines_new (HubClock *clock, HubDeadlineFunc func, gpointer user_data)
{
  HubDeadlines *dl = g_new0 (HubDeadlines, 1);

  dl->clock = hub_clock_ref (clock);
  dl->order = g_sequence_new (g_free);
  dl->iters = g_hash_table_new (g_direct_hash, g_direct_equal);
  dl->func = func;
  dl->user_data = user_data;
  return dl;
}

void
hub_deadlines_free (HubDeadlines *dl)
{
  if (dl == NULL)
    return;
  if (dl->timer != 0)
    hub_clock_cancel (dl->clock, dl->timer);
  g_hash_table_unref (dl->iters);
  g_sequence_free (dl->order);
  hub_clock_unref (dl->clock);
  g_free (dl);
}

static void arm (HubDeadlines *dl);

static void
on_timer (gpointer user_data)
{
  HubDeadlines *dl = user_data;
  gint64 now = hub_clock_unix_ms (dl->clock);
  GSequenceIter *first;

  dl->timer = 0;
  /* Each call may change the set (a close drops its connection's deadline). */
  while ((first = g_sequence_get_begin_iter (dl->order)) != g_sequence_get_end_iter (dl->order)) {
    Entry *e = g_sequence_get (first);
    HubConnection *conn = e->conn;

    if (e->unix_ms > now)
      break;
    g_hash_table_remove (dl->iters, conn);
    g_sequence_remove (first);
    dl->func (conn, dl->user_data);
  }
  arm (dl);
}

/* The timer for the first deadline (a clock's timer takes a delay: the wall
 * clock is read again when it fires, and it is armed again if early). */
static void
arm (HubDeadlines *dl)
{
  GSequenceIter *first = g_sequence_get_begin_iter (dl->order);
  const Entry *e;
  gint64 delay;

  if (first == g_sequence_get_end_iter (dl->order)) {
    if (dl->timer != 0)
      hub_clock_cancel (dl->clock, dl->timer);
    dl->timer = 0;
    return;
  }
  e = g_sequence_get (first);
  if (dl->timer != 0 && dl->timer_ms == e->unix_ms)
    return;
  if (dl->timer != 0)
    hub_clock_cancel (dl->clock, dl->timer);
  delay = e->unix_ms - hub_clock_unix_ms (dl->clock);
  dl->timer_ms = e->unix_ms;
  dl->timer = hub_clock_add_timeout (dl->clock, (guint)CLAMP (delay, 0, G_MAXINT32), on_timer, dl);
}

void
hub_deadlines_set (HubDeadlines *dl, HubConnection *conn, gint64 unix_ms)
{
  GSequenceIter *it = g_hash_table_lookup (dl->iters, conn);

  if (it != NULL) {
    g_sequence_remove (it);
    g_hash_table_remove (dl->iters, conn);
  }
  if (unix_ms > 0) {
    Entry *e = g_new (Entry, 1);

    e->unix_ms = unix_ms;
    e->conn = conn;
    g_hash_table_insert (dl->iters, conn,
                         g_sequence_insert_sorted (dl->order, e, compare_entries, NULL));
  }
  arm (dl);
}

guint
hub_deadlines_size (HubDeadlines *dl)
{
  return g_hash_table_size (dl->iters);
}
