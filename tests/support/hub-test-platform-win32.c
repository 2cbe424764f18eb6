/* hub-test-platform-win32.c: hub-test-platform.h on Windows: children in a
 * kill-on-close job with their stderr copied to a file by a thread, no
 * graceful stop request, no open-file limits, the working set, Winsock's
 * SO_LINGER and shutdown(). */
#include "hub-test-platform.h"

#include <glib/gstdio.h>
#include <string.h>

/* In this order (blank lines keep clang-format from sorting them): Winsock
 * before windows.h, psapi.h after it. */
#include <winsock2.h>

#include <windows.h>

#include <psapi.h>

#define STDERR_PATH_KEY "hub-test-stderr-path"

GSubprocessLauncher *
hub_test_platform_launcher_new (GSubprocessFlags flags, const char *stderr_path, guint64 nofile)
{
  GSubprocessLauncher *launcher;

  /* Windows has no open-file limit to set: callers check
   * hub_test_platform_can_limit_open_files() first. */
  g_warn_if_fail (nofile == 0);
  /* GLib redirects a child's stderr to a file only on Unix: here it comes
   * through a pipe that hub_test_platform_spawnv copies to the file. */
  launcher = g_subprocess_launcher_new (flags |
                                        (stderr_path != NULL ? G_SUBPROCESS_FLAGS_STDERR_PIPE : 0));
  if (stderr_path != NULL)
    g_object_set_data_full (G_OBJECT (launcher), STDERR_PATH_KEY, g_strdup (stderr_path), g_free);
  return launcher;
}

typedef struct {
  GInputStream *in; /* (owned) the child's stderr */
  FILE *out;        /* (owned) */
} StderrCopy;

/* Copies until EOF (the child exited), then frees everything; joined when the
 * GSubprocess goes, so that its file is closed before anyone removes it. */
static gpointer
copy_stderr (gpointer data)
{
  StderrCopy *copy = data;
  char buf[4096];
  gssize n;

  while ((n = g_input_stream_read (copy->in, buf, sizeof buf, NULL, NULL)) > 0) {
    fwrite (buf, 1, (size_t)n, copy->out);
    fflush (copy->out);
  }
  fclose (copy->out);
  g_object_unref (copy->in);
  g_free (copy);
  return NULL;
}

static void
join_copy (gpointer thread)
{
  g_thread_join (thread);
}

/* The job every child joins: closing its last handle, at the test process's
 * exit however it ends, kills them all. */
static gpointer
make_job (gpointer data)
{
  HANDLE job = CreateJobObjectW (NULL, NULL);
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;

  if (job == NULL)
    return NULL;
  memset (&info, 0, sizeof info);
  info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
  SetInformationJobObject (job, JobObjectExtendedLimitInformation, &info, sizeof info);
  return job;
}

GSubprocess *
hub_test_platform_spawnv (GSubprocessLauncher *launcher, const char *const *argv, GError **error)
{
  static GOnce job_once = G_ONCE_INIT;
  const char *stderr_path = g_object_get_data (G_OBJECT (launcher), STDERR_PATH_KEY);
  GSubprocess *proc = g_subprocess_launcher_spawnv (launcher, argv, error);
  HANDLE job = g_once (&job_once, make_job, NULL);
  const char *id;

  if (proc == NULL)
    return NULL;
  id = g_subprocess_get_identifier (proc);
  if (job != NULL && id != NULL) {
    HANDLE child = OpenProcess (PROCESS_SET_QUOTA | PROCESS_TERMINATE, FALSE,
                                (DWORD)g_ascii_strtoull (id, NULL, 10));

    if (child != NULL) {
      AssignProcessToJobObject (job, child);
      CloseHandle (child);
    }
  }
  if (stderr_path != NULL) {
    StderrCopy *copy = g_new0 (StderrCopy, 1);

    copy->out = g_fopen (stderr_path, "wb");
    copy->in = g_object_ref (g_subprocess_get_stderr_pipe (proc));
    if (copy->out == NULL) {
      g_object_unref (copy->in);
      g_free (copy);
    } else {
      g_object_set_data_full (G_OBJECT (proc), "hub-test-stderr-copy",
                              g_thread_new ("hub-test-stderr", copy_stderr, copy), join_copy);
    }
  }
  return proc;
}

gboolean
hub_test_platform_can_request_stop (void)
{
  return FALSE;
}

const char *
hub_test_platform_stop_unsupported (void)
{
  return "on Windows hub-server stops on a console control event, which a test cannot send to "
         "one child alone (GenerateConsoleCtrlEvent reaches every process of the console, ctest "
         "included, and GSubprocess cannot start a child in its own process group)";
}

gboolean
hub_test_platform_request_stop (GSubprocess *proc, HubTestStopRequest how)
{
  return FALSE;
}

gboolean
hub_test_platform_request_reload (GSubprocess *proc)
{
  return FALSE; /* no SIGHUP on Windows (hub-signals.h) */
}

gboolean
hub_test_platform_pause (GSubprocess *proc, gboolean pause)
{
  /* Windows has no documented way to suspend another process as a whole. */
  return FALSE;
}

guint
hub_test_platform_pid (void)
{
  return (guint)GetCurrentProcessId ();
}

void
hub_test_platform_ignore_sigpipe (void)
{
  /* Winsock reports a broken connection as an error, never a signal. */
}

guint64
hub_test_platform_raise_open_files (guint64 want)
{
  return want;
}

gboolean
hub_test_platform_can_limit_open_files (void)
{
  return FALSE;
}

long
hub_test_platform_rss_kib (void)
{
  PROCESS_MEMORY_COUNTERS counters;

  if (!GetProcessMemoryInfo (GetCurrentProcess (), &counters, sizeof counters))
    return -1;
  return (long)(counters.WorkingSetSize / 1024);
}

void
hub_test_platform_socket_shutdown (gintptr fd)
{
  shutdown ((SOCKET)fd, SD_BOTH);
}

void
hub_test_platform_socket_reset_on_close (GSocket *socket)
{
  struct linger linger = {1, 0};

  setsockopt ((SOCKET)g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER, (const char *)&linger,
              sizeof linger);
}
