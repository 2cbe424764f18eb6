/* hub-session.h: what both of hub-client's modes share: the HubClient, the
 * current room, who is typing, and the execution of one command line (the
 * request it sends, its reply turned into lines). The modes differ only in
 * where lines go and in what they do when a command is done. */
#pragma once

#include <hub/hub-client.h>

#include "hub-token-source.h"

G_BEGIN_DECLS

typedef struct _HubSession HubSession;

typedef enum {
  HUB_SESSION_OK,
  HUB_SESSION_ERROR_REPLY, /* the server answered `error` (exit 1 in batch mode) */
  HUB_SESSION_USAGE,       /* the line is not a valid command (exit 2) */
  HUB_SESSION_CONNECTION,  /* not connected, connection lost, no reply (exit 3) */
  HUB_SESSION_QUIT,        /* /quit */
} HubSessionResult;

typedef enum {
  HUB_SESSION_LINE_EVENT, /* something that happened (message, presence…) */
  HUB_SESSION_LINE_REPLY, /* the answer to a command */
  HUB_SESSION_LINE_INFO,  /* connection changes and local remarks */
  HUB_SESSION_LINE_ERROR, /* errors */
} HubSessionLine;

typedef struct {
  /* A formatted line (several joined by '\n' for some replies), no final newline. */
  void (*print) (gpointer user_data, HubSessionLine kind, const char *text);
  /* Every frame received, as HubClientCallbacks.frame. */
  void (*frame) (gpointer user_data, JsonObject *frame, const char *text);
  void (*state) (gpointer user_data, const HubClientStateChange *change);
  /* The status (state, current room, who is typing) changed. */
  void (*status) (gpointer user_data);
  /* (optional) /stats's answer; without it, a line is printed. */
  void (*stats) (gpointer user_data, JsonObject *stats);
} HubSessionOutput;

typedef void (*HubSessionDoneFunc) (HubSession *session, HubSessionResult result,
                                    gpointer user_data);

typedef enum {
  /* People: typing shows in the status, the first connection is retried
   * like any later one. */
  HUB_SESSION_INTERACTIVE,
  /* Scripts: typing events are lines too; the first connection is tried
   * once and a failure is final (no retry promised); a lost connection says
   * "reconnecting" without a schedule. */
  HUB_SESSION_BATCH,
} HubSessionMode;

/* Where tokens come from (PROTOCOL.md §12), besides HubClientOptions.token. */
typedef struct {
  /* (nullable) (unowned) fresh connection tokens: HubClient's provider, for
   * its refreshes and reconnects; NULL: the options' token only. */
  HubTokenSource *source;
  /* (nullable) (unowned) room → room token (--room-token), for /join ROOM. */
  GHashTable *room_tokens;
} HubSessionTokens;

/* @tokens (nullable) must outlive the session. (transfer full) */
HubSession *hub_session_new (const HubClientOptions *options, const HubSessionTokens *tokens,
                             gboolean colour, HubSessionMode mode, const HubSessionOutput *output,
                             gpointer user_data, GError **error);
/* Starts connecting. */
void hub_session_connect (HubSession *session);
/* Closes the connection (1000) without a word about it. A failed connection
 * is looked into (hub-client-probe.h) before its line and its state change
 * are delivered: the modes see a connect failure a moment after it. */
void hub_session_disconnect (HubSession *session);
/* Frees the client too; pending commands' done callbacks are not called. */
void hub_session_free (HubSession *session);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubSession, hub_session_free)

HubClient *hub_session_get_client (HubSession *session);
/* (transfer none) (nullable) */
const char *hub_session_get_room (HubSession *session);
void hub_session_set_room (HubSession *session, const char *room);

/* Runs one command line; @done gets its result exactly once, possibly before
 * this returns (local commands, usage errors). */
void hub_session_execute (HubSession *session, const char *line, HubSessionDoneFunc done,
                          gpointer user_data);
/* TRUE when @line can run without the server (/help, /quit, /room, /stats,
 * blank lines, and lines that do not parse: their error is local). */
gboolean hub_session_line_is_local (const char *line);

/* Messages this session published whose own copy (§5: the sender gets its
 * message too) has not arrived yet; a script waits for them before it ends. */
guint hub_session_own_copies_pending (HubSession *session);

/* Completion candidates for the word @line[@start, @end) of @line (the text
 * before the cursor): commands for a first word starting with '/', then what
 * the command takes there: room ids (the rooms joined, and those seen in
 * replies and events), user ids (members of the current room, the users
 * subscribed to, and those met in messages), statuses. Sorted, no
 * duplicates. (transfer full) */
GStrv hub_session_complete (HubSession *session, const char *line, gsize start, gsize end);

/* The user is typing @partial_line: sends a typing indicator to the current
 * room, at most one per 3 seconds, when the line is not a command. */
void hub_session_user_typing (HubSession *session, const char *partial_line);
/* "bob, carol" typing in the current room now, or NULL. (transfer full) */
char *hub_session_typing_text (HubSession *session);

G_END_DECLS
