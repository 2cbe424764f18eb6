/* hub-test-platform-unix.c: hub-test-platform.h on Linux and macOS: children
 * with PR_SET_PDEATHSIG (Linux), RLIMIT_NOFILE and, on Linux, a seccomp filter
 * that refuses io_uring as containers do, stop requests as SIGTERM /
 * SIGINT, the process's limits and memory, SO_LINGER and shutdown(2). */
#include "hub-test-platform.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif
#ifdef __APPLE__
#include <mach/mach.h>
#endif

typedef struct {
  guint64 nofile;         /* 0: inherited */
  gboolean deny_io_uring; /* io_uring_setup() fails with EPERM in the child */
} ChildSetup;

#define CHILD_SETUP_KEY "hub-test-child-setup"

#if defined(__linux__) && defined(__NR_io_uring_setup)
/* What Docker's and Podman's default seccomp profiles and
 * kernel.io_uring_disabled=2 do to a process: io_uring_setup() fails with
 * EPERM, every other call is allowed. */
static void
deny_io_uring (void)
{
  struct sock_filter filter[] = {
      BPF_STMT (BPF_LD | BPF_W | BPF_ABS, offsetof (struct seccomp_data, nr)),
      BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT (BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {G_N_ELEMENTS (filter), filter};

  /* Without privileges a filter needs no_new_privs; a failure leaves io_uring
   * allowed, which the test that asked sees in the child's report. */
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
    prctl (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}
#endif

/* In the child, between fork and exec: only async-signal-safe calls. */
static void
child_setup (gpointer data)
{
  const ChildSetup *setup = data;

#ifdef __linux__
  /* The child must not outlive a test process killed by Check's timeout. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
#endif
  if (setup->nofile > 0) {
    struct rlimit rl = {setup->nofile, setup->nofile};

    setrlimit (RLIMIT_NOFILE, &rl);
  }
#if defined(__linux__) && defined(__NR_io_uring_setup)
  if (setup->deny_io_uring)
    deny_io_uring ();
#endif
}

GSubprocessLauncher *
hub_test_platform_launcher_new (GSubprocessFlags flags, const char *stderr_path, guint64 nofile)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);
  ChildSetup *setup = g_new0 (ChildSetup, 1);

  setup->nofile = nofile;
  if (stderr_path != NULL)
    g_subprocess_launcher_set_stderr_file_path (launcher, stderr_path);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, setup, g_free);
  g_object_set_data (G_OBJECT (launcher), CHILD_SETUP_KEY, setup);
  return launcher;
}

gboolean
hub_test_platform_can_deny_io_uring (void)
{
#if defined(__linux__) && defined(__NR_io_uring_setup)
  return TRUE;
#else
  return FALSE;
#endif
}

void
hub_test_platform_launcher_deny_io_uring (GSubprocessLauncher *launcher)
{
  ChildSetup *setup = g_object_get_data (G_OBJECT (launcher), CHILD_SETUP_KEY);

  g_return_if_fail (setup != NULL && hub_test_platform_can_deny_io_uring ());
  setup->deny_io_uring = TRUE;
}

GSubprocess *
hub_test_platform_spawnv (GSubprocessLauncher *launcher, const char *const *argv, GError **error)
{
  return g_subprocess_launcher_spawnv (launcher, argv, error);
}

const char *
hub_test_platform_stop_name (HubTestStopRequest how)
{
  return how == HUB_TEST_STOP_INT ? "SIGINT" : "SIGTERM";
}

gboolean
hub_test_platform_can_request_stop (HubTestStopRequest how)
{
  return TRUE;
}

const char *
hub_test_platform_stop_unsupported (HubTestStopRequest how)
{
  return "";
}

gboolean
hub_test_platform_request_stop (GSubprocess *proc, HubTestStopRequest how)
{
  if (g_subprocess_get_identifier (proc) == NULL)
    return FALSE;
  g_subprocess_send_signal (proc, how == HUB_TEST_STOP_INT ? SIGINT : SIGTERM);
  return TRUE;
}

int
hub_test_platform_open_handles (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  int n = 0;

  if (dir == NULL)
    return -1;
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n - 1; /* the directory's own */
}

const char *
hub_test_platform_absent_program_reason (const char *program)
{
  return NULL;
}

gboolean
hub_test_platform_request_reload (GSubprocess *proc)
{
  if (g_subprocess_get_identifier (proc) == NULL)
    return FALSE;
  g_subprocess_send_signal (proc, SIGHUP);
  return TRUE;
}

gboolean
hub_test_platform_pause (GSubprocess *proc, gboolean pause)
{
  const char *id = g_subprocess_get_identifier (proc);
  pid_t pid;
  siginfo_t si;

  if (id == NULL)
    return FALSE;
  /* Sent here rather than by g_subprocess_send_signal(), which hands it to
   * GLib's worker thread: on a loaded machine it could come after what the
   * test does next. */
  pid = (pid_t)g_ascii_strtoll (id, NULL, 10);
  if (kill (pid, pause ? SIGSTOP : SIGCONT) != 0)
    return FALSE;
  /* Stopped before this returns (WNOWAIT: the stop stays to be reported,
   * GLib's reaper looks for exits only). */
  if (pause)
    while (waitid (P_PID, (id_t)pid, &si, WSTOPPED | WNOWAIT) != 0 && errno == EINTR)
      ;
  return TRUE;
}

guint
hub_test_platform_pid (void)
{
  return (guint)getpid ();
}

void
hub_test_platform_ignore_sigpipe (void)
{
  signal (SIGPIPE, SIG_IGN);
}

guint64
hub_test_platform_raise_open_files (guint64 want)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return 0;
  if (limit.rlim_cur < want) {
    limit.rlim_cur = MIN (limit.rlim_max, (rlim_t)want);
    setrlimit (RLIMIT_NOFILE, &limit);
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
      return 0;
  }
  return (guint64)limit.rlim_cur;
}

gboolean
hub_test_platform_can_limit_open_files (void)
{
  return TRUE;
}

long
hub_test_platform_rss_kib (void)
{
#if defined(__APPLE__)
  mach_task_basic_info_data_t info;
  mach_msg_type_number_t count = MACH_TASK_BASIC_INFO_COUNT;

  if (task_info (mach_task_self (), MACH_TASK_BASIC_INFO, (task_info_t)&info, &count) !=
      KERN_SUCCESS)
    return -1;
  return (long)(info.resident_size / 1024);
#else
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return -1;
  line = strstr (status, "VmRSS:");
  return line != NULL ? strtol (line + 6, NULL, 10) : -1;
#endif
}

long
hub_test_platform_child_rss_kib (GSubprocess *proc)
{
  const char *pid = g_subprocess_get_identifier (proc);
  g_autofree char *path = NULL;
  g_autofree char *status = NULL;
  const char *line;

  if (pid == NULL)
    return -1;
  path = g_strdup_printf ("/proc/%s/status", pid);
  if (!g_file_get_contents (path, &status, NULL, NULL))
    return -1;
  line = strstr (status, "VmRSS:");
  return line != NULL ? strtol (line + 6, NULL, 10) : -1;
}

long
hub_test_platform_child_open_files (GSubprocess *proc)
{
  const char *pid = g_subprocess_get_identifier (proc);
  g_autofree char *path = NULL;
  g_autoptr (GDir) dir = NULL;
  long n = 0;

  if (pid == NULL)
    return -1;
  path = g_strdup_printf ("/proc/%s/fd", pid);
  dir = g_dir_open (path, 0, NULL);
  if (dir == NULL)
    return -1;
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

void
hub_test_platform_socket_shutdown (gintptr fd)
{
  shutdown ((int)fd, SHUT_RDWR);
}

void
hub_test_platform_socket_reset_on_close (GSocket *socket)
{
  struct linger linger = {1, 0};

  setsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER, &linger, sizeof linger);
}

const char *
hub_test_platform_open_defect (const char *what)
{
  return NULL;
}
