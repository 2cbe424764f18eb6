/* hub-timer-resolution-unix.c: hub-timer-resolution.h on Unix, where timed
 * waits (poll, epoll_wait, kevent) already have a sub-millisecond resolution. */
#include "hub-timer-resolution.h"

void
hub_timer_resolution_hold (void)
{
}

void
hub_timer_resolution_release (void)
{
}
