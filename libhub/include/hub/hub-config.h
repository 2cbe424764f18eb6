/* hub-config.h: the server's settings (PROTOCOL.md defaults), shared by the
 * dispatcher and hub-server's command line. */
#pragma once

#include <glib.h>

#include "hub-api.h"

G_BEGIN_DECLS

typedef struct {
  char *node;   /* node name (owned) */
  char *secret; /* HS256 secret, NULL: development mode (owned) */
  gsize secret_len;
  guint heartbeat_s;     /* 30 */
  guint hello_timeout_s; /* 10 */
  guint history_size;    /* 100 */
  /* History bytes (PROTOCOL.md §8: the server's to set), oldest evicted
   * first; 0: no bound. */
  gsize history_room_bytes;  /* 1 MiB per room */
  gsize history_total_bytes; /* 256 MiB for all rooms together */
  gsize max_message_bytes;   /* 65536 */
  gsize max_queue_bytes;     /* 1 MiB */
  double rate_per_s;         /* 100 */
  double burst;              /* 200 */
  guint max_rooms_per_user;  /* 1000 */
  /* Rooms a user created that never had a member (§8); 0: no bound. */
  guint max_empty_rooms_per_user; /* 100 */
  guint empty_room_ttl_s;         /* 600: such a room is deleted this long after its creation */
  gboolean auto_create;           /* TRUE */
  guint presence_grace_s;         /* 0 */
  /* How long a request may wait for a store that answers later (Redis):
   * then it is answered `internal`, and the node reports itself degraded
   * until the store answers again. */
  guint store_timeout_ms; /* 2000 */
  /* Bounds on one user, per node (PROTOCOL.md §8; 0: none). */
  guint max_connections_per_user;   /* 32 */
  guint max_subscriptions_per_user; /* 10000 */
  gsize fanout_bytes_per_s;         /* 262144: direct, multicast, typing, join/leave to others */
} HubConfig;

/* Fills @config with PROTOCOL.md's defaults; node defaults to the host name. */
HUB_API
void hub_config_init (HubConfig *config);
HUB_API
void hub_config_clear (HubConfig *config);
HUB_API
void hub_config_copy (HubConfig *dst, const HubConfig *src);

G_END_DECLS
