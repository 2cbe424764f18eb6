/* hub-version.c: the library's own version, for programs linked against a
 * shared libhub built from other headers than theirs. */
#include "hub/hub-version.h"

const char *
hub_version_string (void)
{
  return HUB_VERSION;
}
