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

/* The end of a sample's series: after its name, or after the '}' closing
 * its labels (whose quoted values may hold spaces, braces and \" escapes);
 * NULL when malformed. */
static char *
series_end (char *line)
{
  char *p = line;
  gboolean quoted = FALSE;

  while (*p != '\0' && *p != '{' && *p != ' ' && *p != '\t')
    p++;
  if (*p != '{')
    return p;
  for (p++; *p != '\0'; p++) {
    if (quoted && *p == '\\' && p[1] != '\0')
      p++;
    else if (*p == '"')
      quoted = !quoted;
    else if (!quoted && *p == '}')
      return p + 1;
  }
  return NULL;
}

/* The cluster's sum of each figure the report compares (hub-dispatcher-ops.c,
 * hub-dispatcher.c). */
static const char *const cluster_sums[][2] = {
    {"hub_frames_in_total", "hub_cluster_frames_in_total"},
    {"hub_messages_in_total", "hub_cluster_messages_in_total"},
    {"hub_deliveries_total", "hub_cluster_deliveries_total"},
    {"hub_dropped_total", "hub_cluster_dropped_total"},
    {"hub_slow_consumer_closes_total", "hub_cluster_slow_consumer_closes_total"},
    {"hub_connections", "hub_cluster_connections"},
    {"hub_users_online", "hub_cluster_users_online"},
    {"hub_rooms", "hub_cluster_rooms"},
};

static void
use_cluster_sums (GHashTable *metrics)
{
  if (!g_hash_table_contains (metrics, "hub_cluster_deliveries_total"))
    return;
  for (guint i = 0; i < G_N_ELEMENTS (cluster_sums); i++) {
    double *own = g_hash_table_lookup (metrics, cluster_sums[i][0]);
    double *sum = g_hash_table_lookup (metrics, cluster_sums[i][1]);

    if (own != NULL) {
      double *copy = g_new (double, 1);

      *copy = *own;
      g_hash_table_insert (metrics, g_strconcat ("node:", cluster_sums[i][0], NULL), copy);
    }
    if (sum != NULL) {
      double *copy = g_new (double, 1);

      *copy = *sum;
      g_hash_table_insert (metrics, g_strdup (cluster_sums[i][0]), copy);
    }
  }
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

    if (*line == '\0' || *line == '#')
      continue;
    space = series_end (line);
    if (space == NULL || (*space != ' ' && *space != '\t'))
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
  use_cluster_sums (metrics);
  return metrics;
}

const char *
hub_lg_metrics_scope (GHashTable *metrics)
{
  return metrics != NULL && g_hash_table_contains (metrics, "hub_cluster_deliveries_total")
             ? "cluster"
             : "server";
}

/* The scrape is repeated this long after the last, longer than the nodes'
 * publishing interval (a second at most). */
#define SETTLE_STEP_MS 1200

static gboolean
same_sums (GHashTable *a, GHashTable *b)
{
  for (guint i = 0; i < G_N_ELEMENTS (cluster_sums); i++) {
    if (hub_lg_metrics_get (a, cluster_sums[i][1], -1) !=
        hub_lg_metrics_get (b, cluster_sums[i][1], -1))
      return FALSE;
  }
  return TRUE;
}

GHashTable *
hub_lg_metrics_read (const char *url, guint timeout_ms, gboolean insecure, guint settle_ms,
                     GError **error)
{
  g_autofree char *body = hub_lg_http_get (url, timeout_ms, insecure, error);
  GHashTable *metrics;
  gint64 deadline = g_get_monotonic_time () + (gint64)settle_ms * 1000;

  if (body == NULL)
    return NULL;
  metrics = hub_lg_metrics_parse (body);
  while (strcmp (hub_lg_metrics_scope (metrics), "cluster") == 0 &&
         g_get_monotonic_time () + SETTLE_STEP_MS * 1000 <= deadline) {
    g_autofree char *again = NULL;
    GHashTable *next;

    g_usleep (SETTLE_STEP_MS * 1000);
    again = hub_lg_http_get (url, timeout_ms, insecure, NULL);
    if (again == NULL)
      break;
    next = hub_lg_metrics_parse (again);
    if (same_sums (metrics, next)) {
      g_hash_table_unref (next);
      break;
    }
    g_hash_table_unref (metrics);
    metrics = next;
  }
  return metrics;
}

double
hub_lg_metrics_get (GHashTable *metrics, const char *name, double fallback)
{
  const double *v = metrics != NULL ? g_hash_table_lookup (metrics, name) : NULL;

  return v != NULL ? *v : fallback;
}
