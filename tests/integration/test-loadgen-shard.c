/* test-loadgen-shard.c: distributed runs. Two `hub-loadgen --shard I/2`
 * processes against one real hub-server are one population: merged with
 * `hub-loadgen merge`, their figures are those of one process running the
 * same scenario (the same publishes, the same expected and received
 * deliveries, nothing lost), and the server's /metrics agree with the merged
 * counts. A frame-dropping proxy in front of one shard makes a loss that only
 * the merge can place — the message may come from the other shard — and the
 * merged report must name exactly the (room, seq, device) that never
 * arrived. merge refuses what is not the complete set of one run's shards. */
#include <check.h>

#include "hub-test-proxy.h"
#include "test-loadgen-util.h"

#define RUN_TIMEOUT_MS 90000

/* Runs shard 0 and 1 of @args at once (shard 0 against @url0, shard 1
 * against @url1); their kept report paths go to @paths[0..1]. */
static void
run_two_shards (const char *const *args, const char *url0, const char *url1, LoadgenRun *runs,
                char **paths)
{
  LoadgenJob *jobs[2];

  for (guint i = 0; i < 2; i++) {
    g_autoptr (GPtrArray) argv = g_ptr_array_new ();
    g_autofree char *shard = g_strdup_printf ("--shard=%u/2", i);

    g_ptr_array_add (argv, (gpointer)(i == 0 ? url0 : url1));
    g_ptr_array_add (argv, shard);
    for (guint k = 0; args[k] != NULL; k++)
      g_ptr_array_add (argv, (gpointer)args[k]);
    g_ptr_array_add (argv, NULL);
    jobs[i] = loadgen_start ((const char *const *)argv->pdata, 0, TRUE);
  }
  for (guint i = 0; i < 2; i++)
    loadgen_finish (jobs[i], &runs[i], RUN_TIMEOUT_MS, &paths[i]);
}

/* `hub-loadgen merge PATH…` (with its own --json when @want_json). */
static void
run_merge_full (LoadgenRun *run, char **paths, guint n, gboolean want_json)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();

  g_ptr_array_add (argv, "merge");
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (argv, paths[i]);
  g_ptr_array_add (argv, NULL);
  loadgen_run_full (run, (const char *const *)argv->pdata, 30000, 0, want_json);
}

static void
run_merge (LoadgenRun *run, char **paths, guint n)
{
  run_merge_full (run, paths, n, TRUE);
}

static gint64
merged_int (LoadgenRun *run, const char *member)
{
  return hub_test_json_int (hub_test_json_object (run->report, "merged"), member);
}

START_TEST (two_shards_are_one_population)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url =
      g_strdup_printf ("--url=ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  /* 40 users of one or two devices in 6 rooms, 3 rooms each: every room has
   * members of both shards. */
  const char *common[] = {
      "--seed=11", "--users=40", "--devices=1:50,2:50", "--rooms=6", "--rooms-per-user=3",
      "--rate=4",  "--ramp=1",   "--duration=3",        "--quiet",   NULL};
  const char *shard_args[] = {"--prefix=sh-a-", common[0], common[1], common[2],
                              common[3],        common[4], common[5], common[6],
                              common[7],        common[8], NULL};
  const char *one_args[] = {url,       "--prefix=sh-b-", common[0], common[1], common[2], common[3],
                            common[4], common[5],        common[6], common[7], common[8], NULL};
  LoadgenRun shards[2], one, merged;
  char *paths[2] = {NULL, NULL};

  run_two_shards (shard_args, url, url, shards, paths);
  for (guint i = 0; i < 2; i++) {
    EXPECT_STATUS (&shards[i], 0, "each shard passes on its own");
    ck_assert_msg (report_int (&shards[i], "connections", "target") < 60 &&
                       report_int (&shards[i], "connections", "target") > 0,
                   "a shard runs its share of the 60 connections");
  }
  loadgen_run (&one, one_args, RUN_TIMEOUT_MS);
  EXPECT_STATUS (&one, 0, "the one process passes");
  run_merge (&merged, paths, 2);
  EXPECT_STATUS (&merged, 0, "the merged run passes");

  /* The same population, the same messages, the same deliveries. */
  ck_assert_int_eq (report_int (&merged, "population", "devices"),
                    report_int (&one, "population", "devices"));
  ck_assert_int_eq (report_int (&merged, "connections", "target"),
                    report_int (&one, "connections", "target"));
  ck_assert_int_eq (report_int (&merged, "sent", "publish"), report_int (&one, "sent", "publish"));
  ck_assert_msg (report_int (&merged, "sent", "publish") ==
                     report_int (&shards[0], "sent", "publish") +
                         report_int (&shards[1], "sent", "publish"),
                 "the shards' publishes add up");
  ck_assert_int_gt (report_int (&one, "deliveries", "expected"), 500);
  ck_assert_int_eq (report_int (&merged, "deliveries", "expected"),
                    report_int (&one, "deliveries", "expected"));
  ck_assert_int_eq (report_int (&merged, "deliveries", "received"),
                    report_int (&one, "deliveries", "received"));
  ck_assert_int_eq (report_int (&merged, "deliveries", "lost"), 0);
  ck_assert_int_eq (report_int (&one, "deliveries", "lost"), 0);
  /* Every seq of every room claimed by exactly one shard's publish. */
  ck_assert_int_eq (merged_int (&merged, "unclaimed_seqs"), 0);
  ck_assert_int_eq (merged_int (&merged, "conflicting_seqs"), 0);
  ck_assert_int_eq (merged_int (&merged, "publishes_acked"),
                    report_int (&merged, "sent", "publish_acked"));
  /* Histograms added bucket by bucket: every live delivery counted once. */
  ck_assert_int_eq (report_int (&merged, "latency_ms", "count"),
                    report_int (&shards[0], "latency_ms", "count") +
                        report_int (&shards[1], "latency_ms", "count"));
  /* The server's own counts agree with the merged ones. */
  {
    JsonObject *agreement =
        hub_test_json_object (hub_test_json_object (merged.report, "server"), "agreement");

    ck_assert_msg (hub_test_json_bool (hub_test_json_object (agreement, "messages_in"), "match"),
                   "the server's messages agree with the merged publishes");
    ck_assert_msg (hub_test_json_bool (hub_test_json_object (agreement, "deliveries"), "match"),
                   "the server's deliveries agree with the merged receipts");
  }
  for (guint i = 0; i < 2; i++) {
    loadgen_run_clear (&shards[i]);
    g_unlink (paths[i]);
    g_free (paths[i]);
  }
  loadgen_run_clear (&one);
  loadgen_run_clear (&merged);
}
END_TEST

START_TEST (loss_behind_one_shard_is_placed_by_the_merge)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 port = hub_test_server_port (server);
  /* d-u2 (shard 0: 2 ≡ 0 mod 2), device d1, behind the proxy. */
  HubTestProxy *p = hub_test_proxy_start (port, "d-u2", "d1");
  g_autofree char *direct = g_strdup_printf ("--url=ws://127.0.0.1:%u/ws", port);
  g_autofree char *proxied = g_strdup_printf ("--url=ws://127.0.0.1:%u/ws", p->port);
  g_autofree char *metrics = g_strdup_printf ("--metrics-url=http://127.0.0.1:%u/metrics", port);
  /* Six users of two devices, all in both rooms. */
  const char *args[] = {metrics,
                        "--prefix=d-",
                        "--seed=5",
                        "--users=6",
                        "--devices=2",
                        "--rooms=2",
                        "--rooms-per-user=2",
                        "--rate=3",
                        "--ramp=0.5",
                        "--duration=3",
                        "--quiet",
                        NULL};
  const char *rooms[] = {"d-r0", "d-r1", NULL};
  LoadgenRun shards[2], merged;
  char *paths[2] = {NULL, NULL};
  g_autoptr (GHashTable) want = NULL;
  g_autoptr (GHashTable) got = NULL;

  p->drop_room = "d-r1";
  p->drop_seq = 7;
  run_two_shards (args, proxied, direct, shards, paths);
  ck_assert_msg (p->targets == 1 && p->dropped == 1, "the proxy dropped d-r1 #7 to d-u2/d1");
  EXPECT_STATUS (&shards[0], 1, "the shard behind the proxy saw the gap");
  EXPECT_STATUS (&shards[1], 0, "the other shard lost nothing");
  run_merge (&merged, paths, 2);
  EXPECT_STATUS (&merged, 1, "the merged run lost one delivery");
  ck_assert_int_eq (report_int (&merged, "deliveries", "lost"), 1);
  ck_assert_int_eq (report_int (&merged, "deliveries", "received") + 1,
                    report_int (&merged, "deliveries", "expected"));
  want = hub_test_proxy_missing (p, port, "d-u1", rooms);
  got = loadgen_claimed (&merged, "d-u2", "d1", "skipped");
  ck_assert_msg (g_hash_table_size (want) == 1 && g_hash_table_contains (want, "d-r1 7"),
                 "the truth is one frame, d-r1 #7");
  loadgen_expect_same (want, got);
  ck_assert_msg (strstr (merged.out, "d-r1 #7-7 d-u2/d1") != NULL, "the merged table names it");
  for (guint i = 0; i < 2; i++) {
    loadgen_run_clear (&shards[i]);
    g_unlink (paths[i]);
    g_free (paths[i]);
  }
  loadgen_run_clear (&merged);
  hub_test_proxy_free (p);
}
END_TEST

START_TEST (merge_refuses_what_is_not_one_run)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url =
      g_strdup_printf ("--url=ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  const char *args[] = {"--prefix=m-", "--seed=3",     "--users=4", "--rooms=2", "--rate=2",
                        "--ramp=0.5",  "--duration=1", "--quiet",   NULL};
  const char *other[] = {url,         "--shard=1/2", "--prefix=m-", "--seed=4",     "--users=4",
                         "--rooms=2", "--rate=2",    "--ramp=0.5",  "--duration=1", "--quiet",
                         NULL};
  const char *no_prefix[] = {url, "--shard=0/2", "--seed=4", "--quiet", NULL};
  LoadgenRun shards[2], run;
  char *paths[3] = {NULL, NULL, NULL};
  char *two_of_one[2];

  run_two_shards (args, url, url, shards, paths);
  /* One of the two: incomplete. */
  run_merge_full (&run, paths, 1, FALSE);
  EXPECT_STATUS (&run, 2, "one shard of two is not a run");
  ck_assert_msg (strstr (run.err, "2 reports") != NULL || strstr (run.err, "of 2") != NULL,
                 "it says a shard is missing: %s", run.err);
  loadgen_run_clear (&run);
  /* The same shard twice. */
  two_of_one[0] = paths[0];
  two_of_one[1] = paths[0];
  run_merge_full (&run, two_of_one, 2, FALSE);
  EXPECT_STATUS (&run, 2, "shard 0 twice is not a run");
  ck_assert_msg (strstr (run.err, "both shard 0") != NULL, "it says so: %s", run.err);
  loadgen_run_clear (&run);
  /* A shard of another scenario (another seed). */
  loadgen_finish (loadgen_start (other, 0, TRUE), &run, RUN_TIMEOUT_MS, &paths[2]);
  loadgen_run_clear (&run);
  two_of_one[1] = paths[2];
  run_merge_full (&run, two_of_one, 2, FALSE);
  EXPECT_STATUS (&run, 2, "shards of two scenarios");
  ck_assert_msg (strstr (run.err, "--seed differs") != NULL, "it names the setting: %s", run.err);
  loadgen_run_clear (&run);
  /* A shard needs the seed and the prefix every shard shares. */
  loadgen_run_full (&run, no_prefix, 10000, 0, FALSE);
  EXPECT_STATUS (&run, 2, "--shard without --prefix");
  ck_assert_msg (strstr (run.err, "--shard needs --seed and --prefix") != NULL, "%s", run.err);
  loadgen_run_clear (&run);
  for (guint i = 0; i < 3; i++) {
    if (i < 2)
      loadgen_run_clear (&shards[i]);
    g_unlink (paths[i]);
    g_free (paths[i]);
  }
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("loadgen-shard");

  HUB_TEST_ADD (suite, two_shards_are_one_population, 200);
  HUB_TEST_ADD (suite, loss_behind_one_shard_is_placed_by_the_merge, 150);
  HUB_TEST_ADD (suite, merge_refuses_what_is_not_one_run, 150);
  return hub_test_run (suite);
}
