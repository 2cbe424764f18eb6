/* hub-tty-win32.c: the keyboard of the interactive mode in a Windows console.
 * A thread reads whole lines (ReadConsoleW in the console's line mode, whose
 * own editing and history, arrows and F7, are the line editor) and hands each
 * to the main loop; output is plain lines, the status printed when it changes. */
#include "hub-tty-private.h"

#include <stdio.h>
#include <string.h>
#include <windows.h>

/* UTF-16 code units read per call: longer lines arrive in several pieces. */
#define READ_UNITS 4096

typedef struct {
  gint refs;                  /* (atomic) the tty's and the thread's */
  GMainContext *main_context; /* (owned) where lines are handed */
  HubTty *tty;                /* (unowned) NULL once stopped (main thread only) */
  GString *pending;           /* (owned) a line not yet ended (reader thread only) */
} Input;

typedef struct {
  Input *input; /* (owned) a ref */
  char *line;   /* (owned) (nullable) NULL: end of input */
} Delivery;

static void
input_unref (Input *in)
{
  if (!g_atomic_int_dec_and_test (&in->refs))
    return;
  g_main_context_unref (in->main_context);
  g_string_free (in->pending, TRUE);
  g_free (in);
}

gboolean
hub_tty_stdin_is_terminal (void)
{
  DWORD mode;

  return GetConsoleMode (GetStdHandle (STD_INPUT_HANDLE), &mode) != 0;
}

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

/* In the main loop: runs a line the thread read, unless the tty stopped. */
static gboolean
deliver (gpointer user_data)
{
  Delivery *d = user_data;
  HubTty *tty = d->input->tty;

  if (tty == NULL || tty->quitting)
    return G_SOURCE_REMOVE;
  if (d->line == NULL)
    hub_tty_quit (tty, HUB_EXIT_OK);
  else
    hub_tty_execute (tty, d->line);
  return G_SOURCE_REMOVE;
}

static void
delivery_free (gpointer data)
{
  Delivery *d = data;

  input_unref (d->input);
  g_free (d->line);
  g_free (d);
}

static void
hand_over (Input *in, char *line)
{
  Delivery *d = g_new0 (Delivery, 1);

  g_atomic_int_inc (&in->refs);
  d->input = in;
  d->line = line;
  g_main_context_invoke_full (in->main_context, G_PRIORITY_DEFAULT, deliver, d, delivery_free);
}

/* One piece of console input (UTF-16): hands over every line it ends.
 * FALSE at end of input (a line that is Ctrl-Z, as cmd.exe reads it). */
static gboolean
take_piece (Input *in, const gunichar2 *units, DWORD n)
{
  g_autofree char *utf8 = g_utf16_to_utf8 (units, n, NULL, NULL, NULL);
  const char *p = utf8 != NULL ? utf8 : "";

  g_string_append (in->pending, p);
  for (;;) {
    char *nl = strchr (in->pending->str, '\n');
    gsize len;

    if (nl == NULL)
      return TRUE;
    len = (gsize)(nl - in->pending->str);
    if (len > 0 && in->pending->str[len - 1] == '\r')
      len--;
    if (len >= 1 && in->pending->str[0] == '\x1a')
      return FALSE;
    hand_over (in, g_strndup (in->pending->str, len));
    g_string_erase (in->pending, 0, (gssize)(nl - in->pending->str) + 1);
  }
}

static gpointer
read_lines (gpointer data)
{
  Input *in = data;
  HANDLE console = GetStdHandle (STD_INPUT_HANDLE);
  gunichar2 *units = g_new (gunichar2, READ_UNITS);
  DWORD mode;

  if (GetConsoleMode (console, &mode)) {
    DWORD n = 0;

    /* Line mode with echo: the console edits the line; Ctrl-C stays a
     * signal (hub-signals-win32.c). */
    SetConsoleMode (console, mode | ENABLE_LINE_INPUT | ENABLE_ECHO_INPUT | ENABLE_PROCESSED_INPUT);
    while (ReadConsoleW (console, units, READ_UNITS, &n, NULL) &&
           (n > 0 || GetLastError () == ERROR_OPERATION_ABORTED)) {
      if (n > 0 && !take_piece (in, units, n))
        break;
      n = 0;
    }
  } else {
    /* --interactive on a pipe: lines in the C runtime's encoding, UTF-8 assumed. */
    char buf[READ_UNITS];

    while (fgets (buf, sizeof buf, stdin) != NULL) {
      g_string_append (in->pending, buf);
      if (in->pending->len > 0 && in->pending->str[in->pending->len - 1] == '\n') {
        g_strchomp (in->pending->str);
        hand_over (in, g_strdup (in->pending->str));
        g_string_truncate (in->pending, 0);
      }
    }
  }
  g_free (units);
  hand_over (in, NULL); /* end of input */
  input_unref (in);
  return NULL;
}

void
hub_tty_input_start (HubTty *tty)
{
  Input *in = g_new0 (Input, 1);

  /* Lines are UTF-8 on the wire and in our strings: the console too. */
  SetConsoleOutputCP (CP_UTF8);
  in->refs = 2; /* the tty's, the thread's */
  in->main_context = g_main_context_ref (g_main_loop_get_context (tty->loop));
  in->tty = tty;
  in->pending = g_string_new (NULL);
  tty->input = in;
  /* Never joined: it may sit in ReadConsoleW until the process ends. */
  g_thread_unref (g_thread_new ("hub-tty-keyboard", read_lines, in));
  hub_tty_plain_status (tty);
}

void
hub_tty_input_stop (HubTty *tty)
{
  Input *in = tty->input;

  in->tty = NULL;
  tty->input = NULL;
  input_unref (in);
}
