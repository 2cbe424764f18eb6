/* hub-tty-unix.c: the keyboard of the interactive mode on a Unix terminal.
 * With readline, its callback interface is fed from a GLib watch on stdin so
 * the network and the keyboard share one loop; a line arriving from the
 * network is printed by taking the prompt and the half-typed line off the
 * screen, printing, and drawing them again. Without readline: plain lines
 * (the terminal's own erase and kill keys), the status printed when it changes.
 * Either way stdin is read when the loop says it has input, and never with
 * a read() that can wait (stdin_nonblocking_begin): Ctrl-C always ends the
 * client. */
#include "hub-tty-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
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
#ifdef HUB_HAVE_READLINE
  unsigned char keys[256]; /* read from stdin, not yet taken by readline */
  gsize keys_next, keys_end;
  guint64 keys_taken; /* by readline, ever */
  gboolean eof;       /* stdin ended (or failed): readline is given EOF */
#else
  GString *typed; /* (owned) read from stdin, its newline not yet */
#endif
} Input;

gboolean
hub_tty_stdin_is_terminal (void)
{
  return isatty (STDIN_FILENO);
}

/* stdin without waiting, for one read; returns the flags to restore. Input
 * poll() reported can be gone by the time it is read: Ctrl-C (ISIG)
 * discards the terminal's unread input as it raises SIGINT. A read() that
 * waited then would wait for the next key, and the SIGINT, taken by GLib's
 * handler (which restarts the read), would not be seen until a key came:
 * Ctrl-C would not end the client. O_NONBLOCK is on for the one call only,
 * as readline does it: the open file is shared with stdout and the shell. */
static int
stdin_nonblocking_begin (void)
{
  int flags = fcntl (STDIN_FILENO, F_GETFL);

  if (flags >= 0 && (flags & O_NONBLOCK) == 0)
    fcntl (STDIN_FILENO, F_SETFL, flags | O_NONBLOCK);
  return flags;
}

static void
stdin_nonblocking_end (int flags)
{
  int saved = errno;

  if (flags >= 0 && (flags & O_NONBLOCK) == 0)
    fcntl (STDIN_FILENO, F_SETFL, flags);
  errno = saved;
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

/* Makes sure readline has keys to take: those in hand, else what stdin
 * brings within @timeout_ms (0: what is there now, -1: no limit). FALSE when
 * none came: the time ran out, a signal came first (the loop is to handle
 * it), Ctrl-C discarded them (stdin_nonblocking_begin), or stdin ended
 * (in->eof). */
static gboolean
keys_take (Input *in, int timeout_ms)
{
  struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
  int flags;
  ssize_t n;

  if (in->keys_next < in->keys_end)
    return TRUE;
  if (in->eof || (timeout_ms != 0 && poll (&pfd, 1, timeout_ms) <= 0))
    return FALSE;
  flags = stdin_nonblocking_begin ();
  n = read (STDIN_FILENO, in->keys, sizeof in->keys);
  stdin_nonblocking_end (flags);
  if (n > 0) {
    in->keys_next = 0;
    in->keys_end = (gsize)n;
    return TRUE;
  }
  if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
    in->eof = TRUE;
  return FALSE;
}

/* readline's getc: the keys in hand. At the top of a key's handling
 * (on_stdin) there always is one; beyond, readline asks only for keys
 * keys_available() promised, except inside a command that wants one more
 * (a multibyte character in overwrite mode): then it waits for a key, but
 * a signal ends the wait with EOF (readline gives the command up) so that
 * the loop sees a Ctrl-C. */
static int
next_key (FILE *stream)
{
  Input *in = the_tty != NULL ? the_tty->input : NULL;

  if (in == NULL || !keys_take (in, -1))
    return EOF;
  in->keys_taken++;
  return in->keys[in->keys_next++];
}

/* readline asks this before taking more keys at once (typed ahead, the rest
 * of an escape sequence): the keys in hand, or what stdin brings within
 * readline's keyboard timeout, as its own check would wait. */
static int
keys_available (void)
{
  int timeout_us = rl_set_keyboard_input_timeout (0);

  rl_set_keyboard_input_timeout (timeout_us);
  return the_tty != NULL && keys_take (the_tty->input, (timeout_us + 999) / 1000);
}

static gboolean
on_stdin (gint fd, GIOCondition condition, gpointer user_data)
{
  HubTty *tty = user_data;
  Input *in = tty->input;

  /* Nothing there after all (Ctrl-C discarded it): back to the loop, which
   * has the SIGINT. At the end of stdin readline is given its EOF, once per
   * wake-up, as its own read gave it. */
  if (!keys_take (in, 0) && !in->eof)
    return G_SOURCE_CONTINUE;
  /* All of them: stdin no longer wakes the loop for keys in hand. Each
   * call takes one key at least (a call taking none would spin: stop). */
  for (;;) {
    guint64 taken = in->keys_taken;

    rl_callback_read_char ();
    if (tty->quitting || in->keys_next >= in->keys_end || in->keys_taken == taken)
      break;
  }
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
  /* Keys come from stdin through keys_take(), never from a read() of
   * readline's own, which would wait (stdin_nonblocking_begin). */
  rl_getc_function = next_key;
  rl_input_available_hook = keys_available;
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
  rl_getc_function = rl_getc;
  rl_input_available_hook = NULL;
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

/* The lines typed (a paste may bring several, stdin's end a last one
 * without its newline) go to hub_tty_execute; the end of stdin quits. */
static gboolean
on_stdin (gint fd, GIOCondition condition, gpointer user_data)
{
  HubTty *tty = user_data;
  Input *in = tty->input;
  char buf[4096];
  int flags = stdin_nonblocking_begin ();
  ssize_t n = read (STDIN_FILENO, buf, sizeof buf);
  gboolean ended = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
  const char *newline;

  stdin_nonblocking_end (flags);
  if (n > 0)
    g_string_append_len (in->typed, buf, n);
  while (!tty->quitting && ((newline = memchr (in->typed->str, '\n', in->typed->len)) != NULL ||
                            (ended && in->typed->len > 0))) {
    gsize len = newline != NULL ? (gsize)(newline - in->typed->str) : in->typed->len;
    g_autofree char *line = g_strndup (in->typed->str, len);

    g_string_erase (in->typed, 0, newline != NULL ? len + 1 : len);
    if (len > 0 && line[len - 1] == '\r')
      line[len - 1] = '\0';
    hub_tty_execute (tty, line);
  }
  if (ended) {
    in->stdin_source = 0;
    hub_tty_quit (tty, HUB_EXIT_OK);
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

void
hub_tty_input_start (HubTty *tty)
{
  Input *in = g_new0 (Input, 1);

  tty->input = in;
  in->typed = g_string_new (NULL);
  in->stdin_source = g_unix_fd_add (STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, tty);
  hub_tty_plain_status (tty);
}

void
hub_tty_input_stop (HubTty *tty)
{
  Input *in = tty->input;

  g_clear_handle_id (&in->stdin_source, g_source_remove);
  g_string_free (in->typed, TRUE);
  g_clear_pointer (&tty->input, g_free);
}

#endif
