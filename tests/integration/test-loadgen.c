/* test-loadgen.c: hub-loadgen against a real hub-server for a few seconds:
 * a clean run reports zero loss, sane latencies and figures that agree with
 * the server's /metrics; churn with resume still loses nothing; the gates
 * turn into exit statuses; the connection count is clamped to the open-file
 * limit; --find-capacity steps the rate up. */
#include <check.h>
#include <math.h>
#include <stdio.h>

#include "test-loadgen-util.h"

#define URL_ARG(server)                                                                            \
  g_strdup_printf ("--url=ws://127.0.0.1:%u/ws", hub_test_server_port (server))

START_TEST (clean_run_reports_zero_loss)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = URL_ARG (server);
  const char *args[] = {url,
                        "--users=30",
                        "--devices=1:50,2:50",
                        "--rooms=6",
                        "--rooms-per-user=2",
                        "--rate=3",
                        "--ramp=1",
                        "--duration=3",
                        "--threads=2",
                        "--mix=publish=85,direct=5,typing=5,status=5",
                        "--seed=7",
                        "--quiet",
                        NULL};
  LoadgenRun run;
  JsonObject *server_part, *agreement;
  gint64 expected;
  double p50, p99, max;

  child_no_leak_check = TRUE; /* two threads: see test-loadgen-util.h */
  loadgen_run (&run, args, 60000);
  child_no_leak_check = FALSE;
  EXPECT_STATUS (&run, 0, "a clean run");
  ck_assert_msg (strstr (run.out, "PASS") != NULL, "the table says PASS");
  ck_assert_str_eq (hub_test_json_string (run.report, "schema"), "hub-loadgen/1");
  ck_assert_msg (hub_test_json_bool (run.report, "passed"), "passed is true");
  ck_assert_msg (report_int (&run, "population", "devices") == 45,
                 "30 users, half with 2 devices: 45 connections");
  ck_assert_msg (report_int (&run, "connections", "connected_at_end") == 45, "all 45 connected");
  expected = report_int (&run, "deliveries", "expected");
  ck_assert_msg (expected > 100, "deliveries were expected (%" G_GINT64_FORMAT ")", expected);
  ck_assert_msg (report_int (&run, "deliveries", "received") == expected,
                 "every expected delivery was received");
  ck_assert_msg (report_int (&run, "deliveries", "lost") == 0, "nothing lost");
  ck_assert_msg (report_int (&run, "deliveries", "duplicated") == 0 &&
                     report_int (&run, "deliveries", "out_of_order") == 0,
                 "no duplicate, nothing out of order");
  ck_assert_msg (report_int (&run, "errors", "total") == 0, "no error");
  ck_assert_msg (report_int (&run, "sent", "publish") > 100 &&
                     report_int (&run, "sent", "direct") > 0 &&
                     report_int (&run, "sent", "typing") > 0,
                 "the mix sent publishes, directs and typing");
  ck_assert_msg (report_int (&run, "direct", "received") == report_int (&run, "direct", "expected"),
                 "every direct the server promised arrived");

  p50 = report_double (&run, "latency_ms", "p50");
  p99 = report_double (&run, "latency_ms", "p99");
  max = report_double (&run, "latency_ms", "max");
  ck_assert_msg (report_int (&run, "latency_ms", "count") > 100, "latencies were measured");
  ck_assert_msg (p50 > 0 && p50 <= p99 && p99 <= max && max < 2000,
                 "sane latencies: 0 < p50 %.3f ≤ p99 %.3f ≤ max %.3f < 2000 ms", p50, p99, max);

  /* The loadgen's counts are the server's. */
  server_part = hub_test_json_object (run.report, "server");
  ck_assert_msg (hub_test_json_bool (server_part, "available"), "/metrics was read");
  agreement = hub_test_json_object (server_part, "agreement");
  ck_assert_msg (hub_test_json_bool (hub_test_json_object (agreement, "messages_in"), "match"),
                 "accepted messages agree with hub_messages_in_total");
  ck_assert_msg (hub_test_json_bool (hub_test_json_object (agreement, "deliveries"), "match"),
                 "deliveries agree with hub_deliveries_total: server %" G_GINT64_FORMAT
                 ", loadgen %" G_GINT64_FORMAT,
                 hub_test_json_int (hub_test_json_object (agreement, "deliveries"), "server"),
                 hub_test_json_int (hub_test_json_object (agreement, "deliveries"), "loadgen"));
  ck_assert_msg (
      hub_test_json_int (hub_test_json_object (server_part, "after"), "hub_connections") == 45,
      "the server saw the 45 connections at the end");
  loadgen_run_clear (&run);
}
END_TEST

/* Poisson arrivals offer the configured rate from the first second: 400
 * users at 0.2 actions/s for 5 s are ~400 publishes (sd 20). A uniform first
 * phase over one mean gap made it ~600 (every user once, plus the
 * exponential gaps after). */
START_TEST (poisson_rate_is_the_offered_rate_from_the_start)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = URL_ARG (server);
  const char *args[] = {url,           "--users=400",       "--devices=1", "--rooms=10",
                        "--rate=0.2",  "--arrival=poisson", "--ramp=1",    "--duration=5",
                        "--threads=1", "--mix=publish=100", "--seed=11",   "--quiet",
                        NULL};
  LoadgenRun run;
  gint64 sent;

  loadgen_run (&run, args, 60000);
  EXPECT_STATUS (&run, 0, "a clean run");
  sent = report_int (&run, "sent", "publish");
  ck_assert_msg (sent >= 300 && sent <= 500,
                 "400 users × 0.2/s × 5 s: ~400 publishes (sd 20), got %" G_GINT64_FORMAT, sent);
  loadgen_run_clear (&run);
}
END_TEST

START_TEST (churn_with_resume_loses_nothing)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = URL_ARG (server);
  /* 600% a minute: each of the 40 devices drops about every 10 s, so some
   * 16 drops in 4 s, each resumed. */
  const char *args[] = {
      url,        "--users=20", "--devices=2",  "--rooms=4",   "--rooms-per-user=2",
      "--rate=4", "--ramp=1",   "--duration=4", "--churn=600", "--seed=11",
      "--quiet",  NULL};
  LoadgenRun run;

  loadgen_run (&run, args, 60000);
  EXPECT_STATUS (&run, 0, "churn with resume");
  ck_assert_msg (report_int (&run, "connections", "churn_drops") > 0, "devices were dropped");
  ck_assert_msg (report_int (&run, "connections", "reconnects") > 0, "and reconnected");
  ck_assert_msg (report_int (&run, "resume", "resumes") > 0, "rooms were resumed");
  ck_assert_msg (report_int (&run, "deliveries", "lost") == 0, "nothing lost");
  ck_assert_msg (report_int (&run, "deliveries", "received") ==
                     report_int (&run, "deliveries", "expected"),
                 "every expected delivery arrived once");
  ck_assert_msg (report_int (&run, "deliveries", "duplicated") == 0, "no duplicate");
  loadgen_run_clear (&run);
}
END_TEST

START_TEST (gates_set_the_exit_status)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = URL_ARG (server);
  const char *slow[] = {url,          "--users=4",    "--rooms=1",          "--rate=5",
                        "--ramp=0.2", "--duration=1", "--max-p99-ms=0.001", "--quiet",
                        NULL};
  const char *bad[] = {url, "--users=0", NULL};
  const char *unknown[] = {"--warp=9", NULL};
  const char *help[] = {"--help", NULL};
  LoadgenRun run;
  JsonArray *failures;

  loadgen_run (&run, slow, 30000);
  EXPECT_STATUS (&run, 1, "a p99 above --max-p99-ms");
  failures = hub_test_json_array (run.report, "failures");
  ck_assert_msg (json_array_get_length (failures) == 1 &&
                     strstr (json_array_get_string_element (failures, 0), "p99") != NULL,
                 "the failure names the p99 gate");
  ck_assert_msg (report_int (&run, "deliveries", "lost") == 0, "while nothing was lost");
  loadgen_run_clear (&run);

  loadgen_run_full (&run, bad, 10000, 0, FALSE);
  ck_assert_msg (run.status == 2, "bad usage exits 2, got %d", run.status);
  ck_assert_msg (strstr (run.err, "--users") != NULL, "and says what was wrong: %s", run.err);
  loadgen_run_clear (&run);
  loadgen_run_full (&run, unknown, 10000, 0, FALSE);
  ck_assert_msg (run.status == 2, "an unknown flag exits 2, got %d", run.status);
  loadgen_run_clear (&run);
  loadgen_run_full (&run, help, 10000, 0, FALSE);
  ck_assert_msg (run.status == 0 && strstr (run.out, "--find-capacity") != NULL,
                 "--help exits 0 and lists the flags");
  loadgen_run_clear (&run);
}
END_TEST

START_TEST (connections_clamped_to_the_file_limit)
{
  if (!hub_test_platform_can_limit_open_files ()) {
    fprintf (stderr,
             "%s: skipped: no per-process open-file limit (RLIMIT_NOFILE) to run the "
             "loadgen under on this platform\n",
             __func__);
    return;
  }

  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = URL_ARG (server);
  const char *args[] = {url,        "--users=1000", "--rooms=5", "--rate=1",
                        "--ramp=1", "--duration=1", "--quiet",   NULL};
  LoadgenRun run;
  JsonObject *limits;
  gint64 devices;

  /* 200 descriptors: the run must shrink to what fits, say so, and still pass. */
  loadgen_run_full (&run, args, 60000, 200, TRUE);
  EXPECT_STATUS (&run, 0, "a clamped run");
  limits = hub_test_json_object (hub_test_json_object (run.report, "population"), "limits");
  devices = report_int (&run, "population", "devices");
  ck_assert_msg (hub_test_json_bool (limits, "clamped"), "the report says it was clamped");
  ck_assert_msg (hub_test_json_int (limits, "connections_asked") == 1000, "1000 were asked");
  ck_assert_msg (hub_test_json_int (limits, "nofile_limit") == 200, "the limit was 200");
  ck_assert_msg (devices > 50 && devices < 200,
                 "fewer connections than the limit (%" G_GINT64_FORMAT ")", devices);
  ck_assert_msg (report_int (&run, "connections", "connected_at_end") == devices,
                 "all of those connected");
  ck_assert_msg (strstr (run.err, "RLIMIT_NOFILE") != NULL, "stderr explains the clamp");
  loadgen_run_clear (&run);
}
END_TEST

START_TEST (find_capacity_steps_up)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = URL_ARG (server);
  const char *args[] = {url,
                        "--users=10",
                        "--rooms=2",
                        "--rate=2",
                        "--ramp=0.5",
                        "--duration=1",
                        "--find-capacity",
                        "--step-factor=2",
                        "--max-steps=2",
                        "--max-p99-ms=5000",
                        "--quiet",
                        NULL};
  LoadgenRun run;
  JsonArray *steps;
  JsonObject *capacity;

  loadgen_run (&run, args, 60000);
  EXPECT_STATUS (&run, 0, "a capacity search that found a rate");
  steps = hub_test_json_array (run.report, "steps");
  ck_assert_msg (json_array_get_length (steps) == 2, "two steps were run");
  ck_assert_msg (json_object_get_double_member (json_array_get_object_element (steps, 1), "rate") ==
                     4.0,
                 "the second step doubles the rate");
  capacity = hub_test_json_object (run.report, "capacity");
  ck_assert_msg (json_object_get_double_member (capacity, "rate") == 4.0,
                 "both held: the capacity is the last rate");
  ck_assert_msg (strstr (run.out, "capacity:") != NULL, "the table states the capacity");
  loadgen_run_clear (&run);
}
END_TEST

/* A TCP forwarder in front of the server that records the source address of
 * every connection it accepts: the local addresses the loadgen bound (GLib's
 * sockets, so on every platform; it runs on the default main context, which
 * loadgen_run iterates while it waits). */
typedef struct {
  GSocketService *service; /* (owned) */
  GCancellable *cancel;    /* (owned) ends the splices */
  guint16 port, target;
  guint splices;       /* running */
  GHashTable *sources; /* "127.0.0.3" (owned) */
} Recorder;

static void
on_spliced (GObject *source, GAsyncResult *result, gpointer data)
{
  Recorder *r = data;

  g_io_stream_splice_finish (result, NULL);
  r->splices--;
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  Recorder *r = data;
  g_autoptr (GSocketAddress) remote = g_socket_connection_get_remote_address (conn, NULL);
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) up = NULL;

  if (remote != NULL && G_IS_INET_SOCKET_ADDRESS (remote))
    g_hash_table_add (r->sources, g_inet_address_to_string (g_inet_socket_address_get_address (
                                      G_INET_SOCKET_ADDRESS (remote))));
  up = g_socket_client_connect_to_host (client, "127.0.0.1", r->target, NULL, NULL);
  if (up == NULL)
    return TRUE; /* the service closes @conn */
  r->splices++;
  g_io_stream_splice_async (G_IO_STREAM (conn), G_IO_STREAM (up),
                            G_IO_STREAM_SPLICE_CLOSE_STREAM1 | G_IO_STREAM_SPLICE_CLOSE_STREAM2,
                            G_PRIORITY_DEFAULT, r->cancel, on_spliced, r);
  return TRUE;
}

static void
recorder_start (Recorder *r, guint16 target)
{
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any_port = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;

  r->target = target;
  r->sources = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  r->cancel = g_cancellable_new ();
  r->service = g_socket_service_new ();
  ck_assert_msg (g_socket_listener_add_address (G_SOCKET_LISTENER (r->service), any_port,
                                                G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                                &bound, &error),
                 "the forwarder should listen on 127.0.0.1: %s", error ? error->message : "?");
  r->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_signal_connect (r->service, "incoming", G_CALLBACK (on_incoming), r);
  g_socket_service_start (r->service);
}

static void
recorder_stop (Recorder *r)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_TIME_SPAN_SECOND;

  g_socket_service_stop (r->service);
  g_socket_listener_close (G_SOCKET_LISTENER (r->service));
  g_cancellable_cancel (r->cancel);
  while (r->splices > 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);
  ck_assert_msg (r->splices == 0, "the forwarder's connections should end once cancelled");
  g_clear_object (&r->service);
  g_clear_object (&r->cancel);
  g_clear_pointer (&r->sources, g_hash_table_unref);
}

START_TEST (source_ips_spread_connections)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  Recorder r = {0};
  g_autofree char *url = NULL;
  const char *args[] = {NULL,
                        "--users=12",
                        "--rooms=2",
                        "--rate=1",
                        "--ramp=0.3",
                        "--duration=2.5",
                        "--source-ips=127.0.0.2-127.0.0.4",
                        "--quiet",
                        NULL};
  LoadgenRun run;

  /* The loadgen talks to the server through the forwarder. */
  recorder_start (&r, hub_test_server_port (server));
  url = g_strdup_printf ("--url=ws://127.0.0.1:%u/ws", r.port);
  args[0] = url;
  loadgen_run (&run, args, 60000);
  EXPECT_STATUS (&run, 0, "a run bound to three source addresses");
  ck_assert_msg (g_hash_table_contains (r.sources, "127.0.0.2") &&
                     g_hash_table_contains (r.sources, "127.0.0.3") &&
                     g_hash_table_contains (r.sources, "127.0.0.4"),
                 "connections came from each of 127.0.0.2-4");
  /* The loadgen reads the server's /metrics over plain HTTP before and after
   * the run, unbound, so 127.0.0.1 appears too; nothing else may. */
  g_hash_table_remove (r.sources, "127.0.0.1");
  ck_assert_msg (g_hash_table_size (r.sources) == 3, "and from no other address (%u seen)",
                 g_hash_table_size (r.sources));
  recorder_stop (&r);
  loadgen_run_clear (&run);
}
END_TEST

START_TEST (tokens_minted_from_the_secret)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--secret", "s3cret", NULL);
  g_autofree char *url = URL_ARG (server);
  const char *good[] = {url,        "--secret=s3cret", "--users=5",    "--devices=2", "--rooms=2",
                        "--rate=2", "--ramp=0.3",      "--duration=1", "--quiet",     NULL};
  const char *bad[] = {url,          "--secret=wrong", "--users=3", "--rooms=1", "--rate=1",
                       "--ramp=0.3", "--duration=0.5", "--quiet",   NULL};
  LoadgenRun run;
  JsonObject *by_kind;

  loadgen_run (&run, good, 60000);
  EXPECT_STATUS (&run, 0, "tokens minted from the server's secret");
  ck_assert_msg (report_int (&run, "connections", "connects") == 10, "all 10 devices got in");
  ck_assert_msg (strstr (run.out, "s3cret") == NULL, "the secret is not printed");
  ck_assert_msg (strstr (hub_test_json_string (run.report, "command"), "s3cret") == NULL,
                 "nor written to the report");
  loadgen_run_clear (&run);

  loadgen_run (&run, bad, 60000);
  EXPECT_STATUS (&run, 1, "tokens from the wrong secret");
  by_kind = hub_test_json_object (hub_test_json_object (run.report, "errors"), "by_kind");
  ck_assert_msg (json_object_has_member (by_kind, "connect:hello refused: unauthorized") &&
                     hub_test_json_int (by_kind, "connect:hello refused: unauthorized") == 3,
                 "each of the 3 devices was refused as unauthorized, once (no retry)");
  ck_assert_msg (report_int (&run, "connections", "gone_at_end") == 3, "and is gone for good");
  ck_assert_msg (report_double (&run, "seconds", "ramp") < 5,
                 "the ramp ends as soon as every device is in or refused");
  loadgen_run_clear (&run);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("loadgen");

  HUB_TEST_ADD (suite, clean_run_reports_zero_loss, 90);
  HUB_TEST_ADD (suite, poisson_rate_is_the_offered_rate_from_the_start, 60);
  HUB_TEST_ADD (suite, churn_with_resume_loses_nothing, 90);
  HUB_TEST_ADD (suite, gates_set_the_exit_status, 60);
  HUB_TEST_ADD (suite, connections_clamped_to_the_file_limit, 90);
  HUB_TEST_ADD (suite, find_capacity_steps_up, 90);
  HUB_TEST_ADD (suite, source_ips_spread_connections, 60);
  HUB_TEST_ADD (suite, tokens_minted_from_the_secret, 60);
  return hub_test_run (suite);
}
