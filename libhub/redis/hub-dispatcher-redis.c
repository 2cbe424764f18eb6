/* hub-dispatcher-redis.c: wiring, for programs: a dispatcher on a Redis store
 * (hub-store-redis.h). The only code of hub-redis that calls the dispatcher,
 * through its public API, before any connection; the store itself only
 * answers its operations and calls the events it was given. */
#include "hub/hub-store-redis.h"

gboolean
hub_dispatcher_use_redis (HubDispatcher *d, const char *url, const char *prefix, GError **error)
{
  HubStore *store;

  g_return_val_if_fail (!hub_dispatcher_is_clustered (d), FALSE);
  store = hub_store_redis_new (hub_dispatcher_get_config (d), hub_dispatcher_get_clock (d), url,
                               prefix, error);
  if (store == NULL)
    return FALSE;
  hub_dispatcher_use_store (d, store);
  return TRUE;
}
