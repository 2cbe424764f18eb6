/* hub-test-redis.c: starts, stops and restarts a private redis-server for the
 * cluster integration tests, and starts hub-server nodes pointed at it. */
#include "hub-test-redis.h"
#include "hub-test-platform.h"

#include <check.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <stdlib.h>

#define READY_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS  5000

struct _HubTestRedis {
  char *bin; /* (owned) */
  char *dir; /* (owned) temp dir: data, log */
  char *url; /* (owned) */
  guint16 port;
  gboolean persist;  /* an append-only file fsynced on every write (restarts keep the data) */
  GSubprocess *proc; /* (owned) (nullable) while running */
};

static GPtrArray *live; /* HubTestRedis* */
/* This test's redis-server in redis mode (also in `live`: freed with the rest). */
static HubTestRedis *store_redis;
static GPtrArray *balancers; /* GSubprocess* of haproxy */
static GPtrArray *lb_dirs;   /* char*: their temp dirs */

static char *
find_binary (void)
{
  const char *env = g_getenv ("REDIS_SERVER_BIN");
  char *path;

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  path = g_find_program_in_path ("redis-server");
  if (path != NULL)
    return path;
  if (g_file_test ("/usr/bin/redis-server", G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup ("/usr/bin/redis-server");
  return NULL;
}

static char *
find_haproxy (void)
{
  char *path = g_find_program_in_path ("haproxy");

  if (path == NULL && g_file_test ("/usr/sbin/haproxy", G_FILE_TEST_IS_EXECUTABLE))
    path = g_strdup ("/usr/sbin/haproxy");
  return path;
}

void
hub_test_skip_without (const char *program)
{
  g_autofree char *path = NULL;
  const char *reason;

  if (g_strcmp0 (program, "redis-server") == 0)
    path = find_binary ();
  else if (g_strcmp0 (program, "haproxy") == 0)
    path = find_haproxy ();
  else
    g_error ("hub_test_skip_without: unknown program %s", program);
  reason = hub_test_platform_absent_program_reason (program);
  if (path != NULL || reason == NULL)
    return;
  fprintf (stderr, "skipped: every test here needs %s, not found: %s\n", program, reason);
  exit (HUB_TEST_SKIP_EXIT);
}

static guint16
free_port (void)
{
  g_autoptr (GSocket) sock =
      g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;

  ck_assert_msg (sock != NULL && g_socket_bind (sock, any, FALSE, NULL),
                 "expected to bind a free port on 127.0.0.1");
  bound = g_socket_get_local_address (sock, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* TRUE when 127.0.0.1:@port answers PING with +PONG. */
static gboolean
pings (guint16 port)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) conn = NULL;
  char buf[16] = {0};
  gssize n;

  g_socket_client_set_timeout (client, 1);
  conn = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, NULL);
  if (conn == NULL)
    return FALSE;
  if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)), "PING\r\n", 6,
                                  NULL, NULL, NULL))
    return FALSE;
  n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)), buf, sizeof buf - 1,
                           NULL, NULL);
  return n >= 5 && g_str_has_prefix (buf, "+PONG");
}

static void
spawn (HubTestRedis *r)
{
  g_autofree char *port = g_strdup_printf ("%u", r->port);
  g_autofree char *log = g_build_filename (r->dir, "redis.log", NULL);
  /* Never outlive the test process (Check's timeout kills it): the platform's spawn. */
  g_autoptr (GSubprocessLauncher) launcher =
      hub_test_platform_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, log, 0);
  const char *argv[] = {r->bin,
                        "--port",
                        port,
                        "--bind",
                        "127.0.0.1",
                        "--dir",
                        r->dir,
                        "--save",
                        "",
                        "--appendonly",
                        r->persist ? "yes" : "no",
                        "--appendfsync",
                        "always",
                        "--logfile",
                        log,
                        NULL};
  g_autoptr (GError) error = NULL;
  gint64 deadline;

  r->proc = hub_test_platform_spawnv (launcher, argv, &error);
  ck_assert_msg (r->proc != NULL, "expected to start %s: %s", r->bin,
                 error != NULL ? error->message : "?");
  deadline = g_get_monotonic_time () + READY_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  while (!pings (r->port)) {
    ck_assert_msg (g_get_monotonic_time () < deadline,
                   "expected redis-server to answer PING on port %u within %d ms", r->port,
                   READY_TIMEOUT_MS);
    ck_assert_msg (g_subprocess_get_identifier (r->proc) != NULL,
                   "redis-server exited at start (see %s)", log);
    g_usleep (5 * G_TIME_SPAN_MILLISECOND);
  }
}

static HubTestRedis *
redis_new (gboolean persist)
{
  HubTestRedis *r = g_new0 (HubTestRedis, 1);
  g_autoptr (GError) error = NULL;

  r->bin = find_binary ();
  ck_assert_msg (r->bin != NULL,
                 "redis-server not found ($REDIS_SERVER_BIN, PATH, /usr/bin): the cluster tests "
                 "need it (scripts/install-deps.sh installs it)");
  r->dir = g_dir_make_tmp ("hub-redis-XXXXXX", &error);
  ck_assert_msg (r->dir != NULL, "expected a temp dir: %s", error ? error->message : "?");
  r->port = free_port ();
  r->url = g_strdup_printf ("redis://127.0.0.1:%u", r->port);
  r->persist = persist;
  return r;
}

HubTestRedis *
hub_test_redis_start (void)
{
  HubTestRedis *r = redis_new (TRUE);

  if (live == NULL)
    live = g_ptr_array_new ();
  g_ptr_array_add (live, r);
  spawn (r);
  return r;
}

guint16
hub_test_redis_port (HubTestRedis *r)
{
  return r->port;
}

const char *
hub_test_redis_url (HubTestRedis *r)
{
  return r->url;
}

void
hub_test_redis_stop (HubTestRedis *r)
{
  gint64 deadline = g_get_monotonic_time () + STOP_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;

  if (r->proc == NULL)
    return;
  /* Where no graceful stop can be asked (Windows), at once the forced exit
   * below: with --appendfsync always every write is on disk already. */
  if (!hub_test_platform_request_stop (r->proc, HUB_TEST_STOP_TERM))
    deadline = 0;
  /* GLib's worker reaps the child: its identifier turns NULL on exit. */
  while (g_subprocess_get_identifier (r->proc) != NULL && g_get_monotonic_time () < deadline)
    g_usleep (10 * G_TIME_SPAN_MILLISECOND);
  if (g_subprocess_get_identifier (r->proc) != NULL) {
    g_subprocess_force_exit (r->proc);
    g_subprocess_wait (r->proc, NULL, NULL);
  }
  g_clear_object (&r->proc);
}

guint
hub_test_redis_pid (HubTestRedis *r)
{
  const char *id = r->proc != NULL ? g_subprocess_get_identifier (r->proc) : NULL;

  return id != NULL ? (guint)g_ascii_strtoull (id, NULL, 10) : 0;
}

gboolean
hub_test_redis_pause (HubTestRedis *r, gboolean pause)
{
  ck_assert_msg (r->proc != NULL, "expected redis-server to be running");
  return hub_test_platform_pause (r->proc, pause);
}

void
hub_test_redis_restart (HubTestRedis *r)
{
  ck_assert_msg (r->proc == NULL, "expected redis-server to be stopped before a restart");
  spawn (r);
}

static void
remove_flat_dir (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *file = g_build_filename (path, name, NULL);

    g_remove (file);
  }
  g_remove (path);
}

/* Removes what redis-server keeps in its directory: flat files plus
 * appendonlydir/ (Redis 7). */
static void
remove_data (HubTestRedis *r)
{
  g_autoptr (GDir) dir = g_dir_open (r->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_build_filename (r->dir, name, NULL);

    if (g_file_test (path, G_FILE_TEST_IS_DIR))
      remove_flat_dir (path);
    else
      g_remove (path);
  }
}

void
hub_test_redis_restart_empty (HubTestRedis *r)
{
  hub_test_redis_stop (r);
  remove_data (r);
  spawn (r);
}

static void
redis_free (HubTestRedis *r)
{
  if (r->proc != NULL) {
    g_subprocess_force_exit (r->proc);
    g_subprocess_wait (r->proc, NULL, NULL);
    g_clear_object (&r->proc);
  }
  if (r->dir != NULL) {
    remove_data (r);
    g_remove (r->dir);
  }
  g_free (r->bin);
  g_free (r->dir);
  g_free (r->url);
  g_free (r);
}

void
hub_test_redis_free_all (void)
{
  for (guint i = 0; balancers != NULL && i < balancers->len; i++) {
    GSubprocess *proc = g_ptr_array_index (balancers, i);

    g_subprocess_force_exit (proc);
    g_subprocess_wait (proc, NULL, NULL);
    g_object_unref (proc);
  }
  if (balancers != NULL)
    g_ptr_array_set_size (balancers, 0);
  for (guint i = 0; lb_dirs != NULL && i < lb_dirs->len; i++)
    remove_flat_dir (g_ptr_array_index (lb_dirs, i));
  if (lb_dirs != NULL)
    g_ptr_array_set_size (lb_dirs, 0);
  store_redis = NULL;
  if (live == NULL)
    return;
  for (guint i = 0; i < live->len; i++)
    redis_free (g_ptr_array_index (live, i));
  g_ptr_array_set_size (live, 0);
}

gboolean
hub_test_wait_health (guint16 port, guint status, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + timeout_ms * G_TIME_SPAN_MILLISECOND;

  for (;;) {
    g_autoptr (HubTestHttpResponse) res =
        hub_test_http_request (port, "GET", "/healthz", NULL, NULL, NULL);

    if (res != NULL && res->status == status)
      return TRUE;
    if (g_get_monotonic_time () > deadline)
      return FALSE;
    g_usleep (20 * G_TIME_SPAN_MILLISECOND);
  }
}

HubTestServer *
hub_test_redis_node (HubTestRedis *redis, const char *node, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  HubTestServer *server;
  va_list ap;
  const char *arg;

  g_ptr_array_add (args, "--redis");
  g_ptr_array_add (args, (gpointer)hub_test_redis_url (redis));
  g_ptr_array_add (args, "--node");
  g_ptr_array_add (args, (gpointer)node);
  g_ptr_array_add (args, "--heartbeat");
  g_ptr_array_add (args, "1");
  va_start (ap, node);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (args, (gpointer)arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  server = hub_test_server_startv ((const char *const *)args->pdata, &error);
  ck_assert_msg (server != NULL, "expected node %s to start: %s", node,
                 error != NULL ? error->message : "?");
  ck_assert_msg (hub_test_wait_health (hub_test_server_port (server), 200, 10000),
                 "expected node %s to report /healthz 200 (connected to Redis) within 10 s", node);
  return server;
}

guint16
hub_test_haproxy_start (const guint16 *ports, guint n)
{
  g_autofree char *bin = find_haproxy ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) cfg = g_string_new (NULL);
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autofree char *dir = g_dir_make_tmp ("hub-haproxy-XXXXXX", &error);
  g_autofree char *path = NULL;
  g_autofree char *log = NULL;
  GSubprocess *proc;
  guint16 port = free_port ();

  ck_assert_msg (bin != NULL, "haproxy not found (PATH, /usr/sbin): the cluster load test needs "
                              "it (scripts/install-deps.sh installs it)");
  ck_assert_msg (dir != NULL, "expected a temp dir");
  g_string_append_printf (cfg,
                          "global\n  maxconn 4000\n"
                          "defaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n"
                          "  timeout server 60s\n  timeout tunnel 1h\n"
                          "frontend hub\n  bind 127.0.0.1:%u\n  default_backend nodes\n"
                          "backend nodes\n  balance leastconn\n",
                          port);
  for (guint i = 0; i < n; i++)
    g_string_append_printf (cfg, "  server n%u 127.0.0.1:%u\n", i, ports[i]);
  path = g_build_filename (dir, "haproxy.cfg", NULL);
  log = g_build_filename (dir, "haproxy.log", NULL);
  ck_assert (g_file_set_contents (path, cfg->str, (gssize)cfg->len, NULL));
  launcher = hub_test_platform_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, log, 0);
  {
    const char *argv[] = {bin, "-db", "-f", path, NULL};

    proc = hub_test_platform_spawnv (launcher, argv, &error);
  }
  ck_assert_msg (proc != NULL, "expected haproxy to start: %s", error ? error->message : "?");
  if (balancers == NULL) {
    balancers = g_ptr_array_new ();
    lb_dirs = g_ptr_array_new_with_free_func (g_free);
  }
  g_ptr_array_add (balancers, proc);
  g_ptr_array_add (lb_dirs, g_strdup (dir));
  ck_assert_msg (hub_test_wait_health (port, 200, 10000),
                 "expected /healthz through haproxy on port %u within 10 s (see %s)", port, log);
  return port;
}

/* ---- the suites' store: memory, or Redis (ctest's @redis variants) ---- */

#define STORE_ENV "HUB_TEST_STORE"

gboolean
hub_test_store_is_redis (void)
{
  return g_strcmp0 (g_getenv (STORE_ENV), "redis") == 0;
}

const char *
hub_test_store_redis_url (void)
{
  /* Started in the test's own process: a GSubprocess started in Check's
   * parent would leave GLib's worker thread behind in every forked test. */
  if (store_redis == NULL) {
    /* No persistence: nothing restarts it, and an fsync per write would slow every test. */
    store_redis = redis_new (FALSE);
    if (live == NULL)
      live = g_ptr_array_new ();
    g_ptr_array_add (live, store_redis);
    spawn (store_redis);
  }
  return store_redis->url;
}

char *
hub_test_redis_unique_prefix (void)
{
  static guint n;

  return g_strdup_printf ("t%u.%u:", hub_test_platform_pid (), ++n);
}
