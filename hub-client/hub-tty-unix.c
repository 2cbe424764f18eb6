/* hub-tty.c: the interactive mode. With readline, its callback interface is
 * fed from a GLib watch on stdin so the network and the keyboard share one
 * loop; a line arriving from the network is printed by taking the prompt and
 * the half-typed line off the screen, printing, and drawing them again.
 * Without readline: plain lines, the status printed when it changes. */
#include "hub-tty.h"

#include "hub-batch.h"
#include "hub-session.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HUB_HAVE_READLINE
#include <readline/history.h>
#include <readline/readline.h>
#endif

typedef struct {
  GMainLoop *loop;     /* (owned) */
  HubSession *session; /* (owned) */
  gboolean colour;
  int exit_code;
  gboolean quitting;
  gboolean in_handler; /* readline's line handler runs: the prompt is not on screen */
  guint stdin_source, sigint_source, sigwinch_source;
  char *status; /* (owned) the last status shown (plain mode) */
#ifndef HUB_HAVE_READLINE
  GIOChannel *channel; /* (owned) */
#endif
} Tty;

/* readline's handlers take no user data. */
static Tty *the_tty;

gboolean
hub_tty_wants_colour (void)
{
  const char *no_colour = g_getenv ("NO_COLOR");
  const char *term = g_getenv ("TERM");

  if (no_colour != NULL && no_colour[0] != '\0')
    return FALSE;
  if (term == NULL || strcmp (term, "dumb") == 0)
    return FALSE;
  return isatty (STDOUT_FILENO);
}

/* Readline wants the invisible parts of a prompt between \001 and \002. */
#ifdef HUB_HAVE_READLINE
#define INVISIBLE(code) "\001" code "\002"
#else
#define INVISIBLE(code) code
#endif

/* "[connected] #general (bob typing...)> ", the one-line status. (transfer full) */
static char *
build_prompt (Tty *tty, gboolean for_readline)
{
  HubClient *client = hub_session_get_client (tty->session);
  HubClientState state = hub_client_get_state (client);
  const char *room = hub_session_get_room (tty->session);
  g_autofree char *typing = hub_session_typing_text (tty->session);
  const char *colour = state == HUB_CLIENT_CONNECTED      ? "\033[32m"
                       : state == HUB_CLIENT_DISCONNECTED ? "\033[31m"
                                                          : "\033[33m";
  GString *s = g_string_new (NULL);

  if (tty->colour && for_readline)
    g_string_append_printf (s, "\001%s\002[%s]\001\033[0m\002", colour,
                            hub_client_state_to_string (state));
  else if (tty->colour)
    g_string_append_printf (s, "%s[%s]\033[0m", colour, hub_client_state_to_string (state));
  else
    g_string_append_printf (s, "[%s]", hub_client_state_to_string (state));
  if (hub_client_get_user (client) != NULL)
    g_string_append_printf (s, " %s", hub_client_get_user (client));
  g_string_append_printf (s, " #%s", room != NULL ? room : "-");
  if (typing != NULL)
    g_string_append_printf (s, " (%s typing...)", typing);
  g_string_append (s, "> ");
  return g_string_free (s, FALSE);
}

static void
quit (Tty *tty, int code)
{
  if (tty->quitting)
    return;
  tty->quitting = TRUE;
  tty->exit_code = code;
  g_main_loop_quit (tty->loop);
}

#ifdef HUB_HAVE_READLINE

static void
print_line (gpointer user_data, HubSessionLine kind, const char *text)
{
  Tty *tty = user_data;
  int saved_point;
  char *saved_line;

  if (tty->in_handler || tty->quitting) {
    fprintf (stdout, "%s\n", text);
    fflush (stdout);
    return;
  }
  /* Take the prompt and the half-typed line off the screen, print, put them back. */
  saved_point = rl_point;
  saved_line = rl_copy_text (0, rl_end);
  rl_save_prompt ();
  rl_replace_line ("", 0);
  rl_redisplay ();
  fprintf (stdout, "%s\n", text);
  fflush (stdout);
  rl_restore_prompt ();
  rl_replace_line (saved_line, 0);
  rl_point = saved_point;
  rl_redisplay ();
  free (saved_line);
}

static void
refresh_status (gpointer user_data)
{
  Tty *tty = user_data;
  g_autofree char *prompt = build_prompt (tty, TRUE);

  if (tty->quitting)
    return;
  if (tty->in_handler) {
    rl_set_prompt (prompt); /* drawn when the handler returns */
    return;
  }
  /* Off the screen with the old prompt, then the new one with the same line. */
#if defined(RL_VERSION_MAJOR) && RL_VERSION_MAJOR >= 7
  rl_clear_visible_line ();
#else
  fputs ("\r", stdout);
#endif
  rl_set_prompt (prompt);
  rl_forced_update_display ();
}

static void
on_done (HubSession *session, HubSessionResult result, gpointer user_data)
{
  if (result == HUB_SESSION_QUIT)
    quit (user_data, HUB_EXIT_OK);
}

static void
on_line (char *line)
{
  Tty *tty = the_tty;

  if (line == NULL) {
    /* Ctrl-D on an empty line. */
    fputc ('\n', stdout);
    quit (tty, HUB_EXIT_OK);
    return;
  }
  if (line[0] != '\0')
    add_history (line);
  tty->in_handler = TRUE;
  hub_session_execute (tty->session, line, on_done, tty);
  tty->in_handler = FALSE;
  free (line);
}

static gboolean
on_stdin (gint fd, GIOCondition condition, gpointer user_data)
{
  Tty *tty = user_data;

  rl_callback_read_char ();
  if (!tty->quitting)
    hub_session_user_typing (tty->session, rl_line_buffer);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_sigwinch (gpointer user_data)
{
  rl_resize_terminal ();
  return G_SOURCE_CONTINUE;
}

static void
input_start (Tty *tty)
{
  g_autofree char *prompt = build_prompt (tty, TRUE);

  rl_catch_signals = 0;
  rl_catch_sigwinch = 0;
  rl_readline_name = "hub-client";
  rl_callback_handler_install (prompt, on_line);
  tty->sigwinch_source = g_unix_signal_add (SIGWINCH, on_sigwinch, tty);
  tty->stdin_source = g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, tty);
}

static void
input_stop (Tty *tty)
{
  rl_callback_handler_remove ();
}

#else /* plain lines */

static void
print_line (gpointer user_data, HubSessionLine kind, const char *text)
{
  fprintf (stdout, "%s\n", text);
  fflush (stdout);
}

static void
refresh_status (gpointer user_data)
{
  Tty *tty = user_data;
  g_autofree char *status = build_prompt (tty, FALSE);

  if (tty->quitting || g_strcmp0 (status, tty->status) == 0)
    return;
  g_free (tty->status);
  tty->status = g_steal_pointer (&status);
  fprintf (stdout, "-- %s\n", tty->status);
  fflush (stdout);
}

static void
on_done (HubSession *session, HubSessionResult result, gpointer user_data)
{
  if (result == HUB_SESSION_QUIT)
    quit (user_data, HUB_EXIT_OK);
}

static gboolean
on_stdin (GIOChannel *channel, GIOCondition condition, gpointer user_data)
{
  Tty *tty = user_data;
  g_autofree char *line = NULL;
  gsize terminator;
  GIOStatus status = g_io_channel_read_line (channel, &line, NULL, &terminator, NULL);

  if (status == G_IO_STATUS_EOF || status == G_IO_STATUS_ERROR) {
    tty->stdin_source = 0;
    quit (tty, HUB_EXIT_OK);
    return G_SOURCE_REMOVE;
  }
  if (line == NULL)
    return G_SOURCE_CONTINUE;
  line[terminator] = '\0';
  hub_session_execute (tty->session, line, on_done, tty);
  return G_SOURCE_CONTINUE;
}

static void
input_start (Tty *tty)
{
  tty->channel = g_io_channel_unix_new (STDIN_FILENO);
  tty->stdin_source = g_io_add_watch (tty->channel, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, tty);
  refresh_status (tty);
}

static void
input_stop (Tty *tty)
{
  g_clear_pointer (&tty->channel, g_io_channel_unref);
}

#endif

static gboolean
on_sigint (gpointer user_data)
{
  quit (user_data, HUB_EXIT_OK);
  return G_SOURCE_CONTINUE;
}

static void
on_state (gpointer user_data, const HubClientStateChange *change)
{
  Tty *tty = user_data;

  /* Given up (hello refused, 4001): nothing more can happen here. */
  if (change->state == HUB_CLIENT_DISCONNECTED)
    quit (tty, HUB_EXIT_CONNECTION);
}

int
hub_tty_run (const HubClientOptions *client_options, gboolean colour)
{
  const HubSessionOutput output = {
      .print = print_line,
      .state = on_state,
      .status = refresh_status,
  };
  g_autoptr (GError) error = NULL;
  Tty tty = {.colour = colour, .exit_code = HUB_EXIT_OK};

  the_tty = &tty;
  tty.loop = g_main_loop_new (NULL, FALSE);
  tty.session = hub_session_new (client_options, colour, FALSE, &output, &tty, &error);
  if (tty.session == NULL) {
    g_printerr ("hub-client: %s\n", error->message);
    g_main_loop_unref (tty.loop);
    return HUB_EXIT_USAGE;
  }
  fprintf (stdout,
           "hub-client: /help lists the commands; a plain line talks in the current room.\n");
  fflush (stdout);
  input_start (&tty);
  tty.sigint_source = g_unix_signal_add (SIGINT, on_sigint, &tty);
  hub_client_connect (hub_session_get_client (tty.session));

  g_main_loop_run (tty.loop);

  input_stop (&tty);
  g_clear_handle_id (&tty.stdin_source, g_source_remove);
  g_clear_handle_id (&tty.sigint_source, g_source_remove);
  g_clear_handle_id (&tty.sigwinch_source, g_source_remove);
  hub_session_free (tty.session);
  g_free (tty.status);
  g_main_loop_unref (tty.loop);
  the_tty = NULL;
  return tty.exit_code;
}
