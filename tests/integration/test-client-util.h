/* test-client-util.h: helpers of the hub-client integration tests (header
 * only, included by each test-client-*.c): running the hub-client binary
 * ($HUB_CLIENT_BIN) with a script on stdin, reading its output line by line
 * with a bounded wait, and waiting on the GLib main loop for a condition. */
#pragma once

#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <hub/hub.h>
#include <string.h>

typedef gboolean (*WaitFunc) (gpointer data);

static gboolean
wake_up (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs the loop until @func(@data) is TRUE or @timeout_ms passed. */
static inline gboolean
loop_until (WaitFunc func, gpointer data, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * 1000;
  guint tick = g_timeout_add (10, wake_up, NULL);
  gboolean done;

  while (!(done = func (data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return done;
}

/* Runs the loop for @ms milliseconds (to let things happen that must NOT happen). */
static inline void
loop_for (guint ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)ms * 1000;
  guint tick = g_timeout_add (10, wake_up, NULL);

  while (g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
}

/* ---- the hub-client binary ---- */

typedef struct {
  GSubprocess *process;     /* (owned) */
  GDataInputStream *out;    /* (owned) */
  GPtrArray *lines;         /* char* (owned) stdout lines so far */
  GString *err;             /* stderr so far */
  GInputStream *err_stream; /* (unowned) */
  GOutputStream *in;        /* (unowned) (nullable) stdin while kept open */
  gboolean out_eof, err_eof, exited;
  GCancellable *cancellable; /* (owned) */
  guint8 err_buf[4096];
} ClientProc;

static void client_proc_read_line (ClientProc *proc);

static void
on_client_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ClientProc *proc = user_data;
  gsize len;
  g_autoptr (GError) error = NULL;
  char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result,
                                                          &len, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (line == NULL) {
    proc->out_eof = TRUE;
    return;
  }
  g_ptr_array_add (proc->lines, line);
  client_proc_read_line (proc);
}

static void
client_proc_read_line (ClientProc *proc)
{
  g_data_input_stream_read_line_async (proc->out, G_PRIORITY_DEFAULT, proc->cancellable,
                                       on_client_line, proc);
}

static void
on_client_err (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ClientProc *proc = user_data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (n <= 0) {
    proc->err_eof = TRUE;
    return;
  }
  g_string_append_len (proc->err, (const char *)proc->err_buf, n);
  g_input_stream_read_async (proc->err_stream, proc->err_buf, sizeof proc->err_buf,
                             G_PRIORITY_DEFAULT, proc->cancellable, on_client_err, proc);
}

static void
on_client_exit (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ClientProc *proc = user_data;

  if (g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL))
    proc->exited = TRUE;
}

static inline ClientProc *client_proc_launch (guint16 port, const char *script,
                                              const char *const *args, gboolean keep_stdin);

/* Starts `$HUB_CLIENT_BIN ws://127.0.0.1:PORT/ws ARGS…` (NULL-terminated
 * @args) with @script on stdin (then closed). (transfer full) */
static inline ClientProc *
client_proc_start (guint16 port, const char *script, const char *const *args)
{
  return client_proc_launch (port, script, args, FALSE);
}

/* The same with stdin kept open: lines go with client_proc_send_line, the
 * end with client_proc_close_stdin. (transfer full) */
static inline ClientProc *
client_proc_start_open (guint16 port, const char *const *args)
{
  return client_proc_launch (port, NULL, args, TRUE);
}

static inline void
client_proc_send_line (ClientProc *proc, const char *line)
{
  ck_assert_msg (proc->in != NULL, "stdin is open");
  ck_assert_msg (g_output_stream_write_all (proc->in, line, strlen (line), NULL, NULL, NULL) &&
                     g_output_stream_write_all (proc->in, "\n", 1, NULL, NULL, NULL) &&
                     g_output_stream_flush (proc->in, NULL, NULL),
                 "hub-client should take the line %s", line);
}

static inline void
client_proc_close_stdin (ClientProc *proc)
{
  if (proc->in != NULL)
    g_output_stream_close (proc->in, NULL, NULL);
  proc->in = NULL;
}

static inline ClientProc *
client_proc_launch (guint16 port, const char *script, const char *const *args, gboolean keep_stdin)
{
  const char *bin = g_getenv ("HUB_CLIENT_BIN");
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  ClientProc *proc = g_new0 (ClientProc, 1);
  GOutputStream *in;

  ck_assert_msg (bin != NULL, "HUB_CLIENT_BIN should name the hub-client binary");
  g_ptr_array_add (argv, g_strdup (bin));
  if (port != 0)
    g_ptr_array_add (argv, g_strdup_printf ("ws://127.0.0.1:%u/ws", port));
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  proc->process =
      g_subprocess_newv ((const char *const *)argv->pdata,
                         G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                             G_SUBPROCESS_FLAGS_STDERR_PIPE,
                         &error);
  ck_assert_msg (proc->process != NULL, "hub-client should start: %s",
                 error ? error->message : "?");
  proc->cancellable = g_cancellable_new ();
  proc->lines = g_ptr_array_new_with_free_func (g_free);
  proc->err = g_string_new (NULL);
  in = g_subprocess_get_stdin_pipe (proc->process);
  if (script != NULL)
    g_output_stream_write_all (in, script, strlen (script), NULL, NULL, NULL);
  if (keep_stdin)
    proc->in = in;
  else
    g_output_stream_close (in, NULL, NULL);
  proc->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc->process));
  client_proc_read_line (proc);
  proc->err_stream = g_subprocess_get_stderr_pipe (proc->process);
  g_input_stream_read_async (proc->err_stream, proc->err_buf, sizeof proc->err_buf,
                             G_PRIORITY_DEFAULT, proc->cancellable, on_client_err, proc);
  g_subprocess_wait_async (proc->process, proc->cancellable, on_client_exit, proc);
  return proc;
}

static gboolean
client_proc_done (gpointer data)
{
  ClientProc *proc = data;

  return proc->exited && proc->out_eof && proc->err_eof;
}

/* Waits (bounded) for the exit and returns the exit status; fails the test on timeout. */
static inline int
client_proc_wait (ClientProc *proc, guint timeout_ms)
{
  if (!loop_until (client_proc_done, proc, timeout_ms)) {
    g_subprocess_force_exit (proc->process);
    ck_abort_msg ("hub-client did not exit within %u ms; stderr: %s", timeout_ms, proc->err->str);
  }
  return g_subprocess_get_if_exited (proc->process)
             ? g_subprocess_get_exit_status (proc->process)
             : 128 + g_subprocess_get_term_sig (proc->process);
}

typedef struct {
  ClientProc *proc;
  const char *needle;
} LineWait;

static gboolean
has_line (gpointer data)
{
  LineWait *w = data;

  for (guint i = 0; i < w->proc->lines->len; i++) {
    if (strstr (g_ptr_array_index (w->proc->lines, i), w->needle) != NULL)
      return TRUE;
  }
  return FALSE;
}

/* TRUE once stdout has a line containing @needle (bounded wait). */
static inline gboolean
client_proc_wait_line (ClientProc *proc, const char *needle, guint timeout_ms)
{
  LineWait w = {proc, needle};

  return loop_until (has_line, &w, timeout_ms);
}

/* stdout so far, lines joined with '\n'. (transfer full) */
static inline char *
client_proc_stdout (ClientProc *proc)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < proc->lines->len; i++)
    g_string_append_printf (s, "%s\n", (char *)g_ptr_array_index (proc->lines, i));
  return g_string_free (s, FALSE);
}

static inline void
client_proc_free (ClientProc *proc)
{
  if (proc == NULL)
    return;
  if (!proc->exited)
    g_subprocess_force_exit (proc->process);
  g_cancellable_cancel (proc->cancellable);
  /* Let the cancelled reads finish before their buffers go. */
  for (guint i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;
  g_object_unref (proc->out);
  g_object_unref (proc->process);
  g_object_unref (proc->cancellable);
  g_ptr_array_unref (proc->lines);
  g_string_free (proc->err, TRUE);
  g_free (proc);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClientProc, client_proc_free)

/* Runs hub-client with @script and returns its exit status; @out gets stdout. */
static inline int
client_run (guint16 port, const char *script, const char *const *args, char **out, char **err)
{
  g_autoptr (ClientProc) proc = client_proc_start (port, script, args);
  int status = client_proc_wait (proc, 20000);

  if (out != NULL)
    *out = client_proc_stdout (proc);
  if (err != NULL)
    *err = g_strdup (proc->err->str);
  return status;
}

/* ---- TLS ---- */

/* Makes a self-signed certificate for 127.0.0.1 with openssl (fails the test without it). */
static inline void
client_test_make_certificate (const char *cert, const char *key)
{
  /* An argument vector, no shell quoting: the paths may hold anything (C:\\…). */
  const char *const openssl[] = {"openssl",  "req",
                                 "-x509",    "-newkey",
                                 "rsa:2048", "-nodes",
                                 "-days",    "1",
                                 "-subj",    "/CN=127.0.0.1",
                                 "-addext",  "subjectAltName=IP:127.0.0.1",
                                 "-keyout",  key,
                                 "-out",     cert,
                                 NULL};
  g_autoptr (GError) error = NULL;
  g_autofree char *openssl_out = NULL;
  g_autofree char *openssl_err = NULL;
  int status = -1;

  ck_assert_msg (g_spawn_sync (NULL, (char **)openssl, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               &openssl_out, &openssl_err, &status, &error) &&
                     g_spawn_check_wait_status (status, NULL),
                 "openssl should make a test certificate: %s %s", error ? error->message : "",
                 openssl_err ? openssl_err : "");
}

/* Starts hub-server with @cert and @key on a free port (hub-test-server
 * expects a ws:// first line, hence this); @port gets the port. (transfer full) */
static inline GSubprocess *
client_test_start_wss_server (const char *cert, const char *key, guint16 *port)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autofree char *line = NULL;
  const char *at;
  GSubprocess *server =
      g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                        g_getenv ("HUB_SERVER_BIN"), "--host", "127.0.0.1", "--port", "0", "--cert",
                        cert, "--key", key, NULL);

  ck_assert_msg (server != NULL, "hub-server should start: %s", error ? error->message : "?");
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  line = g_data_input_stream_read_line_utf8 (out, NULL, NULL, &error);
  at = line != NULL ? strstr (line, "wss://127.0.0.1:") : NULL;
  ck_assert_msg (at != NULL, "hub-server should announce wss://, said: %s", line ? line : "");
  *port = (guint16)g_ascii_strtoull (at + strlen ("wss://127.0.0.1:"), NULL, 10);
  ck_assert_msg (*port != 0, "a port in: %s", line);
  return server;
}
