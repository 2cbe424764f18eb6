/* test-client-keepalive-unix.c: HubClient's own liveness ticker (hub-client-lws.c)
 * against a real hub-server, with HUB_CLIENT_KEEPALIVE_S=1,3: an idle
 * connection is kept by our pings and the server's pongs, a frozen server
 * (SIGSTOP) is given up within the hangup time, and the ticker leaves the
 * main context with the last client. Unix: the server is stopped with a signal. */
#include "test-client-util.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#define PING_S   1
#define HANGUP_S 3

typedef struct {
  guint changes;        /* state changes after CONNECTED */
  gboolean connected;   /* CONNECTED reached */
  gint64 connected_at;  /* monotonic µs of CONNECTED */
  gint64 left_at;       /* monotonic µs of the first change after it */
  guint close_code;     /* of that change */
  HubClientState state; /* latest */
} Watch;

static void
on_state (HubClient *client, const HubClientStateChange *change, gpointer user_data)
{
  Watch *watch = user_data;

  watch->state = change->state;
  if (change->state == HUB_CLIENT_CONNECTED) {
    watch->connected = TRUE;
    watch->connected_at = g_get_monotonic_time ();
  } else if (watch->connected && watch->changes++ == 0) {
    watch->left_at = g_get_monotonic_time ();
    watch->close_code = change->close_code;
  }
}

static const HubClientCallbacks callbacks = {.state_changed = on_state};

static gboolean
is_connected (gpointer data)
{
  return ((Watch *)data)->connected;
}

static gboolean
has_left (gpointer data)
{
  return ((Watch *)data)->changes > 0;
}

/* Iterates the thread-default context (test-client-util.h's helpers iterate
 * the global default one) until @func(@data) or @timeout_ms passed. */
static gboolean
run_until (WaitFunc func, gpointer data, guint timeout_ms)
{
  GMainContext *context = g_main_context_get_thread_default ();
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * 1000;
  GSource *tick = g_timeout_source_new (10);
  gboolean done;

  g_source_set_callback (tick, wake_up, NULL, NULL);
  g_source_attach (tick, context);
  while (!(done = func != NULL && func (data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (context, TRUE);
  g_source_destroy (tick);
  g_source_unref (tick);
  return done;
}

/* A client of @server that does not reconnect, CONNECTED on return. (transfer full) */
static HubClient *
connect_client (HubTestServer *server, Watch *watch)
{
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  g_autoptr (GError) error = NULL;
  HubClientOptions options;
  HubClient *client;

  hub_client_options_init (&options);
  options.url = url;
  options.user = "idle";
  options.auto_reconnect = FALSE;
  client = hub_client_new (&options, &callbacks, watch, &error);
  ck_assert_msg (client != NULL, "hub_client_new should accept %s: %s", url,
                 error ? error->message : "");
  hub_client_connect (client);
  ck_assert_msg (run_until (is_connected, watch, 10000), "expected the client to connect");
  return client;
}

/* The server pings every 600 s: within the test only our pings can keep the
 * connection (the server closes after 3 × 600 s of silence). */
static HubTestServer *
start_quiet_server (void)
{
  return hub_test_server_start ("--heartbeat", "600", NULL);
}

/* The pid of this process's hub-server child (the only one a test starts). */
static pid_t
server_pid (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *name;
  pid_t found = 0;

  ck_assert_msg (dir != NULL, "expected /proc to be readable");
  while ((name = g_dir_read_name (dir)) != NULL) {
    g_autofree char *path = g_strdup_printf ("/proc/%s/stat", name);
    g_autofree char *stat = NULL;
    const char *close_paren;
    int ppid = 0;

    if (!g_ascii_isdigit (name[0]) || !g_file_get_contents (path, &stat, NULL, NULL))
      continue;
    close_paren = strrchr (stat, ')');
    /* "PID (COMM) STATE PPID …" */
    if (close_paren == NULL || strstr (stat, "(hub-server)") == NULL ||
        sscanf (close_paren + 2, "%*c %d", &ppid) != 1 || ppid != (int)getpid ())
      continue;
    found = (pid_t)g_ascii_strtoll (name, NULL, 10);
  }
  ck_assert_msg (found > 0, "expected a hub-server child of this process");
  return found;
}

START_TEST (idle_connection_is_kept_by_pings)
{
  g_autoptr (HubTestServer) server = start_quiet_server ();
  Watch watch = {0};
  HubClient *client = connect_client (server, &watch);

  /* Four hangup periods with nothing to say: without pings answered, the
   * client would give up after HANGUP_S. */
  run_until (NULL, NULL, 4 * HANGUP_S * 1000);
  ck_assert_msg (watch.changes == 0 && watch.state == HUB_CLIENT_CONNECTED,
                 "expected the idle connection to stay up for %d s (pongs count), it left "
                 "CONNECTED (close code %u) after %" G_GINT64_FORMAT " ms",
                 4 * HANGUP_S, watch.close_code, (watch.left_at - watch.connected_at) / 1000);
  ck_assert_msg (hub_test_server_is_running (server), "expected the server to be running");
  hub_client_free (client);
}
END_TEST

START_TEST (frozen_server_is_given_up_after_the_hangup_time)
{
  g_autoptr (HubTestServer) server = start_quiet_server ();
  Watch watch = {0};
  HubClient *client = connect_client (server, &watch);
  pid_t pid = server_pid ();
  siginfo_t si;
  gint64 took_ms;

  ck_assert_msg (kill (pid, SIGSTOP) == 0, "expected to stop the server: %s", g_strerror (errno));
  ck_assert_msg (waitid (P_PID, (id_t)pid, &si, WSTOPPED | WNOWAIT) == 0,
                 "expected the server to stop: %s", g_strerror (errno));
  ck_assert_msg (run_until (has_left, &watch, (HANGUP_S + 5) * 1000),
                 "expected the client to give up on the frozen server");
  kill (pid, SIGCONT);
  took_ms = (watch.left_at - watch.connected_at) / 1000;
  /* Last heard at the welcome: ended between HANGUP_S and HANGUP_S + 2 ticks. */
  ck_assert_msg (
      took_ms >= HANGUP_S * 1000 - 100 && took_ms <= (HANGUP_S + 2) * 1000,
      "expected the connection to end %d to %d s after the last frame, took %" G_GINT64_FORMAT
      " ms",
      HANGUP_S, HANGUP_S + 2, took_ms);
  ck_assert_msg (watch.close_code == 1006, "expected close code 1006 (no close frame), got %u",
                 watch.close_code);
  ck_assert_msg (watch.state == HUB_CLIENT_DISCONNECTED, "expected DISCONNECTED, got %d",
                 (int)watch.state);
  hub_client_free (client);
}
END_TEST

/* What would wake @context: the number of descriptors it polls (its own
 * wakeup included) and its timeout (-1: none). */
static gint
context_wakers (GMainContext *context, gint *timeout)
{
  GPollFD fds[16];
  gint priority, n_fds;

  ck_assert (g_main_context_acquire (context));
  g_main_context_prepare (context, &priority);
  n_fds = g_main_context_query (context, G_MAXINT, timeout, fds, G_N_ELEMENTS (fds));
  g_main_context_check (context, priority, fds, MIN (n_fds, (gint)G_N_ELEMENTS (fds)));
  g_main_context_release (context);
  return n_fds;
}

START_TEST (ticker_leaves_the_context_with_the_last_client)
{
  g_autoptr (HubTestServer) server = start_quiet_server ();
  g_autoptr (GMainContext) context = g_main_context_new ();
  Watch watch = {0};
  HubClient *client;
  gint timeout_before = 0, timeout_after = 0, fds_before, fds_after;

  fds_before = context_wakers (context, &timeout_before);
  ck_assert_msg (timeout_before == -1, "expected a new context to have no timeout");
  g_main_context_push_thread_default (context);
  client = connect_client (server, &watch);
  /* A few ticks: pings go out, the ticker is in full swing. */
  run_until (NULL, NULL, 2500);
  ck_assert_msg (watch.changes == 0, "expected the client to stay connected");
  hub_client_free (client);
  for (int i = 0; i < 100 && g_main_context_iteration (context, FALSE); i++)
    ;
  g_main_context_pop_thread_default (context);

  /* Nothing left that would wake the context: no timeout, no descriptor of ours. */
  fds_after = context_wakers (context, &timeout_after);
  ck_assert_msg (timeout_after == -1 && fds_after == fds_before,
                 "expected no source left on the context after the last client, got %d "
                 "descriptor(s) (%d before) and a %d ms timeout",
                 fds_after, fds_before, timeout_after);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("client-keepalive");

  /* Read once by the first client of each (forked) test. */
  g_setenv ("HUB_CLIENT_KEEPALIVE_S", G_STRINGIFY (PING_S) "," G_STRINGIFY (HANGUP_S), TRUE);
  HUB_TEST_ADD (suite, idle_connection_is_kept_by_pings, 60);
  HUB_TEST_ADD (suite, frozen_server_is_given_up_after_the_hangup_time, 60);
  HUB_TEST_ADD (suite, ticker_leaves_the_context_with_the_last_client, 60);
  return hub_test_run (suite);
}
