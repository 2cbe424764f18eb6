/* hub-log.h: hub-server's logging: GLib structured logging filtered by
 * --log-level, with libwebsockets' own warnings and errors routed into it
 * (rate-limited, so hostile clients cannot flood stderr). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  HUB_LOG_LEVEL_ERROR,
  HUB_LOG_LEVEL_WARNING,
  HUB_LOG_LEVEL_INFO,
  HUB_LOG_LEVEL_DEBUG,
} HubLogLevel;

/* "error", "warning", "info" or "debug"; FALSE for anything else. */
gboolean hub_log_level_from_string (const char *str, HubLogLevel *level);
const char *hub_log_level_to_string (HubLogLevel level);

/* Installs the GLib log writer and lws's log emitter. Call once, early. */
void hub_log_init (HubLogLevel level);

G_END_DECLS
