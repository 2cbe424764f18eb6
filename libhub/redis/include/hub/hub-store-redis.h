/* hub-store-redis.h: the Redis store (libhub/redis/, library hub-redis, which
 * links hiredis and the core): several nodes on one Redis share rooms, seq,
 * history, presence and fan-out (PROTOCOL.md §11, docs/cluster.md). It
 * implements hub-store.h; the request handlers above it are the same in
 * every mode. */
#pragma once

#include <glib.h>

#include <hub/hub-dispatcher.h>
#include <hub/hub-store.h>

G_BEGIN_DECLS

/* A store on the Redis at @url (redis://HOST:PORT[/DB]), with every key and
 * channel under @prefix (NULL: "hub:"); its limits, node name and presence
 * grace from @config. It connects once a node adopts it
 * (hub_dispatcher_use_store), from the GLib main loop; until it is up (and
 * whenever it is lost) its operations answer HUB_STORE_UNAVAILABLE. NULL
 * with @error for a malformed URL. */
HubStore *hub_store_redis_new (const HubConfig *config, HubClock *clock, const char *url,
                               const char *prefix, GError **error);

/* Puts @d in cluster mode: hub_store_redis_new with @d's config and clock,
 * then hub_dispatcher_use_store. Call once, before any connection. FALSE
 * with @error for a malformed URL. */
gboolean hub_dispatcher_use_redis (HubDispatcher *d, const char *url, const char *prefix,
                                   GError **error);

G_END_DECLS
