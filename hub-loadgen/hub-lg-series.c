/* hub-lg-series.c: a sample as JSON, and as one line of a JSON Lines file. */
#include "hub-lg-series.h"

#include <math.h>

static double
ms (gint64 ns)
{
  return round (ns / 1e3) / 1e3;
}

static double
tenth (double x)
{
  return round (x * 10) / 10;
}

JsonObject *
hub_lg_sample_to_json (const HubLgSample *s)
{
  JsonObject *o = json_object_new ();
  JsonObject *latency = json_object_new ();

  json_object_set_double_member (o, "t", round (s->t * 1000) / 1000);
  json_object_set_string_member (o, "phase", s->phase);
  json_object_set_int_member (o, "step", s->step);
  json_object_set_double_member (o, "rate", s->rate);
  json_object_set_int_member (o, "connections", (gint64)s->connections);
  json_object_set_int_member (o, "ready", (gint64)s->ready);
  json_object_set_int_member (o, "target", (gint64)s->target);
  json_object_set_int_member (o, "sent", (gint64)s->sent);
  json_object_set_double_member (o, "sent_per_s", tenth (s->sent_per_s));
  json_object_set_int_member (o, "delivered", (gint64)s->delivered);
  json_object_set_double_member (o, "delivered_per_s", tenth (s->delivered_per_s));
  json_object_set_int_member (latency, "count", (gint64)s->latency_count);
  json_object_set_double_member (latency, "p50", ms (s->p50_ns));
  json_object_set_double_member (latency, "p90", ms (s->p90_ns));
  json_object_set_double_member (latency, "p99", ms (s->p99_ns));
  json_object_set_double_member (latency, "max", ms (s->max_ns));
  json_object_set_object_member (o, "latency_ms", latency);
  json_object_set_int_member (o, "errors", (gint64)s->errors);
  json_object_set_int_member (o, "gaps", (gint64)s->gaps);
  json_object_set_int_member (o, "lost", (gint64)s->lost);
  return o;
}

gboolean
hub_lg_sample_write (const HubLgSample *s, FILE *stream)
{
  /* By hand, not with JsonGenerator: it writes doubles with 17 digits
   * (0.0030000000000000001), and this file is also read by people. */
  char t[G_ASCII_DTOSTR_BUF_SIZE], rate[G_ASCII_DTOSTR_BUF_SIZE];
  char sent[G_ASCII_DTOSTR_BUF_SIZE], delivered[G_ASCII_DTOSTR_BUF_SIZE];
  char p50[G_ASCII_DTOSTR_BUF_SIZE], p90[G_ASCII_DTOSTR_BUF_SIZE];
  char p99[G_ASCII_DTOSTR_BUF_SIZE], max[G_ASCII_DTOSTR_BUF_SIZE];

  /* g_ascii_formatd: a '.' whatever the locale (hub-loadgen calls setlocale). */
  g_ascii_formatd (t, sizeof t, "%.3f", s->t);
  g_ascii_formatd (rate, sizeof rate, "%g", s->rate);
  g_ascii_formatd (sent, sizeof sent, "%.1f", tenth (s->sent_per_s));
  g_ascii_formatd (delivered, sizeof delivered, "%.1f", tenth (s->delivered_per_s));
  g_ascii_formatd (p50, sizeof p50, "%.3f", ms (s->p50_ns));
  g_ascii_formatd (p90, sizeof p90, "%.3f", ms (s->p90_ns));
  g_ascii_formatd (p99, sizeof p99, "%.3f", ms (s->p99_ns));
  g_ascii_formatd (max, sizeof max, "%.3f", ms (s->max_ns));
  return fprintf (
             stream,
             "{\"t\":%s,\"phase\":\"%s\",\"step\":%u,\"rate\":%s,\"connections\":%" G_GUINT64_FORMAT
             ",\"ready\":%" G_GUINT64_FORMAT ",\"target\":%" G_GUINT64_FORMAT
             ",\"sent\":%" G_GUINT64_FORMAT ",\"sent_per_s\":%s,\"delivered\":%" G_GUINT64_FORMAT
             ",\"delivered_per_s\":%s,\"latency_ms\":{\"count\":%" G_GUINT64_FORMAT
             ",\"p50\":%s,\"p90\":%s,\"p99\":%s,\"max\":%s},\"errors\":%" G_GUINT64_FORMAT
             ",\"gaps\":%" G_GUINT64_FORMAT ",\"lost\":%" G_GUINT64_FORMAT "}\n",
             t, s->phase, s->step, rate, s->connections, s->ready, s->target, s->sent, sent,
             s->delivered, delivered, s->latency_count, p50, p90, p99, max, s->errors, s->gaps,
             s->lost) >= 0 &&
         fflush (stream) == 0;
}
