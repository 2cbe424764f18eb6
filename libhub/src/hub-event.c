/* hub-event.c: hub_event_log(): an event's fields as one GLib structured log
 * entry (fields named HUB_<KEY>, the kind in HUB_EVENT). */
#include "hub/hub-event.h"

#include <stdarg.h>
#include <string.h>

#define MAX_PAIRS 12

void
hub_event_log (const char *domain, GLogLevelFlags level, const char *event, const char *message,
               ...)
{
  GLogField fields[4 + MAX_PAIRS];
  char keys[MAX_PAIRS][32];
  gsize n = 0;
  guint pairs = 0;
  const char *key;
  va_list ap;

  g_return_if_fail (event != NULL && message != NULL);
  fields[n++] = (GLogField){"GLIB_DOMAIN", domain != NULL ? domain : "hub", -1};
  fields[n++] = (GLogField){"MESSAGE", message, -1};
  fields[n++] = (GLogField){HUB_EVENT_FIELD, event, -1};
  va_start (ap, message);
  while ((key = va_arg (ap, const char *)) != NULL) {
    const char *value = va_arg (ap, const char *);
    char *k;

    if (value == NULL || pairs >= MAX_PAIRS)
      continue;
    k = keys[pairs++];
    g_snprintf (k, sizeof keys[0], "HUB_%s", key);
    for (char *p = k + 4; *p != '\0'; p++)
      *p = g_ascii_toupper (*p);
    fields[n++] = (GLogField){k, value, -1};
  }
  va_end (ap);
  g_log_structured_array (level, fields, n);
}
