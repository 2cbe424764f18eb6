/* hub-config.c: the server's settings with PROTOCOL.md's defaults, and their
 * deep copy (the dispatcher keeps its own copy of what hub-server parsed). */
#include "hub/hub-config.h"

#include <string.h>

#include "hub/hub-codec.h"

/* The host name made into a valid node name (PROTOCOL.md §2 name rule):
 * invalid characters become '-', a leading '@' too, at most 64 characters. */
static char *
node_name_from_host (const char *host)
{
  GString *name = g_string_new (NULL);

  for (const char *p = host; *p != '\0' && name->len < HUB_NAME_MAX; p++) {
    char c = *p;
    gboolean ok =
        g_ascii_isalnum (c) || c == '_' || c == '.' || c == '-' || (c == '@' && name->len > 0);

    g_string_append_c (name, ok ? c : '-');
  }
  if (name->len == 0)
    g_string_assign (name, "hub");
  return g_string_free (name, FALSE);
}

void
hub_config_init (HubConfig *config)
{
  g_return_if_fail (config != NULL);
  memset (config, 0, sizeof *config);
  config->node = node_name_from_host (g_get_host_name ());
  config->secret = NULL;
  config->secret_len = 0;
  config->heartbeat_s = 30;
  config->hello_timeout_s = 10;
  config->history_size = 100;
  config->history_room_bytes = 1024 * 1024;
  config->history_total_bytes = 256 * 1024 * 1024;
  config->max_message_bytes = 65536;
  config->max_queue_bytes = 1024 * 1024;
  config->rate_per_s = 100;
  config->burst = 200;
  config->max_rooms_per_user = 1000;
  config->max_empty_rooms_per_user = 100;
  config->empty_room_ttl_s = 600;
  config->auto_create = TRUE;
  config->presence_grace_s = 0;
  config->store_timeout_ms = 2000;
  config->max_connections_per_user = 32;
  config->max_subscriptions_per_user = 10000;
  config->fanout_bytes_per_s = 256 * 1024;
}

/* Frees the strings and leaves them NULL, so clearing twice is harmless. */
void
hub_config_clear (HubConfig *config)
{
  g_return_if_fail (config != NULL);
  g_clear_pointer (&config->node, g_free);
  g_clear_pointer (&config->secret, g_free);
  config->secret_len = 0;
}

/* @dst is overwritten without being cleared: pass uninitialised storage or a
 * cleared config. The secret is copied as secret_len bytes (it may hold NULs)
 * plus a terminating NUL. */
void
hub_config_copy (HubConfig *dst, const HubConfig *src)
{
  g_return_if_fail (dst != NULL);
  g_return_if_fail (src != NULL);
  if (dst == src)
    return;
  *dst = *src;
  dst->node = g_strdup (src->node);
  if (src->secret != NULL) {
    dst->secret = g_malloc (src->secret_len + 1);
    memcpy (dst->secret, src->secret, src->secret_len);
    dst->secret[src->secret_len] = '\0';
  }
}
