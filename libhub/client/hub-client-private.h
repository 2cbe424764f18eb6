/* hub-client-private.h: what the other files of libhub/client need of a
 * HubClient's insides (hub-client.c implements them): the synchronous calls
 * of hub-client-sync.c, the token lifetime of hub-client-token.c. Not installed. */
#pragma once

#include "hub/hub-client.h"

#include "hub-client-token.h"

G_BEGIN_DECLS

/* Why the last connection attempt ended before its welcome: the refused hello
 * (HUB_ERROR), G_IO_ERROR_CONNECTION_REFUSED (no connection made),
 * G_IO_ERROR_PERMISSION_DENIED (no token to log in with) or
 * G_IO_ERROR_CLOSED; NULL while the attempt runs, after a welcome, or before
 * any. (transfer none) (nullable) */
const GError *hub_client_get_connect_error (HubClient *client);

/* The token's lifetime. (transfer none) */
HubClientTokens *hub_client_get_tokens (HubClient *client);
/* The token of the next hello. (transfer none) (nullable) */
const char *hub_client_get_token (HubClient *client);
void hub_client_set_token (HubClient *client, const char *token);
/* The provider answered the ask made before a connection: @ok, the
 * connection starts with the current token; else the client gives up, @why
 * saying why. Ignored unless the client is still waiting to connect. */
void hub_client_token_answered (HubClient *client, gboolean ok, const char *why);
/* Hands @event to the application (unless the client is being freed). */
void hub_client_emit_event (HubClient *client, const HubClientEvent *event);
/* Around code entered from the loop or from the application that may call
 * the application back: a callback may free the client, whose memory then
 * goes at the outermost hub_client_release. */
void hub_client_hold (HubClient *client);
void hub_client_release (HubClient *client);

G_END_DECLS
