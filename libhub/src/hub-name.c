/* hub-name.c: the one rule for user ids, device labels and room ids
 * (PROTOCOL.md §2), shared by the codec and auth. */
#include "hub/hub-codec.h"

gboolean
hub_name_is_valid (const char *name)
{
  gsize n = 0;

  if (name == NULL || name[0] == '\0' || name[0] == '@')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++, n++) {
    char c = *p;

    if (n >= HUB_NAME_MAX)
      return FALSE;
    if (!g_ascii_isalnum (c) && c != '_' && c != '.' && c != '@' && c != '-')
      return FALSE;
  }
  return TRUE;
}
