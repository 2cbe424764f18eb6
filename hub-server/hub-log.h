/* hub-log.h: hub-server's logging: GLib structured logging filtered by
 * --log-level, written to stderr as text or as one JSON object a line
 * (--log-format), with flood control by kind (--log-rate: beyond N lines of
 * one kind a second, one line counts the rest). Events of libhub and of the
 * server (hub/hub-event.h) carry fields, rendered as key=value or JSON
 * members. libwebsockets' own warnings and errors are routed in too. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  HUB_LOG_LEVEL_ERROR,
  HUB_LOG_LEVEL_WARNING,
  HUB_LOG_LEVEL_INFO,
  HUB_LOG_LEVEL_DEBUG,
} HubLogLevel;

typedef enum {
  HUB_LOG_FORMAT_TEXT,
  HUB_LOG_FORMAT_JSON,
} HubLogFormat;

/* "error", "warning", "info" or "debug"; FALSE for anything else. */
gboolean hub_log_level_from_string (const char *str, HubLogLevel *level);
const char *hub_log_level_to_string (HubLogLevel level);
/* "text" or "json"; FALSE for anything else. */
gboolean hub_log_format_from_string (const char *str, HubLogFormat *format);
const char *hub_log_format_to_string (HubLogFormat format);

/* Installs the GLib log writer and lws's log emitter. Call once, early.
 * @rate: lines of one kind written per second (0: no limit). */
void hub_log_init (HubLogLevel level, HubLogFormat format, guint rate);
/* Changes the settings of a running server (SIGHUP). */
void hub_log_configure (HubLogLevel level, HubLogFormat format, guint rate);
/* TRUE when lines of @level are written. */
gboolean hub_log_enabled (HubLogLevel level);

G_END_DECLS
