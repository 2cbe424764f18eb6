/* hub-process-win32.c: hub-process.h on Windows: GetProcessTimes (CPU and
 * start time), GetProcessMemoryInfo (working set) and GetProcessHandleCount.
 * There is no descriptor limit (README: Windows), so max_fds is left out. */
#include "hub-process.h"

#include <windows.h>

#include <psapi.h>
#include <string.h>

/* A FILETIME in seconds (100 ns units). */
static double
filetime_seconds (const FILETIME *ft)
{
  ULARGE_INTEGER v;

  v.LowPart = ft->dwLowDateTime;
  v.HighPart = ft->dwHighDateTime;
  return (double)v.QuadPart / 1e7;
}

void
hub_process_get_figures (HubProcessFigures *out)
{
  HANDLE self = GetCurrentProcess ();
  FILETIME created, exited, kernel, user;
  PROCESS_MEMORY_COUNTERS pmc;
  DWORD handles = 0;

  memset (out, 0, sizeof *out);
  if (GetProcessTimes (self, &created, &exited, &kernel, &user)) {
    out->has_cpu = TRUE;
    out->cpu_seconds = filetime_seconds (&kernel) + filetime_seconds (&user);
    /* FILETIME counts from 1601-01-01: 11644473600 s before the Unix epoch. */
    out->has_start_time = TRUE;
    out->start_time_unix_s = filetime_seconds (&created) - 11644473600.0;
  }
  if (GetProcessMemoryInfo (self, &pmc, sizeof pmc)) {
    out->has_rss = TRUE;
    out->resident_bytes = (guint64)pmc.WorkingSetSize;
  }
  /* A process always holds some: 0 is wine's answer, "not counted". */
  if (GetProcessHandleCount (self, &handles) && handles > 0) {
    out->has_open_fds = TRUE;
    out->open_fds = handles;
  }
}
