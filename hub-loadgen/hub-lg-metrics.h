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

/* The samples of a Prometheus text exposition: series (owned) → double*
 * (owned), a labelled series under its name and labels as written
 * (`hub_errors_total{code="internal"}`, `…_bucket{type="join",le="0.001"}`).
 * Comments and malformed lines are skipped. In a cluster (the server
 * publishes hub_cluster_* sums over its live nodes), the node-wide figures
 * the report compares (hub_frames_in_total, hub_messages_in_total,
 * hub_deliveries_total, hub_dropped_total, hub_slow_consumer_closes_total,
 * hub_connections, hub_users_online, hub_rooms) hold the cluster's, so one
 * scrape through a load balancer answers for every node; the scraped node's
 * own stay under "node:<name>". (transfer full) */
GHashTable *hub_lg_metrics_parse (const char *text);
/* A sample's value, or @fallback when absent. */
double hub_lg_metrics_get (GHashTable *metrics, const char *name, double fallback);
/* "cluster" when the figures are the cluster's sums, else "server". */
const char *hub_lg_metrics_scope (GHashTable *metrics);

/* GET and parse. In a cluster the sums hold each node's figures as it last
 * published them (every second or so): the scrape is repeated, at most
 * @settle_ms, until they stay the same from one scrape to the next, so a read
 * after the load stopped counts the end of the run on every node. NULL with
 * @error when the first scrape fails. (transfer full) */
GHashTable *hub_lg_metrics_read (const char *url, guint timeout_ms, gboolean insecure,
                                 guint settle_ms, GError **error);

G_END_DECLS
