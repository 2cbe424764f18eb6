/* hub-client-timers.c: one clock timer per thread and clock for the due
 * times of many HubClient timers (hub-client-timers.h): a GSequence sorted by
 * due time; the clock timer is armed for the head, and moved only when an
 * earlier one comes. */
#include "hub-client-timers.h"

/* A clock timer's delay is a guint of milliseconds: a due time further away
 * is waited for in steps of this (24 days). */
#define MAX_DELAY_MS ((gint64)G_MAXUINT / 2)

struct _HubClientTimers {
  guint refs;
  HubClock *clock; /* (unowned) the key; every user of the queue holds it */
  GSequence *due;  /* HubClientTimer* (unowned) by due_ms */
  guint clock_timer;
  gint64 armed_ms; /* the due time clock_timer fires at */
};

/* HubClock* → HubClientTimers*, this thread's, while any. */
static GPrivate thread_queues;

static gint
compare_due (gconstpointer a, gconstpointer b, gpointer unused)
{
  const HubClientTimer *x = a, *y = b;

  if (x->due_ms != y->due_ms)
    return x->due_ms < y->due_ms ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

HubClientTimers *
hub_client_timers_ref_for (HubClock *clock)
{
  GHashTable *queues = g_private_get (&thread_queues);
  HubClientTimers *timers;

  if (queues == NULL) {
    queues = g_hash_table_new (NULL, NULL);
    g_private_set (&thread_queues, queues);
  }
  timers = g_hash_table_lookup (queues, clock);
  if (timers == NULL) {
    timers = g_new0 (HubClientTimers, 1);
    timers->clock = clock;
    timers->due = g_sequence_new (NULL);
    g_hash_table_insert (queues, clock, timers);
  }
  timers->refs++;
  return timers;
}

void
hub_client_timers_unref (HubClientTimers *timers)
{
  GHashTable *queues;

  if (timers == NULL || --timers->refs > 0)
    return;
  hub_clock_cancel (timers->clock, timers->clock_timer);
  g_sequence_free (timers->due);
  queues = g_private_get (&thread_queues);
  g_hash_table_remove (queues, timers->clock);
  if (g_hash_table_size (queues) == 0) {
    g_hash_table_unref (queues);
    g_private_set (&thread_queues, NULL);
  }
  g_free (timers);
}

static void on_clock_timer (gpointer user_data);

/* The clock timer for the head of the queue (none when empty). */
static void
arm (HubClientTimers *timers)
{
  GSequenceIter *head = g_sequence_get_begin_iter (timers->due);
  HubClientTimer *first;
  gint64 delay;

  if (g_sequence_iter_is_end (head)) {
    hub_clock_cancel (timers->clock, timers->clock_timer);
    timers->clock_timer = 0;
    return;
  }
  first = g_sequence_get (head);
  /* One that fires no later does: it arms again for what remains. */
  if (timers->clock_timer != 0 && timers->armed_ms <= first->due_ms)
    return;
  hub_clock_cancel (timers->clock, timers->clock_timer);
  delay = CLAMP (first->due_ms - hub_clock_unix_ms (timers->clock), 0, MAX_DELAY_MS);
  timers->armed_ms = hub_clock_unix_ms (timers->clock) + delay;
  timers->clock_timer = hub_clock_add_timeout (timers->clock, (guint)delay, on_clock_timer, timers);
}

static void
on_clock_timer (gpointer user_data)
{
  HubClientTimers *timers = user_data;
  guint n_due = 0;
  gint64 now;

  timers->clock_timer = 0;
  now = hub_clock_unix_ms (timers->clock);
  /* Only those due now, counted first: a function may schedule again. */
  for (GSequenceIter *i = g_sequence_get_begin_iter (timers->due);
       !g_sequence_iter_is_end (i) && ((HubClientTimer *)g_sequence_get (i))->due_ms <= now;
       i = g_sequence_iter_next (i))
    n_due++;
  /* A function may free its owner, and with it the last other reference. */
  timers->refs++;
  for (guint k = 0; k < n_due; k++) {
    GSequenceIter *head = g_sequence_get_begin_iter (timers->due);
    HubClientTimer *timer;

    if (g_sequence_iter_is_end (head))
      break;
    timer = g_sequence_get (head);
    if (timer->due_ms > now)
      break;
    g_sequence_remove (head);
    timer->iter = NULL;
    timer->func (timer->data);
  }
  arm (timers);
  hub_client_timers_unref (timers);
}

void
hub_client_timers_schedule (HubClientTimers *timers, HubClientTimer *timer, gint64 due_ms)
{
  if (timer->iter != NULL)
    g_sequence_remove (timer->iter);
  timer->due_ms = due_ms;
  timer->iter = g_sequence_insert_sorted (timers->due, timer, compare_due, NULL);
  arm (timers);
}

void
hub_client_timers_cancel (HubClientTimers *timers, HubClientTimer *timer)
{
  if (timer->iter == NULL)
    return;
  g_sequence_remove (timer->iter);
  timer->iter = NULL;
  /* The clock timer may fire for nothing; it then arms for what remains. */
}
