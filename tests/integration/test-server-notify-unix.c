/* test-server-notify-unix.c: hub-server under a service manager (issue 15):
 * systemd's notify protocol, exercised without systemd: $NOTIFY_SOCKET names
 * a datagram socket this test reads, as systemd would. READY once it listens,
 * WATCHDOG=1 at least every half $WATCHDOG_USEC, RELOADING then READY around
 * a SIGHUP, STOPPING on SIGTERM. The unit file itself is checked by the
 * install test (systemd-analyze verify). */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct {
  int fd;
  char *dir;  /* (owned) */
  char *path; /* (owned) */
} Manager;

static void
manager_init (Manager *m)
{
  struct sockaddr_un addr = {0};
  g_autoptr (GError) error = NULL;

  m->dir = g_dir_make_tmp ("hub-notify-XXXXXX", &error);
  ck_assert_msg (m->dir != NULL, "temp dir: %s", error ? error->message : "?");
  m->path = g_build_filename (m->dir, "notify", NULL);
  ck_assert (strlen (m->path) < sizeof addr.sun_path);
  m->fd = socket (AF_UNIX, SOCK_DGRAM, 0);
  ck_assert_msg (m->fd >= 0, "socket: %s", g_strerror (errno));
  addr.sun_family = AF_UNIX;
  strcpy (addr.sun_path, m->path);
  ck_assert_msg (bind (m->fd, (struct sockaddr *)&addr, sizeof addr) == 0, "bind: %s",
                 g_strerror (errno));
  ck_assert (g_setenv ("NOTIFY_SOCKET", m->path, TRUE));
}

static void
manager_clear (Manager *m)
{
  close (m->fd);
  g_unlink (m->path);
  g_rmdir (m->dir);
  g_free (m->path);
  g_free (m->dir);
  g_unsetenv ("NOTIFY_SOCKET");
  g_unsetenv ("WATCHDOG_USEC");
}

/* The next datagram, waiting at most @timeout_ms; NULL on timeout. (transfer full) */
static char *
manager_recv (Manager *m, guint timeout_ms)
{
  struct pollfd pfd = {m->fd, POLLIN, 0};
  char buf[4096];
  gssize n;

  if (poll (&pfd, 1, (int)timeout_ms) <= 0)
    return NULL;
  n = recv (m->fd, buf, sizeof buf - 1, 0);
  if (n < 0)
    return NULL;
  buf[n] = '\0';
  return g_strdup (buf);
}

/* Datagrams until one holds @state (a "KEY=VALUE" line), at most @timeout_ms
 * in all; WATCHDOG=1 pings in between are skipped unless asked for. Returns it. */
static char *
manager_expect (Manager *m, const char *state, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * 1000;

  for (;;) {
    gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
    g_autofree char *got = manager_recv (m, (guint)MAX (left, 0));
    g_auto (GStrv) lines = NULL;

    ck_assert_msg (got != NULL, "expected %s from hub-server within %u ms", state, timeout_ms);
    lines = g_strsplit (got, "\n", -1);
    for (guint i = 0; lines[i] != NULL; i++) {
      if (strcmp (lines[i], state) == 0)
        return g_steal_pointer (&got);
    }
  }
}

START_TEST (ready_reloading_stopping)
{
  Manager m;
  g_autoptr (HubTestServer) server = NULL;
  g_autofree char *ready = NULL;
  g_autofree char *status = NULL;
  int exit_status = -1;

  manager_init (&m);
  server = hub_test_server_start (NULL);
  ready = manager_expect (&m, "READY=1", 5000);
  status = g_strdup_printf ("STATUS=listening on port %u", hub_test_server_port (server));
  ck_assert_msg (strstr (ready, status) != NULL, "READY carries the status: %s", ready);
  /* It really is ready. */
  hub_test_ws_free (hub_test_ws_login (hub_test_server_port (server), "alice", NULL));

  ck_assert (hub_test_server_reload (server));
  g_free (manager_expect (&m, "RELOADING=1", 5000));
  g_free (manager_expect (&m, "READY=1", 5000));

  ck_assert (hub_test_server_request_stop (server, HUB_TEST_STOP_TERM));
  g_free (manager_expect (&m, "STOPPING=1", 5000));
  ck_assert_msg (hub_test_server_wait (server, 5000, &exit_status) && exit_status == 0,
                 "exits 0 after STOPPING, got %d", exit_status);
  manager_clear (&m);
}
END_TEST

START_TEST (watchdog_pings_at_half_the_interval)
{
  Manager m;
  g_autoptr (HubTestServer) server = NULL;
  gint64 start;
  guint pings = 0;

  manager_init (&m);
  ck_assert (g_setenv ("WATCHDOG_USEC", "400000", TRUE)); /* 0.4 s: a ping every 0.2 s */
  server = hub_test_server_start (NULL);
  g_free (manager_expect (&m, "READY=1", 5000));
  start = g_get_monotonic_time ();
  while (pings < 5) {
    g_autofree char *got = manager_expect (&m, "WATCHDOG=1", 2000);

    pings++;
  }
  /* Each came within 2 s of the last (manager_expect); paced by the timer,
   * not sent in a burst: 5 pings take at least about 4 × 0.2 s. */
  ck_assert_msg (g_get_monotonic_time () - start >= 600000,
                 "5 pings paced at half the interval (%" G_GINT64_FORMAT " us)",
                 g_get_monotonic_time () - start);
  manager_clear (&m);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("server-notify");

  HUB_TEST_ADD (suite, ready_reloading_stopping, 30);
  HUB_TEST_ADD (suite, watchdog_pings_at_half_the_interval, 30);
  return hub_test_run (suite);
}
