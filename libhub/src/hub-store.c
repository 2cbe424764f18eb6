/* hub-store.c: what every store shares (hub-store.h); the stores themselves
 * are hub-store-memory.c and libhub/redis/. */
#include "hub/hub-store.h"

void
hub_store_free (HubStore *store)
{
  if (store != NULL)
    store->vtable->free (store);
}
