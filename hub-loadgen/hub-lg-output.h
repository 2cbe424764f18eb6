/* hub-lg-output.h: a file hub-loadgen writes (--json, --series, --hgrm,
 * --html), opened before the run so that a path that cannot be written is
 * found at once, not after an hour of load. A report is written to a
 * temporary file beside its path and renamed over it when complete (a
 * reader never sees half a report, an interrupted run leaves the old one);
 * a stream (--series) is the file itself, written as the run goes. "-" is
 * stdout. */
#pragma once

#include <glib.h>
#include <stdio.h>

G_BEGIN_DECLS

typedef struct _HubLgOutput HubLgOutput;

/* Opens @path for @flag (named in errors: "--json"); @stream: written as the
 * run goes. NULL with @error (G_FILE_ERROR) saying why it cannot be written.
 * (transfer full) */
HubLgOutput *hub_lg_output_open (const char *flag, const char *path, gboolean stream,
                                 GError **error);
/* Where to write. (transfer none) */
FILE *hub_lg_output_file (HubLgOutput *output);
/* Closes the file and, for a report, puts it in place; FALSE with @error
 * when a write or the rename failed. */
gboolean hub_lg_output_commit (HubLgOutput *output, GError **error);
/* Writes @text to @output (nullable: nothing to do) and commits it; FALSE
 * when that failed, said on stderr as "@prefix<why>". */
gboolean hub_lg_output_write (HubLgOutput *output, const char *text, const char *prefix);
/* Closes without committing: a report's temporary file is removed. */
void hub_lg_output_free (HubLgOutput *output);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (HubLgOutput, hub_lg_output_free)

G_END_DECLS
