/* hub-tty.h: hub-client's interactive mode: a prompt that is also the status
 * line (connection state, current room, who is typing), line editing and
 * history with readline when built with it, incoming lines printed above the
 * prompt without disturbing what is being typed. */
#pragma once

#include <hub/hub-client.h>

G_BEGIN_DECLS

/* TRUE when stdout is a terminal that takes colours: not TERM=dumb and no
 * NO_COLOR (https://no-color.org: any non-empty value). */
gboolean hub_tty_wants_colour (void);

/* Runs until /quit, end of input (Ctrl-D) or SIGINT; returns the exit code. */
int hub_tty_run (const HubClientOptions *client_options, gboolean colour);

G_END_DECLS
