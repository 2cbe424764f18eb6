/* hub-lg-report.h: what a run found, and its two renderings: a table for
 * people and a JSON document for scripts (schema "hub-loadgen/1", documented
 * in docs/hub-loadgen.md; members are only ever added). It also holds the
 * verdict: the gates --max-loss, --max-p99-ms and --max-errors. */
#pragma once

#include "hub-lg-config.h"
#include "hub-lg-ledger.h"
#include "hub-lg-plan.h"
#include "hub-lg-series.h"
#include "hub-lg-shard.h"
#include "hub-lg-stats.h"
#include "hub-lg-worker.h"

G_BEGIN_DECLS

#define HUB_LG_REPORT_SCHEMA "hub-loadgen/1"

/* One steady phase (a run has one; --find-capacity one per rate tried). */
/* --find-capacity stops when the first rate that broke is within this
 * fraction above the last that held. */
#define HUB_LG_CAPACITY_PRECISION 0.10

typedef struct {
  double rate;        /* per user per second */
  gboolean bisecting; /* between the last that held and the first that broke */
  double seconds;     /* steady time */
  guint64 sent;       /* actions sent during the step */
  guint64 delivered;  /* live message deliveries during the step */
  guint64 lost;       /* deliveries lost, counted after the step's drain */
  guint64 errors;
  gint64 p50_ns, p90_ns, p99_ns, p999_ns, max_ns;
  guint64 latency_count;
  gboolean held; /* met every gate */
  char *why;     /* (owned) (nullable) the first gate it broke */
} HubLgStep;

typedef struct {
  const HubLgConfig *config; /* (unowned) */
  HubLgPlan *plan;           /* (owned) */
  char *command;             /* (owned) */
  char *started_at;          /* (owned) ISO 8601 UTC */

  /* clamping to the descriptor limit */
  guint users_asked;
  guint64 connections_asked;
  guint64 nofile_limit;
  gboolean clamped;
  guint threads; /* event loops used */

  /* phases, seconds */
  double ramp_s, steady_s, drain_s, total_s;
  gboolean ramp_complete; /* every device was ready before the steady state */
  gboolean drained;       /* nothing was still due when the drain ended */
  gboolean interrupted;   /* SIGINT/SIGTERM */

  HubLgStats *stats; /* (owned) merged over workers, whole run */
  HubLgTally tally;
  GArray *misses;      /* HubLgMiss (owned) the first ones */
  guint64 miss_ranges; /* all of them */
  gint64 *final_seq;   /* (owned) [n_rooms] */

  GHashTable *metrics_before, *metrics_after; /* (owned) (nullable) name → double* */
  char *metrics_error;                        /* (owned) (nullable) */
  double metrics_interval_s;                  /* between the two reads */

  GArray *steps; /* HubLgStep (owned) */
  gboolean capacity_found;
  double capacity_rate;        /* highest per-user rate that held */
  guint capacity_step;         /* its index in steps */
  double capacity_broke_rate;  /* lowest rate that broke (0: none did) */
  gboolean capacity_bracketed; /* that one is within HUB_LG_CAPACITY_PRECISION above */

  GArray *series; /* HubLgSample (owned) one a second */

  gboolean passed;
  GPtrArray *failures; /* char* (owned) why the run failed its gates */

  /* distributed runs (hub-lg-shard.h) */
  guint target_devices;    /* this process's connections (its shard's with --shard) */
  HubLgShardRecord *shard; /* (owned) (nullable) with --shard: what the merge needs */
  char *shard_error;       /* (owned) (nullable) a barrier missed, a shard too big */
  JsonObject *merged;      /* (owned) (nullable) hub-loadgen merge: how the shards joined */
} HubLgReport;

/* @plan: (transfer full) */
HubLgReport *hub_lg_report_new (const HubLgConfig *config, HubLgPlan *plan);
void hub_lg_report_free (HubLgReport *report);

/* Sets passed and failures from the figures and the gates. */
void hub_lg_report_judge (HubLgReport *report);
/* Whether @step's figures meet the gates; sets held and why. */
void hub_lg_report_judge_step (const HubLgConfig *config, HubLgStep *step, guint64 expected);

/* (transfer full) */
JsonObject *hub_lg_report_to_json (const HubLgReport *report);
/* The same as pretty JSON text, ended by a newline (--json). (transfer full) */
char *hub_lg_report_to_json_text (const HubLgReport *report);
char *hub_lg_report_to_text (const HubLgReport *report);

/* "u17/d1" from a miss. (transfer full) */
char *hub_lg_report_device_name (const HubLgPlan *plan, guint user, guint slot);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubLgReport, hub_lg_report_free)

G_END_DECLS
