/* hub-log.c: hub-server's one GLib log writer: the level filter, flood
 * control by kind, and the two line formats (text, JSON) on stderr; and the
 * bridge that turns lws log lines into GLib ones. stdout carries only the
 * "listening" line. */
#include "hub-log.h"

#include <hub/hub.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <string.h>

static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const char *const format_names[] = {"text", "json"};

/* A kind's count line goes out at the latest this long after its window
 * ended (the writer also writes it at the kind's next line). */
#define FLUSH_INTERVAL_MS 1000

/* Per kind of line (an event's name, else domain and level): the lines
 * written in the current one-second window and those held back. */
typedef struct {
  gint64 window_start_us;
  guint lines;
  guint64 held;
  GLogLevelFlags held_level; /* the most severe level held back */
} Budget;

static struct {
  GMutex lock;
  GLogLevelFlags shown; /* the GLib levels written */
  HubLogFormat format;
  guint rate;          /* per kind and second; 0: no limit */
  GHashTable *budgets; /* kind (owned) → Budget (owned) */
  guint flush_timer;   /* writes count lines of windows that ended, 0 when none */
} log_state = {.shown = G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING};

/* Fields whose values are written as JSON numbers (when they are numbers). */
static const char *const numeric_fields[] = {
    "code", "count", "duration_s", "port", "seconds", "nodes", "status", "queued_bytes", "rate",
};

gboolean
hub_log_level_from_string (const char *str, HubLogLevel *level)
{
  for (guint i = 0; i < G_N_ELEMENTS (level_names); i++) {
    if (g_strcmp0 (str, level_names[i]) == 0) {
      *level = (HubLogLevel)i;
      return TRUE;
    }
  }
  return FALSE;
}

const char *
hub_log_level_to_string (HubLogLevel level)
{
  g_return_val_if_fail ((guint)level < G_N_ELEMENTS (level_names), "warning");
  return level_names[level];
}

gboolean
hub_log_format_from_string (const char *str, HubLogFormat *format)
{
  for (guint i = 0; i < G_N_ELEMENTS (format_names); i++) {
    if (g_strcmp0 (str, format_names[i]) == 0) {
      *format = (HubLogFormat)i;
      return TRUE;
    }
  }
  return FALSE;
}

const char *
hub_log_format_to_string (HubLogFormat format)
{
  g_return_val_if_fail ((guint)format < G_N_ELEMENTS (format_names), "text");
  return format_names[format];
}

static const char *
glib_level_name (GLogLevelFlags level)
{
  if (level & G_LOG_LEVEL_ERROR)
    return "error";
  if (level & G_LOG_LEVEL_CRITICAL)
    return "critical";
  if (level & G_LOG_LEVEL_WARNING)
    return "warning";
  if (level & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
    return "info";
  return "debug";
}

/* ---- formatting ---- */

typedef struct {
  const char *key; /* lower case, without HUB_ */
  const char *value;
} Field;

/* What a line says: GLib's fields sorted out. Points into the caller's fields. */
typedef struct {
  const char *domain;
  const char *message;
  const char *event; /* (nullable) */
  Field extra[16];
  char keys[16][32];
  guint n_extra;
} Line;

static void
line_read (Line *line, const GLogField *fields, gsize n_fields)
{
  memset (line, 0, sizeof *line);
  for (gsize i = 0; i < n_fields; i++) {
    const char *key = fields[i].key;
    const char *value = fields[i].value;

    if (fields[i].length >= 0 && strcmp (key, "MESSAGE") != 0)
      continue; /* binary fields are not ours */
    if (strcmp (key, "MESSAGE") == 0)
      line->message = value;
    else if (strcmp (key, "GLIB_DOMAIN") == 0)
      line->domain = value;
    else if (strcmp (key, HUB_EVENT_FIELD) == 0)
      line->event = value;
    else if (g_str_has_prefix (key, "HUB_") && line->n_extra < G_N_ELEMENTS (line->extra)) {
      char *k = line->keys[line->n_extra];

      g_strlcpy (k, key + 4, sizeof line->keys[0]);
      for (char *p = k; *p != '\0'; p++)
        *p = g_ascii_tolower (*p);
      line->extra[line->n_extra].key = k;
      line->extra[line->n_extra].value = value;
      line->n_extra++;
    }
  }
  if (line->domain == NULL)
    line->domain = "hub-server";
  if (line->message == NULL)
    line->message = "";
}

static void
append_time (GString *out)
{
  gint64 now = g_get_real_time ();
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (now / G_USEC_PER_SEC);
  g_autofree char *text = t != NULL ? g_date_time_format (t, "%Y-%m-%dT%H:%M:%S") : NULL;

  g_string_append_printf (out, "%s.%03dZ", text != NULL ? text : "?",
                          (int)(now % G_USEC_PER_SEC / 1000));
}

/* JSON string contents (RFC 8259 escapes; control characters as \u00XX). */
static void
append_json_string (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *)s; *p != '\0'; p++) {
    switch (*p) {
      case '"':
        g_string_append (out, "\\\"");
        break;
      case '\\':
        g_string_append (out, "\\\\");
        break;
      case '\n':
        g_string_append (out, "\\n");
        break;
      case '\r':
        g_string_append (out, "\\r");
        break;
      case '\t':
        g_string_append (out, "\\t");
        break;
      default:
        if (*p < 0x20)
          g_string_append_printf (out, "\\u%04x", *p);
        else
          g_string_append_c (out, (char)*p);
    }
  }
  g_string_append_c (out, '"');
}

static gboolean
is_number (const char *s)
{
  char *end = NULL;

  if (*s == '\0' || (!g_ascii_isdigit (*s) && *s != '-'))
    return FALSE;
  g_ascii_strtod (s, &end);
  return *end == '\0';
}

static gboolean
numeric_field (const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (numeric_fields); i++) {
    if (strcmp (key, numeric_fields[i]) == 0)
      return TRUE;
  }
  return FALSE;
}

/* logfmt's rule: a value with a space, a quote, '=' or nothing is quoted. */
static void
append_text_value (GString *out, const char *value)
{
  if (*value != '\0' && strpbrk (value, " \t\r\n\"=\\") == NULL) {
    g_string_append (out, value);
    return;
  }
  append_json_string (out, value);
}

static void
format_text (GString *out, GLogLevelFlags level, const Line *line)
{
  append_time (out);
  g_string_append_printf (out, " %s %s: ", glib_level_name (level), line->domain);
  /* One line per entry: a message with a newline has it escaped. */
  for (const char *p = line->message; *p != '\0'; p++) {
    if (*p == '\n')
      g_string_append (out, "\\n");
    else
      g_string_append_c (out, *p);
  }
  if (line->event != NULL)
    g_string_append_printf (out, " event=%s", line->event);
  for (guint i = 0; i < line->n_extra; i++) {
    g_string_append_printf (out, " %s=", line->extra[i].key);
    append_text_value (out, line->extra[i].value);
  }
}

static void
format_json (GString *out, GLogLevelFlags level, const Line *line)
{
  g_string_append (out, "{\"time\":\"");
  append_time (out);
  g_string_append_printf (out, "\",\"level\":\"%s\",\"domain\":", glib_level_name (level));
  append_json_string (out, line->domain);
  if (line->event != NULL) {
    g_string_append (out, ",\"event\":");
    append_json_string (out, line->event);
  }
  g_string_append (out, ",\"message\":");
  append_json_string (out, line->message);
  for (guint i = 0; i < line->n_extra; i++) {
    const Field *f = &line->extra[i];

    g_string_append_c (out, ',');
    append_json_string (out, f->key);
    g_string_append_c (out, ':');
    if (numeric_field (f->key) && is_number (f->value))
      g_string_append (out, f->value);
    else
      append_json_string (out, f->value);
  }
  g_string_append_c (out, '}');
}

/* Writes one line in the current format. Called with the lock held. */
static void
emit (GLogLevelFlags level, const Line *line)
{
  g_autoptr (GString) out = g_string_sized_new (256);

  if (log_state.format == HUB_LOG_FORMAT_JSON)
    format_json (out, level, line);
  else
    format_text (out, level, line);
  g_string_append_c (out, '\n');
  /* One write per line: lines of concurrent writers do not interleave. */
  fwrite (out->str, 1, out->len, stderr);
  fflush (stderr);
}

/* ---- flood control ---- */

static void
emit_held (const char *kind, Budget *b, gint64 now)
{
  char count[32], seconds[32];
  g_autofree char *message = NULL;
  Line line = {0};

  g_snprintf (count, sizeof count, "%" G_GUINT64_FORMAT, b->held);
  g_snprintf (seconds, sizeof seconds, "%.1f", (now - b->window_start_us) / 1e6);
  message = g_strdup_printf ("%" G_GUINT64_FORMAT " more lines of this kind not written "
                             "(more than %u a second; --log-rate)",
                             b->held, log_state.rate);
  line.domain = "hub-server";
  line.message = message;
  line.event = "log_suppressed";
  line.extra[0] = (Field){"kind", kind};
  line.extra[1] = (Field){"count", count};
  line.extra[2] = (Field){"seconds", seconds};
  line.n_extra = 3;
  emit (b->held_level, &line);
  b->held = 0;
  b->held_level = 0;
}

static gboolean
on_flush_timer (gpointer data)
{
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer key, value;
  gboolean again = FALSE;

  g_mutex_lock (&log_state.lock);
  g_hash_table_iter_init (&iter, log_state.budgets);
  while (g_hash_table_iter_next (&iter, &key, &value)) {
    Budget *b = value;

    if (b->held == 0)
      continue;
    if (now - b->window_start_us >= G_USEC_PER_SEC) {
      emit_held (key, b, now);
      b->window_start_us = now;
      b->lines = 0;
    } else {
      again = TRUE;
    }
  }
  if (!again)
    log_state.flush_timer = 0;
  g_mutex_unlock (&log_state.lock);
  return again ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* TRUE when a line of @kind may be written now. Called with the lock held. */
static gboolean
budget_take (const char *kind, GLogLevelFlags level)
{
  gint64 now = g_get_monotonic_time ();
  Budget *b;

  if (log_state.budgets == NULL)
    log_state.budgets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  b = g_hash_table_lookup (log_state.budgets, kind);
  if (b == NULL) {
    b = g_new0 (Budget, 1);
    b->window_start_us = now;
    g_hash_table_insert (log_state.budgets, g_strdup (kind), b);
  }
  if (now - b->window_start_us >= G_USEC_PER_SEC) {
    if (b->held > 0)
      emit_held (kind, b, now);
    b->window_start_us = now;
    b->lines = 0;
  }
  if (log_state.rate == 0 || b->lines < log_state.rate) {
    b->lines++;
    return TRUE;
  }
  b->held++;
  /* GLib's levels: the most severe has the lowest bit. */
  if (b->held_level == 0 || (level & G_LOG_LEVEL_MASK) < (b->held_level & G_LOG_LEVEL_MASK))
    b->held_level = level & G_LOG_LEVEL_MASK;
  if (log_state.flush_timer == 0)
    log_state.flush_timer = g_timeout_add (FLUSH_INTERVAL_MS, on_flush_timer, NULL);
  return FALSE;
}

static GLogWriterOutput
writer (GLogLevelFlags log_level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  Line line;
  char kind[96];

  /* Criticals and errors are in every level's set. */
  if ((log_level & log_state.shown & G_LOG_LEVEL_MASK) == 0)
    return G_LOG_WRITER_HANDLED;
  line_read (&line, fields, n_fields);
  if (line.event != NULL)
    g_strlcpy (kind, line.event, sizeof kind);
  else
    g_snprintf (kind, sizeof kind, "%s:%s", line.domain, glib_level_name (log_level));
  g_mutex_lock (&log_state.lock);
  if (budget_take (kind, log_level))
    emit (log_level, &line);
  g_mutex_unlock (&log_state.lock);
  return G_LOG_WRITER_HANDLED;
}

/* ---- lws ---- */

/* lws formats "[YYYY/MM/DD HH:MM:SS:uuuu] E: text\n": keep "text". */
static const char *
strip_lws_prefix (const char *line)
{
  if (line[0] == '[') {
    const char *end = strstr (line, "] ");

    if (end != NULL)
      line = end + 2;
  }
  if (line[0] != '\0' && line[1] == ':' && line[2] == ' ')
    line += 3;
  return line;
}

/* lws's lines are one kind ("lws") for flood control: a hostile client can
 * make lws complain once per connection. */
static void
lws_emit (int level, const char *line)
{
  g_autofree char *text = g_strchomp (g_strdup (strip_lws_prefix (line)));
  GLogLevelFlags glevel = (level & (LLL_ERR | LLL_WARN)) ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_DEBUG;
  const GLogField fields[] = {
      {"GLIB_DOMAIN", "lws", -1},
      {"MESSAGE", text, -1},
      {HUB_EVENT_FIELD, "lws", -1},
  };

  g_log_structured_array (glevel, fields, G_N_ELEMENTS (fields));
}

static int
lws_levels_for (HubLogLevel level)
{
  int levels = 0;

  if (level >= HUB_LOG_LEVEL_WARNING)
    levels |= LLL_ERR | LLL_WARN;
  /* lws's notices are chatty (one per refused handshake): debug only. */
  if (level >= HUB_LOG_LEVEL_DEBUG)
    levels |= LLL_NOTICE;
  return levels;
}

void
hub_log_configure (HubLogLevel level, HubLogFormat format, guint rate)
{
  GLogLevelFlags shown = G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL;

  if (level >= HUB_LOG_LEVEL_WARNING)
    shown |= G_LOG_LEVEL_WARNING;
  if (level >= HUB_LOG_LEVEL_INFO)
    shown |= G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO;
  if (level >= HUB_LOG_LEVEL_DEBUG)
    shown |= G_LOG_LEVEL_DEBUG;
  /* GLib drops g_info()/g_debug() (libhub's included) before any writer
   * unless debug output is enabled; our writer does the filtering. */
  if (level >= HUB_LOG_LEVEL_INFO) {
#if GLIB_CHECK_VERSION(2, 72, 0)
    g_log_set_debug_enabled (TRUE);
#else
    g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
#endif
  }
  g_mutex_lock (&log_state.lock);
  log_state.shown = shown;
  log_state.format = format;
  log_state.rate = rate;
  g_mutex_unlock (&log_state.lock);
  lws_set_log_level (lws_levels_for (level), lws_emit);
}

gboolean
hub_log_enabled (HubLogLevel level)
{
  static const GLogLevelFlags flags[] = {G_LOG_LEVEL_CRITICAL, G_LOG_LEVEL_WARNING,
                                         G_LOG_LEVEL_INFO, G_LOG_LEVEL_DEBUG};

  g_return_val_if_fail ((guint)level < G_N_ELEMENTS (flags), FALSE);
  return (log_state.shown & flags[level]) != 0;
}

void
hub_log_init (HubLogLevel level, HubLogFormat format, guint rate)
{
  g_log_set_writer_func (writer, NULL, NULL);
  hub_log_configure (level, format, rate);
}
