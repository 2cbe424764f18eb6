/* hub-lg-metrics.h: reads the server's own figures (PROTOCOL.md §10, GET
 * /metrics in Prometheus text format) before and after a run, so the report
 * can set the loadgen's counts beside the server's. A blocking HTTP/1.0 GET
 * with a deadline: hub-loadgen calls it only outside the measured phases. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* GETs @url (http:// or https://; with @insecure any certificate is taken)
 * and returns the body of a 200 answer; NULL with @error otherwise (no answer
 * within @timeout_ms included). (transfer full) */
char *hub_lg_http_get (const char *url, guint timeout_ms, gboolean insecure, GError **error);

/* The unlabelled samples of a Prometheus text exposition: name (owned) →
 * double* (owned). Comments, labelled samples and malformed lines are
 * skipped. (transfer full) */
GHashTable *hub_lg_metrics_parse (const char *text);
/* A sample's value, or @fallback when absent. */
double hub_lg_metrics_get (GHashTable *metrics, const char *name, double fallback);

G_END_DECLS
