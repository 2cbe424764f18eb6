/* hub-process-metrics.h: Prometheus' process_* metrics of hub-server
 * (process_cpu_seconds_total, process_resident_memory_bytes,
 * process_open_fds, process_max_fds, process_start_time_seconds), read from
 * the platform layer (hub-process.h) at every scrape. */
#pragma once

#include <hub/hub.h>

G_BEGIN_DECLS

/* Adds them to @m (as a collector: they are read when /metrics is). */
void hub_process_metrics_register (HubMetrics *m);

G_END_DECLS
