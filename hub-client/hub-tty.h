/* hub-tty.h: hub-client's interactive mode: a prompt that is also the status
 * line (connection state, current room, who is typing), line editing and
 * history with readline when built with it, incoming lines printed above the
 * prompt without disturbing what is being typed; plain lines without readline
 * and on Windows (hub-tty-private.h). */
#pragma once

#include <hub/hub-client.h>

#include "hub-session.h"

G_BEGIN_DECLS

/* TRUE when stdout is a terminal that takes colours: not TERM=dumb and no
 * NO_COLOR (https://no-color.org: any non-empty value). */
gboolean hub_tty_wants_colour (void);

/* TRUE when stdin is a terminal (Unix) or a console (Windows): the
 * interactive mode is the default then. */
gboolean hub_tty_stdin_is_terminal (void);

/* Runs until /quit, end of input (Ctrl-D; Ctrl-Z Enter on Windows), or Ctrl-C
 * and other stop requests (hub-signals.h); returns the exit code. */
int hub_tty_run (const HubClientOptions *client_options, const HubSessionTokens *tokens,
                 gboolean colour);

G_END_DECLS
