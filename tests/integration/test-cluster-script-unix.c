/* test-cluster-script-unix.c: scripts/cluster.sh as a user runs it, on free
 * ports with its own run directory: a start that finds a port in use says
 * which and starts nothing; a node that cannot bind after the check (its
 * port bound, not listening) makes the start stop what it started, Redis and
 * the first node included; and a start that works serves /healthz through
 * haproxy until stop. Needs bash, redis-server and haproxy
 * (scripts/install-deps.sh), as the cluster tests do. */
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

typedef struct {
  int status;
  char *out, *err; /* (owned) */
} Script;

static void
script_clear (Script *s)
{
  g_clear_pointer (&s->out, g_free);
  g_clear_pointer (&s->err, g_free);
}

/* Runs `bash scripts/cluster.sh ARGS…` with HUB_CLUSTER_DIR=@dir (bounded: 60 s). */
static void
run_script (Script *s, const char *dir, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GSubprocessLauncher) launcher =
      g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GSubprocess) process = NULL;
  g_autoptr (GError) error = NULL;

  g_ptr_array_add (argv, g_strdup ("bash"));
  g_ptr_array_add (argv, g_build_filename (HUB_TEST_SOURCE_DIR, "scripts", "cluster.sh", NULL));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_setenv (launcher, "HUB_CLUSTER_DIR", dir, TRUE);
  process = g_subprocess_launcher_spawnv (launcher, (const char *const *)argv->pdata, &error);
  ck_assert_msg (process != NULL, "bash should run cluster.sh: %s", error ? error->message : "?");
  /* The script bounds each of its waits (10 s at most); this one is for a hang. */
  ck_assert_msg (g_subprocess_communicate_utf8 (process, NULL, NULL, &s->out, &s->err, &error),
                 "cluster.sh's output: %s", error ? error->message : "?");
  s->status = g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
}

/* A port that was free a moment ago, with @next free too (for @n consecutive ones). */
static guint16
free_ports (guint n)
{
  for (guint attempt = 0; attempt < 200; attempt++) {
    guint16 base = (guint16)g_random_int_range (20000, 60000);
    gboolean ok = TRUE;

    for (guint i = 0; i < n && ok; i++) {
      g_autoptr (GSocket) s =
          g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
      g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
      g_autoptr (GSocketAddress) a = g_inet_socket_address_new (lo, (guint16)(base + i));

      ok = s != NULL && g_socket_bind (s, a, FALSE, NULL);
    }
    if (ok)
      return base;
  }
  ck_abort_msg ("no %u free consecutive ports found", n);
  return 0;
}

/* A socket on 127.0.0.1:@port: listening, or only bound (a bind there then
 * fails although nothing accepts connections). (transfer full) */
static GSocket *
occupy (guint16 port, gboolean listen)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) a = g_inet_socket_address_new (lo, port);
  GSocket *s =
      g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);

  ck_assert_msg (s != NULL && g_socket_bind (s, a, FALSE, &error) &&
                     (!listen || g_socket_listen (s, &error)),
                 "port %u should be ours: %s", port, error ? error->message : "?");
  return s;
}

static gboolean
accepts (guint16 port)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) c = NULL;

  g_socket_client_set_timeout (client, 2);
  c = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, NULL);
  return c != NULL;
}

/* The pids cluster.sh announced ("(pid N)") in @out. */
static GArray *
announced_pids (const char *out)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (int));

  for (const char *p = strstr (out, "(pid "); p != NULL; p = strstr (p + 1, "(pid ")) {
    int pid = (int)g_ascii_strtoll (p + 5, NULL, 10);

    if (pid > 0)
      g_array_append_val (pids, pid);
  }
  return pids;
}

/* TRUE once none of @pids is alive (at most 5 s: their parent, the script,
 * exited, so they are reaped by init). */
static gboolean
all_gone (GArray *pids)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  for (;;) {
    gboolean any = FALSE;

    for (guint i = 0; i < pids->len; i++)
      any |= kill (g_array_index (pids, int, i), 0) == 0 || errno != ESRCH;
    if (!any)
      return TRUE;
    if (g_get_monotonic_time () > deadline)
      return FALSE;
    g_usleep (50 * 1000);
  }
}

static gboolean
no_pid_files (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    if (g_str_has_suffix (name, ".pid"))
      return FALSE;
  }
  return TRUE;
}

static void
remove_tree (const char *dir)
{
  const char *rm[] = {"rm", "-rf", dir, NULL};

  g_spawn_sync (NULL, (char **)rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
}

START_TEST (busy_port_starts_nothing)
{
  g_autofree char *dir = g_dir_make_tmp ("hub-cluster-script-XXXXXX", NULL);
  guint16 lb = free_ports (1), redis = free_ports (1), base = free_ports (2);
  g_autofree char *lb_text = g_strdup_printf ("%u", lb);
  g_autofree char *redis_text = g_strdup_printf ("%u", redis);
  g_autofree char *base_text = g_strdup_printf ("%u", base);
  g_autofree char *said = g_strdup_printf ("port %u is in use", base + 1);
  g_autoptr (GSocket) taken = occupy ((guint16)(base + 1), TRUE);
  const char *args[] = {"start",        "2",        "--port", lb_text, "--base-port", base_text,
                        "--redis-port", redis_text, NULL};
  Script s = {0};

  run_script (&s, dir, args);
  ck_assert_msg (s.status == 1, "a busy port fails the start (exit %d):\n%s%s", s.status, s.out,
                 s.err);
  ck_assert_msg (strstr (s.err, said) != NULL, "it names the port:\n%s", s.err);
  ck_assert_msg (strstr (s.out, "(pid ") == NULL, "nothing was started:\n%s", s.out);
  ck_assert_msg (!accepts (redis) && !accepts (lb) && !accepts (base), "nothing listens");
  ck_assert_msg (no_pid_files (dir), "no PID file left");
  script_clear (&s);
  remove_tree (dir);
}
END_TEST

START_TEST (failed_node_stops_the_rest)
{
  g_autofree char *dir = g_dir_make_tmp ("hub-cluster-script-XXXXXX", NULL);
  guint16 lb = free_ports (1), redis = free_ports (1), base = free_ports (2);
  g_autofree char *lb_text = g_strdup_printf ("%u", lb);
  g_autofree char *redis_text = g_strdup_printf ("%u", redis);
  g_autofree char *base_text = g_strdup_printf ("%u", base);
  /* Bound, not listening: the script's check sees it free, node2's bind fails. */
  g_autoptr (GSocket) taken = occupy ((guint16)(base + 1), FALSE);
  const char *args[] = {"start",        "2",        "--port", lb_text, "--base-port", base_text,
                        "--redis-port", redis_text, NULL};
  g_autoptr (GArray) pids = NULL;
  Script s = {0};

  run_script (&s, dir, args);
  ck_assert_msg (s.status == 1, "node2 cannot start: the start fails (exit %d):\n%s%s", s.status,
                 s.out, s.err);
  ck_assert_msg (strstr (s.err, "node2 did not start") != NULL &&
                     strstr (s.err, "stopping what this start started") != NULL,
                 "it says so:\n%s", s.err);
  pids = announced_pids (s.out);
  ck_assert_msg (pids->len == 2, "Redis and node1 had started:\n%s", s.out);
  ck_assert_msg (all_gone (pids), "Redis and node1 are stopped:\n%s%s", s.out, s.err);
  ck_assert_msg (!accepts (redis) && !accepts (base) && !accepts (lb), "nothing listens");
  ck_assert_msg (no_pid_files (dir), "no PID file left");
  script_clear (&s);
  remove_tree (dir);
}
END_TEST

START_TEST (start_status_stop)
{
  g_autofree char *dir = g_dir_make_tmp ("hub-cluster-script-XXXXXX", NULL);
  guint16 lb = free_ports (1), redis = free_ports (1), base = free_ports (1);
  g_autofree char *lb_text = g_strdup_printf ("%u", lb);
  g_autofree char *redis_text = g_strdup_printf ("%u", redis);
  g_autofree char *base_text = g_strdup_printf ("%u", base);
  const char *start[] = {"start",        "1",        "--port", lb_text, "--base-port", base_text,
                         "--redis-port", redis_text, NULL};
  const char *status[] = {"status", NULL};
  const char *stop[] = {"stop", NULL};
  g_autoptr (GArray) pids = NULL;
  Script s = {0};

  run_script (&s, dir, start);
  if (s.status != 0) {
    const char *again[] = {"stop", NULL};
    Script cleanup = {0};

    run_script (&cleanup, dir, again);
    script_clear (&cleanup);
    ck_abort_msg ("cluster.sh start 1 should work (exit %d):\n%s%s", s.status, s.out, s.err);
  }
  pids = announced_pids (s.out);
  ck_assert_msg (pids->len == 3, "redis, node1 and haproxy:\n%s", s.out);
  {
    /* haproxy's health check takes up to a second to see node1. */
    gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
    guint code = 0;

    while (code != 200 && g_get_monotonic_time () < deadline) {
      g_autoptr (HubTestHttpResponse) r =
          hub_test_http_request (lb, "GET", "/healthz", NULL, NULL, NULL);

      code = r != NULL ? r->status : 0;
      if (code != 200)
        g_usleep (100 * 1000);
    }
    ck_assert_msg (code == 200, "GET /healthz through haproxy: 200, got %u", code);
  }
  script_clear (&s);
  run_script (&s, dir, status);
  ck_assert_msg (strstr (s.out, "node1: running") != NULL, "status:\n%s", s.out);
  script_clear (&s);
  run_script (&s, dir, stop);
  ck_assert_int_eq (s.status, 0);
  ck_assert_msg (all_gone (pids), "stop ends all three:\n%s", s.out);
  ck_assert_msg (no_pid_files (dir), "no PID file left");
  script_clear (&s);
  remove_tree (dir);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("cluster-script");

  HUB_TEST_ADD (suite, busy_port_starts_nothing, 60);
  HUB_TEST_ADD (suite, failed_node_stops_the_rest, 60);
  HUB_TEST_ADD (suite, start_status_stop, 90);
  return hub_test_run (suite);
}
