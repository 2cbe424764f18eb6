/* hub-token-source.h: where hub-client gets a fresh connection token when
 * HubClient asks (PROTOCOL.md §12): a file read again each time
 * (--token-file), a command's standard output (--token-command, with a time
 * limit), or a token minted from the server's secret (--secret). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A token command that has not ended by then is stopped and reported. */
#define HUB_TOKEN_COMMAND_TIMEOUT_S 10
/* Tokens minted with --secret last this long. */
#define HUB_TOKEN_MINTED_LIFETIME_S (24 * 3600)

typedef struct _HubTokenSource HubTokenSource;

/* Reads @path each time a token is needed. (transfer full) */
HubTokenSource *hub_token_source_new_file (const char *path);
/* Runs @command_line (split like a shell would, without one: quotes and
 * backslashes, no pipes or variables) each time; its stdout is the token.
 * NULL with @error (G_SHELL_ERROR) when the line does not split. (transfer full) */
HubTokenSource *hub_token_source_new_command (const char *command_line, GError **error);
/* Mints a token for @user (admin when @admin) from @secret each time. (transfer full) */
HubTokenSource *hub_token_source_new_secret (const char *secret, const char *user, gboolean admin);
void hub_token_source_free (HubTokenSource *source);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubTokenSource, hub_token_source_free)

/* What the source is, for messages: "--token-file FILE", "--token-command
 * 'CMD'", "--secret". (transfer none) */
const char *hub_token_source_describe (HubTokenSource *source);

/* Gets a token: @callback runs on the thread-default main context (never
 * from inside this call); hub_token_source_fetch_finish gives the token or
 * an error whose message is one line saying what went wrong (the file
 * cannot be read, is empty or over 64 KiB; the command could not start,
 * failed with its exit status and the first line of its stderr, printed
 * nothing, more than 64 KiB (it is stopped then) or something that is not
 * one printable word, or did not end within HUB_TOKEN_COMMAND_TIMEOUT_S).
 * Neither a file nor a command's output is read past 64 KiB. */
void hub_token_source_fetch_async (HubTokenSource *source, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
/* (transfer full) */
char *hub_token_source_fetch_finish (GAsyncResult *result, GError **error);
/* The same, waiting on a main context of its own (before the client runs). (transfer full) */
char *hub_token_source_fetch_sync (HubTokenSource *source, GError **error);

/* The `room` claim of a room token, read without checking the signature
 * (the server checks it): NULL with @error when @token is not a JWT whose
 * payload is a JSON object with a string `room`. (transfer full) */
char *hub_token_peek_room (const char *token, GError **error);

G_END_DECLS
