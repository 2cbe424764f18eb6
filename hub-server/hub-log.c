/* hub-log.c: one GLib log writer for hub-server (level filter, standard
 * streams) and the bridge that turns lws log lines into GLib warnings. */
#include "hub-log.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <string.h>

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* The GLib levels shown at each HubLogLevel. */
static GLogLevelFlags shown_levels = G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING;

static gboolean stderr_color;

/* lws lines allowed per second; the rest is counted and reported once. */
#define LWS_LINES_PER_SECOND 20

static struct {
  gint64 window_start_us;
  guint lines;
  guint suppressed;
} lws_budget;

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

static GLogWriterOutput
writer (GLogLevelFlags log_level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  /* Criticals and errors are in every level's set. */
  if ((log_level & shown_levels & G_LOG_LEVEL_MASK) == 0)
    return G_LOG_WRITER_HANDLED;
  /* Everything to stderr: g_log_writer_standard_streams() would put info and
   * debug on stdout, which carries only the "listening" line. */
  {
    g_autofree char *line = g_log_writer_format_fields (log_level, fields, n_fields, stderr_color);

    fprintf (stderr, "%s\n", line);
  }
  return G_LOG_WRITER_HANDLED;
}

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

static void
lws_emit (int level, const char *line)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *text = NULL;
  GLogLevelFlags glevel = (level & (LLL_ERR | LLL_WARN)) ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_DEBUG;

  if (now - lws_budget.window_start_us >= G_USEC_PER_SEC) {
    if (lws_budget.suppressed > 0)
      g_log_structured ("lws", G_LOG_LEVEL_WARNING, "MESSAGE", "%u lws log lines suppressed",
                        lws_budget.suppressed);
    lws_budget.window_start_us = now;
    lws_budget.lines = 0;
    lws_budget.suppressed = 0;
  }
  if (lws_budget.lines >= LWS_LINES_PER_SECOND) {
    lws_budget.suppressed++;
    return;
  }
  lws_budget.lines++;

  text = g_strchomp (g_strdup (strip_lws_prefix (line)));
  g_log_structured ("lws", glevel, "MESSAGE", "%s", text);
}

void
hub_log_init (HubLogLevel level)
{
  int lws_levels = 0;

  shown_levels = G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL;
  if (level >= HUB_LOG_LEVEL_WARNING) {
    shown_levels |= G_LOG_LEVEL_WARNING;
    lws_levels |= LLL_ERR | LLL_WARN;
  }
  if (level >= HUB_LOG_LEVEL_INFO)
    shown_levels |= G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO;
  if (level >= HUB_LOG_LEVEL_DEBUG) {
    shown_levels |= G_LOG_LEVEL_DEBUG;
    /* lws's notices are chatty (one per refused handshake): debug only. */
    lws_levels |= LLL_NOTICE;
  }
  /* GLib drops g_info()/g_debug() (libhub's included) before any writer
   * unless debug output is enabled; our writer does the filtering. */
  if (level >= HUB_LOG_LEVEL_INFO) {
#if GLIB_CHECK_VERSION(2, 72, 0)
    g_log_set_debug_enabled (TRUE);
#else
    g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
#endif
  }
  stderr_color = g_log_writer_supports_color (fileno (stderr));
  g_log_set_writer_func (writer, NULL, NULL);
  lws_set_log_level (lws_levels, lws_emit);
}
