/* hub-timer-resolution.h: the platform layer for the system timer's tick.
 * Windows rounds every timed wait up to its tick, 15.6 ms unless a process
 * asks for a finer one: GLib's poll timeout too, so a loop meant to run every
 * 2 ms (hub-lws-glib.c's polled lws service, the only way lws runs on a
 * GMainLoop there) would run every 15.6 ms and hold each frame up to that
 * long. While held, the tick is 1 ms (timeBeginPeriod: for this process alone
 * since Windows 10 2004, for the whole system before). Unix timers are
 * fine-grained: nothing to do there (hub-timer-resolution-unix.c). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Asks for a 1 ms tick until the matching release. Counted: nest freely. */
void hub_timer_resolution_hold (void);
void hub_timer_resolution_release (void);

G_END_DECLS
