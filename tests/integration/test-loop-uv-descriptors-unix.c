/* test-loop-uv-descriptors-unix.c: hub-server's libuv loop and GLib's
 * descriptors (hub-loop-uv.c polls a duplicate of each). One GLib dispatch
 * closes descriptors and the next source in it reuses the numbers: Redis lost
 * (hiredis closes both connections) and connections accepted by the listener
 * in the same iteration get their numbers; the node must neither abort nor
 * leave those connections deaf. And the listener, paused when the node runs
 * out of descriptors, is watched again once clients leave. Unix: SIGSTOP,
 * RLIMIT_NOFILE. */
#include "hub-test-redis.h"
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Connections queued while the node sleeps: more than the descriptors it
 * frees (its two Redis connections), so the reuse happens whichever are lowest. */
#define QUEUED_CONNECTIONS 8

typedef struct {
  GSubprocess *proc; /* (owned) */
  char *stderr_path; /* (owned) */
  guint16 port;
} Node;

/* hub-server on the uv loop (in cluster mode when @redis is not NULL), with
 * at most @nofile descriptors (0: no limit), started here rather than by
 * hub_test_server_start: the test needs its process. */
static void
node_start (Node *node, HubTestRedis *redis, guint64 nofile)
{
  const char *bin = g_getenv ("HUB_SERVER_BIN");
  const char *argv[] = {bin,           "--host", "127.0.0.1", "--port", "0",  "--event-loop", "uv",
                        "--heartbeat", "1",      "--node",    "na",     NULL, NULL,           NULL};
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *line = NULL;
  const char *at;
  int fd;

  ck_assert_msg (bin != NULL, "expected HUB_SERVER_BIN to name hub-server");
  if (redis != NULL) {
    argv[11] = "--redis";
    argv[12] = hub_test_redis_url (redis);
  }
  fd = g_file_open_tmp ("hub-loop-uv-XXXXXX.stderr", &node->stderr_path, &error);
  ck_assert_msg (fd >= 0, "expected a temporary file: %s", error ? error->message : "?");
  close (fd);
  launcher =
      hub_test_platform_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, node->stderr_path, nofile);
  node->proc = hub_test_platform_spawnv (launcher, argv, &error);
  ck_assert_msg (node->proc != NULL, "expected hub-server to start: %s",
                 error ? error->message : "?");
  /* Blocking, bounded by the test's timeout: the node prints it at once. */
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (node->proc));
  line = g_data_input_stream_read_line (out, NULL, NULL, NULL);
  ck_assert_msg (line != NULL && (at = strstr (line, "127.0.0.1:")) != NULL,
                 "expected the 'listening' line, got '%s'", line ? line : "(EOF)");
  node->port = (guint16)g_ascii_strtoull (at + strlen ("127.0.0.1:"), NULL, 10);
  ck_assert_msg (hub_test_wait_health (node->port, 200, 10000),
                 "expected the node healthy (/healthz 200) within 10 s");
}

static gboolean
node_running (Node *node)
{
  return g_subprocess_get_identifier (node->proc) != NULL;
}

/* Stops (SIGSTOP) or resumes the node, effective on return: GSubprocess
 * sends signals later, from GLib's worker thread. */
static void
node_pause (Node *node, gboolean pause)
{
  const char *id = g_subprocess_get_identifier (node->proc);
  pid_t pid;

  ck_assert_msg (id != NULL, "expected the node running");
  pid = (pid_t)g_ascii_strtoll (id, NULL, 10);
  ck_assert_int_eq (kill (pid, pause ? SIGSTOP : SIGCONT), 0);
  if (pause) {
    siginfo_t info;

    /* Stopped once it is reported so; WNOWAIT leaves it to GLib's reaper. */
    ck_assert_msg (waitid (P_PID, (id_t)pid, &info, WSTOPPED | WNOWAIT) == 0,
                   "expected to see the node stopped: %s", g_strerror (errno));
  }
}

static void
node_clear (Node *node)
{
  if (node->proc != NULL && node_running (node))
    g_subprocess_force_exit (node->proc); /* SIGKILL: stopped or not */
  if (node->proc != NULL)
    g_subprocess_wait (node->proc, NULL, NULL);
  g_clear_object (&node->proc);
  if (node->stderr_path != NULL) {
    g_unlink (node->stderr_path);
    g_clear_pointer (&node->stderr_path, g_free);
  }
}

/* The node's stderr so far, for a failure message. (transfer full) */
static char *
node_stderr (Node *node)
{
  char *err = NULL;

  if (!g_file_get_contents (node->stderr_path, &err, NULL, NULL))
    err = g_strdup ("(no stderr)");
  return err;
}

/* A TCP connection to @port; the kernel completes it from the listen backlog
 * even while the node is stopped. */
static int
connect_raw (guint16 port)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) conn = NULL;
  g_autoptr (GError) error = NULL;
  GSocket *socket;
  int fd;

  g_socket_client_set_timeout (client, 5);
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  ck_assert_msg (conn != NULL, "expected to connect to the node: %s", error ? error->message : "?");
  socket = g_socket_connection_get_socket (conn);
  fd = dup (g_socket_get_fd (socket));
  ck_assert_msg (fd >= 0, "expected dup() to work: %s", g_strerror (errno));
  /* GSocket made it non-blocking; healthz_on waits with SO_RCVTIMEO. */
  ck_assert (g_unix_set_fd_nonblocking (fd, FALSE, NULL));
  return fd;
}

/* GET /healthz on the connected @fd; returns the status line's code (0 for no
 * answer within 5 s). */
static guint
healthz_on (int fd)
{
  static const char request[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Connection: close\r\n\r\n";
  struct timeval tv = {5, 0};
  char buf[64] = {0};
  gsize got = 0;
  guint status = 0;

  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (send (fd, request, sizeof request - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof request - 1))
    return 0;
  while (got < sizeof "HTTP/1.1 200" - 1) {
    ssize_t n = recv (fd, buf + got, sizeof buf - 1 - got, 0);

    if (n <= 0)
      return 0;
    got += (gsize)n;
  }
  if (sscanf (buf, "HTTP/1.%*d %u", &status) != 1)
    return 0;
  return status;
}

START_TEST (redis_lost_while_connections_arrive_in_the_same_iteration)
{
  HubTestRedis *redis = hub_test_redis_start ();
  Node node = {NULL, NULL, 0};
  int fds[QUEUED_CONNECTIONS];
  g_autofree char *err = NULL;

  node_start (&node, redis, 0);
  /* Asleep, the node gets both at once on waking: its two Redis connections
   * at EOF and the listener readable. The Redis sources were attached before
   * the listener (at start), so one dispatch frees their descriptors first and
   * then accepts the connections below, which get those numbers. */
  node_pause (&node, TRUE);
  hub_test_redis_stop (redis);
  for (guint i = 0; i < QUEUED_CONNECTIONS; i++)
    fds[i] = connect_raw (node.port);
  node_pause (&node, FALSE);

  /* Every queued connection is served (none got an uninitialised or deaf
   * uv handle), without Redis: 503. */
  for (guint i = 0; i < QUEUED_CONNECTIONS; i++) {
    guint status = healthz_on (fds[i]);

    if (status != 503)
      err = node_stderr (&node);
    ck_assert_msg (status == 503,
                   "expected connection %u, queued while the node slept, to get /healthz 503, "
                   "got %u; node %s; its stderr:\n%s",
                   i, status, node_running (&node) ? "running" : "exited", err);
    close (fds[i]);
  }
  /* And the node goes on: Redis back, it reconnects. */
  hub_test_redis_restart (redis);
  ck_assert_msg (hub_test_wait_health (node.port, 200, 10000),
                 "expected the node healthy again once Redis is back");
  ck_assert_msg (node_running (&node), "expected the node still running");
  node_clear (&node);
}
END_TEST

/* Polls the node's stderr every 20 ms until it contains @text; FALSE after
 * @timeout_ms. */
static gboolean
wait_stderr (Node *node, const char *text, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + timeout_ms * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    g_autofree char *err = node_stderr (node);

    if (strstr (err, text) != NULL)
      return TRUE;
    if (g_get_monotonic_time () >= deadline)
      return FALSE;
    g_usleep (20 * G_TIME_SPAN_MILLISECOND);
  }
}

/* Connections queued against a node limited to this many descriptors: far
 * more than it can accept. */
#define NOFILE_LIMIT      64
#define FLOOD_CONNECTIONS 96

/* Out of descriptors, the listener stops accepting for a moment (its GLib
 * source is removed, and with it our watch and its duplicate descriptor) and
 * starts again (a new watch, which needs a descriptor to duplicate into).
 * Once the clients leave, new connections are served. */
START_TEST (listener_is_watched_again_after_descriptor_exhaustion)
{
  Node node = {NULL, NULL, 0};
  int fds[FLOOD_CONNECTIONS];
  g_autofree char *full = NULL;
  g_autofree char *after = NULL;

  if (!hub_test_platform_can_limit_open_files ()) {
    fprintf (stderr, "%s: skipped: no open-file limit on this platform\n", __func__);
    return;
  }
  node_start (&node, NULL, NOFILE_LIMIT);
  for (guint i = 0; i < FLOOD_CONNECTIONS; i++)
    fds[i] = connect_raw (node.port);
  if (!wait_stderr (&node, "not accepting", 5000))
    full = node_stderr (&node);
  ck_assert_msg (full == NULL,
                 "expected the node to run out of descriptors (%u connections, %u descriptors); "
                 "its stderr:\n%s",
                 FLOOD_CONNECTIONS, NOFILE_LIMIT, full);
  for (guint i = 0; i < FLOOD_CONNECTIONS; i++)
    close (fds[i]);
  /* Every one of those is accepted and closed in turn; then a new client
   * gets its answer. */
  if (!hub_test_wait_health (node.port, 200, 10000))
    after = node_stderr (&node);
  ck_assert_msg (after == NULL,
                 "expected the node to serve new connections once the flood left; its stderr:\n%s",
                 after);
  ck_assert_msg (node_running (&node), "expected the node still running");
  node_clear (&node);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("loop-uv-descriptors");

  HUB_TEST_ADD (suite, redis_lost_while_connections_arrive_in_the_same_iteration, 60);
  HUB_TEST_ADD (suite, listener_is_watched_again_after_descriptor_exhaustion, 60);
  return hub_test_run (suite);
}
