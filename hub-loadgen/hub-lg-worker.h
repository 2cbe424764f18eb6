/* hub-lg-worker.h: one event loop (thread) of hub-loadgen and the devices it
 * drives. Users are dealt to workers whole (user u to worker u mod n), so a
 * user's devices, its send schedule and its publisher sequence live on one
 * thread; each worker has its own GMainContext and so its own libwebsockets
 * context (HubClient shares one per context). The main thread talks to a
 * worker only through these calls, each of which runs on the worker's thread
 * and returns when done: no state is shared, no lock is held on a hot path. */
#pragma once

#include "hub-lg-config.h"
#include "hub-lg-ledger.h"
#include "hub-lg-plan.h"
#include "hub-lg-shard.h"
#include "hub-lg-stats.h"

G_BEGIN_DECLS

typedef struct _HubLgWorker HubLgWorker;

/* One missing range of one device in one room (see hub-lg-ledger.h). */
typedef struct {
  guint user, slot; /* the device */
  guint room;
  gint64 from, to; /* seqs, inclusive */
  HubLgMissKind kind;
  gboolean device_gone; /* the device was disconnected for good at the end */
  gboolean device_down; /* … or not connected at the end, still trying */
  guint close_code;     /* its last close code (0: none) */
} HubLgMiss;

/* Starts the thread and creates (without connecting) a HubClient per device
 * of its users: this shard's (u ≡ I mod N with --shard I/N, all without),
 * the @index-th of every @n_workers of them. @config and @plan must outlive the
 * worker. (transfer full) */
HubLgWorker *hub_lg_worker_new (guint index, guint n_workers, const HubLgConfig *config,
                                const HubLgPlan *plan);
/* Frees every client, stops and joins the thread. */
void hub_lg_worker_free (HubLgWorker *worker);

/* Connects device g (global index) at @start_us + g / @per_s (monotonic µs). */
void hub_lg_worker_start_ramp (HubLgWorker *worker, gint64 start_us, double per_s);
/* Each user acts @rate times a second from @start_us until @end_us (open
 * model: the schedule does not wait for replies); @churn % of the devices per minute are
 * dropped abruptly. */
void hub_lg_worker_start_traffic (HubLgWorker *worker, gint64 start_us, gint64 end_us, double rate,
                                  double churn);
/* Sends what is scheduled before @end_us (monotonic µs) and not sent yet
 * (a loop behind its schedule), then no more sends or drops; actions still
 * waiting for a device are skipped. */
void hub_lg_worker_stop_traffic (HubLgWorker *worker, gint64 end_us);

/* Adds this worker's figures into @into and restarts its `recent` histogram. */
void hub_lg_worker_snapshot (HubLgWorker *worker, HubLgStats *into);

/* Asks each user (from a connected device) for its rooms' seqs, once per
 * call for users not yet answered, and raises @final ([n_rooms]) to the
 * highest seq known for each room (replies, acks, receipts). Returns the
 * users still to answer that have a device that may come back. */
guint hub_lg_worker_query_final (HubLgWorker *worker, gint64 *final);
/* Restarts the final-seq queries (a new step of --find-capacity). */
void hub_lg_worker_reset_final (HubLgWorker *worker);
/* The final seq of every room, for pending() and tally(). */
void hub_lg_worker_set_final (HubLgWorker *worker, const gint64 *final);
/* Deliveries still due to devices that are connected or coming back. */
guint64 hub_lg_worker_pending (HubLgWorker *worker);
/* Adds the accounting of every subscription into @tally; appends up to
 * @max_misses entries to @misses (HubLgMiss) and counts every missing range
 * in @n_ranges. */
void hub_lg_worker_tally (HubLgWorker *worker, HubLgTally *tally, GArray *misses, guint max_misses,
                          guint64 *n_ranges);

/* Appends every subscription (a copy), every device's end state and (with
 * --shard) every acknowledged publish to @record. */
void hub_lg_worker_export (HubLgWorker *worker, HubLgShardRecord *record);

G_END_DECLS
