/* hub-test-platform.h: what the tests do differently on Unix
 * (hub-test-platform-unix.c) and on Windows (hub-test-platform-win32.c):
 * starting children that die with the test, asking a child to stop, process
 * limits and memory, and the socket options GLib has no call for. Everything
 * else in tests/ uses GLib's portable APIs. */
#pragma once

#include <gio/gio.h>
#include <stdio.h>

G_BEGIN_DECLS

/* ---- children ---- */

/* A launcher for children of the tests, with @flags for stdin/stdout (no
 * stderr flag): the child's stderr goes to the file @stderr_path (NULL: to
 * the test's stderr); with @nofile > 0 the child runs under that open-file
 * limit, soft and hard (only where hub_test_platform_can_limit_open_files()).
 * (transfer full) */
GSubprocessLauncher *hub_test_platform_launcher_new (GSubprocessFlags flags,
                                                     const char *stderr_path, guint64 nofile);
/* TRUE where a child can be started without io_uring (Linux: a seccomp filter
 * makes io_uring_setup() fail with EPERM, as a container's default profile or
 * kernel.io_uring_disabled=2 does), to test a fallback. */
gboolean hub_test_platform_can_deny_io_uring (void);
/* Children of @launcher (made by hub_test_platform_launcher_new) start
 * without io_uring; only where hub_test_platform_can_deny_io_uring(). */
void hub_test_platform_launcher_deny_io_uring (GSubprocessLauncher *launcher);
/* Starts @argv with a launcher made by hub_test_platform_launcher_new. The
 * child dies with the test process where the system allows it (Linux:
 * PR_SET_PDEATHSIG; Windows: a kill-on-close job; macOS has no such thing).
 * The stderr file is complete and closed once the child exited and the
 * GSubprocess is freed. NULL with @error when it cannot start. (transfer full) */
GSubprocess *hub_test_platform_spawnv (GSubprocessLauncher *launcher, const char *const *argv,
                                       GError **error);

/* How a test asks a child to stop gracefully: what a user or a service manager
 * sends. On Windows both are console control events sent to the child's own
 * console (each child gets one at its start), which the child's console
 * control handler receives as it would from a keyboard. */
typedef enum {
  HUB_TEST_STOP_TERM, /* Unix: SIGTERM; Windows: Ctrl-Break */
  HUB_TEST_STOP_INT,  /* Unix: SIGINT; Windows: Ctrl-C */
} HubTestStopRequest;

/* "SIGTERM", "SIGINT"; "Ctrl-Break", "Ctrl-C". */
const char *hub_test_platform_stop_name (HubTestStopRequest how);
/* TRUE where this system can deliver @how to one child. Everywhere but under
 * wine, whose console delivers Ctrl-C but not Ctrl-Break (found by trying one on
 * a console of this process's own, not by asking whether this is wine); then
 * hub_test_platform_stop_unsupported() says why, and a test that needs it is
 * skipped, never weakened. */
gboolean hub_test_platform_can_request_stop (HubTestStopRequest how);
const char *hub_test_platform_stop_unsupported (HubTestStopRequest how);
/* Sends the request; FALSE (nothing sent) where the platform cannot or the
 * child is gone. */
gboolean hub_test_platform_request_stop (GSubprocess *proc, HubTestStopRequest how);

/* Skips the running Check test (saying so on stderr) where @how cannot be
 * delivered. */
#define HUB_TEST_REQUIRE_STOP_REQUEST(how)                                                         \
  do {                                                                                             \
    if (!hub_test_platform_can_request_stop (how)) {                                               \
      fprintf (stderr, "%s: skipped: %s\n", __func__, hub_test_platform_stop_unsupported (how));   \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

/* Asks a child to reload its settings: SIGHUP. FALSE where there is no such
 * request (Windows): the test that needs it is Unix-only. */
gboolean hub_test_platform_request_reload (GSubprocess *proc);

/* Pauses (@pause) or resumes a child: SIGSTOP / SIGCONT. FALSE where a child
 * cannot be paused from outside (Windows): the caller skips what needs it. */
gboolean hub_test_platform_pause (GSubprocess *proc, gboolean pause);

/* Why a test program that needs @program ("redis-server", "haproxy") is
 * skipped rather than failed when it is not installed: NULL on Unix, where
 * scripts/install-deps.sh installs both and a missing one is a broken setup;
 * on Windows, which has neither (no build for it in MSYS2), the reason. */
const char *hub_test_platform_absent_program_reason (const char *program);

/* Where a test meets a defect of this platform's build that is known and
 * tracked (an open issue), not a missing component: the defect, said on
 * stderr as the reason the test is skipped; NULL where there is none (Unix).
 * @what: "hub-client-stdin" (hub-client reading lines written to its stdin
 * after it started), "api-hostile-bodies" (§13's hostile-body case). */
const char *hub_test_platform_open_defect (const char *what);
/* Skips the running Check test (saying why on stderr) where @what is an open
 * defect of this platform's build (hub_test_platform_open_defect). */
#define HUB_TEST_SKIP_OPEN_DEFECT(what)                                                            \
  do {                                                                                             \
    const char *defect_ = hub_test_platform_open_defect (what);                                    \
    if (defect_ != NULL) {                                                                         \
      fprintf (stderr, "%s: skipped: %s\n", __func__, defect_);                                    \
      return;                                                                                      \
    }                                                                                              \
  } while (0)

/* ---- this process ---- */

/* This process's id (in file names). */
guint hub_test_platform_pid (void);
/* Broken connections must come back as write errors, not kill the test
 * (Unix: SIGPIPE ignored; nothing to do on Windows). */
void hub_test_platform_ignore_sigpipe (void);
/* Raises this process's open-file limit to at least @want where it can (the
 * soft limit up to the hard one) and returns the limit now in force. On
 * Windows sockets are handles with no such per-process limit: returns @want. */
guint64 hub_test_platform_raise_open_files (guint64 want);
/* TRUE where a child's open-file limit can be set (hub_test_platform_launcher_new's @nofile). */
gboolean hub_test_platform_can_limit_open_files (void);
/* Descriptors (Unix: /proc/self/fd, Linux) or kernel handles (Windows:
 * GetProcessHandleCount, sockets included) this process holds now; -1 where
 * the system does not say. Not wine's own Unix descriptors: under wine the
 * Windows count is what a Windows program holds. */
int hub_test_platform_open_handles (void);
/* The resident memory of this process in KiB, -1 when unknown. */
long hub_test_platform_rss_kib (void);
/* A child's resident memory in KiB and its open descriptors (handles on
 * Windows), -1 when unknown (Linux: /proc/PID). */
long hub_test_platform_child_rss_kib (GSubprocess *proc);
long hub_test_platform_child_open_files (GSubprocess *proc);

/* ---- sockets ---- */

/* shutdown(SHUT_RDWR) of a socket another library owns (libwebsockets' fd,
 * lws_sockfd_type): both directions end, the descriptor stays open. */
void hub_test_platform_socket_shutdown (gintptr fd);
/* Makes closing @socket abortive: an RST instead of a FIN (SO_LINGER 0). */
void hub_test_platform_socket_reset_on_close (GSocket *socket);

G_END_DECLS
