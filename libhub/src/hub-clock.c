/* hub-clock.c: the real clock (GLib time and GSource timers on the thread-default
 * main context) and the fake clock tests drive by hand, behind one HubClock type.
 * Timer ids are ours, not GLib's: GLib source ids are only unique per context. */
#include "hub/hub-clock.h"

/* The fake monotonic clock starts here, so it is never 0 and never looks like a
 * real reading taken at boot. */
#define FAKE_MONOTONIC_ORIGIN_US ((gint64)1000000000)

/* A runaway (a timer that keeps re-adding itself with delay 0) must not hang a
 * test: one advance fires at most this many timers. */
#define FAKE_MAX_FIRES_PER_ADVANCE 10000000u

typedef struct {
  guint id;
  guint64 deadline_ms; /* fake elapsed ms at which it fires */
  guint64 order;       /* insertion order, breaks deadline ties */
  HubClockFunc func;
  gpointer user_data; /* (unowned) */
} FakeTimer;

typedef struct {
  HubClock *clock; /* (unowned) the clock destroys its pending sources before it goes */
  guint id;
  HubClockFunc func;
  gpointer user_data; /* (unowned) */
} RealTimer;

struct _HubClock {
  grefcount ref;
  gboolean fake;
  guint next_id;
  /* Real clock: id → GSource* (owned ref), pending timers only. */
  GHashTable *sources;
  /* Fake clock. */
  gint64 start_unix_ms;
  guint64 elapsed_ms;
  guint64 next_order;
  GSequence *fake_queue;   /* (owned) FakeTimer*, sorted by (deadline, order) */
  GHashTable *fake_timers; /* id → GSequenceIter* into fake_queue */
};

static guint
allocate_id (HubClock *clock, GHashTable *in_use)
{
  /* Ids wrap after 2^32 timers; skip 0 and any id still pending. */
  for (guint tries = 0; tries < G_MAXUINT; tries++) {
    guint id = ++clock->next_id;

    if (id != 0 && !g_hash_table_contains (in_use, GUINT_TO_POINTER (id)))
      return id;
  }
  g_error ("hub-clock: no free timer id");
}

static void
source_destroy_and_unref (gpointer data)
{
  GSource *source = data;

  g_source_destroy (source);
  g_source_unref (source);
}

static int
fake_timer_compare (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const FakeTimer *ta = a, *tb = b;

  if (ta->deadline_ms != tb->deadline_ms)
    return ta->deadline_ms < tb->deadline_ms ? -1 : 1;
  if (ta->order != tb->order)
    return ta->order < tb->order ? -1 : 1;
  return 0;
}

HubClock *
hub_clock_new_real (void)
{
  HubClock *clock = g_new0 (HubClock, 1);

  g_ref_count_init (&clock->ref);
  clock->sources =
      g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, source_destroy_and_unref);
  return clock;
}

HubClock *
hub_clock_new_fake (gint64 start_unix_ms)
{
  HubClock *clock = g_new0 (HubClock, 1);

  g_ref_count_init (&clock->ref);
  clock->fake = TRUE;
  clock->start_unix_ms = start_unix_ms;
  clock->fake_queue = g_sequence_new (g_free);
  clock->fake_timers = g_hash_table_new (g_direct_hash, g_direct_equal);
  return clock;
}

HubClock *
hub_clock_ref (HubClock *clock)
{
  g_return_val_if_fail (clock != NULL, NULL);
  g_ref_count_inc (&clock->ref);
  return clock;
}

void
hub_clock_unref (HubClock *clock)
{
  g_return_if_fail (clock != NULL);
  if (!g_ref_count_dec (&clock->ref))
    return;
  /* Pending timers die with the clock: their callbacks never run. */
  g_clear_pointer (&clock->sources, g_hash_table_destroy);
  g_clear_pointer (&clock->fake_timers, g_hash_table_destroy);
  g_clear_pointer (&clock->fake_queue, g_sequence_free);
  g_free (clock);
}

gint64
hub_clock_monotonic_us (HubClock *clock)
{
  g_return_val_if_fail (clock != NULL, 0);
  if (clock->fake)
    return FAKE_MONOTONIC_ORIGIN_US + (gint64)clock->elapsed_ms * 1000;
  return g_get_monotonic_time ();
}

gint64
hub_clock_unix_ms (HubClock *clock)
{
  g_return_val_if_fail (clock != NULL, 0);
  if (clock->fake)
    return clock->start_unix_ms + (gint64)clock->elapsed_ms;
  return g_get_real_time () / 1000;
}

static gboolean
real_timer_fire (gpointer data)
{
  RealTimer *timer = data;
  HubClockFunc func = timer->func;
  gpointer user_data = timer->user_data;
  gpointer key, source;

  /* A one-shot timer leaves the table before its callback runs, so cancelling
   * its id from inside the callback (or later) is a no-op. The context keeps
   * the source alive until this dispatch returns. */
  if (g_hash_table_steal_extended (timer->clock->sources, GUINT_TO_POINTER (timer->id), &key,
                                   &source))
    g_source_unref (source);
  func (user_data);
  return G_SOURCE_REMOVE;
}

guint
hub_clock_add_timeout (HubClock *clock, guint delay_ms, HubClockFunc func, gpointer user_data)
{
  guint id;

  g_return_val_if_fail (clock != NULL, 0);
  g_return_val_if_fail (func != NULL, 0);

  if (clock->fake) {
    FakeTimer *timer = g_new0 (FakeTimer, 1);
    GSequenceIter *iter;

    id = allocate_id (clock, clock->fake_timers);
    timer->id = id;
    timer->deadline_ms = clock->elapsed_ms + delay_ms;
    timer->order = clock->next_order++;
    timer->func = func;
    timer->user_data = user_data;
    iter = g_sequence_insert_sorted (clock->fake_queue, timer, fake_timer_compare, NULL);
    g_hash_table_insert (clock->fake_timers, GUINT_TO_POINTER (id), iter);
  } else {
    GSource *source = g_timeout_source_new (delay_ms);
    RealTimer *timer = g_new0 (RealTimer, 1);

    id = allocate_id (clock, clock->sources);
    timer->clock = clock;
    timer->id = id;
    timer->func = func;
    timer->user_data = user_data;
    g_source_set_callback (source, real_timer_fire, timer, g_free);
    g_source_set_name (source, "hub-clock timer");
    /* NULL (no thread-default context) attaches to the global default one. */
    g_source_attach (source, g_main_context_get_thread_default ());
    g_hash_table_insert (clock->sources, GUINT_TO_POINTER (id), source);
  }
  return id;
}

void
hub_clock_cancel (HubClock *clock, guint id)
{
  g_return_if_fail (clock != NULL);
  if (id == 0)
    return;
  if (clock->fake) {
    GSequenceIter *iter = g_hash_table_lookup (clock->fake_timers, GUINT_TO_POINTER (id));

    if (iter == NULL)
      return;
    g_hash_table_remove (clock->fake_timers, GUINT_TO_POINTER (id));
    g_sequence_remove (iter);
  } else {
    g_hash_table_remove (clock->sources, GUINT_TO_POINTER (id));
  }
}

void
hub_fake_clock_advance (HubClock *clock, guint64 ms)
{
  guint64 end;
  guint fired = 0;

  g_return_if_fail (clock != NULL);
  g_return_if_fail (clock->fake);

  end = clock->elapsed_ms + ms;
  /* A callback may drop the last other reference to the clock. */
  hub_clock_ref (clock);
  while (fired < FAKE_MAX_FIRES_PER_ADVANCE) {
    GSequenceIter *first = g_sequence_get_begin_iter (clock->fake_queue);
    FakeTimer *timer;
    HubClockFunc func;
    gpointer user_data;

    if (g_sequence_iter_is_end (first))
      break;
    timer = g_sequence_get (first);
    if (timer->deadline_ms > end)
      break;
    /* Timers added during this advance (even with delay 0) are in the queue
     * too, so they fire now when their deadline is within @ms. */
    func = timer->func;
    user_data = timer->user_data;
    clock->elapsed_ms = MAX (clock->elapsed_ms, timer->deadline_ms);
    g_hash_table_remove (clock->fake_timers, GUINT_TO_POINTER (timer->id));
    g_sequence_remove (first);
    fired++;
    func (user_data);
  }
  if (fired == FAKE_MAX_FIRES_PER_ADVANCE)
    g_critical ("hub_fake_clock_advance: more than %u timers fired in one advance, stopping",
                FAKE_MAX_FIRES_PER_ADVANCE);
  /* A nested advance from a callback may already have gone further. */
  clock->elapsed_ms = MAX (clock->elapsed_ms, end);
  hub_clock_unref (clock);
}

void
hub_fake_clock_stall (HubClock *clock, guint64 ms)
{
  g_return_if_fail (clock != NULL);
  g_return_if_fail (clock->fake);
  /* Due timers wait for the next advance, which fires them late, as a loop
   * that was not running (SIGSTOP, a VM pause) does. */
  clock->elapsed_ms += ms;
}

guint
hub_fake_clock_pending (HubClock *clock)
{
  g_return_val_if_fail (clock != NULL, 0);
  g_return_val_if_fail (clock->fake, 0);
  return g_hash_table_size (clock->fake_timers);
}
