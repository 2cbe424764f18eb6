/* hub-service.h: hub-server as a service of systemd (Type=notify, in
 * dist/hub-server.service): READY once it listens, RELOADING around a SIGHUP,
 * STOPPING when it begins to shut down, and the watchdog's WATCHDOG=1 from
 * the main loop (so a loop that hangs gets the service restarted). Does
 * nothing when not started by a service manager (hub-notify.h). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _HubService HubService;

/* Starts the watchdog pings (a timeout on the default main context) when the
 * manager asked for them. (transfer full) */
HubService *hub_service_new (void);
void hub_service_free (HubService *service);

void hub_service_ready (HubService *service, const char *status);
void hub_service_reloading (HubService *service);
void hub_service_stopping (HubService *service);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubService, hub_service_free)

G_END_DECLS
