/* hub-lg-html.h: hub-loadgen's --html report: one self-contained HTML file
 * (no network, nothing beside it) with throughput, latency percentiles and
 * connections over time, the latency distribution, the gates, the
 * accounting and the steps; the charts are SVG drawn in the page by a
 * script built into the binary (hub-lg-report.html) from the run's JSON
 * report, which the page carries whole. */
#pragma once

#include "hub-lg-report.h"

G_BEGIN_DECLS

/* (transfer full) */
char *hub_lg_report_to_html (const HubLgReport *report);

G_END_DECLS
