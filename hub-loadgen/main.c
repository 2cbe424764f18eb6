/* main.c: hub-loadgen. Parses the settings, opens the output files and asks
 * the target for an upgrade (either failing: exit 2 at once), runs, prints
 * the report (a table on stdout; JSON, .hgrm, HTML to their files) and turns
 * the verdict into the exit status: 0 passed, 1 failed a gate, 2 bad usage. */
#include "hub-lg-config.h"
#include "hub-lg-hgrm.h"
#include "hub-lg-html.h"
#include "hub-lg-merge.h"
#include "hub-lg-output.h"
#include "hub-lg-run.h"

#include <hub/hub-client-probe.h>

#include <locale.h>
#include <stdio.h>
#include <string.h>

/* How long the target may take to answer the first upgrade. */
#define PROBE_TIMEOUT_MS 5000

/* The command line as typed, the secret masked. (transfer full) */
static char *
command_line (int argc, char **argv)
{
  GString *s = g_string_new (NULL);
  gboolean mask_next = FALSE;

  for (int i = 0; i < argc; i++) {
    g_autofree char *quoted = NULL;
    const char *arg = argv[i];

    if (mask_next) {
      arg = "********";
      mask_next = FALSE;
    } else if (strcmp (arg, "--secret") == 0) {
      mask_next = TRUE;
    } else if (g_str_has_prefix (arg, "--secret=")) {
      arg = "--secret=********";
    }
    quoted = strpbrk (arg, " \t'\"$\\") != NULL ? g_shell_quote (arg) : g_strdup (arg);
    g_string_append_printf (s, "%s%s", i ? " " : "", quoted);
  }
  return g_string_free (s, FALSE);
}

/* Writes @text to @output and puts it in place; FALSE (said on stderr) when it failed. */
static gboolean
write_output (HubLgOutput *output, const char *text)
{
  return hub_lg_output_write (output, text, "hub-loadgen: cannot write ");
}

/* Opens each output named in @config; FALSE after saying which cannot be written. */
static gboolean
open_outputs (const HubLgConfig *config, HubLgOutput **json, HubLgOutput **series,
              HubLgOutput **hgrm, HubLgOutput **html)
{
  const struct {
    const char *flag, *path;
    gboolean stream;
    HubLgOutput **output;
  } outputs[] = {
      {"--json", config->json_path, FALSE, json},
      {"--series", config->series_path, TRUE, series},
      {"--hgrm", config->hgrm_path, FALSE, hgrm},
      {"--html", config->html_path, FALSE, html},
  };

  for (guint i = 0; i < G_N_ELEMENTS (outputs); i++) {
    g_autoptr (GError) error = NULL;

    if (outputs[i].path == NULL)
      continue;
    *outputs[i].output =
        hub_lg_output_open (outputs[i].flag, outputs[i].path, outputs[i].stream, &error);
    if (*outputs[i].output == NULL) {
      fprintf (stderr, "hub-loadgen: cannot write %s\n", error->message);
      return FALSE;
    }
  }
  return TRUE;
}

/* Whether the target answers at all (a WebSocket upgrade at its URL), so that
 * a dead or wrong target fails at once, in one line, not after the ramp with
 * thousands of connection errors. */
static gboolean
target_answers (const HubLgConfig *config)
{
  g_autoptr (GError) error = NULL;
  HubClientUrl url;
  gboolean ok;

  if (!hub_client_url_parse (config->url, &url, &error))
    return FALSE; /* hub_lg_config_finish checked it */
  ok = hub_client_probe_sync (&url, NULL, TRUE, PROBE_TIMEOUT_MS, &error);
  hub_client_url_clear (&url);
  if (!ok)
    fprintf (stderr, "hub-loadgen: %s does not answer: %s\n", config->url, error->message);
  return ok;
}

int
main (int argc, char **argv)
{
  HubLgConfig config;
  g_autoptr (GError) error = NULL;
  g_autoptr (HubLgReport) report = NULL;
  g_autoptr (HubLgOutput) json = NULL;
  g_autoptr (HubLgOutput) series = NULL;
  g_autoptr (HubLgOutput) hgrm = NULL;
  g_autoptr (HubLgOutput) html = NULL;
  g_autofree char *command = command_line (argc, argv);
  g_autofree char *text = NULL;
  gboolean text_to_stderr;
  int status;

  setlocale (LC_ALL, "");
  if (argc > 1 && strcmp (argv[1], "merge") == 0)
    return hub_lg_merge_main (argc - 1, argv + 1);
  hub_lg_config_init (&config);
  if (!hub_lg_config_parse (&config, argc, argv, &error)) {
    fprintf (stderr, "hub-loadgen: %s (see --help)\n", error->message);
    hub_lg_config_clear (&config);
    return 2;
  }
  if (!open_outputs (&config, &json, &series, &hgrm, &html) || !target_answers (&config)) {
    hub_lg_config_clear (&config);
    return 2;
  }
  /* Whatever goes to stdout keeps it to itself; the table then goes to stderr. */
  text_to_stderr = (config.json_path != NULL && strcmp (config.json_path, "-") == 0) ||
                   (config.series_path != NULL && strcmp (config.series_path, "-") == 0) ||
                   (config.hgrm_path != NULL && strcmp (config.hgrm_path, "-") == 0) ||
                   (config.html_path != NULL && strcmp (config.html_path, "-") == 0);
  report = hub_lg_run (&config, command, series != NULL ? hub_lg_output_file (series) : NULL);
  text = hub_lg_report_to_text (report);
  fputs (text, text_to_stderr ? stderr : stdout);
  fflush (text_to_stderr ? stderr : stdout);
  status = report->passed ? 0 : 1;
  if (series != NULL && !write_output (series, ""))
    status = 1;
  if (json != NULL) {
    g_autofree char *body = hub_lg_report_to_json_text (report);

    if (!write_output (json, body))
      status = 1;
  }
  if (hgrm != NULL) {
    g_autofree char *body = hub_lg_histogram_to_hgrm (report->stats->latency);

    if (!write_output (hgrm, body))
      status = 1;
  }
  if (html != NULL) {
    g_autofree char *body = hub_lg_report_to_html (report);

    if (!write_output (html, body))
      status = 1;
  }
  g_clear_pointer (&report, hub_lg_report_free);
  hub_lg_config_clear (&config);
  return status;
}
