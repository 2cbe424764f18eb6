/* hub-lg-wire-none.c: hub-lg-wire.h where the loadgen has no transport of its
 * own (not Linux): HubClient's libwebsockets transport is used instead. */
#include "hub-lg-wire.h"

#include <string.h>

const HubClientTransportClass *
hub_lg_wire_transport (const char *url)
{
  (void)url;
  return NULL;
}

gint64
hub_lg_wire_read_time_ns (void)
{
  return 0;
}

void
hub_lg_wire_get_counters (HubLgWireCounters *counters)
{
  memset (counters, 0, sizeof *counters);
}

const char *
hub_lg_wire_kind (const char *url)
{
  (void)url;
  return "libwebsockets";
}
