/* hub-tty.c: the interactive mode, its portable part: the prompt that is also
 * the status line, the plain-lines output, stop requests (Ctrl-C, hub-signals.h)
 * and the loop. The keyboard is the platform's (hub-tty-private.h). */
#include "hub-tty-private.h"

#include <stdio.h>
#include <string.h>

#include "hub-signals.h"

gboolean
hub_tty_wants_colour (void)
{
  const char *no_colour = g_getenv ("NO_COLOR");
  const char *term = g_getenv ("TERM");

  if (no_colour != NULL && no_colour[0] != '\0')
    return FALSE;
#ifndef G_OS_WIN32
  /* The Windows console has no TERM; g_log_writer_supports_color() asks it. */
  if (term == NULL || strcmp (term, "dumb") == 0)
    return FALSE;
#else
  if (term != NULL && strcmp (term, "dumb") == 0)
    return FALSE;
#endif
  /* A terminal (Unix), or a console taking ANSI sequences (Windows 10+:
   * this also turns them on). */
  return g_log_writer_supports_color (fileno (stdout));
}

char *
hub_tty_build_prompt (HubTty *tty, gboolean for_readline)
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
  if (tty->lines.length > 0)
    g_string_append_printf (s, " [%u line%s waiting]", tty->lines.length,
                            tty->lines.length == 1 ? "" : "s");
  g_string_append (s, "> ");
  return g_string_free (s, FALSE);
}

void
hub_tty_quit (HubTty *tty, int code)
{
  if (tty->quitting)
    return;
  tty->quitting = TRUE;
  tty->exit_code = code;
  g_main_loop_quit (tty->loop);
}

static void run_next (HubTty *tty);

static gboolean
on_next (gpointer user_data)
{
  HubTty *tty = user_data;

  tty->next_source = 0;
  run_next (tty);
  return G_SOURCE_REMOVE;
}

/* From the loop: done callbacks may come from inside execute. */
static void
schedule_next (HubTty *tty)
{
  if (tty->next_source == 0 && !tty->quitting && tty->lines.length > 0)
    tty->next_source = g_idle_add (on_next, tty);
}

static void
on_done (HubSession *session, HubSessionResult result, gpointer user_data)
{
  HubTty *tty = user_data;

  tty->busy = FALSE;
  if (result == HUB_SESSION_QUIT) {
    hub_tty_quit (tty, HUB_EXIT_OK);
    return;
  }
  schedule_next (tty);
}

static void
run_next (HubTty *tty)
{
  HubClient *client = hub_session_get_client (tty->session);
  g_autofree char *line = NULL;

  if (tty->busy || tty->quitting || tty->lines.length == 0)
    return;
  /* Lines for the server wait for the connection, and for the rooms it
   * lost to be joined again (on_state and on_frame run them then). */
  if ((hub_client_get_state (client) != HUB_CLIENT_CONNECTED || hub_client_is_rejoining (client)) &&
      !hub_session_line_is_local (g_queue_peek_head (&tty->lines)))
    return;
  line = g_queue_pop_head (&tty->lines);
  tty->busy = TRUE;
  {
    gboolean was_in_handler = tty->in_handler;

    /* Lines printed meanwhile go out plainly; the prompt follows them. */
    tty->in_handler = TRUE;
    hub_session_execute (tty->session, line, on_done, tty);
    tty->in_handler = was_in_handler;
  }
  if (!tty->quitting)
    hub_tty_input_status (tty); /* the waiting count changed */
}

void
hub_tty_execute (HubTty *tty, const char *line)
{
  gboolean was_in_handler = tty->in_handler;

  /* Called from the keyboard's handler: the prompt is redrawn after it. */
  tty->in_handler = TRUE;
  g_queue_push_tail (&tty->lines, g_strdup (line));
  run_next (tty);
  if (!tty->quitting)
    hub_tty_input_status (tty);
  tty->in_handler = was_in_handler;
}

void
hub_tty_plain_print (gpointer user_data, HubSessionLine kind, const char *text)
{
  fprintf (stdout, "%s\n", text);
  fflush (stdout);
}

void
hub_tty_plain_status (gpointer user_data)
{
  HubTty *tty = user_data;
  g_autofree char *status = hub_tty_build_prompt (tty, FALSE);

  if (tty->quitting || g_strcmp0 (status, tty->status) == 0)
    return;
  g_free (tty->status);
  tty->status = g_steal_pointer (&status);
  fprintf (stdout, "-- %s\n", tty->status);
  fflush (stdout);
}

static void
on_stop_request (HubSignal signal, gpointer user_data)
{
  hub_tty_quit (user_data, HUB_EXIT_OK);
}

static void
on_state (gpointer user_data, const HubClientStateChange *change)
{
  HubTty *tty = user_data;

  /* Given up (hello refused, 4001): nothing more can happen here. */
  if (change->state == HUB_CLIENT_DISCONNECTED)
    hub_tty_quit (tty, HUB_EXIT_CONNECTION);
  else if (change->state == HUB_CLIENT_CONNECTED)
    schedule_next (tty);
}

static void
on_frame (gpointer user_data, JsonObject *frame, const char *text)
{
  schedule_next (user_data); /* perhaps the answer a waiting line waits for */
}

int
hub_tty_run (const HubClientOptions *client_options, const HubSessionTokens *tokens,
             gboolean colour)
{
  const HubSessionOutput output = {
      .print = hub_tty_input_print,
      .frame = on_frame,
      .state = on_state,
      .status = hub_tty_input_status,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (HubSignalWatch) signals = NULL;
  HubTty tty = {.colour = colour, .exit_code = HUB_EXIT_OK};

  g_queue_init (&tty.lines);
  tty.loop = g_main_loop_new (NULL, FALSE);
  tty.session = hub_session_new (client_options, tokens, colour, HUB_SESSION_INTERACTIVE, &output,
                                 &tty, &error);
  if (tty.session == NULL) {
    g_printerr ("hub-client: %s\n", error->message);
    g_main_loop_unref (tty.loop);
    return HUB_EXIT_USAGE;
  }
  fprintf (stdout,
           "hub-client: /help lists the commands; a plain line talks in the current room.\n");
  fflush (stdout);
  hub_tty_input_start (&tty);
  signals = hub_signal_watch_new (NULL, on_stop_request, &tty);
  hub_session_connect (tty.session);

  g_main_loop_run (tty.loop);

  hub_tty_input_stop (&tty);
  g_clear_handle_id (&tty.next_source, g_source_remove);
  g_clear_pointer (&signals, hub_signal_watch_free);
  hub_session_free (tty.session);
  g_queue_clear_full (&tty.lines, g_free);
  g_free (tty.status);
  g_main_loop_unref (tty.loop);
  return tty.exit_code;
}
