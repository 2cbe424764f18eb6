/* hub.h: everything libhub offers: the core (hub-core.h, pkg-config
 * libhub-core) and HubClient (hub-client.h, libhub-client). pkg-config libhub
 * links both. */
#pragma once

#include "hub-client-probe.h"
#include "hub-client.h"
#include "hub-core.h"
