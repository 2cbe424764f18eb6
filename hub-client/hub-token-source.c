/* hub-token-source.c: hub-client's token sources: a file read again each
 * time, a command run each time with a time limit (GSubprocess, no shell),
 * or a token minted from the secret. Failures are one line each, for the
 * line hub-client prints. */
#include "hub-token-source.h"

#include <hub/hub.h>
#include <string.h>

/* A token is a few hundred bytes; a file much larger is not one. */
#define MAX_TOKEN_BYTES (64 * 1024)

typedef enum {
  SOURCE_FILE,
  SOURCE_COMMAND,
  SOURCE_SECRET,
} SourceKind;

struct _HubTokenSource {
  SourceKind kind;
  char *path;     /* (owned) FILE */
  GStrv argv;     /* (owned) COMMAND */
  char *secret;   /* (owned) SECRET */
  char *user;     /* (owned) SECRET */
  gboolean admin; /* SECRET */
  char *describe; /* (owned) */
};

HubTokenSource *
hub_token_source_new_file (const char *path)
{
  HubTokenSource *source = g_new0 (HubTokenSource, 1);

  source->kind = SOURCE_FILE;
  source->path = g_strdup (path);
  source->describe = g_strdup_printf ("--token-file %s", path);
  return source;
}

HubTokenSource *
hub_token_source_new_command (const char *command_line, GError **error)
{
  HubTokenSource *source;
  GStrv argv = NULL;

  if (!g_shell_parse_argv (command_line, NULL, &argv, error))
    return NULL;
  source = g_new0 (HubTokenSource, 1);
  source->kind = SOURCE_COMMAND;
  source->argv = argv;
  source->describe = g_strdup_printf ("--token-command '%s'", command_line);
  return source;
}

HubTokenSource *
hub_token_source_new_secret (const char *secret, const char *user, gboolean admin)
{
  HubTokenSource *source = g_new0 (HubTokenSource, 1);

  source->kind = SOURCE_SECRET;
  source->secret = g_strdup (secret);
  source->user = g_strdup (user);
  source->admin = admin;
  source->describe = g_strdup ("--secret");
  return source;
}

void
hub_token_source_free (HubTokenSource *source)
{
  if (source == NULL)
    return;
  g_free (source->path);
  g_strfreev (source->argv);
  if (source->secret != NULL)
    memset (source->secret, 0, strlen (source->secret));
  g_free (source->secret);
  g_free (source->user);
  g_free (source->describe);
  g_free (source);
}

const char *
hub_token_source_describe (HubTokenSource *source)
{
  return source->describe;
}

/* @text trimmed, when it is one word (a token has no blanks). (transfer full) */
static char *
one_token (const char *text, const char *what, GError **error)
{
  g_autofree char *token = g_strstrip (g_strdup (text));

  if (token[0] == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s gave no token (empty)", what);
    return NULL;
  }
  if (strpbrk (token, " \t\r\n") != NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "%s gave more than one word (a token is a single line without blanks)", what);
    return NULL;
  }
  /* A JWT is printable ASCII (base64url and dots); control characters or
   * other bytes would only come back as the server's "unauthorized". */
  for (const char *c = token; *c != '\0'; c++) {
    if ((guchar)*c < 0x21 || (guchar)*c > 0x7e) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s gave a line that is not a token (byte 0x%02x at %d)", what, (guchar)*c,
                   (int)(c - token));
      return NULL;
    }
  }
  return g_steal_pointer (&token);
}

/* Reads at most MAX_TOKEN_BYTES + 1 bytes: a file far larger than a token
 * (or /dev/zero) is not read whole. */
static char *
read_file (HubTokenSource *source, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GFile) file = g_file_new_for_path (source->path);
  g_autoptr (GFileInputStream) in = g_file_read (file, NULL, &local);
  g_autofree char *contents = NULL;
  gsize len = 0;

  if (in != NULL) {
    contents = g_malloc (MAX_TOKEN_BYTES + 2);
    if (!g_input_stream_read_all (G_INPUT_STREAM (in), contents, MAX_TOKEN_BYTES + 1, &len, NULL,
                                  &local))
      g_clear_pointer (&contents, g_free);
  }
  if (contents == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", source->describe, local->message);
    return NULL;
  }
  contents[len] = '\0';
  if (len > MAX_TOKEN_BYTES || memchr (contents, '\0', len) != NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a token (%s)",
                 source->describe, len > MAX_TOKEN_BYTES ? "larger than 64 KiB" : "binary data");
    return NULL;
  }
  return one_token (contents, source->describe, error);
}

/* ---- the command ---- */

/* What is kept of the command's stderr: its first line is all a message shows. */
#define MAX_STDERR_BYTES 1024

/* A command run: its two pipes read by ourselves (not
 * g_subprocess_communicate, which keeps all a command prints: `yes` as a
 * token command would fill the memory for the whole time limit), its exit
 * waited for; the task returns once all three ended, or at the first
 * failure (more than a token on stdout, the time limit). */
typedef struct {
  char *describe;            /* (owned) */
  GSubprocess *process;      /* (owned) */
  GCancellable *cancellable; /* (owned) ends the reads and the wait */
  GCancellable *outer;       /* (owned) (nullable) the caller's */
  gulong outer_handler;
  GSource *timer; /* (owned) the time limit */
  GString *out;   /* (owned) stdout, at most MAX_TOKEN_BYTES */
  GString *err;   /* (owned) stderr, its first MAX_STDERR_BYTES */
  guint pending;  /* of the two reads and the wait */
  gboolean returned;
} Run;

typedef struct {
  GTask *task;        /* (owned) */
  GInputStream *pipe; /* (unowned) the process's */
  GString *into;      /* (unowned) Run's out or err */
  gsize keep;         /* bytes of @into kept at most */
  gboolean is_stdout; /* more than @keep is a failure, not a cut */
  guint8 buf[4096];
} PipeRead;

static void
run_free (Run *run)
{
  if (run->timer != NULL) {
    g_source_destroy (run->timer);
    g_source_unref (run->timer);
  }
  if (run->outer != NULL)
    g_cancellable_disconnect (run->outer, run->outer_handler);
  g_clear_object (&run->outer);
  g_clear_object (&run->process);
  g_clear_object (&run->cancellable);
  g_string_free (run->out, TRUE);
  g_string_free (run->err, TRUE);
  g_free (run->describe);
  g_free (run);
}

static void
on_outer_cancelled (GCancellable *outer, gpointer user_data)
{
  g_cancellable_cancel (user_data);
}

/* Returns @error (owned) for @task unless it returned already, and ends
 * the command and what still reads from it. */
static void
run_fail (GTask *task, GError *error)
{
  Run *run = g_task_get_task_data (task);

  if (run->returned) {
    g_error_free (error);
    return;
  }
  run->returned = TRUE;
  g_subprocess_force_exit (run->process);
  /* Not waiting for pipes a child of the command may still hold. */
  g_cancellable_cancel (run->cancellable);
  g_task_return_error (task, error);
}

static gboolean
on_command_timeout (gpointer user_data)
{
  GTask *task = user_data;
  Run *run = g_task_get_task_data (task);

  run_fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                               "%s did not finish within %d s (stopped)", run->describe,
                               HUB_TOKEN_COMMAND_TIMEOUT_S));
  return G_SOURCE_REMOVE;
}

/* The first line of @text, at most 200 bytes, valid UTF-8. (transfer full) */
static char *
first_line (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text != NULL ? text : "", -1);
  char *copy = g_strstrip (valid);
  char *end = strpbrk (copy, "\r\n");

  if (end != NULL)
    *end = '\0';
  if (strlen (copy) > 200)
    strcpy (g_utf8_find_prev_char (copy, copy + 198), "...");
  return g_strdup (copy);
}

/* All three ended: the outcome. */
static void
run_finish (GTask *task)
{
  Run *run = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autofree char *said = NULL;
  char *token;

  if (run->returned)
    return;
  said = first_line (run->err->str);
  if (!g_subprocess_get_successful (run->process)) {
    g_autofree char *how =
        g_subprocess_get_if_exited (run->process)
            ? g_strdup_printf ("exit status %d", g_subprocess_get_exit_status (run->process))
            : g_strdup ("ended abnormally");

    run_fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "%s failed (%s)%s%s", run->describe,
                                 how, said[0] != '\0' ? ": " : "", said));
    return;
  }
  if (memchr (run->out->str, '\0', run->out->len) != NULL) {
    run_fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                 "%s printed binary data, not a token", run->describe));
    return;
  }
  token = one_token (run->out->str, run->describe, &error);
  if (token == NULL) {
    run_fail (task, g_steal_pointer (&error));
    return;
  }
  run->returned = TRUE;
  g_task_return_pointer (task, token, g_free);
}

/* One of the three ended: the task's reference it held goes. */
static void
run_settle (GTask *task)
{
  Run *run = g_task_get_task_data (task);

  if (--run->pending == 0)
    run_finish (task);
  g_object_unref (task);
}

static void read_pipe (PipeRead *read);

static void
on_pipe_read (GObject *object, GAsyncResult *result, gpointer user_data)
{
  PipeRead *read = user_data;
  GTask *task = read->task;
  Run *run = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);

  if (n > 0 && !run->returned) {
    gsize room = read->into->len < read->keep ? read->keep - read->into->len : 0;

    if (read->is_stdout && (gsize)n > room) {
      run_fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                                   "%s printed more than %d KiB (not a token; stopped)",
                                   run->describe, MAX_TOKEN_BYTES / 1024));
    } else {
      /* stderr beyond what is kept is read and dropped: a command blocked
       * on a full pipe would only end at the time limit. */
      g_string_append_len (read->into, (const char *)read->buf, MIN ((gsize)n, room));
      read_pipe (read);
      return;
    }
  } else if (n < 0 && !run->returned &&
             !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    run_fail (task,
              g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", run->describe, error->message));
  }
  read->task = NULL;
  g_free (read);
  run_settle (task);
}

static void
read_pipe (PipeRead *read)
{
  Run *run = g_task_get_task_data (read->task);

  g_input_stream_read_async (read->pipe, read->buf, sizeof read->buf, G_PRIORITY_DEFAULT,
                             run->cancellable, on_pipe_read, read);
}

static void
start_pipe (GTask *task, GInputStream *pipe, GString *into, gsize keep, gboolean is_stdout)
{
  Run *run = g_task_get_task_data (task);
  PipeRead *read = g_new0 (PipeRead, 1);

  read->task = g_object_ref (task);
  read->pipe = pipe;
  read->into = into;
  read->keep = keep;
  read->is_stdout = is_stdout;
  run->pending++;
  read_pipe (read);
}

static void
on_command_exited (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (object), result, NULL);
  run_settle (user_data);
}

static void
run_command (HubTokenSource *source, GTask *task, GCancellable *cancellable)
{
  g_autoptr (GError) error = NULL;
  Run *run = g_new0 (Run, 1);
  run->describe = g_strdup (source->describe);
  run->out = g_string_new (NULL);
  run->err = g_string_new (NULL);
  g_task_set_task_data (task, run, (GDestroyNotify)run_free);
  /* stdin a pipe closed at once: the command must not read the terminal. */
  run->process = g_subprocess_newv ((const char *const *)source->argv,
                                    G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                    &error);
  if (run->process == NULL) {
    run->returned = TRUE;
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s cannot run: %s",
                             source->describe, error->message);
    return;
  }
  g_output_stream_close (g_subprocess_get_stdin_pipe (run->process), NULL, NULL);
  run->cancellable = g_cancellable_new ();
  if (cancellable != NULL) {
    run->outer = g_object_ref (cancellable);
    run->outer_handler = g_cancellable_connect (cancellable, G_CALLBACK (on_outer_cancelled),
                                                run->cancellable, NULL);
  }
  run->timer = g_timeout_source_new_seconds (HUB_TOKEN_COMMAND_TIMEOUT_S);
  g_source_set_callback (run->timer, on_command_timeout, task, NULL);
  g_source_attach (run->timer, g_task_get_context (task));
  start_pipe (task, g_subprocess_get_stdout_pipe (run->process), run->out, MAX_TOKEN_BYTES, TRUE);
  start_pipe (task, g_subprocess_get_stderr_pipe (run->process), run->err, MAX_STDERR_BYTES, FALSE);
  run->pending++;
  g_subprocess_wait_async (run->process, run->cancellable, on_command_exited, g_object_ref (task));
}

/* ---- fetching ---- */

void
hub_token_source_fetch_async (HubTokenSource *source, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  g_autoptr (GError) error = NULL;
  char *token = NULL;

  /* GTask delivers a result returned now in a later iteration. */
  switch (source->kind) {
    case SOURCE_FILE:
      token = read_file (source, &error);
      break;
    case SOURCE_SECRET:
      token = hub_auth_mint (source->secret, strlen (source->secret), source->user, source->admin,
                             g_get_real_time () / G_USEC_PER_SEC + HUB_TOKEN_MINTED_LIFETIME_S);
      break;
    case SOURCE_COMMAND:
    default:
      run_command (source, task, cancellable);
      return;
  }
  if (token != NULL)
    g_task_return_pointer (task, token, g_free);
  else
    g_task_return_error (task, g_steal_pointer (&error));
}

char *
hub_token_source_fetch_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

typedef struct {
  gboolean done;
  char *token;
  GError *error;
} SyncFetch;

static void
on_sync_fetched (GObject *object, GAsyncResult *result, gpointer user_data)
{
  SyncFetch *fetch = user_data;

  fetch->token = hub_token_source_fetch_finish (result, &fetch->error);
  fetch->done = TRUE;
}

char *
hub_token_source_fetch_sync (HubTokenSource *source, GError **error)
{
  GMainContext *context = g_main_context_new ();
  SyncFetch fetch = {0};

  g_main_context_push_thread_default (context);
  hub_token_source_fetch_async (source, NULL, on_sync_fetched, &fetch);
  while (!fetch.done)
    g_main_context_iteration (context, TRUE);
  /* What the command left (its cancelled pipes) ends here, not later. */
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  g_main_context_unref (context);
  if (fetch.error != NULL)
    g_propagate_error (error, fetch.error);
  return fetch.token;
}

/* ---- room tokens ---- */

char *
hub_token_peek_room (const char *token, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (token, ".", -1);
  g_autoptr (GString) b64 = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *json = NULL;
  guchar *bytes;
  JsonNode *room;
  gsize len = 0;

  if (g_strv_length (parts) != 3 || parts[1][0] == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "not a JWT (three parts separated by dots)");
    return NULL;
  }
  /* base64url without padding, as base64. */
  b64 = g_string_new (parts[1]);
  for (gsize i = 0; i < b64->len; i++) {
    if (b64->str[i] == '-')
      b64->str[i] = '+';
    else if (b64->str[i] == '_')
      b64->str[i] = '/';
  }
  while (b64->len % 4 != 0)
    g_string_append_c (b64, '=');
  bytes = g_base64_decode (b64->str, &len);
  json = g_strndup ((const char *)bytes, len);
  g_free (bytes);
  root = json_from_string (json, NULL);
  room = root != NULL && JSON_NODE_HOLDS_OBJECT (root)
             ? json_object_get_member (json_node_get_object (root), "room")
             : NULL;
  if (room == NULL || !JSON_NODE_HOLDS_VALUE (room) ||
      json_node_get_value_type (room) != G_TYPE_STRING) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "not a room token (its payload has no `room`)");
    return NULL;
  }
  return g_strdup (json_node_get_string (room));
}
