/* hub-event.h: log lines about what an operator acts on (a connection
 * closed, a token refused, Redis lost), as GLib structured log entries whose
 * fields a log writer renders as key=value or JSON members and counts by
 * kind (hub-server's --log-format and --log-rate). Without such a writer
 * they are ordinary GLib log messages. */
#pragma once

#include <glib.h>

#include "hub-api.h"

G_BEGIN_DECLS

/* The field naming an entry's kind ("close", "hello_refused", …). Other fields
 * are named HUB_<KEY>: a writer shows them as <key> in lower case. */
#define HUB_EVENT_FIELD "HUB_EVENT"

/* Logs @message at @level in the log domain @domain as event @event, with
 * the fields given as NULL-terminated pairs of a lower-case key (at most 27
 * characters) and a string value; a pair with a NULL value is left out, and
 * pairs beyond 12 are dropped. Never give a secret or a token as a value. */
HUB_API
void hub_event_log (const char *domain, GLogLevelFlags level, const char *event,
                    const char *message, ...) G_GNUC_NULL_TERMINATED;

G_END_DECLS
