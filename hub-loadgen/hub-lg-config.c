/* hub-lg-config.c: the settings table, its parsers, and the checks that make
 * a run's settings consistent before anything connects. Every value is read
 * as text (from argv or the key file) by the same parser, so both accept the
 * same forms: "30s", "2m", "500ms"; "200/s"; "5%"; "none". */
#include "hub-lg-config.h"

#include <hub/hub-client.h>
#include <hub/hub-version.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCENARIO_GROUP "loadgen"

typedef enum {
  T_STRING,
  T_UINT,
  T_DOUBLE,  /* a number ≥ 0 */
  T_SECONDS, /* "30", "30s", "2m", "500ms" */
  T_RATE,    /* "200" or "200/s" */
  T_PERCENT, /* "5" or "5%" */
  T_LIMIT,   /* a number ≥ 0, or "none" (stored as 0) */
  T_ILIMIT,  /* a whole number ≥ 0, or "none" (stored as -1) in a gint64 */
  T_BOOL,
} OptType;

typedef struct {
  const char *name;
  OptType type;
  gsize offset;
  const char *arg;
  const char *help;
} Opt;

#define F(field) offsetof (HubLgConfig, field)

static const Opt opts[] = {
    {"url", T_STRING, F (url), "URL", "Server WebSocket URL (default ws://127.0.0.1:8080/ws)"},
    {"metrics-url", T_STRING, F (metrics_url), "URL",
     "Server /metrics URL (default: from --url, same host and port)"},
    {"secret", T_STRING, F (secret), "S", "Mint an HS256 token per user with the server's secret"},
    {"users", T_UINT, F (users), "N", "Simulated users (default 100)"},
    {"devices", T_STRING, F (devices), "D",
     "Devices (connections) per user: a count, or a distribution such as 1:60,2:30,3:10 "
     "(default 1)"},
    {"rooms", T_UINT, F (rooms), "R", "Rooms (default 10)"},
    {"rooms-per-user", T_UINT, F (rooms_per_user), "K", "Rooms each user joins (default 1)"},
    {"room-skew", T_DOUBLE, F (room_skew), "S",
     "Zipf exponent of room popularity: 0 uniform, 1 Zipf (default 1)"},
    {"rate", T_RATE, F (rate), "R", "Actions per second per user, open model (default 1)"},
    {"mix", T_STRING, F (mix), "MIX",
     "Shares of the actions, e.g. publish=90,direct=5,typing=4,status=1 (default publish=100)"},
    {"arrival", T_STRING, F (arrival), "KIND",
     "poisson (exponential gaps, default) or uniform (fixed gaps, random phase)"},
    {"payload-bytes", T_UINT, F (payload_bytes), "N", "Extra padding in each payload (default 0)"},
    {"ramp", T_SECONDS, F (ramp_s), "S", "Connect every device over S seconds (default 5)"},
    {"connect-rate", T_RATE, F (connect_rate), "N/s", "Connect N devices per second instead"},
    {"duration", T_SECONDS, F (duration_s), "S", "Steady state length (default 10s)"},
    {"churn", T_PERCENT, F (churn), "P",
     "Share of devices per minute that drop abruptly and resume (default 0)"},
    {"drain", T_SECONDS, F (drain_s), "S",
     "Longest wait after the last send for deliveries still due (default 10s)"},
    {"no-reconnect", T_BOOL, F (no_reconnect), NULL,
     "Devices do not reconnect: a lost connection stays lost"},
    {"threads", T_UINT, F (threads), "N",
     "Event loops (threads) to spread devices over (default 0: one per 2000 connections)"},
    {"source-ips", T_STRING, F (source_ips), "RANGE",
     "Bind connections to these local addresses, e.g. 127.0.0.1-127.0.0.20"},
    {"seed", T_UINT, F (seed), "N", "Seed of every random choice (default: random, reported)"},
    {"prefix", T_STRING, F (prefix), "P",
     "Prefix of user and room names (default: random per run)"},
    {"user-prefix", T_STRING, F (user_prefix), "P",
     "Prefix of user names only (default: --prefix); loadgens sharing rooms need their own"},
    {"max-loss", T_STRING, F (max_loss), "N",
     "Lost deliveries allowed: a count or a percentage such as 0.1% (default 0)"},
    {"max-p99-ms", T_LIMIT, F (max_p99_ms), "MS", "Highest p99 delivery latency allowed"},
    {"max-errors", T_ILIMIT, F (max_errors), "N", "Errors allowed (default 0; none: no limit)"},
    {"find-capacity", T_BOOL, F (find_capacity), NULL,
     "Raise the rate step by step until p99, loss or errors break the limits, then search "
     "between the last rate that held and the first that broke to within 10%"},
    {"step-factor", T_DOUBLE, F (step_factor), "F",
     "--find-capacity: rate multiplier per step (default 1.5)"},
    {"max-steps", T_UINT, F (max_steps), "N", "--find-capacity: most steps (default 12)"},
    {"shard", T_STRING, F (shard), "I/N",
     "Run shard I (0 to N-1) of N of the scenario: the same settings, --seed and --prefix "
     "everywhere make N processes (on N machines) one population; combine their --json reports "
     "with hub-loadgen merge"},
    {"json", T_STRING, F (json_path), "FILE", "Write the report as JSON to FILE (- for stdout)"},
    {"series", T_STRING, F (series_path), "FILE",
     "Write a JSON line a second to FILE as the run goes (- for stdout)"},
    {"hgrm", T_STRING, F (hgrm_path), "FILE",
     "Write the delivery latency as an HdrHistogram percentile distribution (.hgrm) to FILE"},
    {"html", T_STRING, F (html_path), "FILE",
     "Write a self-contained HTML report with charts to FILE"},
    {"scenario", T_STRING, F (scenario), "FILE",
     "Read settings from group [loadgen] of this key file (flags win)"},
    {"quiet", T_BOOL, F (quiet), NULL, "No progress line on stderr"},
};

#define N_OPTS G_N_ELEMENTS (opts)

void
hub_lg_config_init (HubLgConfig *c)
{
  memset (c, 0, sizeof *c);
  c->url = g_strdup ("ws://127.0.0.1:8080/ws");
  c->threads = 0;
  c->users = 100;
  c->devices = g_strdup ("1");
  c->rooms = 10;
  c->rooms_per_user = 1;
  c->room_skew = 1.0;
  c->rate = 1.0;
  c->mix = g_strdup ("publish=100");
  c->arrival = g_strdup ("poisson");
  c->ramp_s = 5;
  c->duration_s = 10;
  c->drain_s = 10;
  c->max_loss = g_strdup ("0");
  c->max_errors = 0;
  c->step_factor = 1.5;
  c->max_steps = 12;
}

void
hub_lg_config_clear (HubLgConfig *c)
{
  for (guint i = 0; i < N_OPTS; i++) {
    if (opts[i].type == T_STRING)
      g_clear_pointer ((char **)((char *)c + opts[i].offset), g_free);
  }
  hub_lg_discrete_clear (&c->device_dist);
  g_clear_pointer (&c->source_addresses, g_ptr_array_unref);
}

static gboolean
bad (GError **error, const Opt *opt, const char *text, const char *what)
{
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--%s: '%s' is not %s", opt->name,
               text, what);
  return FALSE;
}

/* A finite number ≥ 0 followed by @suffix (or nothing). */
static gboolean
number_with (const char *text, double *out, const char *const *suffixes, guint *which)
{
  char *end = NULL;

  *out = g_ascii_strtod (text, &end);
  if (end == text || !isfinite (*out) || *out < 0)
    return FALSE;
  *which = 0;
  if (*end == '\0')
    return TRUE;
  for (guint i = 0; suffixes != NULL && suffixes[i] != NULL; i++) {
    if (strcmp (end, suffixes[i]) == 0) {
      *which = i + 1;
      return TRUE;
    }
  }
  return FALSE;
}

static gboolean
set_value (HubLgConfig *c, const Opt *opt, const char *raw, GError **error)
{
  gpointer field = (char *)c + opt->offset;
  g_autofree char *text = g_strstrip (g_strdup (raw));
  double d;
  guint which;
  guint64 u;

  switch (opt->type) {
    case T_STRING:
      g_free (*(char **)field);
      *(char **)field = g_steal_pointer (&text);
      return TRUE;
    case T_UINT:
      if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT, &u, NULL))
        return bad (error, opt, text, "a whole number");
      *(guint *)field = (guint)u;
      return TRUE;
    case T_DOUBLE:
      if (!number_with (text, &d, NULL, &which))
        return bad (error, opt, text, "a number ≥ 0");
      *(double *)field = d;
      return TRUE;
    case T_SECONDS: {
      static const char *const units[] = {"s", "ms", "m", NULL};
      static const double scale[] = {1, 1, 0.001, 60};

      if (!number_with (text, &d, units, &which))
        return bad (error, opt, text, "a duration such as 30, 30s, 500ms or 2m");
      *(double *)field = d * scale[which];
      return TRUE;
    }
    case T_RATE: {
      static const char *const units[] = {"/s", NULL};

      if (!number_with (text, &d, units, &which))
        return bad (error, opt, text, "a rate such as 200 or 200/s");
      *(double *)field = d;
      return TRUE;
    }
    case T_PERCENT: {
      static const char *const units[] = {"%", NULL};

      if (!number_with (text, &d, units, &which))
        return bad (error, opt, text,
                    "a percentage ≥ 0 (per minute: above 100 drops a device "
                    "more than once a minute)");
      *(double *)field = d;
      return TRUE;
    }
    case T_LIMIT:
    case T_ILIMIT:
      if (g_ascii_strcasecmp (text, "none") == 0) {
        if (opt->type == T_ILIMIT)
          *(gint64 *)field = -1;
        else
          *(double *)field = 0;
        return TRUE;
      }
      if (!number_with (text, &d, NULL, &which))
        return bad (error, opt, text, "a number ≥ 0 or none");
      if (opt->type == T_ILIMIT) {
        if (d != floor (d) || d > 1e15)
          return bad (error, opt, text, "a whole number or none");
        *(gint64 *)field = (gint64)d;
      } else {
        *(double *)field = d;
      }
      return TRUE;
    case T_BOOL:
      if (g_ascii_strcasecmp (text, "true") == 0 || strcmp (text, "1") == 0)
        *(gboolean *)field = TRUE;
      else if (g_ascii_strcasecmp (text, "false") == 0 || strcmp (text, "0") == 0)
        *(gboolean *)field = FALSE;
      else
        return bad (error, opt, text, "true or false");
      return TRUE;
    default:
      g_assert_not_reached ();
  }
}

gboolean
hub_lg_config_load_scenario (HubLgConfig *c, const char *data, gsize len, GError **error)
{
  g_autoptr (GKeyFile) file = g_key_file_new ();
  g_auto (GStrv) keys = NULL;

  if (!g_key_file_load_from_data (file, data, len, G_KEY_FILE_NONE, error))
    return FALSE;
  if (!g_key_file_has_group (file, SCENARIO_GROUP)) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                 "the scenario has no [" SCENARIO_GROUP "] group");
    return FALSE;
  }
  keys = g_key_file_get_keys (file, SCENARIO_GROUP, NULL, error);
  if (keys == NULL)
    return FALSE;
  for (guint k = 0; keys[k] != NULL; k++) {
    g_autofree char *value = NULL;
    guint i;

    for (i = 0; i < N_OPTS; i++) {
      if (strcmp (keys[k], opts[i].name) == 0)
        break;
    }
    if (i == N_OPTS || strcmp (keys[k], "scenario") == 0) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION,
                   "scenario: unknown key '%s'", keys[k]);
      return FALSE;
    }
    value = g_key_file_get_string (file, SCENARIO_GROUP, keys[k], error);
    if (value == NULL || !set_value (c, &opts[i], value, error))
      return FALSE;
  }
  return TRUE;
}

gboolean
hub_lg_config_parse (HubLgConfig *c, int argc, char **argv, GError **error)
{
  g_autoptr (GOptionContext) context = NULL;
  GOptionEntry entries[N_OPTS + 2];
  char *given[N_OPTS];
  gboolean flags[N_OPTS];
  gboolean version = FALSE;
  g_auto (GStrv) args = NULL;
  gboolean ok = FALSE;
  gint n_args;

  memset (entries, 0, sizeof entries);
  memset (given, 0, sizeof given);
  memset (flags, 0, sizeof flags);
  for (guint i = 0; i < N_OPTS; i++) {
    entries[i].long_name = opts[i].name;
    entries[i].arg = opts[i].type == T_BOOL ? G_OPTION_ARG_NONE : G_OPTION_ARG_STRING;
    entries[i].arg_data = opts[i].type == T_BOOL ? (gpointer)&flags[i] : (gpointer)&given[i];
    entries[i].description = opts[i].help;
    entries[i].arg_description = opts[i].arg;
  }
  entries[N_OPTS] = (GOptionEntry){
      "version", 'V', 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL};
  context = g_option_context_new ("[URL] - load and check a hub server");
  g_option_context_set_summary (
      context, "Simulates multi-device users chatting in rooms, measures delivery latency and "
               "checks that every message reached every device that should have it.");
  g_option_context_set_description (
      context, "Exit status: 0 when the run met --max-loss, --max-p99-ms and --max-errors, 1 "
               "when it did not, 2 on bad usage. See docs/hub-loadgen.md.");
  g_option_context_add_main_entries (context, entries, NULL);
  /* GOption rewrites the vector it parses: give it a copy. */
  args = g_new0 (char *, argc + 1);
  for (int i = 0; i < argc; i++)
    args[i] = g_strdup (argv[i]);
  n_args = argc;
  if (!g_option_context_parse_strv (context, &args, error))
    goto out;
  if (version) {
    printf ("hub-loadgen %s\n", HUB_VERSION);
    exit (EXIT_SUCCESS); /* like --help */
  }
  n_args = (gint)g_strv_length (args);
  if (n_args > 2) {
    g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "unexpected argument '%s'",
                 args[2]);
    goto out;
  }

  /* The scenario first, so that the flags win. */
  for (guint i = 0; i < N_OPTS; i++) {
    if (strcmp (opts[i].name, "scenario") == 0 && given[i] != NULL) {
      g_autofree char *data = NULL;
      gsize len;

      if (!g_file_get_contents (given[i], &data, &len, error))
        goto out;
      if (!hub_lg_config_load_scenario (c, data, len, error)) {
        g_prefix_error (error, "%s: ", given[i]);
        goto out;
      }
    }
  }
  for (guint i = 0; i < N_OPTS; i++) {
    if (opts[i].type == T_BOOL) {
      if (flags[i])
        *(gboolean *)((char *)c + opts[i].offset) = TRUE;
    } else if (given[i] != NULL && !set_value (c, &opts[i], given[i], error)) {
      goto out;
    }
  }
  if (n_args == 2) {
    g_free (c->url);
    c->url = g_strdup (args[1]);
  }
  ok = hub_lg_config_finish (c, error);

out:
  for (guint i = 0; i < N_OPTS; i++)
    g_free (given[i]);
  return ok;
}

static gboolean fail (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
fail (GError **error, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, message);
  return FALSE;
}

gboolean
hub_lg_config_finish (HubLgConfig *c, GError **error)
{
  HubClientUrl url;
  g_autoptr (GError) local = NULL;

  if (!hub_client_url_parse (c->url, &url, &local))
    return fail (error, "--url: %s", local->message);
  if (c->metrics_url == NULL)
    c->metrics_url = g_strdup_printf ("%s://%s%s%s:%u/metrics", url.tls ? "https" : "http",
                                      strchr (url.host, ':') ? "[" : "", url.host,
                                      strchr (url.host, ':') ? "]" : "", url.port);
  hub_client_url_clear (&url);

  if (c->users == 0)
    return fail (error, "--users must be at least 1");
  if (c->rooms == 0)
    return fail (error, "--rooms must be at least 1");
  if (c->rooms_per_user == 0)
    return fail (error, "--rooms-per-user must be at least 1");
  if (c->rooms_per_user > c->rooms)
    return fail (error, "--rooms-per-user %u is more than --rooms %u", c->rooms_per_user, c->rooms);
  if (c->threads > 64)
    return fail (error, "--threads must be at most 64 (0: automatic)");
  if (c->duration_s <= 0)
    return fail (error, "--duration must be more than 0");
  if (c->ramp_s <= 0 && c->connect_rate <= 0)
    return fail (error, "--ramp must be more than 0 (or give --connect-rate)");
  if (c->payload_bytes > 60000)
    return fail (error, "--payload-bytes must be at most 60000 (the server's message limit)");
  if (strcmp (c->arrival, "poisson") != 0 && strcmp (c->arrival, "uniform") != 0)
    return fail (error, "--arrival: '%s' is not poisson or uniform", c->arrival);
  if (c->find_capacity && (c->step_factor <= 1.0 || c->max_steps < 1))
    return fail (error, "--find-capacity needs --step-factor above 1 and --max-steps ≥ 1");
  if (c->find_capacity && c->rate <= 0)
    return fail (error, "--find-capacity needs a starting --rate above 0");

  {
    const char *outputs[] = {c->json_path, c->series_path, c->hgrm_path, c->html_path};
    guint to_stdout = 0;

    for (guint i = 0; i < G_N_ELEMENTS (outputs); i++)
      to_stdout += outputs[i] != NULL && strcmp (outputs[i], "-") == 0;
    if (to_stdout > 1)
      return fail (error, "only one of --json, --series, --hgrm and --html may be - (stdout)");
  }
  hub_lg_discrete_clear (&c->device_dist);
  if (!hub_lg_discrete_parse (c->devices, &c->device_dist, &local))
    return fail (error, "--devices: %s", local->message);
  if (!hub_lg_mix_parse (c->mix, &c->mix_shares, &local))
    return fail (error, "--mix: %s", local->message);
  g_clear_pointer (&c->source_addresses, g_ptr_array_unref);
  if (c->source_ips != NULL &&
      (c->source_addresses = hub_lg_addresses_parse (c->source_ips, &local)) == NULL)
    return fail (error, "--source-ips: %s", local->message);
  {
    const char *text = c->max_loss;
    gsize len = strlen (text);
    char *end = NULL;

    c->max_loss_is_ratio = len > 0 && text[len - 1] == '%';
    c->max_loss_value = g_ascii_strtod (text, &end);
    if (end == text || c->max_loss_value < 0 || !isfinite (c->max_loss_value) ||
        (c->max_loss_is_ratio ? end != text + len - 1 : *end != '\0'))
      return fail (error, "--max-loss: '%s' is not a count or a percentage such as 0.1%%", text);
    if (c->max_loss_is_ratio)
      c->max_loss_value /= 100.0;
  }
  c->shard_index = 0;
  c->shard_count = 1;
  if (c->shard != NULL) {
    guint64 index, count;
    g_auto (GStrv) parts = g_strsplit (c->shard, "/", 3);

    if (g_strv_length (parts) != 2 ||
        !g_ascii_string_to_unsigned (parts[0], 10, 0, 9999, &index, NULL) ||
        !g_ascii_string_to_unsigned (parts[1], 10, 1, 10000, &count, NULL) || index >= count)
      return fail (error, "--shard: '%s' is not I/N with 0 ≤ I < N (such as 0/2)", c->shard);
    c->shard_index = (guint)index;
    c->shard_count = (guint)count;
    if (c->seed == 0 || c->prefix == NULL)
      return fail (error, "--shard needs --seed and --prefix: every shard must draw the same "
                          "population (give each run a prefix of its own)");
    if (c->find_capacity)
      return fail (error, "--shard with --find-capacity is not supported: step the rate by "
                          "running the shards once per rate");
  }
  for (guint k = 0; k < 2; k++) {
    const char *flag = k == 0 ? "--prefix" : "--user-prefix";
    const char *value = k == 0 ? c->prefix : c->user_prefix;

    if (value == NULL)
      continue;
    for (const char *p = value; *p; p++) {
      if (!g_ascii_isalnum (*p) && !strchr ("_.-", *p))
        return fail (error, "%s: '%s' may only hold A-Z a-z 0-9 _ . -", flag, value);
    }
    if (strlen (value) > 40)
      return fail (error, "%s: at most 40 characters", flag);
  }
  return TRUE;
}

gboolean
hub_lg_config_load_json (HubLgConfig *c, JsonObject *o, GError **error)
{
  for (guint i = 0; i < N_OPTS; i++) {
    const Opt *opt = &opts[i];
    JsonNode *node = json_object_get_member (o, opt->name);
    g_autofree char *text = NULL;

    if (node == NULL || strcmp (opt->name, "secret") == 0 || strcmp (opt->name, "json") == 0 ||
        strcmp (opt->name, "scenario") == 0)
      continue;
    if (JSON_NODE_HOLDS_NULL (node)) {
      /* null: unset (strings), or no limit */
      if (opt->type == T_LIMIT || opt->type == T_ILIMIT)
        text = g_strdup ("none");
      else if (opt->type == T_STRING)
        g_clear_pointer ((char **)((char *)c + opt->offset), g_free);
    } else if (JSON_NODE_HOLDS_VALUE (node)) {
      switch (json_node_get_value_type (node)) {
        case G_TYPE_STRING:
          text = g_strdup (json_node_get_string (node));
          break;
        case G_TYPE_BOOLEAN:
          text = g_strdup (json_node_get_boolean (node) ? "true" : "false");
          break;
        case G_TYPE_INT64:
          text = g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
          break;
        default: {
          char buf[G_ASCII_DTOSTR_BUF_SIZE];

          text = g_strdup (g_ascii_dtostr (buf, sizeof buf, json_node_get_double (node)));
          break;
        }
      }
    }
    if (text != NULL && !set_value (c, opt, text, error))
      return FALSE;
  }
  return TRUE;
}

guint
hub_lg_config_threads (const HubLgConfig *c, guint connections)
{
  if (c->threads > 0)
    return c->threads;
  return CLAMP ((connections + HUB_LG_CONNECTIONS_PER_THREAD - 1) / HUB_LG_CONNECTIONS_PER_THREAD,
                1, 16);
}

double
hub_lg_config_connect_rate (const HubLgConfig *c, guint connections)
{
  if (c->connect_rate > 0)
    return c->connect_rate;
  return MAX (1.0, connections / c->ramp_s);
}

JsonObject *
hub_lg_config_to_json (const HubLgConfig *c)
{
  JsonObject *o = json_object_new ();

  for (guint i = 0; i < N_OPTS; i++) {
    gpointer field = (char *)c + opts[i].offset;
    const char *name = opts[i].name;

    switch (opts[i].type) {
      case T_STRING: {
        const char *s = *(char **)field;

        if (strcmp (name, "secret") == 0 && s != NULL)
          s = "********";
        if (s != NULL)
          json_object_set_string_member (o, name, s);
        else
          json_object_set_null_member (o, name);
        break;
      }
      case T_UINT:
        json_object_set_int_member (o, name, *(guint *)field);
        break;
      case T_BOOL:
        json_object_set_boolean_member (o, name, *(gboolean *)field);
        break;
      case T_ILIMIT:
        if (*(gint64 *)field < 0)
          json_object_set_null_member (o, name);
        else
          json_object_set_int_member (o, name, *(gint64 *)field);
        break;
      case T_LIMIT:
        if (*(double *)field <= 0)
          json_object_set_null_member (o, name);
        else
          json_object_set_double_member (o, name, *(double *)field);
        break;
      default:
        json_object_set_double_member (o, name, *(double *)field);
        break;
    }
  }
  return o;
}
