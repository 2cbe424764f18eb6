/* hub-client-util.c: HubClient's pure helpers: state names, the reconnect
 * policy (which close codes are final, the full-jitter backoff), when a token
 * is refreshed, default options and ws:// / wss:// URL parsing. */
#include "hub/hub-client.h"

#include <string.h>

const char *
hub_client_state_to_string (HubClientState state)
{
  switch (state) {
    case HUB_CLIENT_DISCONNECTED:
      return "disconnected";
    case HUB_CLIENT_CONNECTING:
      return "connecting";
    case HUB_CLIENT_CONNECTED:
      return "connected";
    case HUB_CLIENT_RECONNECTING:
      return "reconnecting";
    default:
      return "?";
  }
}

gboolean
hub_client_close_code_is_final (guint close_code)
{
  return close_code == 4001 || close_code == 4010;
}

/* splitmix64: eight bytes of state per client, good enough for jitter. */
static guint64
next_random (guint64 *state)
{
  guint64 z = (*state += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

guint
hub_client_backoff_delay_ms (guint64 *rng_state, guint min_ms, guint max_ms, guint attempt)
{
  guint64 cap = MAX (min_ms, 1);

  for (guint i = 1; i < attempt && cap < max_ms; i++)
    cap *= 2;
  cap = MIN (cap, MAX (max_ms, 1));
  return (guint)(next_random (rng_state) % (cap + 1));
}

gint64
hub_client_refresh_delay_ms (guint64 *rng_state, gint64 remaining_ms)
{
  /* A century: the product below stays far from overflowing. */
  gint64 remaining = MIN (remaining_ms, (gint64)100 * 366 * 24 * 3600 * 1000);

  if (remaining <= 0)
    return 0;
  return remaining * (gint64)(750 + next_random (rng_state) % 101) / 1000;
}

void
hub_client_options_init (HubClientOptions *options)
{
  memset (options, 0, sizeof *options);
  options->auto_reconnect = TRUE;
  options->backoff_min_ms = 250;
  options->backoff_max_ms = 30000;
  options->request_timeout_ms = 30000;
}

void
hub_client_url_clear (HubClientUrl *url)
{
  g_clear_pointer (&url->host, g_free);
  g_clear_pointer (&url->path, g_free);
}

gboolean
hub_client_url_parse (const char *url, HubClientUrl *out, GError **error)
{
  const char *rest, *host_end, *path;
  g_autofree char *host = NULL;
  guint64 port;

  memset (out, 0, sizeof *out);
  if (g_ascii_strncasecmp (url, "ws://", 5) == 0) {
    rest = url + 5;
    port = 80;
  } else if (g_ascii_strncasecmp (url, "wss://", 6) == 0) {
    rest = url + 6;
    out->tls = TRUE;
    port = 443;
  } else {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: not a ws:// or wss:// URL",
                 url);
    return FALSE;
  }
  path = strchr (rest, '/');
  if (path == NULL)
    path = rest + strlen (rest);
  if (rest[0] == '[') {
    host_end = memchr (rest, ']', path - rest);
    if (host_end == NULL) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: unclosed [", url);
      return FALSE;
    }
    host = g_strndup (rest + 1, host_end - rest - 1);
    host_end++;
  } else {
    host_end = memchr (rest, ':', path - rest);
    if (host_end == NULL)
      host_end = path;
    host = g_strndup (rest, host_end - rest);
  }
  if (host[0] == '\0') {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: no host", url);
    return FALSE;
  }
  if (host_end < path) {
    g_autofree char *digits = NULL;
    char *end = NULL;

    if (*host_end != ':') {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: junk after the host", url);
      return FALSE;
    }
    digits = g_strndup (host_end + 1, path - host_end - 1);
    port = g_ascii_strtoull (digits, &end, 10);
    if (digits[0] == '\0' || *end != '\0' || port == 0 || port > 65535) {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: bad port", url);
      return FALSE;
    }
  }
  out->host = g_steal_pointer (&host);
  out->port = (guint16)port;
  out->path = g_strdup (path[0] != '\0' ? path : "/ws");
  return TRUE;
}
