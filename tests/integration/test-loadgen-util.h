/* test-loadgen-util.h: helpers of the hub-loadgen integration tests (header
 * only): runs the hub-loadgen binary ($HUB_LOADGEN_BIN) with a bounded wait,
 * capturing its output, and reads its JSON report. */
#pragma once

#include "hub-test-platform.h"
#include "hub-test-server.h"
#include "hub-test-ws.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  int status;         /* exit status, or 128 + signal */
  char *out;          /* (owned) stdout */
  char *err;          /* (owned) stderr */
  JsonObject *report; /* (owned) (nullable) the --json file, when one was asked for */
} LoadgenRun;

static inline void
loadgen_run_clear (LoadgenRun *run)
{
  g_clear_pointer (&run->out, g_free);
  g_clear_pointer (&run->err, g_free);
  g_clear_pointer (&run->report, json_object_unref);
}

typedef struct {
  gboolean done;
  GSubprocess *process;
  char *out, *err;
} Communicate;

static void
on_communicated (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Communicate *c = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &c->out, &c->err, NULL);
  c->done = TRUE;
}

static gboolean
on_deadline (gpointer user_data)
{
  *(gboolean *)user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Clients on several threads make libwebsockets 4.1.6 leak one OpenSSL client
 * context per extra thread at exit (each lws context re-allocates the global
 * ex-data index its teardown looks the context up by). Runs with --threads
 * above 1 set this so a sanitized build checks everything but leaks. */
static gboolean child_no_leak_check;
/* How the next loadgen_start's child receives: @child_env, NULL or
 * "NAME=VALUE" pairs (NULL-terminated) added to its environment; with
 * @child_deny_io_uring it runs without io_uring
 * (hub_test_platform_launcher_deny_io_uring). */
static const char *const *child_env;
static gboolean child_deny_io_uring;

/* A hub-loadgen started and not yet waited for (loadgen_start). */
typedef struct {
  Communicate c;
  char *json_path; /* (owned) (nullable) */
} LoadgenJob;

/* Starts `$HUB_LOADGEN_BIN ARGS…` (NULL-terminated @args; with @want_json,
 * `--json FILE` appended). With @nofile > 0 the child runs under that
 * open-file limit (soft and hard; only where
 * hub_test_platform_can_limit_open_files()). (transfer full) */
static inline LoadgenJob *
loadgen_start (const char *const *args, guint64 nofile, gboolean want_json)
{
  const char *bin = g_getenv ("HUB_LOADGEN_BIN");
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GSubprocessLauncher) launcher = hub_test_platform_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, NULL, nofile);
  g_autoptr (GError) error = NULL;
  LoadgenJob *job = g_new0 (LoadgenJob, 1);

  ck_assert_msg (bin != NULL, "HUB_LOADGEN_BIN should name the hub-loadgen binary");
  g_ptr_array_add (argv, g_strdup (bin));
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  if (want_json) {
    int fd = g_file_open_tmp ("loadgen-report-XXXXXX.json", &job->json_path, NULL);

    ck_assert_msg (fd >= 0, "a temp file for the report");
    g_close (fd, NULL);
    g_ptr_array_add (argv, g_strdup ("--json"));
    g_ptr_array_add (argv, g_strdup (job->json_path));
  }
  g_ptr_array_add (argv, NULL);
  if (child_no_leak_check) {
    const char *inherited = g_getenv ("ASAN_OPTIONS");
    g_autofree char *asan =
        g_strdup_printf ("%s%sdetect_leaks=0", inherited ? inherited : "", inherited ? ":" : "");

    g_subprocess_launcher_setenv (launcher, "ASAN_OPTIONS", asan, TRUE);
  }
  for (guint i = 0; child_env != NULL && child_env[i] != NULL; i++) {
    g_auto (GStrv) pair = g_strsplit (child_env[i], "=", 2);

    g_subprocess_launcher_setenv (launcher, pair[0], pair[1] ? pair[1] : "", TRUE);
  }
  if (child_deny_io_uring)
    hub_test_platform_launcher_deny_io_uring (launcher);
  job->c.process = hub_test_platform_spawnv (launcher, (const char *const *)argv->pdata, &error);
  ck_assert_msg (job->c.process != NULL, "hub-loadgen should start: %s",
                 error ? error->message : "");
  g_subprocess_communicate_utf8_async (job->c.process, NULL, NULL, on_communicated, &job->c);
  return job;
}

/* Waits at most @timeout_ms for @job (fails the test after), fills @run and
 * frees @job. With @keep_json the report file stays (its path in
 * *@keep_json, owned by the caller), for `hub-loadgen merge`. */
static inline void
loadgen_finish (LoadgenJob *job, LoadgenRun *run, guint timeout_ms, char **keep_json)
{
  gboolean timed_out = FALSE;
  guint timer;

  memset (run, 0, sizeof *run);
  timer = g_timeout_add (timeout_ms, on_deadline, &timed_out);
  while (!job->c.done && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!job->c.done) {
    g_subprocess_force_exit (job->c.process);
    while (!job->c.done)
      g_main_context_iteration (NULL, TRUE);
    ck_abort_msg ("hub-loadgen did not finish within %u ms; stderr:\n%s", timeout_ms,
                  job->c.err ? job->c.err : "");
  }
  g_source_remove (timer);
  g_subprocess_wait (job->c.process, NULL, NULL);
  run->status = g_subprocess_get_if_exited (job->c.process)
                    ? g_subprocess_get_exit_status (job->c.process)
                    : 128 + g_subprocess_get_term_sig (job->c.process);
  run->out = job->c.out;
  run->err = job->c.err;
  g_object_unref (job->c.process);
  if (job->json_path != NULL) {
    g_autofree char *text = NULL;
    gsize len = 0;

    if (g_file_get_contents (job->json_path, &text, &len, NULL) && len > 0)
      run->report = hub_test_json_parse (text, len);
    if (keep_json != NULL)
      *keep_json = g_steal_pointer (&job->json_path);
    else
      g_unlink (job->json_path);
    ck_assert_msg (run->report != NULL,
                   "hub-loadgen (exit %d) should write a JSON report; stdout:\n%s\nstderr:\n%s",
                   run->status, run->out, run->err);
  }
  g_free (job->json_path);
  g_free (job);
}

/* Runs `$HUB_LOADGEN_BIN ARGS… --json FILE` (NULL-terminated @args), waits at
 * most @timeout_ms (fails the test after), and parses the report (see
 * loadgen_start for @nofile). */
static inline void
loadgen_run_full (LoadgenRun *run, const char *const *args, guint timeout_ms, guint64 nofile,
                  gboolean want_json)
{
  loadgen_finish (loadgen_start (args, nofile, want_json), run, timeout_ms, NULL);
}

static inline void
loadgen_run (LoadgenRun *run, const char *const *args, guint timeout_ms)
{
  loadgen_run_full (run, args, timeout_ms, 0, TRUE);
}

/* report.@section.@member as an integer (fails the test when absent). */
static inline gint64
report_int (LoadgenRun *run, const char *section, const char *member)
{
  return hub_test_json_int (hub_test_json_object (run->report, section), member);
}

static inline double
report_double (LoadgenRun *run, const char *section, const char *member)
{
  JsonObject *o = hub_test_json_object (run->report, section);

  ck_assert_msg (json_object_has_member (o, member), "%s.%s should be in the report", section,
                 member);
  return json_object_get_double_member (o, member);
}

/* Fails the test unless hub-loadgen exited with @status; its output goes to
 * stderr first (Check cuts long messages). */
#define EXPECT_STATUS(run, want, what)                                                             \
  do {                                                                                             \
    if ((run)->status != (want))                                                                   \
      fprintf (stderr, "hub-loadgen exited %d; stdout:\n%s\nstderr:\n%s\n", (run)->status,         \
               (run)->out, (run)->err);                                                            \
    ck_assert_msg ((run)->status == (want), "%s: exit %d expected, got %d", what, want,            \
                   (run)->status);                                                                 \
  } while (0)

/* The report's missing.lost ranges, expanded; every one must be @user/@device's. */
static inline GHashTable *
loadgen_claimed (LoadgenRun *run, const char *user, const char *device, const char *reason)
{
  GHashTable *set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  JsonArray *lost = hub_test_json_array (hub_test_json_object (run->report, "missing"), "lost");

  ck_assert_msg (!hub_test_json_bool (hub_test_json_object (run->report, "missing"), "truncated"),
                 "the list is complete");
  for (guint i = 0; i < json_array_get_length (lost); i++) {
    JsonObject *m = json_array_get_object_element (lost, i);

    ck_assert_str_eq (hub_test_json_string (m, "user"), user);
    ck_assert_str_eq (hub_test_json_string (m, "device"), device);
    ck_assert_str_eq (hub_test_json_string (m, "reason"), reason);
    for (gint64 s = hub_test_json_int (m, "from"); s <= hub_test_json_int (m, "to"); s++)
      g_hash_table_add (
          set, g_strdup_printf ("%s %" G_GINT64_FORMAT, hub_test_json_string (m, "room"), s));
  }
  return set;
}

static inline void
loadgen_expect_same (GHashTable *truth_set, GHashTable *claim)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, truth_set);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    ck_assert_msg (g_hash_table_contains (claim, key), "the report misses the loss of %s",
                   (char *)key);
  g_hash_table_iter_init (&iter, claim);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    ck_assert_msg (g_hash_table_contains (truth_set, key),
                   "the report claims %s was lost, but the device got it", (char *)key);
}
