/* hub-lg-shard.c: a shard's record (hub-lg-shard.h) and its JSON form, and
 * the barriers the shards keep through the server. The record's long lists
 * are strings of one line per entry (a pretty-printed JSON array would put
 * every number on a line of its own): a subscription is
 * "DEVICE ROOM BASELINE MAX_SEEN RECEIVED DUPLICATES OUT_OF_ORDER EARLY HOLES EVICTED"
 * with the ranges as "FROM-TO,FROM-TO" or "-"; a device
 * "GLOBAL USER SLOT CONNECTED GONE LAST_CLOSE"; the sent seqs of a room
 * "ROOM FROM-TO,FROM-TO…". Histograms are hub-lg-hgrm.h's exact JSON buckets. */
#include "hub-lg-shard.h"

#include "hub-lg-hgrm.h"
#include "hub-lg-wire.h"

#include <hub/hub-auth.h>
#include <hub/hub-client.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONTROL_TIMEOUT_MS 10000
#define TOKEN_LIFETIME_S   (24 * 3600)
#define POLL_MS            100

HubLgShardRecord *
hub_lg_shard_record_new (guint index, guint count, guint n_rooms)
{
  HubLgShardRecord *r = g_new0 (HubLgShardRecord, 1);

  r->index = index;
  r->count = count;
  r->n_rooms = n_rooms;
  r->subs = g_array_new (FALSE, FALSE, sizeof (HubLgSub));
  r->devices = g_array_new (FALSE, FALSE, sizeof (HubLgShardDevice));
  r->sent = g_array_new (FALSE, FALSE, sizeof (HubLgShardSent));
  r->final_seq = g_new (gint64, MAX (n_rooms, 1));
  for (guint i = 0; i < n_rooms; i++)
    r->final_seq[i] = -1;
  r->stats = hub_lg_stats_new ();
  return r;
}

void
hub_lg_shard_record_free (HubLgShardRecord *r)
{
  if (r == NULL)
    return;
  for (guint i = 0; i < r->subs->len; i++)
    hub_lg_sub_clear (&g_array_index (r->subs, HubLgSub, i));
  g_array_unref (r->subs);
  g_array_unref (r->devices);
  g_array_unref (r->sent);
  g_free (r->final_seq);
  hub_lg_stats_free (r->stats);
  g_free (r->error);
  g_free (r);
}

guint
hub_lg_shard_users (const HubLgPlan *plan, guint index, guint count)
{
  return index < plan->n_users ? (plan->n_users - index + count - 1) / count : 0;
}

guint
hub_lg_shard_devices (const HubLgPlan *plan, guint index, guint count)
{
  guint n = 0;

  for (guint u = index; u < plan->n_users; u += count)
    n += plan->user_devices[u];
  return n;
}

/* ---- to JSON ---- */

static void
append_ranges (GString *s, const GArray *ranges)
{
  if (ranges == NULL || ranges->len == 0) {
    g_string_append_c (s, '-');
    return;
  }
  for (guint i = 0; i < ranges->len; i++) {
    const HubLgRange *r = &g_array_index (ranges, HubLgRange, i);

    g_string_append_printf (s, "%s%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT, i ? "," : "", r->from,
                            r->to);
  }
}

static int
compare_sent (gconstpointer a, gconstpointer b)
{
  const HubLgShardSent *x = a, *y = b;

  if (x->room != y->room)
    return x->room < y->room ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static const char *const histogram_names[] = {"latency", "direct", "ack", "connect"};

static HubLgHistogram *
histogram_of (HubLgStats *stats, guint i)
{
  HubLgHistogram *const all[] = {stats->latency, stats->direct, stats->ack, stats->connect};

  return all[i];
}

static JsonObject *
table_to_json (GHashTable *table)
{
  JsonObject *o = json_object_new ();
  GHashTableIter iter;
  gpointer key, value;

  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, &value))
    json_object_set_int_member (o, key, (gint64) * (guint64 *)value);
  return o;
}

/* The counters (in HubLgCounter's order: the merge needs the same version),
 * the error and close tables and the histograms. */
static void
stats_to_json (JsonObject *o, HubLgStats *stats)
{
  JsonArray *counters = json_array_new ();
  JsonObject *histograms = json_object_new ();

  for (guint i = 0; i < HUB_LG_N_COUNTERS; i++)
    json_array_add_int_element (counters, (gint64)stats->c[i]);
  json_object_set_array_member (o, "counters", counters);
  json_object_set_object_member (o, "errors", table_to_json (stats->errors));
  json_object_set_object_member (o, "closes", table_to_json (stats->closes));
  for (guint i = 0; i < G_N_ELEMENTS (histogram_names); i++)
    json_object_set_object_member (histograms, histogram_names[i],
                                   hub_lg_histogram_to_json (histogram_of (stats, i)));
  json_object_set_object_member (o, "histograms", histograms);
}

static gboolean
stats_from_json (JsonObject *o, HubLgStats *stats)
{
  JsonNode *counters = json_object_get_member (o, "counters");
  JsonNode *errors = json_object_get_member (o, "errors");
  JsonNode *closes = json_object_get_member (o, "closes");
  JsonNode *histograms = json_object_get_member (o, "histograms");

  if (counters == NULL || !JSON_NODE_HOLDS_ARRAY (counters) ||
      json_array_get_length (json_node_get_array (counters)) != HUB_LG_N_COUNTERS ||
      errors == NULL || !JSON_NODE_HOLDS_OBJECT (errors) || closes == NULL ||
      !JSON_NODE_HOLDS_OBJECT (closes) || histograms == NULL ||
      !JSON_NODE_HOLDS_OBJECT (histograms))
    return FALSE;
  for (guint i = 0; i < HUB_LG_N_COUNTERS; i++)
    stats->c[i] = (guint64)json_array_get_int_element (json_node_get_array (counters), i);
  for (guint t = 0; t < 2; t++) {
    JsonObject *table = json_node_get_object (t == 0 ? errors : closes);
    g_autoptr (GList) names = json_object_get_members (table);

    for (GList *l = names; l != NULL; l = l->next) {
      guint64 n = (guint64)json_object_get_int_member (table, l->data);
      guint64 *slot = g_new (guint64, 1);

      *slot = n;
      g_hash_table_replace (t == 0 ? stats->errors : stats->closes, g_strdup (l->data), slot);
    }
  }
  for (guint i = 0; i < G_N_ELEMENTS (histogram_names); i++) {
    JsonObject *h = json_node_get_object (histograms);
    JsonNode *node = json_object_get_member (h, histogram_names[i]);
    g_autoptr (HubLgHistogram) read = NULL;

    if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node) ||
        (read = hub_lg_histogram_from_json (json_node_get_object (node), NULL)) == NULL)
      return FALSE;
    hub_lg_histogram_merge (histogram_of (stats, i), read);
  }
  return TRUE;
}

JsonObject *
hub_lg_shard_record_to_json (const HubLgShardRecord *r)
{
  JsonObject *o = json_object_new ();
  JsonArray *finals = json_array_new ();
  JsonArray *devices = json_array_new ();
  JsonArray *subs = json_array_new ();
  JsonArray *sent = json_array_new ();
  g_autoptr (GArray) sorted = g_array_copy (r->sent);
  g_autoptr (GString) line = g_string_new (NULL);

  json_object_set_string_member (o, "schema", HUB_LG_SHARD_SCHEMA);
  json_object_set_int_member (o, "index", r->index);
  json_object_set_int_member (o, "count", r->count);
  json_object_set_int_member (o, "users", r->users);
  json_object_set_int_member (o, "devices_count", r->devices->len);
  json_object_set_int_member (o, "publishes_acked", r->sent->len);
  for (guint i = 0; i < r->n_rooms; i++)
    json_array_add_int_element (finals, r->final_seq[i]);
  json_object_set_array_member (o, "final_seq", finals);
  for (guint i = 0; i < r->devices->len; i++) {
    const HubLgShardDevice *d = &g_array_index (r->devices, HubLgShardDevice, i);

    g_string_printf (line, "%u %u %u %d %d %u", d->global, d->user, d->slot, d->connected ? 1 : 0,
                     d->gone ? 1 : 0, d->last_close);
    json_array_add_string_element (devices, line->str);
  }
  json_object_set_array_member (o, "devices", devices);
  for (guint i = 0; i < r->subs->len; i++) {
    const HubLgSub *s = &g_array_index (r->subs, HubLgSub, i);

    g_string_printf (line,
                     "%u %u %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GUINT64_FORMAT
                     " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " ",
                     s->device, s->room, s->baseline, s->max_seen, s->received, s->duplicates,
                     s->out_of_order, s->early);
    append_ranges (line, s->holes);
    g_string_append_c (line, ' ');
    append_ranges (line, s->evicted);
    json_array_add_string_element (subs, line->str);
  }
  json_object_set_array_member (o, "subscriptions", subs);
  /* The acknowledged seqs of each room, as ranges. */
  g_array_sort (sorted, compare_sent);
  for (guint i = 0; i < sorted->len;) {
    guint room = g_array_index (sorted, HubLgShardSent, i).room;

    g_string_printf (line, "%u ", room);
    for (gboolean first = TRUE;
         i < sorted->len && g_array_index (sorted, HubLgShardSent, i).room == room; first = FALSE) {
      gint64 from = g_array_index (sorted, HubLgShardSent, i).seq, to = from;

      for (i++; i < sorted->len && g_array_index (sorted, HubLgShardSent, i).room == room &&
                g_array_index (sorted, HubLgShardSent, i).seq == to + 1;
           i++)
        to++;
      g_string_append_printf (line, "%s%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT, first ? "" : ",",
                              from, to);
    }
    json_array_add_string_element (sent, line->str);
  }
  json_object_set_array_member (o, "sent", sent);
  stats_to_json (o, r->stats);
  if (r->error != NULL)
    json_object_set_string_member (o, "error", r->error);
  return o;
}

/* ---- from JSON ---- */

static gboolean
bad (GError **error, const char *what, const char *text)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "shard record: bad %s: '%.80s'", what,
               text != NULL ? text : "(none)");
  return FALSE;
}

/* "FROM-TO,FROM-TO" or "-" into @ranges (*@ranges created when needed). */
static gboolean
parse_ranges (const char *text, GArray **ranges)
{
  const char *p = text;

  if (strcmp (text, "-") == 0)
    return TRUE;
  while (*p != '\0') {
    char *end;
    HubLgRange r;

    r.from = g_ascii_strtoll (p, &end, 10);
    if (end == p || *end != '-')
      return FALSE;
    p = end + 1;
    r.to = g_ascii_strtoll (p, &end, 10);
    if (end == p || r.to < r.from)
      return FALSE;
    if (*ranges == NULL)
      *ranges = g_array_new (FALSE, FALSE, sizeof (HubLgRange));
    g_array_append_val (*ranges, r);
    p = end;
    if (*p == ',')
      p++;
    else if (*p != '\0')
      return FALSE;
  }
  return TRUE;
}

static JsonArray *
array_member (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  return n != NULL && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

static const char *
string_at (JsonArray *a, guint i)
{
  JsonNode *n = json_array_get_element (a, i);

  return JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
             ? json_node_get_string (n)
             : NULL;
}

HubLgShardRecord *
hub_lg_shard_record_from_json (JsonObject *o, const HubLgPlan *plan, GError **error)
{
  g_autoptr (HubLgShardRecord) r = NULL;
  JsonArray *finals = array_member (o, "final_seq");
  JsonArray *devices = array_member (o, "devices");
  JsonArray *subs = array_member (o, "subscriptions");
  JsonArray *sent = array_member (o, "sent");
  const char *schema =
      json_object_has_member (o, "schema") ? json_object_get_string_member (o, "schema") : NULL;
  gint64 index = json_object_has_member (o, "index") ? json_object_get_int_member (o, "index") : -1;
  gint64 count = json_object_has_member (o, "count") ? json_object_get_int_member (o, "count") : 0;

  if (g_strcmp0 (schema, HUB_LG_SHARD_SCHEMA) != 0) {
    bad (error, "schema", schema);
    return NULL;
  }
  if (count < 1 || index < 0 || index >= count || finals == NULL || devices == NULL ||
      subs == NULL || sent == NULL || json_array_get_length (finals) != plan->n_rooms) {
    bad (error, "index, count or lists", NULL);
    return NULL;
  }
  r = hub_lg_shard_record_new ((guint)index, (guint)count, plan->n_rooms);
  r->users = (guint)json_object_get_int_member (o, "users");
  if (!stats_from_json (o, r->stats)) {
    bad (error, "counters, tables or histograms", NULL);
    return NULL;
  }
  if (json_object_has_member (o, "error"))
    r->error = g_strdup (json_object_get_string_member (o, "error"));
  for (guint i = 0; i < plan->n_rooms; i++)
    r->final_seq[i] = json_array_get_int_element (finals, i);
  for (guint i = 0; i < json_array_get_length (devices); i++) {
    const char *t = string_at (devices, i);
    HubLgShardDevice d = {0};
    int connected = 0, gone = 0;

    if (t == NULL ||
        sscanf (t, "%u %u %u %d %d %u", &d.global, &d.user, &d.slot, &connected, &gone,
                &d.last_close) != 6 ||
        d.global >= plan->n_devices || d.user >= plan->n_users ||
        d.slot >= plan->user_devices[d.user] ||
        d.global != plan->user_first_device[d.user] + d.slot) {
      bad (error, "device", t);
      return NULL;
    }
    d.connected = connected != 0;
    d.gone = gone != 0;
    g_array_append_val (r->devices, d);
  }
  for (guint i = 0; i < json_array_get_length (subs); i++) {
    const char *t = string_at (subs, i);
    g_auto (GStrv) f = t != NULL ? g_strsplit (t, " ", 0) : NULL;
    guint64 v[8];
    HubLgSub s;

    if (f == NULL || g_strv_length (f) != 10) {
      bad (error, "subscription", t);
      return NULL;
    }
    for (guint k = 0; k < 8; k++) {
      char *end;

      v[k] = (guint64)g_ascii_strtoll (f[k], &end, 10);
      if (end == f[k] || *end != '\0') {
        bad (error, "subscription", t);
        return NULL;
      }
    }
    if (v[0] >= plan->n_devices || v[1] >= plan->n_rooms) {
      bad (error, "subscription", t);
      return NULL;
    }
    hub_lg_sub_init (&s, (guint)v[0], (guint)v[1]);
    s.baseline = (gint64)v[2];
    s.max_seen = (gint64)v[3];
    s.received = v[4];
    s.duplicates = v[5];
    s.out_of_order = v[6];
    s.early = v[7];
    if (!parse_ranges (f[8], &s.holes) || !parse_ranges (f[9], &s.evicted)) {
      hub_lg_sub_clear (&s);
      bad (error, "subscription ranges", t);
      return NULL;
    }
    g_array_append_val (r->subs, s);
  }
  for (guint i = 0; i < json_array_get_length (sent); i++) {
    const char *t = string_at (sent, i);
    g_autoptr (GArray) ranges = NULL;
    guint room;
    int used = 0;

    if (t == NULL || sscanf (t, "%u %n", &room, &used) != 1 || room >= plan->n_rooms ||
        !parse_ranges (t + used, &ranges) || ranges == NULL) {
      bad (error, "sent seqs", t);
      return NULL;
    }
    for (guint k = 0; k < ranges->len; k++) {
      const HubLgRange *range = &g_array_index (ranges, HubLgRange, k);

      for (gint64 seq = range->from; seq <= range->to; seq++) {
        HubLgShardSent e = {room, seq};

        g_array_append_val (r->sent, e);
      }
    }
  }
  return g_steal_pointer (&r);
}

/* ---- barriers ---- */

static JsonObject *
room_fields (const char *room)
{
  JsonObject *fields = json_object_new ();

  json_object_set_string_member (fields, "room", room);
  return fields;
}

static gboolean
wake (gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Waits @ms on the calling thread's context (the control client stays served). */
static void
pause_ms (guint ms)
{
  GMainContext *context = g_main_context_get_thread_default ();
  GSource *timer = g_timeout_source_new (ms);
  gboolean done = FALSE;

  g_source_set_callback (timer, wake, &done, NULL);
  g_source_attach (timer, context);
  while (!done)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (timer);
  g_source_unref (timer);
}

gboolean
hub_lg_shard_barrier (const HubLgConfig *config, const char *phase, double timeout_s,
                      HubLgShardTick tick, gpointer user_data, guint *arrived, GError **error)
{
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autofree char *user = g_strdup_printf ("%sshard%u", config->prefix, config->shard_index);
  g_autofree char *room = g_strdup_printf ("%sbarrier-%s", config->prefix, phase);
  g_autofree char *token = NULL;
  g_autoptr (HubClient) client = NULL;
  g_autoptr (GError) local = NULL;
  gint64 deadline = g_get_monotonic_time () + (gint64)(timeout_s * G_USEC_PER_SEC);
  HubClientOptions options;
  gboolean all = FALSE;

  *arrived = 0;
  g_main_context_push_thread_default (context);
  hub_client_options_init (&options);
  options.url = config->url;
  options.user = user;
  options.device = "barrier";
  if (config->secret != NULL) {
    token = hub_auth_mint (config->secret, strlen (config->secret), user, FALSE,
                           g_get_real_time () / G_USEC_PER_SEC + TOKEN_LIFETIME_S);
    options.token = token;
  }
  options.auto_reconnect = FALSE;
  options.request_timeout_ms = CONTROL_TIMEOUT_MS;
  options.transport = hub_lg_wire_transport (config->url);
  client = hub_client_connect_sync (&options, NULL, NULL, CONTROL_TIMEOUT_MS, &local);
  if (client != NULL) {
    g_autoptr (JsonObject) fields = room_fields (room);
    g_autoptr (JsonObject) created = NULL;

    /* A server without auto-create needs the room made first (room_exists: fine). */
    created = hub_client_request_sync (client, "create", fields, CONTROL_TIMEOUT_MS, NULL);
    if (!hub_client_join_sync (client, room, CONTROL_TIMEOUT_MS, &local))
      g_clear_pointer (&client, hub_client_free);
  }
  while (client != NULL && local == NULL) {
    g_autoptr (JsonObject) fields = room_fields (room);
    g_autoptr (JsonObject) info =
        hub_client_request_sync (client, "room_info", fields, CONTROL_TIMEOUT_MS, &local);

    if (info == NULL)
      break;
    *arrived = json_object_has_member (info, "members")
                   ? (guint)json_object_get_int_member (info, "members")
                   : 0;
    if (*arrived >= config->shard_count) {
      all = TRUE;
      break;
    }
    if ((tick != NULL && tick (user_data)) || g_get_monotonic_time () >= deadline)
      break;
    pause_ms (POLL_MS);
  }
  if (client != NULL)
    hub_client_disconnect (client);
  g_clear_pointer (&client, hub_client_free);
  /* Let the transport finish closing. */
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);
  if (all)
    return TRUE;
  if (local != NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "shard barrier \"%s\": %s", phase,
                 local->message);
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "shard barrier \"%s\": %u of %u shards there after %.0f s", phase, *arrived,
                 config->shard_count, timeout_s);
  return FALSE;
}
