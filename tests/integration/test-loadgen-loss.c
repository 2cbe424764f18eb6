/* test-loadgen-loss.c: injected loss, and hub-loadgen saying precisely where
 * it happened. A TCP proxy between the loadgen and a real hub-server reads
 * the server's WebSocket frames; for one chosen device it can drop one
 * `message` frame (a gap on a live connection) or cut the connection after
 * a number of them (with --no-reconnect the loss stands). The proxy records
 * what it forwarded to that device, and its join replies, so the test knows
 * the truth: the loadgen must report exactly the (room, seq, device) the
 * device never received, no more, no less. */
#include <check.h>

#include "hub-test-proxy.h"
#include "test-loadgen-util.h"

/* ---- tests ---- */

START_TEST (dropped_frame_is_located)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestProxy *p = hub_test_proxy_start (hub_test_server_port (server), "q-u1", "d1");
  g_autofree char *url = g_strdup_printf ("--url=ws://127.0.0.1:%u/ws", p->port);
  g_autofree char *metrics =
      g_strdup_printf ("--metrics-url=http://127.0.0.1:%u/metrics", hub_test_server_port (server));
  /* Three users of two devices, all in both rooms: q-u1/d1 gets every message. */
  const char *args[] = {url,         metrics,       "--prefix=q-",  "--seed=5",
                        "--users=3", "--devices=2", "--rooms=2",    "--rooms-per-user=2",
                        "--rate=5",  "--ramp=0.5",  "--duration=2", "--quiet",
                        NULL};
  const char *rooms[] = {"q-r0", "q-r1", NULL};
  LoadgenRun run;
  g_autoptr (GHashTable) want = NULL;
  g_autoptr (GHashTable) got = NULL;
  JsonObject *agreement;

  p->drop_room = "q-r0";
  p->drop_seq = 5;
  loadgen_run (&run, args, 60000);
  ck_assert_msg (p->targets == 1 && p->dropped == 1, "the proxy dropped q-r0 #5 to q-u1/d1");
  EXPECT_STATUS (&run, 1, "a loss against the default --max-loss 0");
  ck_assert_msg (report_int (&run, "deliveries", "lost") == 1, "exactly one delivery lost");
  want = hub_test_proxy_missing (p, hub_test_server_port (server), "q-u2", rooms);
  got = loadgen_claimed (&run, "q-u1", "d1", "skipped");
  ck_assert_msg (g_hash_table_size (want) == 1 && g_hash_table_contains (want, "q-r0 5"),
                 "the truth is one frame, q-r0 #5");
  loadgen_expect_same (want, got);
  ck_assert_msg (strstr (run.out, "q-r0 #5-5 q-u1/d1") != NULL, "the table names it");
  /* The server queued the frame: its count is one above the loadgen's. */
  agreement = hub_test_json_object (hub_test_json_object (run.report, "server"), "agreement");
  ck_assert_msg (hub_test_json_int (hub_test_json_object (agreement, "deliveries"), "server") ==
                     hub_test_json_int (hub_test_json_object (agreement, "deliveries"), "loadgen") +
                         1,
                 "the server delivered one frame more than the devices received");
  loadgen_run_clear (&run);
  hub_test_proxy_free (p);
}
END_TEST

START_TEST (cut_connection_without_reconnect_is_located)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestProxy *p = hub_test_proxy_start (hub_test_server_port (server), "c-u0", "d0");
  g_autofree char *url = g_strdup_printf ("--url=ws://127.0.0.1:%u/ws", p->port);
  g_autofree char *metrics =
      g_strdup_printf ("--metrics-url=http://127.0.0.1:%u/metrics", hub_test_server_port (server));
  const char *args[] = {url,         metrics,       "--prefix=c-",  "--seed=9",
                        "--users=3", "--devices=2", "--rooms=2",    "--rooms-per-user=2",
                        "--rate=5",  "--ramp=0.5",  "--duration=2", "--no-reconnect",
                        "--quiet",   NULL};
  const char *rooms[] = {"c-r0", "c-r1", NULL};
  LoadgenRun run;
  g_autoptr (GHashTable) want = NULL;
  g_autoptr (GHashTable) got = NULL;

  p->cut_after = 8;
  loadgen_run (&run, args, 60000);
  ck_assert_msg (p->targets == 1 && p->cut == 1, "the proxy cut c-u0/d0 after 8 messages");
  EXPECT_STATUS (&run, 1, "a device lost for good");
  ck_assert_msg (report_int (&run, "connections", "gone_at_end") == 1,
                 "one device is gone for good");
  want = hub_test_proxy_missing (p, hub_test_server_port (server), "c-u1", rooms);
  got = loadgen_claimed (&run, "c-u0", "d0", "device_offline");
  ck_assert_msg (g_hash_table_size (want) > 5, "the device missed the rest of the run (%u)",
                 g_hash_table_size (want));
  loadgen_expect_same (want, got);
  ck_assert_msg (report_int (&run, "deliveries", "lost") == (gint64)g_hash_table_size (want),
                 "deliveries.lost counts exactly those");
  ck_assert_msg (report_int (&run, "deliveries", "received") +
                         report_int (&run, "deliveries", "lost") ==
                     report_int (&run, "deliveries", "expected"),
                 "every other delivery arrived");
  loadgen_run_clear (&run);
  hub_test_proxy_free (p);
}
END_TEST

START_TEST (cut_connection_with_resume_loses_nothing)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  HubTestProxy *p = hub_test_proxy_start (hub_test_server_port (server), "r-u0", "d0");
  g_autofree char *url = g_strdup_printf ("--url=ws://127.0.0.1:%u/ws", p->port);
  g_autofree char *metrics =
      g_strdup_printf ("--metrics-url=http://127.0.0.1:%u/metrics", hub_test_server_port (server));
  const char *args[] = {url,         metrics,       "--prefix=r-",  "--seed=9",
                        "--users=3", "--devices=2", "--rooms=2",    "--rooms-per-user=2",
                        "--rate=5",  "--ramp=0.5",  "--duration=2", "--quiet",
                        NULL};
  LoadgenRun run;

  /* The same cut, but the device reconnects and resumes: replay fills it all. */
  p->cut_after = 8;
  loadgen_run (&run, args, 60000);
  ck_assert_msg (p->cut == 1, "the proxy cut r-u0/d0");
  /* The cut is not the loadgen's own churn: an unexpected close, an error. */
  EXPECT_STATUS (&run, 1, "an unexpected close against --max-errors 0");
  ck_assert_msg (hub_test_json_int (
                     hub_test_json_object (hub_test_json_object (run.report, "errors"), "by_kind"),
                     "close:1006") == 1 &&
                     report_int (&run, "errors", "total") == 1,
                 "the one error is the cut (close 1006)");
  ck_assert_msg (report_int (&run, "deliveries", "lost") == 0, "resume recovered every message");
  ck_assert_msg (report_int (&run, "resume", "replayed") > 0, "by replay");
  ck_assert_msg (report_int (&run, "connections", "reconnects") == 1, "after one reconnect");
  loadgen_run_clear (&run);
  hub_test_proxy_free (p);
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("loadgen-loss");

  HUB_TEST_ADD (suite, dropped_frame_is_located, 90);
  HUB_TEST_ADD (suite, cut_connection_without_reconnect_is_located, 90);
  HUB_TEST_ADD (suite, cut_connection_with_resume_loses_nothing, 90);
  return hub_test_run (suite);
}
