/* test-client-teardown.c: the end of a thread's libwebsockets context (HubClient
 * frees it with the last client of the thread) while thousands of connections
 * are half made: being accepted and upgraded by a real hub-server, stuck in the
 * backlog of a listener that never accepts, refused by a closed port, failing
 * at bind; and while other threads' contexts connect. The process must neither
 * assert nor warn nor leak (ASan/LSan build), its descriptors must come back,
 * and a new context must work afterwards. */
#include "test-client-util.h"

#include <string.h>

/* Enough for lws to be caught in every state of a connect; under the 20,000
 * files a test may hold (server and client sides of each are in different
 * processes, the listener's backlog holds a few hundred per side). */
#define SERVER_CLIENTS  3000
#define SILENT_CLIENTS  600
#define REFUSED_CLIENTS 400

typedef struct {
  guint connected; /* clients that reached CONNECTED */
  guint changes;   /* state changes seen (none may come after hub_client_free) */
} Counts;

static GString *warnings; /* WARNING / CRITICAL messages logged while a test ran */

static void
on_state (HubClient *client, const HubClientStateChange *change, gpointer user_data)
{
  Counts *counts = user_data;

  counts->changes++;
  if (change->state == HUB_CLIENT_CONNECTED)
    counts->connected++;
}

static const HubClientCallbacks callbacks = {.state_changed = on_state};

static void
record_warning (const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer data)
{
  g_string_append_printf (warnings, "%s: %s\n", domain != NULL ? domain : "-", message);
}

static void
watch_warnings (void)
{
  warnings = g_string_new (NULL);
  g_log_set_handler ("hub", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL, record_warning, NULL);
  g_log_set_handler ("GLib", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL, record_warning, NULL);
}

/* Open descriptors (Windows: handles) of this process, -1 where the system
 * does not say. */
static int
open_fds (void)
{
  return hub_test_platform_open_handles ();
}

/* A TCP listener on 127.0.0.1 that never accepts: past its backlog the
 * kernel drops SYNs, so connects stay in flight. (transfer full) */
static GSocketListener *
silent_listener (guint16 *port)
{
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;
  GSocketListener *listener = g_socket_listener_new ();

  g_socket_listener_set_backlog (listener, 16);
  ck_assert_msg (g_socket_listener_add_address (listener, any_port, G_SOCKET_TYPE_STREAM,
                                                G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error),
                 "a listener on 127.0.0.1 should bind: %s", error ? error->message : "");
  *port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  return listener;
}

static void
start_clients_bound (GPtrArray *clients, guint n, const char *url, const char *bind_address,
                     Counts *counts)
{
  for (guint i = 0; i < n; i++) {
    g_autofree char *user = g_strdup_printf ("u%u", clients->len);
    g_autoptr (GError) error = NULL;
    HubClientOptions options;
    HubClient *client;

    hub_client_options_init (&options);
    options.url = url;
    options.user = user;
    options.backoff_min_ms = 50; /* refused ones retry (and fail) during the run */
    options.backoff_max_ms = 200;
    options.bind_address = bind_address;
    client = hub_client_new (&options, &callbacks, counts, &error);
    ck_assert_msg (client != NULL, "hub_client_new should accept %s: %s", url,
                   error ? error->message : "");
    hub_client_connect (client);
    g_ptr_array_add (clients, client);
  }
}

static void
start_clients (GPtrArray *clients, guint n, const char *url, Counts *counts)
{
  start_clients_bound (clients, n, url, NULL, counts);
}

static void
free_clients (GPtrArray *clients)
{
  for (guint i = 0; i < clients->len; i++)
    hub_client_free (g_ptr_array_index (clients, i));
  g_ptr_array_set_size (clients, 0);
}

static gboolean
is_connected (gpointer data)
{
  return ((Counts *)data)->connected >= 1;
}

/* Connects one more client and waits for it: the thread's next context works. */
static void
assert_new_context_works (const char *url)
{
  g_autoptr (HubClient) client = NULL;
  Counts counts = {0};
  HubClientOptions options;

  hub_client_options_init (&options);
  options.url = url;
  options.user = "after";
  client = hub_client_new (&options, &callbacks, &counts, NULL);
  hub_client_connect (client);
  ck_assert_msg (loop_until (is_connected, &counts, 20000),
                 "a client made after the teardown should connect on a new context");
}

/* After the clients were freed: every descriptor opened since @fds_before is
 * closed, nothing warned, and a client made next on @url connects (on a new
 * context), also without a warning. */
static void
assert_clean_teardown (int fds_before, const char *url)
{
  int fds_after;

  loop_for (100);
  fds_after = open_fds ();
  ck_assert_msg (fds_after == fds_before,
                 "every socket should be closed with the context: %d descriptors before, %d after",
                 fds_before, fds_after);
  ck_assert_msg (warnings->len == 0, "the teardown should not warn, got:\n%s", warnings->str);
  assert_new_context_works (url);
  ck_assert_msg (warnings->len == 0, "the next context should not warn, got:\n%s", warnings->str);
}

/* ---- the tests ---- */

/* Thousands of connects to a real server, started a batch per loop iteration,
 * then all clients freed at once, the last batches still connecting: the
 * context goes with the last client. */
START_TEST (free_during_connect_storm)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  g_autoptr (GPtrArray) clients = g_ptr_array_new ();
  Counts counts = {0};
  int fds_before;
  guint changes;

  hub_test_platform_raise_open_files (SERVER_CLIENTS + 1000);
  watch_warnings ();
  assert_new_context_works (url); /* lws and its plugins loaded: their descriptors counted */
  fds_before = open_fds ();
  /* The last batch gets no iteration: its connects are just started. */
  for (start_clients (clients, 100, url, &counts); clients->len < SERVER_CLIENTS;
       start_clients (clients, 100, url, &counts)) {
    for (guint i = 0; i < 3; i++)
      g_main_context_iteration (NULL, FALSE);
  }
  ck_assert_msg (counts.connected > 0 && counts.connected < SERVER_CLIENTS,
                 "some of %u clients should be connected and some not yet at the teardown, "
                 "%u are",
                 SERVER_CLIENTS, counts.connected);
  fprintf (stderr, "free_during_connect_storm: %u of %u connected at the teardown\n",
           counts.connected, SERVER_CLIENTS);
  changes = counts.changes;
  free_clients (clients);
  ck_assert_msg (counts.changes == changes, "no state change should be reported after free");
  assert_clean_teardown (fds_before, url);
}
END_TEST

/* The same with connects that cannot complete: stuck in a silent listener's
 * backlog, refused by a closed port, and failing at once because their source
 * address (TEST-NET-1) is not this host's (lws 4.1 leaves a uv handle behind
 * for each of those); the clients retry them. */
START_TEST (free_with_connects_stuck_and_refused)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *server_url =
      g_strdup_printf ("ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  g_autoptr (GSocketListener) silent = NULL;
  g_autoptr (GSocketListener) closed = NULL;
  g_autoptr (GPtrArray) clients = g_ptr_array_new ();
  g_autofree char *silent_url = NULL;
  g_autofree char *closed_url = NULL;
  Counts counts = {0};
  int fds_before;
  guint16 port;

  hub_test_platform_raise_open_files (SILENT_CLIENTS + 2 * REFUSED_CLIENTS + 1000);
  watch_warnings ();
  assert_new_context_works (server_url);
  silent = silent_listener (&port);
  silent_url = g_strdup_printf ("ws://127.0.0.1:%u/ws", port);
  closed = silent_listener (&port);
  g_socket_listener_close (closed);
  closed_url = g_strdup_printf ("ws://127.0.0.1:%u/ws", port);
  fds_before = open_fds ();

  start_clients (clients, SILENT_CLIENTS, silent_url, &counts);
  start_clients (clients, REFUSED_CLIENTS, closed_url, &counts);
  start_clients_bound (clients, REFUSED_CLIENTS, server_url, "192.0.2.1", &counts);
  /* Long enough for every refused client to fail and retry a few times. */
  loop_for (1000);
  ck_assert_msg (counts.connected == 0, "no client should connect to a silent or closed port");
  free_clients (clients);
  assert_clean_teardown (fds_before, server_url);
  g_socket_listener_close (silent);
}
END_TEST

/* ---- several threads ---- */

/* lws 4.1 takes new OpenSSL ex-data indexes into globals each time it makes a
 * context (lws_context_init_ssl_library), and finds a client SSL_CTX's
 * bookkeeping through the index current when the context is destroyed: a
 * context destroyed after another one was made (any thread's) never frees its
 * client SSL_CTX and the CA store loaded into it (~700 KB; the same on lws's
 * glib event lib). Not ours to fix from here and not what this file tests:
 * LeakSanitizer (ASan builds) passes over allocations made inside OpenSSL,
 * which libhub never calls but through lws. (Matched by library: OpenSSL is
 * built without frame pointers, so the stacks LeakSanitizer records stop in it.) */
const char *__lsan_default_suppressions (void);

const char *
__lsan_default_suppressions (void)
{
  return "leak:libcrypto.so\nleak:libssl.so\n";
}

#define THREADS        4
#define THREAD_ROUNDS  12
#define THREAD_CLIENTS 250

typedef struct {
  const char *url;
  guint rounds_done;
  guint connected; /* over all rounds */
} ThreadRun;

/* Rounds of: a context with a batch of clients connecting, freed while some
 * still connect. Other threads do the same at the same time, so one thread's
 * teardown meets the others' connects. */
static gpointer
thread_rounds (gpointer data)
{
  ThreadRun *run = data;
  g_autoptr (GMainContext) context = g_main_context_new ();

  g_main_context_push_thread_default (context);
  for (guint round = 0; round < THREAD_ROUNDS; round++) {
    g_autoptr (GPtrArray) clients = g_ptr_array_new ();
    Counts counts = {0};
    gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

    start_clients (clients, THREAD_CLIENTS, run->url, &counts);
    /* A few iterations: a part connected, the rest on its way. */
    while (counts.connected < THREAD_CLIENTS / 3 && g_get_monotonic_time () < deadline)
      g_main_context_iteration (context, TRUE);
    run->connected += counts.connected;
    free_clients (clients);
    run->rounds_done++;
  }
  g_main_context_pop_thread_default (context);
  return NULL;
}

START_TEST (threads_tear_down_while_others_connect)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  ThreadRun runs[THREADS];
  GThread *threads[THREADS];

  hub_test_platform_raise_open_files (THREADS * THREAD_CLIENTS + 1000);
  watch_warnings ();
  for (guint i = 0; i < THREADS; i++) {
    runs[i] = (ThreadRun){.url = url};
    threads[i] = g_thread_new ("teardown", thread_rounds, &runs[i]);
  }
  for (guint i = 0; i < THREADS; i++) {
    g_thread_join (threads[i]);
    ck_assert_msg (runs[i].rounds_done == THREAD_ROUNDS && runs[i].connected > 0,
                   "thread %u should finish its %u rounds with clients connected, did %u with %u",
                   i, THREAD_ROUNDS, runs[i].rounds_done, runs[i].connected);
  }
  ck_assert_msg (warnings->len == 0, "the teardowns should not warn, got:\n%s", warnings->str);
  assert_new_context_works (url);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("client-teardown");

  hub_test_platform_ignore_sigpipe ();
  HUB_TEST_ADD (suite, free_during_connect_storm, 240);
  HUB_TEST_ADD (suite, free_with_connects_stuck_and_refused, 120);
  HUB_TEST_ADD (suite, threads_tear_down_while_others_connect, 240);
  return hub_test_run (suite);
}
