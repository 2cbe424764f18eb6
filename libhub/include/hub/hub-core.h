/* hub-core.h: everything libhub-core offers (GLib and json-glib only, no
 * sockets): the protocol codec, frames, tokens, connections and their send
 * queues, the dispatcher with rooms, presence and history, the broadcaster.
 * pkg-config libhub-core. hub.h adds the client. */
#pragma once

#include "hub-auth.h"
#include "hub-broadcaster.h"
#include "hub-clock.h"
#include "hub-codec.h"
#include "hub-config.h"
#include "hub-connection-manager.h"
#include "hub-connection.h"
#include "hub-dispatcher.h"
#include "hub-error.h"
#include "hub-event.h"
#include "hub-frame.h"
#include "hub-history.h"
#include "hub-metrics.h"
#include "hub-presence.h"
#include "hub-rate-limiter.h"
#include "hub-room-manager.h"
#include "hub-room-perms.h"
#include "hub-store.h"
#include "hub-watchers.h"
#include <hub/hub-version.h> /* generated into the build tree */
