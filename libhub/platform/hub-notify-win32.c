/* hub-notify-win32.c: hub-notify.h on Windows: no notify protocol (a Windows
 * service reports to the Service Control Manager, which hub does not do). */
#include "hub-notify.h"

HubNotify *
hub_notify_new (void)
{
  return NULL;
}

void
hub_notify_free (HubNotify *n)
{
}

gboolean
hub_notify_send (HubNotify *n, const char *state)
{
  return FALSE;
}

guint64
hub_notify_watchdog_usec (HubNotify *n)
{
  return 0;
}
