/* hub-client-probe.c: a failed connection retraced with GIO, one step at a
 * time (connect, TLS, upgrade), so that the step that fails names itself:
 * GSocketClient for the lookup and the TCP connect, GTlsClientConnection
 * for the handshake (with glib-networking; without it only the plain-HTTP
 * check below), then an HTTP/1.1 upgrade request whose status line is read.
 * A TLS handshake that fails is followed by a plain request to the same port:
 * a server that answers it in HTTP does not speak TLS. */
#include "hub/hub-client-probe.h"

#include <string.h>

#define DEFAULT_TIMEOUT_MS 5000
#define MAX_HEAD_BYTES     8192
#define UPGRADE_KEY        "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455's example; any 16 bytes do */

typedef enum {
  STEP_CONNECT,
  STEP_TLS,
  STEP_UPGRADE,
  STEP_PLAIN_CHECK, /* after a failed handshake: does the port speak plain HTTP? */
} Step;

typedef struct {
  HubClientUrl url; /* (owned) */
  char *ca_file;    /* (owned) (nullable) */
  gboolean allow_self_signed;
  guint timeout_ms;
  Step step;
  GCancellable *cancellable; /* (owned) ours: the caller's and the deadline's */
  gulong caller_cancelled;
  GCancellable *caller; /* (owned) (nullable) */
  GSource *deadline;    /* (owned) */
  gboolean timed_out;
  GIOStream *stream;             /* (owned) (nullable) the connection in use */
  GTlsCertificateFlags rejected; /* what made the certificate unacceptable */
  GError *tls_error;             /* (owned) (nullable) the handshake's own words */
  char *request;                 /* (owned) */
  GByteArray *head;              /* (owned) what came back */
} Probe;

static void
probe_free (Probe *probe)
{
  if (probe->caller != NULL) {
    g_cancellable_disconnect (probe->caller, probe->caller_cancelled);
    g_object_unref (probe->caller);
  }
  if (probe->deadline != NULL) {
    g_source_destroy (probe->deadline);
    g_source_unref (probe->deadline);
  }
  g_clear_object (&probe->cancellable);
  g_clear_object (&probe->stream);
  g_clear_error (&probe->tls_error);
  hub_client_url_clear (&probe->url);
  g_free (probe->ca_file);
  g_free (probe->request);
  g_byte_array_unref (probe->head);
  g_free (probe);
}

static const char *
bracket_open (const Probe *probe)
{
  return strchr (probe->url.host, ':') != NULL ? "[" : "";
}

static const char *
bracket_close (const Probe *probe)
{
  return strchr (probe->url.host, ':') != NULL ? "]" : "";
}

/* "127.0.0.1:8080", "[::1]:8080" (transfer full) */
static char *
where (const Probe *probe)
{
  return g_strdup_printf ("%s%s%s:%u", bracket_open (probe), probe->url.host, bracket_close (probe),
                          probe->url.port);
}

/* The part of a GLib message after its "Error resolving “x”: " or "Could not
 * connect to x: " preamble. (transfer none) */
static const char *
reason_of (const GError *error)
{
  const char *colon = strrchr (error->message, ':');

  return colon != NULL && colon[1] == ' ' && colon[2] != '\0' ? colon + 2 : error->message;
}

static void
fail (GTask *task, GError *error /* (transfer full) */)
{
  Probe *probe = g_task_get_task_data (task);

  if (probe->timed_out && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_autofree char *at = where (probe);

    g_clear_error (&error);
    error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "no answer from %s within %.1f s", at,
                         probe->timeout_ms / 1000.0);
  }
  g_task_return_error (task, error);
  g_object_unref (task);
}

static void start_plain_check (GTask *task);
static void send_request (GTask *task);
static void handshake (GTask *task);

static void
on_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Probe *probe = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnection) connection =
      g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), result, &error);
  g_autofree char *at = where (probe);

  if (connection == NULL) {
    if (error->domain == G_RESOLVER_ERROR)
      fail (task,
            g_error_new (G_RESOLVER_ERROR, error->code, "cannot resolve the host name %s (%s)",
                         probe->url.host, reason_of (error)));
    else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
      fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                               "connection refused by %s (no server listens there)", at));
    else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      fail (task, g_steal_pointer (&error));
    else
      fail (task, g_error_new (error->domain, error->code, "cannot connect to %s: %s", at,
                               reason_of (error)));
    return;
  }
  probe->stream = G_IO_STREAM (g_steal_pointer (&connection));
  if (probe->step == STEP_PLAIN_CHECK) {
    send_request (task);
    return;
  }
  if (!probe->url.tls) {
    probe->step = STEP_UPGRADE;
    send_request (task);
    return;
  }
  /* The handshake, apart, so that a failure is told as the TLS one it is. */
  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ())) {
    probe->tls_error = g_error_new_literal (G_TLS_ERROR, G_TLS_ERROR_UNAVAILABLE,
                                            "no TLS support in GIO (glib-networking)");
    start_plain_check (task);
    return;
  }
  handshake (task);
}

static gboolean
on_accept_certificate (GTlsConnection *connection, GTlsCertificate *certificate,
                       GTlsCertificateFlags errors, gpointer user_data)
{
  Probe *probe = user_data;

  if (probe->allow_self_signed)
    return TRUE;
  probe->rejected = errors;
  return FALSE;
}

/* "not trusted (signed by an unknown authority)…" from what the check found. (transfer full) */
static char *
certificate_text (const Probe *probe)
{
  GString *s = g_string_new ("the server's certificate ");
  GTlsCertificateFlags f = probe->rejected;

  if (f & G_TLS_CERTIFICATE_UNKNOWN_CA)
    g_string_append (s, "is signed by an authority not trusted here");
  else if (f & G_TLS_CERTIFICATE_BAD_IDENTITY)
    g_string_append_printf (s, "is not for %s", probe->url.host);
  else if (f & G_TLS_CERTIFICATE_EXPIRED)
    g_string_append (s, "has expired");
  else if (f & G_TLS_CERTIFICATE_NOT_ACTIVATED)
    g_string_append (s, "is not valid yet");
  else if (f & G_TLS_CERTIFICATE_REVOKED)
    g_string_append (s, "was revoked");
  else
    g_string_append (s, "was not accepted");
  if (f & (G_TLS_CERTIFICATE_UNKNOWN_CA | G_TLS_CERTIFICATE_BAD_IDENTITY))
    g_string_append (s, probe->ca_file != NULL ? " (not by the CA file given either)"
                                               : " (give its CA with --ca-file, or --insecure "
                                                 "for a test server)");
  return g_string_free (s, FALSE);
}

static void
on_handshake (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Probe *probe = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;

  if (!g_tls_connection_handshake_finish (G_TLS_CONNECTION (source), result, &error)) {
    g_autofree char *at = where (probe);

    if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      fail (task, g_steal_pointer (&error));
      return;
    }
    if (probe->rejected != 0) {
      g_autofree char *why = certificate_text (probe);

      fail (task, g_error_new (G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE,
                               "TLS handshake with %s failed: %s", at, why));
      return;
    }
    probe->tls_error = g_steal_pointer (&error);
    g_clear_object (&probe->stream);
    start_plain_check (task);
    return;
  }
  probe->step = STEP_UPGRADE;
  send_request (task);
}

static void
handshake (GTask *task)
{
  Probe *probe = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketConnectable) identity =
      g_network_address_new (probe->url.host, probe->url.port);
  GIOStream *tls;

  probe->step = STEP_TLS;
  tls = g_tls_client_connection_new (probe->stream, identity, &error);
  if (tls == NULL) {
    probe->tls_error = g_steal_pointer (&error);
    g_clear_object (&probe->stream);
    start_plain_check (task);
    return;
  }
  if (probe->ca_file != NULL) {
    g_autoptr (GTlsDatabase) database = g_tls_file_database_new (probe->ca_file, &error);

    if (database == NULL) {
      g_object_unref (tls);
      fail (task, g_error_new (G_TLS_ERROR, G_TLS_ERROR_MISC, "cannot read the CA file %s: %s",
                               probe->ca_file, error->message));
      return;
    }
    g_tls_connection_set_database (G_TLS_CONNECTION (tls), database);
  }
  g_signal_connect (tls, "accept-certificate", G_CALLBACK (on_accept_certificate), probe);
  g_clear_object (&probe->stream);
  probe->stream = tls;
  g_tls_connection_handshake_async (G_TLS_CONNECTION (tls), G_PRIORITY_DEFAULT, probe->cancellable,
                                    on_handshake, task);
}

static void
connect_plain (GTask *task)
{
  Probe *probe = g_task_get_task_data (task);
  g_autoptr (GSocketClient) client = g_socket_client_new ();

  g_socket_client_connect_to_host_async (client, probe->url.host, probe->url.port,
                                         probe->cancellable, on_connected, task);
}

static void
start_plain_check (GTask *task)
{
  Probe *probe = g_task_get_task_data (task);

  probe->step = STEP_PLAIN_CHECK;
  g_byte_array_set_size (probe->head, 0);
  connect_plain (task);
}

/* The status line's code, or 0 when @head is not an HTTP answer. */
static guint
http_status (const GByteArray *head, const char **reason_out, gsize *reason_len)
{
  const char *text = (const char *)head->data;
  const char *end = g_strstr_len (text, head->len, "\r\n");
  guint status;

  if (head->len < 12 || strncmp (text, "HTTP/1.", 7) != 0 || text[8] != ' ' ||
      !g_ascii_isdigit (text[9]) || !g_ascii_isdigit (text[10]) || !g_ascii_isdigit (text[11]))
    return 0;
  status = (guint)((text[9] - '0') * 100 + (text[10] - '0') * 10 + (text[11] - '0'));
  *reason_out = text + 12;
  *reason_len = end != NULL && end > text + 12 ? (gsize)(end - text - 12) : 0;
  while (*reason_len > 0 && **reason_out == ' ') {
    (*reason_out)++;
    (*reason_len)--;
  }
  return status;
}

/* The answer is in (or the connection ended): say what it means. */
static void
conclude (GTask *task)
{
  Probe *probe = g_task_get_task_data (task);
  g_autofree char *at = where (probe);
  const char *reason = NULL;
  gsize reason_len = 0;
  guint status = http_status (probe->head, &reason, &reason_len);

  if (probe->step == STEP_PLAIN_CHECK) {
    /* The handshake failed; the port's plain answer tells why. */
    if (status != 0)
      fail (task, g_error_new (G_TLS_ERROR, G_TLS_ERROR_NOT_TLS,
                               "TLS handshake with %s failed: the server speaks plain HTTP, not "
                               "TLS (use ws:// instead of wss://)",
                               at));
    else
      fail (task,
            g_error_new (G_TLS_ERROR, G_TLS_ERROR_HANDSHAKE, "TLS handshake with %s failed: %s", at,
                         probe->tls_error != NULL ? probe->tls_error->message : "?"));
    return;
  }
  if (status == 101) {
    g_task_return_boolean (task, TRUE);
    g_object_unref (task);
    return;
  }
  if (status == 404) {
    fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                             "no WebSocket endpoint at %s on %s (HTTP 404%s%.*s; hub-server "
                             "serves /ws)",
                             probe->url.path, at, reason_len > 0 ? " " : "", (int)reason_len,
                             reason != NULL ? reason : ""));
    return;
  }
  if (status != 0) {
    fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED,
                             "%s answered HTTP %u%s%.*s instead of a WebSocket upgrade at %s", at,
                             status, reason_len > 0 ? " " : "", (int)reason_len,
                             reason != NULL ? reason : "", probe->url.path));
    return;
  }
  if (probe->head->len == 0)
    fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED,
                             "%s closed the connection without answering the WebSocket "
                             "upgrade%s",
                             at, probe->url.tls ? "" : " (a TLS server? try wss://)"));
  else if (!probe->url.tls && probe->head->data[0] == 0x15)
    fail (task,
          g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED,
                       "%s answered in TLS, not plain HTTP (use wss:// instead of ws://)", at));
  else
    fail (task, g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED,
                             "%s did not answer in HTTP (is it a hub-server?)", at));
}

static void
on_read (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Probe *probe = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes =
      g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);

  if (bytes == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    fail (task, g_steal_pointer (&error));
    return;
  }
  if (bytes != NULL && g_bytes_get_size (bytes) > 0) {
    g_byte_array_append (probe->head, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
    if (probe->head->len < MAX_HEAD_BYTES &&
        g_strstr_len ((const char *)probe->head->data, probe->head->len, "\r\n") == NULL) {
      g_input_stream_read_bytes_async (g_io_stream_get_input_stream (probe->stream), 1024,
                                       G_PRIORITY_DEFAULT, probe->cancellable, on_read, task);
      return;
    }
  }
  /* A status line, the end of the stream, or a reset: enough to conclude. */
  conclude (task);
}

static void
on_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = user_data;
  Probe *probe = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    fail (task, g_steal_pointer (&error));
    return;
  }
  /* Even when the write failed (a reset), the peer may have answered first. */
  g_input_stream_read_bytes_async (g_io_stream_get_input_stream (probe->stream), 1024,
                                   G_PRIORITY_DEFAULT, probe->cancellable, on_read, task);
}

static void
send_request (GTask *task)
{
  Probe *probe = g_task_get_task_data (task);
  gboolean default_port = probe->url.port == (probe->url.tls ? 443 : 80);

  g_free (probe->request);
  if (probe->step == STEP_PLAIN_CHECK)
    probe->request = g_strdup_printf ("GET / HTTP/1.0\r\nHost: %s%s%s\r\n\r\n",
                                      bracket_open (probe), probe->url.host, bracket_close (probe));
  else {
    g_autofree char *host = default_port ? g_strdup_printf ("%s%s%s", bracket_open (probe),
                                                            probe->url.host, bracket_close (probe))
                                         : where (probe);

    probe->request = g_strdup_printf ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                                      "Connection: Upgrade\r\nSec-WebSocket-Key: " UPGRADE_KEY
                                      "\r\nSec-WebSocket-Version: 13\r\n"
                                      "Sec-WebSocket-Protocol: hub.v1\r\n\r\n",
                                      probe->url.path, host);
  }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (probe->stream), probe->request,
                                   strlen (probe->request), G_PRIORITY_DEFAULT, probe->cancellable,
                                   on_written, task);
}

static gboolean
on_deadline (gpointer user_data)
{
  Probe *probe = user_data;

  probe->timed_out = TRUE;
  g_cancellable_cancel (probe->cancellable);
  return G_SOURCE_REMOVE;
}

static void
on_caller_cancelled (GCancellable *caller, gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

void
hub_client_probe_async (const HubClientUrl *url, const char *ca_file, gboolean allow_self_signed,
                        guint timeout_ms, GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, user_data);
  Probe *probe = g_new0 (Probe, 1);

  probe->url.tls = url->tls;
  probe->url.host = g_strdup (url->host);
  probe->url.port = url->port;
  probe->url.path = g_strdup (url->path);
  probe->ca_file = g_strdup (ca_file);
  probe->allow_self_signed = allow_self_signed;
  probe->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
  probe->head = g_byte_array_new ();
  probe->cancellable = g_cancellable_new ();
  if (cancellable != NULL) {
    probe->caller = g_object_ref (cancellable);
    probe->caller_cancelled =
        g_cancellable_connect (cancellable, G_CALLBACK (on_caller_cancelled),
                               g_object_ref (probe->cancellable), g_object_unref);
  }
  g_task_set_task_data (task, probe, (GDestroyNotify)probe_free);
  g_task_set_source_tag (task, hub_client_probe_async);
  probe->deadline = g_timeout_source_new (probe->timeout_ms);
  g_source_set_callback (probe->deadline, on_deadline, probe, NULL);
  g_source_attach (probe->deadline, g_main_context_get_thread_default ());
  probe->step = STEP_CONNECT;
  connect_plain (task);
}

gboolean
hub_client_probe_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_sync_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **)user_data = g_object_ref (result);
}

gboolean
hub_client_probe_sync (const HubClientUrl *url, const char *ca_file, gboolean allow_self_signed,
                       guint timeout_ms, GError **error)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (GAsyncResult) result = NULL;
  gboolean ok;

  g_main_context_push_thread_default (context);
  hub_client_probe_async (url, ca_file, allow_self_signed, timeout_ms, NULL, on_sync_done, &result);
  while (result == NULL)
    g_main_context_iteration (context, TRUE);
  ok = hub_client_probe_finish (result, error);
  g_main_context_pop_thread_default (context);
  return ok;
}
