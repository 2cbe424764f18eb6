/* hub-timer-resolution-win32.c: hub-timer-resolution.h on Windows: the
 * multimedia timer's period (timeBeginPeriod / timeEndPeriod, winmm), asked
 * for once however many holders there are. */
#include "hub-timer-resolution.h"

/* windows.h before mmsystem.h. */
#include <windows.h>

#include <mmsystem.h>

#define PERIOD_MS 1

static GMutex lock;
static guint holders;   /* under lock */
static gboolean raised; /* under lock: timeBeginPeriod succeeded */

void
hub_timer_resolution_hold (void)
{
  g_mutex_lock (&lock);
  if (holders++ == 0)
    raised = timeBeginPeriod (PERIOD_MS) == TIMERR_NOERROR;
  g_mutex_unlock (&lock);
}

void
hub_timer_resolution_release (void)
{
  gboolean unbalanced;

  g_mutex_lock (&lock);
  unbalanced = holders == 0;
  if (!unbalanced && --holders == 0 && raised) {
    timeEndPeriod (PERIOD_MS);
    raised = FALSE;
  }
  g_mutex_unlock (&lock);
  g_return_if_fail (!unbalanced);
}
