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

/* Runs `$HUB_LOADGEN_BIN ARGS… --json FILE` (NULL-terminated @args), waits at
 * most @timeout_ms (fails the test after), and parses the report. With
 * @nofile > 0 the child runs under that open-file limit (soft and hard; only
 * where hub_test_platform_can_limit_open_files()). */
/* Clients on several threads make libwebsockets 4.1.6 leak one OpenSSL client
 * context per extra thread at exit (each lws context re-allocates the global
 * ex-data index its teardown looks the context up by). Runs with --threads
 * above 1 set this so a sanitized build checks everything but leaks. */
static gboolean child_no_leak_check;

static inline void
loadgen_run_full (LoadgenRun *run, const char *const *args, guint timeout_ms, guint64 nofile,
                  gboolean want_json)
{
  const char *bin = g_getenv ("HUB_LOADGEN_BIN");
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GSubprocessLauncher) launcher = hub_test_platform_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, NULL, nofile);
  g_autoptr (GError) error = NULL;
  g_autofree char *json_path = NULL;
  gboolean timed_out = FALSE;
  Communicate c = {0};
  guint timer;

  memset (run, 0, sizeof *run);
  ck_assert_msg (bin != NULL, "HUB_LOADGEN_BIN should name the hub-loadgen binary");
  g_ptr_array_add (argv, g_strdup (bin));
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  if (want_json) {
    int fd = g_file_open_tmp ("loadgen-report-XXXXXX.json", &json_path, NULL);

    ck_assert_msg (fd >= 0, "a temp file for the report");
    g_close (fd, NULL);
    g_ptr_array_add (argv, g_strdup ("--json"));
    g_ptr_array_add (argv, g_strdup (json_path));
  }
  g_ptr_array_add (argv, NULL);
  if (child_no_leak_check) {
    const char *inherited = g_getenv ("ASAN_OPTIONS");
    g_autofree char *asan =
        g_strdup_printf ("%s%sdetect_leaks=0", inherited ? inherited : "", inherited ? ":" : "");

    g_subprocess_launcher_setenv (launcher, "ASAN_OPTIONS", asan, TRUE);
  }
  c.process = hub_test_platform_spawnv (launcher, (const char *const *)argv->pdata, &error);
  ck_assert_msg (c.process != NULL, "hub-loadgen should start: %s", error ? error->message : "");
  g_subprocess_communicate_utf8_async (c.process, NULL, NULL, on_communicated, &c);
  timer = g_timeout_add (timeout_ms, on_deadline, &timed_out);
  while (!c.done && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!c.done) {
    g_subprocess_force_exit (c.process);
    while (!c.done)
      g_main_context_iteration (NULL, TRUE);
    ck_abort_msg ("hub-loadgen did not finish within %u ms; stderr:\n%s", timeout_ms,
                  c.err ? c.err : "");
  }
  g_source_remove (timer);
  g_subprocess_wait (c.process, NULL, NULL);
  run->status = g_subprocess_get_if_exited (c.process)
                    ? g_subprocess_get_exit_status (c.process)
                    : 128 + g_subprocess_get_term_sig (c.process);
  run->out = c.out;
  run->err = c.err;
  g_object_unref (c.process);
  if (want_json) {
    g_autofree char *text = NULL;
    gsize len = 0;

    if (g_file_get_contents (json_path, &text, &len, NULL) && len > 0)
      run->report = hub_test_json_parse (text, len);
    g_unlink (json_path);
    ck_assert_msg (run->report != NULL,
                   "hub-loadgen (exit %d) should write a JSON report; stdout:\n%s\nstderr:\n%s",
                   run->status, run->out, run->err);
  }
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
