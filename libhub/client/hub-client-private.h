/* hub-client-private.h: what the synchronous calls of hub-client-sync.c need
 * of a HubClient's insides (hub-client.c implements them). Not installed. */
#pragma once

#include "hub/hub-client.h"

G_BEGIN_DECLS

/* Why the last connection attempt ended before its welcome: the refused hello
 * (HUB_ERROR), G_IO_ERROR_CONNECTION_REFUSED (no connection made) or
 * G_IO_ERROR_CLOSED; NULL while the attempt runs, after a welcome, or before
 * any. (transfer none) (nullable) */
const GError *hub_client_get_connect_error (HubClient *client);

G_END_DECLS
