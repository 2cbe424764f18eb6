/* test-loadgen-config.c: hub-loadgen's settings: defaults, flags with units,
 * the scenario key file under the flags, refusals of bad usage, the JSON
 * echo of the settings, and the verdict the gates give. */
#include <check.h>
#include <glib/gstdio.h>
#include <string.h>

#include "hub-lg-config.h"
#include "hub-lg-report.h"

static HubLgConfig config;

static void
setup (void)
{
  hub_lg_config_init (&config);
}

static void
teardown (void)
{
  hub_lg_config_clear (&config);
}

/* Parses a NULL-terminated argument list after the program name. */
static gboolean
parse (GError **error, const char *first, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  va_list args;

  g_ptr_array_add (argv, (char *)"hub-loadgen");
  va_start (args, first);
  for (const char *a = first; a != NULL; a = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *)a);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  return hub_lg_config_parse (&config, (int)argv->len - 1, (char **)argv->pdata, error);
}

START_TEST (test_defaults)
{
  g_autoptr (GError) error = NULL;

  ck_assert_msg (parse (&error, NULL), "no flags is fine: %s", error ? error->message : "");
  ck_assert_str_eq (config.url, "ws://127.0.0.1:8080/ws");
  ck_assert_str_eq (config.metrics_url, "http://127.0.0.1:8080/metrics");
  ck_assert_msg (config.users == 100 && config.rooms == 10 && config.rooms_per_user == 1,
                 "default population");
  ck_assert_msg (config.rate == 1.0 && config.duration_s == 10 && config.ramp_s == 5,
                 "default traffic and phases");
  ck_assert_msg (config.max_errors == 0 && config.max_loss_value == 0 && !config.max_loss_is_ratio,
                 "default gates: no loss, no error");
  ck_assert_msg (config.mix_shares.share[HUB_LG_ACTION_PUBLISH] == 1.0, "publish only");
  ck_assert_msg (hub_lg_config_threads (&config, 100) == 1 &&
                     hub_lg_config_threads (&config, 2001) == 2 &&
                     hub_lg_config_threads (&config, 1000000) == 16,
                 "automatic threads: one loop per 2000 connections, 1 to 16");
  ck_assert_msg (config.device_dist.n == 1 && config.device_dist.values[0] == 1, "one device");
}
END_TEST

START_TEST (test_flags_and_units)
{
  g_autoptr (GError) error = NULL;

  ck_assert_msg (parse (&error, "--users", "2000", "--devices=1:60,2:30,3:10", "--rooms", "50",
                        "--rooms-per-user", "5", "--room-skew", "1.2", "--rate", "0.5/s",
                        "--duration", "2m", "--ramp", "500ms", "--churn", "5%", "--mix",
                        "publish=90,direct=10", "--max-loss", "0.1%", "--max-p99-ms", "250",
                        "--max-errors", "none", "--threads", "2", "--no-reconnect", "--source-ips",
                        "127.0.0.1-127.0.0.4", "wss://example.test:9443/ws", NULL),
                 "flags parse: %s", error ? error->message : "");
  ck_assert_msg (config.users == 2000 && config.rooms == 50 && config.rooms_per_user == 5,
                 "population flags");
  ck_assert_msg (config.rate == 0.5, "200/s-style rates: got %f", config.rate);
  ck_assert_msg (config.duration_s == 120, "2m is 120 s, got %f", config.duration_s);
  ck_assert_msg (config.ramp_s == 0.5, "500ms is 0.5 s, got %f", config.ramp_s);
  ck_assert_msg (config.churn == 5, "5%% churn");
  ck_assert_msg (config.max_loss_is_ratio && config.max_loss_value == 0.001,
                 "0.1%% is a ratio of 0.001");
  ck_assert_msg (config.max_p99_ms == 250 && config.max_errors == -1, "p99 gate, no error gate");
  ck_assert_msg (config.no_reconnect && config.threads == 2, "booleans and threads");
  ck_assert_msg (config.source_addresses != NULL && config.source_addresses->len == 4,
                 "four source addresses");
  ck_assert_str_eq (config.url, "wss://example.test:9443/ws");
  ck_assert_str_eq (config.metrics_url, "https://example.test:9443/metrics");
  ck_assert_msg (hub_lg_config_connect_rate (&config, 1000) == 2000,
                 "1000 connections over 0.5 s is 2000/s");
}
END_TEST

START_TEST (test_scenario_under_flags)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  int fd = g_file_open_tmp ("loadgen-XXXXXX.ini", &path, &error);
  const char *text = "# a repeatable run\n"
                     "[loadgen]\n"
                     "users=300\n"
                     "devices=2\n"
                     "rooms=12\n"
                     "rate=3/s\n"
                     "duration=30s\n"
                     "no-reconnect=true\n"
                     "mix=publish=80,typing=20\n";

  ck_assert_msg (fd >= 0, "temp file");
  g_close (fd, NULL);
  ck_assert_msg (g_file_set_contents (path, text, -1, &error), "scenario written: %s",
                 error ? error->message : "");
  ck_assert_msg (parse (&error, "--scenario", path, "--rate", "7", NULL), "scenario parses: %s",
                 error ? error->message : "");
  ck_assert_msg (config.users == 300 && config.rooms == 12 && config.duration_s == 30,
                 "values from the scenario");
  ck_assert_msg (config.rate == 7, "the flag wins over the scenario (rate %f)", config.rate);
  ck_assert_msg (config.no_reconnect, "booleans from the scenario");
  ck_assert_msg (config.mix_shares.share[HUB_LG_ACTION_TYPING] == 0.2, "mix from the scenario");
  g_unlink (path);
}
END_TEST

START_TEST (test_scenario_errors)
{
  g_autoptr (GError) error = NULL;
  const char *unknown = "[loadgen]\nusers=3\nwarp=9\n";
  const char *bad = "[loadgen]\nrate=fast\n";
  const char *nogroup = "[other]\nusers=3\n";

  ck_assert_msg (!hub_lg_config_load_scenario (&config, unknown, strlen (unknown), &error),
                 "an unknown key is refused");
  ck_assert_msg (strstr (error->message, "warp") != NULL, "the message names the key: %s",
                 error->message);
  g_clear_error (&error);
  ck_assert_msg (!hub_lg_config_load_scenario (&config, bad, strlen (bad), &error),
                 "a bad value is refused");
  ck_assert_msg (strstr (error->message, "--rate") != NULL, "the message names the setting: %s",
                 error->message);
  g_clear_error (&error);
  ck_assert_msg (!hub_lg_config_load_scenario (&config, nogroup, strlen (nogroup), &error),
                 "a file without [loadgen] is refused");
}
END_TEST

START_TEST (test_bad_usage)
{
  const char *cases[][3] = {
      {"--users", "0", "users must be at least 1"},
      {"--users", "-3", "negative counts"},
      {"--rate", "fast", "a rate that is not a number"},
      {"--duration", "10h", "an unknown unit"},
      {"--duration", "0", "a zero duration"},
      {"--devices", "1:60,x", "a bad distribution"},
      {"--mix", "publish=a", "a bad mix"},
      {"--max-loss", "x%", "a bad percentage"},
      {"--max-errors", "1.5", "fractional errors"},
      {"--source-ips", "192.168.1.1", "non-loopback sources"},
      {"--url", "http://x/", "a non-WebSocket URL"},
      {"--rooms-per-user", "11", "more rooms per user than rooms"},
      {"--threads", "65", "too many threads"},
      {"--arrival", "bursty", "an unknown arrival process"},
      {"--prefix", "a b", "a prefix with a space"},
      {"--bogus", "1", "an unknown flag"},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;

    hub_lg_config_clear (&config);
    hub_lg_config_init (&config);
    ck_assert_msg (!parse (&error, cases[i][0], cases[i][1], NULL), "%s should be refused",
                   cases[i][2]);
    ck_assert_msg (error != NULL && error->domain == G_OPTION_ERROR, "%s: an option error (exit 2)",
                   cases[i][2]);
  }
}
END_TEST

START_TEST (test_to_json)
{
  g_autoptr (JsonObject) o = NULL;

  ck_assert (parse (NULL, "--secret", "hunter2", "--max-p99-ms", "100", NULL));
  o = hub_lg_config_to_json (&config);
  ck_assert_str_eq (json_object_get_string_member (o, "secret"), "********");
  ck_assert_msg (json_object_get_int_member (o, "users") == 100, "users echoed");
  ck_assert_msg (json_object_get_double_member (o, "max-p99-ms") == 100, "gates echoed");
  ck_assert_msg (json_object_get_int_member (o, "max-errors") == 0, "max-errors 0");
  ck_assert_msg (json_object_get_null_member (o, "json"), "unset strings are null");
}
END_TEST

/* ---- the verdict ---- */

static HubLgReport *
report_with (guint64 expected, guint64 lost, gint64 p99_ns, guint64 errors)
{
  HubLgDiscrete d;
  HubLgPlan *plan;
  HubLgReport *r;

  hub_lg_discrete_parse ("1", &d, NULL);
  plan = hub_lg_plan_new ("v-", 2, &d, 1, 1, 1.0, 1, 0);
  hub_lg_discrete_clear (&d);
  r = hub_lg_report_new (&config, plan);
  r->tally.expected = expected;
  r->tally.received = expected - lost;
  r->tally.lost = lost;
  r->stats->c[HUB_LG_SENT_PUBLISH] = 10;
  hub_lg_histogram_record_n (r->stats->latency, p99_ns, 100);
  for (guint64 i = 0; i < errors; i++)
    hub_lg_stats_error (r->stats, "error:rate_limited");
  hub_lg_report_judge (r);
  return r;
}

START_TEST (test_verdict)
{
  g_autoptr (HubLgReport) clean = NULL;
  g_autoptr (HubLgReport) lossy = NULL;
  g_autoptr (HubLgReport) slow = NULL;
  g_autoptr (HubLgReport) erring = NULL;
  g_autoptr (HubLgReport) tolerated = NULL;
  g_autoptr (JsonObject) json = NULL;

  ck_assert (parse (NULL, "--max-p99-ms", "50", NULL));
  clean = report_with (1000, 0, 10 * 1000000, 0);
  ck_assert_msg (clean->passed, "no loss, p99 10 ms, no error: passed");
  lossy = report_with (1000, 1, 10 * 1000000, 0);
  ck_assert_msg (!lossy->passed &&
                     strstr (g_ptr_array_index (lossy->failures, 0), "lost 1") != NULL,
                 "one lost delivery fails the default --max-loss 0");
  slow = report_with (1000, 0, 60 * 1000000, 0);
  ck_assert_msg (!slow->passed && strstr (g_ptr_array_index (slow->failures, 0), "p99") != NULL,
                 "p99 60 ms fails --max-p99-ms 50");
  erring = report_with (1000, 0, 1000000, 1);
  ck_assert_msg (!erring->passed, "one error fails the default --max-errors 0");

  hub_lg_config_clear (&config);
  hub_lg_config_init (&config);
  ck_assert (parse (NULL, "--max-loss", "1%", "--max-errors", "5", NULL));
  tolerated = report_with (1000, 10, 1000000, 5);
  ck_assert_msg (tolerated->passed, "10 of 1000 lost is within 1%%, 5 errors within 5");
  json = hub_lg_report_to_json (tolerated);
  ck_assert_str_eq (json_object_get_string_member (json, "schema"), HUB_LG_REPORT_SCHEMA);
  ck_assert_msg (json_object_get_boolean_member (json, "passed"), "passed in the JSON");
  ck_assert_msg (
      json_object_get_int_member (json_object_get_object_member (json, "deliveries"), "lost") == 10,
      "deliveries.lost in the JSON");
  ck_assert_msg (
      json_object_get_int_member (json_object_get_object_member (json, "errors"), "total") == 5,
      "errors.total in the JSON");
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("loadgen-config");
  struct {
    const char *name;
    const TTest *test;
  } cases[] = {
      {"defaults", test_defaults},
      {"flags", test_flags_and_units},
      {"scenario", test_scenario_under_flags},
      {"scenario-errors", test_scenario_errors},
      {"bad-usage", test_bad_usage},
      {"json", test_to_json},
      {"verdict", test_verdict},
  };
  SRunner *sr;
  int failed;

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++) {
    TCase *tc = tcase_create (cases[i].name);

    tcase_add_checked_fixture (tc, setup, teardown);
    tcase_add_test (tc, cases[i].test);
    suite_add_tcase (s, tc);
  }
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed == 0 ? 0 : 1;
}
