/* hub-lg-merge.c: `hub-loadgen merge` (hub-lg-merge.h). The shards' records
 * are checked to be one population cut N ways (same settings, each device in
 * exactly the shard of its user), then the merged report is built from them
 * with the run's own pieces: the ledger's tally, the stats' merge, the
 * report's verdict and renderings. */
#include "hub-lg-merge.h"

#include "hub-lg-hgrm.h"
#include "hub-lg-html.h"
#include "hub-lg-metrics.h"
#include "hub-lg-output.h"

#include <stdio.h>
#include <string.h>

#define MAX_LISTED_MISSES 1000

/* Settings every shard must share: the population, the traffic, the gates. */
static const char *const shared_settings[] = {
    "users", "devices",      "rooms",    "rooms-per-user", "room-skew",
    "rate",  "mix",          "arrival",  "payload-bytes",  "duration",
    "churn", "seed",         "prefix",   "user-prefix",    "no-reconnect",
    "ramp",  "connect-rate", "max-loss", "max-p99-ms",     "max-errors",
    NULL,
};

typedef struct {
  const char *path;         /* (unowned) */
  JsonObject *root;         /* (owned) */
  HubLgShardRecord *record; /* (owned) */
} Shard;

static void
shard_clear (Shard *s)
{
  g_clear_pointer (&s->root, json_object_unref);
  g_clear_pointer (&s->record, hub_lg_shard_record_free);
}

static gboolean usage (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
usage (GError **error, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, message);
  return FALSE;
}

static JsonObject *
object_member (JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;

  return n != NULL && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

static const char *
string_member (JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;

  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
             ? json_node_get_string (n)
             : NULL;
}

static double
number_member (JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;

  return n != NULL && JSON_NODE_HOLDS_VALUE (n) ? json_node_get_double (n) : 0;
}

static gboolean
bool_member (JsonObject *o, const char *name)
{
  JsonNode *n = o != NULL ? json_object_get_member (o, name) : NULL;

  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN &&
         json_node_get_boolean (n);
}

static gboolean
load (Shard *s, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (!json_parser_load_from_file (parser, s->path, error)) {
    g_prefix_error (error, "%s: ", s->path);
    return FALSE;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
      g_strcmp0 (string_member (json_node_get_object (root), "schema"), HUB_LG_REPORT_SCHEMA) != 0)
    return usage (error, "%s: not a hub-loadgen report (schema " HUB_LG_REPORT_SCHEMA ")", s->path);
  s->root = json_object_ref (json_node_get_object (root));
  if (object_member (s->root, "shard") == NULL)
    return usage (error, "%s: not the report of a shard (run with --shard I/N)", s->path);
  return TRUE;
}

/* The same settings, and the same program (the record's counters are in its order). */
static gboolean
check_same (Shard *shards, guint n, GError **error)
{
  JsonObject *first = object_member (shards[0].root, "config");

  for (guint i = 1; i < n; i++) {
    JsonObject *config = object_member (shards[i].root, "config");

    if (g_strcmp0 (string_member (shards[i].root, "version"),
                   string_member (shards[0].root, "version")) != 0)
      return usage (error, "%s and %s come from different hub-loadgen versions", shards[0].path,
                    shards[i].path);
    for (guint k = 0; shared_settings[k] != NULL; k++) {
      JsonNode *a = first != NULL ? json_object_get_member (first, shared_settings[k]) : NULL;
      JsonNode *b = config != NULL ? json_object_get_member (config, shared_settings[k]) : NULL;

      if ((a == NULL) != (b == NULL) || (a != NULL && !json_node_equal (a, b)))
        return usage (error, "%s and %s are not shards of one scenario: --%s differs",
                      shards[0].path, shards[i].path, shared_settings[k]);
    }
  }
  return TRUE;
}

/* Every device of the plan in exactly one shard: the one of its user. */
static gboolean
check_cover (Shard *shards, guint n, const HubLgPlan *plan, const HubLgShardDevice **by_device,
             GError **error)
{
  guint count = shards[0].record->count;

  if (count != n)
    return usage (error, "%s is shard %u of %u, but %u report%s given", shards[0].path,
                  shards[0].record->index, count, n, n == 1 ? " was" : "s were");
  for (guint i = 0; i < n; i++) {
    const HubLgShardRecord *r = shards[i].record;

    if (r->count != count)
      return usage (error, "%s is one of %u shards, %s one of %u", shards[0].path, count,
                    shards[i].path, r->count);
    for (guint k = 0; k < i; k++) {
      if (shards[k].record->index == r->index)
        return usage (error, "%s and %s are both shard %u", shards[k].path, shards[i].path,
                      r->index);
    }
    for (guint d = 0; d < r->devices->len; d++) {
      const HubLgShardDevice *device = &g_array_index (r->devices, HubLgShardDevice, d);

      if (device->user % count != r->index || by_device[device->global] != NULL)
        return usage (error, "%s: device u%u/d%u does not belong to shard %u (or is there twice)",
                      shards[i].path, device->user, device->slot, r->index);
      by_device[device->global] = device;
    }
  }
  for (guint g = 0; g < plan->n_devices; g++) {
    if (by_device[g] == NULL)
      return usage (error,
                    "no report holds device %u of the population: a shard's report is "
                    "incomplete",
                    g);
  }
  return TRUE;
}

typedef struct {
  HubLgReport *report;
  const HubLgShardDevice *device;
} MissArgs;

static void
on_miss (const HubLgSub *sub, HubLgMissKind kind, gint64 from, gint64 to, gpointer user_data)
{
  MissArgs *a = user_data;

  a->report->miss_ranges++;
  if (a->report->misses->len < MAX_LISTED_MISSES) {
    HubLgMiss miss = {
        .user = a->device->user,
        .slot = a->device->slot,
        .room = sub->room,
        .from = from,
        .to = to,
        .kind = kind,
        .device_gone = a->device->gone,
        .device_down = !a->device->connected,
        .close_code = a->device->last_close,
    };

    g_array_append_val (a->report->misses, miss);
  }
}

/* Metrics from a report's server.before or server.after: name → double*. */
static GHashTable *
metrics_from (JsonObject *root, const char *which)
{
  JsonObject *o = object_member (object_member (root, "server"), which);
  GHashTable *table;
  g_autoptr (GList) names = NULL;

  if (o == NULL)
    return NULL;
  table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  names = json_object_get_members (o);
  for (GList *l = names; l != NULL; l = l->next) {
    double *v = g_new (double, 1);

    *v = number_member (o, l->data);
    g_hash_table_insert (table, g_strdup (l->data), v);
  }
  return table;
}

/* Counters only grow: the earliest reading before is the smallest, the
 * latest after the largest; every shard's traffic lies between. */
static void
metrics_fold (GHashTable **into, GHashTable *from, gboolean lowest)
{
  GHashTableIter iter;
  gpointer name, value;

  if (from == NULL)
    return;
  if (*into == NULL) {
    *into = g_hash_table_ref (from);
    return;
  }
  g_hash_table_iter_init (&iter, from);
  while (g_hash_table_iter_next (&iter, &name, &value)) {
    double *slot = g_hash_table_lookup (*into, name);

    if (slot == NULL) {
      slot = g_new (double, 1);
      *slot = *(double *)value;
      g_hash_table_insert (*into, g_strdup (name), slot);
    } else if (lowest ? *(double *)value < *slot : *(double *)value > *slot) {
      *slot = *(double *)value;
    }
  }
}

/* Matches the acknowledged publishes to the rooms' seqs. */
static void
join_sent (Shard *shards, guint n, const HubLgPlan *plan, const gint64 *final, const gint64 *first,
           guint64 *acked, guint64 *unclaimed, guint64 *conflicts)
{
  for (guint r = 0; r < plan->n_rooms; r++) {
    gint64 lo = first[r], hi = final[r];
    g_autofree guint8 *claimed = NULL;

    if (hi <= lo)
      continue;
    claimed = g_new0 (guint8, hi - lo);
    for (guint i = 0; i < n; i++) {
      GArray *sent = shards[i].record->sent;

      for (guint k = 0; k < sent->len; k++) {
        const HubLgShardSent *e = &g_array_index (sent, HubLgShardSent, k);

        if (e->room == r && e->seq > lo && e->seq <= hi && claimed[e->seq - lo - 1]++ == 1)
          (*conflicts)++;
      }
    }
    for (gint64 s = 0; s < hi - lo; s++)
      *unclaimed += claimed[s] == 0;
  }
  for (guint i = 0; i < n; i++)
    *acked += shards[i].record->sent->len;
}

HubLgReport *
hub_lg_merge (HubLgConfig *config, const char *const *paths, guint n, GError **error)
{
  g_autofree Shard *shards = g_new0 (Shard, MAX (n, 1));
  g_autoptr (HubLgReport) report = NULL;
  g_autofree const HubLgShardDevice **by_device = NULL;
  g_autofree gint64 *final = NULL, *first = NULL;
  HubLgPlan *plan;
  HubLgStep step = {0};
  guint64 acked = 0, unclaimed = 0, conflicts = 0;
  gboolean ok = FALSE;
  JsonArray *reports;

  if (n == 0) {
    usage (error, "merge: no report given");
    return NULL;
  }
  for (guint i = 0; i < n; i++)
    shards[i].path = paths[i];
  for (guint i = 0; i < n; i++) {
    if (!load (&shards[i], error))
      goto out;
  }
  if (!check_same (shards, n, error) ||
      !hub_lg_config_load_json (config, object_member (shards[0].root, "config"), error))
    goto out;
  /* The merged report is the whole population's. */
  g_clear_pointer (&config->shard, g_free);
  if (!hub_lg_config_finish (config, error))
    goto out;
  plan = hub_lg_plan_new (config->prefix, config->users, &config->device_dist, config->rooms,
                          config->rooms_per_user, config->room_skew, config->seed, 0);
  if (config->user_prefix != NULL) {
    g_free (plan->user_prefix);
    plan->user_prefix = g_strdup (config->user_prefix);
  }
  report = hub_lg_report_new (config, plan);
  for (guint i = 0; i < n; i++) {
    shards[i].record =
        hub_lg_shard_record_from_json (object_member (shards[i].root, "shard"), plan, error);
    if (shards[i].record == NULL) {
      g_prefix_error (error, "%s: ", shards[i].path);
      goto out;
    }
  }
  by_device = g_new0 (const HubLgShardDevice *, plan->n_devices);
  if (!check_cover (shards, n, plan, by_device, error))
    goto out;

  /* Each room's final seq: the highest any shard settled or saw. */
  final = g_new (gint64, plan->n_rooms);
  first = g_new (gint64, plan->n_rooms);
  for (guint r = 0; r < plan->n_rooms; r++) {
    final[r] = -1;
    first[r] = G_MAXINT64;
  }
  for (guint i = 0; i < n; i++) {
    const HubLgShardRecord *rec = shards[i].record;

    for (guint r = 0; r < plan->n_rooms; r++)
      final[r] = MAX (final[r], rec->final_seq[r]);
    for (guint k = 0; k < rec->subs->len; k++) {
      const HubLgSub *sub = &g_array_index (rec->subs, HubLgSub, k);

      final[sub->room] = MAX (final[sub->room], sub->max_seen);
      if (sub->baseline >= 0)
        first[sub->room] = MIN (first[sub->room], sub->baseline);
    }
    for (guint k = 0; k < rec->sent->len; k++) {
      const HubLgShardSent *e = &g_array_index (rec->sent, HubLgShardSent, k);

      final[e->room] = MAX (final[e->room], e->seq);
    }
  }
  for (guint r = 0; r < plan->n_rooms; r++) {
    if (first[r] == G_MAXINT64)
      first[r] = final[r];
  }

  /* Every subscription of every shard against those finals. */
  for (guint i = 0; i < n; i++) {
    const HubLgShardRecord *rec = shards[i].record;

    for (guint k = 0; k < rec->subs->len; k++) {
      const HubLgSub *sub = &g_array_index (rec->subs, HubLgSub, k);
      MissArgs a = {report, by_device[sub->device]};

      hub_lg_sub_tally (sub, final[sub->room], &report->tally, on_miss, &a);
    }
  }
  join_sent (shards, n, plan, final, first, &acked, &unclaimed, &conflicts);

  /* Figures added up; phases as long as the longest shard's. */
  report->metrics_interval_s = 0;
  step.rate = config->rate;
  report->ramp_complete = report->drained = TRUE;
  for (guint i = 0; i < n; i++) {
    JsonObject *root = shards[i].root;
    JsonObject *seconds = object_member (root, "seconds");
    JsonObject *server = object_member (root, "server");
    JsonNode *steps = json_object_get_member (root, "steps");
    const char *started = string_member (root, "started_at");
    g_autoptr (GHashTable) before = metrics_from (root, "before");
    g_autoptr (GHashTable) after = metrics_from (root, "after");

    hub_lg_stats_merge (report->stats, shards[i].record->stats);
    if (started != NULL && (i == 0 || g_strcmp0 (started, report->started_at) < 0)) {
      g_free (report->started_at);
      report->started_at = g_strdup (started);
    }
    report->ramp_s = MAX (report->ramp_s, number_member (seconds, "ramp"));
    report->steady_s = MAX (report->steady_s, number_member (seconds, "steady"));
    report->drain_s = MAX (report->drain_s, number_member (seconds, "drain"));
    report->total_s = MAX (report->total_s, number_member (seconds, "total"));
    report->ramp_complete &= bool_member (seconds, "ramp_complete");
    report->drained &= bool_member (seconds, "drained");
    report->interrupted |= bool_member (seconds, "interrupted");
    report->threads += (guint)number_member (object_member (root, "population"), "threads");
    if (before == NULL || after == NULL) {
      if (report->metrics_error == NULL)
        report->metrics_error = g_strdup_printf ("%s: %s", shards[i].path,
                                                 string_member (server, "error") != NULL
                                                     ? string_member (server, "error")
                                                     : "no /metrics");
    }
    metrics_fold (&report->metrics_before, before, TRUE);
    metrics_fold (&report->metrics_after, after, FALSE);
    report->metrics_interval_s =
        MAX (report->metrics_interval_s, number_member (server, "interval_s"));
    if (steps != NULL && JSON_NODE_HOLDS_ARRAY (steps) &&
        json_array_get_length (json_node_get_array (steps)) > 0) {
      JsonObject *s = json_array_get_object_element (json_node_get_array (steps), 0);

      step.seconds = MAX (step.seconds, number_member (s, "seconds"));
      step.sent += (guint64)number_member (s, "sent");
      step.delivered += (guint64)number_member (s, "delivered");
      step.errors += (guint64)number_member (s, "errors");
    }
    if (shards[i].record->error != NULL && report->shard_error == NULL)
      report->shard_error =
          g_strdup_printf ("shard %u: %s", shards[i].record->index, shards[i].record->error);
  }
  if (report->metrics_error != NULL) {
    g_clear_pointer (&report->metrics_before, g_hash_table_unref);
    g_clear_pointer (&report->metrics_after, g_hash_table_unref);
  }
  report->final_seq = g_steal_pointer (&final);
  report->users_asked = config->users;
  report->connections_asked = plan->n_devices;
  report->target_devices = plan->n_devices;
  step.lost = report->tally.lost;
  step.latency_count = hub_lg_histogram_count (report->stats->latency);
  step.p50_ns = hub_lg_histogram_quantile (report->stats->latency, 0.5);
  step.p99_ns = hub_lg_histogram_quantile (report->stats->latency, 0.99);
  step.p999_ns = hub_lg_histogram_quantile (report->stats->latency, 0.999);
  step.max_ns = hub_lg_histogram_max (report->stats->latency);
  hub_lg_report_judge_step (config, &step, report->tally.expected);
  g_array_append_val (report->steps, step);

  report->merged = json_object_new ();
  json_object_set_int_member (report->merged, "shards", n);
  reports = json_array_new ();
  for (guint i = 0; i < n; i++)
    json_array_add_string_element (reports, shards[i].path);
  json_object_set_array_member (report->merged, "reports", reports);
  json_object_set_int_member (report->merged, "publishes_acked", (gint64)acked);
  /* Seqs in the rooms that no shard's publish was acknowledged with: sent by
   * another client, or a publish whose reply never came (sent.publish_unknown). */
  json_object_set_int_member (report->merged, "unclaimed_seqs", (gint64)unclaimed);
  /* Seqs acknowledged to two publishes: the server gave one seq twice. */
  json_object_set_int_member (report->merged, "conflicting_seqs", (gint64)conflicts);
  if (conflicts > 0 && report->shard_error == NULL)
    report->shard_error = g_strdup_printf (
        "%" G_GUINT64_FORMAT " seqs were acknowledged to two publishes", conflicts);
  {
    g_autoptr (GString) command = g_string_new ("hub-loadgen merge");

    for (guint i = 0; i < n; i++)
      g_string_append_printf (command, " %s", shards[i].path);
    report->command = g_string_free (g_steal_pointer (&command), FALSE);
  }
  hub_lg_report_judge (report);
  ok = TRUE;
out:
  for (guint i = 0; i < n; i++)
    shard_clear (&shards[i]);
  return ok ? g_steal_pointer (&report) : NULL;
}

/* Writes @text to @output (nullable) and puts it in place; FALSE (said) when that failed. */
static gboolean
write_output (HubLgOutput *output, const char *text)
{
  return hub_lg_output_write (output, text, "hub-loadgen merge: ");
}

int
hub_lg_merge_main (int argc, char **argv)
{
  g_autofree char *json_path = NULL, *hgrm_path = NULL, *html_path = NULL;
  g_auto (GStrv) paths = NULL;
  GOptionEntry entries[] = {
      {"json", 0, 0, G_OPTION_ARG_FILENAME, &json_path,
       "Write the merged report as JSON to FILE (- for stdout)", "FILE"},
      {"hgrm", 0, 0, G_OPTION_ARG_FILENAME, &hgrm_path,
       "Write the merged delivery latency in HdrHistogram's .hgrm layout to FILE", "FILE"},
      {"html", 0, 0, G_OPTION_ARG_FILENAME, &html_path, "Write the merged HTML report to FILE",
       "FILE"},
      {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &paths, NULL, NULL},
      {NULL, 0, 0, 0, NULL, NULL, NULL},
  };
  g_autoptr (GOptionContext) context =
      g_option_context_new ("REPORT… — join the --json reports of the shards of one run");
  g_autoptr (GError) error = NULL;
  g_autoptr (HubLgReport) report = NULL;
  g_autoptr (HubLgOutput) json = NULL;
  g_autoptr (HubLgOutput) hgrm = NULL;
  g_autoptr (HubLgOutput) html = NULL;
  g_autofree char *text = NULL;
  HubLgConfig config;
  gboolean to_stderr;
  int status;

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_summary (
      context, "Every shard ran `hub-loadgen --shard I/N … --json FILE` with the same settings, "
               "--seed and --prefix; merge reads their N reports and prints one report for the "
               "whole population (the same table, outputs and exit status as a run).");
  if (!g_option_context_parse (context, &argc, &argv, &error)) {
    fprintf (stderr, "hub-loadgen merge: %s (see --help)\n", error->message);
    return 2;
  }
  if (paths == NULL || paths[0] == NULL) {
    fprintf (stderr, "hub-loadgen merge: give the shards' JSON reports (see --help)\n");
    return 2;
  }
  /* The outputs are opened first: one that cannot be written is said at once. */
  if ((json_path != NULL &&
       (json = hub_lg_output_open ("--json", json_path, FALSE, &error)) == NULL) ||
      (hgrm_path != NULL &&
       (hgrm = hub_lg_output_open ("--hgrm", hgrm_path, FALSE, &error)) == NULL) ||
      (html_path != NULL &&
       (html = hub_lg_output_open ("--html", html_path, FALSE, &error)) == NULL)) {
    fprintf (stderr, "hub-loadgen merge: %s\n", error->message);
    return 2;
  }
  hub_lg_config_init (&config);
  report = hub_lg_merge (&config, (const char *const *)paths, g_strv_length (paths), &error);
  if (report == NULL) {
    fprintf (stderr, "hub-loadgen merge: %s\n", error->message);
    hub_lg_config_clear (&config);
    return 2;
  }
  to_stderr = g_strcmp0 (json_path, "-") == 0 || g_strcmp0 (hgrm_path, "-") == 0 ||
              g_strcmp0 (html_path, "-") == 0;
  text = hub_lg_report_to_text (report);
  fputs (text, to_stderr ? stderr : stdout);
  fflush (to_stderr ? stderr : stdout);
  status = report->passed ? 0 : 1;
  if (json != NULL) {
    g_autofree char *body = hub_lg_report_to_json_text (report);

    if (!write_output (json, body))
      status = 1;
  }
  if (hgrm != NULL) {
    g_autofree char *body = hub_lg_histogram_to_hgrm (report->stats->latency);

    if (!write_output (hgrm, body))
      status = 1;
  }
  if (html != NULL) {
    g_autofree char *body = hub_lg_report_to_html (report);

    if (!write_output (html, body))
      status = 1;
  }
  g_clear_pointer (&report, hub_lg_report_free);
  hub_lg_config_clear (&config);
  return status;
}
