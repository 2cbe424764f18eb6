/* hub-process-metrics.c: the process_* figures in the text exposition, with
 * the names and help texts of Prometheus' own client libraries, so that
 * dashboards made for them work as they are. A figure the platform cannot
 * tell is left out. */
#include "hub-process-metrics.h"

#include "hub-process.h"

static void
collect (GString *out, gpointer user_data)
{
  HubProcessFigures p;

  hub_process_get_figures (&p);
#define FIGURE(has, name, type, help, fmt, value)                                                  \
  if (has)                                                                                         \
  g_string_append_printf (                                                                         \
      out, "# HELP " name " " help "\n# TYPE " name " " type "\n" name " " fmt "\n", value)
  FIGURE (p.has_cpu, "process_cpu_seconds_total", "counter",
          "Total user and system CPU time spent in seconds.", "%.3f", p.cpu_seconds);
  FIGURE (p.has_rss, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
          "%" G_GUINT64_FORMAT, p.resident_bytes);
  FIGURE (p.has_open_fds, "process_open_fds", "gauge", "Number of open file descriptors.",
          "%" G_GUINT64_FORMAT, p.open_fds);
  FIGURE (p.has_max_fds, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
          "%" G_GUINT64_FORMAT, p.max_fds);
  FIGURE (p.has_start_time, "process_start_time_seconds", "gauge",
          "Start time of the process since unix epoch in seconds.", "%.2f", p.start_time_unix_s);
#undef FIGURE
}

void
hub_process_metrics_register (HubMetrics *m)
{
  hub_metrics_add_collector (m, collect, NULL);
}
