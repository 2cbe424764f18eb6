/* hub-tty-private.h: what hub-tty.c (the interactive mode's common part and
 * its plain-lines output) shares with the platform's keyboard side:
 * hub-tty-unix.c (readline, or plain lines from the terminal) and
 * hub-tty-win32.c (the console's own line editing). */
#pragma once

#include "hub-batch.h" /* the exit codes */
#include "hub-session.h"
#include "hub-tty.h"

G_BEGIN_DECLS

typedef struct {
  GMainLoop *loop;     /* (owned) */
  HubSession *session; /* (owned) */
  gboolean colour;
  int exit_code;
  gboolean quitting;
  gboolean in_handler; /* a line is being executed: the prompt is not on screen */
  char *status;        /* (owned) the last status shown (plain lines) */
  gpointer input;      /* (owned by the platform file) its keyboard state */
  GQueue lines;        /* char* (owned) typed, waiting for the reply before them */
  gboolean busy;       /* a line's request awaits its reply */
  guint next_source;   /* runs the next line from the loop */
} HubTty;

/* Ends hub_tty_run() with @code (the first call wins). */
void hub_tty_quit (HubTty *tty, int code);
/* Queues one typed line (a command or a message for the current room): it
 * runs once the request of the line before it was answered and, when it
 * needs the server, once connected; a pasted script loses nothing. */
void hub_tty_execute (HubTty *tty, const char *line);
/* "[connected] alice #general (bob typing...)> " (transfer full); with
 * @for_readline the colour codes are marked invisible (\001...\002). */
char *hub_tty_build_prompt (HubTty *tty, gboolean for_readline);
/* Plain-lines output: each line as it comes, the status when it changes. */
void hub_tty_plain_print (gpointer tty, HubSessionLine kind, const char *text);
void hub_tty_plain_status (gpointer tty);

/* The platform's side. */
/* Starts reading lines from the keyboard into hub_tty_execute(); end of
 * input calls hub_tty_quit (HUB_EXIT_OK). */
void hub_tty_input_start (HubTty *tty);
/* Stops reading and leaves the terminal clean: the status line taken off
 * the screen, the cursor at the start of an empty line. */
void hub_tty_input_stop (HubTty *tty);
/* HubSessionOutput's print and status for this platform's input. */
void hub_tty_input_print (gpointer tty, HubSessionLine kind, const char *text);
void hub_tty_input_status (gpointer tty);

G_END_DECLS
