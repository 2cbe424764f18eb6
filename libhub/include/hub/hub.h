/* hub.h: everything libhub offers. */
#pragma once

#include "hub-auth.h"
#include "hub-broadcaster.h"
#include "hub-broker.h"
#include "hub-client.h"
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
#include <hub/hub-version.h> /* generated into the build tree */
