/* hub-process-unix.c: hub-process.h on Unix: getrusage(2) and getrlimit(2)
 * everywhere; resident memory, open descriptors and the start time from
 * /proc where there is one (Linux), as Prometheus' own clients read them. */
#include "hub-process.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Unix seconds of the boot, from /proc/stat's btime; 0 when unknown. */
static double
boot_time (void)
{
  g_autofree char *stat = NULL;
  const char *at;

  if (!g_file_get_contents ("/proc/stat", &stat, NULL, NULL))
    return 0;
  at = strstr (stat, "\nbtime ");
  return at != NULL ? g_ascii_strtod (at + 7, NULL) : 0;
}

/* Field 22 of /proc/self/stat, starttime (clock ticks after boot); the
 * command name in field 2 may hold spaces and parentheses: count from the
 * last ')'. */
static gboolean
start_ticks (guint64 *ticks)
{
  g_autofree char *stat = NULL;
  g_auto (GStrv) fields = NULL;
  const char *after;

  if (!g_file_get_contents ("/proc/self/stat", &stat, NULL, NULL))
    return FALSE;
  after = strrchr (stat, ')');
  if (after == NULL)
    return FALSE;
  fields = g_strsplit (after + 2, " ", 0);
  /* after ") ": field 3 (state) is fields[0], so field 22 is fields[19]. */
  if (g_strv_length (fields) < 20)
    return FALSE;
  *ticks = g_ascii_strtoull (fields[19], NULL, 10);
  return TRUE;
}

void
hub_process_get_figures (HubProcessFigures *out)
{
  struct rusage ru;
  struct rlimit rl;
  g_autofree char *statm = NULL;
  GDir *fds;
  guint64 ticks;
  double boot;
  long hz = sysconf (_SC_CLK_TCK), page = sysconf (_SC_PAGESIZE);

  memset (out, 0, sizeof *out);
  if (getrusage (RUSAGE_SELF, &ru) == 0) {
    out->has_cpu = TRUE;
    out->cpu_seconds = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  }
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    out->has_max_fds = TRUE;
    out->max_fds = (guint64)rl.rlim_cur;
  }
  /* statm: size resident shared …, in pages. */
  if (page > 0 && g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL)) {
    const char *space = strchr (statm, ' ');

    if (space != NULL) {
      out->has_rss = TRUE;
      out->resident_bytes = g_ascii_strtoull (space + 1, NULL, 10) * (guint64)page;
    }
  }
  fds = g_dir_open ("/proc/self/fd", 0, NULL);
  if (fds != NULL) {
    out->has_open_fds = TRUE;
    while (g_dir_read_name (fds) != NULL)
      out->open_fds++;
    g_dir_close (fds);
    /* The walk's own descriptor. */
    if (out->open_fds > 0)
      out->open_fds--;
  }
  boot = boot_time ();
  if (hz > 0 && boot > 0 && start_ticks (&ticks)) {
    out->has_start_time = TRUE;
    out->start_time_unix_s = boot + (double)ticks / (double)hz;
  }
}
