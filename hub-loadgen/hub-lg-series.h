/* hub-lg-series.h: the run second by second, for plotting: one sample per
 * progress tick (phase, connections, sends and deliveries with their rates,
 * the delivery latency of that second, errors and losses so far), kept in the
 * report (the HTML report draws them) and written as JSON Lines to --series
 * FILE as the run goes, so a long run can be watched with `tail -f`. */
#pragma once

#include <json-glib/json-glib.h>
#include <stdio.h>

G_BEGIN_DECLS

typedef struct {
  double t;          /* seconds since the run started */
  const char *phase; /* (unowned, static) "ramp", "steady", "drain" or "rest" (between steps) */
  guint step;        /* 1, 2…: the step of --find-capacity (1 without it) */
  double rate;       /* actions per second per user offered in that step */
  guint64 connections, ready, target;
  guint64 sent, delivered;            /* totals so far (actions; live message deliveries) */
  double sent_per_s, delivered_per_s; /* since the previous sample */
  guint64 latency_count;              /* deliveries timed since the previous sample */
  gint64 p50_ns, p90_ns, p99_ns, max_ns;
  guint64 errors; /* so far */
  guint64 gaps;   /* receipts that skipped seqs, so far (messages not seen yet) */
  guint64 lost;   /* deliveries found lost so far: settled at the end of each step's drain */
} HubLgSample;

/* One sample as a JSON object: {"t","phase","step","rate","connections",
 * "ready","target","sent","sent_per_s","delivered","delivered_per_s",
 * "latency_ms":{"count","p50","p90","p99","max"},"errors","gaps","lost"}. (transfer full) */
JsonObject *hub_lg_sample_to_json (const HubLgSample *sample);
/* Writes @sample as one line of JSON to @stream and flushes it. FALSE (errno
 * set) when the write failed. */
gboolean hub_lg_sample_write (const HubLgSample *sample, FILE *stream);

G_END_DECLS
