/* hub-client-timers.h: one timer for many. The token refreshes of a thread's
 * clients (thousands in hub-loadgen) wait in one queue per clock, sorted by
 * due time, under one hub_clock timer for the earliest, instead of a GSource
 * each: GLib looks at every source of a context at every loop iteration.
 * Private to libhub/client. */
#pragma once

#include "hub/hub-clock.h"

G_BEGIN_DECLS

typedef struct _HubClientTimers HubClientTimers;

/* A timer, inside its owner; zeroed before first use. */
typedef struct {
  gint64 due_ms; /* Unix ms (hub_clock_unix_ms) */
  gpointer iter; /* (unowned) its place in the queue while scheduled, else NULL */
  void (*func) (gpointer data);
  gpointer data;
} HubClientTimer;

/* This thread's queue for @clock (created with its first user): a
 * reference, given back with hub_client_timers_unref. (transfer full) */
HubClientTimers *hub_client_timers_ref_for (HubClock *clock);
void hub_client_timers_unref (HubClientTimers *timers);

/* Calls @timer->func (@timer->data) at @due_ms (now if past), once; a
 * scheduled timer moves. */
void hub_client_timers_schedule (HubClientTimers *timers, HubClientTimer *timer, gint64 due_ms);
/* No call for @timer (if it was scheduled). */
void hub_client_timers_cancel (HubClientTimers *timers, HubClientTimer *timer);

G_END_DECLS
