/* hub-dispatcher-ops.c: what the dispatcher offers the people who run it: its
 * metrics (errors by code, request latency by type), the event lines of
 * refused requests, the cluster-wide figures of /metrics, and the
 * settings a running node can change (hub-server's SIGHUP). The dispatcher's
 * other files call in here with one line each (hub-dispatcher-private.h). */
#include "hub-dispatcher-private.h"
#include "hub-keyring.h"
#include "hub/hub-event.h"

#include <string.h>

/* Request latency buckets, seconds: in memory a request takes microseconds,
 * in a cluster a Redis round trip (a millisecond here, more across machines). */
/* hub_limit_refusals_total's limits, shown from the first scrape. */
static const char *const limit_names[] = {"rate", "max_connections_per_user",
                                          "max_subscriptions_per_user", "fanout_rate"};

static const double request_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};

void
hub_dispatcher_ops_init (HubDispatcher *d)
{
  d->keyring = hub_keyring_new (d->config.secret, d->config.secret_len);
  /* A transport measures the delivery lag on the stamped fan-outs. */
  hub_broadcaster_set_sampling (d->broadcaster, HUB_BROADCASTER_SAMPLE_EVERY);
  d->metrics = hub_metrics_new ();
  d->errors =
      hub_metrics_add_counter (d->metrics, "hub_errors_total",
                               "Error replies sent, by code (PROTOCOL.md section 2).", "code");
  for (guint i = HUB_ERROR_NONE + 1; i < HUB_ERROR_N_CODES; i++)
    hub_metric_declare (d->errors, hub_error_code_to_string ((HubErrorCode)i));
  d->requests = hub_metrics_add_histogram (
      d->metrics, "hub_request_duration_seconds",
      "Time from a request's arrival to its reply queued (in a cluster: after Redis answered), "
      "by type.",
      "type", request_bounds, G_N_ELEMENTS (request_bounds));
  d->limits = hub_metrics_add_counter (
      d->metrics, "hub_limit_refusals_total",
      "Requests refused by a bound (their error replies count in hub_errors_total too): rate, "
      "max_connections_per_user (a hello), max_subscriptions_per_user, fanout_rate.",
      "limit");
  for (guint i = 0; i < G_N_ELEMENTS (limit_names); i++)
    hub_metric_declare (d->limits, limit_names[i]);
  for (guint i = HUB_REQ_UNKNOWN + 1; i < HUB_REQ_N_TYPES; i++)
    d->request_series[i] =
        hub_metric_series (d->requests, hub_request_type_to_string ((HubRequestType)i));
}

void
hub_dispatcher_ops_clear (HubDispatcher *d)
{
  g_clear_pointer (&d->keyring, hub_keyring_free);
  g_clear_pointer (&d->metrics, hub_metrics_free);
  d->errors = d->requests = d->limits = NULL;
  memset (d->request_series, 0, sizeof d->request_series);
}

HubMetrics *
hub_dispatcher_get_metrics (HubDispatcher *d)
{
  return d->metrics;
}

/* --- Requests and errors ----------------------------------------------------- */

static void
request_done (const HubRequest *req, gpointer data)
{
  HubDispatcher *d = data;
  gint64 us = hub_clock_monotonic_us (d->clock) - req->received_us;

  if (req->type > HUB_REQ_UNKNOWN && req->type < HUB_REQ_N_TYPES &&
      d->request_series[req->type] != NULL)
    hub_metric_series_observe (d->request_series[req->type], MAX (us, 0) / 1e6, 1);
}

void
hub_dispatcher_track_request (HubDispatcher *d, HubRequest *req)
{
  req->received_us = hub_clock_monotonic_us (d->clock);
  req->done = request_done;
  req->done_data = d;
}

void
hub_dispatcher_request_replied (HubRequest *req)
{
  if (req->done != NULL)
    req->done (req, req->done_data);
  req->done = NULL;
}

void
hub_dispatcher_note_error (HubConnection *conn, HubErrorCode code, const char *message)
{
  HubMetric *errors = hub_connection_get_error_metric (conn);

  if (errors != NULL)
    hub_metric_inc (errors, hub_error_code_to_string (code), 1);
  if (hub_connection_is_authenticated (conn))
    return;
  /* Before a successful hello every error is a refusal worth a line: a bad
   * token (the reason, never the token), a missing user, Redis down. */
  hub_event_log (G_LOG_DOMAIN,
                 code == HUB_ERROR_NOT_AUTHENTICATED ? G_LOG_LEVEL_DEBUG : G_LOG_LEVEL_INFO,
                 code == HUB_ERROR_NOT_AUTHENTICATED ? "not_authenticated" : "hello_refused",
                 code == HUB_ERROR_NOT_AUTHENTICATED ? "request before hello" : "hello refused",
                 "conn", hub_connection_get_id (conn), "code", hub_error_code_to_string (code),
                 "reason", message, NULL);
}

void
hub_dispatcher_note_limit (HubDispatcher *d, HubConnection *conn, const char *user,
                           const char *limit)
{
  hub_metric_inc (d->limits, limit, 1);
  /* A flood of rate-limited frames is answered from a scan, cheaply: no line
   * each (its abuse has the 4008 line). */
  if (strcmp (limit, "rate") == 0)
    return;
  hub_event_log (G_LOG_DOMAIN, G_LOG_LEVEL_INFO, "limit_refused", "request refused by a bound",
                 "conn", hub_connection_get_id (conn), "user",
                 user != NULL ? user : hub_connection_get_user (conn), "limit", limit, NULL);
}

HubAuthClaims *
hub_dispatcher_verify_token (HubDispatcher *d, const char *token, GError **error)
{
  return hub_keyring_verify (d->keyring, token, hub_clock_unix_ms (d->clock), error);
}

gboolean
hub_dispatcher_verify_room_token (HubDispatcher *d, const char *token, const char *user,
                                  const char *room, guint *allow, GError **error)
{
  return hub_keyring_verify_room_token (d->keyring, token, hub_clock_unix_ms (d->clock), user, room,
                                        allow, error);
}

/* --- Settings changed at run time ---------------------------------------------- */

gboolean
hub_dispatcher_reconfigure (HubDispatcher *d, const HubConfig *config, guint secret_grace_s,
                            GError **error)
{
  HubConfig *c = &d->config;

  g_return_val_if_fail (config != NULL, FALSE);
  if ((config->secret == NULL) != (c->secret == NULL)) {
    g_set_error (error, HUB_ERROR, HUB_ERROR_BAD_REQUEST,
                 "a secret can be changed at run time, not added or removed: that changes "
                 "whether every client must show a token (restart to do it)");
    return FALSE;
  }
  if (config->secret != NULL) {
    hub_keyring_rotate (d->keyring, config->secret, config->secret_len,
                        hub_clock_unix_ms (d->clock), (guint64)secret_grace_s * 1000);
    g_free (c->secret);
    c->secret = g_malloc (config->secret_len + 1);
    memcpy (c->secret, config->secret, config->secret_len);
    c->secret[config->secret_len] = '\0';
    c->secret_len = config->secret_len;
  }
  /* Read when a connection opens (hub_dispatcher_connection_open). */
  c->rate_per_s = config->rate_per_s;
  c->burst = config->burst;
  c->max_queue_bytes = config->max_queue_bytes;
  c->hello_timeout_s = config->hello_timeout_s;
  /* Read at each hello, subscribe and fan-out: every connection's from now. */
  c->max_connections_per_user = config->max_connections_per_user;
  c->max_subscriptions_per_user = config->max_subscriptions_per_user;
  c->fanout_bytes_per_s = config->fanout_bytes_per_s;
  /* What the next welcomes announce (§8). */
  d->guard.welcome_limits = (HubWelcomeLimits){
      .rate_per_s = c->rate_per_s,
      .burst = c->burst,
      .max_connections_per_user = c->max_connections_per_user,
      .max_subscriptions_per_user = c->max_subscriptions_per_user,
      .fanout_bytes_per_s = (gint64)c->fanout_bytes_per_s,
  };
  return TRUE;
}

/* --- /metrics ------------------------------------------------------------------ */

/* The figures every node publishes with its liveness (/api/stats "nodes"),
 * summed: this node's own as they are now, the others' as they last
 * published them (at most about a second ago: the store's tick). */
static const struct {
  const char *member; /* in a node's stats */
  const char *name;
  const char *type;
  const char *help;
} cluster_sums[] = {
    {"connections", "hub_cluster_connections", "gauge", "Open connections on every live node."},
    {"frames_in_total", "hub_cluster_frames_in_total", "counter",
     "hub_frames_in_total summed over the live nodes."},
    {"messages_in_total", "hub_cluster_messages_in_total", "counter",
     "hub_messages_in_total summed over the live nodes."},
    {"deliveries_total", "hub_cluster_deliveries_total", "counter",
     "hub_deliveries_total summed over the live nodes."},
    {"slow_consumer_closes_total", "hub_cluster_slow_consumer_closes_total", "counter",
     "hub_slow_consumer_closes_total summed over the live nodes."},
    {"dropped_total", "hub_cluster_dropped_total", "counter",
     "hub_dropped_total summed over the live nodes."},
};

static void
render_cluster_sums (HubDispatcher *d, GString *out, const char *nodes_json)
{
  g_autofree char *own = hub_dispatcher_render_node_stats_json (d);
  g_autofree char *all = g_strdup_printf ("{%s}", nodes_json);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (JsonParser) own_parser = json_parser_new ();
  JsonObject *nodes, *self;
  guint64 sums[G_N_ELEMENTS (cluster_sums)] = {0};
  g_autoptr (GList) names = NULL;

  if (!json_parser_load_from_data (parser, all, -1, NULL) ||
      !json_parser_load_from_data (own_parser, own, -1, NULL) ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return;
  nodes = json_node_get_object (json_parser_get_root (parser));
  self = json_node_get_object (json_parser_get_root (own_parser));
  for (guint i = 0; i < G_N_ELEMENTS (cluster_sums); i++)
    sums[i] = (guint64)json_object_get_int_member (self, cluster_sums[i].member);
  names = json_object_get_members (nodes);
  for (GList *l = names; l != NULL; l = l->next) {
    JsonNode *node = json_object_get_member (nodes, l->data);
    JsonObject *stats;

    if (strcmp (l->data, d->config.node) == 0 || !JSON_NODE_HOLDS_OBJECT (node))
      continue;
    stats = json_node_get_object (node);
    for (guint i = 0; i < G_N_ELEMENTS (cluster_sums); i++) {
      JsonNode *v = json_object_get_member (stats, cluster_sums[i].member);

      if (v != NULL && JSON_NODE_HOLDS_VALUE (v) && json_node_get_value_type (v) == G_TYPE_INT64)
        sums[i] += (guint64)MAX (json_node_get_int (v), 0);
    }
  }
  for (guint i = 0; i < G_N_ELEMENTS (cluster_sums); i++)
    g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n%s %" G_GUINT64_FORMAT "\n",
                            cluster_sums[i].name, cluster_sums[i].help, cluster_sums[i].name,
                            cluster_sums[i].type, cluster_sums[i].name, sums[i]);
}

void
hub_dispatcher_render_ops_metrics (HubDispatcher *d, GString *out, const char *nodes_json)
{
  hub_metrics_render (d->metrics, out);
  if (nodes_json != NULL)
    render_cluster_sums (d, out, nodes_json);
}
