/* hub-lg-output.c: output files opened up front, reports put in place by
 * rename. */
#include "hub-lg-output.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

struct _HubLgOutput {
  char *flag;      /* (owned) */
  char *path;      /* (owned) */
  char *temporary; /* (owned) (nullable) a report's file until the rename */
  FILE *file;      /* (owned unless stdout) */
  gboolean is_stdout;
};

static gboolean
fail (GError **error, const HubLgOutput *output, int code, const char *why)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (code), "%s %s: %s", output->flag,
               output->path, why);
  return FALSE;
}

HubLgOutput *
hub_lg_output_open (const char *flag, const char *path, gboolean stream, GError **error)
{
  g_autoptr (HubLgOutput) output = g_new0 (HubLgOutput, 1);

  output->flag = g_strdup (flag);
  output->path = g_strdup (path);
  if (strcmp (path, "-") == 0) {
    output->is_stdout = TRUE;
    output->file = stdout;
    return g_steal_pointer (&output);
  }
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    fail (error, output, EISDIR, "is a directory");
    return NULL;
  }
  if (stream) {
    output->file = g_fopen (path, "w");
    if (output->file == NULL) {
      int code = errno;

      fail (error, output, code, g_strerror (code));
      return NULL;
    }
    return g_steal_pointer (&output);
  }
  {
    /* Beside the path, so that the rename stays in one file system. */
    g_autofree char *template = g_strconcat (path, ".XXXXXX", NULL);
    int fd = g_mkstemp (template);

    if (fd < 0) {
      int code = errno;
      g_autofree char *dir = g_path_get_dirname (path);
      g_autofree char *why =
          g_strdup_printf ("cannot create a file in %s: %s", dir, g_strerror (code));

      fail (error, output, code, why);
      return NULL;
    }
    /* Reopened by name: stdio on a descriptor is not portable. */
    g_close (fd, NULL);
    output->file = g_fopen (template, "w");
    if (output->file == NULL) {
      int code = errno;

      g_remove (template);
      fail (error, output, code, g_strerror (code));
      return NULL;
    }
    output->temporary = g_steal_pointer (&template);
  }
  return g_steal_pointer (&output);
}

FILE *
hub_lg_output_file (HubLgOutput *output)
{
  return output->file;
}

gboolean
hub_lg_output_write (HubLgOutput *output, const char *text, const char *prefix)
{
  g_autoptr (GError) error = NULL;

  if (output == NULL)
    return TRUE;
  fputs (text, hub_lg_output_file (output));
  if (!hub_lg_output_commit (output, &error)) {
    fprintf (stderr, "%s%s\n", prefix, error->message);
    return FALSE;
  }
  return TRUE;
}

gboolean
hub_lg_output_commit (HubLgOutput *output, GError **error)
{
  gboolean ok = TRUE;
  int code = 0;

  if (output->is_stdout) {
    if (fflush (stdout) != 0)
      return fail (error, output, errno, g_strerror (errno));
    return TRUE;
  }
  if (output->file != NULL) {
    if (ferror (output->file))
      ok = FALSE, code = EIO;
    if (fclose (output->file) != 0 && ok)
      ok = FALSE, code = errno;
    output->file = NULL;
  }
  if (!ok)
    return fail (error, output, code, g_strerror (code));
  if (output->temporary != NULL) {
    if (g_rename (output->temporary, output->path) != 0) {
      code = errno;
      return fail (error, output, code, g_strerror (code));
    }
    g_clear_pointer (&output->temporary, g_free);
    /* g_mkstemp made it private; a report is for whoever reads the directory. */
    g_chmod (output->path, 0644);
  }
  return TRUE;
}

void
hub_lg_output_free (HubLgOutput *output)
{
  if (output == NULL)
    return;
  if (output->file != NULL && !output->is_stdout)
    fclose (output->file);
  if (output->temporary != NULL)
    g_remove (output->temporary);
  g_free (output->temporary);
  g_free (output->flag);
  g_free (output->path);
  g_free (output);
}
