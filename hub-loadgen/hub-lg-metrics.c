/* hub-lg-metrics.c: a minimal HTTP client (GSocketClient, one request per
 * connection) and the Prometheus text parser of hub-lg-metrics.h. */
#include "hub-lg-metrics.h"

#include <gio/gio.h>
#include <math.h>
#include <string.h>

#define MAX_ANSWER (4u << 20)

typedef struct {
  gboolean tls;
  char *host;
  guint16 port;
  char *path;
} HttpUrl;

static gboolean
split_url (const char *url, HttpUrl *out, GError **error)
{
  const char *rest, *slash, *colon, *host_end;
  guint64 port;

  memset (out, 0, sizeof *out);
  if (g_str_has_prefix (url, "http://")) {
    rest = url + 7;
  } else if (g_str_has_prefix (url, "https://")) {
    rest = url + 8;
    out->tls = TRUE;
  } else {
    goto bad;
  }
  slash = strchr (rest, '/');
  host_end = slash != NULL ? slash : rest + strlen (rest);
  if (*rest == '[') {
    const char *close = memchr (rest, ']', host_end - rest);

    if (close == NULL)
      goto bad;
    out->host = g_strndup (rest + 1, close - rest - 1);
    colon = close[1] == ':' ? close + 1 : NULL;
  } else {
    colon = memchr (rest, ':', host_end - rest);
    out->host = g_strndup (rest, (colon != NULL ? colon : host_end) - rest);
  }
  out->port = out->tls ? 443 : 80;
  if (colon != NULL) {
    g_autofree char *digits = g_strndup (colon + 1, host_end - colon - 1);

    if (!g_ascii_string_to_unsigned (digits, 10, 1, 65535, &port, NULL))
      goto bad;
    out->port = (guint16)port;
  }
  out->path = g_strdup (slash != NULL ? slash : "/");
  if (*out->host != '\0')
    return TRUE;

bad:
  g_free (out->host);
  g_free (out->path);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "'%s' is not an http(s) URL", url);
  return FALSE;
}

/* Undoes Transfer-Encoding: chunked in place; FALSE when malformed. */
static gboolean
dechunk (GString *body)
{
  GString *out = g_string_new (NULL);
  const char *p = body->str, *end = body->str + body->len;

  while (p < end) {
    char *after;
    guint64 size = g_ascii_strtoull (p, &after, 16);
    const char *line_end = strstr (p, "\r\n");

    if (after == p || line_end == NULL)
      break;
    p = line_end + 2;
    if (size == 0) {
      g_string_assign (body, out->str);
      g_string_free (out, TRUE);
      return TRUE;
    }
    if ((guint64)(end - p) < size)
      break;
    g_string_append_len (out, p, (gssize)size);
    p += size + 2;
  }
  g_string_free (out, TRUE);
  return FALSE;
}

char *
hub_lg_http_get (const char *url, guint timeout_ms, gboolean insecure, GError **error)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) conn = NULL;
  g_autoptr (GString) answer = g_string_new (NULL);
  g_autofree char *request = NULL;
  GInputStream *in;
  HttpUrl u;
  const char *head_end, *status;
  char buf[16384];
  gssize n;
  guint code = 0;
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * 1000;

  if (!split_url (url, &u, error))
    return NULL;
  g_socket_client_set_timeout (client, MAX (1, (timeout_ms + 999) / 1000));
  if (u.tls) {
    g_socket_client_set_tls (client, TRUE);
    if (insecure)
      g_socket_client_set_tls_validation_flags (client, 0);
  }
  conn = g_socket_client_connect_to_host (client, u.host, u.port, NULL, error);
  request = g_strdup_printf ("GET %s HTTP/1.0\r\nHost: %s:%u\r\nConnection: close\r\n"
                             "User-Agent: hub-loadgen\r\n\r\n",
                             u.path, u.host, u.port);
  g_free (u.host);
  g_free (u.path);
  if (conn == NULL)
    return NULL;
  if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), request,
                                  strlen (request), NULL, NULL, error))
    return NULL;
  in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
  while ((n = g_input_stream_read (in, buf, sizeof buf, NULL, error)) > 0) {
    g_string_append_len (answer, buf, n);
    if (answer->len > MAX_ANSWER || g_get_monotonic_time () > deadline) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "%s: answer too long or too slow", url);
      return NULL;
    }
  }
  if (n < 0)
    return NULL;
  head_end = strstr (answer->str, "\r\n\r\n");
  status = strchr (answer->str, ' ');
  if (head_end == NULL || status == NULL || !g_str_has_prefix (answer->str, "HTTP/")) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not an HTTP answer", url);
    return NULL;
  }
  code = (guint)g_ascii_strtoull (status + 1, NULL, 10);
  if (code != 200) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: HTTP status %u", url, code);
    return NULL;
  }
  {
    g_autofree char *head = g_ascii_strdown (answer->str, head_end - answer->str);
    gboolean chunked = strstr (head, "transfer-encoding: chunked") != NULL;

    g_string_erase (answer, 0, head_end + 4 - answer->str);
    if (chunked && !dechunk (answer)) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: bad chunked body", url);
      return NULL;
    }
  }
  return g_strdup (answer->str);
}

GHashTable *
hub_lg_metrics_parse (const char *text)
{
  GHashTable *metrics = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto (GStrv) lines = g_strsplit (text != NULL ? text : "", "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++) {
    char *line = g_strstrip (lines[i]);
    char *space, *end = NULL;
    double value;

    if (*line == '\0' || *line == '#' || strchr (line, '{') != NULL)
      continue;
    space = strpbrk (line, " \t");
    if (space == NULL)
      continue;
    *space = '\0';
    value = g_ascii_strtod (g_strchug (space + 1), &end);
    /* A timestamp may follow the value. */
    if (end == space + 1 || !isfinite (value) || (*end != '\0' && *end != ' ' && *end != '\t'))
      continue;
    {
      double *slot = g_new (double, 1);

      *slot = value;
      g_hash_table_replace (metrics, g_strdup (line), slot);
    }
  }
  return metrics;
}

double
hub_lg_metrics_get (GHashTable *metrics, const char *name, double fallback)
{
  const double *v = metrics != NULL ? g_hash_table_lookup (metrics, name) : NULL;

  return v != NULL ? *v : fallback;
}
