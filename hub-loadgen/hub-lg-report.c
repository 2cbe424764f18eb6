/* hub-lg-report.c: the verdict and the two renderings of a run's figures.
 * Every number in the table comes from the same fields as the JSON. */
#include "hub-lg-report.h"

#include "hub-lg-wire.h"

#include "hub-lg-hgrm.h"
#include "hub-lg-metrics.h"

#include <hub/hub-version.h>
#include <math.h>
#include <string.h>

/* The server counters the report compares (PROTOCOL.md §10). */
static const char *const server_counters[] = {
    "hub_frames_in_total", "hub_messages_in_total",          "hub_deliveries_total",
    "hub_dropped_total",   "hub_slow_consumer_closes_total", NULL,
};
static const char *const server_gauges[] = {"hub_connections", "hub_users_online", "hub_rooms",
                                            NULL};

HubLgReport *
hub_lg_report_new (const HubLgConfig *config, HubLgPlan *plan)
{
  HubLgReport *r = g_new0 (HubLgReport, 1);
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();

  r->config = config;
  r->plan = plan;
  r->started_at = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
  r->stats = hub_lg_stats_new ();
  r->misses = g_array_new (FALSE, FALSE, sizeof (HubLgMiss));
  r->steps = g_array_new (FALSE, TRUE, sizeof (HubLgStep));
  r->series = g_array_new (FALSE, TRUE, sizeof (HubLgSample));
  r->failures = g_ptr_array_new_with_free_func (g_free);
  return r;
}

void
hub_lg_report_free (HubLgReport *r)
{
  if (r == NULL)
    return;
  hub_lg_plan_free (r->plan);
  g_free (r->command);
  g_free (r->started_at);
  hub_lg_stats_free (r->stats);
  g_array_unref (r->misses);
  g_free (r->final_seq);
  g_clear_pointer (&r->metrics_before, g_hash_table_unref);
  g_clear_pointer (&r->metrics_after, g_hash_table_unref);
  g_free (r->metrics_error);
  for (guint i = 0; i < r->steps->len; i++)
    g_free (g_array_index (r->steps, HubLgStep, i).why);
  g_array_unref (r->steps);
  g_array_unref (r->series);
  g_ptr_array_unref (r->failures);
  hub_lg_shard_record_free (r->shard);
  g_free (r->shard_error);
  g_clear_pointer (&r->merged, json_object_unref);
  g_free (r);
}

char *
hub_lg_report_device_name (const HubLgPlan *plan, guint user, guint slot)
{
  return g_strdup_printf ("%su%u/d%u", plan->user_prefix, user, slot);
}

static double
ms (gint64 ns)
{
  return round (ns / 1e3) / 1e3;
}

static double
loss_allowed (const HubLgConfig *c, guint64 expected)
{
  return c->max_loss_is_ratio ? c->max_loss_value * (double)expected : c->max_loss_value;
}

void
hub_lg_report_judge_step (const HubLgConfig *c, HubLgStep *step, guint64 expected)
{
  g_clear_pointer (&step->why, g_free);
  if ((double)step->lost > loss_allowed (c, expected))
    step->why = g_strdup_printf ("lost %" G_GUINT64_FORMAT " deliver%s", step->lost,
                                 step->lost == 1 ? "y" : "ies");
  else if (c->max_p99_ms > 0 && ms (step->p99_ns) > c->max_p99_ms)
    step->why = g_strdup_printf ("p99 %.3f ms > %g ms", ms (step->p99_ns), c->max_p99_ms);
  else if (c->max_errors >= 0 && step->errors > (guint64)c->max_errors)
    step->why = g_strdup_printf ("%" G_GUINT64_FORMAT " error%s", step->errors,
                                 step->errors == 1 ? "" : "s");
  else if (step->latency_count == 0 && step->sent > 0)
    step->why = g_strdup ("nothing was delivered");
  step->held = step->why == NULL;
}

void
hub_lg_report_judge (HubLgReport *r)
{
  const HubLgConfig *c = r->config;
  HubLgStats *s = r->stats;
  double p99 = ms (hub_lg_histogram_quantile (s->latency, 0.99));

  g_ptr_array_set_size (r->failures, 0);
  if (r->shard_error != NULL)
    g_ptr_array_add (r->failures, g_strdup (r->shard_error));
  if (r->interrupted)
    g_ptr_array_add (r->failures, g_strdup ("the run was interrupted"));
  if (c->find_capacity) {
    if (!r->capacity_found)
      g_ptr_array_add (r->failures, g_strdup_printf ("even the first rate (%g/s per user) broke "
                                                     "the limits",
                                                     c->rate));
  } else {
    if ((double)r->tally.lost > loss_allowed (c, r->tally.expected))
      g_ptr_array_add (r->failures,
                       g_strdup_printf ("lost %" G_GUINT64_FORMAT " deliveries (allowed: %s)",
                                        r->tally.lost, c->max_loss));
    if (c->max_p99_ms > 0 && p99 > c->max_p99_ms)
      g_ptr_array_add (r->failures, g_strdup_printf ("p99 latency %.3f ms > --max-p99-ms %g", p99,
                                                     c->max_p99_ms));
    if (c->max_errors >= 0 && s->c[HUB_LG_ERRORS] > (guint64)c->max_errors)
      g_ptr_array_add (r->failures, g_strdup_printf ("%" G_GUINT64_FORMAT
                                                     " errors (allowed: %" G_GINT64_FORMAT ")",
                                                     s->c[HUB_LG_ERRORS], c->max_errors));
    if (s->c[HUB_LG_SENT_PUBLISH] > 0 && hub_lg_histogram_count (s->latency) == 0)
      g_ptr_array_add (r->failures, g_strdup ("no message was delivered"));
  }
  r->passed = r->failures->len == 0;
}

/* ---- JSON ---- */

static JsonObject *
latency_json (const HubLgHistogram *h)
{
  JsonObject *o = json_object_new ();

  json_object_set_int_member (o, "count", (gint64)hub_lg_histogram_count (h));
  json_object_set_double_member (o, "min", ms (hub_lg_histogram_min (h)));
  json_object_set_double_member (o, "mean", round (hub_lg_histogram_mean (h) / 1e3) / 1e3);
  json_object_set_double_member (o, "p50", ms (hub_lg_histogram_quantile (h, 0.50)));
  json_object_set_double_member (o, "p90", ms (hub_lg_histogram_quantile (h, 0.90)));
  json_object_set_double_member (o, "p99", ms (hub_lg_histogram_quantile (h, 0.99)));
  json_object_set_double_member (o, "p999", ms (hub_lg_histogram_quantile (h, 0.999)));
  json_object_set_double_member (o, "max", ms (hub_lg_histogram_max (h)));
  return o;
}

static JsonObject *
table_json (GHashTable *table)
{
  JsonObject *o = json_object_new ();
  g_autoptr (GList) keys = g_list_sort (g_hash_table_get_keys (table), (GCompareFunc)strcmp);

  for (GList *l = keys; l != NULL; l = l->next)
    json_object_set_int_member (o, l->data,
                                (gint64) * (guint64 *)g_hash_table_lookup (table, l->data));
  return o;
}

static double
per_s (guint64 n, double seconds)
{
  return seconds > 0 ? round (n / seconds * 10) / 10 : 0;
}

static JsonObject *
metrics_json (GHashTable *metrics)
{
  JsonObject *o = json_object_new ();

  for (guint i = 0; server_counters[i] != NULL; i++)
    json_object_set_int_member (o, server_counters[i],
                                (gint64)hub_lg_metrics_get (metrics, server_counters[i], 0));
  for (guint i = 0; server_gauges[i] != NULL; i++)
    json_object_set_int_member (o, server_gauges[i],
                                (gint64)hub_lg_metrics_get (metrics, server_gauges[i], 0));
  return o;
}

static gint64
metric_delta (const HubLgReport *r, const char *name)
{
  return (gint64)(hub_lg_metrics_get (r->metrics_after, name, 0) -
                  hub_lg_metrics_get (r->metrics_before, name, 0));
}

/* What the loadgen counted that the server counts as accepted messages. */
static guint64
loadgen_messages_in (const HubLgReport *r)
{
  return r->stats->c[HUB_LG_PUBLISH_ACKED] + r->stats->c[HUB_LG_DIRECT_ACKED];
}

/* … and as deliveries (message and direct frames queued to connections,
 * resume replays not included). */
static guint64
loadgen_deliveries (const HubLgReport *r)
{
  const guint64 *c = r->stats->c;

  return c[HUB_LG_MESSAGES_LIVE] + c[HUB_LG_DIRECT_RECEIVED] + c[HUB_LG_DIRECT_ECHOES];
}

static JsonObject *
server_json (const HubLgReport *r)
{
  JsonObject *o = json_object_new ();
  JsonObject *delta, *agree, *m, *d;
  gint64 server_msgs, server_dels;
  guint64 unknown = r->stats->c[HUB_LG_PUBLISH_UNKNOWN];

  json_object_set_string_member (o, "metrics_url", r->config->metrics_url);
  if (r->metrics_before == NULL || r->metrics_after == NULL) {
    json_object_set_boolean_member (o, "available", FALSE);
    json_object_set_string_member (o, "error",
                                   r->metrics_error != NULL ? r->metrics_error : "not read");
    return o;
  }
  json_object_set_boolean_member (o, "available", TRUE);
  /* "cluster": the counts are the sums over the cluster's nodes (hub-lg-metrics.h). */
  json_object_set_string_member (o, "scope", hub_lg_metrics_scope (r->metrics_after));
  json_object_set_object_member (o, "before", metrics_json (r->metrics_before));
  json_object_set_object_member (o, "after", metrics_json (r->metrics_after));
  delta = json_object_new ();
  for (guint i = 0; server_counters[i] != NULL; i++)
    json_object_set_int_member (delta, server_counters[i], metric_delta (r, server_counters[i]));
  json_object_set_object_member (o, "delta", delta);
  json_object_set_double_member (o, "interval_s", round (r->metrics_interval_s * 1000) / 1000);
  json_object_set_double_member (
      o, "frames_in_per_s",
      per_s ((guint64)MAX (0, metric_delta (r, "hub_frames_in_total")), r->metrics_interval_s));
  json_object_set_double_member (
      o, "deliveries_per_s",
      per_s ((guint64)MAX (0, metric_delta (r, "hub_deliveries_total")), r->metrics_interval_s));

  /* Accepted messages: exact, except publishes whose reply never came. */
  server_msgs = metric_delta (r, "hub_messages_in_total");
  server_dels = metric_delta (r, "hub_deliveries_total");
  agree = json_object_new ();
  m = json_object_new ();
  json_object_set_int_member (m, "server", server_msgs);
  json_object_set_int_member (m, "loadgen", (gint64)loadgen_messages_in (r));
  json_object_set_int_member (m, "unknown", (gint64)unknown);
  json_object_set_boolean_member (m, "match",
                                  server_msgs >= (gint64)loadgen_messages_in (r) &&
                                      server_msgs <= (gint64)(loadgen_messages_in (r) + unknown));
  json_object_set_object_member (agree, "messages_in", m);
  /* Deliveries: exact when no connection was lost with frames queued. */
  d = json_object_new ();
  json_object_set_int_member (d, "server", server_dels);
  json_object_set_int_member (d, "loadgen", (gint64)loadgen_deliveries (r));
  json_object_set_boolean_member (d, "match", server_dels == (gint64)loadgen_deliveries (r));
  json_object_set_int_member (d, "difference", server_dels - (gint64)loadgen_deliveries (r));
  /* Frames queued to a connection that then dropped count on the server only
   * (the device gets them again by replay, which the server does not count). */
  json_object_set_boolean_member (
      d, "exact_expected", r->stats->c[HUB_LG_CHURN_DROPS] + r->stats->c[HUB_LG_CLOSES] == 0);
  json_object_set_object_member (agree, "deliveries", d);
  json_object_set_object_member (o, "agreement", agree);
  return o;
}

static JsonArray *
misses_json (const HubLgReport *r, gboolean evicted)
{
  JsonArray *a = json_array_new ();

  for (guint i = 0; i < r->misses->len; i++) {
    const HubLgMiss *m = &g_array_index (r->misses, HubLgMiss, i);
    JsonObject *o;
    const char *reason;
    char *room, *user, *device;

    if ((m->kind == HUB_LG_MISS_EVICTED) != evicted)
      continue;
    o = json_object_new ();
    json_object_set_string_member (o, "room", (room = hub_lg_plan_room_name (r->plan, m->room)));
    json_object_set_string_member (o, "user", (user = hub_lg_plan_user_name (r->plan, m->user)));
    json_object_set_string_member (o, "device", (device = hub_lg_plan_device_name (m->slot)));
    g_free (room);
    g_free (user);
    g_free (device);
    json_object_set_int_member (o, "from", m->from);
    json_object_set_int_member (o, "to", m->to);
    json_object_set_int_member (o, "count", m->to - m->from + 1);
    reason = m->kind == HUB_LG_MISS_EVICTED ? "evicted"
             : m->kind == HUB_LG_MISS_HOLE  ? "skipped"
             : m->device_gone               ? "device_offline"
             : m->device_down               ? "device_reconnecting"
                                            : "not_delivered";
    json_object_set_string_member (o, "reason", reason);
    if (m->close_code != 0)
      json_object_set_int_member (o, "last_close_code", m->close_code);
    json_array_add_object_element (a, o);
  }
  return a;
}

static void
add_gate (JsonArray *a, const char *name, const char *limit_text, double limit, double value,
          gboolean met)
{
  JsonObject *o = json_object_new ();

  json_object_set_string_member (o, "gate", name);
  if (limit_text != NULL)
    json_object_set_string_member (o, "limit", limit_text);
  else if (limit >= 0)
    json_object_set_double_member (o, "limit", limit);
  else
    json_object_set_null_member (o, "limit");
  json_object_set_double_member (o, "value", value);
  json_object_set_boolean_member (o, "met", met);
  json_array_add_object_element (a, o);
}

/* The gates with the figures they judged: the whole run's, or with
 * --find-capacity the capacity step's (each step is judged alone). */
static JsonArray *
gates_json (const HubLgReport *r)
{
  const HubLgConfig *c = r->config;
  JsonArray *a = json_array_new ();
  guint64 lost = r->tally.lost, expected = r->tally.expected, errors = r->stats->c[HUB_LG_ERRORS];
  double p99 = ms (hub_lg_histogram_quantile (r->stats->latency, 0.99));

  if (c->find_capacity) {
    const HubLgStep *at;

    if (!r->capacity_found || r->capacity_step >= r->steps->len)
      return a;
    at = &g_array_index (r->steps, HubLgStep, r->capacity_step);
    lost = at->lost;
    errors = at->errors;
    p99 = ms (at->p99_ns);
    expected = at->delivered + at->lost;
  }
  add_gate (a, "max-loss", c->max_loss, 0, (double)lost,
            (double)lost <= loss_allowed (c, expected));
  add_gate (a, "max-p99-ms", NULL, c->max_p99_ms > 0 ? c->max_p99_ms : -1, p99,
            c->max_p99_ms <= 0 || p99 <= c->max_p99_ms);
  add_gate (a, "max-errors", NULL, c->max_errors >= 0 ? (double)c->max_errors : -1, (double)errors,
            c->max_errors < 0 || errors <= (guint64)c->max_errors);
  return a;
}

char *
hub_lg_report_to_json_text (const HubLgReport *report)
{
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree char *body = NULL;

  json_node_take_object (root, hub_lg_report_to_json (report));
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  body = json_generator_to_data (generator, NULL);
  return g_strconcat (body, "\n", NULL);
}

JsonObject *
hub_lg_report_to_json (const HubLgReport *r)
{
  const HubLgConfig *c = r->config;
  const HubLgPlan *plan = r->plan;
  const guint64 *n = r->stats->c;
  JsonObject *root = json_object_new ();
  JsonObject *o, *sub;
  JsonArray *a;
  guint64 listed = 0;

  json_object_set_string_member (root, "schema", HUB_LG_REPORT_SCHEMA);
  json_object_set_string_member (root, "version", HUB_VERSION);
  json_object_set_string_member (root, "started_at", r->started_at);
  json_object_set_string_member (root, "command", r->command != NULL ? r->command : "");
  json_object_set_boolean_member (root, "passed", r->passed);
  a = json_array_new ();
  for (guint i = 0; i < r->failures->len; i++)
    json_array_add_string_element (a, g_ptr_array_index (r->failures, i));
  json_object_set_array_member (root, "failures", a);
  json_object_set_object_member (root, "config", hub_lg_config_to_json (c));

  o = json_object_new ();
  json_object_set_string_member (o, "prefix", plan->prefix);
  json_object_set_string_member (o, "user_prefix", plan->user_prefix);
  json_object_set_int_member (o, "seed", c->seed);
  json_object_set_int_member (o, "users", plan->n_users);
  json_object_set_int_member (o, "devices", plan->n_devices);
  json_object_set_int_member (o, "rooms", plan->n_rooms);
  json_object_set_int_member (o, "rooms_used", hub_lg_plan_rooms_used (plan));
  json_object_set_int_member (o, "largest_room_users", hub_lg_plan_largest_room (plan));
  json_object_set_int_member (o, "memberships", (gint64)plan->memberships);
  json_object_set_int_member (o, "subscriptions", (gint64)r->tally.subscriptions);
  sub = json_object_new ();
  json_object_set_boolean_member (sub, "clamped", r->clamped);
  json_object_set_int_member (sub, "users_asked", r->users_asked);
  json_object_set_int_member (sub, "connections_asked", (gint64)r->connections_asked);
  json_object_set_int_member (sub, "nofile_limit", (gint64)r->nofile_limit);
  json_object_set_object_member (o, "limits", sub);
  json_object_set_int_member (o, "threads", r->threads);
  json_object_set_object_member (root, "population", o);

  o = json_object_new ();
  json_object_set_double_member (o, "ramp", round (r->ramp_s * 1000) / 1000);
  json_object_set_double_member (o, "steady", round (r->steady_s * 1000) / 1000);
  json_object_set_double_member (o, "drain", round (r->drain_s * 1000) / 1000);
  json_object_set_double_member (o, "total", round (r->total_s * 1000) / 1000);
  json_object_set_boolean_member (o, "ramp_complete", r->ramp_complete);
  json_object_set_boolean_member (o, "drained", r->drained);
  json_object_set_boolean_member (o, "interrupted", r->interrupted);
  json_object_set_object_member (root, "seconds", o);

  o = json_object_new ();
  json_object_set_int_member (o, "target",
                              r->target_devices > 0 ? r->target_devices : plan->n_devices);
  json_object_set_int_member (o, "connected_at_end", (gint64)n[HUB_LG_CONNECTED]);
  json_object_set_int_member (o, "ready_at_end", (gint64)n[HUB_LG_READY]);
  json_object_set_int_member (o, "gone_at_end", (gint64)n[HUB_LG_GONE]);
  json_object_set_int_member (o, "connects", (gint64)n[HUB_LG_CONNECTS]);
  json_object_set_int_member (o, "reconnects", (gint64)n[HUB_LG_RECONNECTS]);
  json_object_set_int_member (o, "connect_failures", (gint64)n[HUB_LG_CONNECT_FAILURES]);
  json_object_set_int_member (o, "churn_drops", (gint64)n[HUB_LG_CHURN_DROPS]);
  json_object_set_int_member (o, "lost_connections", (gint64)n[HUB_LG_CLOSES]);
  json_object_set_object_member (o, "connect_ms", latency_json (r->stats->connect));
  json_object_set_object_member (o, "close_codes", table_json (r->stats->closes));
  json_object_set_object_member (root, "connections", o);

  o = json_object_new ();
  for (guint i = 0; i < HUB_LG_N_ACTIONS; i++)
    json_object_set_int_member (o, hub_lg_action_name (i), (gint64)n[HUB_LG_SENT_PUBLISH + i]);
  json_object_set_int_member (o, "deferred", (gint64)n[HUB_LG_DEFERRED]);
  json_object_set_int_member (o, "skipped", (gint64)n[HUB_LG_SKIPPED]);
  json_object_set_int_member (o, "publish_acked", (gint64)n[HUB_LG_PUBLISH_ACKED]);
  json_object_set_int_member (o, "publish_rejected", (gint64)n[HUB_LG_PUBLISH_REJECTED]);
  json_object_set_int_member (o, "publish_unknown", (gint64)n[HUB_LG_PUBLISH_UNKNOWN]);
  json_object_set_double_member (o, "publish_per_s", per_s (n[HUB_LG_SENT_PUBLISH], r->steady_s));
  json_object_set_object_member (o, "ack_ms", latency_json (r->stats->ack));
  json_object_set_object_member (root, "sent", o);

  o = json_object_new ();
  json_object_set_int_member (o, "expected", (gint64)r->tally.expected);
  json_object_set_int_member (o, "received", (gint64)r->tally.received);
  json_object_set_int_member (o, "lost", (gint64)r->tally.lost);
  json_object_set_int_member (o, "unrecoverable", (gint64)r->tally.evicted);
  json_object_set_int_member (o, "duplicated", (gint64)r->tally.duplicates);
  json_object_set_int_member (o, "out_of_order", (gint64)r->tally.out_of_order);
  json_object_set_int_member (o, "live", (gint64)n[HUB_LG_MESSAGES_LIVE]);
  json_object_set_int_member (o, "replayed", (gint64)n[HUB_LG_MESSAGES_REPLAYED]);
  json_object_set_int_member (o, "before_join", (gint64)r->tally.early);
  json_object_set_double_member (o, "live_per_s", per_s (n[HUB_LG_MESSAGES_LIVE], r->steady_s));
  json_object_set_object_member (root, "deliveries", o);
  json_object_set_object_member (root, "latency_ms", latency_json (r->stats->latency));
  /* Exact, for merging and plotting: every bucket (hub-lg-hgrm.h). */
  o = json_object_new ();
  json_object_set_object_member (o, "delivery", hub_lg_histogram_to_json (r->stats->latency));
  json_object_set_object_member (o, "publish_ok", hub_lg_histogram_to_json (r->stats->ack));
  json_object_set_object_member (o, "direct", hub_lg_histogram_to_json (r->stats->direct));
  json_object_set_object_member (o, "connect", hub_lg_histogram_to_json (r->stats->connect));
  json_object_set_object_member (root, "histograms", o);

  o = json_object_new ();
  json_object_set_int_member (o, "resumes", (gint64)n[HUB_LG_RESUMES]);
  json_object_set_int_member (o, "incomplete", (gint64)n[HUB_LG_RESUMES_INCOMPLETE]);
  json_object_set_int_member (o, "replayed", (gint64)n[HUB_LG_MESSAGES_REPLAYED]);
  json_object_set_object_member (root, "resume", o);

  o = json_object_new ();
  json_object_set_int_member (o, "sent", (gint64)n[HUB_LG_SENT_DIRECT]);
  json_object_set_int_member (o, "acked", (gint64)n[HUB_LG_DIRECT_ACKED]);
  json_object_set_int_member (o, "offline", (gint64)n[HUB_LG_DIRECT_OFFLINE]);
  json_object_set_int_member (o, "expected", (gint64)n[HUB_LG_DIRECT_EXPECTED]);
  json_object_set_int_member (o, "received", (gint64)n[HUB_LG_DIRECT_RECEIVED]);
  json_object_set_int_member (o, "echoes", (gint64)n[HUB_LG_DIRECT_ECHOES]);
  json_object_set_object_member (o, "latency_ms", latency_json (r->stats->direct));
  json_object_set_object_member (root, "direct", o);

  o = json_object_new ();
  json_object_set_int_member (o, "typing", (gint64)n[HUB_LG_TYPING_RECEIVED]);
  json_object_set_int_member (o, "status", (gint64)n[HUB_LG_STATUS_RECEIVED]);
  json_object_set_int_member (o, "presence", (gint64)n[HUB_LG_PRESENCE_RECEIVED]);
  json_object_set_object_member (root, "ephemeral_received", o);
  /* How the loadgen received (hub-lg-wire.h): what its loops used (io_uring
   * falls back to epoll where the kernel or a seccomp filter refuses it; the
   * probe's answer where no loop ran), frames per read, reads per wakeup. */
  o = json_object_new ();
  if (n[HUB_LG_WIRE_URING_LOOPS] > 0 && n[HUB_LG_WIRE_EPOLL_LOOPS] > 0)
    json_object_set_string_member (o, "kind", "io_uring+epoll");
  else if (n[HUB_LG_WIRE_URING_LOOPS] > 0)
    json_object_set_string_member (o, "kind", "io_uring");
  else if (n[HUB_LG_WIRE_EPOLL_LOOPS] > 0)
    json_object_set_string_member (o, "kind", "epoll");
  else
    json_object_set_string_member (o, "kind", hub_lg_wire_kind (c->url));
  json_object_set_int_member (o, "loops",
                              (gint64)(n[HUB_LG_WIRE_URING_LOOPS] + n[HUB_LG_WIRE_EPOLL_LOOPS]));
  json_object_set_int_member (o, "reads", (gint64)n[HUB_LG_WIRE_READS]);
  json_object_set_int_member (o, "frames", (gint64)n[HUB_LG_WIRE_FRAMES]);
  json_object_set_int_member (o, "wakeups", (gint64)n[HUB_LG_WIRE_WAKEUPS]);
  json_object_set_object_member (root, "transport", o);

  o = json_object_new ();
  json_object_set_int_member (o, "total", (gint64)n[HUB_LG_ERRORS]);
  json_object_set_object_member (o, "by_kind", table_json (r->stats->errors));
  json_object_set_object_member (root, "errors", o);

  o = json_object_new ();
  json_object_set_int_member (o, "ranges", (gint64)r->miss_ranges);
  json_object_set_array_member (o, "lost", misses_json (r, FALSE));
  json_object_set_array_member (o, "unrecoverable", misses_json (r, TRUE));
  listed = r->misses->len;
  json_object_set_boolean_member (o, "truncated", listed < r->miss_ranges);
  json_object_set_object_member (root, "missing", o);

  json_object_set_object_member (root, "server", server_json (r));

  a = json_array_new ();
  for (guint i = 0; i < r->steps->len; i++) {
    const HubLgStep *s = &g_array_index (r->steps, HubLgStep, i);

    o = json_object_new ();
    json_object_set_double_member (o, "rate", s->rate);
    json_object_set_double_member (o, "offered_per_s", round (s->rate * plan->n_users * 10) / 10);
    json_object_set_double_member (o, "seconds", round (s->seconds * 1000) / 1000);
    json_object_set_int_member (o, "sent", (gint64)s->sent);
    json_object_set_double_member (o, "sent_per_s", per_s (s->sent, s->seconds));
    json_object_set_int_member (o, "delivered", (gint64)s->delivered);
    json_object_set_double_member (o, "delivered_per_s", per_s (s->delivered, s->seconds));
    json_object_set_int_member (o, "lost", (gint64)s->lost);
    json_object_set_int_member (o, "errors", (gint64)s->errors);
    json_object_set_string_member (o, "search", s->bisecting ? "between" : "raise");
    json_object_set_double_member (o, "p50_ms", ms (s->p50_ns));
    json_object_set_double_member (o, "p90_ms", ms (s->p90_ns));
    json_object_set_double_member (o, "p99_ms", ms (s->p99_ns));
    json_object_set_double_member (o, "p999_ms", ms (s->p999_ns));
    json_object_set_double_member (o, "max_ms", ms (s->max_ns));
    json_object_set_boolean_member (o, "held", s->held);
    if (s->why != NULL)
      json_object_set_string_member (o, "why", s->why);
    json_array_add_object_element (a, o);
  }
  json_object_set_array_member (root, "steps", a);
  if (c->find_capacity && r->capacity_found) {
    o = json_object_new ();
    json_object_set_double_member (o, "rate", r->capacity_rate);
    json_object_set_double_member (o, "offered_per_s",
                                   round (r->capacity_rate * plan->n_users * 10) / 10);
    json_object_set_int_member (o, "step", r->capacity_step + 1);
    if (r->capacity_broke_rate > 0)
      json_object_set_double_member (o, "first_broken_rate", r->capacity_broke_rate);
    else
      json_object_set_null_member (o, "first_broken_rate");
    json_object_set_boolean_member (o, "within_precision", r->capacity_bracketed);
    json_object_set_object_member (root, "capacity", o);
  } else {
    json_object_set_null_member (root, "capacity");
  }
  json_object_set_array_member (root, "gates", gates_json (r));
  a = json_array_new ();
  for (guint i = 0; i < r->series->len; i++)
    json_array_add_object_element (
        a, hub_lg_sample_to_json (&g_array_index (r->series, HubLgSample, i)));
  json_object_set_array_member (root, "series", a);
  if (r->shard != NULL)
    json_object_set_object_member (root, "shard", hub_lg_shard_record_to_json (r->shard));
  if (r->merged != NULL)
    json_object_set_object_member (root, "merged", json_object_ref (r->merged));
  return root;
}

/* ---- text ---- */

static void row (GString *s, const char *label, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
row (GString *s, const char *label, const char *format, ...)
{
  va_list args;

  g_string_append_printf (s, "  %-22s ", label);
  va_start (args, format);
  g_string_append_vprintf (s, format, args);
  va_end (args);
  g_string_append_c (s, '\n');
}

static char *
latency_text (const HubLgHistogram *h)
{
  if (hub_lg_histogram_count (h) == 0)
    return g_strdup ("-");
  return g_strdup_printf ("p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms",
                          ms (hub_lg_histogram_quantile (h, 0.5)),
                          ms (hub_lg_histogram_quantile (h, 0.9)),
                          ms (hub_lg_histogram_quantile (h, 0.99)),
                          ms (hub_lg_histogram_quantile (h, 0.999)), ms (hub_lg_histogram_max (h)));
}

static char *
table_text (GHashTable *table)
{
  GString *s = g_string_new (NULL);
  g_autoptr (GList) keys = g_list_sort (g_hash_table_get_keys (table), (GCompareFunc)strcmp);

  for (GList *l = keys; l != NULL; l = l->next)
    g_string_append_printf (s, "%s%s %" G_GUINT64_FORMAT, s->len ? ", " : "", (char *)l->data,
                            *(guint64 *)g_hash_table_lookup (table, l->data));
  if (s->len == 0)
    g_string_append (s, "none");
  return g_string_free (s, FALSE);
}

char *
hub_lg_report_to_text (const HubLgReport *r)
{
  const HubLgConfig *c = r->config;
  const HubLgPlan *plan = r->plan;
  const guint64 *n = r->stats->c;
  GString *s = g_string_new (NULL);
  g_autofree char *devices = hub_lg_discrete_to_string (&c->device_dist);
  g_autofree char *lat = latency_text (r->stats->latency);
  g_autofree char *ack = latency_text (r->stats->ack);
  g_autofree char *conn = latency_text (r->stats->connect);
  g_autofree char *errors = table_text (r->stats->errors);
  g_autofree char *closes = table_text (r->stats->closes);

  g_string_append_printf (s, "hub-loadgen report (%s, %s)\n", r->started_at, c->url);
  row (s, "population",
       "%u users × devices %s = %u connections, %u rooms (%u used, largest %u users), "
       "%u rooms per user",
       plan->n_users, devices, plan->n_devices, plan->n_rooms, hub_lg_plan_rooms_used (plan),
       hub_lg_plan_largest_room (plan), plan->rooms_per_user);
  if (r->shard != NULL)
    row (s, "shard",
         "%u of %u: %u users, %u connections (this report covers them only; "
         "hub-loadgen merge joins the shards' --json reports)",
         r->shard->index, r->shard->count,
         hub_lg_shard_users (plan, r->shard->index, r->shard->count), r->target_devices);
  if (r->merged != NULL)
    row (s, "merged",
         "%" G_GINT64_FORMAT " shards; %" G_GINT64_FORMAT
         " publishes acknowledged, %" G_GINT64_FORMAT " seqs claimed by no shard, %" G_GINT64_FORMAT
         " by two",
         json_object_get_int_member (r->merged, "shards"),
         json_object_get_int_member (r->merged, "publishes_acked"),
         json_object_get_int_member (r->merged, "unclaimed_seqs"),
         json_object_get_int_member (r->merged, "conflicting_seqs"));
  if (r->clamped)
    row (s, "clamped",
         "%" G_GUINT64_FORMAT " connections asked; the open-file limit (%" G_GUINT64_FORMAT
         ") allows %u",
         r->connections_asked, r->nofile_limit, plan->n_devices);
  row (s, "phases", "ramp %.1f s, steady %.1f s, drain %.1f s%s%s; %u event loop%s", r->ramp_s,
       r->steady_s, r->drain_s, r->drained ? "" : " (drain timed out)",
       r->interrupted ? ", interrupted" : "", r->threads, r->threads == 1 ? "" : "s");
  row (s, "connections",
       "%" G_GUINT64_FORMAT "/%u up at the end, %" G_GUINT64_FORMAT " failed attempts, "
       "%" G_GUINT64_FORMAT " churn drops, %" G_GUINT64_FORMAT " reconnects",
       n[HUB_LG_CONNECTED], r->target_devices > 0 ? r->target_devices : plan->n_devices,
       n[HUB_LG_CONNECT_FAILURES], n[HUB_LG_CHURN_DROPS], n[HUB_LG_RECONNECTS]);
  row (s, "connect time", "%s", conn);
  row (s, "sent",
       "%" G_GUINT64_FORMAT " publish (%.1f/s), %" G_GUINT64_FORMAT " direct, %" G_GUINT64_FORMAT
       " typing, %" G_GUINT64_FORMAT " status",
       n[HUB_LG_SENT_PUBLISH], per_s (n[HUB_LG_SENT_PUBLISH], r->steady_s), n[HUB_LG_SENT_DIRECT],
       n[HUB_LG_SENT_TYPING], n[HUB_LG_SENT_STATUS]);
  row (s, "publish replies",
       "%" G_GUINT64_FORMAT " ok, %" G_GUINT64_FORMAT " rejected, %" G_GUINT64_FORMAT " unknown",
       n[HUB_LG_PUBLISH_ACKED], n[HUB_LG_PUBLISH_REJECTED], n[HUB_LG_PUBLISH_UNKNOWN]);
  row (s, "deliveries",
       "%" G_GUINT64_FORMAT " expected, %" G_GUINT64_FORMAT " received (%.1f/s live)",
       r->tally.expected, r->tally.received, per_s (n[HUB_LG_MESSAGES_LIVE], r->steady_s));
  row (s, "lost", "%" G_GUINT64_FORMAT "%s", r->tally.lost,
       r->tally.evicted ? "" : "  (unrecoverable by design: 0)");
  if (r->tally.evicted > 0)
    row (s, "unrecoverable", "%" G_GUINT64_FORMAT " (gone from the room history before a resume)",
         r->tally.evicted);
  row (s, "duplicated / reorder", "%" G_GUINT64_FORMAT " / %" G_GUINT64_FORMAT, r->tally.duplicates,
       r->tally.out_of_order);
  row (s, "resumed",
       "%" G_GUINT64_FORMAT " room resumes (%" G_GUINT64_FORMAT " incomplete), %" G_GUINT64_FORMAT
       " messages replayed",
       n[HUB_LG_RESUMES], n[HUB_LG_RESUMES_INCOMPLETE], n[HUB_LG_MESSAGES_REPLAYED]);
  row (s, c->find_capacity ? "latency (all steps)" : "latency (delivery)", "%s", lat);
  row (s, "latency (publish ok)", "%s", ack);
  if (n[HUB_LG_SENT_DIRECT] > 0)
    row (s, "direct",
         "%" G_GUINT64_FORMAT " ok, %" G_GUINT64_FORMAT " to offline users; %" G_GUINT64_FORMAT
         " deliveries promised, %" G_GUINT64_FORMAT " received",
         n[HUB_LG_DIRECT_ACKED], n[HUB_LG_DIRECT_OFFLINE], n[HUB_LG_DIRECT_EXPECTED],
         n[HUB_LG_DIRECT_RECEIVED]);
  if (n[HUB_LG_SENT_TYPING] + n[HUB_LG_SENT_STATUS] > 0)
    row (s, "ephemeral received",
         "%" G_GUINT64_FORMAT " typing, %" G_GUINT64_FORMAT " status, %" G_GUINT64_FORMAT
         " presence",
         n[HUB_LG_TYPING_RECEIVED], n[HUB_LG_STATUS_RECEIVED], n[HUB_LG_PRESENCE_RECEIVED]);
  row (s, "errors", "%" G_GUINT64_FORMAT " (%s)", n[HUB_LG_ERRORS], errors);
  row (s, "close codes", "%s", closes);
  if (r->metrics_before != NULL && r->metrics_after != NULL) {
    const char *scope = hub_lg_metrics_scope (r->metrics_after);
    g_autofree char *frames_in = g_strconcat (scope, " frames in", NULL);
    g_autofree char *messages_in = g_strconcat (scope, " messages in", NULL);
    g_autofree char *deliveries = g_strconcat (scope, " deliveries", NULL);
    g_autofree char *slow = g_strconcat (scope, " slow closes", NULL);

    row (s, frames_in, "%" G_GINT64_FORMAT " (%.1f/s)", metric_delta (r, "hub_frames_in_total"),
         per_s ((guint64)MAX (0, metric_delta (r, "hub_frames_in_total")), r->metrics_interval_s));
    row (s, messages_in, "%" G_GINT64_FORMAT " (loadgen: %" G_GUINT64_FORMAT " acked%s)",
         metric_delta (r, "hub_messages_in_total"), loadgen_messages_in (r),
         metric_delta (r, "hub_messages_in_total") == (gint64)loadgen_messages_in (r) ? ", agree"
                                                                                      : "");
    {
      gint64 diff = metric_delta (r, "hub_deliveries_total") - (gint64)loadgen_deliveries (r);
      g_autofree char *note =
          diff == 0 ? g_strdup (", agree")
          : r->stats->c[HUB_LG_CHURN_DROPS] + r->stats->c[HUB_LG_CLOSES] > 0
              ? g_strdup_printf (", %+" G_GINT64_FORMAT " queued to connections that dropped", diff)
              : g_strdup_printf (", DIFFER by %" G_GINT64_FORMAT, diff);

      row (s, deliveries, "%" G_GINT64_FORMAT " (loadgen: %" G_GUINT64_FORMAT " live%s)",
           metric_delta (r, "hub_deliveries_total"), loadgen_deliveries (r), note);
    }
    row (s, slow, "%" G_GINT64_FORMAT ", dropped ephemeral %" G_GINT64_FORMAT,
         metric_delta (r, "hub_slow_consumer_closes_total"), metric_delta (r, "hub_dropped_total"));
  } else {
    row (s, "server metrics", "unavailable (%s)",
         r->metrics_error != NULL ? r->metrics_error : "not read");
  }
  if (r->misses->len > 0) {
    g_string_append (s, "  missing (room, seqs, device):\n");
    for (guint i = 0; i < r->misses->len && i < 20; i++) {
      const HubLgMiss *m = &g_array_index (r->misses, HubLgMiss, i);
      g_autofree char *room = hub_lg_plan_room_name (plan, m->room);
      g_autofree char *dev = hub_lg_report_device_name (plan, m->user, m->slot);
      g_autofree char *close = m->close_code && m->kind != HUB_LG_MISS_HOLE
                                   ? g_strdup_printf (", last close %u", m->close_code)
                                   : g_strdup ("");

      g_string_append_printf (s, "    %s #%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT " %s (%s%s)\n",
                              room, m->from, m->to, dev,
                              m->kind == HUB_LG_MISS_EVICTED ? "unrecoverable"
                              : m->kind == HUB_LG_MISS_HOLE  ? "skipped"
                              : m->device_gone               ? "device offline at the end"
                              : m->device_down               ? "device still reconnecting"
                                                             : "never delivered",
                              close);
    }
    if (r->miss_ranges > 20)
      g_string_append_printf (s, "    … %" G_GUINT64_FORMAT " ranges in all (see --json)\n",
                              r->miss_ranges);
  }
  if (r->steps->len > 1 || c->find_capacity) {
    /* Each step's own figures: a step is judged alone. */
    g_string_append (s, "  steps (each its own figures):\n");
    for (guint i = 0; i < r->steps->len; i++) {
      const HubLgStep *st = &g_array_index (r->steps, HubLgStep, i);

      g_string_append_printf (s,
                              "  %c %2u rate %8.3f/s per user (%9.1f/s offered): sent %9.1f/s, "
                              "delivered %10.1f/s, p50 %7.2f p90 %7.2f p99 %8.2f ms, lost "
                              "%" G_GUINT64_FORMAT ", errors %" G_GUINT64_FORMAT " — %s\n",
                              r->capacity_found && i == r->capacity_step ? '*' : ' ', i + 1,
                              st->rate, st->rate * plan->n_users, per_s (st->sent, st->seconds),
                              per_s (st->delivered, st->seconds), ms (st->p50_ns), ms (st->p90_ns),
                              ms (st->p99_ns), st->lost, st->errors, st->held ? "held" : st->why);
    }
    if (r->capacity_found) {
      const HubLgStep *at = &g_array_index (r->steps, HubLgStep, r->capacity_step);

      g_string_append_printf (s,
                              "  capacity: %.3f actions/s per user (%.1f/s offered), step %u: "
                              "delivered %.1f/s, p50 %.2f p90 %.2f p99 %.2f max %.2f ms, lost "
                              "%" G_GUINT64_FORMAT ", errors %" G_GUINT64_FORMAT "\n",
                              r->capacity_rate, r->capacity_rate * plan->n_users,
                              r->capacity_step + 1, per_s (at->delivered, at->seconds),
                              ms (at->p50_ns), ms (at->p90_ns), ms (at->p99_ns), ms (at->max_ns),
                              at->lost, at->errors);
      if (r->capacity_broke_rate > 0)
        g_string_append_printf (
            s, "  first rate that broke: %.3f actions/s per user (%+.1f %%)%s\n",
            r->capacity_broke_rate, (r->capacity_broke_rate / r->capacity_rate - 1) * 100,
            r->capacity_bracketed ? "" : "; --max-steps ended the search first");
      else
        g_string_append (s, "  no rate broke the limits (--max-steps ended the search)\n");
    }
  }
  if (r->passed) {
    g_string_append (s, "PASS\n");
  } else {
    g_string_append (s, "FAIL:");
    for (guint i = 0; i < r->failures->len; i++)
      g_string_append_printf (s, "%s %s", i ? ";" : "", (char *)g_ptr_array_index (r->failures, i));
    g_string_append_c (s, '\n');
  }
  return g_string_free (s, FALSE);
}
