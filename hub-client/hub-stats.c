/* hub-stats.c: an HTTP/1.0 GET of /api/stats over GSocketClient, asynchronous
 * on the main loop: connect, write the request, read to EOF (bounded), parse. */
#include "hub-stats.h"

#include <string.h>

#define MAX_ANSWER_BYTES (1024 * 1024)
#define TIMEOUT_S        5

typedef struct {
  GSocketConnection *connection; /* (owned) (nullable) */
  char *request;                 /* (owned) */
  GByteArray *answer;            /* (owned) */
} Fetch;

static void
fetch_free (Fetch *fetch)
{
  g_clear_object (&fetch->connection);
  g_free (fetch->request);
  g_byte_array_unref (fetch->answer);
  g_free (fetch);
}

static JsonObject *
parse_answer (GByteArray *answer, GError **error)
{
  const char *text = (const char *)answer->data;
  const char *body = g_strstr_len (text, answer->len, "\r\n\r\n");
  g_autoptr (JsonParser) parser = json_parser_new ();
  guint status = 0;
  JsonNode *root;

  if (answer->len < 12 || strncmp (text, "HTTP/1.", 7) != 0 || body == NULL) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not an HTTP answer");
    return NULL;
  }
  status = (guint)g_ascii_strtoull (text + 9, NULL, 10);
  body += 4;
  if (status != 200) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "/api/stats answered HTTP %u", status);
    return NULL;
  }
  if (!json_parser_load_from_data (parser, body, (gssize)(answer->len - (body - text)), error))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "/api/stats is not a JSON object");
    return NULL;
  }
  return json_object_ref (json_node_get_object (root));
}

static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  Fetch *fetch = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes =
      g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
  JsonObject *stats;

  if (bytes == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  if (g_bytes_get_size (bytes) > 0) {
    if (fetch->answer->len + g_bytes_get_size (bytes) > MAX_ANSWER_BYTES) {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                               "/api/stats answer too large");
      return;
    }
    GCancellable *cancellable = g_task_get_cancellable (task);

    g_byte_array_append (fetch->answer, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
    g_input_stream_read_bytes_async (G_INPUT_STREAM (source), 16384, G_PRIORITY_DEFAULT,
                                     cancellable, on_read, g_steal_pointer (&task));
    return;
  }
  g_byte_array_append (fetch->answer, (const guint8 *)"", 1); /* NUL for the string functions */
  fetch->answer->len--;
  stats = parse_answer (fetch->answer, &error);
  if (stats == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, stats, (GDestroyNotify)json_object_unref);
}

static void
on_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  Fetch *fetch = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr (GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error)) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_input_stream_read_bytes_async (g_io_stream_get_input_stream (G_IO_STREAM (fetch->connection)),
                                   16384, G_PRIORITY_DEFAULT, cancellable, on_read,
                                   g_steal_pointer (&task));
}

static void
on_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  Fetch *fetch = g_task_get_task_data (task);
  GCancellable *cancellable = g_task_get_cancellable (task);
  g_autoptr (GError) error = NULL;

  fetch->connection =
      g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), result, &error);
  if (fetch->connection == NULL) {
    g_task_return_error (task, g_steal_pointer (&error));
    return;
  }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (fetch->connection)),
                                   fetch->request, strlen (fetch->request), G_PRIORITY_DEFAULT,
                                   cancellable, on_written, g_steal_pointer (&task));
}

void
hub_stats_fetch_async (const HubClientUrl *url, gboolean allow_self_signed,
                       GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  Fetch *fetch = g_new0 (Fetch, 1);
  gboolean v6 = strchr (url->host, ':') != NULL;

  fetch->answer = g_byte_array_new ();
  fetch->request = g_strdup_printf ("GET /api/stats HTTP/1.0\r\nHost: %s%s%s:%u\r\n"
                                    "Accept: application/json\r\nConnection: close\r\n\r\n",
                                    v6 ? "[" : "", url->host, v6 ? "]" : "", url->port);
  g_task_set_task_data (task, fetch, (GDestroyNotify)fetch_free);
  g_socket_client_set_timeout (client, TIMEOUT_S);
  if (url->tls) {
    g_socket_client_set_tls (client, TRUE);
    if (allow_self_signed)
      g_socket_client_set_tls_validation_flags (client, 0);
  }
  g_socket_client_connect_to_host_async (client, url->host, url->port, cancellable, on_connected,
                                         task);
}

JsonObject *
hub_stats_fetch_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}
