/* hub-notify.h: the platform layer for telling a service manager how the
 * service is doing: systemd's notify protocol (sd_notify(3): datagrams of
 * "KEY=VALUE" lines to the socket named in $NOTIFY_SOCKET) on Unix
 * (hub-notify-unix.c), spoken directly so that hub needs no libsystemd;
 * nothing on Windows (hub-notify-win32.c), whose services are another API. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _HubNotify HubNotify;

/* The service manager's socket from $NOTIFY_SOCKET (a path, or "@name" in
 * Linux's abstract namespace), which is then unset so that no child
 * inherits it; NULL when the process was not started with one. */
HubNotify *hub_notify_new (void);
void hub_notify_free (HubNotify *n);

/* Sends @state ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=…", several
 * separated by newlines) in one datagram. FALSE when it could not be sent
 * (the manager went away): nothing else to do about it. */
gboolean hub_notify_send (HubNotify *n, const char *state);

/* The watchdog interval the manager asked for ($WATCHDOG_USEC, when
 * $WATCHDOG_PID is unset or names this process), 0 when none: "WATCHDOG=1"
 * must then come at least this often (sd_watchdog_enabled(3)). */
guint64 hub_notify_watchdog_usec (HubNotify *n);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubNotify, hub_notify_free)

G_END_DECLS
