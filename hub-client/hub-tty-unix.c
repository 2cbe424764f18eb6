/* hub-tty-unix.c: the keyboard of the interactive mode on a Unix terminal.
 * With readline, its callback interface is fed from a GLib watch on stdin so
 * the network and the keyboard share one loop; a line arriving from the
 * network is printed by taking the prompt and the half-typed line off the
 * screen, printing, and drawing them again. Without readline: plain lines
 * (the terminal's own erase and kill keys), the status printed when it changes. */
#include "hub-tty-private.h"

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
  guint stdin_source, sigwinch_source;
#ifndef HUB_HAVE_READLINE
  GIOChannel *channel; /* (owned) */
#endif
} Input;

gboolean
hub_tty_stdin_is_terminal (void)
{
  return isatty (STDIN_FILENO);
}

#ifdef HUB_HAVE_READLINE

/* readline's handlers take no user data. */
static HubTty *the_tty;

void
hub_tty_input_print (gpointer user_data, HubSessionLine kind, const char *text)
{
  HubTty *tty = user_data;
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

void
hub_tty_input_status (gpointer user_data)
{
  HubTty *tty = user_data;
  g_autofree char *prompt = hub_tty_build_prompt (tty, TRUE);

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
on_line (char *line)
{
  HubTty *tty = the_tty;

  if (line == NULL) {
    /* Ctrl-D on an empty line: hub_tty_input_stop takes the prompt away. */
    hub_tty_quit (tty, HUB_EXIT_OK);
    return;
  }
  if (line[0] != '\0')
    add_history (line);
  /* A paste taken whole (an inputrc with bracketed paste on) holds several lines. */
  {
    g_auto (GStrv) lines = g_strsplit (line, "\n", -1);

    for (guint i = 0; lines[i] != NULL && !tty->quitting; i++) {
      gsize len = strlen (lines[i]);

      if (len > 0 && lines[i][len - 1] == '\r')
        lines[i][len - 1] = '\0';
      if (lines[i + 1] == NULL || lines[i][0] != '\0')
        hub_tty_execute (tty, lines[i]);
    }
  }
  free (line);
}

static gboolean
on_stdin (gint fd, GIOCondition condition, gpointer user_data)
{
  HubTty *tty = user_data;

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

/* A copy readline may free(). */
static char *
rl_strdup (const char *text)
{
  gsize len = strlen (text) + 1;
  char *copy = malloc (len);

  if (copy != NULL)
    memcpy (copy, text, len);
  return copy;
}

/* Tab: commands, then room ids, user ids or statuses as the command takes
 * them there (hub_session_complete); never file names. */
static char **
complete (const char *text, int start, int end)
{
  HubTty *tty = the_tty;
  g_auto (GStrv) candidates = NULL;
  guint n;
  gsize common;
  char **matches;

  rl_attempted_completion_over = 1;
  if (tty == NULL || start < 0 || end < start)
    return NULL;
  candidates = hub_session_complete (tty->session, rl_line_buffer, (gsize)start, (gsize)end);
  n = g_strv_length (candidates);
  if (n == 0)
    return NULL;
  /* readline's form: the common prefix first (what replaces the word), then
   * the candidates, then NULL; one candidate is its own prefix. */
  common = strlen (candidates[0]);
  for (guint i = 1; i < n; i++) {
    gsize k = 0;

    while (k < common && candidates[i][k] == candidates[0][k])
      k++;
    common = k;
  }
  matches = calloc (n + 2, sizeof (char *));
  if (matches == NULL)
    return NULL;
  matches[0] = n == 1 ? rl_strdup (candidates[0]) : strndup (candidates[0], common);
  for (guint i = 0; n > 1 && i < n; i++)
    matches[i + 1] = rl_strdup (candidates[i]);
  return matches;
}

void
hub_tty_input_start (HubTty *tty)
{
  Input *in = g_new0 (Input, 1);
  g_autofree char *prompt = hub_tty_build_prompt (tty, TRUE);

  the_tty = tty;
  tty->input = in;
  rl_catch_signals = 0;
  rl_catch_sigwinch = 0;
  rl_readline_name = "hub-client";
  rl_attempted_completion_function = complete;
  /* A pasted script is lines to run one after the other (hub_tty_execute
   * queues them), not one line to edit; and without the paste mode readline
   * writes no newline of its own when the input ends (Ctrl-D), so the exit
   * leaves the screen clean. */
  rl_variable_bind ("enable-bracketed-paste", "off");
  /* Names hold '.', '@' and '-'; /multi's users are joined by commas. */
  rl_completer_word_break_characters = (char *)" \t,";
  rl_callback_handler_install (prompt, on_line);
  in->sigwinch_source = g_unix_signal_add (SIGWINCH, on_sigwinch, tty);
  in->stdin_source = g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, tty);
}

void
hub_tty_input_stop (HubTty *tty)
{
  Input *in = tty->input;

  /* The prompt is the status line: a shell prompt must not be written over it. */
#if defined(RL_VERSION_MAJOR) && RL_VERSION_MAJOR >= 7
  rl_clear_visible_line ();
#else
  fputs ("\r\033[K", stdout);
#endif
  fflush (stdout);
  rl_callback_handler_remove ();
  g_clear_handle_id (&in->stdin_source, g_source_remove);
  g_clear_handle_id (&in->sigwinch_source, g_source_remove);
  g_clear_pointer (&tty->input, g_free);
  the_tty = NULL;
}

#else /* plain lines */

void
hub_tty_input_print (gpointer tty, HubSessionLine kind, const char *text)
{
  hub_tty_plain_print (tty, kind, text);
}

void
hub_tty_input_status (gpointer tty)
{
  hub_tty_plain_status (tty);
}

static gboolean
on_stdin (GIOChannel *channel, GIOCondition condition, gpointer user_data)
{
  HubTty *tty = user_data;
  Input *in = tty->input;
  g_autofree char *line = NULL;
  gsize terminator;
  GIOStatus status = g_io_channel_read_line (channel, &line, NULL, &terminator, NULL);

  if (status == G_IO_STATUS_EOF || status == G_IO_STATUS_ERROR) {
    in->stdin_source = 0;
    hub_tty_quit (tty, HUB_EXIT_OK);
    return G_SOURCE_REMOVE;
  }
  if (line == NULL)
    return G_SOURCE_CONTINUE;
  line[terminator] = '\0';
  hub_tty_execute (tty, line);
  return G_SOURCE_CONTINUE;
}

void
hub_tty_input_start (HubTty *tty)
{
  Input *in = g_new0 (Input, 1);

  tty->input = in;
  in->channel = g_io_channel_unix_new (STDIN_FILENO);
  in->stdin_source = g_io_add_watch (in->channel, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, tty);
  hub_tty_plain_status (tty);
}

void
hub_tty_input_stop (HubTty *tty)
{
  Input *in = tty->input;

  g_clear_handle_id (&in->stdin_source, g_source_remove);
  g_clear_pointer (&in->channel, g_io_channel_unref);
  g_clear_pointer (&tty->input, g_free);
}

#endif
