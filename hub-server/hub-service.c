/* hub-service.c: the notify protocol's messages at hub-server's turns. */
#include "hub-service.h"

#include "hub-notify.h"

struct _HubService {
  HubNotify *notify; /* (owned) (nullable) */
  guint watchdog;    /* timeout source, 0 when none */
};

static gboolean
on_watchdog (gpointer data)
{
  HubService *service = data;

  hub_notify_send (service->notify, "WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}

HubService *
hub_service_new (void)
{
  HubService *service = g_new0 (HubService, 1);
  guint64 usec;

  service->notify = hub_notify_new ();
  usec = hub_notify_watchdog_usec (service->notify);
  /* Twice per interval, as sd_watchdog_enabled(3) advises. */
  if (usec > 0)
    service->watchdog = g_timeout_add ((guint)MAX (usec / 2000, 1), on_watchdog, service);
  return service;
}

void
hub_service_free (HubService *service)
{
  if (service == NULL)
    return;
  if (service->watchdog != 0)
    g_source_remove (service->watchdog);
  hub_notify_free (service->notify);
  g_free (service);
}

void
hub_service_ready (HubService *service, const char *status)
{
  g_autofree char *state = g_strdup_printf ("READY=1\nSTATUS=%s", status);

  hub_notify_send (service->notify, state);
}

void
hub_service_reloading (HubService *service)
{
  /* MONOTONIC_USEC: systemd 253's Type=notify-reload wants it; older ones ignore it. */
  g_autofree char *state =
      g_strdup_printf ("RELOADING=1\nMONOTONIC_USEC=%" G_GINT64_FORMAT, g_get_monotonic_time ());

  hub_notify_send (service->notify, state);
}

void
hub_service_stopping (HubService *service)
{
  hub_notify_send (service->notify, "STOPPING=1\nSTATUS=shutting down");
}
