/* main.c: hub-loadgen. Parses the settings, runs, prints the report (a table
 * on stdout, JSON with --json) and turns the verdict into the exit status:
 * 0 passed, 1 failed a gate, 2 bad usage. */
#include "hub-lg-config.h"
#include "hub-lg-merge.h"
#include "hub-lg-run.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

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

static gboolean
write_json (const HubLgReport *report, const char *path)
{
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;

  json_node_take_object (root, hub_lg_report_to_json (report));
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  text = json_generator_to_data (generator, NULL);
  if (strcmp (path, "-") == 0) {
    fputs (text, stdout);
    fputc ('\n', stdout);
    return TRUE;
  }
  if (!g_file_set_contents (path, text, -1, &error)) {
    fprintf (stderr, "hub-loadgen: cannot write %s: %s\n", path, error->message);
    return FALSE;
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  HubLgConfig config;
  g_autoptr (GError) error = NULL;
  g_autoptr (HubLgReport) report = NULL;
  g_autofree char *command = command_line (argc, argv);
  g_autofree char *text = NULL;
  gboolean json_to_stdout;
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
  json_to_stdout = config.json_path != NULL && strcmp (config.json_path, "-") == 0;
  report = hub_lg_run (&config, command);
  text = hub_lg_report_to_text (report);
  fputs (text, json_to_stdout ? stderr : stdout);
  fflush (json_to_stdout ? stderr : stdout);
  status = report->passed ? 0 : 1;
  if (config.json_path != NULL && !write_json (report, config.json_path))
    status = 1;
  g_clear_pointer (&report, hub_lg_report_free);
  hub_lg_config_clear (&config);
  return status;
}
