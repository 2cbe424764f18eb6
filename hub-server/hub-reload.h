/* hub-reload.h: what SIGHUP does to a running hub-server: the settings are
 * read again (hub_options_reload: same command line and environment, a fresh
 * key file and secret file), what can change live is applied (the secret with
 * its grace, the log settings, the limits for new connections and requests,
 * the bounds per user and on connections, the HTTP deadline), what needs a
 * restart is named, and every change is logged. No connection is dropped. */
#pragma once

#include <glib.h>
#include <hub/hub.h>

#include "hub-options.h"
#include "hub-ws-transport.h"

G_BEGIN_DECLS

/* Reloads into @running (main's settings, updated in place with what was
 * applied), @d and @transport (nullable: the dispatcher's settings only). A key file or secret file
 * that cannot be read, or holds a bad value, changes nothing (the reason is logged). */
void hub_reload (HubOptions *running, HubDispatcher *d, HubWsTransport *transport);

G_END_DECLS
