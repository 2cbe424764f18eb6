/* hub-client-token.h: the lifetime of a HubClient's connection token
 * (PROTOCOL.md §12): the provider that gives fresh tokens, the deadline of
 * the connected token and the refresh sent ahead of it. Private to
 * libhub/client; hub-client.c owns one per client. */
#pragma once

#include "hub/hub-client.h"

G_BEGIN_DECLS

typedef struct _HubClientTokens HubClientTokens;

/* @client: (unowned) the owner, which keeps the token itself
 * (hub_client_get_token); @clock: (unowned) its clock; @provider (nullable)
 * and @user_data: the application's; @timeout_ms: how long an answer may
 * take (0: no bound). (transfer full) */
HubClientTokens *hub_client_tokens_new (HubClient *client, HubClock *clock,
                                        HubClientTokenProvider provider, gpointer user_data,
                                        guint timeout_ms, guint64 seed);
void hub_client_tokens_free (HubClientTokens *tokens);

/* Before a connection's hello (@reconnect: any attempt but the first
 * hub_client_connect's): TRUE when the provider was asked (the connection
 * waits for hub_client_token_answered, which may already have run), FALSE
 * when the current token is to be used at once. */
gboolean hub_client_tokens_before_connect (HubClientTokens *tokens, gboolean reconnect);
/* A welcome: the token's deadline (@expires_ms, 0: none); the refresh is
 * scheduled (with a provider). */
void hub_client_tokens_connected (HubClientTokens *tokens, gint64 expires_ms);
/* The connection ended with @close_code: no refresh until the next welcome;
 * after 4003 the current token is spent. */
void hub_client_tokens_disconnected (HubClientTokens *tokens, guint close_code);
/* TRUE when a reconnect can get a token: not after a 4003 without a provider. */
gboolean hub_client_tokens_can_reconnect (HubClientTokens *tokens);

G_END_DECLS
