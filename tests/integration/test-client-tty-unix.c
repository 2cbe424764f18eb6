/* test-client-tty-unix.c: hub-client's interactive mode driven through a
 * pseudo-terminal (Unix only: openpty; built only on Unix, ctest name
 * integration/test-client-tty). A small terminal emulator turns what the client writes
 * into screen lines, so the test checks what a person would see: incoming
 * messages above the prompt, the half-typed line intact after them, the
 * status prompt showing who is typing. */
#include "test-client-util.h"

#include <errno.h>
#include <fcntl.h>
#ifdef __APPLE__
#include <util.h>
#else
#include <pty.h>
#include <utmp.h> /* login_tty */
#endif
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define COLUMNS 120
#define ROWS    40

/* ---- a tiny terminal: enough of VT100 for readline's redisplay ---- */

typedef struct {
  GPtrArray *rows; /* GString* (owned) */
  guint row, col;
  int state; /* 0 text, 1 after ESC, 2 in CSI, 3 in OSC */
  GString *csi;
} Screen;

static GString *
screen_row (Screen *s, guint row)
{
  while (s->rows->len <= row)
    g_ptr_array_add (s->rows, g_string_new (NULL));
  return g_ptr_array_index (s->rows, row);
}

static void
screen_put (Screen *s, char c)
{
  GString *line = screen_row (s, s->row);

  while (line->len < s->col)
    g_string_append_c (line, ' ');
  if (s->col < line->len)
    line->str[s->col] = c;
  else
    g_string_append_c (line, c);
  s->col++;
}

static void
screen_csi (Screen *s, char final)
{
  int n = s->csi->len > 0 && g_ascii_isdigit (s->csi->str[0]) ? atoi (s->csi->str) : 0;
  GString *line = screen_row (s, s->row);

  switch (final) {
    case 'C':
      s->col += MAX (n, 1);
      break;
    case 'D':
      s->col -= MIN ((guint)MAX (n, 1), s->col);
      break;
    case 'A':
      s->row -= MIN ((guint)MAX (n, 1), s->row);
      break;
    case 'B':
      s->row += MAX (n, 1);
      break;
    case 'G':
      s->col = MAX (n, 1) - 1;
      break;
    case 'K':
      if (n == 0 && s->col < line->len)
        g_string_truncate (line, s->col);
      else if (n == 2)
        g_string_truncate (line, 0);
      break;
    case 'J':
      if (n == 2) {
        for (guint i = 0; i < s->rows->len; i++)
          g_string_truncate (g_ptr_array_index (s->rows, i), 0);
      }
      break;
    default: /* colours, modes (bracketed paste…) */
      break;
  }
}

static void
screen_feed (Screen *s, const char *data, gsize len)
{
  for (gsize i = 0; i < len; i++) {
    char c = data[i];

    switch (s->state) {
      case 1:
        s->state = c == '[' ? 2 : c == ']' ? 3 : 0;
        g_string_truncate (s->csi, 0);
        continue;
      case 2:
        if (c >= 0x40 && c <= 0x7e) {
          screen_csi (s, c);
          s->state = 0;
        } else {
          g_string_append_c (s->csi, c);
        }
        continue;
      case 3:
        if (c == '\a')
          s->state = 0;
        continue;
      default:
        break;
    }
    switch (c) {
      case '\033':
        s->state = 1;
        break;
      case '\r':
        s->col = 0;
        break;
      case '\n':
        s->row++;
        break;
      case '\b':
        if (s->col > 0)
          s->col--;
        break;
      case '\a':
      case '\001':
      case '\002':
        break;
      default:
        screen_put (s, c);
        break;
    }
  }
}

/* The screen as text, trailing blanks and empty last rows dropped. (transfer full) */
static char *
screen_text (Screen *s)
{
  GString *out = g_string_new (NULL);
  guint last = 0;

  for (guint i = 0; i < s->rows->len; i++) {
    if (((GString *)g_ptr_array_index (s->rows, i))->len > 0)
      last = i + 1;
  }
  for (guint i = 0; i < last; i++) {
    g_autofree char *row = g_strdup (((GString *)g_ptr_array_index (s->rows, i))->str);

    g_string_append_printf (out, "%s\n", g_strchomp (row));
  }
  return g_string_free (out, FALSE);
}

/* TRUE when the cursor is at the start of an empty row: where a shell's
 * prompt would go after the client exits. */
static gboolean
screen_cursor_clean (Screen *s)
{
  return s->col == 0 &&
         (s->row >= s->rows->len || ((GString *)g_ptr_array_index (s->rows, s->row))->len == 0);
}

/* The last non-empty row. (transfer full) */
static char *
screen_last_line (Screen *s)
{
  for (guint i = s->rows->len; i > 0; i--) {
    g_autofree char *row = g_strdup (((GString *)g_ptr_array_index (s->rows, i - 1))->str);

    if (g_strchomp (row)[0] != '\0')
      return g_steal_pointer (&row);
  }
  return g_strdup ("");
}

/* ---- the client in a pty ---- */

typedef struct {
  pid_t pid;
  int master;
  int terminal; /* the client's side of the pty, kept: its unread input can be counted and flushed
                 */
  Screen screen;
  gboolean exited;
  int status;
} Tty;

/* Runs hub-client URL @args (NULL-terminated, at most 8) in a pty. */
static Tty *
tty_start_with (guint16 port, const char *const *args)
{
  struct winsize size = {.ws_row = ROWS, .ws_col = COLUMNS};
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", port);
  const char *bin = g_getenv ("HUB_CLIENT_BIN");
  const char *argv[11] = {bin, url};
  Tty *tty = g_new0 (Tty, 1);

  ck_assert_msg (bin != NULL, "HUB_CLIENT_BIN should name hub-client");
  for (guint i = 0; i < 8 && args[i] != NULL; i++)
    argv[2 + i] = args[i];
  tty->screen.rows = g_ptr_array_new ();
  tty->screen.csi = g_string_new (NULL);
  ck_assert_msg (openpty (&tty->master, &tty->terminal, NULL, NULL, &size) == 0,
                 "openpty should work: %s", g_strerror (errno));
  tty->pid = fork ();
  ck_assert_msg (tty->pid >= 0, "fork should work: %s", g_strerror (errno));
  if (tty->pid == 0) {
    close (tty->master);
    if (login_tty (tty->terminal) != 0)
      _exit (126);
    setenv ("TERM", "xterm", 1);
    setenv ("NO_COLOR", "1", 1);
    unsetenv ("INPUTRC");
    execv (bin, (char *const *)argv);
    _exit (127);
  }
  fcntl (tty->master, F_SETFL, fcntl (tty->master, F_GETFL) | O_NONBLOCK);
  return tty;
}

static Tty *
tty_start (guint16 port)
{
  const char *args[] = {"--user", "alice", "--device", "phone", NULL};

  return tty_start_with (port, args);
}

/* Reads what the client wrote; also runs the GLib loop (the test's own client). */
static void
tty_pump (Tty *tty)
{
  char buf[4096];
  ssize_t n;

  while ((n = read (tty->master, buf, sizeof buf)) > 0)
    screen_feed (&tty->screen, buf, n);
  if (!tty->exited && waitpid (tty->pid, &tty->status, WNOHANG) == tty->pid)
    tty->exited = TRUE;
  g_main_context_iteration (NULL, FALSE);
}

typedef gboolean (*TtyCheck) (Tty *tty, gconstpointer data);

static gboolean
tty_wait (Tty *tty, TtyCheck check, gconstpointer data, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * 1000;

  for (;;) {
    tty_pump (tty);
    if (check (tty, data))
      return TRUE;
    if (g_get_monotonic_time () > deadline)
      return FALSE;
    g_usleep (5000);
  }
}

static gboolean
screen_has (Tty *tty, gconstpointer needle)
{
  g_autofree char *text = screen_text (&tty->screen);

  return strstr (text, needle) != NULL;
}

static gboolean
last_line_is (Tty *tty, gconstpointer expected)
{
  g_autofree char *last = screen_last_line (&tty->screen);

  return strcmp (last, expected) == 0;
}

static gboolean
has_exited (Tty *tty, gconstpointer data)
{
  return tty->exited;
}

#define EXPECT_SCREEN(check, data, what)                                                           \
  do {                                                                                             \
    if (!tty_wait (tty, (check), (data), 5000)) {                                                  \
      g_autofree char *text = screen_text (&tty->screen);                                          \
      ck_abort_msg ("the screen should show %s: '%s'; it shows:\n%s", (what),                      \
                    (const char *)(data), text);                                                   \
    }                                                                                              \
  } while (0)

static void
tty_type (Tty *tty, const char *keys)
{
  ck_assert_msg (write (tty->master, keys, strlen (keys)) == (ssize_t)strlen (keys),
                 "the pty should take the keys");
}

static void
tty_free (Tty *tty)
{
  if (!tty->exited) {
    kill (tty->pid, SIGKILL);
    waitpid (tty->pid, NULL, 0);
  }
  close (tty->master);
  close (tty->terminal);
  for (guint i = 0; i < tty->screen.rows->len; i++)
    g_string_free (g_ptr_array_index (tty->screen.rows, i), TRUE);
  g_ptr_array_unref (tty->screen.rows);
  g_string_free (tty->screen.csi, TRUE);
  g_free (tty);
}

/* ---- bob, the other side, through the libhub API ---- */

typedef struct {
  GPtrArray *texts; /* char* (owned) "message alice half typed…" / "typing alice" */
} Bob;

static void
bob_event (HubClient *client, const HubClientEvent *event, gpointer user_data)
{
  Bob *bob = user_data;

  if (event->type == HUB_CLIENT_EVENT_TYPING)
    g_ptr_array_add (bob->texts, g_strdup_printf ("typing %s", event->user));
  else if (event->type == HUB_CLIENT_EVENT_MESSAGE && event->payload != NULL &&
           json_object_has_member (event->payload, "text"))
    g_ptr_array_add (bob->texts,
                     g_strdup_printf ("message %s %s", event->from,
                                      json_object_get_string_member (event->payload, "text")));
}

static gboolean
bob_got (Tty *tty, gconstpointer data)
{
  const Bob *bob = ((const gconstpointer *)data)[0];
  const char *text = ((const gconstpointer *)data)[1];

  for (guint i = 0; i < bob->texts->len; i++) {
    if (strcmp (g_ptr_array_index (bob->texts, i), text) == 0)
      return TRUE;
  }
  return FALSE;
}

static gboolean
client_connected (Tty *tty, gconstpointer data)
{
  return hub_client_get_state ((HubClient *)data) == HUB_CLIENT_CONNECTED;
}

static gboolean
joined (Tty *tty, gconstpointer data)
{
  return *(const gboolean *)data;
}

static void
on_join (HubClient *client, JsonObject *reply, const GError *error, gpointer data)
{
  *(gboolean *)data = error == NULL;
}

static gboolean
cursor_clean (Tty *tty, gconstpointer data)
{
  return tty->exited && screen_cursor_clean (&tty->screen);
}

/* Ends the session with @keys ("/quit\r", Ctrl-D, Ctrl-C): exit status 0,
 * and the status line no longer on the screen where the shell's prompt goes. */
static void
expect_clean_exit (Tty *tty, const char *keys, const char *what)
{
  tty_type (tty, keys);
  ck_assert_msg (tty_wait (tty, has_exited, NULL, 5000), "%s should end hub-client", what);
  ck_assert_msg (WIFEXITED (tty->status) && WEXITSTATUS (tty->status) == 0,
                 "%s: exit status 0, got %d", what, tty->status);
  if (!tty_wait (tty, cursor_clean, NULL, 2000)) {
    g_autofree char *text = screen_text (&tty->screen);

    ck_abort_msg ("after %s the cursor should be at the start of an empty line (row %u col %u); "
                  "the screen:\n%s",
                  what, tty->screen.row, tty->screen.col, text);
  }
  {
    g_autofree char *last = screen_last_line (&tty->screen);

    ck_assert_msg (!g_str_has_suffix (last, ">") && strstr (last, "half a line") == NULL,
                   "after %s the status line should be gone, the last line is '%s'", what, last);
  }
}

START_TEST (interactive_session)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  Tty *tty = tty_start (port);
  Bob bob = {.texts = g_ptr_array_new_with_free_func (g_free)};
  const HubClientCallbacks callbacks = {.event = bob_event};
  HubClientOptions options;
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", port);
  g_autoptr (JsonObject) payload = json_object_new ();
  HubClient *client;
  gboolean bob_joined = FALSE;
  gconstpointer typing_seen[] = {&bob, "typing alice"};
  gconstpointer message_seen[] = {&bob, "message alice half typed, and done"};
  g_autofree char *text = NULL;

  EXPECT_SCREEN (screen_has, "* connected to ", "the welcome");
  EXPECT_SCREEN (last_line_is, "[connected] alice #->", "the status prompt");
  tty_type (tty, "/join lobby\r");
  EXPECT_SCREEN (screen_has, "* joined lobby (1 member: alice (online))", "the join reply");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby>", "the new current room");

  hub_client_options_init (&options);
  options.url = url;
  options.user = "bob";
  client = hub_client_new (&options, &callbacks, &bob, NULL);
  hub_client_connect (client);
  ck_assert (tty_wait (tty, client_connected, client, 5000));
  hub_client_join (client, "lobby", on_join, &bob_joined);
  ck_assert (tty_wait (tty, joined, &bob_joined, 5000));
  EXPECT_SCREEN (screen_has, "[lobby] * bob joined", "bob's arrival");

  /* Alice types without Enter: bob learns she is typing. */
  tty_type (tty, "half typed");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby> half typed", "the half-typed line");
  ck_assert_msg (tty_wait (tty, bob_got, typing_seen, 5000), "typing should send an indicator");

  /* A message arrives: above the prompt, and the half-typed line is intact. */
  json_object_set_string_member (payload, "text", "ping from bob");
  hub_client_publish (client, "lobby", payload, NULL, NULL);
  EXPECT_SCREEN (screen_has, "[lobby #1] bob (default): ping from bob\n",
                 "bob's message on its own line");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby> half typed", "the half-typed line again");

  /* Bob types: the status says so. */
  hub_client_typing (client, "lobby");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby (bob typing...)> half typed",
                 "bob typing in the status");

  /* Finishing the line publishes exactly what was typed. */
  tty_type (tty, ", and done\r");
  ck_assert_msg (tty_wait (tty, bob_got, message_seen, 5000),
                 "the line typed across the interruption should arrive whole");
  EXPECT_SCREEN (screen_has, "[lobby #2] alice (phone): half typed, and done",
                 "alice's own message");
  text = screen_text (&tty->screen);
  ck_assert_msg (strstr (text, "ping from bobhalf") == NULL && strstr (text, "typedping") == NULL,
                 "no line mixes the message and the typing:\n%s", text);

  /* History and help work here too; /quit exits 0. */
  tty_type (tty, "/history 1\r");
  EXPECT_SCREEN (screen_has, "/history 1\n", "the command line");
  expect_clean_exit (tty, "/quit\r", "/quit");

  hub_client_free (client);
  g_ptr_array_unref (bob.texts);
  tty_free (tty);
}
END_TEST

/* Tab completes commands, then room ids and user ids from what the session
 * knows; never file names. A line typed while a join waits for its reply
 * runs after it, in the room joined. */
START_TEST (completion_and_queued_lines)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  Tty *tty = tty_start (port);
  const HubClientCallbacks callbacks = {.event = bob_event};
  Bob bob = {.texts = g_ptr_array_new_with_free_func (g_free)};
  HubClientOptions options;
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", port);
  HubClient *client;
  gboolean bob_joined = FALSE;
  gconstpointer queued_seen[] = {&bob, "message alice typed during the join"};

  hub_client_options_init (&options);
  options.url = url;
  options.user = "bobby";
  client = hub_client_new (&options, &callbacks, &bob, NULL);
  hub_client_connect (client);
  ck_assert (tty_wait (tty, client_connected, client, 5000));
  hub_client_join (client, "lobby", on_join, &bob_joined);
  ck_assert (tty_wait (tty, joined, &bob_joined, 5000));
  EXPECT_SCREEN (last_line_is, "[connected] alice #->", "the status prompt");

  /* Pasted at once: the second line waits for the join's reply. */
  tty_type (tty, "/join lobby\rtyped during the join\r");
  ck_assert_msg (tty_wait (tty, bob_got, queued_seen, 5000),
                 "the line typed after /join should be published in the room joined");
  EXPECT_SCREEN (screen_has, "[lobby #1] alice (phone): typed during the join",
                 "the queued line, published");
  ck_assert_msg (!screen_has (tty, "no current room"), "no line was run before its join");

  /* Commands. */
  tty_type (tty, "/jo\t");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby> /join", "/jo completed to /join");
  /* Rooms: the one joined. */
  tty_type (tty, "lo\t");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby> /join lobby", "lo completed to lobby");
  tty_type (tty, "\025"); /* Ctrl-U: the line goes */
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby>", "an empty line again");
  /* Users: members of the current room (bobby, from the join reply). */
  tty_type (tty, "/msg b\t");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby> /msg bobby", "b completed to bobby");
  tty_type (tty, "\025");
  /* Users subscribed to, in a list. */
  tty_type (tty, "/sub carol\r");
  EXPECT_SCREEN (screen_has, "* subscribed: carol offline", "the subscription");
  tty_type (tty, "/multi bobby,ca\t");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby> /multi bobby,carol",
                 "ca completed to carol after the comma");
  tty_type (tty, "\025");
  /* Statuses; and a word nothing matches stays as it is (no file names). */
  tty_type (tty, "/status a\t");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby> /status away", "a completed to away");
  tty_type (tty, "\025/join zq\t\t");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby> /join zq", "nothing to complete");
  tty_type (tty, "\025");

  /* Alice leaves lobby from another device: this one drops it from the prompt and says so. */
  {
    HubClient *tablet;
    gboolean left = FALSE;

    options.user = "alice";
    options.device = "tablet";
    tablet = hub_client_new (&options, NULL, NULL, NULL);
    hub_client_connect (tablet);
    ck_assert (tty_wait (tty, client_connected, tablet, 5000));
    hub_client_leave (tablet, "lobby", on_join, &left);
    ck_assert (tty_wait (tty, joined, &left, 5000));
    EXPECT_SCREEN (screen_has, "[lobby] ! you are no longer in this room: left from another device",
                   "the room lost, in one line");
    EXPECT_SCREEN (last_line_is, "[connected] alice #->", "lobby gone from the prompt");
    hub_client_free (tablet);
  }

  expect_clean_exit (tty, "\004", "Ctrl-D");
  hub_client_free (client);
  g_ptr_array_unref (bob.texts);
  tty_free (tty);
}
END_TEST

/* The server restarts (in memory: its rooms are gone); the client
 * reconnects, joins its room again and says so, and a line typed then
 * reaches the room on the new server. Ctrl-C ends it cleanly. */
START_TEST (rejoin_after_restart)
{
  g_autoptr (HubTestServer) first = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (first);
  g_autofree char *port_text = g_strdup_printf ("%u", port);
  const char *again_args[] = {"--port", port_text, NULL};
  Tty *tty = tty_start (port);
  g_autoptr (HubTestServer) second = NULL;
  g_autoptr (GError) error = NULL;

  EXPECT_SCREEN (last_line_is, "[connected] alice #->", "the status prompt");
  tty_type (tty, "/join lobby\rbefore the restart\r");
  EXPECT_SCREEN (screen_has, "[lobby #1] alice (phone): before the restart", "the first message");

  ck_assert_msg (hub_test_server_stop (first, 5000, NULL, NULL), "the first server should stop");
  EXPECT_SCREEN (screen_has, "* connection lost: the server is shutting down (close code 1001",
                 "the loss, in words");
  /* Typed while away: it waits for the connection, and for the room to be back. */
  tty_type (tty, "typed while away\r");
  EXPECT_SCREEN (screen_has, "[1 line waiting]>", "the line waiting, in the status");
  /* The same port again (it was ours a moment ago; retry a little if taken). */
  for (guint i = 0; i < 20 && second == NULL; i++) {
    g_clear_error (&error);
    second = hub_test_server_startv (again_args, &error);
    if (second == NULL)
      g_usleep (100 * 1000);
  }
  ck_assert_msg (second != NULL, "a server should start again on port %u: %s", port,
                 error != NULL ? error->message : "?");
  EXPECT_SCREEN (screen_has, "[lobby] * joined again: the server no longer had this room",
                 "the rejoin, in one line");
  EXPECT_SCREEN (screen_has, "[lobby #1] alice (phone): typed while away",
                 "the waiting line, published in the room joined again");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby>", "the room still current");
  tty_type (tty, "after the restart\r");
  EXPECT_SCREEN (screen_has, "[lobby #2] alice (phone): after the restart",
                 "the next message, in order");
  ck_assert_msg (!screen_has (tty, "room_not_found"), "no room_not_found error was shown");

  /* On the screen before Ctrl-C, so that its going with the status line is seen
   * (input_discarded_while_reading has keys gone before the client read them). */
  tty_type (tty, "half a line");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby> half a line", "the half-typed line");
  expect_clean_exit (tty, "\003", "Ctrl-C");
  tty_free (tty);
}
END_TEST

/* Keys the client was woken for can be gone when it reads them: Ctrl-C
 * (ISIG) discards the terminal's unread input as it raises SIGINT. A client
 * that then waits in read() for the next key hears nothing else, not even
 * that SIGINT. Here the test discards the input itself, while the client is
 * reading a burst of keys (the unread count has begun to fall), many times;
 * after each, a message from bob must still reach the screen without a key
 * pressed. Where the discard lands is up to the scheduler: the rounds give
 * it many chances to land between the client's poll and its read. */
#define DISCARD_ROUNDS 40

START_TEST (input_discarded_while_reading)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  Tty *tty = tty_start (port);
  HubClientOptions options;
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", port);
  g_autoptr (JsonObject) payload = json_object_new ();
  HubClient *client;
  gboolean bob_joined = FALSE;
  char keys[1001];

  EXPECT_SCREEN (last_line_is, "[connected] alice #->", "the status prompt");
  tty_type (tty, "/join lobby\r");
  EXPECT_SCREEN (last_line_is, "[connected] alice #lobby>", "the room joined");
  hub_client_options_init (&options);
  options.url = url;
  options.user = "bob";
  client = hub_client_new (&options, NULL, NULL, NULL);
  hub_client_connect (client);
  ck_assert (tty_wait (tty, client_connected, client, 5000));
  hub_client_join (client, "lobby", on_join, &bob_joined);
  ck_assert (tty_wait (tty, joined, &bob_joined, 5000));

  memset (keys, 'x', sizeof keys - 1);
  keys[sizeof keys - 1] = '\0';
  for (guint round = 1; round <= DISCARD_ROUNDS; round++) {
    g_autofree char *text = g_strdup_printf ("round %u", round);
    g_autofree char *line = g_strdup_printf ("bob (default): round %u\n", round);
    gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
    int unread = 0;

    tty_type (tty, "\025"); /* Ctrl-U: the line the last round left goes */
    tty_type (tty, keys);
    do
      ck_assert_msg (ioctl (tty->terminal, FIONREAD, &unread) == 0, "FIONREAD: %s",
                     g_strerror (errno));
    while (unread >= (int)sizeof keys - 1 && g_get_monotonic_time () < deadline);
    ck_assert_msg (tcflush (tty->terminal, TCIFLUSH) == 0, "tcflush: %s", g_strerror (errno));
    json_object_set_string_member (payload, "text", text);
    hub_client_publish (client, "lobby", payload, NULL, NULL);
    if (!tty_wait (tty, screen_has, line, 5000))
      ck_abort_msg ("round %u: with its input discarded (%d keys unread) the client should "
                    "still show bob's message",
                    round, unread);
  }
  expect_clean_exit (tty, "\003", "Ctrl-C");
  hub_client_free (client);
  tty_free (tty);
}
END_TEST

/* /info shows the token's deadline; /refresh gets a fresh token from the
 * token command and says when it now expires. */
START_TEST (refresh_and_info)
{
  const char *secret = "itest-tty-token-secret-0123456789abcdef";
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", secret, NULL);
  g_autofree char *quoted = g_shell_quote (g_getenv ("HUB_CLIENT_BIN"));
  g_autofree char *command =
      g_strdup_printf ("%s token --secret %s --user alice --ttl 600", quoted, secret);
  const char *args[] = {"--token-command", command, NULL};
  Tty *tty = tty_start_with (hub_test_server_port (server), args);

  EXPECT_SCREEN (screen_has, "* connected to ", "the welcome");
  EXPECT_SCREEN (last_line_is, "[connected] alice #->", "the status prompt");
  tty_type (tty, "/info\r");
  EXPECT_SCREEN (screen_has, ", connection ", "/info's connection line");
  EXPECT_SCREEN (screen_has, "; token expires at ", "the token's deadline in /info");
  tty_type (tty, "/refresh\r");
  EXPECT_SCREEN (screen_has, "* token refreshed: it expires at ", "the refresh's outcome");
  EXPECT_SCREEN (last_line_is, "[connected] alice #->", "the prompt again, still connected");
  expect_clean_exit (tty, "/quit\r", "/quit");
  tty_free (tty);
}
END_TEST

/* Interactive, a token without a source: at its deadline the server closes
 * with 4003; the screen says so in words with what would have avoided it,
 * and hub-client ends (exit 3) instead of reconnecting to be refused. */
START_TEST (token_expired_interactive)
{
  const char *secret = "itest-tty-token-secret-0123456789abcdef";
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", secret, NULL);
  const char *mint_args[] = {"token", "--secret", secret, "--user", "alice", "--ttl", "2", NULL};
  g_autofree char *token = NULL;
  g_autofree char *err = NULL;
  const char *args[] = {"--token", NULL, NULL};
  Tty *tty;

  ck_assert_int_eq (client_run (0, NULL, mint_args, &token, &err), 0);
  args[1] = g_strstrip (token);
  tty = tty_start_with (hub_test_server_port (server), args);
  EXPECT_SCREEN (screen_has, "* connected to ", "the welcome");
  EXPECT_SCREEN (screen_has, "* connection lost: token expired (close code 4003)",
                 "the 4003 in words");
  EXPECT_SCREEN (screen_has, "--token-file, --token-command or --secret", "how to avoid it");
  ck_assert_msg (tty_wait (tty, has_exited, NULL, 5000), "hub-client should end after 4003");
  ck_assert_msg (WIFEXITED (tty->status) && WEXITSTATUS (tty->status) == 3, "exit status 3, got %d",
                 tty->status);
  {
    g_autofree char *text = screen_text (&tty->screen);

    ck_assert_msg (strstr (text, "reconnecting") == NULL && strstr (text, "retry") == NULL,
                   "no reconnect; the screen:\n%s", text);
  }
  tty_free (tty);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("client-tty");

  HUB_TEST_ADD (suite, interactive_session, 60);
  HUB_TEST_ADD (suite, completion_and_queued_lines, 60);
  HUB_TEST_ADD (suite, rejoin_after_restart, 60);
  HUB_TEST_ADD (suite, input_discarded_while_reading, 60);
  HUB_TEST_ADD (suite, refresh_and_info, 60);
  HUB_TEST_ADD (suite, token_expired_interactive, 60);
  return hub_test_run (suite);
}
