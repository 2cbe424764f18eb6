/* hub-lg-merge.h: `hub-loadgen merge [--json FILE] REPORT…`: joins the JSON
 * reports of the N shards of one distributed run (hub-lg-shard.h) into one
 * report, as if one process had run the whole population: every
 * subscription's ledger of every shard is tallied against each room's final
 * seq over all shards (so every message any shard sent is checked at every
 * device of every shard), every acknowledged publish is matched to its seq
 * (no seq claimed twice, the seqs nobody claimed counted), counters, error
 * tables and latency histograms are added up exactly, and the server's
 * /metrics are taken from the earliest reading before and the latest after.
 * The merged report has the same schema, table and verdict as a run's. */
#pragma once

#include "hub-lg-report.h"

G_BEGIN_DECLS

/* Reads the reports at @paths (@n of them) and merges them. NULL with @error
 * (G_OPTION_ERROR: bad usage, G_IO_ERROR / G_FILE_ERROR: unreadable) when
 * they are not the complete set of shards of one scenario. @config receives
 * the scenario's settings and must outlive the report. (transfer full) */
HubLgReport *hub_lg_merge (HubLgConfig *config, const char *const *paths, guint n, GError **error);

/* The `merge` subcommand: @argv[0] is "merge". Returns the exit status:
 * 0 the merged run met its gates, 1 it did not, 2 bad usage or unreadable
 * reports. */
int hub_lg_merge_main (int argc, char **argv);

G_END_DECLS
