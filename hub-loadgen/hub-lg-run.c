/* hub-lg-run.c: the phases of a run, driven from the main thread. Workers are
 * asked for their figures every 100 ms (a synchronous call into each worker's
 * loop); every wait is bounded in time. */
#include "hub-lg-run.h"

#include "hub-lg-metrics.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hub-net.h"
#include "hub-signals.h"

#define POLL_US         (100 * 1000)
#define METRICS_TIMEOUT 5000
/* A cluster's sums settle within a couple of its nodes' publishing
 * intervals (hub_lg_metrics_read). */
#define METRICS_SETTLE    10000
#define INFLIGHT_WAIT_S   20.0
#define FINAL_WAIT_S      10.0
#define MAX_LISTED_MISSES 1000
/* --find-capacity: the pause between one step's drain and the next step. */
#define STEP_REST_S 1.0
/* Descriptors a run needs besides its sockets: stdio, GLib's wakeup fds, one
 * libwebsockets context per thread, the /metrics reads, the JSON file. */
#define FD_RESERVE    64
#define FD_PER_THREAD 8

/* Set by a stop request (Ctrl-C, SIGTERM...), which the main thread hears
 * about by iterating signal_context between its waits. */
static gboolean interrupted;
static GMainContext *signal_context;

static void
on_signal (HubSignal signal, gpointer user_data)
{
  interrupted = TRUE;
}

/* TRUE once a stop was requested. */
static gboolean
stop_requested (void)
{
  while (signal_context != NULL && g_main_context_iteration (signal_context, FALSE))
    ;
  return interrupted;
}

typedef struct {
  HubLgConfig *config;
  HubLgPlan *plan;
  HubLgReport *report;
  HubLgWorker **workers;
  guint n_workers;
  gint64 t0_us;
  const char *phase;
  gboolean tty;

  HubLgStats *now;        /* (owned) the latest snapshot */
  HubLgHistogram *step;   /* (owned) delivery latency since the step began */
  HubLgHistogram *second; /* (owned) … since the last progress line */
  guint64 last_sent, last_live;
  gint64 last_progress_us;
  gboolean line_open;

  FILE *series;       /* (unowned) (nullable) --series, a line per sample */
  gboolean series_ok; /* no write to it failed yet */
  guint step_number;  /* 1-based */
  double rate;        /* of the current step */
  guint64 lost;       /* settled at the end of the last step's drain */
} Run;

guint64
hub_lg_run_connection_limit (guint threads, guint64 *nofile_limit)
{
  guint64 limit = hub_net_raise_socket_limit (NULL);

  if (nofile_limit != NULL)
    *nofile_limit = limit;
  if (limit <= FD_RESERVE + FD_PER_THREAD)
    return 1;
  limit -= FD_RESERVE;
  /* Automatic threads: as many loops as the connections that fit would get. */
  if (threads == 0)
    threads = (guint)CLAMP (
        (limit + HUB_LG_CONNECTIONS_PER_THREAD - 1) / HUB_LG_CONNECTIONS_PER_THREAD, 1, 16);
  return limit > FD_PER_THREAD * threads ? limit - FD_PER_THREAD * threads : 1;
}

static void note (Run *run, const char *format, ...) G_GNUC_PRINTF (2, 3);

static double
elapsed_s (Run *run)
{
  return (g_get_monotonic_time () - run->t0_us) / 1e6;
}

/* Refreshes run->now from every worker; the deliveries' latencies since the
 * last snapshot go into the step and the progress histograms. */
static void
snapshot (Run *run)
{
  hub_lg_stats_reset (run->now);
  for (guint i = 0; i < run->n_workers; i++)
    hub_lg_worker_snapshot (run->workers[i], run->now);
  hub_lg_histogram_merge (run->step, run->now->recent);
  hub_lg_histogram_merge (run->second, run->now->recent);
}

/* Once a second (or when @force): a sample for the series and the report,
 * and the progress line. */
static void
progress (Run *run, gboolean force)
{
  gint64 now = g_get_monotonic_time ();
  const guint64 *c = run->now->c;
  guint64 sent = c[HUB_LG_SENT_PUBLISH] + c[HUB_LG_SENT_DIRECT] + c[HUB_LG_SENT_TYPING] +
                 c[HUB_LG_SENT_STATUS];
  HubLgSample sample = {0};
  double dt;

  if (!force && now - run->last_progress_us < G_USEC_PER_SEC)
    return;
  dt = run->last_progress_us > 0 ? (now - run->last_progress_us) / 1e6 : 1.0;
  sample.t = elapsed_s (run);
  sample.phase = run->phase;
  sample.step = MAX (run->step_number, 1);
  sample.rate = run->rate;
  sample.connections = c[HUB_LG_CONNECTED];
  sample.ready = c[HUB_LG_READY];
  sample.target = run->plan->n_devices;
  sample.sent = sent;
  sample.delivered = c[HUB_LG_MESSAGES_LIVE];
  sample.sent_per_s = (sent - MIN (sent, run->last_sent)) / dt;
  sample.delivered_per_s =
      (c[HUB_LG_MESSAGES_LIVE] - MIN (c[HUB_LG_MESSAGES_LIVE], run->last_live)) / dt;
  sample.latency_count = hub_lg_histogram_count (run->second);
  sample.p50_ns = hub_lg_histogram_quantile (run->second, 0.5);
  sample.p90_ns = hub_lg_histogram_quantile (run->second, 0.9);
  sample.p99_ns = hub_lg_histogram_quantile (run->second, 0.99);
  sample.max_ns = hub_lg_histogram_max (run->second);
  sample.errors = c[HUB_LG_ERRORS];
  sample.gaps = c[HUB_LG_GAPS];
  sample.lost = run->lost;
  g_array_append_val (run->report->series, sample);
  if (run->series != NULL && run->series_ok && !hub_lg_sample_write (&sample, run->series)) {
    run->series_ok = FALSE;
    note (run, "--series: cannot write: %s (the run goes on)", g_strerror (errno));
  }

  if (!run->config->quiet) {
    g_autofree char *line = g_strdup_printf (
        "[%6.1fs] %-7s conns %" G_GUINT64_FORMAT "/%u  sent %.0f/s  delivered %.0f/s  "
        "p50 %.2fms p99 %.2fms  gaps %" G_GUINT64_FORMAT "  errors %" G_GUINT64_FORMAT,
        sample.t, run->phase, c[HUB_LG_CONNECTED], run->plan->n_devices, sample.sent_per_s,
        sample.delivered_per_s, sample.p50_ns / 1e6, sample.p99_ns / 1e6, c[HUB_LG_GAPS],
        c[HUB_LG_ERRORS]);

    if (run->tty) {
      fprintf (stderr, "\r%s\033[K", line);
      run->line_open = TRUE;
    } else {
      fprintf (stderr, "%s\n", line);
    }
    fflush (stderr);
  }
  run->last_sent = sent;
  run->last_live = c[HUB_LG_MESSAGES_LIVE];
  run->last_progress_us = now;
  hub_lg_histogram_reset (run->second);
}

static void
progress_end (Run *run)
{
  if (run->line_open) {
    fputc ('\n', stderr);
    run->line_open = FALSE;
  }
}

static void
note (Run *run, const char *format, ...)
{
  va_list args;

  progress_end (run);
  fputs ("hub-loadgen: ", stderr);
  va_start (args, format);
  vfprintf (stderr, format, args);
  va_end (args);
  fputc ('\n', stderr);
}

typedef gboolean (*Done) (Run *run);

/* Snapshots every 100 ms (printing progress) until @done or @seconds pass
 * (or a signal); TRUE when @done said so. */
static gboolean
wait_until (Run *run, Done done, double seconds)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)(seconds * 1e6);

  for (;;) {
    snapshot (run);
    progress (run, FALSE);
    if (done != NULL && done (run))
      return TRUE;
    if (g_get_monotonic_time () >= deadline || stop_requested ())
      return FALSE;
    g_usleep (MIN (POLL_US, MAX (1, deadline - g_get_monotonic_time ())));
  }
}

static gboolean
all_ready (Run *run)
{
  /* Devices refused for good (a bad token…) will never be ready. */
  return run->now->c[HUB_LG_READY] + run->now->c[HUB_LG_GONE] >= run->plan->n_devices;
}

static gboolean
none_inflight (Run *run)
{
  return run->now->c[HUB_LG_INFLIGHT] == 0;
}

static void
read_metrics (Run *run, GHashTable **into)
{
  g_autoptr (GError) error = NULL;

  *into =
      hub_lg_metrics_read (run->config->metrics_url, METRICS_TIMEOUT, TRUE, METRICS_SETTLE, &error);
  if (*into == NULL && run->report->metrics_error == NULL)
    run->report->metrics_error = g_strdup (error->message);
}

/* Settles the final seq of every room: asks the members, then tells every worker. */
static void
settle_final (Run *run, gint64 *final)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)(FINAL_WAIT_S * 1e6);

  for (guint i = 0; i < run->n_workers; i++)
    hub_lg_worker_reset_final (run->workers[i]);
  for (;;) {
    guint outstanding = 0;

    for (guint i = 0; i < run->n_workers; i++)
      outstanding += hub_lg_worker_query_final (run->workers[i], final);
    if (outstanding == 0 || g_get_monotonic_time () >= deadline || stop_requested ())
      break;
    g_usleep (POLL_US / 2);
  }
  for (guint i = 0; i < run->n_workers; i++)
    hub_lg_worker_set_final (run->workers[i], final);
}

static guint64
pending (Run *run)
{
  guint64 n = 0;

  for (guint i = 0; i < run->n_workers; i++)
    n += hub_lg_worker_pending (run->workers[i]);
  return n;
}

static gboolean
nothing_pending (Run *run)
{
  return pending (run) == 0;
}

static void
tally (Run *run, HubLgTally *tally, GArray *misses, guint64 *ranges)
{
  guint64 n = 0;

  memset (tally, 0, sizeof *tally);
  for (guint i = 0; i < run->n_workers; i++)
    hub_lg_worker_tally (run->workers[i], tally, misses, MAX_LISTED_MISSES, &n);
  if (ranges != NULL)
    *ranges = n;
}

static guint64
sent_total (const guint64 *c)
{
  return c[HUB_LG_SENT_PUBLISH] + c[HUB_LG_SENT_DIRECT] + c[HUB_LG_SENT_TYPING] +
         c[HUB_LG_SENT_STATUS];
}

/* One steady phase at @rate, its drain and its figures. */
static void
run_step (Run *run, double rate, gboolean bisecting, gint64 *final, HubLgTally *before)
{
  HubLgReport *report = run->report;
  HubLgStep step = {.rate = rate, .bisecting = bisecting};
  guint64 sent0, live0, errors0;
  gint64 start_us, steady_end, drain_start;
  HubLgTally after;
  double duration = run->config->duration_s;

  snapshot (run);
  sent0 = sent_total (run->now->c);
  live0 = run->now->c[HUB_LG_MESSAGES_LIVE];
  errors0 = run->now->c[HUB_LG_ERRORS];
  hub_lg_histogram_reset (run->step);

  run->phase = "steady";
  run->step_number = report->steps->len + 1;
  run->rate = rate;
  if (run->config->find_capacity)
    note (run, "step %u%s: %g actions/s per user (%.0f/s offered)", report->steps->len + 1,
          bisecting ? " (between the last that held and the first that broke)" : "", rate,
          rate * run->plan->n_users);
  start_us = g_get_monotonic_time () + 10000;
  for (guint i = 0; i < run->n_workers; i++)
    hub_lg_worker_start_traffic (run->workers[i], start_us, rate, run->config->churn);
  wait_until (run, NULL, duration);
  for (guint i = 0; i < run->n_workers; i++)
    hub_lg_worker_stop_traffic (run->workers[i]);
  steady_end = g_get_monotonic_time ();
  step.seconds = (steady_end - start_us) / 1e6;
  report->steady_s += step.seconds;

  run->phase = "drain";
  drain_start = g_get_monotonic_time ();
  wait_until (run, none_inflight, interrupted ? 2.0 : INFLIGHT_WAIT_S);
  settle_final (run, final);
  report->drained = wait_until (run, nothing_pending, interrupted ? 2.0 : run->config->drain_s);
  if (!report->drained)
    note (run, "drain: %" G_GUINT64_FORMAT " deliveries still due after %.1f s", pending (run),
          (g_get_monotonic_time () - drain_start) / 1e6);
  report->drain_s += (g_get_monotonic_time () - drain_start) / 1e6;

  snapshot (run);
  tally (run, &after, NULL, NULL);
  step.sent = sent_total (run->now->c) - sent0;
  step.delivered = run->now->c[HUB_LG_MESSAGES_LIVE] - live0;
  step.errors = run->now->c[HUB_LG_ERRORS] - errors0 + (after.duplicates - before->duplicates) +
                (after.out_of_order - before->out_of_order);
  step.lost = after.lost - MIN (after.lost, before->lost);
  step.latency_count = hub_lg_histogram_count (run->step);
  step.p50_ns = hub_lg_histogram_quantile (run->step, 0.5);
  step.p90_ns = hub_lg_histogram_quantile (run->step, 0.9);
  step.p99_ns = hub_lg_histogram_quantile (run->step, 0.99);
  step.p999_ns = hub_lg_histogram_quantile (run->step, 0.999);
  step.max_ns = hub_lg_histogram_max (run->step);
  hub_lg_report_judge_step (run->config, &step, after.expected - before->expected);
  g_array_append_val (report->steps, step);
  run->lost = after.lost;
  *before = after;
}

static void
count_violations (HubLgReport *report)
{
  /* Exactly once and in order are part of the contract: each breach is an error. */
  for (guint64 i = 0; i < report->tally.duplicates; i++)
    hub_lg_stats_error (report->stats, "duplicate");
  for (guint64 i = 0; i < report->tally.out_of_order; i++)
    hub_lg_stats_error (report->stats, "out-of-order");
}

HubLgReport *
hub_lg_run (HubLgConfig *config, const char *command, FILE *series)
{
  Run run = {.config = config, .series = series, .series_ok = TRUE};
  HubLgReport *report;
  guint64 limit, nofile = 0, asked = 0;
  HubLgTally before = {0};
  g_autofree gint64 *final = NULL;
  g_autoptr (HubSignalWatch) signals = NULL;
  double rate = config->rate;
  gint64 ramp_start, metrics_t0;

  interrupted = FALSE;
  signal_context = g_main_context_new ();
  signals = hub_signal_watch_new (signal_context, on_signal, NULL);

  if (config->seed == 0)
    config->seed = g_random_int_range (1, G_MAXINT32);
  if (config->prefix == NULL)
    config->prefix = g_strdup_printf ("lg%04x-", g_random_int_range (0, 0x10000));

  limit = hub_lg_run_connection_limit (config->threads, &nofile);
  run.plan = hub_lg_plan_new (config->prefix, config->users, &config->device_dist, config->rooms,
                              config->rooms_per_user, config->room_skew, config->seed,
                              (guint)MIN (limit, G_MAXUINT));
  if (config->user_prefix != NULL) {
    g_free (run.plan->user_prefix);
    run.plan->user_prefix = g_strdup (config->user_prefix);
  }
  run.report = report = hub_lg_report_new (config, run.plan);
  report->command = g_strdup (command);
  report->nofile_limit = nofile;
  report->users_asked = config->users;
  if (run.plan->n_users < config->users) {
    g_autoptr (HubLgPlan) full =
        hub_lg_plan_new (config->prefix, config->users, &config->device_dist, config->rooms,
                         config->rooms_per_user, config->room_skew, config->seed, 0);

    asked = full->n_devices;
    report->clamped = TRUE;
  } else {
    asked = run.plan->n_devices;
  }
  report->connections_asked = asked;
  /* A terminal (or a Windows console): progress rewrites its line. */
  run.tty = g_log_writer_supports_color (fileno (stderr));
  run.t0_us = g_get_monotonic_time ();
  run.now = hub_lg_stats_new ();
  run.step = hub_lg_histogram_new ();
  run.second = hub_lg_histogram_new ();
  if (report->clamped)
    note (&run,
          "%" G_GUINT64_FORMAT
          " connections asked, but this process may hold at most %" G_GUINT64_FORMAT
          " open files (RLIMIT_NOFILE hard limit, which an unprivileged process cannot raise) "
          "and needs some for itself: running %u users with %u connections. Raise the hard "
          "limit (ulimit -Hn, systemd LimitNOFILE) or run several hub-loadgen processes.",
          asked, nofile, run.plan->n_users, run.plan->n_devices);

  metrics_t0 = g_get_monotonic_time ();
  read_metrics (&run, &report->metrics_before);

  run.n_workers = MIN (hub_lg_config_threads (config, run.plan->n_devices), run.plan->n_users);
  report->threads = run.n_workers;
  run.workers = g_new0 (HubLgWorker *, run.n_workers);
  for (guint i = 0; i < run.n_workers; i++)
    run.workers[i] = hub_lg_worker_new (i, run.n_workers, config, run.plan);

  /* Ramp: bounded by its planned length plus as much again (10 s at least). */
  {
    double per_s = hub_lg_config_connect_rate (config, run.plan->n_devices);
    double planned = run.plan->n_devices / per_s;

    run.phase = "ramp";
    ramp_start = g_get_monotonic_time () + 10000;
    for (guint i = 0; i < run.n_workers; i++)
      hub_lg_worker_start_ramp (run.workers[i], ramp_start, per_s);
    report->ramp_complete = wait_until (&run, all_ready, planned + MAX (10.0, planned));
    report->ramp_s = (g_get_monotonic_time () - ramp_start) / 1e6;
    if (!report->ramp_complete && !interrupted)
      note (&run, "ramp: %" G_GUINT64_FORMAT " of %u devices ready after %.1f s; going on",
            run.now->c[HUB_LG_READY], run.plan->n_devices, report->ramp_s);
  }

  final = g_new (gint64, run.plan->n_rooms);
  for (guint r = 0; r < run.plan->n_rooms; r++)
    final[r] = -1;
  /* One step; with --find-capacity, raised by --step-factor while it holds,
   * then, between the last rate that held and the first that broke, halved
   * (geometrically) until they are within CAPACITY_PRECISION of each other.
   * The capacity is the highest rate that held. */
  {
    double held = 0, broke = 0;
    gboolean bisecting = FALSE;

    for (guint s = 0; !interrupted; s++) {
      HubLgStep *step;

      run_step (&run, rate, bisecting, final, &before);
      step = &g_array_index (report->steps, HubLgStep, report->steps->len - 1);
      if (!config->find_capacity)
        break;
      if (step->held) {
        held = rate;
        report->capacity_found = TRUE;
        report->capacity_rate = rate;
        report->capacity_step = report->steps->len - 1;
      } else {
        note (&run, "step %u broke the limits: %s", s + 1, step->why);
        broke = rate;
        if (held == 0)
          break; /* even the first rate broke */
        bisecting = TRUE;
      }
      if (s + 1 >= config->max_steps) {
        if (bisecting)
          note (&run,
                "--max-steps %u reached: the capacity lies between %g and %g actions/s per "
                "user",
                config->max_steps, held, broke);
        break;
      }
      if (bisecting && broke / held <= 1.0 + HUB_LG_CAPACITY_PRECISION) {
        report->capacity_bracketed = TRUE;
        break;
      }
      rate = bisecting ? sqrt (held * broke) : rate * config->step_factor;
      /* Each step starts from a server at rest: what the last one left
       * (queues, a rate limiter's empty bucket) must not count against it. */
      run.phase = "rest";
      wait_until (&run, NULL, STEP_REST_S);
    }
    report->capacity_broke_rate = broke;
  }
  report->interrupted = stop_requested ();

  read_metrics (&run, &report->metrics_after);
  report->metrics_interval_s = (g_get_monotonic_time () - metrics_t0) / 1e6;

  snapshot (&run);
  hub_lg_stats_merge (report->stats, run.now);
  tally (&run, &report->tally, report->misses, &report->miss_ranges);
  report->final_seq = g_steal_pointer (&final);
  count_violations (report);
  progress (&run, TRUE);
  progress_end (&run);

  for (guint i = 0; i < run.n_workers; i++)
    hub_lg_worker_free (run.workers[i]);
  g_free (run.workers);
  report->total_s = elapsed_s (&run);
  hub_lg_stats_free (run.now);
  hub_lg_histogram_free (run.step);
  hub_lg_histogram_free (run.second);
  hub_lg_report_judge (report);
  g_clear_pointer (&signals, hub_signal_watch_free);
  g_clear_pointer (&signal_context, g_main_context_unref);
  return report;
}
