/* hub-lg-run.h: one run of hub-loadgen from start to report: sizes the
 * population to the open-file limit, reads the server's /metrics, starts the
 * workers, ramps the connections up, runs the steady state (or, with
 * --find-capacity, one step per rate), drains, settles the accounting, reads
 * /metrics again and judges the gates. Progress goes to stderr once a second. */
#pragma once

#include "hub-lg-report.h"

#include <stdio.h>

G_BEGIN_DECLS

/* Runs with @config (its seed and prefix are filled in when unset); @command
 * is recorded in the report; a sample a second goes to the report's series
 * and, as a JSON line, to @series (nullable). Stops early, and reports, on
 * SIGINT or SIGTERM. (transfer full) */
HubLgReport *hub_lg_run (HubLgConfig *config, const char *command, FILE *series);

/* The connections this process may open with @threads event loops (0:
 * automatic): the open-file hard limit (the soft limit is raised to it) less
 * what the process needs besides sockets. */
guint64 hub_lg_run_connection_limit (guint threads, guint64 *nofile_limit);

G_END_DECLS
