/* hub-clock.h: where libhub gets time and timers. The real clock uses the GLib
 * main context; the fake clock advances only when a test says so, so grace
 * periods, hello timeouts, heartbeats and rate limits are tested without sleeping. */
#pragma once

#include <glib.h>

#include "hub-api.h"

G_BEGIN_DECLS

typedef struct _HubClock HubClock;
typedef void (*HubClockFunc) (gpointer user_data);

/* A clock with a monotonic time (µs, arbitrary origin), a wall time (Unix ms),
 * and one-shot timers. Refcounted. */
HUB_API
HubClock *hub_clock_new_real (void);
HUB_API
HubClock *hub_clock_new_fake (gint64 start_unix_ms);
HUB_API
HubClock *hub_clock_ref (HubClock *clock);
HUB_API
void hub_clock_unref (HubClock *clock);

HUB_API
gint64 hub_clock_monotonic_us (HubClock *clock);
HUB_API
gint64 hub_clock_unix_ms (HubClock *clock);

/* Calls @func once after @delay_ms. Returns an id > 0 for hub_clock_cancel().
 * The real clock attaches to the thread-default main context. */
HUB_API
guint hub_clock_add_timeout (HubClock *clock, guint delay_ms, HubClockFunc func,
                             gpointer user_data);
/* Cancels a pending timer; 0 and ids that already fired are ignored. */
HUB_API
void hub_clock_cancel (HubClock *clock, guint id);

/* Fake clock only: moves both times forward by @ms, firing due timers in order
 * of their deadlines (each sees the clock at its own deadline). */
HUB_API
void hub_fake_clock_advance (HubClock *clock, guint64 ms);
/* Fake clock only: moves both times forward by @ms without firing anything,
 * as a stalled loop would: what fell due fires at the next advance (even of
 * 0 ms), late, each seeing the clock as it is then. */
HUB_API
void hub_fake_clock_stall (HubClock *clock, guint64 ms);
/* Fake clock only: number of timers still pending. */
HUB_API
guint hub_fake_clock_pending (HubClock *clock);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubClock, hub_clock_unref)

G_END_DECLS
