/* hub-lg-shard.h: distributed runs. `hub-loadgen --shard I/N` runs users
 * u ≡ I (mod N) of one scenario; N such processes, on N machines, with the
 * same settings, --seed and --prefix, are one population (each user draws
 * from its own generator, so it sends the same messages wherever it runs).
 * The shards meet at two barriers kept by the server itself — every device of
 * every shard ready before anyone sends, everyone done sending before anyone
 * settles the rooms' final seqs — and each writes, into its JSON report, what
 * it sent (the seq of every publish the server acknowledged) and what it
 * received (every subscription's ledger, every device's end state), so that
 * `hub-loadgen merge` (hub-lg-merge.h) can check every message sent by any
 * shard at every device of every shard, and add the histograms up exactly. */
#pragma once

#include "hub-lg-config.h"
#include "hub-lg-ledger.h"
#include "hub-lg-plan.h"
#include "hub-lg-stats.h"

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The member of the JSON report that holds a shard's record. */
#define HUB_LG_SHARD_SCHEMA "hub-loadgen-shard/1"

/* How a device ended the run. */
typedef struct {
  guint global; /* its index in the plan */
  guint user, slot;
  guint last_close;   /* its last close code (0: none) */
  gboolean connected; /* connected at the end */
  gboolean gone;      /* disconnected for good */
} HubLgShardDevice;

/* A publish the server acknowledged. */
typedef struct {
  guint room;
  gint64 seq;
} HubLgShardSent;

/* What a shard sent and received, as the merge needs it. */
typedef struct {
  guint index, count;
  guint users;       /* this shard's users */
  GArray *subs;      /* HubLgSub (owned, with their ranges) */
  GArray *devices;   /* HubLgShardDevice (owned) */
  GArray *sent;      /* HubLgShardSent (owned) */
  gint64 *final_seq; /* (owned) [n_rooms] as this shard settled them */
  guint n_rooms;
  HubLgStats *stats; /* (owned) its counters, errors and histograms, whole run */
  char *error;       /* (owned) (nullable) a barrier it missed */
} HubLgShardRecord;

/* (transfer full) */
HubLgShardRecord *hub_lg_shard_record_new (guint index, guint count, guint n_rooms);
void hub_lg_shard_record_free (HubLgShardRecord *record);

/* The users of shard @index of @count, and their devices. */
guint hub_lg_shard_users (const HubLgPlan *plan, guint index, guint count);
guint hub_lg_shard_devices (const HubLgPlan *plan, guint index, guint count);

/* The record as the report's "shard" member. (transfer full) */
JsonObject *hub_lg_shard_record_to_json (const HubLgShardRecord *record);
/* … and back, checked against @plan (room and device indexes in range). NULL
 * with @error when it is not one. (transfer full) */
HubLgShardRecord *hub_lg_shard_record_from_json (JsonObject *o, const HubLgPlan *plan,
                                                 GError **error);

/* Called about every 100 ms while a barrier waits (progress, signals); TRUE: give up. */
typedef gboolean (*HubLgShardTick) (gpointer user_data);

/* Waits, from the calling thread, until all config->shard_count shards have
 * reached @phase ("ready", "done"), or @timeout_s passed, or @tick said stop:
 * a control connection (user "<prefix>shard<I>") joins the room
 * "<prefix>barrier-<phase>" and asks room_info for its members until there
 * are as many as shards. TRUE when all arrived; FALSE with @error otherwise
 * (*@arrived: how many had). */
gboolean hub_lg_shard_barrier (const HubLgConfig *config, const char *phase, double timeout_s,
                               HubLgShardTick tick, gpointer user_data, guint *arrived,
                               GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubLgShardRecord, hub_lg_shard_record_free)

G_END_DECLS
