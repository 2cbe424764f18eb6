/* test-loadgen-outputs.c: what hub-loadgen writes and when: --series (a JSON
 * line a second), --hgrm (HdrHistogram's percentile distribution, parsed
 * back and set beside the JSON report's figures) and the JSON histogram
 * buckets; output paths that cannot be written and a target that does not
 * answer, both found before any load; --find-capacity's search between the
 * last rate that held and the first that broke, against a server that breaks
 * above a known rate; and the --html report opened in headless Chromium. */
#include "test-loadgen-util.h"

#include <math.h>

static guint16
closed_port (void)
{
  g_autoptr (GSocketListener) listener = g_socket_listener_new ();
  g_autoptr (GError) error = NULL;
  guint16 port = g_socket_listener_add_any_inet_port (listener, NULL, &error);

  ck_assert_msg (port != 0, "a free port: %s", error ? error->message : "?");
  g_socket_listener_close (listener);
  return port;
}

static char *
temp_path (const char *name)
{
  g_autofree char *dir = g_dir_make_tmp ("hub-loadgen-outputs-XXXXXX", NULL);

  ck_assert_msg (dir != NULL, "a temp directory");
  return g_build_filename (dir, name, NULL);
}

static void
remove_temp (const char *path)
{
  g_autofree char *dir = g_path_get_dirname (path);

  g_unlink (path);
  g_rmdir (dir);
}

/* The quantile @q of the JSON histogram @h, as hub-loadgen's histogram
 * computes it (the top of the bucket holding the ⌈q·n⌉-th value, capped at the
 * maximum), in milliseconds rounded to the microsecond. */
static double
bucket_quantile_ms (JsonObject *h, double q)
{
  JsonArray *buckets = hub_test_json_array (h, "buckets");
  gint64 count = hub_test_json_int (h, "count"), max = hub_test_json_int (h, "max");
  gint64 rank = (gint64)ceil (q * (double)count - 1e-9), seen = 0;

  for (guint i = 0; i < json_array_get_length (buckets); i++) {
    JsonArray *b = json_array_get_array_element (buckets, i);

    seen += json_array_get_int_element (b, 2);
    if (seen >= MAX (rank, 1))
      return round (MIN (json_array_get_int_element (b, 1), max) / 1e3) / 1e3;
  }
  return round (max / 1e3) / 1e3;
}

START_TEST (series_hgrm_and_buckets)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  g_autofree char *series_path = temp_path ("series.jsonl");
  g_autofree char *hgrm_path = temp_path ("latency.hgrm");
  const char *args[] = {"--url",    url,         "--users", "30",      "--rooms",    "3",
                        "--rate",   "2",         "--ramp",  "1",       "--duration", "3",
                        "--series", series_path, "--hgrm",  hgrm_path, "--quiet",    NULL};
  LoadgenRun run;
  g_autofree char *series = NULL;
  g_autofree char *hgrm = NULL;
  g_auto (GStrv) lines = NULL;
  JsonObject *latency, *delivery;
  JsonArray *buckets;
  double last_t = -1;
  guint samples = 0;
  gboolean saw_ramp = FALSE, saw_steady = FALSE;
  gint64 bucket_total = 0, last_low = -1;
  static const struct {
    const char *member;
    double q;
    const char *hgrm_level;
  } quantiles[] = {
      {"p50", 0.5, "0.500000000000"},
      {"p90", 0.9, "0.900000000000"},
      {"p99", 0.99, "0.990000000000"},
      {"p999", 0.999, "0.999000000000"},
  };
  guint found[G_N_ELEMENTS (quantiles)] = {0};
  gboolean found_max = FALSE;

  loadgen_run (&run, args, 60000);
  EXPECT_STATUS (&run, 0, "a clean run");
  latency = hub_test_json_object (run.report, "latency_ms");
  ck_assert_msg (hub_test_json_int (latency, "count") > 100, "deliveries were timed");

  /* --series: one JSON object a line, in time order, ending with the totals. */
  ck_assert_msg (g_file_get_contents (series_path, &series, NULL, NULL), "--series was written");
  lines = g_strsplit (series, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autoptr (JsonObject) o = NULL;
    const char *phase;

    if (lines[i][0] == '\0') {
      ck_assert_msg (lines[i + 1] == NULL, "no empty line inside the series");
      continue;
    }
    o = hub_test_json_parse (lines[i], strlen (lines[i]));
    ck_assert_msg (o != NULL, "line %u is one JSON object: %s", i + 1, lines[i]);
    ck_assert_msg (json_object_get_double_member (o, "t") >= last_t, "time goes forward");
    last_t = json_object_get_double_member (o, "t");
    phase = hub_test_json_string (o, "phase");
    saw_ramp |= g_strcmp0 (phase, "ramp") == 0;
    saw_steady |= g_strcmp0 (phase, "steady") == 0;
    ck_assert_msg (json_object_has_member (hub_test_json_object (o, "latency_ms"), "p99") &&
                       json_object_has_member (o, "connections") &&
                       json_object_has_member (o, "delivered_per_s") &&
                       json_object_has_member (o, "errors") && json_object_has_member (o, "lost"),
                   "line %u has the figures: %s", i + 1, lines[i]);
    samples++;
    if (lines[i + 1] == NULL || lines[i + 1][0] == '\0') {
      ck_assert_int_eq (hub_test_json_int (o, "delivered"),
                        report_int (&run, "deliveries", "live"));
      ck_assert_int_eq (hub_test_json_int (o, "connections"), 30);
    }
  }
  ck_assert_msg (samples >= 4 && saw_ramp && saw_steady,
                 "a line a second through ramp and steady state (%u lines)", samples);

  /* The JSON buckets: exact, and the report's percentiles follow from them. */
  delivery = hub_test_json_object (hub_test_json_object (run.report, "histograms"), "delivery");
  buckets = hub_test_json_array (delivery, "buckets");
  for (guint i = 0; i < json_array_get_length (buckets); i++) {
    JsonArray *b = json_array_get_array_element (buckets, i);

    ck_assert_msg (json_array_get_int_element (b, 0) > last_low, "buckets ascend");
    last_low = json_array_get_int_element (b, 0);
    bucket_total += json_array_get_int_element (b, 2);
  }
  ck_assert_int_eq (bucket_total, hub_test_json_int (latency, "count"));
  ck_assert_int_eq (hub_test_json_int (delivery, "count"), hub_test_json_int (latency, "count"));
  for (guint k = 0; k < G_N_ELEMENTS (quantiles); k++)
    ck_assert_msg (bucket_quantile_ms (delivery, quantiles[k].q) ==
                       json_object_get_double_member (latency, quantiles[k].member),
                   "%s from the buckets (%.3f) is the report's (%.3f)", quantiles[k].member,
                   bucket_quantile_ms (delivery, quantiles[k].q),
                   json_object_get_double_member (latency, quantiles[k].member));

  /* --hgrm parsed back: rows "value percentile total [1/(1-p)]", the
   * report's quantiles among them with the very same values. */
  ck_assert_msg (g_file_get_contents (hgrm_path, &hgrm, NULL, NULL), "--hgrm was written");
  {
    g_autofree char *head = g_strchug (g_strdup (hgrm));

    ck_assert_msg (g_str_has_prefix (head, "Value     Percentile TotalCount"),
                   "HdrHistogram's header:\n%s", hgrm);
  }
  g_strfreev (lines);
  lines = g_strsplit (hgrm, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_auto (GStrv) cols = g_strsplit_set (g_strstrip (lines[i]), " ", -1);
    g_autoptr (GPtrArray) fields = g_ptr_array_new ();
    double value;

    if (lines[i][0] == '#' || lines[i][0] == '\0' || g_str_has_prefix (lines[i], "Value"))
      continue;
    for (guint k = 0; cols[k] != NULL; k++) {
      if (cols[k][0] != '\0')
        g_ptr_array_add (fields, cols[k]);
    }
    ck_assert_msg (fields->len == 3 || fields->len == 4, "an .hgrm row: '%s'", lines[i]);
    value = g_ascii_strtod (fields->pdata[0], NULL);
    for (guint k = 0; k < G_N_ELEMENTS (quantiles); k++) {
      if (strcmp (fields->pdata[1], quantiles[k].hgrm_level) == 0) {
        found[k]++;
        ck_assert_msg (value == json_object_get_double_member (latency, quantiles[k].member),
                       ".hgrm %s %.3f = the report's %s %.3f", quantiles[k].hgrm_level, value,
                       quantiles[k].member,
                       json_object_get_double_member (latency, quantiles[k].member));
      }
    }
    if (fields->len == 3) {
      found_max = TRUE;
      ck_assert_msg (value == json_object_get_double_member (latency, "max"),
                     "the 100%% row is the maximum");
      ck_assert_int_eq (g_ascii_strtoll (fields->pdata[2], NULL, 10),
                        hub_test_json_int (latency, "count"));
    }
  }
  for (guint k = 0; k < G_N_ELEMENTS (quantiles); k++)
    ck_assert_msg (found[k] == 1, "the .hgrm has one %s row", quantiles[k].member);
  ck_assert_msg (found_max, "the .hgrm ends at 100%%");
  ck_assert_msg (strstr (hgrm, "#[Max     = ") != NULL && strstr (hgrm, "Total count") != NULL,
                 "HdrHistogram's footer");

  remove_temp (series_path);
  remove_temp (hgrm_path);
  loadgen_run_clear (&run);
}
END_TEST

/* Every output path is checked before anything connects: a run of ten
 * minutes that would lose its report fails at once, in one line. */
START_TEST (unwritable_outputs_fail_before_the_run)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  g_autofree char *dir = g_dir_make_tmp ("hub-loadgen-outputs-XXXXXX", NULL);
  const char *flags[] = {"--json", "--series", "--hgrm", "--html"};

  for (guint i = 0; i < G_N_ELEMENTS (flags); i++) {
    for (guint k = 0; k < 2; k++) {
      /* A directory that does not exist, and a directory where a file should be. */
      g_autofree char *path =
          k == 0 ? g_build_filename (dir, "missing", "report", NULL) : g_strdup (dir);
      const char *args[] = {"--url", url,      "--users", "5", "--duration",
                            "10m",   flags[i], path,      NULL};
      LoadgenRun run;

      loadgen_run_full (&run, args, 10000, 0, FALSE);
      EXPECT_STATUS (&run, 2, flags[i]);
      ck_assert_msg (strstr (run.err, flags[i]) != NULL && strstr (run.err, path) != NULL,
                     "the message names %s and the path: %s", flags[i], run.err);
      ck_assert_msg (strchr (run.err, '\n') == run.err + strlen (run.err) - 1, "one line: %s",
                     run.err);
      ck_assert_msg (strstr (run.err, "ramp") == NULL && run.out[0] == '\0', "nothing ran: %s%s",
                     run.out, run.err);
      loadgen_run_clear (&run);
    }
  }
  g_rmdir (dir);
}
END_TEST

/* A target that does not answer fails at once with one line and exit 2. */
START_TEST (dead_target_fails_fast)
{
  g_autoptr (HubTestServer) server = hub_test_server_start (NULL);
  guint16 dead = closed_port ();
  g_autofree char *dead_url = g_strdup_printf ("ws://127.0.0.1:%u/ws", dead);
  g_autofree char *wrong_url =
      g_strdup_printf ("ws://127.0.0.1:%u/nope", hub_test_server_port (server));
  g_autofree char *refused = g_strdup_printf ("connection refused by 127.0.0.1:%u", dead);
  const char *dead_args[] = {"--url", dead_url, "--users", "50", "--duration", "10m", NULL};
  const char *wrong_args[] = {"--url", wrong_url, "--users", "50", "--duration", "10m", NULL};
  LoadgenRun run;

  loadgen_run_full (&run, dead_args, 10000, 0, FALSE);
  EXPECT_STATUS (&run, 2, "a dead target");
  ck_assert_msg (strstr (run.err, refused) != NULL, "says so: %s", run.err);
  ck_assert_msg (strchr (run.err, '\n') == run.err + strlen (run.err) - 1, "in one line: %s",
                 run.err);
  loadgen_run_clear (&run);

  loadgen_run_full (&run, wrong_args, 10000, 0, FALSE);
  EXPECT_STATUS (&run, 2, "a wrong path");
  ck_assert_msg (strstr (run.err, "no WebSocket endpoint at /nope") != NULL, "says so: %s",
                 run.err);
  loadgen_run_clear (&run);
}
END_TEST

/* The server's per-connection rate limit (--rate 20 --burst 12) breaks one
 * user's steady publishing above 20/s plus what the burst absorbs over a
 * step (12 tokens in 6 s: 22/s; the burst also lets a loaded machine stall
 * the loadgen for 0.6 s without a false break). Raising from 6/s by 2×, the
 * search must land within 10 % below that: the capacity is a rate that held,
 * the first that broke at most 10 % above it. */
START_TEST (find_capacity_searches_between)
{
  g_autoptr (HubTestServer) server = hub_test_server_start ("--rate", "20", "--burst", "12", NULL);
  g_autofree char *url = g_strdup_printf ("ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  const char *args[] = {"--url",           url,       "--users",   "1",       "--rooms",       "1",
                        "--rate",          "6",       "--arrival", "uniform", "--step-factor", "2",
                        "--duration",      "6",       "--ramp",    "0.5",     "--drain",       "2",
                        "--find-capacity", "--quiet", NULL};
  LoadgenRun run;
  JsonObject *capacity;
  JsonArray *steps;
  double found, broke;
  gboolean searched_between = FALSE;

  loadgen_run (&run, args, 180000);
  EXPECT_STATUS (&run, 0, "a capacity was found");
  capacity = hub_test_json_object (run.report, "capacity");
  found = json_object_get_double_member (capacity, "rate");
  broke = json_object_get_double_member (capacity, "first_broken_rate");
  /* (22.6: the steps' own seconds run a little over 6, which lets a hair more through.) */
  ck_assert_msg (found >= 20.0 / 1.1 && found <= 22.6,
                 "capacity %.3f/s should be within 10%% below the known 20-22/s", found);
  ck_assert_msg (broke > found && broke / found <= 1.10 + 1e-9,
                 "the first rate that broke (%.3f) is within 10%% above the capacity (%.3f)", broke,
                 found);
  ck_assert_msg (hub_test_json_bool (capacity, "within_precision"),
                 "the search ended by precision");
  steps = hub_test_json_array (run.report, "steps");
  for (guint i = 0; i < json_array_get_length (steps); i++) {
    JsonObject *s = json_array_get_object_element (steps, i);
    double rate = json_object_get_double_member (s, "rate");

    searched_between |= g_strcmp0 (hub_test_json_string (s, "search"), "between") == 0;
    ck_assert_msg (json_object_has_member (s, "p50_ms") && json_object_has_member (s, "p90_ms") &&
                       json_object_has_member (s, "p99_ms"),
                   "each step has its own percentiles");
    if (hub_test_json_bool (s, "held"))
      ck_assert_msg (rate <= found + 1e-9 && hub_test_json_int (s, "errors") == 0,
                     "a step that held (%.3f) is at most the capacity, without errors", rate);
    else
      ck_assert_msg (rate >= broke - 1e-9 && hub_test_json_int (s, "errors") > 0,
                     "a step that broke (%.3f) is at least the first broken rate, with errors "
                     "(rate_limited)",
                     rate);
    if (i + 1 == hub_test_json_int (capacity, "step"))
      ck_assert_msg (rate == found, "the capacity step is the one at the capacity's rate");
  }
  ck_assert_msg (searched_between, "some steps were searched between held and broken");
  ck_assert_msg (strstr (run.out, "capacity: ") != NULL &&
                     strstr (run.out, "first rate that broke: ") != NULL,
                 "the table says it:\n%s", run.out);
  loadgen_run_clear (&run);
}
END_TEST

/* The --html report in headless Chromium: its four charts drawn, nothing
 * written to the console (no error, no warning). */
START_TEST (html_renders_in_chromium)
{
  const char *names[] = {"chromium", "chromium-browser", "google-chrome", "chrome"};
  g_autofree char *chromium = NULL;
  g_autoptr (HubTestServer) server = NULL;
  g_autofree char *url = NULL;
  g_autofree char *html_path = NULL;
  g_autofree char *profile = NULL;
  g_autofree char *page = NULL;
  g_autofree char *profile_arg = NULL;
  LoadgenRun run, browser = {0};
  g_autofree char *html = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (names) && chromium == NULL; i++)
    chromium = g_find_program_in_path (names[i]);
  if (chromium == NULL) {
    fprintf (stderr, "SKIPPED html_renders_in_chromium: no Chromium in PATH (scripts/"
                     "install-deps.sh installs the Debian package chromium)\n");
    return;
  }
  server = hub_test_server_start (NULL);
  url = g_strdup_printf ("ws://127.0.0.1:%u/ws", hub_test_server_port (server));
  html_path = temp_path ("report.html");
  {
    const char *args[] = {"--url",  url,       "--users",    "30", "--rooms", "3",
                          "--rate", "2",       "--duration", "3",  "--ramp",  "1",
                          "--html", html_path, "--quiet",    NULL};

    loadgen_run (&run, args, 60000);
    EXPECT_STATUS (&run, 0, "a clean run");
    loadgen_run_clear (&run);
  }
  ck_assert_msg (g_file_get_contents (html_path, &html, NULL, NULL), "--html was written");
  ck_assert_msg (strstr (html, "http://") == NULL || strstr (html, "http://www.w3.org/2000/svg"),
                 "nothing is fetched from the network");
  ck_assert_msg (strstr (html, "<script src") == NULL && strstr (html, "<link") == NULL,
                 "self-contained");

  profile = g_dir_make_tmp ("hub-chromium-XXXXXX", NULL);
  profile_arg = g_strdup_printf ("--user-data-dir=%s", profile);
  page = g_filename_to_uri (html_path, NULL, NULL);
  {
    /* Chromium's own argv: the program first, then its flags. */
    g_autoptr (GSubprocessLauncher) launcher =
        g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_autoptr (GError) error = NULL;
    const char *argv[] = {chromium,
                          "--headless",
                          "--no-sandbox",
                          "--disable-gpu",
                          "--disable-background-networking",
                          "--disable-component-update",
                          "--disable-sync",
                          "--no-first-run",
                          profile_arg,
                          "--enable-logging=stderr",
                          "--v=0",
                          "--dump-dom",
                          page,
                          NULL};
    g_autoptr (GSubprocess) process = g_subprocess_launcher_spawnv (launcher, argv, &error);
    Communicate c = {0};
    gboolean timed_out = FALSE;
    guint timer;

    ck_assert_msg (process != NULL, "Chromium should start: %s", error ? error->message : "?");
    c.process = process;
    g_subprocess_communicate_utf8_async (process, NULL, NULL, on_communicated, &c);
    timer = g_timeout_add (90000, on_deadline, &timed_out);
    while (!c.done && !timed_out)
      g_main_context_iteration (NULL, TRUE);
    if (!c.done) {
      g_subprocess_force_exit (process);
      while (!c.done)
        g_main_context_iteration (NULL, TRUE);
      ck_abort_msg ("Chromium did not finish within 90 s");
    }
    g_source_remove (timer);
    browser.out = c.out;
    browser.err = c.err;
  }
  ck_assert_msg (browser.out != NULL && strstr (browser.out, "data-charts=\"4\"") != NULL,
                 "the four charts are drawn; the DOM:\n%.2000s", browser.out ? browser.out : "");
  ck_assert_msg (strstr (browser.out, "data-errors=\"") == NULL, "no script error: %.2000s",
                 browser.out);
  ck_assert_msg (strstr (browser.out, "class=\"series\"") != NULL, "the charts have their lines");
  ck_assert_msg (strstr (browser.err, ":CONSOLE") == NULL,
                 "nothing on the console; Chromium said:\n%s", browser.err);
  loadgen_run_clear (&browser);
  remove_temp (html_path);
  {
    /* The profile: Chromium's files, a few levels deep. */
    const char *rm[] = {"rm", "-rf", profile, NULL};

    g_spawn_sync (NULL, (char **)rm, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
  }
}
END_TEST

int
main (void)
{
  Suite *suite = suite_create ("loadgen-outputs");

  HUB_TEST_ADD (suite, series_hgrm_and_buckets, 90);
  HUB_TEST_ADD (suite, unwritable_outputs_fail_before_the_run, 120);
  HUB_TEST_ADD (suite, dead_target_fails_fast, 60);
  HUB_TEST_ADD (suite, find_capacity_searches_between, 200);
  HUB_TEST_ADD (suite, html_renders_in_chromium, 150);
  return hub_test_run (suite);
}
