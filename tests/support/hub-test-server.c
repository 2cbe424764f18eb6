/* hub-test-server.c: starts hub-server as a child process for integration
 * tests (ephemeral port read from its first stdout line), stops it with a
 * bounded wait, and talks plain HTTP/1.1 to it. */
#include "hub-test-server.h"
#include "hub-test-platform.h"
#include "hub-test-redis.h"

#include <check.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define START_TIMEOUT_MS 10000
#define IO_TIMEOUT_S     5

struct _HubTestServer {
  GSubprocess *proc; /* (owned) */
  GMainContext *ctx; /* (owned) where the exit notification is dispatched */
  char *own_dir;     /* (owned) (nullable) a temp dir made for this server's logs */
  char *stderr_path; /* (owned) the server's stderr */
  char *stdout_path; /* (owned) its stdout after the first line */
  GThread *reader;   /* (owned) drains stdout until EOF */
  GMutex lock;       /* guards the next three fields */
  GCond cond;
  char *first_line; /* (owned) NULL until read */
  gboolean stdout_eof;
  gboolean exited;
  int exit_status;
  guint16 port;
  char *node; /* (owned) */
};

/* Servers not yet freed in this process. */
static GPtrArray *live_servers;
static guint n_started;

#define LOG_DIR_ENV "HUB_TEST_LOG_DIR"

static void
print_output (HubTestServer *server)
{
  g_autofree char *out = hub_test_server_output (server);

  fprintf (stderr, "---- hub-server on port %u (%s) ----\n%s---- end of hub-server output ----\n",
           server->port, server->first_line ? server->first_line : "no first line", out);
}

static gpointer
read_stdout (gpointer data)
{
  HubTestServer *server = data;
  g_autoptr (GDataInputStream) in =
      g_data_input_stream_new (g_subprocess_get_stdout_pipe (server->proc));
  FILE *rest = fopen (server->stdout_path, "w");

  for (;;) {
    gsize len = 0;
    g_autofree char *line = g_data_input_stream_read_line (in, &len, NULL, NULL);

    g_mutex_lock (&server->lock);
    if (line == NULL) {
      server->stdout_eof = TRUE;
      g_cond_broadcast (&server->cond);
      g_mutex_unlock (&server->lock);
      break;
    }
    if (server->first_line == NULL) {
      server->first_line = g_steal_pointer (&line);
      g_cond_broadcast (&server->cond);
    } else if (rest != NULL) {
      fprintf (rest, "%s\n", line);
      fflush (rest);
    }
    g_mutex_unlock (&server->lock);
  }
  if (rest != NULL)
    fclose (rest);
  return NULL;
}

static void
on_exited (GObject *source, GAsyncResult *result, gpointer data)
{
  HubTestServer *server = data;
  GSubprocess *proc = G_SUBPROCESS (source);

  g_subprocess_wait_finish (proc, result, NULL);
  if (g_subprocess_get_if_exited (proc))
    server->exit_status = g_subprocess_get_exit_status (proc);
  else if (g_subprocess_get_if_signaled (proc))
    server->exit_status = 128 + g_subprocess_get_term_sig (proc);
  else
    server->exit_status = -1;
  server->exited = TRUE;
}

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the server's context until the process exited or @timeout_ms passed. */
static gboolean
wait_exit (HubTestServer *server, guint timeout_ms)
{
  gboolean timed_out = FALSE;
  GSource *timer;

  while (g_main_context_iteration (server->ctx, FALSE))
    ;
  if (server->exited || timeout_ms == 0)
    return server->exited;
  timer = g_timeout_source_new (timeout_ms);
  g_source_set_callback (timer, on_timeout, &timed_out, NULL);
  g_source_attach (timer, server->ctx);
  while (!server->exited && !timed_out)
    g_main_context_iteration (server->ctx, TRUE);
  g_source_destroy (timer);
  g_source_unref (timer);
  return server->exited;
}

/* "hub-server listening on ws://127.0.0.1:PORT/ws node=NAME mode=memory" */
static gboolean
parse_first_line (HubTestServer *server, const char *line, GError **error)
{
  g_autoptr (GRegex) re = g_regex_new ("^hub-server listening on ws://127\\.0\\.0\\.1:([0-9]+)/ws "
                                       "node=(\\S+) mode=(memory|cluster)$",
                                       0, 0, NULL);
  g_autoptr (GMatchInfo) match = NULL;
  g_autofree char *port = NULL;
  guint64 value = 0;

  if (!g_regex_match (re, line, 0, &match)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "unexpected first stdout line from hub-server: \"%s\"", line);
    return FALSE;
  }
  port = g_match_info_fetch (match, 1);
  if (!g_ascii_string_to_unsigned (port, 10, 1, 65535, &value, NULL)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "bad port in \"%s\"", line);
    return FALSE;
  }
  server->port = (guint16)value;
  server->node = g_match_info_fetch (match, 2);
  return TRUE;
}

/* The open-file limit of the servers started from now on (0: the test's own). */
static guint64 next_open_files;

void
hub_test_server_set_open_files (guint64 limit)
{
  next_open_files = limit;
}

static HubTestServer *start (const char *const *args, gboolean bare, GError **error);

HubTestServer *
hub_test_server_startv (const char *const *args, GError **error)
{
  return start (args, FALSE, error);
}

HubTestServer *
hub_test_server_startv_bare (const char *const *args, GError **error)
{
  return start (args, TRUE, error);
}

static HubTestServer *
start (const char *const *args, gboolean bare, GError **error)
{
  const char *bin = g_getenv ("HUB_SERVER_BIN");
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (HubTestServer) server = NULL;
  gint64 deadline;
  g_autofree char *line = NULL;
  const char *dir;
  const char *extra = g_getenv ("HUB_SERVER_EXTRA_ARGS");
  g_auto (GStrv) extra_args = NULL;
  g_autofree char *prefix = NULL;
  gboolean on_redis = FALSE;

  if (bin == NULL || *bin == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "HUB_SERVER_BIN is not set");
    return NULL;
  }
  server = g_new0 (HubTestServer, 1);
  g_mutex_init (&server->lock);
  g_cond_init (&server->cond);
  server->ctx = g_main_context_new ();
  if (g_getenv (LOG_DIR_ENV) != NULL) {
    dir = g_getenv (LOG_DIR_ENV);
  } else {
    server->own_dir = g_dir_make_tmp ("hub-itest-XXXXXX", error);
    if (server->own_dir == NULL)
      return NULL;
    dir = server->own_dir;
  }
  n_started++;
  {
    g_autofree char *stem =
        g_strdup_printf ("hub-server-%u-%u", hub_test_platform_pid (), n_started);
    g_autofree char *err_name = g_strconcat (stem, ".stderr", NULL);
    g_autofree char *out_name = g_strconcat (stem, ".stdout", NULL);

    server->stderr_path = g_build_filename (dir, err_name, NULL);
    server->stdout_path = g_build_filename (dir, out_name, NULL);
  }

  g_ptr_array_add (argv, (gpointer)bin);
  if (!bare) {
    g_ptr_array_add (argv, "--host");
    g_ptr_array_add (argv, "127.0.0.1");
    g_ptr_array_add (argv, "--port");
    g_ptr_array_add (argv, "0");
  }
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer)args[i]);
  /* The suite runs on Redis (hub-test-redis.h): a one-node cluster with keys of
   * its own, unless the test gave --redis itself (the cluster suites). */
  if (hub_test_store_is_redis () && (args == NULL || !g_strv_contains (args, "--redis"))) {
    prefix = hub_test_redis_unique_prefix ();
    g_ptr_array_add (argv, "--redis");
    g_ptr_array_add (argv, (gpointer)hub_test_store_redis_url ());
    g_ptr_array_add (argv, "--redis-prefix");
    g_ptr_array_add (argv, prefix);
    on_redis = TRUE;
  }
  /* Extra flags for every server a suite starts (shell syntax), e.g. ctest's
   * runs of a suite on the other event loop (tests/CMakeLists.txt). */
  if (extra != NULL && *extra != '\0' && !g_shell_parse_argv (extra, NULL, &extra_args, error))
    return NULL;
  for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (argv, extra_args[i]);
  g_ptr_array_add (argv, NULL);

  /* It must not outlive a test process killed by Check's timeout (the platform's spawn). */
  launcher = hub_test_platform_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, server->stderr_path,
                                             next_open_files);
  server->proc = hub_test_platform_spawnv (launcher, (const char *const *)argv->pdata, error);
  if (server->proc == NULL)
    return NULL;

  if (live_servers == NULL)
    live_servers = g_ptr_array_new ();
  g_ptr_array_add (live_servers, server);

  g_main_context_push_thread_default (server->ctx);
  g_subprocess_wait_async (server->proc, NULL, on_exited, server);
  g_main_context_pop_thread_default (server->ctx);
  server->reader = g_thread_new ("hub-test-stdout", read_stdout, server);

  deadline = g_get_monotonic_time () + START_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  g_mutex_lock (&server->lock);
  while (server->first_line == NULL && !server->stdout_eof)
    if (!g_cond_wait_until (&server->cond, &server->lock, deadline))
      break;
  line = g_strdup (server->first_line);
  g_mutex_unlock (&server->lock);

  if (line == NULL) {
    g_autofree char *out = NULL;
    gboolean eof;

    g_mutex_lock (&server->lock);
    eof = server->stdout_eof;
    g_mutex_unlock (&server->lock);
    if (eof)
      wait_exit (server, 2000); /* it closed its stdout: it is exiting */
    out = hub_test_server_output (server);
    if (server->exited)
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "hub-server exited (status %d) without a first line; output:\n%s",
                   server->exit_status, out);
    else
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                   "hub-server printed no first line within %d ms; output:\n%s", START_TIMEOUT_MS,
                   out);
    return NULL;
  }
  if (!parse_first_line (server, line, error))
    return NULL;
  /* A cluster node answers `internal` until it reached Redis: start once it did. */
  if (on_redis && !hub_test_wait_health (server->port, 200, START_TIMEOUT_MS)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "hub-server on Redis did not report /healthz 200 within %d ms", START_TIMEOUT_MS);
    return NULL;
  }
  return g_steal_pointer (&server);
}

HubTestServer *
hub_test_server_start (const char *first_arg, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  HubTestServer *server;
  va_list ap;

  va_start (ap, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer)arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);

  server = hub_test_server_startv ((const char *const *)args->pdata, &error);
  ck_assert_msg (server != NULL, "hub-server should start: %s", error ? error->message : "?");
  return server;
}

guint16
hub_test_server_port (HubTestServer *server)
{
  return server->port;
}

const char *
hub_test_server_node (HubTestServer *server)
{
  return server->node;
}

const char *
hub_test_server_first_line (HubTestServer *server)
{
  return server->first_line;
}

gboolean
hub_test_server_stop (HubTestServer *server, guint timeout_ms, int *exit_status, gint64 *elapsed_ms)
{
  gint64 start = g_get_monotonic_time ();
  gboolean clean = TRUE;

  if (!wait_exit (server, 0)) {
    /* SIGTERM (Ctrl-Break); Ctrl-C where that cannot be delivered (wine). */
    HubTestStopRequest how = hub_test_platform_can_request_stop (HUB_TEST_STOP_TERM)
                                 ? HUB_TEST_STOP_TERM
                                 : HUB_TEST_STOP_INT;

    if (hub_test_platform_request_stop (server->proc, how)) {
      clean = wait_exit (server, timeout_ms);
    } else {
      /* No graceful stop here (hub-test-platform.h): it just ends. */
      g_subprocess_force_exit (server->proc);
      wait_exit (server, 5000);
    }
    if (!clean) {
      g_subprocess_force_exit (server->proc);
      wait_exit (server, 5000);
    }
  }
  if (elapsed_ms != NULL)
    *elapsed_ms = (g_get_monotonic_time () - start) / G_TIME_SPAN_MILLISECOND;
  if (exit_status != NULL)
    *exit_status = server->exit_status;
  return clean;
}

gboolean
hub_test_server_wait (HubTestServer *server, guint timeout_ms, int *exit_status)
{
  gboolean exited = wait_exit (server, timeout_ms);

  if (exit_status != NULL)
    *exit_status = server->exit_status;
  return exited;
}

gboolean
hub_test_server_request_stop (HubTestServer *server, HubTestStopRequest how)
{
  return !wait_exit (server, 0) && hub_test_platform_request_stop (server->proc, how);
}

void
hub_test_server_kill (HubTestServer *server)
{
  if (!wait_exit (server, 0))
    g_subprocess_force_exit (server->proc);
}

gboolean
hub_test_server_pause (HubTestServer *server, gboolean pause)
{
  return hub_test_platform_pause (server->proc, pause);
}

long
hub_test_server_rss_kib (HubTestServer *server)
{
  return hub_test_platform_child_rss_kib (server->proc);
}

long
hub_test_server_open_files (HubTestServer *server)
{
  return hub_test_platform_child_open_files (server->proc);
}

gboolean
hub_test_server_is_running (HubTestServer *server)
{
  return !wait_exit (server, 0);
}

guint
hub_test_server_pid (HubTestServer *server)
{
  const char *id = g_subprocess_get_identifier (server->proc);

  return id != NULL ? (guint)g_ascii_strtoull (id, NULL, 10) : 0;
}

char *
hub_test_server_output (HubTestServer *server)
{
  g_autofree char *rest = NULL;
  g_autofree char *err = NULL;
  GString *out = g_string_new (NULL);

  g_mutex_lock (&server->lock); /* the reader thread may be writing */
  if (server->stdout_path != NULL && g_file_get_contents (server->stdout_path, &rest, NULL, NULL))
    g_string_append (out, rest);
  g_mutex_unlock (&server->lock);
  if (server->stderr_path != NULL && g_file_get_contents (server->stderr_path, &err, NULL, NULL))
    g_string_append (out, err);
  return g_string_free (out, FALSE);
}

guint
hub_test_server_count_output (HubTestServer *server, const char *text)
{
  g_autofree char *out = hub_test_server_output (server);
  guint n = 0;

  for (const char *p = strstr (out, text); p != NULL; p = strstr (p + 1, text))
    n++;
  return n;
}

gboolean
hub_test_server_wait_output (HubTestServer *server, const char *text, guint count, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    if (hub_test_server_count_output (server, text) >= count)
      return TRUE;
    if (g_get_monotonic_time () >= deadline)
      return FALSE;
    g_usleep (20 * G_TIME_SPAN_MILLISECOND);
  }
}

gboolean
hub_test_server_reload (HubTestServer *server)
{
  return !wait_exit (server, 0) && hub_test_platform_request_reload (server->proc);
}

void
hub_test_server_free (HubTestServer *server)
{
  if (server == NULL)
    return;
  if (live_servers != NULL)
    g_ptr_array_remove (live_servers, server);
  if (server->proc != NULL && !wait_exit (server, 0)) {
    g_subprocess_force_exit (server->proc);
    wait_exit (server, 5000);
  }
  if (server->reader != NULL)
    g_thread_join (server->reader); /* the pipe is at EOF once the process is gone */
  if (g_getenv ("HUB_TEST_VERBOSE") != NULL && server->first_line != NULL)
    print_output (server);
  /* Drop the pending wait_async (if the process never ran) before the context,
   * and the process before its files (hub_test_platform_spawnv). */
  while (server->ctx != NULL && g_main_context_iteration (server->ctx, FALSE))
    ;
  g_clear_object (&server->proc);
  g_clear_pointer (&server->ctx, g_main_context_unref);
  /* Freed normally: its logs are of no interest any more. */
  if (server->stderr_path != NULL)
    g_unlink (server->stderr_path);
  if (server->stdout_path != NULL)
    g_unlink (server->stdout_path);
  if (server->own_dir != NULL)
    g_rmdir (server->own_dir);
  g_free (server->own_dir);
  g_free (server->stderr_path);
  g_free (server->stdout_path);
  g_free (server->first_line);
  g_free (server->node);
  g_mutex_clear (&server->lock);
  g_cond_clear (&server->cond);
  g_free (server);
}

void
hub_test_server_free_all (void)
{
  while (live_servers != NULL && live_servers->len > 0)
    hub_test_server_free (g_ptr_array_index (live_servers, live_servers->len - 1));
  g_clear_pointer (&live_servers, g_ptr_array_unref);
}

static char *log_dir; /* (owned) in Check's parent process, between begin and end */

void
hub_test_server_logs_begin (void)
{
  g_clear_pointer (&log_dir, g_free);
  log_dir = g_dir_make_tmp ("hub-itest-logs-XXXXXX", NULL);
  if (log_dir != NULL)
    g_setenv (LOG_DIR_ENV, log_dir, TRUE);
}

void
hub_test_server_logs_end (void)
{
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_unsetenv (LOG_DIR_ENV);
  if (log_dir == NULL)
    return;
  dir = g_dir_open (log_dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, (GCompareFunc)g_strcmp0);
  for (guint i = 0; i < names->len; i++) {
    g_autofree char *path = g_build_filename (log_dir, g_ptr_array_index (names, i), NULL);
    g_autofree char *text = NULL;
    gsize len = 0;

    if (g_file_get_contents (path, &text, &len, NULL) && len > 0)
      fprintf (stderr, "---- %s (left by a failed test) ----\n%s---- end ----\n",
               (const char *)g_ptr_array_index (names, i), text);
    g_unlink (path);
  }
  g_rmdir (log_dir);
  g_clear_pointer (&log_dir, g_free);
}

/* ---- HTTP ---- */

void
hub_test_http_response_free (HubTestHttpResponse *response)
{
  if (response == NULL)
    return;
  g_free (response->status_line);
  g_clear_pointer (&response->headers, g_hash_table_unref);
  g_free (response->body);
  g_free (response);
}

GSocketConnection *
hub_test_tcp_connect (guint16 port, GError **error)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();

  g_socket_client_set_timeout (client, IO_TIMEOUT_S);
  return g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, error);
}

guint
hub_test_raw_http (guint16 port, const void *request, gsize len, guint timeout_ms, char **head)
{
  g_autoptr (GSocketConnection) conn = hub_test_tcp_connect (port, NULL);
  g_autoptr (GString) got = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * 1000;
  GSocket *sock;
  const char *end;

  if (head != NULL)
    *head = NULL;
  if (conn == NULL)
    return 0;
  sock = g_socket_connection_get_socket (conn);
  if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), request, len,
                                  NULL, NULL, NULL))
    return 0;
  while ((end = strstr (got->str, "\r\n\r\n")) == NULL && g_get_monotonic_time () < deadline) {
    char buf[4096];
    gssize n;

    if (!g_socket_condition_timed_wait (sock, G_IO_IN, deadline - g_get_monotonic_time (), NULL,
                                        NULL))
      break;
    n = g_socket_receive (sock, buf, sizeof buf, NULL, NULL);
    if (n <= 0)
      break;
    g_string_append_len (got, buf, n);
  }
  if (!g_str_has_prefix (got->str, "HTTP/1.") || got->len < 12 || end == NULL)
    return 0;
  if (head != NULL)
    *head = g_strndup (got->str, (gsize)(end - got->str));
  return (guint)g_ascii_strtoull (got->str + 9, NULL, 10);
}

static const char *
find_crlfcrlf (const guint8 *data, gsize len)
{
  for (gsize i = 0; i + 3 < len; i++)
    if (memcmp (data + i, "\r\n\r\n", 4) == 0)
      return (const char *)data + i;
  return NULL;
}

/* Decodes a chunked body; TRUE once the last chunk arrived. */
static gboolean
dechunk (const char *data, gsize len, GString *out)
{
  gsize pos = 0;

  g_string_truncate (out, 0);
  for (;;) {
    const char *eol = g_strstr_len (data + pos, len - pos, "\r\n");
    guint64 size;

    if (eol == NULL)
      return FALSE;
    size = g_ascii_strtoull (data + pos, NULL, 16);
    pos = (eol - data) + 2;
    if (size == 0)
      return g_strstr_len (data + pos, len - pos, "\r\n") != NULL;
    if (pos + size + 2 > len)
      return FALSE;
    g_string_append_len (out, data + pos, size);
    pos += size + 2;
  }
}

HubTestHttpResponse *
hub_test_http_request (guint16 port, const char *method, const char *path,
                       const char *const *extra_headers, const char *body, GError **error)
{
  g_autoptr (GSocketConnection) conn = hub_test_tcp_connect (port, error);
  g_autoptr (GString) req = g_string_new (NULL);
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  g_autoptr (HubTestHttpResponse) response = NULL;
  g_autoptr (GString) chunked = NULL;
  gboolean has_connection = FALSE, has_type = FALSE;
  gsize body_start = 0; /* an offset: buf->data moves as buf grows */
  gboolean have_head = FALSE;
  gint64 content_length = -1;
  g_auto (GStrv) lines = NULL;

  if (conn == NULL)
    return NULL;
  g_string_append_printf (req, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n", method, path, port);
  for (guint i = 0; extra_headers != NULL && extra_headers[i] != NULL; i++) {
    has_connection |= g_ascii_strncasecmp (extra_headers[i], "connection:", 11) == 0;
    has_type |= g_ascii_strncasecmp (extra_headers[i], "content-type:", 13) == 0;
    g_string_append_printf (req, "%s\r\n", extra_headers[i]);
  }
  if (!has_connection)
    g_string_append (req, "Connection: close\r\n");
  if (body != NULL) {
    if (!has_type)
      g_string_append (req, "Content-Type: application/json\r\n");
    g_string_append_printf (req, "Content-Length: %" G_GSIZE_FORMAT "\r\n", strlen (body));
  }
  g_string_append (req, "\r\n");
  if (body != NULL)
    g_string_append (req, body);
  if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), req->str,
                                  req->len, NULL, NULL, error))
    return NULL;

  response = g_new0 (HubTestHttpResponse, 1);
  response->headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  /* Read the head, then the body as its framing says. */
  for (;;) {
    guint8 chunk[16384];
    gssize n;

    if (!have_head) {
      const char *head_end = find_crlfcrlf (buf->data, buf->len);

      if (head_end != NULL) {
        g_autofree char *head = g_strndup ((const char *)buf->data, head_end - (char *)buf->data);
        const char *value;

        have_head = TRUE;
        body_start = (head_end - (const char *)buf->data) + 4;
        lines = g_strsplit (head, "\r\n", -1);
        response->status_line = g_strdup (lines[0]);
        if (g_str_has_prefix (lines[0], "HTTP/1.") && strlen (lines[0]) >= 12)
          response->status = (guint)g_ascii_strtoull (lines[0] + 9, NULL, 10);
        for (guint i = 1; lines[i] != NULL; i++) {
          char *colon = strchr (lines[i], ':');

          if (colon == NULL)
            continue;
          g_hash_table_replace (response->headers, g_ascii_strdown (lines[i], colon - lines[i]),
                                g_strstrip (g_strdup (colon + 1)));
        }
        if (response->status == 101) {
          response->upgraded = TRUE;
          break;
        }
        value = g_hash_table_lookup (response->headers, "content-length");
        if (value != NULL)
          content_length = g_ascii_strtoll (value, NULL, 10);
        value = g_hash_table_lookup (response->headers, "transfer-encoding");
        if (value != NULL && g_ascii_strcasecmp (value, "chunked") == 0)
          chunked = g_string_new (NULL);
        if (g_ascii_strcasecmp (method, "HEAD") == 0 || response->status == 204 ||
            response->status == 304)
          content_length = 0;
      }
    }
    if (have_head) {
      gsize have;

      have = buf->len - body_start;
      if (chunked != NULL && dechunk ((const char *)buf->data + body_start, have, chunked))
        break;
      if (chunked == NULL && content_length >= 0 && have >= (gsize)content_length)
        break;
    }
    n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), chunk, sizeof chunk,
                             NULL, error);
    if (n < 0)
      return NULL;
    if (n == 0)
      break; /* EOF: the body ends here when it had no framing */
    g_byte_array_append (buf, chunk, n);
  }
  if (!have_head) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 "connection closed before a complete HTTP head (%u bytes)", buf->len);
    return NULL;
  }
  if (chunked != NULL) {
    response->body_len = chunked->len;
    response->body = g_strndup (chunked->str, chunked->len);
  } else {
    gsize len = buf->len - body_start;

    if (content_length >= 0 && (gsize)content_length < len)
      len = content_length;
    response->body_len = len;
    response->body = g_strndup ((const char *)buf->data + body_start, len);
  }
  return g_steal_pointer (&response);
}

HubTestHttpResponse *
hub_test_http_get (guint16 port, const char *path)
{
  g_autoptr (GError) error = NULL;
  HubTestHttpResponse *response = hub_test_http_request (port, "GET", path, NULL, NULL, &error);

  ck_assert_msg (response != NULL, "GET %s should get an answer: %s", path,
                 error ? error->message : "?");
  return response;
}

HubTestHttpResponse *
hub_test_http_post (guint16 port, const char *path, const char *token, const char *body)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *auth = token ? g_strdup_printf ("Authorization: Bearer %s", token) : NULL;
  const char *headers[] = {auth, NULL};
  HubTestHttpResponse *response = hub_test_http_request (port, "POST", path, headers, body, &error);

  ck_assert_msg (response != NULL, "POST %s should get an answer: %s", path,
                 error ? error->message : "?");
  return response;
}

JsonObject *
hub_test_json_parse (const char *text, gsize len)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (!json_parser_load_from_data (parser, text, len, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  return json_object_ref (json_node_get_object (root));
}

char *
hub_test_json_encode (JsonObject *object)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_set_object (node, object);
  return json_to_string (node, FALSE);
}

JsonObject *
hub_test_http_response_json (HubTestHttpResponse *response)
{
  JsonObject *object = hub_test_json_parse (response->body, response->body_len);

  ck_assert_msg (object != NULL, "HTTP body should be a JSON object (status %u): \"%s\"",
                 response->status, response->body);
  return object;
}

const char *
hub_test_http_response_header (HubTestHttpResponse *response, const char *name)
{
  g_autofree char *lower = g_ascii_strdown (name, -1);

  return g_hash_table_lookup (response->headers, lower);
}

const char *
hub_test_json_string (JsonObject *object, const char *member)
{
  JsonNode *node = object ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static JsonNode *
member_or_fail (JsonObject *object, const char *member, const char *what)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL) {
    g_autofree char *text = hub_test_json_encode (object);

    ck_abort_msg ("\"%s\" (%s) should be present in %s", member, what, text);
  }
  return node;
}

gint64
hub_test_json_int (JsonObject *object, const char *member)
{
  JsonNode *node = member_or_fail (object, member, "an integer");

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64) {
    g_autofree char *text = hub_test_json_encode (object);

    ck_abort_msg ("\"%s\" should be an integer in %s", member, text);
  }
  return json_node_get_int (node);
}

gboolean
hub_test_json_bool (JsonObject *object, const char *member)
{
  JsonNode *node = member_or_fail (object, member, "a boolean");

  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN) {
    g_autofree char *text = hub_test_json_encode (object);

    ck_abort_msg ("\"%s\" should be a boolean in %s", member, text);
  }
  return json_node_get_boolean (node);
}

JsonArray *
hub_test_json_array (JsonObject *object, const char *member)
{
  JsonNode *node = member_or_fail (object, member, "an array");

  if (!JSON_NODE_HOLDS_ARRAY (node)) {
    g_autofree char *text = hub_test_json_encode (object);

    ck_abort_msg ("\"%s\" should be an array in %s", member, text);
  }
  return json_node_get_array (node);
}

JsonObject *
hub_test_json_object (JsonObject *object, const char *member)
{
  JsonNode *node = member_or_fail (object, member, "an object");

  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_autofree char *text = hub_test_json_encode (object);

    ck_abort_msg ("\"%s\" should be an object in %s", member, text);
  }
  return json_node_get_object (node);
}

gboolean
hub_test_json_array_has_string (JsonArray *array, const char *value)
{
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *node = json_array_get_element (array, i);

    if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING &&
        g_strcmp0 (json_node_get_string (node), value) == 0)
      return TRUE;
  }
  return FALSE;
}

JsonObject *
hub_test_json_array_find (JsonArray *array, const char *key, const char *value)
{
  for (guint i = 0; i < json_array_get_length (array); i++) {
    JsonNode *node = json_array_get_element (array, i);

    if (JSON_NODE_HOLDS_OBJECT (node) &&
        g_strcmp0 (hub_test_json_string (json_node_get_object (node), key), value) == 0)
      return json_node_get_object (node);
  }
  return NULL;
}

gboolean
hub_test_metric_value (const char *text, const char *name, double *value)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  gsize name_len = strlen (name);

  for (guint i = 0; lines[i] != NULL; i++) {
    const char *line = lines[i];

    if (line[0] == '#' || strncmp (line, name, name_len) != 0 || line[name_len] != ' ')
      continue;
    *value = g_ascii_strtod (line + name_len + 1, NULL);
    return TRUE;
  }
  return FALSE;
}
