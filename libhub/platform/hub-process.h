/* hub-process.h: the platform layer for the figures of this process that
 * Prometheus' process_* metrics carry: CPU time, resident memory, open and
 * allowed descriptors, start time. /proc and getrusage(2) on Unix
 * (hub-process-unix.c), the process and handle APIs on Windows
 * (hub-process-win32.c). A figure the platform cannot tell is left out. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  gboolean has_cpu, has_rss, has_open_fds, has_max_fds, has_start_time;
  double cpu_seconds;       /* user + system */
  guint64 resident_bytes;   /* resident set size */
  guint64 open_fds;         /* descriptors (Windows: handles) open */
  guint64 max_fds;          /* the soft limit on them */
  double start_time_unix_s; /* when the process started, Unix seconds */
} HubProcessFigures;

/* Reads the figures now. Costs a few system calls and, on Linux, a walk
 * of /proc/self/fd (for a scrape, not a hot path). */
void hub_process_get_figures (HubProcessFigures *out);

G_END_DECLS
