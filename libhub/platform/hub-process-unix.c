/* hub-process-unix.c: hub-process.h on Unix: getrusage(2) and getrlimit(2)
 * everywhere; resident memory, open descriptors and the start time from
 * /proc where there is one (Linux), as Prometheus' own clients read them; on
 * macOS from the Mach task info, /dev/fd and sysctl(KERN_PROC_PID). */
#include "hub-process.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef __APPLE__
#include <mach/mach.h>
#include <sys/sysctl.h>
#endif

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

/* Entries of @path (a directory of the process's descriptors) but the one
 * the walk itself opens; FALSE when there is no such directory. */
static gboolean
count_fds (const char *path, guint64 *n)
{
  GDir *dir = g_dir_open (path, 0, NULL);

  if (dir == NULL)
    return FALSE;
  *n = 0;
  while (g_dir_read_name (dir) != NULL)
    (*n)++;
  g_dir_close (dir);
  if (*n > 0)
    (*n)--;
  return TRUE;
}

#ifdef __APPLE__
static void
apple_figures (HubProcessFigures *out)
{
  struct mach_task_basic_info info;
  mach_msg_type_number_t count = MACH_TASK_BASIC_INFO_COUNT;
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, (int)getpid ()};
  struct kinfo_proc kp;
  size_t len = sizeof kp;

  if (task_info (mach_task_self (), MACH_TASK_BASIC_INFO, (task_info_t)&info, &count) ==
      KERN_SUCCESS) {
    out->has_rss = TRUE;
    out->resident_bytes = (guint64)info.resident_size;
  }
  if (sysctl (mib, 4, &kp, &len, NULL, 0) == 0 && len > 0) {
    out->has_start_time = TRUE;
    out->start_time_unix_s =
        (double)kp.kp_proc.p_starttime.tv_sec + kp.kp_proc.p_starttime.tv_usec / 1e6;
  }
}
#endif

void
hub_process_get_figures (HubProcessFigures *out)
{
  struct rusage ru;
  struct rlimit rl;
  g_autofree char *statm = NULL;
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
  out->has_open_fds =
      count_fds ("/proc/self/fd", &out->open_fds) || count_fds ("/dev/fd", &out->open_fds);
  boot = boot_time ();
  if (hz > 0 && boot > 0 && start_ticks (&ticks)) {
    out->has_start_time = TRUE;
    out->start_time_unix_s = boot + (double)ticks / (double)hz;
  }
#ifdef __APPLE__
  apple_figures (out);
#endif
}
